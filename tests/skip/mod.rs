//! Skipping a test that cannot run on this machine, loudly: `make check`
//! (any user, nothing installed) lets such a test skip with a `SKIPPED:` line
//! that the summary of scripts/run-tests.sh lists; `make test` (root, as CI
//! runs it) sets MARLINE_NO_SKIP=1, and there the same test fails instead.
#![allow(dead_code)]

use std::io::Write;

/// Reports that `test` cannot run here because of `reason`: a `SKIPPED:` line
/// on stderr, or a panic when MARLINE_NO_SKIP is set.
pub fn skip(test: &str, reason: &str) {
    assert!(
        std::env::var_os("MARLINE_NO_SKIP").is_none(),
        "{test} cannot run here and MARLINE_NO_SKIP is set (`make test` skips nothing): {reason}"
    );
    // Straight to the descriptor: libtest captures eprintln! of a passing test.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {reason}");
}

/// Whether the test runs as root; otherwise skips `test` (see `skip`).
pub fn require_root(test: &str, what: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        skip(test, &format!("{what} needs root; `make test` as root runs it"));
    }
    root
}
