//! Reasons handed to connection_lost, connection_failed and process
//! callbacks. A `marline_reason_t *` is valid only during the callback.

use std::ffi::c_char;

use super::with_out;
use super::status::marline_status_t::{self, *};
use crate::transport::{Reason, ReasonKind};

/// Why a connection or process ended. Valid for the duration of the
/// callback that receives it; copy what you need.
///
/// Methods: marline_reason_kind, marline_reason_errno,
/// marline_reason_message, marline_reason_exit_code,
/// marline_reason_signal, marline_reason_core_dumped,
/// marline_reason_wait_status.
pub struct marline_reason_t {
    _private: [u8; 0],
}

/// The kind of a reason. Numbers are stable.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum marline_reason_kind_t {
    /// The pointer was NULL.
    MARLINE_REASON_INVALID = -1,
    /// Clean close: everything written was delivered.
    MARLINE_REASON_DONE = 0,
    /// Reset by the peer or an I/O error (see marline_reason_errno).
    MARLINE_REASON_LOST = 1,
    /// This side aborted the connection.
    MARLINE_REASON_ABORTED = 2,
    /// The peer refused the connection.
    MARLINE_REASON_REFUSED = 3,
    /// A connect or negotiation timed out.
    MARLINE_REASON_TIMED_OUT = 4,
    /// No route to the host or network.
    MARLINE_REASON_UNREACHABLE = 5,
    /// The host name did not resolve.
    MARLINE_REASON_RESOLVE_FAILED = 6,
    /// The connection attempt was cancelled by this side.
    MARLINE_REASON_CANCELLED = 7,
    /// The reactor was freed while the connection was open.
    MARLINE_REASON_SHUTDOWN = 8,
    /// A process exited with a non-zero code or was killed by a signal.
    MARLINE_REASON_TERMINATED = 9,
    /// The peer broke the protocol (for example an oversized telnet
    /// subnegotiation).
    MARLINE_REASON_PROTOCOL_VIOLATION = 10,
    /// A process ended, but its exit status was taken by someone else:
    /// the host reaped it itself (waitpid on its pid, or waitpid(-1)) or
    /// ignores SIGCHLD, so the kernel discarded it. marline does not make
    /// one up: marline_reason_exit_code and marline_reason_signal fail,
    /// marline_reason_wait_status is -1.
    MARLINE_REASON_EXIT_STATUS_UNKNOWN = 11,
    /// A client connection could not be made for another reason than the
    /// ones above (for example a reset before the connect completed; see
    /// marline_reason_errno). Twisted's ConnectError.
    MARLINE_REASON_CONNECT_FAILED = 12,
}

impl From<ReasonKind> for marline_reason_kind_t {
    fn from(k: ReasonKind) -> Self {
        use marline_reason_kind_t::*;
        match k {
            ReasonKind::Done => MARLINE_REASON_DONE,
            ReasonKind::Lost => MARLINE_REASON_LOST,
            ReasonKind::Aborted => MARLINE_REASON_ABORTED,
            ReasonKind::Refused => MARLINE_REASON_REFUSED,
            ReasonKind::TimedOut => MARLINE_REASON_TIMED_OUT,
            ReasonKind::Unreachable => MARLINE_REASON_UNREACHABLE,
            ReasonKind::ResolveFailed => MARLINE_REASON_RESOLVE_FAILED,
            ReasonKind::Cancelled => MARLINE_REASON_CANCELLED,
            ReasonKind::Shutdown => MARLINE_REASON_SHUTDOWN,
            ReasonKind::Terminated => MARLINE_REASON_TERMINATED,
            ReasonKind::ProtocolViolation => MARLINE_REASON_PROTOCOL_VIOLATION,
            ReasonKind::ExitStatusUnknown => MARLINE_REASON_EXIT_STATUS_UNKNOWN,
            ReasonKind::ConnectFailed => MARLINE_REASON_CONNECT_FAILED,
        }
    }
}

/// The C view of a borrowed reason.
pub(crate) fn as_c(r: &Reason) -> *const marline_reason_t {
    r as *const Reason as *const marline_reason_t
}

/// # Safety
/// `r` is NULL or came from `as_c` during the current callback.
unsafe fn deref<'a>(r: *const marline_reason_t) -> Option<&'a Reason> {
    // SAFETY: per the contract, a non-NULL pointer is a live &Reason.
    unsafe { (r as *const Reason).as_ref() }
}

/// The kind of `reason`: why the connection or process ended (see
/// marline_reason_kind_t). Never fails. `reason` may be NULL:
/// MARLINE_REASON_INVALID.
///
/// # Safety
/// `reason`, when not NULL, is the pointer a callback received, during that
/// callback.
#[no_mangle]
pub unsafe extern "C" fn marline_reason_kind(reason: *const marline_reason_t) -> marline_reason_kind_t {
    // SAFETY: forwarded contract.
    unsafe { deref(reason) }.map_or(marline_reason_kind_t::MARLINE_REASON_INVALID, |r| r.kind().into())
}

/// The errno behind `reason` (a reset, an unreachable host, …), or 0 when there
/// is none. Never fails. `reason` may be NULL: 0.
///
/// # Safety
/// As for marline_reason_kind.
#[no_mangle]
pub unsafe extern "C" fn marline_reason_errno(reason: *const marline_reason_t) -> i32 {
    // SAFETY: forwarded contract.
    unsafe { deref(reason) }.map_or(0, |r| r.errno())
}

/// A printable, NUL-terminated message saying why, valid as long as the reason
/// (during the callback). Never fails. `reason` may be NULL: "".
///
/// # Safety
/// As for marline_reason_kind.
#[no_mangle]
pub unsafe extern "C" fn marline_reason_message(reason: *const marline_reason_t) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { deref(reason) }.map_or(c"".as_ptr(), |r| r.message_cstr().as_ptr())
}

/// Writes the exit code of the process that `reason` is about to `*code`.
///
/// Errors: MARLINE_ERR_INVALID_ARGUMENT (the process was killed by a signal,
/// its status is unknown, or the reason is not about a process),
/// MARLINE_ERR_NULL_POINTER. `reason` and `code` must not be NULL.
///
/// # Safety
/// As for marline_reason_kind; `code` points to a writable `int32_t`.
#[no_mangle]
pub unsafe extern "C" fn marline_reason_exit_code(reason: *const marline_reason_t, code: *mut i32) -> marline_status_t {
    // SAFETY: forwarded contract.
    unsafe {
        with_out(code, || {
            let r = deref(reason).ok_or(MARLINE_ERR_NULL_POINTER)?;
            Ok(r.exit().and_then(|e| e.code).ok_or(MARLINE_ERR_INVALID_ARGUMENT)?)
        })
    }
}

/// Writes the number of the signal that killed the process that `reason` is
/// about to `*signal`.
///
/// Errors: MARLINE_ERR_INVALID_ARGUMENT (the process exited normally, its
/// status is unknown, or the reason is not about a process),
/// MARLINE_ERR_NULL_POINTER. `reason` and `signal` must not be NULL.
///
/// # Safety
/// As for marline_reason_kind; `signal` points to a writable `int32_t`.
#[no_mangle]
pub unsafe extern "C" fn marline_reason_signal(reason: *const marline_reason_t, signal: *mut i32) -> marline_status_t {
    // SAFETY: forwarded contract.
    unsafe {
        with_out(signal, || {
            let r = deref(reason).ok_or(MARLINE_ERR_NULL_POINTER)?;
            Ok(r.exit().and_then(|e| e.signal).ok_or(MARLINE_ERR_INVALID_ARGUMENT)?)
        })
    }
}

/// True if the signal that killed the process left a core dump; false
/// otherwise, and for a reason not about a killed process. Never fails.
/// `reason` may be NULL: false.
///
/// # Safety
/// As for marline_reason_kind.
#[no_mangle]
pub unsafe extern "C" fn marline_reason_core_dumped(reason: *const marline_reason_t) -> bool {
    // SAFETY: forwarded contract.
    unsafe { deref(reason) }.and_then(|r| r.exit()).is_some_and(|e| e.core_dumped)
}

/// The raw wait status (as waitpid(2) gives it) of the process that `reason` is
/// about, or -1 (no process, or its status is unknown). Never fails. `reason`
/// may be NULL: -1.
///
/// # Safety
/// As for marline_reason_kind.
#[no_mangle]
pub unsafe extern "C" fn marline_reason_wait_status(reason: *const marline_reason_t) -> i32 {
    // SAFETY: forwarded contract.
    unsafe { deref(reason) }.and_then(|r| r.exit()).map_or(-1, |e| e.status)
}
