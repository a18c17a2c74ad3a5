//! reactor_t: creating, running, stopping and freeing the loop, and calls
//! from other threads.

use std::ffi::c_void;
use std::time::Duration;

use super::handle::{adopt, disown, reactor_handle, reactor_t};
use super::status::marline_status_t;
use super::{decode_reactor, guard, non_null, put, reactor_of, seconds};
use crate::error::Error;
use crate::reactor::{lookup_reactor, Reactor};

/// A callback that receives its reactor and a user pointer.
pub type marline_reactor_cb = Option<unsafe extern "C" fn(reactor: *mut reactor_t, user: *mut c_void)>;

/// Creates a reactor owned by the calling thread and writes it to `*out`.
/// Only that thread may use it, except reactor_stop and
/// reactor_call_from_thread. SIGPIPE is set to ignored if it still has its
/// default action (so a write to a dead pipe cannot kill the program).
/// MARLINE_ERR_EXHAUSTED when 4,096 reactors are live (see "Opaque handles" in
/// the README).
///
/// A reactor its thread never frees is torn down when that thread ends
/// (for the main thread: when main returns or exit is called), without
/// calling back: its connections, listening ports and pipes are closed,
/// pending delayed calls are dropped, and child processes are neither
/// signalled nor reaped (a child on a pty gets the hang-up of its
/// terminal closing). No connection_lost, process_ended or completion is
/// delivered then, since the pointers they would get may be gone. Call
/// reactor_free to have them.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn reactor_new(out: *mut *mut reactor_t) -> marline_status_t {
    guard(|| {
        non_null(out)?;
        let r = Reactor::new()?;
        // SAFETY: checked non-NULL.
        unsafe { put(out, adopt(r)) };
        Ok(())
    })
}

/// Frees the reactor. Every open connection is closed and its
/// connection_lost (reason MARLINE_REASON_SHUTDOWN) or connection_failed is
/// delivered before this returns; pending delayed calls are dropped without
/// running. Not allowed from inside one of its own callbacks
/// (MARLINE_ERR_REENTRANT). The handle is stale afterwards.
#[no_mangle]
pub extern "C" fn reactor_free(reactor: *mut reactor_t) -> marline_status_t {
    guard(|| {
        let r = reactor_of(reactor)?;
        if r.core.is_running() || r.core.shutting_down() {
            return Err(Error::Reentrant);
        }
        // Close while the reactor is still this thread's: the final callbacks
        // may call anything on their handles (a write gets CLOSED, an address
        // query works), not WRONG_THREAD as for a reactor already disowned.
        r.core.shutdown();
        let owner = disown(r.core.serial).ok_or(Error::StaleHandle)?;
        drop(r);
        drop(owner);
        Ok(())
    })
}

/// Runs the loop until reactor_stop. Returns MARLINE_ERR_REENTRANT if the
/// loop is already running (called from a callback).
#[no_mangle]
pub extern "C" fn reactor_run(reactor: *mut reactor_t) -> marline_status_t {
    guard(|| reactor_of(reactor)?.run())
}

/// Runs one turn of the loop: waits up to `timeout_seconds` for something to
/// happen (0: just poll; negative or +infinity: wait without limit; NaN:
/// MARLINE_ERR_INVALID_ARGUMENT), then handles what is ready, due timers
/// and deferred callbacks.
#[no_mangle]
pub extern "C" fn reactor_run_once(reactor: *mut reactor_t, timeout_seconds: f64) -> marline_status_t {
    guard(|| {
        let timeout = seconds(timeout_seconds)?.wait();
        reactor_of(reactor)?.run_once(timeout)
    })
}

/// Makes reactor_run return at its next turn (a stop requested while the
/// loop is not running makes the next reactor_run return at once).
/// Thread-safe.
#[no_mangle]
pub extern "C" fn reactor_stop(reactor: *mut reactor_t) -> marline_status_t {
    guard(|| {
        let stopper = lookup_reactor(decode_reactor(reactor)?).ok_or(Error::StaleHandle)?;
        stopper.stop();
        Ok(())
    })
}

struct SendPtr(*mut c_void);
// SAFETY: the pointer is only handed back to the user's callback on the
// reactor thread; marline never dereferences it.
unsafe impl Send for SendPtr {}

/// Queues `callback(reactor, user)` to run on the reactor's thread at its
/// next turn, and wakes the loop. Thread-safe. On error the callback is
/// never called.
#[no_mangle]
pub extern "C" fn reactor_call_from_thread(
    reactor: *mut reactor_t,
    callback: marline_reactor_cb,
    user: *mut c_void,
) -> marline_status_t {
    guard(|| {
        let f = callback.ok_or(Error::NullPointer)?;
        let stopper = lookup_reactor(decode_reactor(reactor)?).ok_or(Error::StaleHandle)?;
        let user = SendPtr(user);
        stopper.call_from_thread(move |r| {
            let user = user;
            // SAFETY: the user's callback, on the reactor thread.
            unsafe { f(reactor_handle(&r.core), user.0) }
        })
    })
}

/// Writes the loop's epoll descriptor to `*fd`. When it polls readable,
/// reactor_run_once(reactor, 0) has work; see reactor_next_timeout for how
/// long a foreign loop may sleep.
///
/// # Safety
/// `fd` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn reactor_backend_fd(reactor: *mut reactor_t, fd: *mut i32) -> marline_status_t {
    guard(|| {
        non_null(fd)?;
        let r = reactor_of(reactor)?;
        // SAFETY: checked non-NULL.
        unsafe { put(fd, r.backend_fd()) };
        Ok(())
    })
}

/// Writes to `*seconds_out` how long a foreign loop may wait before calling
/// reactor_run_once (a delayed call is due then), or -1 when nothing is
/// scheduled.
///
/// # Safety
/// `seconds_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn reactor_next_timeout(reactor: *mut reactor_t, seconds_out: *mut f64) -> marline_status_t {
    guard(|| {
        non_null(seconds_out)?;
        let r = reactor_of(reactor)?;
        let t = r.next_timeout().map_or(-1.0, |d: Duration| d.as_secs_f64());
        // SAFETY: checked non-NULL.
        unsafe { put(seconds_out, t) };
        Ok(())
    })
}
