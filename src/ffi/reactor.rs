//! reactor_t: creating, running, stopping and freeing the loop, and calls
//! from other threads.

use std::ffi::c_void;
use std::time::Duration;

use super::handle::{adopt, disown, reactor_handle, reactor_t};
use super::status::marline_status_t::{self, *};
use super::{decode_reactor, guard, reactor_of, seconds, with_out};
use crate::reactor::{lookup_reactor, Reactor};

/// A callback that receives its reactor and a user pointer.
pub type marline_reactor_cb = Option<unsafe extern "C" fn(reactor: *mut reactor_t, user: *mut c_void)>;

/// Creates a reactor owned by the calling thread and writes it to `*out`. Only
/// that thread may use it, except reactor_stop and reactor_call_from_thread.
/// SIGPIPE is set to ignored if it still has its default action (so a write to
/// a dead pipe cannot kill the program).
///
/// A reactor its thread never frees is torn down when that thread ends (for the
/// main thread: when main returns or exit is called), without calling back: its
/// connections, listening ports and pipes are closed, pending delayed calls are
/// dropped, and child processes are neither signalled nor reaped (a child on a
/// pty gets the hang-up of its terminal closing). No connection_lost,
/// process_ended or completion is delivered then, since the pointers they would
/// get may be gone. Call reactor_free to have them.
///
/// Errors: MARLINE_ERR_EXHAUSTED (4,096 reactors are live; see "Opaque handles"
/// in the README), MARLINE_ERR_OS (no epoll or eventfd: marline_last_os_error),
/// MARLINE_ERR_NULL_POINTER. `out` must not be NULL.
///
/// # Safety
/// `out` points to a writable `reactor_t *`.
#[no_mangle]
pub unsafe extern "C" fn reactor_new(out: *mut *mut reactor_t) -> marline_status_t {
    // SAFETY: forwarded contract.
    unsafe { with_out(out, || Ok(adopt(Reactor::new()?))) }
}

/// Frees the reactor. Every open connection is closed and its connection_lost
/// (reason MARLINE_REASON_SHUTDOWN) or connection_failed is delivered before
/// this returns; pending delayed calls are dropped without running. The handle,
/// and every handle of the reactor's objects, is stale afterwards.
///
/// Errors: MARLINE_ERR_REENTRANT (from inside one of its own callbacks), and
/// the handle errors. `reactor` must not be NULL.
#[no_mangle]
pub extern "C" fn reactor_free(reactor: *mut reactor_t) -> marline_status_t {
    guard(|| {
        let r = reactor_of(reactor)?;
        if r.core.is_running() || r.core.shutting_down() {
            return Err(MARLINE_ERR_REENTRANT.into());
        }
        // Close while the reactor is still this thread's: the final callbacks
        // may call anything on their handles (a write gets CLOSED, an address
        // query works), not WRONG_THREAD as for a reactor already disowned.
        r.core.shutdown();
        let owner = disown(r.core.serial).ok_or(MARLINE_ERR_STALE_HANDLE)?;
        drop(r);
        drop(owner);
        Ok(())
    })
}

/// Runs the loop until reactor_stop is called (from a callback or another
/// thread), then returns MARLINE_OK.
///
/// Errors: MARLINE_ERR_REENTRANT (the loop is already running: called from one
/// of its callbacks), MARLINE_ERR_OS (epoll failed: marline_last_os_error), and
/// the handle errors. `reactor` must not be NULL.
#[no_mangle]
pub extern "C" fn reactor_run(reactor: *mut reactor_t) -> marline_status_t {
    guard(|| Ok(reactor_of(reactor)?.run()?))
}

/// Runs one turn of the loop: waits up to `timeout_seconds` for something to
/// happen (0: just poll; negative or +infinity: wait without limit), then
/// handles what is ready, due timers and deferred callbacks.
///
/// Errors: MARLINE_ERR_INVALID_ARGUMENT (NaN), MARLINE_ERR_REENTRANT (called
/// from one of its callbacks), MARLINE_ERR_OS (epoll failed:
/// marline_last_os_error), and the handle errors. `reactor` must not be NULL.
#[no_mangle]
pub extern "C" fn reactor_run_once(reactor: *mut reactor_t, timeout_seconds: f64) -> marline_status_t {
    guard(|| {
        let timeout = seconds(timeout_seconds)?.wait();
        Ok(reactor_of(reactor)?.run_once(timeout)?)
    })
}

/// Makes reactor_run return at its next turn (a stop requested while the loop
/// is not running makes the next reactor_run return at once). Thread-safe: any
/// thread may call it.
///
/// Errors: MARLINE_ERR_STALE_HANDLE (the reactor is freed),
/// MARLINE_ERR_NULL_POINTER, MARLINE_ERR_WRONG_HANDLE_TYPE; never
/// MARLINE_ERR_WRONG_THREAD. `reactor` must not be NULL.
#[no_mangle]
pub extern "C" fn reactor_stop(reactor: *mut reactor_t) -> marline_status_t {
    guard(|| {
        let stopper = lookup_reactor(decode_reactor(reactor)?).ok_or(MARLINE_ERR_STALE_HANDLE)?;
        stopper.stop();
        Ok(())
    })
}

struct SendPtr(*mut c_void);
// SAFETY: the pointer is only handed back to the user's callback on the
// reactor thread; marline never dereferences it.
unsafe impl Send for SendPtr {}

/// Queues `callback(reactor, user)` to run on the reactor's thread at its next
/// turn, and wakes the loop. Thread-safe: any thread may call it. On error the
/// callback is never called; after success it is called once, unless the
/// reactor is freed first.
///
/// Errors: MARLINE_ERR_NULL_POINTER (`reactor` or `callback` NULL),
/// MARLINE_ERR_STALE_HANDLE (the reactor is freed),
/// MARLINE_ERR_WRONG_HANDLE_TYPE; never MARLINE_ERR_WRONG_THREAD. `reactor` and
/// `callback` must not be NULL; `user` may be NULL (it is only passed back).
#[no_mangle]
pub extern "C" fn reactor_call_from_thread(
    reactor: *mut reactor_t,
    callback: marline_reactor_cb,
    user: *mut c_void,
) -> marline_status_t {
    guard(|| {
        let f = callback.ok_or(MARLINE_ERR_NULL_POINTER)?;
        let stopper = lookup_reactor(decode_reactor(reactor)?).ok_or(MARLINE_ERR_STALE_HANDLE)?;
        let user = SendPtr(user);
        stopper.call_from_thread(move |r| {
            let user = user;
            // SAFETY: the user's callback, on the reactor thread.
            unsafe { f(reactor_handle(&r.core), user.0) }
        })?;
        Ok(())
    })
}

/// Writes the loop's epoll descriptor to `*fd`, for embedding the reactor in
/// another event loop. When it polls readable, reactor_run_once(reactor, 0) has
/// work; see reactor_next_timeout for how long a foreign loop may sleep. The
/// descriptor stays the reactor's: do not close it.
///
/// Errors: only the handle errors (MARLINE_ERR_STALE_HANDLE once the reactor is
/// freed). `reactor` and `fd` must not be NULL.
///
/// # Safety
/// `fd` points to a writable `int32_t`.
#[no_mangle]
pub unsafe extern "C" fn reactor_backend_fd(reactor: *mut reactor_t, fd: *mut i32) -> marline_status_t {
    // SAFETY: forwarded contract.
    unsafe { with_out(fd, || Ok(reactor_of(reactor)?.backend_fd())) }
}

/// Writes to `*seconds_out` how long a foreign loop may wait before calling
/// reactor_run_once (a delayed call is due then; 0 when work is already
/// waiting), or -1 when nothing is scheduled.
///
/// Errors: only the handle errors (MARLINE_ERR_STALE_HANDLE once the reactor is
/// freed). `reactor` and `seconds_out` must not be NULL.
///
/// # Safety
/// `seconds_out` points to a writable `double`.
#[no_mangle]
pub unsafe extern "C" fn reactor_next_timeout(reactor: *mut reactor_t, seconds_out: *mut f64) -> marline_status_t {
    // SAFETY: forwarded contract.
    unsafe { with_out(seconds_out, || Ok(reactor_of(reactor)?.next_timeout().map_or(-1.0, |d: Duration| d.as_secs_f64()))) }
}
