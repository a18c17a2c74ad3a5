//! The error type shared by every layer. Each variant maps to one stable
//! status number in the C API (see `ffi::status`).

/// Why a call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("a required pointer argument was NULL")]
    NullPointer,
    #[error("invalid argument")]
    InvalidArgument,
    #[error("the handle is closed or was never valid")]
    StaleHandle,
    #[error("the handle is of another type than the call expects")]
    WrongHandleType,
    #[error("called from a thread that does not own the reactor")]
    WrongThread,
    #[error("not allowed from inside a callback of the same reactor")]
    Reentrant,
    #[error("a panic inside marline was caught")]
    Panic,
    #[error("the transport is closing or closed for writing")]
    Closed,
    #[error("a producer is already registered")]
    ProducerAlreadyRegistered,
    #[error("no producer is registered")]
    NoProducer,
    #[error("the operation is not supported by this transport")]
    NotSupported,
    #[error("the delayed call has already run or been cancelled")]
    NotActive,
    #[error("the address is already in use")]
    AddressInUse,
    #[error("the address cannot be assigned or parsed")]
    BadAddress,
    #[error("permission denied")]
    PermissionDenied,
    #[error("an operating-system call failed (see marline_last_os_error)")]
    Os,
    #[error("the transport is not connected yet")]
    NotConnected,
    #[error("the buffer is too small")]
    BufferTooSmall,
    #[error("the process has already exited")]
    ProcessExitedAlready,
    #[error("no such child file descriptor")]
    NoSuchChildFd,
    #[error("the executable was not found or cannot be run")]
    BadExecutable,
    #[error("the working directory cannot be used")]
    BadWorkingDirectory,
    #[error("unknown signal")]
    UnknownSignal,
    #[error("the child fd map is invalid")]
    BadChildFdMap,
    #[error("the option is already enabled")]
    AlreadyEnabled,
    #[error("the option is already disabled")]
    AlreadyDisabled,
    #[error("a negotiation of this option is already under way")]
    AlreadyNegotiating,
    #[error("a passive open is in progress")]
    PassiveOpenInProgress,
    #[error("the stream is not in a state that allows this call")]
    InvalidState,
    #[error("the call timed out")]
    TimedOut,
    #[error("the connection was refused")]
    Refused,
    #[error("the connection was reset by the peer")]
    ConnectionReset,
    #[error("the connection has been terminated")]
    Terminated,
    #[error("the peer has closed the connection and all its data has been read")]
    ConnectionClosing,
    #[error("another call on this stream is in progress")]
    StreamBusy,
    #[error("no handle is left for a new object of this kind")]
    Exhausted,
    #[error("memory for a size given by the caller could not be allocated")]
    NoMemory,
}

/// Result alias used across marline.
pub type Result<T> = std::result::Result<T, Error>;

thread_local! {
    static LAST_OS_ERROR: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

/// Records an OS error so that C callers can fetch its errno after an
/// `Error::Os` (or address/permission error) status.
pub(crate) fn os_error(err: &std::io::Error) -> Error {
    let code = err.raw_os_error().unwrap_or(0);
    LAST_OS_ERROR.with(|c| c.set(code));
    match code {
        libc::EADDRINUSE => Error::AddressInUse,
        libc::EADDRNOTAVAIL | libc::EAFNOSUPPORT => Error::BadAddress,
        libc::EACCES | libc::EPERM => Error::PermissionDenied,
        libc::ECONNREFUSED => Error::Refused,
        libc::ETIMEDOUT => Error::TimedOut,
        libc::ECONNRESET => Error::ConnectionReset,
        _ => Error::Os,
    }
}

/// Sets this thread's recorded errno: for errors that happened on another
/// thread on this thread's behalf (a stream's engine thread).
pub(crate) fn set_last_os_error(code: i32) {
    LAST_OS_ERROR.with(|c| c.set(code));
}

/// The errno recorded by the last failing OS call on this thread (0 if none).
pub fn last_os_error() -> i32 {
    LAST_OS_ERROR.with(|c| c.get())
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Error {
        os_error(&err)
    }
}
