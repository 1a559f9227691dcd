#!/usr/bin/env bash
# run.sh OUTDIR RUNS RECENT: issue 11 target 5 on scripts/cluster (all on CPU 0, generator on CPU 1),
# presence.redis_recent_entries = RECENT on every node
set -uo pipefail
OUT=$1; RUNS=${2:-2}; RECENT=${3:-64}; mkdir -p $OUT
ROOT=$(cd "$(dirname "$0")/../../../.." && pwd); B=$ROOT/build-test/apps
W=$(mktemp -d /tmp/parley-t5.XXXXXX); chmod 755 $W
$B/parley-bench/parley-bench --write-issuer-pubkey $W/pub.pem --issuer-key $W/key.pem >/dev/null
cd $ROOT
PARLEYD=$B/parleyd/parleyd PARLEY_KAFKA_DEV=$B/parley-kafka-dev/parley-kafka-dev taskset -c 0 scripts/cluster up --dir $W/c --port 19080 > $OUT/cluster-up.txt 2>&1 || { cat $OUT/cluster-up.txt; exit 1; }
for i in 1 2 3; do
  kill -TERM $(cat $W/c/node-$i.pid); while kill -0 $(cat $W/c/node-$i.pid) 2>/dev/null; do sleep 0.1; done
  python3 - $W/c/node-$i.toml $W/pub.pem $RECENT <<'PY'
import sys
p,pub,recent=sys.argv[1],sys.argv[2],sys.argv[3]
s=open(p).read()
s=s.replace('[auth]\n','[auth]\nissuer_public_key_file = "%s"\nissuer = "parley-bench"\n'%pub,1)
s=s.replace('[presence]\n','[presence]\nredis_recent_entries = %s\n'%recent,1)
s+='[limits]\nsend_rate_per_s = 1000000\nsend_burst = 1000000\nmax_http_body_bytes = 4194304\n'
open(p,'w').write(s)
PY
  (env $(env | grep -o '^PARLEY_[A-Z0-9_]*' | sed 's/^/-u /') taskset -c 0 $B/parleyd/parleyd --config $W/c/node-$i.toml </dev/null >>$W/c/node-$i.log 2>&1 & echo $! > $W/c/node-$i.pid)
done
for i in 1 2 3; do for _ in $(seq 600); do curl -sf http://127.0.0.1:$((19080+i))/readyz >/dev/null && break; sleep 0.1; done; done
# The nodes were restarted: let the Kafka group settle (a node stopped
# before its first assignment may not have left it cleanly).
sleep 20
ulimit -n "$(ulimit -Hn)"
for r in $(seq 1 $RUNS); do
  taskset -c 1 $B/parley-bench/parley-bench --target ws://127.0.0.1:19080 --dialect parley \
    --workload rooms --groups 200 --members 10 --rate 0.25 --duration 10 --warmup 3 \
    --issuer-key $W/key.pem --json $OUT/cluster-run$r.json > $OUT/cluster-run$r.txt 2>&1
  tail -3 $OUT/cluster-run$r.txt
done
for i in 1 2 3; do curl -s http://127.0.0.1:$((19080+i))/metrics > $OUT/node-$i-metrics.txt; done
scripts/cluster down --dir $W/c > /dev/null 2>&1
rm -rf $W
