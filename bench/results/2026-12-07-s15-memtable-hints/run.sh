#!/usr/bin/env bash
# run.sh OUT BASE_COMMIT_BENCH NEW_COMMIT_BENCH (about 2.5 minutes): commit-bench
# grown to 300,000 messages, 16 per commit over 1,000 conversations, on CPU 0,
# the two builds alternated three times; `cpu_user`/`sys` at each file's end
# are the whole run's CPU (/usr/bin/time).
set -euo pipefail
out=${1:?usage: run.sh OUT BASE NEW}; base=${2:?}; new=${3:?}
mkdir -p "$out"
for i in 1 2 3; do
  for v in base new; do
    bin=$base; [ "$v" = new ] && bin=$new
    d=$(mktemp -d /tmp/parley-hints.XXXXXX)
    /usr/bin/time -f "cpu_user %U sys %S wall %e" taskset -c 0 "$bin" --path "$d/db.sqlite" --rows 300000 \
      --convs 1000 --window 16 --client-ids random --report-every 100000 > "$out/$v-$i.jsonl" 2>&1
    rm -rf "$d"
  done
done
# The profiles (profile/): parleyd on CPU 0 as bench/compare starts it, rooms
# 1,000 x 10 at 4,000 msgs/s from parley-bench on CPU 1, and 3 s of
#   perf record -F 999 --call-graph dwarf,16384 -p PID
# from the 9th second; each *-shares.txt is the share of samples with that
# function anywhere on the stack (perf script, then a count per sample).
