//! The C ABI: thin `extern "C"` functions, one file per C object.
//!
//! Handles given to C are not pointers to memory: each encodes the object
//! kind, the owning reactor's registry slot and a generation-checked table
//! handle, so a closed or freed handle is detected, never dereferenced
//! (layout and limits in `handle.rs`).

#![allow(non_camel_case_types)] // C names: reactor_t, transport_t, …

/// Calls the C callback `entry` of a table (an `Option` of a function
/// pointer) with `args` if the caller set it, and gives what it returned
/// (`None` when the entry is NULL; the arguments are then not evaluated).
/// Every entry of a callback table, and every other nullable callback,
/// is called through here.
macro_rules! call_c {
    ($entry:expr, $($arg:expr),* $(,)?) => {
        match $entry {
            // SAFETY: a function the C caller registered for this event; each
            // argument is valid for the duration of the call, as documented
            // where the callback type is.
            Some(f) => Some(unsafe { f($($arg),*) }),
            None => None,
        }
    };
}

mod address;
mod boundary;
mod delayed_call;
mod handle;
mod log;
mod process;
mod producer;
mod protocol;
mod reactor;
mod reason;
mod sized;
mod status;
mod stream;
mod tcp;
mod telnet;
#[doc(hidden)]
pub mod testing;
mod transport;

pub use address::*;
pub use delayed_call::*;
pub use handle::{bridge_t, listening_port_t, reactor_t, transport_t};
pub use log::*;
pub use process::*;
pub use producer::*;
pub use protocol::*;
pub use reactor::*;
pub use reason::*;
pub use status::*;
pub use stream::*;
pub use tcp::*;
pub use telnet::*;
pub use transport::*;

pub(crate) use delayed_call::CCall;
pub(crate) use boundary::{guard, guard_value};
pub(crate) use handle::{decode_reactor, encode_transport, reactor_of, transport_of};
pub(crate) use status::CResult;

use std::ffi::{c_char, CStr};
use std::ptr::NonNull;
use std::time::Duration;

use marline_status_t::{MARLINE_ERR_INVALID_ARGUMENT, MARLINE_ERR_NO_MEMORY, MARLINE_ERR_NULL_POINTER};

/// A C string argument as `&str`: NULL → `MARLINE_ERR_NULL_POINTER`, bad
/// UTF-8 → `MARLINE_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// `s` is NULL or points to a NUL-terminated string valid for the call.
pub(crate) unsafe fn c_str<'a>(s: *const c_char) -> CResult<&'a str> {
    non_null(s)?;
    // SAFETY: the caller guarantees a NUL-terminated string.
    unsafe { CStr::from_ptr(s) }.to_str().map_err(|_| MARLINE_ERR_INVALID_ARGUMENT.into())
}

/// A (pointer, length) pair as a slice: NULL with a non-zero length →
/// `MARLINE_ERR_NULL_POINTER`; NULL with length 0 is the empty slice.
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes valid for the call.
pub(crate) unsafe fn c_bytes<'a>(data: *const u8, len: usize) -> CResult<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    non_null(data)?;
    // SAFETY: non-NULL and the caller guarantees `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// The most elements an array argument may have: transport_write_sequence's
/// buffers, telnet_send_environment's variables. A larger count fails with
/// MARLINE_ERR_INVALID_ARGUMENT before the array is read (as writev(2)
/// refuses more than IOV_MAX, also 1024 on Linux).
pub const MARLINE_IOV_MAX: usize = 1024;

/// `count` elements at `p` as a slice: NULL with a non-zero count →
/// `MARLINE_ERR_NULL_POINTER`, a count above [`MARLINE_IOV_MAX`] →
/// `MARLINE_ERR_INVALID_ARGUMENT`, both before anything is read.
///
/// # Safety
/// `p` is NULL or points to `count` readable elements valid for the call.
pub(crate) unsafe fn c_array<'a, T>(p: *const T, count: usize) -> CResult<&'a [T]> {
    if count > MARLINE_IOV_MAX {
        return Err(MARLINE_ERR_INVALID_ARGUMENT.into());
    }
    if count == 0 {
        return Ok(&[]);
    }
    non_null(p)?;
    // SAFETY: non-NULL, and the caller guarantees `count` readable elements.
    Ok(unsafe { std::slice::from_raw_parts(p, count) })
}

/// An empty vector with room for `n` elements (a number the caller gave):
/// `MARLINE_ERR_NO_MEMORY` instead of aborting when that cannot be
/// allocated.
pub(crate) fn vec_for<T>(n: usize) -> CResult<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| MARLINE_ERR_NO_MEMORY)?;
    Ok(v)
}

/// An out parameter: checked for NULL when made, written at most once,
/// and only on success (the caller's variable is left alone on failure).
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// `p` as a required out parameter: NULL → `MARLINE_ERR_NULL_POINTER`.
    ///
    /// # Safety
    /// `p` is NULL or writable for a `T` until the extern call returns.
    pub(crate) unsafe fn new(p: *mut T) -> CResult<Out<T>> {
        NonNull::new(p).map(Out).ok_or_else(|| MARLINE_ERR_NULL_POINTER.into())
    }

    /// `p` as an optional out parameter: NULL means the value is not wanted.
    ///
    /// # Safety
    /// As for [`Out::new`].
    pub(crate) unsafe fn optional(p: *mut T) -> Option<Out<T>> {
        NonNull::new(p).map(Out)
    }

    pub(crate) fn write(self, value: T) {
        // SAFETY: non-NULL, and writable per the contract of `new`.
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// An extern body with one out parameter: `out` is checked for NULL first,
/// then `f` runs, and what it returns is written through `out` only when
/// it succeeds.
///
/// # Safety
/// `out` is NULL or writable for a `T` until the call returns.
pub(crate) unsafe fn with_out<T>(out: *mut T, f: impl FnOnce() -> CResult<T>) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let out = unsafe { Out::new(out) }?;
        out.write(f()?);
        Ok(())
    })
}

/// Fails with `MARLINE_ERR_NULL_POINTER` when `p` is NULL.
pub(crate) fn non_null<T>(p: *const T) -> CResult<()> {
    if p.is_null() {
        Err(MARLINE_ERR_NULL_POINTER.into())
    } else {
        Ok(())
    }
}

/// A port number from C: 0..=65535, else `MARLINE_ERR_INVALID_ARGUMENT`.
pub(crate) fn port_number(port: i32) -> CResult<u16> {
    u16::try_from(port).map_err(|_| MARLINE_ERR_INVALID_ARGUMENT.into())
}

/// The host (or interface) and port arguments of a listen or connect call:
/// a string (see [`c_str`]) and a [`port_number`].
///
/// # Safety
/// As for [`c_str`].
pub(crate) unsafe fn endpoint<'a>(host: *const c_char, port: i32) -> CResult<(&'a str, u16)> {
    // SAFETY: forwarded contract.
    Ok((unsafe { c_str(host) }?, port_number(port)?))
}

/// A seconds argument from C, sorted by the rule every such argument
/// follows: NaN is always `InvalidArgument`; what the other classes mean
/// is each function's own (one of the methods below) and stated in its
/// doc comment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Seconds {
    /// Below 0, -infinity included.
    Negative,
    /// 0 (or -0).
    Zero,
    /// Above 0 and within a `Duration`.
    Positive(Duration),
    /// +infinity, or a finite value beyond a `Duration` (584 billion years).
    Infinite,
}

/// Sorts `s` (see [`Seconds`]). Inlined: on the path of every delayed call.
#[inline]
pub(crate) fn seconds(s: f64) -> CResult<Seconds> {
    if s.is_nan() {
        return Err(MARLINE_ERR_INVALID_ARGUMENT.into());
    }
    Ok(if s < 0.0 {
        Seconds::Negative
    } else if s == 0.0 {
        Seconds::Zero
    } else {
        Duration::try_from_secs_f64(s).map_or(Seconds::Infinite, Seconds::Positive)
    })
}

impl Seconds {
    /// A delay: 0 or more, finite; otherwise `InvalidArgument`.
    pub(crate) fn delay(self) -> CResult<Duration> {
        match self {
            Seconds::Zero => Ok(Duration::ZERO),
            Seconds::Positive(d) => Ok(d),
            Seconds::Negative | Seconds::Infinite => Err(MARLINE_ERR_INVALID_ARGUMENT.into()),
        }
    }

    /// A delay that may be +infinity, meaning never (`None`); a negative
    /// one is `InvalidArgument`.
    pub(crate) fn delay_or_never(self) -> CResult<Option<Duration>> {
        match self {
            Seconds::Infinite => Ok(None),
            other => other.delay().map(Some),
        }
    }

    /// A time limit, MacTCP's way: 0 is no limit; a negative or infinite
    /// one is `InvalidArgument`.
    pub(crate) fn limit(self) -> CResult<Option<Duration>> {
        match self {
            Seconds::Zero => Ok(None),
            Seconds::Positive(d) => Ok(Some(d)),
            Seconds::Negative | Seconds::Infinite => Err(MARLINE_ERR_INVALID_ARGUMENT.into()),
        }
    }

    /// A time limit where anything not above 0, and +infinity, is no limit.
    pub(crate) fn limit_if_positive(self) -> Option<Duration> {
        match self {
            Seconds::Positive(d) => Some(d),
            _ => None,
        }
    }

    /// How long to wait: 0 is not at all, a negative value and +infinity
    /// are without limit.
    pub(crate) fn wait(self) -> Option<Duration> {
        match self {
            Seconds::Zero => Some(Duration::ZERO),
            Seconds::Positive(d) => Some(d),
            Seconds::Negative | Seconds::Infinite => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seconds_value_falls_in_one_class() {
        use Seconds::*;
        let cases = [
            (-f64::INFINITY, Negative),
            (-1.0, Negative),
            (-f64::MIN_POSITIVE, Negative),
            (-0.0, Zero),
            (0.0, Zero),
            (1e-300, Positive(Duration::ZERO)),
            (1.5, Positive(Duration::from_millis(1500))),
            (1e30, Infinite),
            (f64::MAX, Infinite),
            (f64::INFINITY, Infinite),
        ];
        for (s, class) in cases {
            assert_eq!(seconds(s), Ok(class), "{s}");
        }
        assert_eq!(seconds(f64::NAN), Err(MARLINE_ERR_INVALID_ARGUMENT.into()));
        assert_eq!(seconds(-f64::NAN), Err(MARLINE_ERR_INVALID_ARGUMENT.into()));
    }
}
