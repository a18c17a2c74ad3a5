//! The C ABI: thin `extern "C"` functions, one file per C object.
//!
//! Handles given to C are not pointers to memory: each encodes the object
//! kind, the owning reactor's registry slot and a generation-checked table
//! handle, so a closed or freed handle is detected, never dereferenced
//! (layout and limits in `handle.rs`).

#![allow(non_camel_case_types)] // C names: reactor_t, transport_t, …

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

use std::ffi::{c_char, CStr};
use std::time::Duration;

use crate::error::{Error, Result};

/// A C string argument as `&str`: NULL → `NullPointer`, bad UTF-8 →
/// `InvalidArgument`.
///
/// # Safety
/// `s` is NULL or points to a NUL-terminated string valid for the call.
pub(crate) unsafe fn c_str<'a>(s: *const c_char) -> Result<&'a str> {
    if s.is_null() {
        return Err(Error::NullPointer);
    }
    // SAFETY: the caller guarantees a NUL-terminated string.
    unsafe { CStr::from_ptr(s) }.to_str().map_err(|_| Error::InvalidArgument)
}

/// A (pointer, length) pair as a slice: NULL with a non-zero length →
/// `NullPointer`; NULL with length 0 is the empty slice.
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes valid for the call.
pub(crate) unsafe fn c_bytes<'a>(data: *const u8, len: usize) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(Error::NullPointer);
    }
    // SAFETY: non-NULL and the caller guarantees `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// The most elements an array argument may have: transport_write_sequence's
/// buffers, telnet_send_environment's variables. A larger count fails with
/// MARLINE_ERR_INVALID_ARGUMENT before the array is read (as writev(2)
/// refuses more than IOV_MAX, also 1024 on Linux).
pub const MARLINE_IOV_MAX: usize = 1024;

/// `count` elements at `p` as a slice: NULL with a non-zero count →
/// `NullPointer`, a count above [`MARLINE_IOV_MAX`] → `InvalidArgument`,
/// both before anything is read.
///
/// # Safety
/// `p` is NULL or points to `count` readable elements valid for the call.
pub(crate) unsafe fn c_array<'a, T>(p: *const T, count: usize) -> Result<&'a [T]> {
    if count > MARLINE_IOV_MAX {
        return Err(Error::InvalidArgument);
    }
    if count == 0 {
        return Ok(&[]);
    }
    non_null(p)?;
    // SAFETY: non-NULL, and the caller guarantees `count` readable elements.
    Ok(unsafe { std::slice::from_raw_parts(p, count) })
}

/// An empty vector with room for `n` elements (a number the caller gave):
/// `NoMemory` instead of aborting when that cannot be allocated.
pub(crate) fn vec_for<T>(n: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Error::NoMemory)?;
    Ok(v)
}

/// Writes `value` through `out` (checked for NULL first by the caller).
///
/// # Safety
/// `out` is non-NULL and writable.
pub(crate) unsafe fn put<T>(out: *mut T, value: T) {
    // SAFETY: the caller checked `out` and guarantees it is writable.
    unsafe { out.write(value) }
}

/// Fails with `NullPointer` when `p` is NULL.
pub(crate) fn non_null<T>(p: *const T) -> Result<()> {
    if p.is_null() {
        Err(Error::NullPointer)
    } else {
        Ok(())
    }
}

/// A port number from C: 0..=65535, else `InvalidArgument`.
pub(crate) fn port_number(port: i32) -> Result<u16> {
    u16::try_from(port).map_err(|_| Error::InvalidArgument)
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

/// Sorts `s` (see [`Seconds`]).
pub(crate) fn seconds(s: f64) -> Result<Seconds> {
    if s.is_nan() {
        return Err(Error::InvalidArgument);
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
    pub(crate) fn delay(self) -> Result<Duration> {
        match self {
            Seconds::Zero => Ok(Duration::ZERO),
            Seconds::Positive(d) => Ok(d),
            Seconds::Negative | Seconds::Infinite => Err(Error::InvalidArgument),
        }
    }

    /// A delay that may be +infinity, meaning never (`None`); a negative
    /// one is `InvalidArgument`.
    pub(crate) fn delay_or_never(self) -> Result<Option<Duration>> {
        match self {
            Seconds::Infinite => Ok(None),
            other => other.delay().map(Some),
        }
    }

    /// A time limit, MacTCP's way: 0 is no limit; a negative or infinite
    /// one is `InvalidArgument`.
    pub(crate) fn limit(self) -> Result<Option<Duration>> {
        match self {
            Seconds::Zero => Ok(None),
            Seconds::Positive(d) => Ok(Some(d)),
            Seconds::Negative | Seconds::Infinite => Err(Error::InvalidArgument),
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
        assert_eq!(seconds(f64::NAN), Err(Error::InvalidArgument));
        assert_eq!(seconds(-f64::NAN), Err(Error::InvalidArgument));
    }
}
