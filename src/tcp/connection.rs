//! TCP as a kind of the shared connection lifecycle ([`crate::transport::connection`]):
//! its primitives (recv, sendmsg, shutdown, a reset on abort), client connects (trying
//! each resolved address, with a timeout), urgent data, and its addresses. Reading,
//! writing, half-close, closing and producers are the lifecycle's.

use std::cell::{Cell, RefCell};
use std::io::{self, IoSlice};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

use mio::Interest;
use socket2::{SockRef, Socket};

use crate::error::{Error, ErrorKind, Result};
use crate::reactor::handles::Handle;
use crate::reactor::{Core, Readiness};
use crate::sys;
use crate::transport::connection::{Connection, Kind, Phase, Read, ReadCtx};
use crate::transport::{Address, Protocol, Reason, ReasonKind, Transport};

/// A TCP connection (accepted or client).
pub(crate) type TcpConnection = Connection<Tcp>;

/// What [`take_urgent`] did.
enum Urgent {
    /// The urgent byte was read.
    Taken(u8),
    /// Not at the mark (or nothing urgent): read normal data.
    NotYet,
    /// At the mark but the byte has not arrived: read nothing for now.
    Wait,
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

/// The TCP kind's own state.
pub(crate) struct Tcp {
    /// The protocol handles urgent data (see Protocol::receives_urgent_data).
    urgent: bool,
    /// The poll reported urgent data (EPOLLPRI) not yet delivered. While
    /// set, every read first checks for the urgent mark: a plain read that
    /// starts exactly at the mark would silently skip the out-of-band byte.
    urgent_pending: Cell<bool>,
    st: RefCell<TcpState>,
}

struct TcpState {
    local: Addr,
    remote: Addr,
    /// A client's connecting state (boxed: accepted connections, the
    /// many, never need it).
    connecting: Option<Box<Connecting>>,
}

impl Tcp {
    fn new(protocol: &dyn Protocol, local: Option<SocketAddr>, remote: Option<SocketAddr>) -> Tcp {
        Tcp {
            urgent: protocol.receives_urgent_data(),
            urgent_pending: Cell::new(false),
            st: RefCell::new(TcpState { local: Addr::from(local), remote: Addr::from(remote), connecting: None }),
        }
    }
}

impl Connection<Tcp> {
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
        let conn = Rc::new(Connection::new(Tcp::new(protocol.as_ref(), local, remote), protocol));
        let t = conn.install(core, Some(OwnedFd::from(socket)))?;
        // No read is scheduled: registering the socket (edge-triggered)
        // makes the next poll report whatever has already arrived, urgent
        // data included, so the first read is a fresh one.
        conn.became_connected(core);
        Ok(t)
    }

    /// Starts a client connection, which waits for [`Connection::resolved`].
    pub(crate) fn connecting(core: &Rc<Core>, protocol: Box<dyn Protocol>, timeout: Option<Duration>) -> Result<Transport> {
        let conn = Rc::new(Connection::new(Tcp::new(protocol.as_ref(), None, None), protocol));
        let t = conn.install(core, None)?;
        if let Some(timeout) = timeout {
            let h = t.handle;
            let timer = core.call_later_internal(timeout, move |core| {
                if let Ok(c) = core.object_as::<TcpConnection>(h) {
                    if let Some(cn) = c.kind.st.borrow_mut().connecting.as_mut() {
                        cn.timer = None;
                    }
                    c.fail(core, Reason::new(ReasonKind::TimedOut, "connection attempt timed out"));
                }
            });
            conn.kind.st.borrow_mut().connecting.get_or_insert_with(Box::default).timer = timer;
        }
        Ok(t)
    }

    /// Name resolution finished: try the addresses in order.
    pub(crate) fn resolved(self: &Rc<Self>, core: &Rc<Core>, result: io::Result<Vec<SocketAddr>>) {
        match result {
            Ok(addrs) if !addrs.is_empty() => {
                self.kind.st.borrow_mut().connecting.get_or_insert_with(Box::default).candidates = addrs.into_iter().rev().collect();
                self.try_next_address(core, None);
            }
            Ok(_) => self.fail(core, Reason::new(ReasonKind::ResolveFailed, "the host name has no addresses")),
            Err(e) => self.fail(core, Reason::new(ReasonKind::ResolveFailed, &format!("the host name did not resolve: {e}"))),
        }
    }

    fn try_next_address(self: &Rc<Self>, core: &Rc<Core>, last_error: Option<io::Error>) {
        if self.phase() != Phase::Connecting {
            return;
        }
        let next = self.kind.st.borrow_mut().connecting.as_mut().and_then(|c| c.candidates.pop());
        let Some(addr) = next else {
            let err = last_error.unwrap_or_else(|| io::Error::from_raw_os_error(libc::ECONNREFUSED));
            return self.fail(core, Reason::connect_failed(&err));
        };
        match start_connect(addr) {
            Ok(sock) => {
                if let Err(e) = self.attach_fd(core, OwnedFd::from(sock)) {
                    self.try_next_address(core, Some(e));
                }
            }
            Err(e) => self.try_next_address(core, Some(e)),
        }
    }

    /// The socket became writable while connecting: did it work?
    fn finish_connect(self: &Rc<Self>, core: &Rc<Core>) {
        let outcome = self.with_fd(|fd| {
            let sock = SockRef::from(&fd);
            match sock.take_error() {
                Ok(Some(e)) | Err(e) => Err(e),
                Ok(None) => match sock.peer_addr() {
                    Ok(_) => Ok(true),
                    Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(false), // not yet
                    Err(e) => Err(e),
                },
            }
        });
        match outcome {
            None | Some(Ok(false)) => {}
            Some(Ok(true)) => {
                let timer = self.kind.st.borrow_mut().connecting.take().and_then(|c| c.timer);
                if let Some(timer) = timer {
                    core.timers().cancel(timer);
                }
                self.became_connected(core);
                // The readiness that came with the connect's completion was
                // taken by it: data that arrived with it needs a read.
                self.schedule_read(core);
            }
            Some(Err(e)) => {
                self.detach_fd();
                self.try_next_address(core, Some(e));
            }
        }
    }

    fn became_connected(self: &Rc<Self>, core: &Rc<Core>) {
        let (local, remote) = {
            let st = self.kind.st.borrow();
            (st.local.get(), st.remote.get())
        };
        if local.is_none() || remote.is_none() {
            let (local, remote) = self
                .with_fd(|fd| {
                    let sock = SockRef::from(&fd);
                    let local = local.or_else(|| sock.local_addr().ok().and_then(|a| a.as_socket()));
                    let remote = remote.or_else(|| sock.peer_addr().ok().and_then(|a| a.as_socket()));
                    (local, remote)
                })
                .unwrap_or((local, remote));
            let mut st = self.kind.st.borrow_mut();
            st.local = Addr::from(local);
            st.remote = Addr::from(remote);
        }
        self.opened(core);
    }

    /// Runs `f` on the socket, for the TCP option calls.
    pub(crate) fn with_socket<R>(&self, f: impl FnOnce(&Socket) -> io::Result<R>) -> Result<R> {
        let r = self.with_fd(|fd| f(&SockRef::from(&fd))).ok_or(ErrorKind::NotConnected)?;
        r.map_err(Error::from)
    }
}

impl Kind for Tcp {
    const HALF_CLOSE: bool = true;
    const URGENT: bool = true;

    fn interest(&self) -> Interest {
        Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY
    }

    #[inline]
    fn read(conn: &Connection<Tcp>, fd: RawFd, buf: &mut [u8], ctx: ReadCtx) -> io::Result<Read> {
        let tcp = &conn.kind;
        // A plain read that starts exactly at the urgent mark makes Linux
        // drop the out-of-band byte. Only the first read after an event
        // can rely on epoll having reported EPOLLPRI; any later read (a
        // continuation, or after a full buffer) checks the mark first —
        // unless the FIN was reported: nothing arrives after it, and the
        // report that carried it had EPOLLPRI set if urgent data was
        // unread, so urgent_pending already tells. A protocol without
        // urgent data does not pay for the check at all.
        let may_be_at_mark = tcp.urgent && !tcp.urgent_pending.get() && !ctx.hup_seen && !ctx.fresh;
        if may_be_at_mark && matches!(sys::at_mark(fd), Ok(true)) {
            tcp.urgent_pending.set(true);
        }
        if tcp.urgent_pending.get() {
            match take_urgent(tcp, fd)? {
                Urgent::Taken(byte) => return Ok(Read::Urgent(byte)),
                Urgent::Wait => return Ok(Read::Wait),
                Urgent::NotYet => {}
            }
        }
        match sys::recv(fd, buf, 0)? {
            0 => Ok(Read::Eof),
            n => Ok(Read::Data(n)),
        }
    }

    fn short_read_drains(conn: &Connection<Tcp>) -> bool {
        // A read that stopped at the urgent mark has more behind it.
        !conn.kind.urgent_pending.get()
    }

    fn write(fd: RawFd, bufs: &[IoSlice<'_>], urgent: bool) -> io::Result<usize> {
        sys::send_vectored(fd, bufs, if urgent { libc::MSG_OOB } else { 0 })
    }

    fn shutdown_write(fd: BorrowedFd<'_>) {
        let _ = SockRef::from(&fd).shutdown(std::net::Shutdown::Write);
    }

    fn closing(_core: &Core, fd: BorrowedFd<'_>, reset: bool) {
        if reset {
            let _ = SockRef::from(&fd).set_linger(Some(Duration::ZERO));
        }
    }

    fn closed(conn: &Connection<Tcp>, core: &Rc<Core>) {
        let timer = conn.kind.st.borrow_mut().connecting.take().and_then(|c| c.timer);
        if let Some(timer) = timer {
            core.timers().cancel(timer);
        }
    }

    fn pending_error(fd: BorrowedFd<'_>) -> Option<io::Error> {
        SockRef::from(&fd).take_error().ok().flatten()
    }

    fn ready(conn: &Rc<Connection<Tcp>>, core: &Rc<Core>, r: Readiness) {
        if r.priority && !conn.kind.urgent_pending.replace(true) && !conn.is_disconnecting() {
            // Before the data in front of the mark is delivered, so
            // telnet can discard it (Synch).
            let t = conn.transport(core);
            conn.with_protocol(|p| p.urgent_pending(&t));
        }
    }

    fn connecting_ready(conn: &Rc<Connection<Tcp>>, core: &Rc<Core>, r: Readiness) {
        if r.writable || r.error || r.read_closed {
            conn.finish_connect(core);
        }
    }

    fn host(conn: &Connection<Tcp>) -> Result<Address> {
        conn.kind.st.borrow().local.get().map(Address::Inet).ok_or_else(|| ErrorKind::NotConnected.into())
    }

    fn peer(conn: &Connection<Tcp>) -> Result<Address> {
        conn.kind.st.borrow().remote.get().map(Address::Inet).ok_or_else(|| ErrorKind::NotConnected.into())
    }
}

/// Called before each read while urgent data is announced: takes the
/// out-of-band byte once the stream has been read up to its mark, so it
/// arrives after everything sent before it.
fn take_urgent(tcp: &Tcp, fd: RawFd) -> io::Result<Urgent> {
    let mut byte = [0u8; 1];
    // Is there still an unread urgent byte? (EINVAL: no, or already read.)
    if let Err(e) = sys::recv(fd, &mut byte, libc::MSG_OOB | libc::MSG_PEEK) {
        if e.raw_os_error() == Some(libc::EINVAL) {
            tcp.urgent_pending.set(false);
            return Ok(Urgent::NotYet);
        }
    }
    if !matches!(sys::at_mark(fd), Ok(true)) {
        // Normal data comes first; the next plain read stops at the mark.
        return Ok(Urgent::NotYet);
    }
    match sys::recv(fd, &mut byte, libc::MSG_OOB) {
        Ok(1) => {
            tcp.urgent_pending.set(false);
            Ok(Urgent::Taken(byte[0]))
        }
        // The urgent pointer arrived but not the byte yet: a plain read
        // now would skip it. Wait for the next readiness.
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Urgent::Wait),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
        _ => {
            tcp.urgent_pending.set(false);
            Ok(Urgent::NotYet)
        }
    }
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

