//! The C protocol callback table and its adapter to the Rust trait.

use std::cell::Cell;
use std::ffi::c_void;
use std::rc::Rc;

use super::sized::SizedStruct;
use super::handle::{encode_transport, transport_t};
use super::reason::{as_c, marline_reason_t};
use crate::transport::{Protocol, Reason, Transport};

/// Callbacks of a connection. Every entry may be NULL (default behaviour:
/// ignore the event). Each receives the transport first and the transport's
/// current user pointer last (see transport_set_user). Callbacks run on the
/// reactor thread only. Setting read_connection_lost or
/// write_connection_lost opts the connection into half-close.
/// Start it with `MARLINE_INIT(&t)` (zeroes it and sets `size` to
/// sizeof(marline_protocol_t)), then set the entries you use: marline reads
/// `size` bytes, so a program built against another version of this header
/// keeps working (see "ABI policy" in the README; a `size` no version had,
/// or an entry this library does not know set, is
/// MARLINE_ERR_INVALID_ARGUMENT).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct marline_protocol_t {
    /// sizeof(marline_protocol_t), set by the caller.
    pub size: usize,
    /// The connection is established.
    pub connection_made: Option<unsafe extern "C" fn(t: *mut transport_t, user: *mut c_void)>,
    /// Bytes arrived; `data` is valid during the call only.
    pub data_received: Option<unsafe extern "C" fn(t: *mut transport_t, data: *const u8, len: usize, user: *mut c_void)>,
    /// The connection ended; fires exactly once, from the loop. The handle
    /// is stale once this returns, so free per-connection state here.
    pub connection_lost: Option<unsafe extern "C" fn(t: *mut transport_t, reason: *const marline_reason_t, user: *mut c_void)>,
    /// A client connection could not be made (instead of connection_lost).
    pub connection_failed: Option<unsafe extern "C" fn(t: *mut transport_t, reason: *const marline_reason_t, user: *mut c_void)>,
    /// The peer closed its sending side (half-close protocols only; not
    /// after transport_lose_connection, which stops delivering input).
    pub read_connection_lost: Option<unsafe extern "C" fn(t: *mut transport_t, user: *mut c_void)>,
    /// Our sending side was shut down (half-close protocols only). Always
    /// delivered before connection_lost, even when both sides half-close in
    /// the same turn and the connection ends at once.
    pub write_connection_lost: Option<unsafe extern "C" fn(t: *mut transport_t, user: *mut c_void)>,
    /// TCP urgent data arrived, in its place in the stream. NULL: urgent
    /// data is not wanted, and bulk reads skip the urgent-mark check (a
    /// system call per 64 KiB; an urgent byte arriving during them may be
    /// dropped — the normal stream is unaffected).
    pub urgent_data_received: Option<unsafe extern "C" fn(t: *mut transport_t, data: *const u8, len: usize, user: *mut c_void)>,
}

// SAFETY: a size and nullable function pointers, none over 8 bytes.
unsafe impl SizedStruct for marline_protocol_t {}

/// The user pointer of a connection marline creates before C has its
/// handle (an accepted one): moved into the transport's user slot by the
/// connection's first callback, so that transport_get_user and the
/// callbacks see it from then on. That first callback is connection_made,
/// or connection_failed / connection_lost for a connection never made, so
/// only those three look here; the others read the transport's slot. A
/// connection C creates itself (connect, spawn) has its user pointer set at
/// once and none of these.
pub(crate) struct FirstUser(Cell<Option<usize>>);

impl FirstUser {
    pub(crate) fn accepted(user: *mut c_void) -> FirstUser {
        FirstUser(Cell::new(Some(user as usize)))
    }

    pub(crate) fn none() -> FirstUser {
        FirstUser(Cell::new(None))
    }

    /// The transport's user pointer, the first one moved in if not yet.
    pub(crate) fn of(&self, t: &Transport) -> *mut c_void {
        if let Some(u) = self.0.take() {
            let _ = t.set_user_data(u);
        }
        user_of(t)
    }
}

/// The user pointer of `t` (NULL once it is gone).
pub(crate) fn user_of(t: &Transport) -> *mut c_void {
    t.user_data().unwrap_or(0) as *mut c_void
}

/// A C callback table acting as a Rust protocol. The table is shared by
/// every connection of a listening port (one copy, not one per connection).
pub(crate) struct CProtocol {
    table: Rc<marline_protocol_t>,
    user: FirstUser,
}

impl CProtocol {
    pub(crate) fn new(table: &Rc<marline_protocol_t>, user: FirstUser) -> CProtocol {
        CProtocol { table: table.clone(), user }
    }
}

impl Protocol for CProtocol {
    fn connection_made(&mut self, t: &Transport) {
        let user = self.user.of(t);
        call_c!(self.table.connection_made, encode_transport(t), user);
    }

    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        call_c!(self.table.data_received, encode_transport(t), data.as_ptr(), data.len(), user_of(t));
    }

    fn urgent_data_received(&mut self, t: &Transport, data: &[u8]) {
        call_c!(self.table.urgent_data_received, encode_transport(t), data.as_ptr(), data.len(), user_of(t));
    }

    fn connection_lost(&mut self, t: &Transport, reason: &Reason) {
        call_c!(self.table.connection_lost, encode_transport(t), as_c(reason), self.user.of(t));
    }

    fn connection_failed(&mut self, t: &Transport, reason: &Reason) {
        call_c!(self.table.connection_failed, encode_transport(t), as_c(reason), self.user.of(t));
    }

    fn half_close(&self) -> bool {
        self.table.read_connection_lost.is_some() || self.table.write_connection_lost.is_some()
    }

    fn receives_urgent_data(&self) -> bool {
        self.table.urgent_data_received.is_some()
    }

    fn read_connection_lost(&mut self, t: &Transport) {
        call_c!(self.table.read_connection_lost, encode_transport(t), user_of(t));
    }

    fn write_connection_lost(&mut self, t: &Transport) {
        call_c!(self.table.write_connection_lost, encode_transport(t), user_of(t));
    }
}
