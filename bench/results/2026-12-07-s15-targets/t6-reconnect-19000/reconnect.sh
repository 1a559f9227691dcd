#!/usr/bin/env bash
# usage: reconnect.sh OUTDIR [rec]
set -euo pipefail
root=$(cd "$(dirname "$0")/../../../.." && pwd)
out=$1; perf=${2:-}
mkdir -p $out; work=$(mktemp -d /tmp/parley-reconnect.XXXXXX)
B=$root/build-test/apps/parley-bench/parley-bench
D=${PARLEYD:-$root/build-test/apps/parleyd/parleyd}
ulimit -n 20000
$B --write-issuer-pubkey $work/issuer.pub.pem --issuer-key $work/issuer.key.pem
cat $root/bench/parley-bench.toml > $work/config.toml
sed -i "s#issuer.pub.pem#$work/issuer.pub.pem#" $work/config.toml
mkdir -p $work/data
(cd $work && exec env ${PRELOAD:+LD_PRELOAD=$PRELOAD} taskset -c 0 $D --config $work/config.toml --data-dir $work/data --listen 127.0.0.1:0 --port-file $work/port --log-level warn) > $out/parleyd.log 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s $work/port ] && break; sleep 0.1; done
port=$(cat $work/port)
taskset -c 1 $B --target ws://127.0.0.1:$port --dialect parley --workload reconnect --groups 1900 --members 10 --rate 0.05 --duration 12 --warmup 2 --drain 10 --source-ips 127.0.0.2-127.0.0.9 --issuer-key $work/issuer.key.pem --server-pid $pid --json $out/run.json > $out/run.txt 2>&1 &
bpid=$!
if [ "$perf" = rec ]; then
  # the storm: wait for the bench to print that it cut the connections
  for _ in $(seq 600); do grep -q "connections ready" $out/run.txt 2>/dev/null && break; sleep 0.1; done
  sleep 5.7
  perf record -F 999 --call-graph dwarf,16384 -p $pid -o $out/perf.data -- sleep 4.5 >/dev/null 2>&1 || true
fi
wait $bpid || true
kill $pid; wait $pid || true
rm -rf $work
tail -8 $out/run.txt
