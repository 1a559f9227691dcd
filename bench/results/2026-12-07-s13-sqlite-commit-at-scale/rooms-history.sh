#!/usr/bin/env bash
# rooms-history.sh OUT [FILL_SECONDS]: rooms 1,000 x 10 on conversations with
# history against fresh ones, same binary, parleyd alone on CPU 0 and the
# generator on CPU 1, as bench/compare starts them (bench/parley-bench.toml).
# First a fill: rooms at 3,000 msgs/s for FILL_SECONDS (default 330: about a
# million messages, a thousand per conversation) with --run-id hist; the
# store it leaves is the seed. Then pairs, alternated: parleyd on a copy of
# the seed, rooms --run-id hist (the same groups, each with its history),
# and parleyd on a fresh store, rooms --run-id fresh<N>; each at 3,000
# msgs/s for 10 s after 2 s of warm-up. /metrics of each run beside its JSON.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out=${1:?usage: rooms-history.sh OUT [FILL_SECONDS]}
fill=${2:-330}
mkdir -p "$out"
out=$(cd "$out" && pwd)
parleyd=${PARLEYD:-$root/build-test/apps/parleyd/parleyd}
bench=${PARLEY_BENCH:-$root/build-test/apps/parley-bench/parley-bench}
work=$(mktemp -d /tmp/parley-history.XXXXXX)
pid=""
stop() { [ -z "$pid" ] || { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; }; }
trap 'stop; rm -rf "$work"' EXIT
"$bench" --write-issuer-pubkey "$work/issuer.pub.pem" --issuer-key "$work/issuer.key.pem"
start() {  # DATA_DIR
  rm -f "$work/port"
  (cd "$work" && exec taskset -c 0 "$parleyd" --config "$root/bench/parley-bench.toml" --data-dir "$1" \
    --listen 127.0.0.1:0 --port-file "$work/port" --log-level warn) >> "$out/parleyd.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
  port=$(cat "$work/port")
}
run() {  # NAME RUN_ID RATE DURATION [more flags]
  taskset -c 1 "$bench" --target "ws://127.0.0.1:$port" --dialect parley --workload rooms --groups 1000 \
    --members 10 --rate "$3" --duration "$4" --warmup 2 --run-id "$2" --issuer-key "$work/issuer.key.pem" \
    --server-pid "$pid" --json "$out/$1.json" "${@:5}" > "$out/$1.txt" 2>&1
}
metrics() { curl -s --max-time 20 "http://127.0.0.1:$port/metrics" > "$out/$1-metrics.txt" || true; }
seed=${SEED:-$work/seed}  # SEED=DIR keeps the filled store there, and a later run reuses it
if [ ! -d "$seed" ]; then
  start "$seed"
  run fill hist 0.3 "$fill" --report-every 30
  metrics fill
  stop
fi
du -sk "$seed" > "$out/seed-size.txt"
# A copy's pages are written back in the background: sync before each start,
# so neither arm shares the disk with the copy.
for pair in 1 2 3; do
  rm -rf "$work/data"; cp -r "$seed" "$work/data"; sync; start "$work/data"; run "history-$pair" hist 0.3 10
  metrics "history-$pair"; stop
  rm -rf "$work/data"; mkdir "$work/data"; sync; start "$work/data"; run "fresh-$pair" "fresh$pair" 0.3 10
  metrics "fresh-$pair"; stop
done
