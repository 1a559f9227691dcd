# analyze.py RUN_DIR...: one line per run: the reconnect's figures, where
# resume pages came from, and PostgreSQL statements by kind (from
# pg_stat_statements, reset once every connection was up).
import sys, re, glob, os
def metric(dirp, name, before=False):
    tot=0.0
    for i in (1,2,3):
        f=os.path.join(dirp, 'node-%d-metrics%s.txt'%(i,'-before' if before else ''))
        for line in open(f):
            if line.startswith(name+' ') or line.startswith(name+'{') and False: pass
            if line.split(' ')[0]==name: tot+=float(line.split()[-1])
    return tot
def classify(q):
    if 'FOR UPDATE' in q and 'FROM conversations WHERE id = ANY' in q: return 'commit'
    if q.startswith('SELECT m.conv, m.user_id, EXISTS'): return 'commit'
    if q.startswith('SELECT m.conv, m.seq, m.id'): return 'commit'
    if q.startswith('INSERT INTO messages'): return 'commit'
    if q.startswith('UPDATE conversations c SET last_seq'): return 'commit'
    if q.startswith('UPDATE members m SET read_seq'): return 'commit'
    if 'FROM reaction_counts' in q or 'FROM reactions WHERE' in q or 'FROM attachments a JOIN uploads' in q: return 'history'
    if q.startswith('SELECT seq, id, sender, body'): return 'history'
    if q.startswith('UPDATE users SET last_seen'): return 'offline'
    if q.startswith('SELECT 1') or 'EXISTS (SELECT 1 FROM webhooks)' in q or 'push_subscriptions' in q or 'pg_stat_statements' in q: return 'background'
    if q in ('BEGIN','COMMIT') or q.startswith('BEGIN'): return 'txn'
    return 'connect'
for d in sys.argv[1:]:
    calls={}
    for line in open(os.path.join(d,'statements.tsv')):
        c,rows,ms,q=line.rstrip('\n').split('\t',3)
        k=classify(q); calls[k]=calls.get(k,0)+int(c)
    pages_recent=metric(d,'parley_resume_pages_total{source="recent"}')-metric(d,'parley_resume_pages_total{source="recent"}',True)
    pages_store=metric(d,'parley_resume_pages_total{source="store"}')-metric(d,'parley_resume_pages_total{source="store"}',True)
    msgs=metric(d,'parley_commit_batch_size_sum')-metric(d,'parley_commit_batch_size_sum',True)
    batches=metric(d,'parley_commit_batch_size_count')-metric(d,'parley_commit_batch_size_count',True)
    bench=open(os.path.join(d,'bench.txt')).read()
    import json
    j=json.load(open(os.path.join(d,'bench.json')))
    rm=j['reconnect']['resume_ms']
    errs=j['errors']
    m=re.search(r'reconnect: (\d+) dropped, (\d+) resumed in ([\d.]+) s, missed (\d+)',bench)
    resumed=int(m.group(2))
    nonc=sum(v for k,v in calls.items() if k not in ('commit','background','txn'))
    print(f"{os.path.basename(d)}: resumed {m.group(2)}/{m.group(1)} in {m.group(3)} s (one resume p50 {rm['p50']:.0f} / p99 {rm['p99']:.0f} / max {rm['max']:.0f} ms), missed {m.group(4)}, errors {errs}; pages recent {pages_recent:.0f} store {pages_store:.0f}; "
          f"statements: connect {calls.get('connect',0)}, history {calls.get('history',0)}, offline {calls.get('offline',0)}, commit {calls.get('commit',0)} "
          f"({calls.get('commit',0)/max(msgs,1):.2f}/msg, {msgs:.0f} msgs in {batches:.0f} batches); per resume: {nonc/resumed:.2f} (history {calls.get('history',0)/resumed:.2f})")
