#!/usr/bin/env bash
# run.sh OUT (about 15 minutes): the embedded store with its entries in
# RocksDB, measured as session 13 measured SQLite alone
# (../2026-12-07-s13-sqlite-commit-at-scale): commit-bench grown to 1.4M
# messages at 16 per commit over 1,000 conversations on CPU 0, then rooms
# 1,000 x 10 at 3,000 msgs/s on conversations with a million messages of
# history against fresh ones (that folder's rooms-history.sh, unchanged).
# SEED=DIR keeps (or reuses) the filled store of the rooms runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out=${1:?usage: run.sh OUT}
mkdir -p "$out"
cb=${COMMIT_BENCH:-$root/build-test/bench/commit-bench}
dir=$(mktemp -d /tmp/parley-entries.XXXXXX)
trap 'rm -rf "$dir"' EXIT
/usr/bin/time -f "cpu_user %U sys %S wall %e" taskset -c 0 "$cb" --path "$dir/db.sqlite" --rows 1400000 \
  --convs 1000 --window 16 --client-ids random --report-every 100000 > "$out/entries-grow-random-ids.jsonl" 2>&1
du -sk "$dir"/* > "$out/grow-size.txt"
rm -rf "$dir"/*
"$root/bench/results/2026-12-07-s13-sqlite-commit-at-scale/rooms-history.sh" "$out/rooms-history"
