#!/usr/bin/env bash
# What a C user ships, marline against libuv (Debian's libuv1-dev, whose
# archive is libuv_a.a, linked through libuv-static.pc): the shared library
# as installed (stripped), the static archive as installed (without debug
# info), and a stripped static "hello" (create a loop, free it) linked with
# the archive. marline's from `make`'s release build, installed by
# `make install` into a scratch prefix. Prints a markdown table.
#   bench/sizes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s install PREFIX="$tmp/prefix" >"$tmp/make.log" 2>&1 || { cat "$tmp/make.log" >&2; exit 1; }
lib=$tmp/prefix/lib
uv=$(pkg-config --variable=libdir libuv)

cat >"$tmp/hello_marline.c" <<'EOF'
#include "marline.h"
int main(void) {
    reactor_t *r;
    if (reactor_new(&r) != MARLINE_OK) return 1;
    return reactor_free(r) != MARLINE_OK;
}
EOF
cat >"$tmp/hello_uv.c" <<'EOF'
#include <uv.h>
int main(void) {
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0) return 1;
    return uv_loop_close(&loop) != 0;
}
EOF
cc -O2 "$tmp/hello_marline.c" \
    $(PKG_CONFIG_PATH=$lib/pkgconfig pkg-config --cflags --libs --static marline-static) -o "$tmp/hello_marline"
cc -O2 "$tmp/hello_uv.c" $(pkg-config --cflags --libs --static libuv-static) -o "$tmp/hello_uv"
strip "$tmp/hello_marline" "$tmp/hello_uv"
"$tmp/hello_marline" && "$tmp/hello_uv"
strip --strip-debug -o "$tmp/libuv.a" "$uv/libuv_a.a"
strip -o "$tmp/libuv.so" "$(readlink -f "$uv/libuv.so")"

kb() { echo "$(( ($(stat -L -c %s "$1") + 512) / 1024 )) KB"; }
echo "| artefact | marline | libuv |"
echo "| --- | --- | --- |"
echo "| shared library, stripped | $(kb "$lib/libmarline.so") | $(kb "$tmp/libuv.so") |"
echo "| static archive, without debug info | $(kb "$lib/libmarline.a") | $(kb "$tmp/libuv.a") |"
echo "| stripped static hello (create and free a loop) | $(kb "$tmp/hello_marline") | $(kb "$tmp/hello_uv") |"
