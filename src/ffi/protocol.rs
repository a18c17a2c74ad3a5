//! The C protocol callback table and its adapter to the Rust trait.

use std::cell::Cell;
use std::ffi::c_void;
use std::rc::Rc;

use super::handle::{encode_transport, transport_t};
use super::reason::{as_c, marline_reason_t};
use crate::transport::{Protocol, Reason, Transport};

/// Callbacks of a connection. Every entry may be NULL (default behaviour:
/// ignore the event). Each receives the transport first and the transport's
/// current user pointer last (see transport_set_user). Callbacks run on the
/// reactor thread only. Setting read_connection_lost or
/// write_connection_lost opts the connection into half-close.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct marline_protocol_t {
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

/// A C callback table acting as a Rust protocol. The table is shared by
/// every connection of a listening port (one copy, not one per connection).
pub(crate) struct CProtocol {
    table: Rc<marline_protocol_t>,
    /// The user pointer given at creation, moved into the transport's user
    /// slot by the first callback (accepted transports are created inside
    /// marline, before the C layer can set it).
    initial_user: Cell<Option<usize>>,
}

impl CProtocol {
    /// # Safety
    /// `table` points to a readable marline_protocol_t (checked non-NULL).
    pub(crate) unsafe fn new(table: *const marline_protocol_t, user: *mut c_void) -> CProtocol {
        // SAFETY: caller contract; the table is copied.
        let table = Rc::new(unsafe { *table });
        CProtocol::shared(&table, user)
    }

    /// A protocol running the copied table `table` (shared, not copied).
    pub(crate) fn shared(table: &Rc<marline_protocol_t>, user: *mut c_void) -> CProtocol {
        CProtocol { table: table.clone(), initial_user: Cell::new(Some(user as usize)) }
    }

    fn user(&self, t: &Transport) -> *mut c_void {
        if let Some(u) = self.initial_user.take() {
            let _ = t.set_user_data(u);
        }
        t.user_data().unwrap_or(0) as *mut c_void
    }
}

impl Protocol for CProtocol {
    fn connection_made(&mut self, t: &Transport) {
        if let Some(f) = self.table.connection_made {
            // SAFETY: a C callback the user registered for this event.
            unsafe { f(encode_transport(t), self.user(t)) }
        } else {
            self.user(t);
        }
    }

    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        if let Some(f) = self.table.data_received {
            // SAFETY: data is valid for the call, as documented.
            unsafe { f(encode_transport(t), data.as_ptr(), data.len(), self.user(t)) }
        }
    }

    fn urgent_data_received(&mut self, t: &Transport, data: &[u8]) {
        if let Some(f) = self.table.urgent_data_received {
            // SAFETY: as for data_received.
            unsafe { f(encode_transport(t), data.as_ptr(), data.len(), self.user(t)) }
        }
    }

    fn connection_lost(&mut self, t: &Transport, reason: &Reason) {
        if let Some(f) = self.table.connection_lost {
            // SAFETY: the reason outlives the call.
            unsafe { f(encode_transport(t), as_c(reason), self.user(t)) }
        }
    }

    fn connection_failed(&mut self, t: &Transport, reason: &Reason) {
        if let Some(f) = self.table.connection_failed {
            // SAFETY: the reason outlives the call.
            unsafe { f(encode_transport(t), as_c(reason), self.user(t)) }
        }
    }

    fn half_close(&self) -> bool {
        self.table.read_connection_lost.is_some() || self.table.write_connection_lost.is_some()
    }

    fn receives_urgent_data(&self) -> bool {
        self.table.urgent_data_received.is_some()
    }

    fn read_connection_lost(&mut self, t: &Transport) {
        if let Some(f) = self.table.read_connection_lost {
            // SAFETY: a registered C callback.
            unsafe { f(encode_transport(t), self.user(t)) }
        }
    }

    fn write_connection_lost(&mut self, t: &Transport) {
        if let Some(f) = self.table.write_connection_lost {
            // SAFETY: a registered C callback.
            unsafe { f(encode_transport(t), self.user(t)) }
        }
    }
}
