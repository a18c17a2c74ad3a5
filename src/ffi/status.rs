//! Status codes: stable numbers, grouped in blocks by layer.

use std::ffi::c_char;

use crate::error::Error;

/// The result of every fallible call. Numbers are stable: 0 is success,
/// 1xx general misuse, 2xx network, 3xx processes, 4xx telnet, 5xx streams.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum marline_status_t {
    MARLINE_OK = 0,
    MARLINE_ERR_NULL_POINTER = 100,
    MARLINE_ERR_INVALID_ARGUMENT = 101,
    MARLINE_ERR_STALE_HANDLE = 102,
    MARLINE_ERR_WRONG_HANDLE_TYPE = 103,
    MARLINE_ERR_WRONG_THREAD = 104,
    MARLINE_ERR_REENTRANT = 105,
    MARLINE_ERR_PANIC = 106,
    MARLINE_ERR_CLOSED = 107,
    MARLINE_ERR_PRODUCER_ALREADY_REGISTERED = 108,
    MARLINE_ERR_NO_PRODUCER = 109,
    MARLINE_ERR_NOT_SUPPORTED = 110,
    MARLINE_ERR_NOT_ACTIVE = 111,
    MARLINE_ERR_OS = 112,
    MARLINE_ERR_BUFFER_TOO_SMALL = 113,
    MARLINE_ERR_TIMED_OUT = 114,
    /// No handle is left for a new object of this kind: too many live
    /// objects at once, or every identity of its table has been used (see
    /// "Opaque handles" in the README). Nothing was created.
    MARLINE_ERR_EXHAUSTED = 115,
    /// An allocation sized by an argument (a count or a length) failed.
    /// Nothing was done.
    MARLINE_ERR_NO_MEMORY = 116,
    MARLINE_ERR_ADDRESS_IN_USE = 200,
    MARLINE_ERR_BAD_ADDRESS = 201,
    MARLINE_ERR_PERMISSION_DENIED = 202,
    MARLINE_ERR_NOT_CONNECTED = 203,
    MARLINE_ERR_REFUSED = 204,
    MARLINE_ERR_CONNECTION_RESET = 205,
    MARLINE_ERR_PROCESS_EXITED_ALREADY = 300,
    MARLINE_ERR_NO_SUCH_CHILD_FD = 301,
    MARLINE_ERR_BAD_EXECUTABLE = 302,
    MARLINE_ERR_BAD_WORKING_DIRECTORY = 303,
    MARLINE_ERR_UNKNOWN_SIGNAL = 304,
    MARLINE_ERR_BAD_CHILD_FD_MAP = 305,
    MARLINE_ERR_ALREADY_ENABLED = 400,
    MARLINE_ERR_ALREADY_DISABLED = 401,
    MARLINE_ERR_ALREADY_NEGOTIATING = 402,
    MARLINE_ERR_PASSIVE_OPEN_IN_PROGRESS = 500,
    MARLINE_ERR_INVALID_STATE = 501,
    MARLINE_ERR_TERMINATED = 502,
    MARLINE_ERR_CONNECTION_CLOSING = 503,
    MARLINE_ERR_STREAM_BUSY = 504,
}

use marline_status_t::*;

impl From<Error> for marline_status_t {
    fn from(e: Error) -> marline_status_t {
        match e {
            Error::NullPointer => MARLINE_ERR_NULL_POINTER,
            Error::InvalidArgument => MARLINE_ERR_INVALID_ARGUMENT,
            Error::StaleHandle => MARLINE_ERR_STALE_HANDLE,
            Error::WrongHandleType => MARLINE_ERR_WRONG_HANDLE_TYPE,
            Error::WrongThread => MARLINE_ERR_WRONG_THREAD,
            Error::Reentrant => MARLINE_ERR_REENTRANT,
            Error::Panic => MARLINE_ERR_PANIC,
            Error::Closed => MARLINE_ERR_CLOSED,
            Error::ProducerAlreadyRegistered => MARLINE_ERR_PRODUCER_ALREADY_REGISTERED,
            Error::NoProducer => MARLINE_ERR_NO_PRODUCER,
            Error::NotSupported => MARLINE_ERR_NOT_SUPPORTED,
            Error::NotActive => MARLINE_ERR_NOT_ACTIVE,
            Error::Os => MARLINE_ERR_OS,
            Error::BufferTooSmall => MARLINE_ERR_BUFFER_TOO_SMALL,
            Error::TimedOut => MARLINE_ERR_TIMED_OUT,
            Error::Exhausted => MARLINE_ERR_EXHAUSTED,
            Error::NoMemory => MARLINE_ERR_NO_MEMORY,
            Error::AddressInUse => MARLINE_ERR_ADDRESS_IN_USE,
            Error::BadAddress => MARLINE_ERR_BAD_ADDRESS,
            Error::PermissionDenied => MARLINE_ERR_PERMISSION_DENIED,
            Error::NotConnected => MARLINE_ERR_NOT_CONNECTED,
            Error::Refused => MARLINE_ERR_REFUSED,
            Error::ConnectionReset => MARLINE_ERR_CONNECTION_RESET,
            Error::ProcessExitedAlready => MARLINE_ERR_PROCESS_EXITED_ALREADY,
            Error::NoSuchChildFd => MARLINE_ERR_NO_SUCH_CHILD_FD,
            Error::BadExecutable => MARLINE_ERR_BAD_EXECUTABLE,
            Error::BadWorkingDirectory => MARLINE_ERR_BAD_WORKING_DIRECTORY,
            Error::UnknownSignal => MARLINE_ERR_UNKNOWN_SIGNAL,
            Error::BadChildFdMap => MARLINE_ERR_BAD_CHILD_FD_MAP,
            Error::AlreadyEnabled => MARLINE_ERR_ALREADY_ENABLED,
            Error::AlreadyDisabled => MARLINE_ERR_ALREADY_DISABLED,
            Error::AlreadyNegotiating => MARLINE_ERR_ALREADY_NEGOTIATING,
            Error::PassiveOpenInProgress => MARLINE_ERR_PASSIVE_OPEN_IN_PROGRESS,
            Error::InvalidState => MARLINE_ERR_INVALID_STATE,
            Error::Terminated => MARLINE_ERR_TERMINATED,
            Error::ConnectionClosing => MARLINE_ERR_CONNECTION_CLOSING,
            Error::StreamBusy => MARLINE_ERR_STREAM_BUSY,
        }
    }
}

/// A static, NUL-terminated description of a marline_status_t value
/// (never NULL; unknown numbers give "unknown status").
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

/// The errno of the last failing operating-system call made by marline on
/// this thread (after MARLINE_ERR_OS and the address errors), or 0.
#[no_mangle]
pub extern "C" fn marline_last_os_error() -> i32 {
    crate::error::last_os_error()
}

/// marline's version as a static string, e.g. "0.1.0".
#[no_mangle]
pub extern "C" fn marline_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

/// Panics inside marline's panic boundary and returns MARLINE_ERR_PANIC.
/// Exists so tests can prove that a panic never unwinds into C.
#[no_mangle]
pub extern "C" fn marline_debug_panic() -> marline_status_t {
    super::guard(|| panic!("marline_debug_panic was called"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_a_message_matching_its_display() {
        let all = [
            Error::NullPointer, Error::InvalidArgument, Error::StaleHandle, Error::WrongHandleType,
            Error::WrongThread, Error::Reentrant, Error::Panic, Error::Closed,
            Error::ProducerAlreadyRegistered, Error::NoProducer, Error::NotSupported, Error::NotActive,
            Error::Os, Error::BufferTooSmall, Error::TimedOut, Error::AddressInUse, Error::BadAddress,
            Error::PermissionDenied, Error::NotConnected, Error::Refused, Error::ConnectionReset,
            Error::ProcessExitedAlready, Error::NoSuchChildFd, Error::BadExecutable,
            Error::BadWorkingDirectory, Error::UnknownSignal, Error::BadChildFdMap, Error::AlreadyEnabled,
            Error::AlreadyDisabled, Error::AlreadyNegotiating, Error::PassiveOpenInProgress,
            Error::InvalidState, Error::Terminated, Error::ConnectionClosing, Error::StreamBusy,
            Error::Exhausted, Error::NoMemory,
        ];
        for e in all {
            let status: marline_status_t = e.into();
            // SAFETY: marline_strerror returns a static NUL-terminated string.
            let text = unsafe { std::ffi::CStr::from_ptr(marline_strerror(status as i32)) };
            assert_eq!(text.to_str().unwrap(), e.to_string(), "{e:?}");
        }
    }
}
