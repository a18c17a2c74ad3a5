#!/usr/bin/env bash
# User-space instructions per echo round trip, counted by callgrind (the
# same total whatever else the machine does): each echo server under
# valgrind, the load generator doing 10-connection ping-pong for 2 s, the
# server's total (start-up included) divided by the round trips. Run after
# `make bench` has built everything.
#   bench/instructions.sh
set -u
cd "$(dirname "$0")/.."
for srv in build/echo_server bench/target/release/tokio_echo build/bench/uv_echo build/bench/epoll_echo; do
    out=$(mktemp) prof=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$prof" "$srv" 0 >"$out" 2>/dev/null &
    vpid=$!
    for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.1; done
    port=$(sed -n 's/.*127.0.0.1://p' "$out")
    checked=$(bench/target/release/loadgen pingpong --port "$port" --conns 10 --secs 2 | sed -n 's/.*checked=\([0-9]*\).*/\1/p')
    kill "$vpid"; wait "$vpid" 2>/dev/null
    total=$(callgrind_annotate "$prof" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    trips=$((checked / 64))
    printf '%-34s %8d round trips %6d instructions each\n' "$srv" "$trips" "$((total / trips))"
    rm -f "$out" "$prof"
done
