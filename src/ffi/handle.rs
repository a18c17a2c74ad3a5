//! Encoding of C handles and the per-thread registry of reactors.

use std::cell::RefCell;
use std::rc::Rc;

use super::status::marline_status_t::{self, *};
use super::CResult;
use crate::reactor::handles::{Handle, HANDLE_BITS};
use crate::reactor::{lookup_reactor, slot_is_live, Core, Reactor, Serial, SLOT_BITS};
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
    /// tcp_stream_t: not bound to a reactor (its slot bits are 0).
    Stream = 6,
}

/// Where the parts of a C handle sit: kind (4 bits) | reactor slot (12) |
/// table handle (48: index 20, generation 28). A reactor's own handle puts
/// its registry generation in the generation bits.
const KIND_SHIFT: u32 = 60;
const SLOT_SHIFT: u32 = HANDLE_BITS;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
const _: () = assert!(SLOT_SHIFT + SLOT_BITS == KIND_SHIFT && usize::BITS == 64);

fn pack<T>(kind: Kind, slot: u32, h: Handle) -> *mut T {
    (((kind as u64) << KIND_SHIFT) | ((slot as u64) << SLOT_SHIFT) | h.to_bits()) as usize as *mut T
}

/// The C handle of object `h` of kind `kind` in the reactor `serial` names.
pub(crate) fn encode<T>(serial: Serial, kind: Kind, h: Handle) -> *mut T {
    pack(kind, serial.index, h)
}

/// The C handle of a reactor.
fn encode_reactor(serial: Serial) -> *mut reactor_t {
    pack(Kind::Reactor, serial.index, Handle { index: 0, generation: serial.generation })
}

/// The C handle of a tcp_stream_t.
pub(crate) fn encode_stream<T>(h: Handle) -> *mut T {
    pack(Kind::Stream, 0, h)
}

/// Splits a C handle of kind `kind` into its reactor slot and table handle.
fn decode<T>(p: *const T, kind: Kind) -> CResult<(u32, Handle)> {
    if p.is_null() {
        return Err(MARLINE_ERR_NULL_POINTER.into());
    }
    let bits = p as usize as u64;
    if bits >> KIND_SHIFT != kind as u64 {
        return Err(MARLINE_ERR_WRONG_HANDLE_TYPE.into());
    }
    Ok((((bits >> SLOT_SHIFT) & SLOT_MASK) as u32, Handle::from_bits(bits)))
}

/// The table handle of a tcp_stream_t.
pub(crate) fn decode_stream<T>(p: *const T) -> CResult<Handle> {
    decode(p, Kind::Stream).map(|(_, h)| h)
}

/// The reactors created on this thread, which own them. Dropped when the
/// thread ends (for the main thread: when main returns or exit is called):
/// the reactors left are torn down without calling back, since the
/// pointers their callbacks would get may be gone by then.
struct Owned(Vec<Reactor>);

impl Drop for Owned {
    fn drop(&mut self) {
        for r in self.0.drain(..) {
            r.core.abandon();
        }
    }
}

thread_local! {
    static LOCAL: RefCell<Owned> = const { RefCell::new(Owned(Vec::new())) };
}

pub(crate) fn adopt(r: Reactor) -> *mut reactor_t {
    let serial = r.core.serial;
    LOCAL.with(|l| l.borrow_mut().0.push(r));
    encode_reactor(serial)
}

/// Removes the reactor from this thread's registry (the caller drops it
/// after the borrow ends, since dropping runs callbacks).
pub(crate) fn disown(serial: Serial) -> Option<Reactor> {
    LOCAL.with(|l| {
        let l = &mut l.borrow_mut().0;
        let i = l.iter().position(|r| r.core.serial == serial)?;
        Some(l.swap_remove(i))
    })
}

/// The core of the reactor in registry slot `slot` if it lives on this
/// thread; with `generation`, only if it is that reactor. Inlined: on every
/// call through a handle.
#[inline]
fn core_of(slot: u32, generation: Option<u32>) -> CResult<Rc<Core>> {
    let is = |c: &Core| c.serial.index == slot && generation.map_or(true, |g| c.serial.generation == g);
    // try_with: while the thread exits its reactors are being dropped.
    match LOCAL.try_with(|l| l.borrow().0.iter().find(|r| is(&r.core)).map(|r| r.core.clone())) {
        Ok(Some(core)) => Ok(core),
        Ok(None) => Err(not_on_this_thread(slot, generation).into()),
        Err(_) => Err(MARLINE_ERR_STALE_HANDLE.into()),
    }
}

/// Why no reactor of this thread matched: another thread's, or none.
#[cold]
#[inline(never)]
fn not_on_this_thread(slot: u32, generation: Option<u32>) -> marline_status_t {
    let elsewhere = match generation {
        Some(g) => lookup_reactor(Handle { index: slot, generation: g }).is_some(),
        // An old object handle whose slot another thread's reactor took
        // over gets WRONG_THREAD: that reactor's table cannot be read here.
        None => slot_is_live(slot),
    };
    if elsewhere {
        MARLINE_ERR_WRONG_THREAD
    } else {
        MARLINE_ERR_STALE_HANDLE
    }
}

pub(crate) fn decode_reactor(p: *const reactor_t) -> CResult<Serial> {
    decode(p, Kind::Reactor).map(|(slot, h)| Handle { index: slot, generation: h.generation })
}

/// A view of the reactor `p` names, checked for staleness and thread.
pub(crate) fn reactor_of(p: *const reactor_t) -> CResult<Reactor> {
    let serial = decode_reactor(p)?;
    let core = core_of(serial.index, Some(serial.generation))?;
    Ok(Reactor::view(&core))
}

pub(crate) fn reactor_handle(core: &Rc<Core>) -> *mut reactor_t {
    encode_reactor(core.serial)
}

/// Decodes an object handle of `kind` into its core and table handle. The
/// handle names no reactor generation: a reactor that takes over a slot
/// goes on with its predecessor's table identities, so an object handle of
/// the predecessor is stale in it.
#[inline]
pub(crate) fn object_of<T>(p: *const T, kind: Kind) -> CResult<(Rc<Core>, Handle)> {
    let (slot, h) = decode(p, kind)?;
    Ok((core_of(slot, None)?, h))
}

#[inline]
pub(crate) fn transport_of(p: *const transport_t) -> CResult<Transport> {
    let (core, h) = object_of(p, Kind::Transport)?;
    Ok(Transport::new(&core, h))
}

pub(crate) fn encode_transport(t: &Transport) -> *mut transport_t {
    let slot = t.core().map(|c| c.serial.index).unwrap_or(0);
    pack(Kind::Transport, slot, t.handle)
}
