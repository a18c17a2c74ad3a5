//! The connection lifecycle every stream transport shares (the idea of libuv's
//! src/unix/stream.c): one state machine for reading, writing, half-close, closing,
//! producers and the final callback. A transport kind ([`Kind`]) supplies only its
//! primitives — read, gather write, shutdown, close — and its addresses and options; TCP
//! and the pipes of a child process are kinds. docs/ARCHITECTURE.md states the rules.
//!
//! Phases: `Connecting` (a client before connect() completes: writes are queued) →
//! `Open` → `Closed` (the descriptor is closed; the final callback, connection_lost or
//! connection_failed, is delivered from the loop, then the handle is removed).

mod ops;
mod read;
mod write;

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::rc::Rc;

use mio::Interest;

use super::write_queue::WriteQueue;
use super::{Address, ProducerSlot, Protocol, ProtocolSlot, Reason, ReasonKind, Transport, TransportOps};
use crate::error::Result;
use crate::reactor::handles::Handle;
use crate::reactor::{Core, Object, Readiness};

/// Reading paused by pause_producing (and the flow control that uses it).
const PAUSED_BY_USER: u8 = 1;
/// Reading paused because answers to the peer's input filled the queue.
const PAUSED_BY_ANSWERS: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for name resolution or for connect() to complete.
    Connecting,
    Open,
    /// The descriptor is closed; the final callback is on its way.
    Closed,
}

/// What one read found.
pub(crate) enum Read {
    /// This many bytes of data, at the start of the buffer.
    Data(usize),
    /// One byte of urgent data, at its place in the stream.
    Urgent(u8),
    /// The peer's end of stream.
    Eof,
    /// Nothing may be read now; the next readiness report says when.
    Wait,
}

/// What a read may need to know.
#[derive(Clone, Copy)]
pub(crate) struct ReadCtx {
    /// The first read after a readiness report (not a continuation).
    pub fresh: bool,
    /// The poll has reported the peer's end of stream or an error.
    pub hup_seen: bool,
}

/// What a transport kind supplies. Its own state lives in the value (the `kind` field of
/// [`Connection`]); the functions that need more than the descriptor get the connection.
pub(crate) trait Kind: Sized + 'static {
    /// Supports lose_write_connection (a shutdown of the sending side).
    const HALF_CLOSE: bool = false;
    /// Supports urgent data (write_urgent).
    const URGENT: bool = false;

    /// The poll interest of the descriptor.
    fn interest(&self) -> Interest;
    /// Data comes from the peer (false: a pipe we only write to).
    fn reads(&self) -> bool {
        true
    }
    /// Reads once into `buf`.
    fn read(conn: &Connection<Self>, fd: RawFd, buf: &mut [u8], ctx: ReadCtx) -> io::Result<Read>;
    /// Whether a read shorter than the buffer means nothing is left (edge-triggered).
    fn short_read_drains(_conn: &Connection<Self>) -> bool {
        true
    }
    /// Gather-writes a prefix of `bufs`; `urgent` marks urgent data.
    fn write(fd: RawFd, bufs: &[IoSlice<'_>], urgent: bool) -> io::Result<usize>;
    /// Shuts down the sending side (only called when `HALF_CLOSE`).
    fn shutdown_write(_fd: BorrowedFd<'_>) {}
    /// The descriptor is about to be closed; `reset`: the connection was aborted.
    fn closing(_core: &Core, _fd: BorrowedFd<'_>, _reset: bool) {}
    /// The connection closed or failed: release what the kind holds (timers).
    fn closed(_conn: &Connection<Self>, _core: &Rc<Core>) {}
    /// The error the descriptor holds (SO_ERROR), if the kind can tell.
    fn pending_error(_fd: BorrowedFd<'_>) -> Option<io::Error> {
        None
    }
    /// A readiness report for an open connection, before it is acted on.
    fn ready(_conn: &Rc<Connection<Self>>, _core: &Rc<Core>, _r: Readiness) {}
    /// A readiness report while connecting.
    fn connecting_ready(_conn: &Rc<Connection<Self>>, _core: &Rc<Core>, _r: Readiness) {}
    fn host(conn: &Connection<Self>) -> Result<Address>;
    fn peer(conn: &Connection<Self>) -> Result<Address>;
}

struct State {
    phase: Phase,
    fd: Option<OwnedFd>,
    queue: WriteQueue,
    /// lose_connection was called (or the peer ended a connection without
    /// half-close): close once the queue has drained and no producer waits.
    disconnecting: bool,
    /// lose_write_connection was called: shut down writing at the same point.
    write_shut_requested: bool,
    write_shut: bool,
    /// write_connection_lost is owed (delivered before connection_lost at the latest).
    write_lost_due: bool,
    read_eof: bool,
    /// Why reading is paused (PAUSED_BY_* bits); 0: reading.
    paused: u8,
    /// The poll reported the peer's FIN or an error. With edge-triggered
    /// polling a short read then no longer means "drained": the EOF (or the
    /// error) is still to be read and no new edge will announce it.
    hup_seen: bool,
    /// The reactor turn during which this connection last sent to the
    /// kernel from a write call (0: never).
    sent_in_turn: u32,
    /// A flush at the end of this turn is scheduled (coalesced writes).
    flush_scheduled: bool,
}

/// One stream connection: the lifecycle, with the kind's primitives and state in `kind`.
pub(crate) struct Connection<K: Kind> {
    handle: Cell<Option<Handle>>,
    state: RefCell<State>,
    pub(crate) kind: K,
    protocol: ProtocolSlot<dyn Protocol>,
    producer: ProducerSlot,
    user: Cell<usize>,
    half_close: bool,
}

impl<K: Kind> Connection<K> {
    pub(crate) fn new(kind: K, protocol: Box<dyn Protocol>) -> Connection<K> {
        let half_close = protocol.half_close();
        Connection {
            handle: Cell::new(None),
            state: RefCell::new(State {
                phase: Phase::Connecting,
                fd: None,
                queue: WriteQueue::default(),
                disconnecting: false,
                write_shut_requested: false,
                write_shut: false,
                write_lost_due: false,
                read_eof: false,
                paused: 0,
                hup_seen: false,
                sent_in_turn: 0,
                flush_scheduled: false,
            }),
            kind,
            protocol: ProtocolSlot::new(protocol),
            producer: ProducerSlot::default(),
            user: Cell::new(0),
            half_close,
        }
    }

    /// Adds the connection to the reactor's handle table, with its descriptor if it has one.
    pub(crate) fn install(self: &Rc<Self>, core: &Rc<Core>, fd: Option<OwnedFd>) -> Result<Transport> {
        let h = core.insert(self.clone())?;
        self.handle.set(Some(h));
        if let Some(fd) = fd {
            if let Err(e) = self.attach_fd(core, fd) {
                core.remove(h);
                return Err(e.into());
            }
        }
        Ok(Transport::new(core, h))
    }

    /// Registers `fd` with the poll and makes it the connection's descriptor (on failure
    /// it is closed).
    pub(crate) fn attach_fd(&self, core: &Core, fd: OwnedFd) -> io::Result<()> {
        core.register(fd.as_raw_fd(), self.handle(), 0, self.kind.interest())?;
        self.state.borrow_mut().fd = Some(fd);
        Ok(())
    }

    /// Closes the descriptor of a failed connect attempt. Closing it takes it out of the
    /// poll (see `close`).
    pub(crate) fn detach_fd(&self) {
        drop(self.state.borrow_mut().fd.take());
    }

    /// Runs `f` on the descriptor (`None` when there is none).
    pub(crate) fn with_fd<R>(&self, f: impl FnOnce(BorrowedFd<'_>) -> R) -> Option<R> {
        self.state.borrow().fd.as_ref().map(|fd| f(fd.as_fd()))
    }

    pub(crate) fn phase(&self) -> Phase {
        self.state.borrow().phase
    }

    fn handle(&self) -> Handle {
        self.handle.get().expect("installed before use")
    }

    pub(crate) fn transport(&self, core: &Rc<Core>) -> Transport {
        Transport::new(core, self.handle())
    }

    /// Calls `f` with the protocol (for the kind's own notifications).
    pub(crate) fn with_protocol(&self, f: impl FnOnce(&mut dyn Protocol)) {
        self.protocol.with(|p| f(p));
    }

    /// lose_connection was called (input is no longer delivered).
    pub(crate) fn is_disconnecting(&self) -> bool {
        self.state.borrow().disconnecting
    }

    /// The connection is established: connection_made, then what was written meanwhile
    /// is sent.
    pub(crate) fn opened(self: &Rc<Self>, core: &Rc<Core>) {
        self.state.borrow_mut().phase = Phase::Open;
        let t = self.transport(core);
        self.protocol.with(|p| p.connection_made(&t));
        self.flush(core);
    }

    /// Shuts down writing or closes when everything they wait for is done: the queue has
    /// drained, and no producer is registered (unless the peer has gone: a connection
    /// without half-close whose peer sent its end of stream no longer waits for one).
    fn settle(self: &Rc<Self>, core: &Rc<Core>) {
        let (shut_now, close_now) = {
            let st = self.state.borrow();
            if st.phase != Phase::Open || !st.queue.is_empty() {
                return;
            }
            let peer_gone = st.read_eof && !self.half_close;
            let waits = self.producer.has_producer() && !peer_gone;
            (st.write_shut_requested && !st.write_shut && !waits, st.disconnecting && !waits)
        };
        if close_now {
            self.close(core, Reason::done(), false);
        } else if shut_now {
            self.shut_write(core);
        }
    }

    fn shut_write(self: &Rc<Self>, core: &Rc<Core>) {
        {
            let mut st = self.state.borrow_mut();
            st.write_shut = true;
            st.write_lost_due = self.half_close;
            if let Some(fd) = &st.fd {
                K::shutdown_write(fd.as_fd());
            }
        }
        let me = self.clone();
        core.defer(move |core| {
            if me.phase() == Phase::Closed {
                return; // the final callback delivers write_connection_lost first
            }
            let t = me.transport(core);
            me.deliver_write_lost(&t);
            // Reading goes on until the peer closes its side too.
            if me.state.borrow().read_eof {
                me.close(core, Reason::done(), false);
            }
        });
    }

    fn deliver_write_lost(&self, t: &Transport) {
        if std::mem::take(&mut self.state.borrow_mut().write_lost_due) {
            self.protocol.with(|p| p.write_connection_lost(t));
        }
    }

    // ----- closing -----

    /// lose_connection: the close happens from the loop, so writes made after it in the
    /// same callback still go out.
    fn lose(self: &Rc<Self>, core: &Rc<Core>) {
        {
            let mut st = self.state.borrow_mut();
            if st.disconnecting || st.phase == Phase::Closed {
                return;
            }
            st.disconnecting = true;
        }
        let me = self.clone();
        core.defer(move |core| me.settle(core));
    }

    /// Removes a connection that never opened (a spawn that failed half way), without
    /// any callback.
    pub(crate) fn discard(&self, core: &Core) {
        self.state.borrow_mut().phase = Phase::Closed;
        if let Some(fd) = self.state.borrow_mut().fd.take() {
            core.deregister(fd.as_raw_fd());
        }
        self.protocol.take();
        if let Some(h) = self.handle.get() {
            core.remove(h);
        }
    }

    /// Closes the descriptor now and delivers connection_lost from the loop.
    pub(crate) fn close(self: &Rc<Self>, core: &Rc<Core>, reason: Reason, reset: bool) {
        self.end(core, reason, reset, false);
    }

    /// A client that never connected: connection_failed from the loop.
    pub(crate) fn fail(self: &Rc<Self>, core: &Rc<Core>, reason: Reason) {
        if self.phase() == Phase::Connecting {
            self.end(core, reason, false, true);
        }
    }

    fn end(self: &Rc<Self>, core: &Rc<Core>, reason: Reason, reset: bool, failed: bool) {
        let fd = {
            let mut st = self.state.borrow_mut();
            if st.phase == Phase::Closed {
                return;
            }
            st.phase = Phase::Closed;
            st.queue.clear();
            st.fd.take()
        };
        if let Some(fd) = fd {
            // No EPOLL_CTL_DEL: closing the only descriptor of a socket
            // removes it from the epoll set (one syscall less per
            // connection). Should a forked child still hold a copy, its
            // events carry this connection's token, whose generation no
            // longer matches anything, and are ignored.
            K::closing(core, fd.as_fd(), reset);
            drop(fd);
        }
        K::closed(self, core);
        self.producer.closed();
        let me = self.clone();
        let deliver = move |core: &Rc<Core>| me.finish(core, &reason, failed);
        if core.shutting_down() && !core.is_running() {
            deliver(core);
        } else {
            core.defer(deliver);
        }
    }

    /// The final callback: an owed write_connection_lost, stop_producing, then
    /// connection_lost (or connection_failed); then the handle goes stale.
    fn finish(&self, core: &Rc<Core>, reason: &Reason, failed: bool) {
        let t = self.transport(core);
        self.deliver_write_lost(&t);
        self.producer.stop();
        if failed {
            self.protocol.with(|p| p.connection_failed(&t, reason));
        } else {
            self.protocol.with(|p| p.connection_lost(&t, reason));
        }
        self.protocol.take();
        core.remove(t.handle);
    }

    fn open_ready(self: &Rc<Self>, core: &Rc<Core>, r: Readiness) {
        let paused = {
            let mut st = self.state.borrow_mut();
            st.hup_seen |= r.read_closed || r.error;
            st.paused != 0 && !st.disconnecting
        };
        if r.error {
            // A reset is noticed even while reading is paused (what is still unread is
            // dropped: the peer reset the connection), and on a pipe we only write to
            // (its reader has gone).
            let err = match (self.kind.reads(), paused) {
                (false, _) => Some(io::Error::from_raw_os_error(libc::EPIPE)),
                (true, true) => self.with_fd(K::pending_error).flatten(),
                (true, false) => None, // the read finds it
            };
            if let Some(err) = err {
                return self.close(core, Reason::from_io(&err), false);
            }
        }
        K::ready(self, core, r);
        if r.writable {
            // Most writable edges find nothing queued and nobody waiting for a
            // drain: skip the flush bookkeeping then.
            let idle = {
                let st = self.state.borrow();
                st.queue.is_empty() && !st.disconnecting && !st.write_shut_requested
            };
            if !idle || self.producer.has_producer() {
                self.flush(core);
            }
        }
        if !self.kind.reads() {
            if r.write_closed {
                self.close(core, Reason::from_io(&io::Error::from_raw_os_error(libc::EPIPE)), false);
            }
        } else if r.readable || r.priority || r.read_closed || r.error {
            self.read_some(core, true);
        }
    }
}

impl<K: Kind> Object for Connection<K> {
    fn ready(self: Rc<Self>, core: &Rc<Core>, _sub: u8, r: Readiness) {
        match self.phase() {
            Phase::Closed => {}
            Phase::Connecting => K::connecting_ready(&self, core, r),
            Phase::Open => self.open_ready(core, r),
        }
    }

    fn into_transport(self: Rc<Self>) -> Option<Rc<dyn TransportOps>> {
        Some(self)
    }

    fn shutdown(self: Rc<Self>, core: &Rc<Core>) {
        let reason = Reason::new(ReasonKind::Shutdown, "the reactor was freed");
        match self.phase() {
            Phase::Connecting => self.fail(core, reason),
            _ => self.close(core, reason, false),
        }
    }

    fn into_any(self: Rc<Self>) -> Rc<dyn Any> {
        self
    }
}
