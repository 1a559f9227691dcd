#!/usr/bin/env bash
# run.sh OUT: sqlite-bulk and rocksdb-bulk in turn, one process at a time on
# CPU 0, at the batch sizes the sequencer makes (1 to 64) and at 1,000;
# each line: the program's JSON, then user and sys CPU seconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out=${1:?usage: run.sh OUT}
mkdir -p "$out"
g++ -O2 -std=c++20 "$here/rocksdb_bulk.cc" -lrocksdb -o "$out/rocksdb-bulk"
sqlite_bulk=${SQLITE_BULK:-$root/build-test/bench/sqlite-bulk}
dir=$(mktemp -d /tmp/parley-bulk.XXXXXX)
for round in 1 2; do
  for batch in 1 4 16 64 1000; do
    rows=$((batch == 1 ? 4000 : batch == 4 ? 12000 : 40000))
    for tool in sqlite rocksdb; do
      if [ $tool = sqlite ]; then cmd=("$sqlite_bulk" --path "$dir/s.db"); else cmd=("$out/rocksdb-bulk" --path "$dir/r.db"); fi
      /usr/bin/time -f "cpu %U %S" -o "$dir/time" taskset -c 0 "${cmd[@]}" --rows $rows --batch $batch \
        --body-bytes 64 --convs 1000 > "$dir/json"
      echo "$tool round=$round $(cat "$dir/json") $(cat "$dir/time")" | tee -a "$out/results.txt"
    done
  done
done
rm -rf "$dir"
