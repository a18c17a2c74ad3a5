//! Status codes: stable numbers, grouped in blocks by layer.

use std::cell::Cell;
use std::ffi::c_char;

use crate::error::{Error, ErrorKind};

/// The result of every fallible call. Numbers are stable: 0 is success,
/// 1xx general misuse, 2xx network, 3xx processes, 4xx telnet, 5xx streams.
/// A failed call did nothing (unless its doc says otherwise), wrote no out
/// parameter and will never call the callback it was given. The handle
/// errors (MARLINE_ERR_NULL_POINTER, _WRONG_HANDLE_TYPE, _STALE_HANDLE,
/// _WRONG_THREAD) can come from every call on a handle, and
/// MARLINE_ERR_PANIC from any call; each function lists the others.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum marline_status_t {
    /// Success.
    MARLINE_OK = 0,
    /// A pointer argument that must not be NULL was NULL: a handle, an out
    /// parameter, a callback table, a string, or a callback the call needs.
    /// Nothing was done.
    MARLINE_ERR_NULL_POINTER = 100,
    /// An argument is out of range or malformed: a number outside its range, a
    /// seconds value the function does not take (NaN always), a string that is
    /// not UTF-8, an unknown flag or enum number, a struct whose `size` no
    /// version had. Nothing was done.
    MARLINE_ERR_INVALID_ARGUMENT = 101,
    /// The handle's object is gone (its connection ended, it was stopped,
    /// closed or freed, its reactor was freed) or never existed. A handle is
    /// never reused, so it never names a newer object.
    MARLINE_ERR_STALE_HANDLE = 102,
    /// The handle is of another kind than the call takes: a listening port
    /// where a transport is expected, a TCP transport given to a telnet_* or
    /// process_* call, or a value that is no handle at all.
    MARLINE_ERR_WRONG_HANDLE_TYPE = 103,
    /// Called from a thread that does not own the handle's reactor. Only
    /// reactor_stop and reactor_call_from_thread may be called from any thread
    /// (and every tcp_stream_* call).
    MARLINE_ERR_WRONG_THREAD = 104,
    /// Not allowed from inside a callback of the same reactor: reactor_run,
    /// reactor_run_once or reactor_free from one of its own callbacks,
    /// marline_set_log_callback from inside the log callback, a new delayed
    /// call from a final callback during reactor_free.
    MARLINE_ERR_REENTRANT = 105,
    /// A panic inside marline was caught at the C boundary (any call can return
    /// it); its message went to the log callback. The object the call was about
    /// may be unusable.
    MARLINE_ERR_PANIC = 106,
    /// Closed for this call: the transport (or child fd, or bridge input) no
    /// longer takes writes because its connection or sending side has closed or
    /// it was aborted; a stream after tcp_stream_close.
    MARLINE_ERR_CLOSED = 107,
    /// The transport already has a producer (transport_register_producer or
    /// transport_register_reading_as_producer).
    MARLINE_ERR_PRODUCER_ALREADY_REGISTERED = 108,
    /// transport_unregister_producer on a transport that has no producer.
    MARLINE_ERR_NO_PRODUCER = 109,
    /// The transport cannot do this: urgent data or TCP options on a process
    /// transport, a window size for a child without a pty, a group signal to a
    /// child that leads no group, a telnet Synch over a transport without
    /// urgent data.
    MARLINE_ERR_NOT_SUPPORTED = 110,
    /// The delayed call has already run or been cancelled (or its reactor is
    /// gone).
    MARLINE_ERR_NOT_ACTIVE = 111,
    /// A system call failed for a reason that has no status of its own;
    /// marline_last_os_error gives its errno.
    MARLINE_ERR_OS = 112,
    /// The caller's buffer cannot hold the result (marline_address_bytes).
    /// Nothing was written.
    MARLINE_ERR_BUFFER_TOO_SMALL = 113,
    /// A time limit passed: a stream call's own limit, or the kernel gave up on
    /// the connection (ETIMEDOUT; marline_last_os_error says which).
    MARLINE_ERR_TIMED_OUT = 114,
    /// No handle is left for a new object of this kind: too many live objects
    /// at once, or every identity of its table has been used (see "Opaque
    /// handles" in the README). Nothing was created.
    MARLINE_ERR_EXHAUSTED = 115,
    /// An allocation sized by an argument (a count or a length) failed. Nothing
    /// was done.
    MARLINE_ERR_NO_MEMORY = 116,
    /// The address and port are in use by another socket (EADDRINUSE).
    MARLINE_ERR_ADDRESS_IN_USE = 200,
    /// The address cannot be parsed, is no address of this host
    /// (EADDRNOTAVAIL), is of a family the system does not support, or (a
    /// stream's active open) the host name does not resolve.
    MARLINE_ERR_BAD_ADDRESS = 201,
    /// The system refused the operation (EACCES or EPERM): a port below 1024
    /// without the privilege, for example.
    MARLINE_ERR_PERMISSION_DENIED = 202,
    /// There is no connection (yet): the addresses or TCP options of a
    /// transport still connecting, a stream before any open.
    MARLINE_ERR_NOT_CONNECTED = 203,
    /// The peer refused the connection (ECONNREFUSED).
    MARLINE_ERR_REFUSED = 204,
    /// The peer reset the connection (ECONNRESET).
    MARLINE_ERR_CONNECTION_RESET = 205,
    /// The child has been reaped: its pid may already be another process's, so
    /// nothing is sent to it.
    MARLINE_ERR_PROCESS_EXITED_ALREADY = 300,
    /// The child has no such descriptor in its fd map, or marline reads that
    /// one (process_write_to_child on an output).
    MARLINE_ERR_NO_SUCH_CHILD_FD = 301,
    /// The executable was not found, is not executable, or is no program the
    /// kernel can run; marline_last_os_error gives the errno.
    MARLINE_ERR_BAD_EXECUTABLE = 302,
    /// The child's working directory does not exist or cannot be entered;
    /// marline_last_os_error gives the errno.
    MARLINE_ERR_BAD_WORKING_DIRECTORY = 303,
    /// Not a signal: a number no signal has, or a name no signal has.
    MARLINE_ERR_UNKNOWN_SIGNAL = 304,
    /// The child fd map is invalid: a child fd repeated or outside 0..1023, an
    /// unknown kind, an inherited descriptor that is not open, a map together
    /// with a pty, or a map where none is taken (a bridged process).
    MARLINE_ERR_BAD_CHILD_FD_MAP = 305,
    /// telnet_will / telnet_do on an option side that is already enabled; the
    /// completion callback is never called.
    MARLINE_ERR_ALREADY_ENABLED = 400,
    /// telnet_wont / telnet_dont on an option side that is already disabled;
    /// the completion callback is never called.
    MARLINE_ERR_ALREADY_DISABLED = 401,
    /// A negotiation of this option side is under way and cannot queue this
    /// request (RFC 1143's one-slot queue); the completion callback is never
    /// called.
    MARLINE_ERR_ALREADY_NEGOTIATING = 402,
    /// The stream is waiting in a passive open (tcp_stream_status,
    /// tcp_stream_set_ulp_timeout).
    MARLINE_ERR_PASSIVE_OPEN_IN_PROGRESS = 500,
    /// The object's state does not allow the call: an open on a stream that has
    /// a connection or a pending open, a second process_bridge_spawn.
    MARLINE_ERR_INVALID_STATE = 501,
    /// The stream's connection has terminated (reset, aborted or timed out):
    /// the call cannot complete.
    MARLINE_ERR_TERMINATED = 502,
    /// The peer has closed the stream's connection and all its data has been
    /// read (tcp_stream_rcv).
    MARLINE_ERR_CONNECTION_CLOSING = 503,
    /// Another call of the same kind is in progress on the stream: one receive
    /// and one send at a time, nothing during tcp_stream_active_open.
    MARLINE_ERR_STREAM_BUSY = 504,
}

use marline_status_t::*;

/// The status of each Rust error kind.
fn status_of(kind: ErrorKind) -> marline_status_t {
    match kind {
        ErrorKind::InvalidArgument => MARLINE_ERR_INVALID_ARGUMENT,
        ErrorKind::StaleHandle => MARLINE_ERR_STALE_HANDLE,
        ErrorKind::WrongHandleType => MARLINE_ERR_WRONG_HANDLE_TYPE,
        ErrorKind::Reentrant => MARLINE_ERR_REENTRANT,
        ErrorKind::Panic => MARLINE_ERR_PANIC,
        ErrorKind::Closed => MARLINE_ERR_CLOSED,
        ErrorKind::ProducerAlreadyRegistered => MARLINE_ERR_PRODUCER_ALREADY_REGISTERED,
        ErrorKind::NoProducer => MARLINE_ERR_NO_PRODUCER,
        ErrorKind::NotSupported => MARLINE_ERR_NOT_SUPPORTED,
        ErrorKind::NotActive => MARLINE_ERR_NOT_ACTIVE,
        ErrorKind::Os => MARLINE_ERR_OS,
        ErrorKind::TimedOut => MARLINE_ERR_TIMED_OUT,
        ErrorKind::Exhausted => MARLINE_ERR_EXHAUSTED,
        ErrorKind::AddressInUse => MARLINE_ERR_ADDRESS_IN_USE,
        ErrorKind::BadAddress => MARLINE_ERR_BAD_ADDRESS,
        ErrorKind::PermissionDenied => MARLINE_ERR_PERMISSION_DENIED,
        ErrorKind::NotConnected => MARLINE_ERR_NOT_CONNECTED,
        ErrorKind::Refused => MARLINE_ERR_REFUSED,
        ErrorKind::ConnectionReset => MARLINE_ERR_CONNECTION_RESET,
        ErrorKind::ProcessExitedAlready => MARLINE_ERR_PROCESS_EXITED_ALREADY,
        ErrorKind::NoSuchChildFd => MARLINE_ERR_NO_SUCH_CHILD_FD,
        ErrorKind::BadExecutable => MARLINE_ERR_BAD_EXECUTABLE,
        ErrorKind::BadWorkingDirectory => MARLINE_ERR_BAD_WORKING_DIRECTORY,
        ErrorKind::UnknownSignal => MARLINE_ERR_UNKNOWN_SIGNAL,
        ErrorKind::BadChildFdMap => MARLINE_ERR_BAD_CHILD_FD_MAP,
        ErrorKind::AlreadyEnabled => MARLINE_ERR_ALREADY_ENABLED,
        ErrorKind::AlreadyDisabled => MARLINE_ERR_ALREADY_DISABLED,
        ErrorKind::AlreadyNegotiating => MARLINE_ERR_ALREADY_NEGOTIATING,
        ErrorKind::PassiveOpenInProgress => MARLINE_ERR_PASSIVE_OPEN_IN_PROGRESS,
        ErrorKind::InvalidState => MARLINE_ERR_INVALID_STATE,
        ErrorKind::Terminated => MARLINE_ERR_TERMINATED,
        ErrorKind::ConnectionClosing => MARLINE_ERR_CONNECTION_CLOSING,
        ErrorKind::StreamBusy => MARLINE_ERR_STREAM_BUSY,
    }
}

/// Why a C call failed: the status it returns, and the errno of the
/// operating-system error behind it (0 if none) for marline_last_os_error.
/// C-only failures (a NULL pointer, a call from the wrong thread, a buffer
/// too small) are made from their status; the rest from a Rust [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CError {
    pub(crate) status: marline_status_t,
    errno: i32,
}

/// What the C layer's fallible helpers and extern bodies return.
pub(crate) type CResult<T> = std::result::Result<T, CError>;

impl From<marline_status_t> for CError {
    fn from(status: marline_status_t) -> CError {
        CError { status, errno: 0 }
    }
}

impl From<ErrorKind> for CError {
    fn from(kind: ErrorKind) -> CError {
        status_of(kind).into()
    }
}

impl From<Error> for CError {
    fn from(e: Error) -> CError {
        CError { status: status_of(e.kind()), errno: e.raw_os_error().unwrap_or(0) }
    }
}

thread_local! {
    static LAST_OS_ERROR: Cell<i32> = const { Cell::new(0) };
}

impl CError {
    /// The status to return to C, after recording the errno behind it as
    /// this thread's marline_last_os_error.
    pub(crate) fn report(self) -> marline_status_t {
        LAST_OS_ERROR.with(|c| c.set(self.errno));
        self.status
    }
}

/// A static, NUL-terminated English description of a marline_status_t value,
/// for messages. Never NULL, never fails; a number that is no status gives
/// "unknown status".
#[no_mangle]
pub extern "C" fn marline_strerror(status: i32) -> *const c_char {
    // An int, not the enum: C may pass any number, and an out-of-range
    // value in a Rust enum would be undefined behaviour.
    let text: &'static std::ffi::CStr = match status {
        0 => c"success",
        100 => c"a required pointer argument was NULL",
        101 => c"invalid argument",
        102 => c"the handle is closed or was never valid",
        103 => c"the handle is of another type than the call expects",
        104 => c"called from a thread that does not own the reactor",
        105 => c"not allowed from inside a callback of the same reactor",
        106 => c"a panic inside marline was caught",
        107 => c"the transport is closing or closed for writing",
        108 => c"a producer is already registered",
        109 => c"no producer is registered",
        110 => c"the operation is not supported by this transport",
        111 => c"the delayed call has already run or been cancelled",
        112 => c"an operating-system call failed (see marline_last_os_error)",
        113 => c"the buffer is too small",
        114 => c"the call timed out",
        115 => c"no handle is left for a new object of this kind",
        116 => c"memory for a size given by the caller could not be allocated",
        200 => c"the address is already in use",
        201 => c"the address cannot be assigned or parsed",
        202 => c"permission denied",
        203 => c"the transport is not connected yet",
        204 => c"the connection was refused",
        205 => c"the connection was reset by the peer",
        300 => c"the process has already exited",
        301 => c"no such child file descriptor",
        302 => c"the executable was not found or cannot be run",
        303 => c"the working directory cannot be used",
        304 => c"unknown signal",
        305 => c"the child fd map is invalid",
        400 => c"the option is already enabled",
        401 => c"the option is already disabled",
        402 => c"a negotiation of this option is already under way",
        500 => c"a passive open is in progress",
        501 => c"the stream is not in a state that allows this call",
        502 => c"the connection has been terminated",
        503 => c"the peer has closed the connection and all its data has been read",
        504 => c"another call on this stream is in progress",
        _ => c"unknown status",
    };
    text.as_ptr()
}

/// The errno behind the last failed marline call on this thread: each call that
/// returns an error status sets it, to the errno of the operating-system
/// failure that caused it (after MARLINE_ERR_OS, the address and connection
/// errors, MARLINE_ERR_BAD_EXECUTABLE and MARLINE_ERR_BAD_WORKING_DIRECTORY),
/// or to 0 when none did (a NULL argument, a stale handle, a time-out of
/// marline's own). Successful calls leave it alone, as C's errno. Never fails.
#[no_mangle]
pub extern "C" fn marline_last_os_error() -> i32 {
    LAST_OS_ERROR.with(Cell::get)
}

/// marline's version as a static, NUL-terminated string, e.g. "0.2.0"
/// (MARLINE_VERSION_STRING of the header it was built with). Never NULL, never
/// fails.
#[no_mangle]
pub extern "C" fn marline_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

/// Panics inside marline's panic boundary, for tests that prove a panic never
/// unwinds into C. Errors: always MARLINE_ERR_PANIC (the panic's message goes
/// to the log callback).
#[no_mangle]
pub extern "C" fn marline_debug_panic() -> marline_status_t {
    super::guard(|| panic!("marline_debug_panic was called"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rust_error_kind_has_a_status_whose_message_is_its_display() {
        use ErrorKind::*;
        let all = [
            InvalidArgument, StaleHandle, WrongHandleType, Reentrant, Panic, Closed, ProducerAlreadyRegistered,
            NoProducer, NotSupported, NotActive, Os, TimedOut, AddressInUse, BadAddress, PermissionDenied,
            NotConnected, Refused, ConnectionReset, ProcessExitedAlready, NoSuchChildFd, BadExecutable,
            BadWorkingDirectory, UnknownSignal, BadChildFdMap, AlreadyEnabled, AlreadyDisabled, AlreadyNegotiating,
            PassiveOpenInProgress, InvalidState, Terminated, ConnectionClosing, StreamBusy, Exhausted,
        ];
        for kind in all {
            let status = status_of(kind);
            // SAFETY: marline_strerror returns a static NUL-terminated string.
            let text = unsafe { std::ffi::CStr::from_ptr(marline_strerror(status as i32)) };
            // The C text of MARLINE_ERR_OS adds where the errno is.
            assert!(text.to_str().unwrap().starts_with(kind.message()), "{kind:?}");
        }
    }

    #[test]
    fn a_failure_reports_its_errno_and_a_c_only_failure_zero() {
        let os = CError::from(Error::from(std::io::Error::from_raw_os_error(libc::EMFILE)));
        assert_eq!(os.report(), MARLINE_ERR_OS);
        assert_eq!(marline_last_os_error(), libc::EMFILE);
        assert_eq!(CError::from(MARLINE_ERR_NULL_POINTER).report(), MARLINE_ERR_NULL_POINTER);
        assert_eq!(marline_last_os_error(), 0);
    }
}
