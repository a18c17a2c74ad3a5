//! The C producer callback table and its adapter.

use std::ffi::c_void;

use super::handle::{encode_transport, transport_t};
use super::status::marline_status_t::{self, *};
use super::sized::{read_sized, SizedStruct};
use super::{guard, transport_of};
use crate::transport::{Producer, Transport};

/// Callbacks of a producer registered on a transport. Entries may be NULL.
/// Each receives the transport and the producer's user pointer.
/// Start it with `MARLINE_INIT(&t)` (zeroes it and sets `size` to
/// sizeof(marline_producer_t)), then set the entries you use: marline reads
/// `size` bytes, so a program built against another version of this header
/// keeps working (see "ABI policy" in the README; a `size` no version had,
/// or an entry this library does not know set, is
/// MARLINE_ERR_INVALID_ARGUMENT).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct marline_producer_t {
    /// sizeof(marline_producer_t), set by the caller.
    pub size: usize,
    /// The write queue passed the high-water mark: stop writing for now
    /// (streaming producers).
    pub pause_producing: Option<unsafe extern "C" fn(t: *mut transport_t, user: *mut c_void)>,
    /// Write more: the queue drained (streaming, after a pause) or emptied
    /// (pull producers, each time).
    pub resume_producing: Option<unsafe extern "C" fn(t: *mut transport_t, user: *mut c_void)>,
    /// The transport is gone or closing: stop for good. The producer is
    /// unregistered when this returns.
    pub stop_producing: Option<unsafe extern "C" fn(t: *mut transport_t, user: *mut c_void)>,
}

// SAFETY: a size and nullable function pointers, none over 8 bytes.
unsafe impl SizedStruct for marline_producer_t {}

struct CProducer {
    table: marline_producer_t,
    user: *mut c_void,
}

impl Producer for CProducer {
    fn pause_producing(&self, t: &Transport) {
        call_c!(self.table.pause_producing, encode_transport(t), self.user);
    }
    fn resume_producing(&self, t: &Transport) {
        call_c!(self.table.resume_producing, encode_transport(t), self.user);
    }
    fn stop_producing(&self, t: &Transport) {
        call_c!(self.table.stop_producing, encode_transport(t), self.user);
    }
}

/// Registers a producer on `t`, with its callback table (copied) and `user`,
/// which its callbacks receive. `streaming` producers are paused past the high-
/// water mark and resumed when the queue drains; pull producers get
/// resume_producing each time the queue empties (the first time on the next
/// loop turn). On a transport that is already gone, stop_producing is called at
/// once and MARLINE_ERR_STALE_HANDLE returned.
///
/// Errors: MARLINE_ERR_PRODUCER_ALREADY_REGISTERED (a second registration),
/// MARLINE_ERR_INVALID_ARGUMENT (a table whose `size` no version had, or with
/// an entry this library does not know), and the handle errors. `t` and
/// `callbacks` must not be NULL; `user` may be NULL (it is only passed back).
///
/// # Safety
/// `callbacks` points to a marline_producer_t with `size` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn transport_register_producer(
    t: *mut transport_t,
    callbacks: *const marline_producer_t,
    user: *mut c_void,
    streaming: bool,
) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract; the table is copied.
        let table = unsafe { read_sized(callbacks) }?;
        let producer = Box::new(CProducer { table, user });
        match transport_of(t) {
            Ok(tr) => Ok(tr.register_producer(producer, streaming)?),
            Err(e) if e.status == MARLINE_ERR_STALE_HANDLE => {
                call_c!(table.stop_producing, t, user);
                Err(e)
            }
            Err(e) => Err(e),
        }
    })
}

/// Makes the transport's own reading the streaming producer of its writes
/// (Twisted's `transport.registerProducer(transport, True)`): reading pauses
/// while the write queue is past the high-water mark
/// (transport_set_write_high_water, default 64 KiB) and resumes once the queue
/// has drained. A peer that does not read what it is sent then cannot grow the
/// queue without bound: for echo servers, proxies and request/response servers.
/// No callbacks and no allocation. It counts as the registered producer;
/// transport_unregister_producer ends it and resumes reading. Do not also pause
/// or resume reading by hand: the two would undo each other.
///
/// Errors: MARLINE_ERR_PRODUCER_ALREADY_REGISTERED (there is a producer), and
/// the handle errors. `t` must not be NULL.
#[no_mangle]
pub extern "C" fn transport_register_reading_as_producer(t: *mut transport_t) -> marline_status_t {
    guard(|| Ok(transport_of(t)?.register_reading_as_producer()?))
}

/// Unregisters the producer of `t`; it gets no more callbacks. A
/// transport_lose_connection waiting for the producer goes on.
///
/// Errors: MARLINE_ERR_NO_PRODUCER (none is registered), and the handle errors.
/// `t` must not be NULL.
#[no_mangle]
pub extern "C" fn transport_unregister_producer(t: *mut transport_t) -> marline_status_t {
    guard(|| Ok(transport_of(t)?.unregister_producer()?))
}
