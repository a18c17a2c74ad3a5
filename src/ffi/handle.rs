//! Encoding of C handles, the per-thread registry of reactors, and the
//! panic boundary every extern function runs inside.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use super::status::marline_status_t;
use crate::error::{Error, Result};
use crate::reactor::handles::Handle;
use crate::reactor::{lookup_reactor, Core, Reactor};
use crate::transport::Transport;

/// A reactor: the event loop. Created by `reactor_new`, freed by
/// `reactor_free`.
///
/// Methods: reactor_new, reactor_free, reactor_run, reactor_run_once,
/// reactor_stop, reactor_call_later, reactor_call_from_thread,
/// reactor_backend_fd, reactor_next_timeout, reactor_listen_tcp,
/// reactor_listen_tcp_flags, reactor_connect_tcp, reactor_listen_telnet,
/// reactor_connect_telnet, reactor_spawn_process.
pub struct reactor_t {
    _private: [u8; 0],
}

/// A transport: one connection. Owned by its reactor; dead after its
/// connection_lost (or connection_failed) callback returns.
///
/// Methods: transport_write, transport_write_sequence,
/// transport_write_urgent, transport_lose_connection,
/// transport_lose_write_connection, transport_abort_connection,
/// transport_get_host, transport_get_peer, transport_get_user,
/// transport_set_user, transport_get_write_queue_size,
/// transport_set_write_high_water, the producer calls
/// (transport_register_producer, _unregister_producer, _pause_producing,
/// _resume_producing, _stop_producing), the TCP option calls, the process_*
/// calls on process transports and the telnet_* calls on telnet transports.
pub struct transport_t {
    _private: [u8; 0],
}

/// A listening TCP port. Owned by its reactor until listening_port_stop.
///
/// Methods: listening_port_get_host, listening_port_get_port,
/// listening_port_stop.
pub struct listening_port_t {
    _private: [u8; 0],
}

/// A process bridged to a transport (SSH-session semantics). Owned by its
/// reactor; stale after process_bridge_close (or reactor_free).
///
/// Methods: process_bridge, process_bridge_feed, process_bridge_remote_eof,
/// process_bridge_spawn, process_bridge_spawn_pty, process_bridge_close.
pub struct bridge_t {
    _private: [u8; 0],
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Reactor = 1,
    Transport = 2,
    ListeningPort = 3,
    DelayedCall = 4,
    Bridge = 5,
}

/// Packs serial (16 bits) | kind (4) | handle (44).
pub(crate) fn encode<T>(serial: u16, kind: Kind, h: Handle) -> *mut T {
    (((serial as u64) << 48) | ((kind as u64) << 44) | h.to_bits()) as usize as *mut T
}

fn decode<T>(p: *const T, kind: Kind) -> Result<(u16, Handle)> {
    if p.is_null() {
        return Err(Error::NullPointer);
    }
    let bits = p as usize as u64;
    if (bits >> 44) & 0xF != kind as u64 {
        return Err(Error::WrongHandleType);
    }
    Ok(((bits >> 48) as u16, Handle::from_bits(bits & ((1 << 44) - 1))))
}

thread_local! {
    /// The reactors created on this thread, which own them.
    static LOCAL: RefCell<Vec<Reactor>> = const { RefCell::new(Vec::new()) };
}

pub(crate) fn adopt(r: Reactor) -> *mut reactor_t {
    let serial = r.core.serial;
    LOCAL.with(|l| l.borrow_mut().push(r));
    encode(serial, Kind::Reactor, Handle::from_bits(0))
}

/// Removes the reactor from this thread's registry (the caller drops it
/// after the borrow ends, since dropping runs callbacks).
pub(crate) fn disown(serial: u16) -> Option<Reactor> {
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let i = l.iter().position(|r| r.core.serial == serial)?;
        Some(l.swap_remove(i))
    })
}

/// The core of reactor `serial` if it lives on this thread.
fn core_of(serial: u16) -> Result<Rc<Core>> {
    // try_with: while the thread exits, reactors it never freed are dropped
    // by LOCAL's destructor, and their final callbacks may still call in;
    // they get STALE_HANDLE, not a panic.
    let found = LOCAL
        .try_with(|l| l.borrow().iter().find(|r| r.core.serial == serial).map(|r| r.core.clone()))
        .map_err(|_| Error::StaleHandle)?;
    match found {
        Some(core) => Ok(core),
        None if lookup_reactor(serial).is_some() => Err(Error::WrongThread),
        None => Err(Error::StaleHandle),
    }
}

pub(crate) fn decode_reactor(p: *const reactor_t) -> Result<u16> {
    decode(p, Kind::Reactor).map(|(serial, _)| serial)
}

/// A view of the reactor `p` names, checked for staleness and thread.
pub(crate) fn reactor_of(p: *const reactor_t) -> Result<Reactor> {
    let core = core_of(decode_reactor(p)?)?;
    Ok(Reactor::view(&core))
}

pub(crate) fn reactor_handle(core: &Rc<Core>) -> *mut reactor_t {
    encode(core.serial, Kind::Reactor, Handle::from_bits(0))
}

/// Decodes an object handle of `kind` into its core and table handle.
pub(crate) fn object_of<T>(p: *const T, kind: Kind) -> Result<(Rc<Core>, Handle)> {
    let (serial, h) = decode(p, kind)?;
    Ok((core_of(serial)?, h))
}

pub(crate) fn transport_of(p: *const transport_t) -> Result<Transport> {
    let (core, h) = object_of(p, Kind::Transport)?;
    Ok(Transport::new(&core, h))
}

pub(crate) fn encode_transport(t: &Transport) -> *mut transport_t {
    let serial = t.core().map(|c| c.serial).unwrap_or(0);
    encode(serial, Kind::Transport, t.handle)
}

/// Runs an extern body: errors become status codes and a panic becomes
/// `MARLINE_ERR_PANIC` instead of unwinding into C.
pub(crate) fn guard(f: impl FnOnce() -> Result<()>) -> marline_status_t {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => marline_status_t::MARLINE_OK,
        Ok(Err(e)) => e.into(),
        Err(_) => marline_status_t::MARLINE_ERR_PANIC,
    }
}

/// Like [`guard`] for functions that return a plain value: `fallback` on
/// error or panic.
pub(crate) fn guard_value<T>(fallback: T, f: impl FnOnce() -> Result<T>) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        _ => fallback,
    }
}
