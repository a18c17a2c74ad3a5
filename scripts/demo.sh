#!/usr/bin/env bash
# The demo: runs the example programs against each other and shows what
# they print. Built by `make demo`, which calls this script.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build

echo "== echo_server on a free port, echo_client sends its arguments"
"$bin/echo_server" 0 > build/echo_server.out &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s build/echo_server.out ] && break; sleep 0.05; done
head -1 build/echo_server.out
port=$(sed -n 's/^listening on 127.0.0.1://p' build/echo_server.out)
"$bin/echo_client" "$port" hello from marline

echo "== echo_client streams 8 MiB from stdin and checks every byte"
head -c 8388608 /dev/urandom > build/demo.bin
"$bin/echo_client" "$port" < build/demo.bin | cmp - build/demo.bin && echo "8 MiB came back exactly"

echo "== producer_demo: flow control with a streaming producer and a slow reader"
"$bin/producer_demo" 64

for extra in process_cat stream_demo; do
    if [ -x "$bin/$extra" ]; then
        echo "== $extra"
        "$bin/$extra"
    fi
done
echo "== demo finished"
