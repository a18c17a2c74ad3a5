//! A TCP connection: the read path, the write path with its fast path, the
//! closing state machine (lose, half-close, abort) and urgent data.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::io::{self, IoSlice};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use mio::Interest;
use socket2::Socket;

use crate::error::{Error, Result};
use crate::reactor::handles::Handle;
use crate::reactor::{Core, Object, Readiness, READ_BUFFER_SIZE};
use crate::sys;
use crate::transport::write_queue::WriteQueue;
use crate::transport::{Address, ProducerSlot, Protocol, ProtocolSlot, Reason, ReasonKind, Transport, TransportOps};

/// Reads per readiness event before yielding to other connections.
const READS_PER_EVENT: usize = 16;

/// A write below this size, made while the loop runs by a connection that
/// already sent to the kernel during this turn, is queued and flushed once
/// at the end of the turn: a burst of small writes then costs one sendmsg
/// instead of one each (copying 13 bytes is far cheaper than a syscall).
/// The first write of a turn, and every large one, still goes straight to
/// the kernel, so a request/response exchange is not delayed at all.
const COALESCE_BELOW: usize = 16 * 1024;

/// What [`TcpConnection::take_urgent`] did.
enum Urgent {
    /// The urgent byte was delivered.
    Delivered,
    /// Not at the mark (or nothing urgent): read normal data.
    NotYet,
    /// At the mark but the byte has not arrived: read nothing for now.
    Wait,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for name resolution or for connect() to complete.
    Connecting,
    Connected,
    /// The socket is closed; the final callback is on its way.
    Closed,
}

/// An address kept per connection in 16 bytes instead of a SocketAddr's
/// 32: IPv4 inline (the common case), IPv6 boxed.
#[derive(Default)]
enum Addr {
    #[default]
    Unknown,
    V4(SocketAddrV4),
    V6(Box<SocketAddrV6>),
}

impl Addr {
    fn from(a: Option<SocketAddr>) -> Addr {
        match a {
            None => Addr::Unknown,
            Some(SocketAddr::V4(a)) => Addr::V4(a),
            Some(SocketAddr::V6(a)) => Addr::V6(Box::new(a)),
        }
    }

    fn get(&self) -> Option<SocketAddr> {
        match self {
            Addr::Unknown => None,
            Addr::V4(a) => Some(SocketAddr::V4(*a)),
            Addr::V6(a) => Some(SocketAddr::V6(**a)),
        }
    }
}

/// What only a client that is still connecting needs.
#[derive(Default)]
struct Connecting {
    /// Addresses still to try.
    candidates: Vec<SocketAddr>,
    timer: Option<Handle>,
}

struct State {
    phase: Phase,
    socket: Option<Socket>,
    queue: WriteQueue,
    /// lose_connection was called (or the peer closed a non-half-close
    /// protocol): flush, then close.
    disconnecting: bool,
    /// lose_write_connection was called: shut down writing after the flush.
    write_shut_requested: bool,
    write_shut: bool,
    read_eof: bool,
    reading_paused: bool,
    /// The poll reported the peer's FIN or an error. With edge-triggered
    /// polling a short read then no longer means "drained": the EOF (or the
    /// error) is still to be read and no new edge will announce it.
    hup_seen: bool,
    /// The poll reported urgent data (EPOLLPRI) not yet delivered. While
    /// set, every read first checks for the urgent mark: a plain read that
    /// starts exactly at the mark would silently skip the out-of-band byte.
    urgent_pending: bool,
    /// The reactor turn during which this connection last sent to the
    /// kernel from a write call (0: never).
    sent_in_turn: u32,
    /// A flush at the end of this turn is scheduled (coalesced writes).
    flush_scheduled: bool,
    /// A client's connecting state (boxed: accepted connections, the
    /// many, never need it).
    connecting: Option<Box<Connecting>>,
    local: Addr,
    remote: Addr,
}

/// One TCP connection (accepted or client).
pub(crate) struct TcpConnection {
    handle: Cell<Option<Handle>>,
    state: RefCell<State>,
    protocol: ProtocolSlot<dyn Protocol>,
    producer: ProducerSlot,
    user: Cell<usize>,
    half_close: bool,
    /// The protocol handles urgent data (see Protocol::receives_urgent_data).
    urgent: bool,
}

impl TcpConnection {
    fn new(protocol: Box<dyn Protocol>, socket: Option<Socket>, phase: Phase) -> TcpConnection {
        let half_close = protocol.half_close();
        let urgent = protocol.receives_urgent_data();
        TcpConnection {
            handle: Cell::new(None),
            state: RefCell::new(State {
                phase,
                socket,
                queue: WriteQueue::default(),
                disconnecting: false,
                write_shut_requested: false,
                write_shut: false,
                read_eof: false,
                reading_paused: false,
                hup_seen: false,
                urgent_pending: false,
                sent_in_turn: 0,
                flush_scheduled: false,
                connecting: None,
                local: Addr::Unknown,
                remote: Addr::Unknown,
            }),
            protocol: ProtocolSlot::new(protocol),
            producer: ProducerSlot::default(),
            user: Cell::new(0),
            half_close,
            urgent,
        }
    }

    /// Adopts an accepted socket (already non-blocking: accept4 made it so)
    /// and calls connection_made. `local` and `remote` are the addresses
    /// when the caller knows them (from accept and the listener), which
    /// saves a getsockname/getpeername per connection.
    pub(crate) fn accepted(
        core: &Rc<Core>,
        socket: Socket,
        protocol: Box<dyn Protocol>,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
    ) -> Result<Transport> {
        let conn = Rc::new(TcpConnection::new(protocol, Some(socket), Phase::Connected));
        {
            let mut st = conn.state.borrow_mut();
            st.local = Addr::from(local);
            st.remote = Addr::from(remote);
        }
        let t = conn.install(core)?;
        // No read is scheduled: registering the socket (edge-triggered)
        // makes the next poll report whatever has already arrived, urgent
        // data included, so the first read is a fresh one.
        conn.became_connected(core, &t);
        Ok(t)
    }

    /// Starts a client connection to the first of `addrs` (or, with an empty
    /// list, waits for `resolved`).
    pub(crate) fn connecting(core: &Rc<Core>, protocol: Box<dyn Protocol>, timeout: Option<Duration>) -> Result<Transport> {
        let conn = Rc::new(TcpConnection::new(protocol, None, Phase::Connecting));
        let t = conn.install(core)?;
        if let Some(timeout) = timeout {
            let h = t.handle;
            let timer = core.call_later_internal(timeout, move |core| {
                if let Ok(c) = core.object_as::<TcpConnection>(h) {
                    if let Some(cn) = c.state.borrow_mut().connecting.as_mut() {
                        cn.timer = None;
                    }
                    c.fail_connect(core, Reason::new(ReasonKind::TimedOut, "connection attempt timed out"));
                }
            });
            conn.state.borrow_mut().connecting.get_or_insert_with(Box::default).timer = timer;
        }
        Ok(t)
    }

    fn install(self: &Rc<Self>, core: &Rc<Core>) -> Result<Transport> {
        let h = core.insert(self.clone())?;
        self.handle.set(Some(h));
        if let Some(sock) = &self.state.borrow().socket {
            if let Err(e) = core.register(sock.as_raw_fd(), h, 0, Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY) {
                core.remove(h);
                return Err(e.into());
            }
        }
        Ok(Transport::new(core, h))
    }

    fn transport(&self, core: &Rc<Core>) -> Transport {
        Transport::new(core, self.handle.get().expect("installed before use"))
    }

    /// Name resolution finished: try the addresses in order.
    pub(crate) fn resolved(self: &Rc<Self>, core: &Rc<Core>, result: io::Result<Vec<SocketAddr>>) {
        match result {
            Ok(addrs) if !addrs.is_empty() => {
                self.state.borrow_mut().connecting.get_or_insert_with(Box::default).candidates = addrs.into_iter().rev().collect();
                self.try_next_address(core, None);
            }
            Ok(_) => self.fail_connect(core, Reason::new(ReasonKind::ResolveFailed, "the host name has no addresses")),
            Err(e) => self.fail_connect(
                core,
                Reason::new(ReasonKind::ResolveFailed, &format!("the host name did not resolve: {e}")),
            ),
        }
    }

    fn try_next_address(self: &Rc<Self>, core: &Rc<Core>, last_error: Option<io::Error>) {
        if self.state.borrow().phase != Phase::Connecting {
            return;
        }
        let next = self.state.borrow_mut().connecting.as_mut().and_then(|c| c.candidates.pop());
        let Some(addr) = next else {
            let err = last_error.unwrap_or_else(|| io::Error::from_raw_os_error(libc::ECONNREFUSED));
            return self.fail_connect(core, Reason::from_io(&err));
        };
        match start_connect(addr) {
            Ok(sock) => {
                let h = self.handle.get().expect("installed");
                let fd = sock.as_raw_fd();
                self.state.borrow_mut().socket = Some(sock);
                if let Err(e) = core.register(fd, h, 0, Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY) {
                    self.state.borrow_mut().socket = None;
                    self.try_next_address(core, Some(e));
                }
            }
            Err(e) => self.try_next_address(core, Some(e)),
        }
    }

    /// The socket became writable while connecting: did it work?
    fn finish_connect(self: &Rc<Self>, core: &Rc<Core>) {
        let outcome = {
            let st = self.state.borrow();
            let sock = st.socket.as_ref().expect("connecting socket");
            match sock.take_error() {
                Ok(Some(e)) | Err(e) => Err(e),
                Ok(None) => match sock.peer_addr() {
                    Ok(_) => Ok(()),
                    Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => return, // not yet
                    Err(e) => Err(e),
                },
            }
        };
        match outcome {
            Ok(()) => {
                let timer = {
                    let mut st = self.state.borrow_mut();
                    st.phase = Phase::Connected;
                    st.connecting.take().and_then(|c| c.timer)
                };
                if let Some(timer) = timer {
                    core.timers().cancel(timer);
                }
                let t = self.transport(core);
                self.became_connected(core, &t);
                // The readiness that came with the connect's completion was
                // taken by it: data that arrived with it needs a read.
                self.schedule_read(core);
            }
            Err(e) => {
                // Dropped, hence closed and out of the epoll set (see close).
                drop(self.state.borrow_mut().socket.take());
                self.try_next_address(core, Some(e));
            }
        }
    }

    fn became_connected(self: &Rc<Self>, core: &Rc<Core>, t: &Transport) {
        {
            let mut st = self.state.borrow_mut();
            let sock = st.socket.as_ref().expect("connected socket");
            let local = match st.local.get() {
                Some(a) => Some(a),
                None => sock.local_addr().ok().and_then(|a| a.as_socket()),
            };
            let remote = match st.remote.get() {
                Some(a) => Some(a),
                None => sock.peer_addr().ok().and_then(|a| a.as_socket()),
            };
            st.local = Addr::from(local);
            st.remote = Addr::from(remote);
        }
        self.protocol.with(|p| p.connection_made(t));
        // Anything written while connecting (or from connection_made).
        self.flush(core);
    }

    /// Delivers connection_failed for a client that never connected.
    fn fail_connect(self: &Rc<Self>, core: &Rc<Core>, reason: Reason) {
        let (sock, timer) = {
            let mut st = self.state.borrow_mut();
            if st.phase != Phase::Connecting {
                return;
            }
            st.phase = Phase::Closed;
            st.queue.clear();
            (st.socket.take(), st.connecting.take().and_then(|c| c.timer))
        };
        if let Some(timer) = timer {
            core.timers().cancel(timer);
        }
        drop(sock); // closed, hence out of the epoll set (see close)
        let me = self.clone();
        core.defer(move |core| {
            let t = me.transport(core);
            me.producer.stop(&t);
            me.protocol.with(|p| p.connection_failed(&t, &reason));
            me.protocol.take();
            core.remove(t.handle);
        });
    }

    // ----- reading -----

    fn schedule_read(self: &Rc<Self>, core: &Rc<Core>) {
        let me = self.clone();
        core.defer(move |core| me.read_some(core, false));
    }

    /// Reads until the socket is drained (or the fairness limit). `fresh`:
    /// called for a readiness event just reported by epoll.
    fn read_some(self: &Rc<Self>, core: &Rc<Core>, fresh: bool) {
        let t = self.transport(core);
        for i in 0..READS_PER_EVENT {
            let (fd, mut urgent_pending, fin_seen) = {
                let st = self.state.borrow();
                if st.phase != Phase::Connected || st.reading_paused || st.read_eof || st.disconnecting {
                    return;
                }
                (st.socket.as_ref().expect("connected socket").as_raw_fd(), st.urgent_pending, st.hup_seen)
            };
            // A plain read that starts exactly at the urgent mark makes Linux
            // drop the out-of-band byte. Only the first read after an event
            // can rely on epoll having reported EPOLLPRI; any later read (a
            // continuation, or after a full buffer) checks the mark first —
            // unless the FIN was reported: nothing arrives after it, and the
            // report that carried it had EPOLLPRI set if urgent data was
            // unread, so urgent_pending already tells. A protocol without
            // urgent data does not pay for the check at all.
            let may_be_at_mark = self.urgent && !urgent_pending && !fin_seen && (i > 0 || !fresh);
            if may_be_at_mark && matches!(sys::at_mark(fd), Ok(true)) {
                self.state.borrow_mut().urgent_pending = true;
                urgent_pending = true;
            }
            if urgent_pending {
                match self.take_urgent(&t, fd) {
                    Urgent::Delivered => continue,
                    Urgent::Wait => return,
                    Urgent::NotYet => {}
                }
            }
            let mut buf = core.read_buffer();
            match sys::recv(fd, &mut buf, 0) {
                Ok(0) => {
                    drop(buf);
                    return self.peer_closed_write(core, &t);
                }
                Ok(n) => {
                    self.protocol.with(|p| p.data_received(&t, &buf[..n]));
                    drop(buf);
                    let st = self.state.borrow();
                    if n < READ_BUFFER_SIZE && !st.hup_seen && !st.urgent_pending {
                        // A short read drained the socket; epoll will report
                        // the next arrival as a new edge. (Not so when a FIN
                        // or error is pending, or when the read stopped at
                        // the urgent mark: those were announced already.)
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    drop(buf);
                    return self.close(core, Reason::from_io(&e), false);
                }
            }
        }
        // Still more to read: come back after the others had their turn.
        self.schedule_read(core);
    }

    /// Called before each read while urgent data is announced: delivers the
    /// out-of-band byte once the stream has been read up to its mark, so it
    /// arrives after everything sent before it.
    fn take_urgent(&self, t: &Transport, fd: std::os::fd::RawFd) -> Urgent {
        let mut byte = [0u8; 1];
        // Is there still an unread urgent byte? (EINVAL: no, or already read.)
        match sys::recv(fd, &mut byte, libc::MSG_OOB | libc::MSG_PEEK) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                self.state.borrow_mut().urgent_pending = false;
                return Urgent::NotYet;
            }
            _ => {}
        }
        if !matches!(sys::at_mark(fd), Ok(true)) {
            // Normal data comes first; the next plain read stops at the mark.
            return Urgent::NotYet;
        }
        match sys::recv(fd, &mut byte, libc::MSG_OOB) {
            Ok(1) => {
                self.state.borrow_mut().urgent_pending = false;
                self.protocol.with(|p| p.urgent_data_received(t, &byte));
                Urgent::Delivered
            }
            // The urgent pointer arrived but not the byte yet: a plain read
            // now would skip it. Wait for the next readiness.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Urgent::Wait,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Urgent::Delivered,
            _ => {
                self.state.borrow_mut().urgent_pending = false;
                Urgent::NotYet
            }
        }
    }

    /// The peer sent FIN.
    fn peer_closed_write(self: &Rc<Self>, core: &Rc<Core>, t: &Transport) {
        let write_shut = {
            let mut st = self.state.borrow_mut();
            st.read_eof = true;
            st.write_shut
        };
        if self.half_close {
            self.protocol.with(|p| p.read_connection_lost(t));
            if write_shut {
                self.close(core, Reason::done(), false);
            }
        } else {
            // Nothing written is lost: flush, then close cleanly.
            self.begin_disconnect(core);
        }
    }

    // ----- writing -----

    fn check_writable(st: &State) -> Result<()> {
        if st.phase == Phase::Closed || st.disconnecting || st.write_shut_requested {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// The immediate-write fast path: gather-writes straight from the
    /// caller's buffers, `MAX_IOV` at a time, for as long as the kernel takes
    /// them. Returns the bytes taken.
    ///
    /// It must go on until the kernel refuses (or everything is sent): the
    /// socket is polled edge-triggered, so if it stopped after one batch with
    /// room left in the socket, no writable edge would ever come to flush
    /// what it queued.
    fn try_send(st: &State, bufs: &[IoSlice<'_>], urgent: bool) -> io::Result<usize> {
        if st.phase != Phase::Connected || !st.queue.is_empty() {
            return Ok(0);
        }
        let fd = st.socket.as_ref().expect("connected socket").as_raw_fd();
        let flags = if urgent { libc::MSG_OOB } else { 0 };
        let mut taken = 0;
        // Position: buffer `i`, of which `off` bytes are already sent.
        let (mut i, mut off) = (0, 0);
        loop {
            while i < bufs.len() && off == bufs[i].len() {
                i += 1;
                off = 0;
            }
            if i == bufs.len() {
                return Ok(taken);
            }
            let result = if off == 0 {
                // At a buffer boundary (the common case: the start): send
                // the caller's slices as they are, no copy into a batch.
                sys::send_vectored(fd, &bufs[i..], flags)
            } else {
                send_from_middle(fd, &bufs[i..], off, flags)
            };
            let sent = match result {
                Ok(sent) => sent,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(taken),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if sent == 0 {
                return Ok(taken);
            }
            taken += sent;
            // Advance the position by `sent` bytes.
            let mut left = sent;
            while left > 0 {
                let room = bufs[i].len() - off;
                if left < room {
                    off += left;
                    left = 0;
                } else {
                    left -= room;
                    i += 1;
                    off = 0;
                }
            }
        }
    }

    /// Takes `&self`, not the Rc: the Rc is looked up only in the rare
    /// cases that need one (a deferred flush, a close on error).
    fn write_bufs(&self, core: &Rc<Core>, bufs: &[IoSlice<'_>], urgent: bool) -> Result<()> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Self::check_writable(&self.state.borrow());
        }
        let turn = core.turn_number() as u32;
        let (queued, outcome, schedule_flush) = {
            let mut st = self.state.borrow_mut();
            Self::check_writable(&st)?;
            let coalesce = !urgent && total < COALESCE_BELOW && core.is_running() && st.sent_in_turn == turn;
            if coalesce && st.phase == Phase::Connected {
                // Behind this turn's earlier send: queue it, flush at the end.
                st.queue.push_rest(bufs, 0);
                let schedule = !std::mem::replace(&mut st.flush_scheduled, true);
                (st.queue.len(), Ok(0), schedule)
            } else {
                if st.phase == Phase::Connected && st.queue.is_empty() {
                    st.sent_in_turn = turn;
                }
                let outcome = Self::try_send(&st, bufs, urgent && bufs.len() == 1);
                let taken = *outcome.as_ref().unwrap_or(&0);
                if taken < total {
                    if urgent {
                        let rest: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).skip(taken).collect();
                        st.queue.push_urgent(&rest);
                    } else {
                        st.queue.push_rest(bufs, taken);
                    }
                }
                (st.queue.len(), outcome, false)
            }
        };
        if schedule_flush {
            let me = rc_of(core, self)?;
            core.defer(move |core| {
                me.state.borrow_mut().flush_scheduled = false;
                me.flush(core);
            });
        }
        let t = self.transport(core);
        match outcome {
            Err(e) => rc_of(core, self)?.close(core, Reason::from_io(&e), false),
            Ok(_) if queued == 0 => self.producer.drained(core, &t),
            Ok(_) => self.producer.after_write(&t, queued),
        }
        Ok(())
    }

    /// Writes what is queued; acts on a drained queue.
    fn flush(self: &Rc<Self>, core: &Rc<Core>) {
        let result = {
            let mut st = self.state.borrow_mut();
            if st.phase != Phase::Connected || st.queue.is_empty() {
                Ok(true)
            } else {
                let fd = st.socket.as_ref().expect("connected socket").as_raw_fd();
                st.queue.flush(&mut |bufs: &[IoSlice<'_>], urgent: bool| {
                    sys::send_vectored(fd, bufs, if urgent { libc::MSG_OOB } else { 0 })
                })
            }
        };
        match result {
            Ok(true) => self.after_drain(core),
            Ok(false) => {}
            Err(e) => self.close(core, Reason::from_io(&e), false),
        }
    }

    fn after_drain(self: &Rc<Self>, core: &Rc<Core>) {
        let t = self.transport(core);
        self.producer.drained(core, &t);
        let (shut_now, close_now) = {
            let st = self.state.borrow();
            // The producer may have written (and asked to close) meanwhile:
            // then this is no longer a drained queue.
            if st.phase != Phase::Connected || !st.queue.is_empty() {
                return;
            }
            let shut_now = st.write_shut_requested && !st.write_shut;
            // lose_connection waits for a registered producer to unregister,
            // but a peer that closed a non-half-close connection is not
            // waited on: the producer is stopped when connection_lost comes.
            let peer_gone = st.read_eof && !self.half_close;
            let close_now = st.disconnecting && (!self.producer.is_registered() || peer_gone);
            (shut_now, close_now)
        };
        if close_now {
            return self.close(core, Reason::done(), false);
        }
        if shut_now {
            self.shut_write(core);
        }
    }

    fn shut_write(self: &Rc<Self>, core: &Rc<Core>) {
        let read_eof = {
            let mut st = self.state.borrow_mut();
            st.write_shut = true;
            if let Some(s) = &st.socket {
                let _ = s.shutdown(std::net::Shutdown::Write);
            }
            st.read_eof
        };
        let me = self.clone();
        core.defer(move |core| {
            if me.state.borrow().phase != Phase::Connected {
                return;
            }
            let t = me.transport(core);
            if me.half_close {
                me.protocol.with(|p| p.write_connection_lost(&t));
            }
            // Reading goes on until the peer closes its side too.
            if read_eof || me.state.borrow().read_eof {
                me.close(core, Reason::done(), false);
            }
        });
    }

    // ----- closing -----

    fn begin_disconnect(self: &Rc<Self>, core: &Rc<Core>) {
        {
            let mut st = self.state.borrow_mut();
            if st.disconnecting || st.phase == Phase::Closed {
                return;
            }
            st.disconnecting = true;
        }
        let empty = self.state.borrow().queue.is_empty();
        if empty {
            self.after_drain(core);
        }
    }

    /// Closes the socket now and delivers connection_lost next turn.
    fn close(self: &Rc<Self>, core: &Rc<Core>, reason: Reason, reset: bool) {
        let sock = {
            let mut st = self.state.borrow_mut();
            if st.phase == Phase::Closed {
                return;
            }
            st.phase = Phase::Closed;
            st.queue.clear();
            st.socket.take()
        };
        if let Some(sock) = sock {
            // No EPOLL_CTL_DEL: closing the only descriptor of the socket
            // removes it from the epoll set (one syscall less per
            // connection). Should a forked child still hold a copy, its
            // events carry this connection's token, whose generation no
            // longer matches anything, and are ignored.
            if reset {
                let _ = sock.set_linger(Some(Duration::ZERO));
            }
            drop(sock);
        }
        let me = self.clone();
        let deliver = move |core: &Rc<Core>| {
            let t = me.transport(core);
            me.producer.stop(&t);
            me.protocol.with(|p| p.connection_lost(&t, &reason));
            me.protocol.take();
            core.remove(t.handle);
        };
        if core.shutting_down() && !core.is_running() {
            deliver(core);
        } else {
            core.defer(deliver);
        }
    }
}

/// A gather write of `bufs` whose first `off` bytes were already sent.
/// Out of line: its 1 KiB batch array would otherwise be set up on every
/// write, even the ones that never need it.
#[inline(never)]
fn send_from_middle(fd: std::os::fd::RawFd, bufs: &[IoSlice<'_>], off: usize, flags: i32) -> io::Result<usize> {
    let mut batch = [IoSlice::new(&[]); sys::MAX_IOV];
    let mut n = 0;
    for (k, b) in bufs.iter().take(sys::MAX_IOV).enumerate() {
        let b = if k == 0 { &b[off..] } else { &b[..] };
        batch[n] = IoSlice::new(b);
        n += 1;
    }
    sys::send_vectored(fd, &batch[..n], flags)
}

fn start_connect(addr: SocketAddr) -> io::Result<Socket> {
    let sock = Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM.cloexec(), None)?;
    sock.set_nonblocking(true)?;
    match sock.connect(&addr.into()) {
        Ok(()) => Ok(sock),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(sock),
        Err(e) => Err(e),
    }
}

impl Object for TcpConnection {
    fn ready(self: Rc<Self>, core: &Rc<Core>, _sub: u8, r: Readiness) {
        let phase = self.state.borrow().phase;
        match phase {
            Phase::Closed => {}
            Phase::Connecting => {
                if r.writable || r.error || r.read_closed {
                    self.finish_connect(core);
                }
            }
            Phase::Connected => {
                let newly_urgent = {
                    let mut st = self.state.borrow_mut();
                    st.hup_seen |= r.read_closed || r.error;
                    let newly = r.priority && !st.urgent_pending;
                    st.urgent_pending |= r.priority;
                    newly
                };
                if newly_urgent {
                    // Before the data in front of the mark is delivered, so
                    // telnet can discard it (Synch).
                    let t = self.transport(core);
                    self.protocol.with(|p| p.urgent_pending(&t));
                }
                if r.writable {
                    // Most writable edges find nothing queued and nobody
                    // waiting for a drain: skip the flush bookkeeping then.
                    let idle = {
                        let st = self.state.borrow();
                        st.queue.is_empty() && !st.disconnecting && !st.write_shut_requested
                    };
                    if !idle || self.producer.is_registered() {
                        self.flush(core);
                    }
                }
                if r.readable || r.priority || r.read_closed || r.error {
                    self.read_some(core, true);
                }
            }
        }
    }

    fn transport(&self) -> Option<&dyn TransportOps> {
        Some(self)
    }

    fn shutdown(self: Rc<Self>, core: &Rc<Core>) {
        let connecting = self.state.borrow().phase == Phase::Connecting;
        if connecting {
            self.fail_connect(core, Reason::new(ReasonKind::Shutdown, "the reactor was freed"));
        } else {
            self.close(core, Reason::new(ReasonKind::Shutdown, "the reactor was freed"), false);
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Finds the Rc of `conn` again (TransportOps methods take `&self`).
fn rc_of(core: &Rc<Core>, conn: &TcpConnection) -> Result<Rc<TcpConnection>> {
    core.object_as::<TcpConnection>(conn.handle.get().ok_or(Error::StaleHandle)?)
}

impl TransportOps for TcpConnection {
    fn write(&self, core: &Rc<Core>, data: &[u8]) -> Result<()> {
        self.write_bufs(core, &[IoSlice::new(data)], false)
    }

    fn write_sequence(&self, core: &Rc<Core>, bufs: &[IoSlice<'_>]) -> Result<()> {
        self.write_bufs(core, bufs, false)
    }

    fn write_urgent(&self, core: &Rc<Core>, data: &[u8]) -> Result<()> {
        self.write_bufs(core, &[IoSlice::new(data)], true)
    }

    fn lose_connection(&self, core: &Rc<Core>) -> Result<()> {
        let me = rc_of(core, self)?;
        if me.state.borrow().phase == Phase::Connecting {
            me.fail_connect(core, Reason::new(ReasonKind::Cancelled, "the connection attempt was cancelled"));
        } else {
            me.begin_disconnect(core);
        }
        Ok(())
    }

    fn lose_write_connection(&self, core: &Rc<Core>) -> Result<()> {
        let me = rc_of(core, self)?;
        {
            let mut st = me.state.borrow_mut();
            if st.phase == Phase::Closed || st.write_shut_requested {
                return Ok(());
            }
            st.write_shut_requested = true;
        }
        if me.state.borrow().queue.is_empty() {
            me.after_drain(core);
        }
        Ok(())
    }

    fn abort_connection(&self, core: &Rc<Core>) -> Result<()> {
        let me = rc_of(core, self)?;
        let phase = me.state.borrow().phase;
        match phase {
            Phase::Connecting => me.fail_connect(core, Reason::new(ReasonKind::Cancelled, "the connection attempt was aborted")),
            // The producer is stopped with the final notification, from the
            // loop: stopping it here would run its code inside this call.
            Phase::Connected => me.close(core, Reason::new(ReasonKind::Aborted, "the connection was aborted"), true),
            Phase::Closed => {}
        }
        Ok(())
    }

    fn host(&self) -> Result<Address> {
        self.state.borrow().local.get().map(Address::Inet).ok_or(Error::NotConnected)
    }

    fn peer(&self) -> Result<Address> {
        self.state.borrow().remote.get().map(Address::Inet).ok_or(Error::NotConnected)
    }

    fn producer(&self) -> &ProducerSlot {
        &self.producer
    }

    fn set_reading(&self, core: &Rc<Core>, reading: bool) -> Result<()> {
        let me = rc_of(core, self)?;
        let was_paused = std::mem::replace(&mut me.state.borrow_mut().reading_paused, !reading);
        if reading && was_paused {
            // Edge-triggered: data may have arrived while paused.
            me.schedule_read(core);
        }
        Ok(())
    }

    fn queued(&self) -> usize {
        self.state.borrow().queue.len()
    }

    fn producer_unregistered(&self, core: &Rc<Core>) {
        if let Ok(me) = rc_of(core, self) {
            if me.state.borrow().queue.is_empty() {
                me.after_drain(core);
            }
        }
    }

    fn user_data(&self) -> &Cell<usize> {
        &self.user
    }
}

impl TcpConnection {
    /// Runs `f` on the socket, for the TCP option calls.
    pub(crate) fn with_socket<R>(&self, f: impl FnOnce(&Socket) -> io::Result<R>) -> Result<R> {
        let st = self.state.borrow();
        let sock = st.socket.as_ref().ok_or(Error::NotConnected)?;
        f(sock).map_err(Error::from)
    }
}
