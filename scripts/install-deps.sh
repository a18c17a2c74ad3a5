#!/usr/bin/env bash
# Installs what the build, the demo and the test suite need on a fresh
# Debian machine (root, as on this project's machines). Idempotent: only
# missing pieces are installed, so it is cheap to run before every test run.
set -euo pipefail

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }
have cc || need_apt+=(gcc)
have g++ || need_apt+=(g++)
have make || need_apt+=(make)
have valgrind || need_apt+=(valgrind)
have expect || need_apt+=(expect)
have inetutils-telnet || [ -x /usr/bin/telnet.netkit ] || have telnet || need_apt+=(inetutils-telnet)
have pkg-config || need_apt+=(pkg-config)
[ -f /usr/include/libtelnet.h ] || need_apt+=(libtelnet-dev)
[ -f /usr/include/uv.h ] || need_apt+=(libuv1-dev)
# ASan/UBSan runtimes come with gcc; make sure they are there.
ls /usr/lib/gcc/*/*/libasan.so >/dev/null 2>&1 || need_apt+=(libasan8)

if [ ${#need_apt[@]} -gt 0 ]; then
    echo "install-deps: apt-get install ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! python3 -c 'import twisted' >/dev/null 2>&1; then
    echo "install-deps: pip install twisted"
    python3 -m pip install -q twisted
fi

if ! python3 -c 'import pytest' >/dev/null 2>&1; then
    echo "install-deps: pip install pytest"
    python3 -m pip install -q pytest
fi
