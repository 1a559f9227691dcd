#!/usr/bin/env bash
# run.sh OUT (about 20 minutes): SQLite's commit path (commit-bench: the embedded log, the
# sequencer, SqliteStore::CommitBatch) and the same write set in RocksDB
# (rocksdb_commit.cc), each grown to 1.4M rows at 16 messages per commit
# over 1,000 conversations, one at a time on CPU 0; then the screens on a
# grown SQLite store (each adds 200k rows to a copy of it); which pages a
# commit writes; and the bytes each program writes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out=${1:?usage: run.sh OUT}
mkdir -p "$out"
cb=${COMMIT_BENCH:-$root/build-test/bench/commit-bench}
g++ -O2 -std=c++20 "$here/rocksdb_commit.cc" -lrocksdb -o "$out/rocksdb-commit"
dir=$(mktemp -d /tmp/parley-scale.XXXXXX)
timed() { /usr/bin/time -f "cpu_user %U sys %S wall %e" taskset -c 0 "$@"; }

timed "$cb" --path "$dir/db.sqlite" --rows 1400000 --convs 1000 --window 16 --client-ids random \
  --report-every 100000 > "$out/sqlite-grow-random-ids.jsonl" 2>&1
timed "$out/rocksdb-commit" --path "$dir/rocks" --rows 1400000 --batch 16 --convs 1000 \
  --report-every 100000 > "$out/rocksdb-grow.jsonl" 2>&1
rm -rf "$dir/rocks"

# The grown store, checkpointed, is the base of every screen.
python3 -c "import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute('pragma wal_checkpoint(TRUNCATE)')" "$dir/db.sqlite"
mv "$dir/db.sqlite" "$dir/base.sqlite"
python3 - "$dir" <<'PY'
import shutil, sqlite3, sys
d = sys.argv[1]
for name, size in (("base-4kv", 4096), ("base-1k", 1024)):  # both vacuumed, so packed alike
    shutil.copy(f"{d}/base.sqlite", f"{d}/{name}.sqlite")
    c = sqlite3.connect(f"{d}/{name}.sqlite")
    c.execute("pragma journal_mode=delete"); c.execute(f"pragma page_size={size}"); c.execute("vacuum")
    c.execute("pragma journal_mode=wal"); c.close()
PY
screen() {  # NAME BASE SQL [commit-bench flags]
  local name=$1 base=$2 sql=$3; shift 3
  rm -f "$dir"/cb.sqlite*; cp "$dir/$base.sqlite" "$dir/cb.sqlite"
  [ -z "$sql" ] || python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()" "$dir/cb.sqlite" "$sql"
  sync; sleep 1
  timed "$cb" --path "$dir/cb.sqlite" --rows 200000 --convs 1000 --window 16 --report-every 50000 --reuse "$@" \
    > "$out/screen-$name.jsonl" 2>&1
}
screen base base ""
screen nofts base "DROP TABLE message_search; CREATE TABLE message_search(text, conv_id, entry_seq);"
screen ordered base "" --client-ids ordered
screen random base "" --client-ids random
screen p4kv base-4kv ""
screen p1k base-1k ""
screen base2 base ""
screen nounread base "DROP INDEX messages_unread;"
screen base3 base ""

# Which pages a commit writes: a run killed mid-way leaves its WAL; on the
# grown store and on a small one (10k rows).
"$cb" --path "$dir/base-small.sqlite" --rows 10000 --convs 1000 --window 16 > /dev/null
python3 -c "import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute('pragma wal_checkpoint(TRUNCATE)')" "$dir/base-small.sqlite"
for base in base base-small; do
  rm -f "$dir"/cb.sqlite*; cp "$dir/$base.sqlite" "$dir/cb.sqlite"
  taskset -c 0 "$cb" --path "$dir/cb.sqlite" --rows 100000 --convs 1000 --window 16 --reuse > /dev/null &
  sleep 6; kill -9 $!; wait $! 2>/dev/null || true
  python3 "$here/walpages.py" "$dir/cb.sqlite" > "$out/wal-frames-$base.txt"
done

# Bytes: each program's /proc/PID/io, grown from empty to 1.4M rows.
"$here/iowatch.sh" taskset -c 0 "$out/rocksdb-commit" --path "$dir/rocks" --rows 1400000 --batch 16 \
  > "$out/io-1.4m.txt" 2>&1
rm -rf "$dir/rocks"
"$here/iowatch.sh" taskset -c 0 "$cb" --path "$dir/io.sqlite" --rows 1400000 --convs 1000 --window 16 \
  --client-ids random >> "$out/io-1.4m.txt" 2>&1
rm -rf "$dir"
