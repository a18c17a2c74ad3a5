#!/usr/bin/env bash
# Syscalls per unit of work: each echo server under `strace -c -f`, the
# load generator for 1 s, each syscall count divided by the units done
# (round trips for pingpong, connections for churn). Run after `make bench`.
#   bench/syscalls.sh [pingpong|churn] [CONNS]
set -u
cd "$(dirname "$0")/.."
mode=${1:-pingpong}
conns=${2:-1}
for srv in build/echo_server build/bench/epoll_echo build/bench/uv_echo bench/target/release/tokio_echo; do
    out=$(mktemp)
    taskset -c 1 strace -c -f -o "$out.strace" "$srv" 0 >"$out" &
    spid=$!
    for _ in $(seq 50); do grep -q listening "$out" && break; sleep 0.1; done
    port=$(sed -n 's/.*127.0.0.1://p' "$out")
    checked=$(taskset -c 0 bench/target/release/loadgen "$mode" --port "$port" --conns "$conns" --secs 1 | sed -n 's/.*checked=\([0-9]*\).*/\1/p')
    # Kill the traced server (strace's child, by its id); strace then exits.
    kill "$(cat /proc/$spid/task/$spid/children)"
    wait "$spid" 2>/dev/null
    units=$((checked / ${UNIT:-64}))
    printf '%-34s %8d %s:' "$srv" "$units" "$mode"
    awk -v n="$units" '$NF!="total" && $4 ~ /^[0-9]+$/ && $4 > n/100 {printf " %s %.2f", $NF, $4/n}' "$out.strace"
    echo
    rm -f "$out" "$out.strace"
done
