//! The error type of the Rust API: what kind of failure ([`ErrorKind`]),
//! and the operating-system error behind it when there is one (its
//! [`source`](std::error::Error::source)). The C layer turns each kind
//! into a stable status number (`ffi::status`); C-only failures (a NULL
//! pointer, a call from the wrong thread) exist only there.

use std::{fmt, io};

/// What kind of failure an [`Error`] is.
///
/// ```
/// use marline::{ErrorKind, Reactor};
///
/// let r = Reactor::new().unwrap();
/// let e = r.listen_tcp("not an address", 0, 0, |_| unreachable!()).err().unwrap();
/// assert_eq!(e.kind(), ErrorKind::BadAddress);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument is out of range or malformed.
    InvalidArgument,
    /// The object is gone (closed, ended, freed) or never existed.
    StaleHandle,
    /// The object is of another kind than the call expects.
    WrongHandleType,
    /// Not allowed from inside a callback of the same reactor.
    Reentrant,
    /// A panic inside marline was caught (a stream's engine thread, a
    /// poisoned lock).
    Panic,
    /// The transport is closing or closed for writing.
    Closed,
    /// A producer is already registered.
    ProducerAlreadyRegistered,
    /// No producer is registered.
    NoProducer,
    /// The operation is not supported by this transport.
    NotSupported,
    /// The delayed call has already run or been cancelled.
    NotActive,
    /// The address is already in use.
    AddressInUse,
    /// The address cannot be assigned or parsed.
    BadAddress,
    /// Permission denied.
    PermissionDenied,
    /// Another operating-system call failed (see the source).
    Os,
    /// The transport is not connected yet.
    NotConnected,
    /// The process has already exited.
    ProcessExitedAlready,
    /// No such child file descriptor.
    NoSuchChildFd,
    /// The executable was not found or cannot be run.
    BadExecutable,
    /// The working directory cannot be used.
    BadWorkingDirectory,
    /// Unknown signal.
    UnknownSignal,
    /// The child fd map is invalid.
    BadChildFdMap,
    /// The telnet option is already enabled.
    AlreadyEnabled,
    /// The telnet option is already disabled.
    AlreadyDisabled,
    /// A negotiation of this telnet option is already under way.
    AlreadyNegotiating,
    /// A passive open is in progress.
    PassiveOpenInProgress,
    /// The stream is not in a state that allows this call.
    InvalidState,
    /// The call timed out.
    TimedOut,
    /// The connection was refused.
    Refused,
    /// The connection was reset by the peer.
    ConnectionReset,
    /// The connection has been terminated.
    Terminated,
    /// The peer has closed the connection and all its data has been read.
    ConnectionClosing,
    /// Another call on this stream is in progress.
    StreamBusy,
    /// No handle is left for a new object of this kind.
    Exhausted,
}

impl ErrorKind {
    /// A short description, the `Display` of an error of this kind.
    pub fn message(self) -> &'static str {
        use ErrorKind::*;
        match self {
            InvalidArgument => "invalid argument",
            StaleHandle => "the handle is closed or was never valid",
            WrongHandleType => "the handle is of another type than the call expects",
            Reentrant => "not allowed from inside a callback of the same reactor",
            Panic => "a panic inside marline was caught",
            Closed => "the transport is closing or closed for writing",
            ProducerAlreadyRegistered => "a producer is already registered",
            NoProducer => "no producer is registered",
            NotSupported => "the operation is not supported by this transport",
            NotActive => "the delayed call has already run or been cancelled",
            AddressInUse => "the address is already in use",
            BadAddress => "the address cannot be assigned or parsed",
            PermissionDenied => "permission denied",
            Os => "an operating-system call failed",
            NotConnected => "the transport is not connected yet",
            ProcessExitedAlready => "the process has already exited",
            NoSuchChildFd => "no such child file descriptor",
            BadExecutable => "the executable was not found or cannot be run",
            BadWorkingDirectory => "the working directory cannot be used",
            UnknownSignal => "unknown signal",
            BadChildFdMap => "the child fd map is invalid",
            AlreadyEnabled => "the option is already enabled",
            AlreadyDisabled => "the option is already disabled",
            AlreadyNegotiating => "a negotiation of this option is already under way",
            PassiveOpenInProgress => "a passive open is in progress",
            InvalidState => "the stream is not in a state that allows this call",
            TimedOut => "the call timed out",
            Refused => "the connection was refused",
            ConnectionReset => "the connection was reset by the peer",
            Terminated => "the connection has been terminated",
            ConnectionClosing => "the peer has closed the connection and all its data has been read",
            StreamBusy => "another call on this stream is in progress",
            Exhausted => "no handle is left for a new object of this kind",
        }
    }

    /// The kind an operating-system error number stands for.
    fn of_errno(code: i32) -> ErrorKind {
        match code {
            libc::EADDRINUSE => ErrorKind::AddressInUse,
            libc::EADDRNOTAVAIL | libc::EAFNOSUPPORT => ErrorKind::BadAddress,
            libc::EACCES | libc::EPERM => ErrorKind::PermissionDenied,
            libc::ECONNREFUSED => ErrorKind::Refused,
            libc::ETIMEDOUT => ErrorKind::TimedOut,
            libc::ECONNRESET => ErrorKind::ConnectionReset,
            _ => ErrorKind::Os,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// Why a call failed: an [`ErrorKind`], and the operating-system error
/// behind it, if any, as its `source` (so `raw_os_error` gives the errno).
/// Two errors are equal when their kinds and errnos are.
///
/// ```
/// use std::error::Error as _;
/// use marline::{Error, ErrorKind};
///
/// let e = Error::from(std::io::Error::from_raw_os_error(libc::EADDRINUSE));
/// assert_eq!(e.kind(), ErrorKind::AddressInUse);
/// assert_eq!(e.raw_os_error(), Some(libc::EADDRINUSE));
/// assert!(e.source().is_some());
/// assert_eq!(Error::from(ErrorKind::Closed), ErrorKind::Closed.into());
/// ```
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    source: Option<io::Error>,
}

/// Result alias used across marline.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error of `kind` caused by the operating-system error `source`.
    pub fn with_source(kind: ErrorKind, source: io::Error) -> Error {
        Error { kind, source: Some(source) }
    }

    /// An error of `kind` caused by the errno `code`.
    pub(crate) fn with_errno(kind: ErrorKind, code: i32) -> Error {
        Error::with_source(kind, io::Error::from_raw_os_error(code))
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The errno of the operating-system error behind this one, if any.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.as_ref().and_then(io::Error::raw_os_error)
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error { kind, source: None }
    }
}

/// An operating-system error, sorted by its errno (EADDRINUSE is
/// `AddressInUse`, ECONNREFUSED `Refused`, …; others are `Os`), kept as the
/// source.
impl From<io::Error> for Error {
    fn from(err: io::Error) -> Error {
        let kind = err.raw_os_error().map_or(ErrorKind::Os, ErrorKind::of_errno);
        Error::with_source(kind, err)
    }
}

impl PartialEq for Error {
    fn eq(&self, other: &Error) -> bool {
        self.kind == other.kind && self.raw_os_error() == other.raw_os_error()
    }
}

impl Eq for Error {}

/// A copy of an I/O error: an OS error rebuilt from its number, another
/// from its kind and text.
fn copy(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

/// As `From<io::Error>`, for an error the caller keeps.
impl From<&io::Error> for Error {
    fn from(err: &io::Error) -> Error {
        copy(err).into()
    }
}

/// A copy keeps the kind and the source (see `copy`).
impl Clone for Error {
    fn clone(&self) -> Error {
        Error { kind: self.kind, source: self.source.as_ref().map(copy) }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.message())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}
