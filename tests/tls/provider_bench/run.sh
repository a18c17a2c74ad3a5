#!/usr/bin/env bash
# Builds the benchmark once per provider (clean, timed) and runs both: AES-GCM and
# ChaCha20 throughput through rustls in memory, full and resumed handshakes per second
# (ECDSA P-256 and RSA 2048 certificates, X25519), thread CPU time so a busy machine does
# not skew it. Usage: tests/tls/provider_bench/run.sh  (needs openssl for the certificates)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
certs="$work/certs"
mkdir -p "$certs"
cd "$certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt \
    -days 30 -subj /CN=bench-ca 2>/dev/null
printf "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n" > ext
for k in ec rsa; do
    if [ $k = ec ]; then opt=(-newkey ec -pkeyopt ec_paramgen_curve:P-256); else opt=(-newkey rsa:2048); fi
    openssl req "${opt[@]}" -nodes -keyout $k.key -out $k.csr -subj /CN=localhost 2>/dev/null
    openssl x509 -req -in $k.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile ext \
        -out $k.crt 2>/dev/null
done
cd "$here"
for p in ring aws; do
    /usr/bin/time -f "$p: clean release build %e s wall, %U s user, %S s sys" \
        env CARGO_TARGET_DIR="$work/t-$p" cargo build -q --release --features $p
    cp "$work/t-$p/release/tls-provider-bench" "$work/bench-$p"
    strip "$work/bench-$p"
    echo "$p: stripped binary $(stat -c %s "$work/bench-$p") bytes"
done
for p in ring aws; do "$work/t-$p/release/tls-provider-bench" "$certs"; done
