#!/bin/bash
# iowatch.sh CMD...: runs CMD, prints its last write_bytes/read_bytes from /proc (sampled every 0.2 s)
"$@" & pid=$!
last=""
while kill -0 $pid 2>/dev/null; do l=$(cat /proc/$pid/io 2>/dev/null | tr '\n' ' '); [ -n "$l" ] && last=$l; sleep 0.2; done
wait $pid
echo "io: $last"
