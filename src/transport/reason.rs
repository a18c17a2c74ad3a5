//! Why a connection ended or could not be made.

use std::ffi::{CStr, CString};
use std::fmt;

/// The kind of ending, with stable numbers shared with the C API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReasonKind {
    /// A clean close: everything written was delivered.
    Done,
    /// Reset by the peer or an I/O error (see the errno).
    Lost,
    /// This side aborted the connection.
    Aborted,
    /// The peer refused the connection.
    Refused,
    /// A connect or negotiation timed out.
    TimedOut,
    /// No route to the host or network.
    Unreachable,
    /// The host name did not resolve.
    ResolveFailed,
    /// The connection attempt was cancelled by this side.
    Cancelled,
    /// The reactor was freed while the connection was open.
    Shutdown,
    /// A process ended with a non-zero code or a signal.
    Terminated,
    /// The peer broke the protocol (for example an oversized telnet
    /// subnegotiation).
    ProtocolViolation,
    /// A process ended, but its exit status was taken by someone else (the
    /// host reaped it itself, or ignores SIGCHLD): no exit details.
    ExitStatusUnknown,
    /// A client connection could not be made for a reason other than the
    /// ones above (for example a reset before connect() completed); see the
    /// errno. Twisted's ConnectError.
    ConnectFailed,
}

/// How a process ended (carried by process reasons only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    /// The exit code, when the process exited normally.
    pub code: Option<i32>,
    /// The signal that ended it, when it was killed.
    pub signal: Option<i32>,
    /// Whether the killing signal left a core dump.
    pub core_dumped: bool,
    /// The raw wait status.
    pub status: i32,
}

/// A reason: a kind, the errno where there is one, optional exit details and
/// a printable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    kind: ReasonKind,
    errno: i32,
    exit: Option<ExitInfo>,
    message: CString,
}

impl Reason {
    /// A reason with a message and no errno.
    pub fn new(kind: ReasonKind, message: &str) -> Reason {
        Reason::with_errno(kind, 0, message)
    }

    /// A reason carrying an errno.
    pub fn with_errno(kind: ReasonKind, errno: i32, message: &str) -> Reason {
        let message = CString::new(message.replace('\0', " ")).expect("NULs were replaced");
        Reason { kind, errno, exit: None, message }
    }

    /// A reason built from an I/O error, classified by its errno.
    pub fn from_io(err: &std::io::Error) -> Reason {
        let errno = err.raw_os_error().unwrap_or(0);
        let kind = match errno {
            libc::ECONNREFUSED => ReasonKind::Refused,
            libc::ETIMEDOUT => ReasonKind::TimedOut,
            libc::EHOSTUNREACH | libc::ENETUNREACH => ReasonKind::Unreachable,
            _ => ReasonKind::Lost,
        };
        Reason::with_errno(kind, errno, &err.to_string())
    }

    /// The reason a connect attempt failed with `err`: REFUSED, TIMED_OUT and
    /// UNREACHABLE as [`Reason::from_io`] classifies them, any other error
    /// CONNECT_FAILED (never LOST: there was no connection to lose).
    pub fn connect_failed(err: &std::io::Error) -> Reason {
        let mut r = Reason::from_io(err);
        if r.kind == ReasonKind::Lost {
            r.kind = ReasonKind::ConnectFailed;
        }
        r
    }

    /// A process reason.
    pub fn exited(kind: ReasonKind, exit: ExitInfo, message: &str) -> Reason {
        let mut r = Reason::new(kind, message);
        r.exit = Some(exit);
        r
    }

    /// The clean-close reason.
    pub fn done() -> Reason {
        Reason::new(ReasonKind::Done, "connection was closed cleanly")
    }

    /// What kind of ending this is.
    pub fn kind(&self) -> ReasonKind {
        self.kind
    }

    /// The errno, or 0.
    pub fn errno(&self) -> i32 {
        self.errno
    }

    /// Exit details for process reasons.
    pub fn exit(&self) -> Option<&ExitInfo> {
        self.exit.as_ref()
    }

    /// The printable message.
    pub fn message(&self) -> &str {
        self.message.to_str().unwrap_or("")
    }

    /// The message as a NUL-terminated string (for C).
    pub fn message_cstr(&self) -> &CStr {
        &self.message
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message())
    }
}
