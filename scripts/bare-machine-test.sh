#!/usr/bin/env bash
# Runs a make target from a fresh clone on a bare Debian machine, as a new
# user would: a `debootstrap --variant=minbase bookworm` root file system
# (Debian's required packages and nothing else) in a chroot, with only the
# Rust toolchain added: this machine's, bind-mounted read-only, as rustup
# would have put it there. Nothing else of this machine is visible inside,
# so a tool installed here by hand cannot hide a missing install step.
#
# Inside, it follows the README: scripts/install-deps.sh, then the target:
#   scripts/bare-machine-test.sh          # make test (every test; nothing may skip)
#   scripts/bare-machine-test.sh check    # `make check` as a non-root user
#   scripts/bare-machine-test.sh demo     # make demo
#   scripts/bare-machine-test.sh install  # make install PREFIX=/usr/local, then an echo
#                                         # client and server built with pkg-config only,
#                                         # shared and static, run with no step by hand
#
# Needs root, debootstrap (apt-get install debootstrap) and the package
# registries. Takes long (a full build and test run on a new machine), so it
# is not part of `make test`. The clone is of HEAD: commit first.
# BARE_DIR (default /var/tmp/marline-bare) keeps the pristine root file
# system as a tarball; each run unpacks a new copy. Every mount lives in a
# private mount namespace, so none is left behind, whatever happens.
set -euo pipefail
target=${1:-test}
case "$target" in test | check | demo | install) ;; *) echo "usage: $0 [test|check|demo|install]" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "bare-machine-test: needs root (debootstrap, chroot, mounts)" >&2; exit 2; }
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
dir=${BARE_DIR:-/var/tmp/marline-bare}
pristine=$dir/bookworm-minbase.tar
toolchain=$(rustc --print sysroot)
mkdir -p "$dir"

if [ ! -f "$pristine" ]; then
    command -v debootstrap >/dev/null || { echo "bare-machine-test: apt-get install debootstrap first" >&2; exit 2; }
    echo "bare-machine-test: debootstrap --variant=minbase bookworm (once; kept as $pristine)"
    rm -rf "$dir/bootstrap"
    debootstrap --variant=minbase bookworm "$dir/bootstrap" http://deb.debian.org/debian >"$dir/debootstrap.log"
    tar -C "$dir/bootstrap" -cf "$pristine.tmp" . && mv "$pristine.tmp" "$pristine"
    rm -rf "$dir/bootstrap"
fi

root=$dir/run
rm -rf "$root" && mkdir -p "$root"
tar -C "$root" -xf "$pristine"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The network as this machine has it: where the registries are reached through a TLS
# proxy, its CA (trusted by every machine there) is trusted inside too, and the
# variables that point tools at the bundle are passed on.
mkdir -p "$root/usr/local/share/ca-certificates" "$root/etc/ssl/certs"
cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/" 2>/dev/null || true
ca_env=()
for v in SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE REQUESTS_CA_BUNDLE PIP_CERT; do
    [ -z "${!v:-}" ] || ca_env+=("$v=${!v}")
done
mkdir -p "$root/opt/rust"
git clone -q "$repo" "$root/src"
echo "bare-machine-test: $(git -C "$root/src" log --oneline -1) on bookworm minbase + $(rustc --version)"

# The session inside: a plain root login (HOME, PATH with the toolchain);
# for `check`, a user without root.
inside='set -e; cd /src
scripts/install-deps.sh
case "$1" in
check)
    useradd -m tester && chown -R tester /src
    su tester -c "PATH=$PATH make check" ;;
install)
    make install PREFIX=/usr/local
    cd "$(mktemp -d)"
    for kind in shared static; do
        pc=marline; [ $kind = static ] && pc="--static marline-static"
        for p in echo_server echo_client; do
            cc /src/examples-c/$p.c $(pkg-config --cflags --libs $pc) -o $p-$kind
        done
        ./echo_server-$kind 0 > server.out & server=$!
        for _ in $(seq 100); do grep -q listening server.out && break; sleep 0.1; done
        ./echo_client-$kind "$(sed -n "s/.*127.0.0.1://p" server.out)" hello from $kind
        kill $server
    done ;;
*)
    make "$1" ;;
esac'
unshare --mount --propagation=private -- bash -euc '
    root=$1 toolchain=$2 ca_env=$3; shift 3
    mount --bind "$root" "$root"  # a mount point, as / is (ip netns remounts it)
    mount --rbind /dev "$root/dev"
    mount -t proc proc "$root/proc"
    mount -t sysfs sys "$root/sys"
    mount --bind "$toolchain" "$root/opt/rust" && mount -o remount,bind,ro "$root/opt/rust"
    exec env -i HOME=/root LANG=C.UTF-8 PATH=/opt/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        $ca_env chroot "$root" /bin/bash -c "$@"
' bare "$root" "$toolchain" "${ca_env[*]}" "$inside" inside "$target"
