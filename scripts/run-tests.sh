#!/usr/bin/env bash
# Runs every test binary, whatever fails (`cargo test --no-fail-fast`), and
# ends with one summary of the whole run: the binaries that failed, the tests
# that skipped and why, and the totals. `make test` and `make check` call it.
#   scripts/run-tests.sh [more cargo test arguments]
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"${CARGO:-cargo}" test --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
awk -v status="$status" '
    /^ *Running / { binary = $2 }
    /^ *Doc-tests / { binary = "doc-tests " $2 }
    /^SKIPPED: / { skipped[++nskipped] = substr($0, 10) }
    /^error: could not compile/ { broken[++nbroken] = $0 }
    /^test result: / {
        for (i = 1; i <= NF; i++) {
            if ($(i + 1) ~ /^passed;?$/) passed += $i
            if ($(i + 1) ~ /^failed;?$/) { failed += $i; if ($i > 0) failures[++nfailures] = binary }
            if ($(i + 1) ~ /^ignored;?$/) ignored += $i
        }
        binaries++
    }
    END {
        # cargo failed and no test binary says why (a build error, a bad argument).
        if (status != 0 && failed + nbroken == 0) broken[++nbroken] = "cargo test exited with status " status
        print "\n== test summary: " binaries + 0 " test binaries"
        for (i = 1; i <= nbroken; i++) print "did not run: " broken[i]
        for (i = 1; i <= nfailures; i++) print "failed: " failures[i]
        for (i = 1; i <= nskipped; i++) print "skipped: " skipped[i]
        if (ignored) print "not run: " ignored " #[ignore] tests (long runs, see their module docs)"
        # Skipped tests report to libtest as passed; count them once, as skipped.
        printf "summary: %d passed, %d failed, %d skipped\n", passed - nskipped, failed + nbroken, nskipped
    }' "$log"
exit "$status"
