//! Signal names and numbers, as SSH (RFC 4254) and Twisted conch name them,
//! in two forms:
//! - [`signal_name`], the form SSH's exit-signal message carries: the name
//!   without "SIG" for the thirteen portable signals (ABRT, ALRM, FPE, HUP,
//!   ILL, INT, KILL, PIPE, QUIT, SEGV, TERM, USR1, USR2), and `NAME@linux`
//!   for every other signal (BUS@linux, CHLD@linux, …, RTMIN+3@linux);
//! - [`signal_full_name`], the form conch's `_getSignalName` returns:
//!   the same with "SIG" in front (SIGTERM, SIGBUS@linux), of which
//!   exit-signal sends all but the first three characters.

use std::ffi::{CStr, CString};
use std::sync::OnceLock;

use crate::error::{ErrorKind, Result};

/// Signals with a portable name (RFC 4254 §6.10).
const PORTABLE: &[(i32, &CStr)] = &[
    (libc::SIGABRT, c"ABRT"),
    (libc::SIGALRM, c"ALRM"),
    (libc::SIGFPE, c"FPE"),
    (libc::SIGHUP, c"HUP"),
    (libc::SIGILL, c"ILL"),
    (libc::SIGINT, c"INT"),
    (libc::SIGKILL, c"KILL"),
    (libc::SIGPIPE, c"PIPE"),
    (libc::SIGQUIT, c"QUIT"),
    (libc::SIGSEGV, c"SEGV"),
    (libc::SIGTERM, c"TERM"),
    (libc::SIGUSR1, c"USR1"),
    (libc::SIGUSR2, c"USR2"),
];

/// The other Linux signals, named `NAME@linux`.
const LINUX_ONLY: &[(i32, &CStr)] = &[
    (libc::SIGTRAP, c"TRAP@linux"),
    (libc::SIGBUS, c"BUS@linux"),
    (libc::SIGSTKFLT, c"STKFLT@linux"),
    (libc::SIGCHLD, c"CHLD@linux"),
    (libc::SIGCONT, c"CONT@linux"),
    (libc::SIGSTOP, c"STOP@linux"),
    (libc::SIGTSTP, c"TSTP@linux"),
    (libc::SIGTTIN, c"TTIN@linux"),
    (libc::SIGTTOU, c"TTOU@linux"),
    (libc::SIGURG, c"URG@linux"),
    (libc::SIGXCPU, c"XCPU@linux"),
    (libc::SIGXFSZ, c"XFSZ@linux"),
    (libc::SIGVTALRM, c"VTALRM@linux"),
    (libc::SIGPROF, c"PROF@linux"),
    (libc::SIGWINCH, c"WINCH@linux"),
    (libc::SIGIO, c"IO@linux"),
    (libc::SIGPWR, c"PWR@linux"),
    (libc::SIGSYS, c"SYS@linux"),
];

/// Names of the real-time signals, index = signum - SIGRTMIN.
fn realtime() -> &'static [CString] {
    static NAMES: OnceLock<Vec<CString>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        (min..=max)
            .map(|s| {
                let name = if s == min {
                    "RTMIN@linux".to_owned()
                } else if s == max {
                    "RTMAX@linux".to_owned()
                } else if s - min <= max - s {
                    format!("RTMIN+{}@linux", s - min)
                } else {
                    format!("RTMAX-{}@linux", max - s)
                };
                CString::new(name).expect("no NUL")
            })
            .collect()
    })
}

/// The name of `signum` as a static NUL-terminated string, or `None` for a
/// number that is no signal.
pub fn signal_name_cstr(signum: i32) -> Option<&'static CStr> {
    if let Some((_, n)) = PORTABLE.iter().chain(LINUX_ONLY).find(|(s, _)| *s == signum) {
        return Some(n);
    }
    let min = libc::SIGRTMIN();
    if signum >= min && signum <= libc::SIGRTMAX() {
        return Some(realtime()[(signum - min) as usize].as_c_str());
    }
    None
}

/// The name of `signum`: "TERM", "KILL", "SEGV", … or "BUS@linux" for a
/// signal without a portable name; `None` for a number that is no signal.
pub fn signal_name(signum: i32) -> Option<&'static str> {
    signal_name_cstr(signum).and_then(|c| c.to_str().ok())
}

/// The full names, "SIG" + the SSH name, index = signum (0 unused).
fn full_names() -> &'static [Option<CString>] {
    static NAMES: OnceLock<Vec<Option<CString>>> = OnceLock::new();
    NAMES.get_or_init(|| {
        (0..=libc::SIGRTMAX())
            .map(|s| signal_name(s).map(|n| CString::new(format!("SIG{n}")).expect("no NUL")))
            .collect()
    })
}

/// The full name of `signum` as a static NUL-terminated string, or `None`
/// for a number that is no signal.
pub fn signal_full_name_cstr(signum: i32) -> Option<&'static CStr> {
    let i = usize::try_from(signum).ok()?;
    full_names().get(i)?.as_deref()
}

/// The name of `signum` with its "SIG" prefix, as Twisted conch's
/// `_getSignalName` returns it: "SIGTERM", "SIGKILL", …, or
/// "SIGBUS@linux" for a signal without a portable name; `None` for a
/// number that is no signal. [`signal_name`] is this without the first
/// three characters.
pub fn signal_full_name(signum: i32) -> Option<&'static str> {
    signal_full_name_cstr(signum).and_then(|c| c.to_str().ok())
}

/// The number of the signal called `name`. Accepts what [`signal_name`]
/// returns, with or without a "SIG" prefix, the `@linux` suffix optional,
/// in any letter case ("TERM", "SIGTERM", "term", "BUS", "BUS@linux").
pub fn signal_number(name: &str) -> Result<i32> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_suffix("@LINUX").unwrap_or(&upper);
    let bare = bare.strip_prefix("SIG").unwrap_or(bare);
    if bare.is_empty() {
        return Err(ErrorKind::UnknownSignal.into());
    }
    let matches = |n: &CStr| {
        let n = n.to_str().unwrap_or("");
        n.strip_suffix("@linux").unwrap_or(n).eq_ignore_ascii_case(bare)
    };
    if let Some((s, _)) = PORTABLE.iter().chain(LINUX_ONLY).find(|(_, n)| matches(n)) {
        return Ok(*s);
    }
    let min = libc::SIGRTMIN();
    realtime()
        .iter()
        .position(|n| matches(n))
        .map(|i| min + i as i32)
        .ok_or_else(|| ErrorKind::UnknownSignal.into())
}

/// Checks that `signum` is a signal that can be sent.
pub(crate) fn check(signum: i32) -> Result<()> {
    if signal_name_cstr(signum).is_some() {
        Ok(())
    } else {
        Err(ErrorKind::UnknownSignal.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(signal_name(libc::SIGTERM), Some("TERM"));
        assert_eq!(signal_name(libc::SIGKILL), Some("KILL"));
        assert_eq!(signal_name(libc::SIGSEGV), Some("SEGV"));
        assert_eq!(signal_name(libc::SIGUSR1), Some("USR1"));
        assert_eq!(signal_name(libc::SIGBUS), Some("BUS@linux"));
        assert_eq!(signal_name(libc::SIGWINCH), Some("WINCH@linux"));
        assert_eq!(signal_name(libc::SIGRTMIN()), Some("RTMIN@linux"));
        assert_eq!(signal_name(libc::SIGRTMIN() + 1), Some("RTMIN+1@linux"));
        assert_eq!(signal_name(libc::SIGRTMAX()), Some("RTMAX@linux"));
        assert_eq!(signal_name(0), None);
        assert_eq!(signal_name(-1), None);
        assert_eq!(signal_name(1000), None);
        for s in 1..=libc::SIGRTMAX() {
            if let Some(n) = signal_name(s) {
                assert_eq!(signal_number(n), Ok(s), "{n}");
            }
        }
        assert_eq!(signal_number("SIGTERM"), Ok(libc::SIGTERM));
        assert_eq!(signal_number("hup"), Ok(libc::SIGHUP));
        assert_eq!(signal_number("BUS"), Ok(libc::SIGBUS));
        assert_eq!(signal_number("NOPE"), Err(ErrorKind::UnknownSignal.into()));
        assert_eq!(signal_number(""), Err(ErrorKind::UnknownSignal.into()));
        assert_eq!(signal_number("SIG"), Err(ErrorKind::UnknownSignal.into()));
    }

    // The conch seed's _getSignalName: "SIG" + the POSIX name, and
    // "SIG" + name + "@" + platform for the others.
    #[test]
    fn full_names_have_the_sig_prefix() {
        assert_eq!(signal_full_name(libc::SIGTERM), Some("SIGTERM"));
        assert_eq!(signal_full_name(libc::SIGKILL), Some("SIGKILL"));
        assert_eq!(signal_full_name(libc::SIGBUS), Some("SIGBUS@linux"));
        assert_eq!(signal_full_name(libc::SIGRTMIN() + 2), Some("SIGRTMIN+2@linux"));
        assert_eq!(signal_full_name(0), None);
        assert_eq!(signal_full_name(-3), None);
        assert_eq!(signal_full_name(libc::SIGRTMAX() + 1), None);
        for s in 1..=libc::SIGRTMAX() {
            match (signal_name(s), signal_full_name(s)) {
                (Some(short), Some(full)) => {
                    assert_eq!(&full[3..], short, "exit-signal sends the full name without its first three characters");
                    assert_eq!(signal_number(full), Ok(s), "{full}");
                }
                (None, None) => {} // glibc's internal signals (32, 33)
                other => panic!("signal {s}: {other:?}"),
            }
        }
    }
}
