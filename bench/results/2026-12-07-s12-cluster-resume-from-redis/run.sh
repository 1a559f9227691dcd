#!/usr/bin/env bash
# recon-cluster.sh OUTDIR RECENT GROUPS : reconnect storm on scripts/cluster (3 nodes, HAProxy),
# pg_stat_statements reset once every connection is up, read after the run.
set -uo pipefail
OUT=$1; RECENT=$2; GROUPS_N=${3:-800}; mkdir -p $OUT
ROOT=$(cd "$(dirname "$0")/../../.." && pwd); B=$ROOT/build-test/apps
W=$(mktemp -d /tmp/parley-resume-bench.XXXXXX); chmod 755 $W
$B/parley-bench/parley-bench --write-issuer-pubkey $W/pub.pem --issuer-key $W/key.pem >/dev/null
cd $ROOT
PG_DEV_STATS=1 PARLEYD=$B/parleyd/parleyd PARLEY_KAFKA_DEV=$B/parley-kafka-dev/parley-kafka-dev taskset -c 0 scripts/cluster up --dir $W/c --port 19080 > $OUT/cluster-up.txt 2>&1 || { cat $OUT/cluster-up.txt; exit 1; }
CONN=$(cat $W/c/pg.conninfo)
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
cp $W/c/node-1.toml $OUT/node-1.toml
psql "$CONN" -qc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
sleep 2
ulimit -n "$(ulimit -Hn)"
N=$((GROUPS_N*10))
conns() { local t=0; for i in 1 2 3; do v=$(curl -s http://127.0.0.1:$((19080+i))/metrics | awk '/^parley_connections_total /{print $2}'); t=$(python3 -c "print(int($t+${v:-0}))"); done; echo $t; }
taskset -c 1 $B/parley-bench/parley-bench --target ws://127.0.0.1:19080 --dialect parley \
  --workload reconnect --groups $GROUPS_N --members 10 --rate 0.05 --duration 12 --warmup 4 --drain 10 \
  --issuer-key $W/key.pem --json $OUT/bench.json > $OUT/bench.txt 2>&1 &
BP=$!
for _ in $(seq 1200); do [ "$(conns)" -ge $N ] && break; sleep 0.1; done
sleep 1
psql "$CONN" -qc "SELECT pg_stat_statements_reset()" >/dev/null
for i in 1 2 3; do curl -s http://127.0.0.1:$((19080+i))/metrics > $OUT/node-$i-metrics-before.txt; done
date +%s.%N > $OUT/reset-at
wait $BP
for i in 1 2 3; do curl -s http://127.0.0.1:$((19080+i))/metrics > $OUT/node-$i-metrics.txt; done
psql "$CONN" -F $'\t' -Atc "SELECT calls, rows, round(total_exec_time::numeric,1), regexp_replace(query, '\s+', ' ', 'g') FROM pg_stat_statements WHERE calls > 0 ORDER BY calls DESC" > $OUT/statements.tsv
tail -5 $OUT/bench.txt
for i in 1 2 3; do grep -v '\] \[debug\]' $W/c/node-$i.log | tail -n 2000 > $OUT/node-$i.log; done
scripts/cluster down --dir $W/c > /dev/null 2>&1
rm -rf $W
