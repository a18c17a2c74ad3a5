//! delayed_call_t: reactor_call_later and what can be done with its result.

use std::ffi::c_void;

use super::handle::{encode, object_of, reactor_handle, reactor_t, Kind};
use super::reactor::marline_reactor_cb;
use super::status::marline_status_t;
use super::{guard, guard_value, reactor_of, seconds, with_out, CResult, Out};
use crate::reactor::{DelayedCall, Reactor, TimerCallback};

/// A scheduled call. Active until it runs or is cancelled; after that the
/// calls below fail with MARLINE_ERR_NOT_ACTIVE (delayed_call_active gives
/// false). Nothing to free.
///
/// Methods: delayed_call_cancel, delayed_call_reset, delayed_call_delay,
/// delayed_call_active.
pub struct delayed_call_t {
    _private: [u8; 0],
}

/// Schedules `callback(reactor, user)` to run once, `seconds_from_now` seconds
/// from now (0: in the next loop turn). Calls due at the same time run in the
/// order scheduled. The call's handle is written to `*out` unless `out` is
/// NULL. On error the callback is never called.
///
/// Errors: MARLINE_ERR_INVALID_ARGUMENT (a negative, infinite or NaN delay, or
/// one ending more than about 584 years after reactor_new),
/// MARLINE_ERR_EXHAUSTED (2^20 calls pending at once; see "Opaque handles" in
/// the README), MARLINE_ERR_REENTRANT (from a final callback during
/// reactor_free), MARLINE_ERR_NULL_POINTER (`callback` NULL), and the handle
/// errors. `reactor` and `callback` must not be NULL; `out` may be NULL (the
/// handle is then not wanted); `user` may be NULL (it is only passed back).
///
/// # Safety
/// `out`, when not NULL, points to a writable `delayed_call_t *`.
#[no_mangle]
pub unsafe extern "C" fn reactor_call_later(
    reactor: *mut reactor_t,
    seconds_from_now: f64,
    callback: marline_reactor_cb,
    user: *mut c_void,
    out: *mut *mut delayed_call_t,
) -> marline_status_t {
    guard(|| {
        let f = callback.ok_or(marline_status_t::MARLINE_ERR_NULL_POINTER)?;
        let delay = seconds(seconds_from_now)?.delay()?;
        let r = reactor_of(reactor)?;
        let h = r.schedule(delay, TimerCallback::C(CCall { f, user }))?;
        // SAFETY: forwarded contract.
        if let Some(out) = unsafe { Out::optional(out) } {
            out.write(encode(r.core.serial, Kind::DelayedCall, h));
        }
        Ok(())
    })
}

/// A C delayed call as the timer heap stores it: unboxed.
pub(crate) struct CCall {
    f: unsafe extern "C" fn(*mut reactor_t, *mut c_void),
    user: *mut c_void,
}

impl CCall {
    pub(crate) fn run(self, r: &Reactor) {
        // SAFETY: the user's callback, on the reactor thread.
        unsafe { (self.f)(reactor_handle(&r.core), self.user) }
    }
}

fn call_of(call: *mut delayed_call_t) -> CResult<DelayedCall> {
    let (core, h) = object_of(call, Kind::DelayedCall)?;
    Ok(DelayedCall::new(&core, h))
}

/// Cancels the call: its callback will not run, and the handle is no longer
/// active.
///
/// Errors: MARLINE_ERR_NOT_ACTIVE (it has run, was cancelled, or its reactor is
/// gone), MARLINE_ERR_NULL_POINTER, MARLINE_ERR_WRONG_HANDLE_TYPE,
/// MARLINE_ERR_WRONG_THREAD. `call` must not be NULL.
#[no_mangle]
pub extern "C" fn delayed_call_cancel(call: *mut delayed_call_t) -> marline_status_t {
    guard(|| Ok(call_of(call)?.cancel()?))
}

/// Re-schedules the call `seconds_from_now` seconds from now, a delay as for
/// reactor_call_later. On error the call keeps its time.
///
/// Errors: MARLINE_ERR_INVALID_ARGUMENT (a negative, infinite or NaN delay),
/// MARLINE_ERR_NOT_ACTIVE (it has run or was cancelled),
/// MARLINE_ERR_NULL_POINTER, MARLINE_ERR_WRONG_HANDLE_TYPE,
/// MARLINE_ERR_WRONG_THREAD. `call` must not be NULL.
#[no_mangle]
pub extern "C" fn delayed_call_reset(call: *mut delayed_call_t, seconds_from_now: f64) -> marline_status_t {
    guard(|| Ok(call_of(call)?.reset(seconds(seconds_from_now)?.delay()?)?))
}

/// Pushes the call back by `by_seconds` from the time it is due, a delay as for
/// reactor_call_later. On error the call keeps its time.
///
/// Errors: MARLINE_ERR_INVALID_ARGUMENT (a negative, infinite or NaN delay),
/// MARLINE_ERR_NOT_ACTIVE (it has run or was cancelled),
/// MARLINE_ERR_NULL_POINTER, MARLINE_ERR_WRONG_HANDLE_TYPE,
/// MARLINE_ERR_WRONG_THREAD. `call` must not be NULL.
#[no_mangle]
pub extern "C" fn delayed_call_delay(call: *mut delayed_call_t, by_seconds: f64) -> marline_status_t {
    guard(|| Ok(call_of(call)?.delay(seconds(by_seconds)?.delay()?)?))
}

/// True while the call has neither run nor been cancelled; false after that,
/// and for a NULL, foreign or otherwise invalid handle. Never fails. `call` may
/// be NULL (false).
#[no_mangle]
pub extern "C" fn delayed_call_active(call: *mut delayed_call_t) -> bool {
    guard_value(false, || Ok(call_of(call)?.active()))
}

/// Writes the seconds left before the call runs to `*seconds_left` (0 once it
/// is due).
///
/// Errors: MARLINE_ERR_NOT_ACTIVE (it has run or was cancelled),
/// MARLINE_ERR_NULL_POINTER, MARLINE_ERR_WRONG_HANDLE_TYPE,
/// MARLINE_ERR_WRONG_THREAD. `call` and `seconds_left` must not be NULL.
///
/// # Safety
/// `seconds_left` points to a writable `double`.
#[no_mangle]
pub unsafe extern "C" fn delayed_call_get_time_left(call: *mut delayed_call_t, seconds_left: *mut f64) -> marline_status_t {
    // SAFETY: forwarded contract.
    unsafe { with_out(seconds_left, || Ok(call_of(call)?.time_left()?.as_secs_f64())) }
}
