//! transport_t: the calls every transport answers.

use std::ffi::c_void;
use std::io::IoSlice;

use super::address::{give_address, marline_address_t};
use super::handle::transport_t;
use super::status::marline_status_t;
use super::{c_array, c_bytes, guard, non_null, put, transport_of, vec_for};
use crate::error::Error;

/// One buffer of a gather write.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct marline_iovec_t {
    /// The bytes (may be NULL only when len is 0).
    pub base: *const u8,
    /// Their number.
    pub len: usize,
}

/// Writes `len` bytes. Never blocks: what the kernel does not take at once
/// is copied into the write queue and sent in order. `len` 0 is a no-op.
/// Writes after transport_lose_connection or transport_lose_write_connection
/// are accepted and sent with the rest until the connection has actually
/// closed or its sending side has been shut down (both happen from the
/// loop; a registered producer is waited for); after that, and after an
/// abort, it fails with MARLINE_ERR_CLOSED. A byte is never dropped
/// silently. The caller keeps ownership of `data`.
///
/// # Safety
/// `data` is NULL (only with len 0) or has `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn transport_write(t: *mut transport_t, data: *const u8, len: usize) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let bytes = unsafe { c_bytes(data, len) }?;
        transport_of(t)?.write(bytes)
    })
}

/// Writes `count` buffers as one gather write, without first copying them
/// into one buffer; only what the kernel does not take is copied. Every
/// element is checked before any byte is sent. A `count` above
/// MARLINE_IOV_MAX fails with MARLINE_ERR_INVALID_ARGUMENT before `iov` is
/// read; an element with NULL `base` and a non-zero `len` with
/// MARLINE_ERR_NULL_POINTER. Otherwise as transport_write.
///
/// # Safety
/// `iov` is NULL (only with count 0) or has `count` readable elements, each
/// pointing to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn transport_write_sequence(
    t: *mut transport_t,
    iov: *const marline_iovec_t,
    count: usize,
) -> marline_status_t {
    guard(|| {
        let tr = transport_of(t)?;
        // SAFETY: forwarded contract.
        let elems = unsafe { c_array(iov, count) }?;
        if elems.is_empty() {
            return tr.write(&[]);
        }
        let mut slices = vec_for(count)?;
        for e in elems {
            // SAFETY: each element's contract as for transport_write.
            slices.push(IoSlice::new(unsafe { c_bytes(e.base, e.len) }?));
        }
        tr.write_sequence(&slices)
    })
}

/// Sends `data` as TCP urgent (out-of-band) data, after everything written
/// before it; the urgent pointer marks its last byte. TCP only.
///
/// # Safety
/// As for transport_write.
#[no_mangle]
pub unsafe extern "C" fn transport_write_urgent(t: *mut transport_t, data: *const u8, len: usize) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let bytes = unsafe { c_bytes(data, len) }?;
        transport_of(t)?.write_urgent(bytes)
    })
}

/// Stops delivering data, flushes the queue, then closes from the loop;
/// connection_lost follows with MARLINE_REASON_DONE. While a producer is
/// registered the close waits for it to unregister, and its writes are still
/// sent (ITransport). The peer going away ends the wait: a reset, or (for a
/// protocol without half-close) its end of stream; the producer then gets
/// stop_producing before connection_lost. Calling it again is harmless. For
/// a client still connecting, cancels the attempt (connection_failed with
/// MARLINE_REASON_CANCELLED).
#[no_mangle]
pub extern "C" fn transport_lose_connection(t: *mut transport_t) -> marline_status_t {
    guard(|| transport_of(t)?.lose_connection())
}

/// Half-close: shuts down our sending side from the loop, once the queue has
/// drained and no producer is registered. Half-close protocols then get
/// write_connection_lost, always before connection_lost (also when the
/// peer half-closes in the same turn); reading goes on until the peer
/// closes too.
#[no_mangle]
pub extern "C" fn transport_lose_write_connection(t: *mut transport_t) -> marline_status_t {
    guard(|| transport_of(t)?.lose_write_connection())
}

/// Discards the queue, stops any producer, resets the connection (RST) and
/// delivers connection_lost with MARLINE_REASON_ABORTED on the next loop
/// turn. Aborting twice, or aborting then losing, gives one
/// connection_lost.
#[no_mangle]
pub extern "C" fn transport_abort_connection(t: *mut transport_t) -> marline_status_t {
    guard(|| transport_of(t)?.abort_connection())
}

/// Writes the local address to `*out` (free it with marline_address_free).
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn transport_get_host(t: *mut transport_t, out: *mut *mut marline_address_t) -> marline_status_t {
    give_address(out, || transport_of(t)?.host())
}

/// Writes the remote address to `*out` (free it with marline_address_free).
/// A process transport gives a MARLINE_FAMILY_PROCESS address.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn transport_get_peer(t: *mut transport_t, out: *mut *mut marline_address_t) -> marline_status_t {
    give_address(out, || transport_of(t)?.peer())
}

/// Writes the transport's user pointer to `*user`.
///
/// # Safety
/// `user` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn transport_get_user(t: *mut transport_t, user: *mut *mut c_void) -> marline_status_t {
    guard(|| {
        non_null(user)?;
        let u = transport_of(t)?.user_data()?;
        // SAFETY: checked non-NULL.
        unsafe { put(user, u as *mut c_void) };
        Ok(())
    })
}

/// Sets the pointer passed to this transport's callbacks from now on.
#[no_mangle]
pub extern "C" fn transport_set_user(t: *mut transport_t, user: *mut c_void) -> marline_status_t {
    guard(|| transport_of(t)?.set_user_data(user as usize))
}

/// Writes to `*bytes` how much is queued (written but not yet taken by the
/// kernel).
///
/// # Safety
/// `bytes` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn transport_get_write_queue_size(t: *mut transport_t, bytes: *mut usize) -> marline_status_t {
    guard(|| {
        non_null(bytes)?;
        let n = transport_of(t)?.queued()?;
        // SAFETY: checked non-NULL.
        unsafe { put(bytes, n) };
        Ok(())
    })
}

/// Sets the queue size above which a streaming producer is paused (default
/// 65536).
#[no_mangle]
pub extern "C" fn transport_set_write_high_water(t: *mut transport_t, bytes: usize) -> marline_status_t {
    guard(|| {
        if bytes == 0 {
            return Err(Error::InvalidArgument);
        }
        transport_of(t)?.set_write_high_water(bytes)
    })
}

/// The transport as a producer of incoming data: stop reading.
#[no_mangle]
pub extern "C" fn transport_pause_producing(t: *mut transport_t) -> marline_status_t {
    guard(|| transport_of(t)?.pause_producing())
}

/// Start reading again after transport_pause_producing.
#[no_mangle]
pub extern "C" fn transport_resume_producing(t: *mut transport_t) -> marline_status_t {
    guard(|| transport_of(t)?.resume_producing())
}

/// Stop producing for good: closes the connection (as lose_connection).
#[no_mangle]
pub extern "C" fn transport_stop_producing(t: *mut transport_t) -> marline_status_t {
    guard(|| transport_of(t)?.stop_producing())
}
