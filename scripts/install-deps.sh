#!/usr/bin/env bash
# Installs what the build, the demo, the tests, the examples and the scripts
# need, on a bare Debian bookworm machine (Debian's required packages only)
# with the Rust toolchain from rustup. Run as root. Idempotent: it installs
# only what is missing and says what it installs, so it is cheap to run
# before every test run (`make test` does).
#
# The tables below are the project's list of outside programs:
# tests/outside_programs.rs fails when a test, script, example or Makefile
# recipe starts a program that is neither here nor on its short base list.
set -euo pipefail

# Programs, each with the Debian package that provides it.
programs='
make                make
cc                  gcc
g++                 g++
readelf             binutils
objcopy             binutils
strip               binutils
pkg-config          pkg-config
valgrind            valgrind
callgrind_annotate  valgrind
strace              strace
expect              expect
inetutils-telnet    inetutils-telnet
ip                  iproute2
debootstrap         debootstrap
python3             python3
openssl             openssl
gnutls-cli          gnutls-bin
'
# Files (C headers of the libraries the tests and benchmarks compare
# against, the sanitizer runtimes), each with its package.
files='
/usr/include/libtelnet.h    libtelnet-dev
/usr/include/uv.h           libuv1-dev
/usr/lib/gcc/*/*/libasan.so     libasan8
/etc/ssl/certs/ca-certificates.crt  ca-certificates
'
# Python modules: module, Debian package (for Debian's own python3), PyPI name
# (for any other python3, such as a pyenv one; - where it always has it).
modules='
twisted     python3-twisted     twisted
pytest      python3-pytest      pytest
ensurepip   python3-venv        -
'

missing=()
while read -r prog pkg; do
    if [ -n "$prog" ] && ! command -v "$prog" >/dev/null 2>&1; then missing+=("$pkg"); fi
done <<<"$programs"
while read -r file pkg; do
    # shellcheck disable=SC2086 # the file may be a glob
    if [ -n "$file" ] && ! ls $file >/dev/null 2>&1; then missing+=("$pkg"); fi
done <<<"$files"

apt_install() {
    echo "install-deps: apt-get install $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
if [ ${#missing[@]} -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    apt_install "${missing[@]}"
fi

# Debian's python3 takes Debian's packages (pip refuses to install into it);
# another python3 first on PATH takes them from PyPI.
debian_python=$(python3 -c 'import sys; print(sys.prefix == "/usr")')
apt_missing=() pip_missing=()
while read -r module pkg pypi; do
    if [ -z "$module" ] || python3 -c "import $module" >/dev/null 2>&1; then continue; fi
    if [ "$debian_python" = True ]; then
        apt_missing+=("$pkg")
    elif [ "$pypi" != - ]; then
        pip_missing+=("$pypi")
    fi
done <<<"$modules"
if [ ${#apt_missing[@]} -gt 0 ]; then apt_install "${apt_missing[@]}"; fi
if [ ${#pip_missing[@]} -gt 0 ]; then
    echo "install-deps: python3 -m pip install ${pip_missing[*]}"
    python3 -m pip install -q "${pip_missing[@]}"
fi
if [ ${#missing[@]} -eq 0 ] && [ ${#apt_missing[@]} -eq 0 ] && [ ${#pip_missing[@]} -eq 0 ]; then
    echo "install-deps: everything is installed"
fi
