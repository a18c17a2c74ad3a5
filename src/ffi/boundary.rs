//! The panic boundary every extern function runs inside: errors become
//! status codes, a panic becomes MARLINE_ERR_PANIC instead of unwinding
//! into C, and its message goes to the log callback, not to stderr.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use super::status::{marline_status_t, CError, CResult};
use crate::log::{emit, Level};

thread_local! {
    /// How many marline calls are running on this thread (callbacks may
    /// call in again).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

static HOOK: Once = Once::new();

/// Installs, once per process, a panic hook that sends the message of a
/// panic raised while a marline call runs on its thread to the log
/// callback (MARLINE_LOG_ERROR), and hands every other panic to the hook
/// that was installed before it.
fn install_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if DEPTH.try_with(Cell::get).unwrap_or(0) > 0 {
                emit(Level::Error, &format!("marline caught a panic: {info}"));
            } else {
                previous(info);
            }
        }));
    });
}

/// Counts one running marline call for as long as it lives.
struct Inside;

impl Inside {
    fn enter() -> Inside {
        install_hook();
        DEPTH.with(|d| d.set(d.get() + 1));
        Inside
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get() - 1));
    }
}

fn catch<T>(f: impl FnOnce() -> CResult<T>) -> std::thread::Result<CResult<T>> {
    let _inside = Inside::enter();
    catch_unwind(AssertUnwindSafe(f))
}

/// Runs an extern body: an error becomes its status code (its errno is
/// recorded for marline_last_os_error) and a panic becomes
/// `MARLINE_ERR_PANIC` instead of unwinding into C.
pub(crate) fn guard(f: impl FnOnce() -> CResult<()>) -> marline_status_t {
    match catch(f) {
        Ok(Ok(())) => marline_status_t::MARLINE_OK,
        Ok(Err(e)) => e.report(),
        Err(_) => CError::from(marline_status_t::MARLINE_ERR_PANIC).report(),
    }
}

/// Like [`guard`] for functions that return a plain value: `fallback` on
/// error or panic.
pub(crate) fn guard_value<T>(fallback: T, f: impl FnOnce() -> CResult<T>) -> T {
    match catch(f) {
        Ok(Ok(v)) => v,
        _ => fallback,
    }
}
