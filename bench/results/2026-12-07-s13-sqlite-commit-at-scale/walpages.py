# walpages.py DB: the frames of DB's WAL since its last checkpoint (a run
# killed with -9 leaves them), counted by the table or index owning each page
# (dbstat of a copy of the database file without the WAL: pages a commit
# allocated show as new/other), per commit.
import sqlite3, struct, sys, collections, shutil
db = sys.argv[1]
wal = open(db + '-wal', 'rb').read()
page_size = struct.unpack('>I', wal[8:12])[0]
salt = wal[16:24]
frames = []
off = 32
while off + 24 + page_size <= len(wal):
    pg, commit = struct.unpack('>II', wal[off:off+8])
    if wal[off+8:off+16] != salt: break
    frames.append((pg, commit))
    off += 24 + page_size
# map pages to tables on a copy without the wal (dbstat of the checkpointed file is close enough)
shutil.copy(db, db + '.map')
c = sqlite3.connect(db + '.map')
owner = {p: n for n, p in c.execute('select name, pageno from dbstat')}
commits = 0; per = collections.Counter()
for pg, commit in frames:
    per[owner.get(pg, 'new/other')] += 1
    if commit: commits += 1
print('frames', len(frames), 'commits', commits, 'frames/commit', len(frames)/max(commits,1))
for n, k in per.most_common(): print(f'{n:32s} {k:6d} {k/max(commits,1):6.1f}/commit')
