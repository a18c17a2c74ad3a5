//! marline_set_log_callback: the library's warnings, delivered to the
//! embedding application.

use std::ffi::{c_char, c_void, CString};

use super::guard;
use super::status::marline_status_t::{self, *};
use crate::log::{self, Level};

/// Severity of a log message passed to a marline_log_cb (as an int). Numbers
/// are stable.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum marline_log_level_t {
    /// Detail useful when debugging marline itself.
    MARLINE_LOG_DEBUG = 0,
    /// Something worth knowing that needs no action.
    MARLINE_LOG_INFO = 1,
    /// Something went wrong and marline recovered (an accept failure, an
    /// oversized telnet subnegotiation that dropped its connection, a
    /// reaped child of unknown origin).
    MARLINE_LOG_WARN = 2,
    /// Something went wrong and marline could not recover.
    MARLINE_LOG_ERROR = 3,
}

/// Receives one log message: `level` is a marline_log_level_t, `message` a
/// NUL-terminated string valid for the call only, `user` the pointer given
/// to marline_set_log_callback. Runs on the thread that logged (a reactor
/// thread, from inside the loop); it must not call
/// marline_set_log_callback.
pub type marline_log_cb = Option<unsafe extern "C" fn(level: i32, message: *const c_char, user: *mut c_void)>;

/// Sets the log callback of the calling thread: messages from reactors run on
/// this thread go to `cb(level, message, user)`; other threads keep their own
/// callbacks (the setting is per thread, like a reactor). A NULL `cb` removes
/// the callback, and messages are dropped again (the default). Replacing a
/// callback takes effect at once. marline keeps nothing of `user` but the
/// pointer value.
///
/// Errors: MARLINE_ERR_REENTRANT (called from inside a log callback). `cb` may
/// be NULL (no callback); `user` may be NULL (it is only passed back).
#[no_mangle]
pub extern "C" fn marline_set_log_callback(cb: marline_log_cb, user: *mut c_void) -> marline_status_t {
    guard(|| {
        let sink: Option<log::LogSink> = cb.map(|f| {
            let user = user as usize;
            Box::new(move |level: Level, message: &str| {
                let level = match level {
                    Level::Debug => marline_log_level_t::MARLINE_LOG_DEBUG,
                    Level::Info => marline_log_level_t::MARLINE_LOG_INFO,
                    Level::Warn => marline_log_level_t::MARLINE_LOG_WARN,
                    Level::Error => marline_log_level_t::MARLINE_LOG_ERROR,
                };
                // A message never holds a NUL; if one did, cut it there.
                let text = CString::new(message.split('\0').next().unwrap_or("")).unwrap_or_default();
                // SAFETY: the user's callback, on the thread that set it; the
                // string outlives the call.
                unsafe { f(level as i32, text.as_ptr(), user as *mut c_void) }
            }) as log::LogSink
        });
        log::try_set_sink(sink).map_err(|_| MARLINE_ERR_REENTRANT.into())
    })
}
