//! Opening a connection: passively (wait for one incoming connection) or
//! actively (connect, trying each resolved address in turn).

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Socket, Type};

use super::codes::{Event, TerminateReason};
use super::engine::{register, Engine, Lane, Pending, Phase, CONNECTION, LISTENER};
use super::shared::{Passive, Reply};
use crate::error::{Error, ErrorKind, Result};
use crate::reactor::Core;

/// An active open in progress.
pub(crate) struct Connect {
    targets: VecDeque<SocketAddr>,
    local_port: u16,
    last_error: Option<io::Error>,
}

/// The options every connection socket gets: urgent data stays in line
/// (rcv reports it with SIOCATMARK), no Nagle delay (push decides), and
/// ICMP errors reported at once (IP_RECVERR; see `Engine::io_error`).
fn prepare(sock: &Socket) -> io::Result<()> {
    sock.set_nonblocking(true)?;
    sock.set_out_of_band_inline(true)?;
    sock.set_tcp_nodelay(true)?;
    let fd = sock.as_raw_fd();
    // IPv4 traffic, also on an IPv6 socket (v4-mapped addresses).
    set_int(fd, libc::IPPROTO_IP, libc::IP_RECVERR, 1)?;
    if sock.domain()? == Domain::IPV6 {
        set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVERR, 1)?;
    }
    Ok(())
}

fn set_int(fd: std::os::fd::RawFd, level: i32, name: i32, value: libc::c_int) -> io::Result<()> {
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    crate::sys::syscall!(setsockopt(fd, level, name, &value as *const libc::c_int as *const libc::c_void, len))?;
    Ok(())
}

fn start_connect(addr: SocketAddr, local_port: u16) -> io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM.cloexec(), None)?;
    prepare(&sock)?;
    if local_port != 0 {
        sock.set_reuse_address(true)?;
        let local: SocketAddr = match addr {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, local_port).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, local_port).into(),
        };
        sock.bind(&local.into())?;
    }
    match sock.connect(&addr.into()) {
        Ok(()) => Ok(sock),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(sock),
        Err(e) => Err(e),
    }
}

impl Engine {
    /// Opening is allowed on a new stream or after a connection ended.
    fn may_open(&self) -> Result<()> {
        match self.st.borrow().phase {
            Phase::Idle | Phase::Gone(_) => Ok(()),
            Phase::Listening => Err(ErrorKind::PassiveOpenInProgress.into()),
            Phase::Connecting | Phase::Open => Err(ErrorKind::InvalidState.into()),
        }
    }

    fn begin(&self, phase: Phase) {
        let mut st = self.st.borrow_mut();
        st.phase = phase;
        st.data_notified = false;
        st.urgent_notified = false;
        st.urgent_returned = false;
        st.peer_done = false;
        st.write_closed = false;
        st.close_done = false;
    }

    /// Listens on `local` (port 0 = any free port) for one connection.
    /// Binding errors are reported at once.
    pub(super) fn passive_open(self: &Rc<Self>, core: &Rc<Core>, local: SocketAddr) -> Result<()> {
        self.may_open()?;
        let sock = Socket::new(Domain::for_address(local), Type::STREAM.cloexec(), None)?;
        sock.set_reuse_address(true)?;
        prepare(&sock)?;
        sock.bind(&local.into())?;
        sock.listen(1)?;
        let local = sock.local_addr()?.as_socket();
        register(core, self, sock.as_raw_fd(), LISTENER)?;
        self.begin(Phase::Listening);
        self.st.borrow_mut().listener = Some(sock);
        self.shared.update(|p| {
            p.passive = Passive::Pending;
            p.local = local;
        });
        Ok(())
    }

    /// The listening socket is readable: take the one connection.
    pub(super) fn accept(self: &Rc<Self>, core: &Rc<Core>) {
        loop {
            let result = match self.st.borrow().listener.as_ref() {
                Some(l) => l.accept(),
                None => return,
            };
            match result {
                Ok((sock, _)) => {
                    let adopted = prepare(&sock).map_err(Error::from).and_then(|()| self.adopt(core, sock));
                    return self.passive_done(core, adopted);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if matches!(e.raw_os_error(), Some(libc::ECONNABORTED | libc::EINTR)) => continue,
                Err(e) => return self.passive_done(core, Err(e.into())),
            }
        }
    }

    fn passive_done(&self, core: &Rc<Core>, result: Result<()>) {
        let listener = self.st.borrow_mut().listener.take();
        if let Some(l) = listener {
            core.deregister(l.as_raw_fd());
        }
        match result {
            Ok(()) => {
                self.notify(Event::PassiveOpenDone, 0);
                self.shared.update(|p| p.passive = Passive::Idle);
            }
            Err(e) => {
                self.st.borrow_mut().phase = Phase::Idle;
                self.notify(Event::PassiveOpenDone, -1);
                self.shared.update(|p| {
                    p.passive = Passive::Failed(e);
                    p.local = None;
                });
            }
        }
    }

    /// Makes the accepted `sock` the stream's connection.
    fn adopt(&self, core: &Rc<Core>, sock: Socket) -> Result<()> {
        register(core, self, sock.as_raw_fd(), CONNECTION)?;
        self.established(Arc::new(sock))
    }

    /// `sock` is connected: it is the stream's connection from now on.
    /// The kernel's bytes_acked already counts our SYN after an active
    /// open (the SYN-ACK acknowledges it) and nothing after a passive one;
    /// status subtracts what it counts now, so both start at 0.
    fn established(&self, sock: Arc<Socket>) -> Result<()> {
        self.apply_ulp(&sock)?;
        let local = sock.local_addr().ok().and_then(|a| a.as_socket());
        let acked_base = super::status::bytes_acked(&sock).unwrap_or(0);
        {
            let mut st = self.st.borrow_mut();
            st.conn = Some(sock.clone());
            st.phase = Phase::Open;
        }
        self.shared.update(|p| {
            p.sock = Some(sock);
            p.local = local;
            p.acked_base = acked_base;
        });
        Ok(())
    }

    /// Connects from `local_port` to the first of `targets` that answers.
    pub(super) fn active_open(
        self: &Rc<Self>,
        core: &Rc<Core>,
        ticket: u64,
        local_port: u16,
        targets: Vec<SocketAddr>,
        timeout: Option<Duration>,
    ) -> Result<Option<Reply>> {
        self.may_open()?;
        if targets.is_empty() {
            return Err(ErrorKind::BadAddress.into());
        }
        self.begin(Phase::Connecting);
        let connect = Connect { targets: targets.into(), local_port, last_error: None };
        self.set_pending(core, ticket, Pending::Connect(connect), timeout);
        self.try_next_target(core);
        Ok(None)
    }

    fn try_next_target(self: &Rc<Self>, core: &Rc<Core>) {
        loop {
            let (next, local_port) = match self.st.borrow_mut().op(Lane::Send) {
                Some(Pending::Connect(c)) => (c.targets.pop_front(), c.local_port),
                _ => return,
            };
            let Some(addr) = next else {
                let err = match self.st.borrow_mut().op(Lane::Send) {
                    Some(Pending::Connect(c)) => c.last_error.take(),
                    _ => None,
                };
                let err = err.unwrap_or_else(|| io::Error::from_raw_os_error(libc::ECONNREFUSED));
                let code = err.raw_os_error().unwrap_or(0);
                return self.terminate(core, TerminateReason::from_errno(code), err.into(), false);
            };
            let attempt = start_connect(addr, local_port).and_then(|sock| {
                register(core, self, sock.as_raw_fd(), CONNECTION).map_err(|_| io::Error::other("register"))?;
                Ok(sock)
            });
            match attempt {
                Ok(sock) => {
                    self.st.borrow_mut().conn = Some(Arc::new(sock));
                    return;
                }
                Err(e) => self.remember_error(e),
            }
        }
    }

    fn remember_error(&self, e: io::Error) {
        if let Some(Pending::Connect(c)) = self.st.borrow_mut().op(Lane::Send) {
            c.last_error = Some(e);
        }
    }

    /// The connecting socket reported something: connected, or failed.
    pub(super) fn connect_progress(self: &Rc<Self>, core: &Rc<Core>) {
        let Some(sock) = self.st.borrow().conn.clone() else { return };
        let error = match sock.take_error() {
            Ok(None) if sock.peer_addr().is_ok() => None,
            Ok(None) => return, // not finished yet
            Ok(Some(e)) | Err(e) => Some(e),
        };
        match error {
            None => match self.established(sock) {
                Ok(()) => self.finish(Lane::Send, Ok(Reply::Done)),
                Err(e) => self.terminate(core, TerminateReason::ServiceError, e, false),
            },
            Some(e) => {
                drop(sock);
                self.drop_connection(core, false);
                self.remember_error(e);
                self.try_next_target(core);
            }
        }
    }

    /// The time limit of an active open passed.
    pub(super) fn connect_timed_out(&self, core: &Rc<Core>) {
        self.terminate(core, TerminateReason::UlpTimeout, ErrorKind::TimedOut.into(), false);
    }
}
