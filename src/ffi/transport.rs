//! transport_t: the calls every transport answers.

use std::ffi::c_void;
use std::io::IoSlice;

use super::address::{give_address, marline_address_t};
use super::handle::transport_t;
use super::status::marline_status_t::{self, *};
use super::{c_array, c_bytes, guard, transport_of, vec_for, Out};

/// One buffer of a gather write.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct marline_iovec_t {
    /// The bytes (may be NULL only when len is 0).
    pub base: *const u8,
    /// Their number.
    pub len: usize,
}

/// Writes `len` bytes. Never blocks: what the kernel does not take at once is
/// copied into the write queue and sent in order. `len` 0 is a no-op. A client
/// transport still connecting queues the bytes. Writes after
/// transport_lose_connection or transport_lose_write_connection are accepted
/// and sent with the rest until the connection has actually closed or its
/// sending side has been shut down (both happen from the loop; a registered
/// producer is waited for); after that, and after an abort, it fails with
/// MARLINE_ERR_CLOSED. A byte is never dropped silently. The caller keeps
/// ownership of `data`.
///
/// Errors: MARLINE_ERR_CLOSED (see above), MARLINE_ERR_NULL_POINTER (`data`
/// NULL with a non-zero `len`), and the handle errors. `t` must not be NULL;
/// `data` may be NULL only when `len` is 0.
///
/// # Safety
/// `data` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn transport_write(t: *mut transport_t, data: *const u8, len: usize) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let bytes = unsafe { c_bytes(data, len) }?;
        Ok(transport_of(t)?.write(bytes)?)
    })
}

/// Writes `count` buffers as one gather write, without first copying them into
/// one buffer; only what the kernel does not take is copied. Every element is
/// checked before any byte is sent. Otherwise as transport_write.
///
/// Errors: MARLINE_ERR_INVALID_ARGUMENT (`count` above MARLINE_IOV_MAX, before
/// `iov` is read), MARLINE_ERR_NULL_POINTER (`iov` NULL with a non-zero
/// `count`, or an element whose `base` is NULL with a non-zero `len`; nothing
/// is sent), MARLINE_ERR_NO_MEMORY, MARLINE_ERR_CLOSED (as transport_write),
/// and the handle errors. `t` must not be NULL; `iov` may be NULL only when
/// `count` is 0.
///
/// # Safety
/// `iov` points to `count` readable elements, each pointing to `len` readable
/// bytes.
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
            return Ok(tr.write(&[])?);
        }
        let mut slices = vec_for(count)?;
        for e in elems {
            // SAFETY: each element's contract as for transport_write.
            slices.push(IoSlice::new(unsafe { c_bytes(e.base, e.len) }?));
        }
        Ok(tr.write_sequence(&slices)?)
    })
}

/// Sends `data` as TCP urgent (out-of-band) data, after everything written
/// before it; the urgent pointer marks its last byte. Otherwise as
/// transport_write. The peer's protocol gets it through urgent_data_received.
///
/// Errors: MARLINE_ERR_NOT_SUPPORTED (not a TCP transport), MARLINE_ERR_CLOSED,
/// MARLINE_ERR_NULL_POINTER (`data` NULL with a non-zero `len`), and the handle
/// errors. `t` must not be NULL; `data` may be NULL only when `len` is 0.
///
/// # Safety
/// As for transport_write.
#[no_mangle]
pub unsafe extern "C" fn transport_write_urgent(t: *mut transport_t, data: *const u8, len: usize) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let bytes = unsafe { c_bytes(data, len) }?;
        Ok(transport_of(t)?.write_urgent(bytes)?)
    })
}

/// Stops delivering data, flushes the queue, then closes from the loop;
/// connection_lost follows with MARLINE_REASON_DONE. While a producer is
/// registered the close waits for it to unregister, and its writes are still
/// sent (ITransport). The peer going away ends the wait: a reset, or (for a
/// protocol without half-close) its end of stream; the producer then gets
/// stop_producing before connection_lost. Calling it again is harmless. For a
/// client still connecting, cancels the attempt (connection_failed with
/// MARLINE_REASON_CANCELLED).
///
/// Errors: only the handle errors (MARLINE_ERR_STALE_HANDLE once
/// connection_lost has run). `t` must not be NULL.
#[no_mangle]
pub extern "C" fn transport_lose_connection(t: *mut transport_t) -> marline_status_t {
    guard(|| Ok(transport_of(t)?.lose_connection()?))
}

/// Half-close: shuts down our sending side from the loop, once the queue has
/// drained and no producer is registered. Half-close protocols then get
/// write_connection_lost, always before connection_lost (also when the peer
/// half-closes in the same turn); reading goes on until the peer closes too.
/// Calling it again is harmless.
///
/// Errors: MARLINE_ERR_NOT_SUPPORTED (a transport without half-close: a process
/// transport), and the handle errors. `t` must not be NULL.
#[no_mangle]
pub extern "C" fn transport_lose_write_connection(t: *mut transport_t) -> marline_status_t {
    guard(|| Ok(transport_of(t)?.lose_write_connection()?))
}

/// Discards the queue, stops any producer, resets the connection (RST) and
/// delivers connection_lost with MARLINE_REASON_ABORTED on the next loop turn.
/// Aborting twice, or aborting then losing, gives one connection_lost. For a
/// client still connecting, cancels the attempt (connection_failed with
/// MARLINE_REASON_CANCELLED).
///
/// Errors: only the handle errors (MARLINE_ERR_STALE_HANDLE once
/// connection_lost has run). `t` must not be NULL.
#[no_mangle]
pub extern "C" fn transport_abort_connection(t: *mut transport_t) -> marline_status_t {
    guard(|| Ok(transport_of(t)?.abort_connection()?))
}

/// Writes the local address of the transport to `*out`, allocated: free it with
/// marline_address_free.
///
/// Errors: MARLINE_ERR_NOT_CONNECTED (a client still connecting), and the
/// handle errors. `t` and `out` must not be NULL.
///
/// # Safety
/// `out` points to a writable `marline_address_t *`.
#[no_mangle]
pub unsafe extern "C" fn transport_get_host(t: *mut transport_t, out: *mut *mut marline_address_t) -> marline_status_t {
    give_address(out, || Ok(transport_of(t)?.host()?))
}

/// Writes the remote address of the transport to `*out`, allocated: free it
/// with marline_address_free. A process transport gives a
/// MARLINE_FAMILY_PROCESS address (its port is the child's pid).
///
/// Errors: MARLINE_ERR_NOT_CONNECTED (a client still connecting), and the
/// handle errors. `t` and `out` must not be NULL.
///
/// # Safety
/// `out` points to a writable `marline_address_t *`.
#[no_mangle]
pub unsafe extern "C" fn transport_get_peer(t: *mut transport_t, out: *mut *mut marline_address_t) -> marline_status_t {
    give_address(out, || Ok(transport_of(t)?.peer()?))
}

/// Writes the transport's user pointer (the one its callbacks receive; see
/// transport_set_user) to `*user`.
///
/// Errors: only the handle errors (MARLINE_ERR_STALE_HANDLE once
/// connection_lost has run). `t` and `user` must not be NULL.
///
/// # Safety
/// `user` points to a writable `void *`.
#[no_mangle]
pub unsafe extern "C" fn transport_get_user(t: *mut transport_t, user: *mut *mut c_void) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let user = unsafe { Out::new(user) }?;
        let u = transport_of(t)?.user_data()?;
        user.write(u as *mut c_void);
        Ok(())
    })
}

/// Sets the pointer passed to this transport's callbacks from now on (and
/// returned by transport_get_user). marline keeps nothing of it but the value.
///
/// Errors: only the handle errors (MARLINE_ERR_STALE_HANDLE once
/// connection_lost has run). `t` must not be NULL; `user` may be NULL (it is
/// only passed back).
#[no_mangle]
pub extern "C" fn transport_set_user(t: *mut transport_t, user: *mut c_void) -> marline_status_t {
    guard(|| Ok(transport_of(t)?.set_user_data(user as usize)?))
}

/// Writes to `*bytes` how much is queued: written but not yet taken by the
/// kernel.
///
/// Errors: only the handle errors (MARLINE_ERR_STALE_HANDLE once
/// connection_lost has run). `t` and `bytes` must not be NULL.
///
/// # Safety
/// `bytes` points to a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn transport_get_write_queue_size(t: *mut transport_t, bytes: *mut usize) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let bytes = unsafe { Out::new(bytes) }?;
        let n = transport_of(t)?.queued()?;
        bytes.write(n);
        Ok(())
    })
}

/// Sets the queue size above which a streaming producer is paused, and the
/// transport's own reading when it is its producer (default 65536 bytes).
///
/// Errors: MARLINE_ERR_INVALID_ARGUMENT (`bytes` 0), and the handle errors. `t`
/// must not be NULL.
#[no_mangle]
pub extern "C" fn transport_set_write_high_water(t: *mut transport_t, bytes: usize) -> marline_status_t {
    guard(|| {
        if bytes == 0 {
            return Err(MARLINE_ERR_INVALID_ARGUMENT.into());
        }
        Ok(transport_of(t)?.set_write_high_water(bytes)?)
    })
}

/// The transport as a producer of incoming data: stops reading from the peer
/// until transport_resume_producing (the kernel's buffers then push back on the
/// peer).
///
/// Errors: only the handle errors (MARLINE_ERR_STALE_HANDLE once
/// connection_lost has run). `t` must not be NULL.
#[no_mangle]
pub extern "C" fn transport_pause_producing(t: *mut transport_t) -> marline_status_t {
    guard(|| Ok(transport_of(t)?.pause_producing()?))
}

/// Starts reading from the peer again after transport_pause_producing; data
/// that arrived meanwhile is delivered from the loop.
///
/// Errors: only the handle errors (MARLINE_ERR_STALE_HANDLE once
/// connection_lost has run). `t` must not be NULL.
#[no_mangle]
pub extern "C" fn transport_resume_producing(t: *mut transport_t) -> marline_status_t {
    guard(|| Ok(transport_of(t)?.resume_producing()?))
}

/// The transport as a producer, stopped for good: closes the connection, as
/// transport_lose_connection does.
///
/// Errors: only the handle errors (MARLINE_ERR_STALE_HANDLE once
/// connection_lost has run). `t` must not be NULL.
#[no_mangle]
pub extern "C" fn transport_stop_producing(t: *mut transport_t) -> marline_status_t {
    guard(|| Ok(transport_of(t)?.stop_producing()?))
}
