//! A listening port: accepts connections and builds a protocol for each.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use mio::Interest;
use socket2::Socket;

use super::connection::TcpConnection;
use crate::error::Result;
use crate::reactor::handles::Handle;
use crate::reactor::{Core, Object, Readiness};
use crate::transport::{Address, Protocol};

/// Builds the protocol for each accepted connection, given the peer.
pub type ProtocolFactory = Box<dyn FnMut(&Address) -> Box<dyn Protocol>>;

/// Accepts per readiness event before yielding to other work.
const ACCEPTS_PER_EVENT: usize = 64;
/// How long accepting pauses when the process is out of descriptors.
const EMFILE_BACKOFF: Duration = Duration::from_millis(50);

pub(crate) struct Listener {
    handle: Cell<Option<Handle>>,
    socket: RefCell<Option<Socket>>,
    factory: RefCell<ProtocolFactory>,
    local: SocketAddr,
    /// Accepting is paused after EMFILE until the retry timer fires.
    backing_off: Cell<bool>,
}

impl Listener {
    pub(crate) fn open(core: &Rc<Core>, addr: SocketAddr, backlog: i32, reuse_port: bool, factory: ProtocolFactory) -> Result<Handle> {
        let sock = Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM.cloexec(), None)?;
        sock.set_reuse_address(true)?;
        if reuse_port {
            // Several sockets (one per reactor thread) share the port; the
            // kernel spreads incoming connections over them.
            sock.set_reuse_port(true)?;
        }
        if addr.is_ipv6() {
            // "::" accepts IPv4 too, as the system default usually does.
            let _ = sock.set_only_v6(false);
        }
        sock.set_nonblocking(true)?;
        sock.bind(&addr.into())?;
        sock.listen(if backlog > 0 { backlog } else { libc::SOMAXCONN })?;
        let local = sock.local_addr()?.as_socket().unwrap_or(addr);
        let fd = sock.as_raw_fd();
        let listener = Rc::new(Listener {
            handle: Cell::new(None),
            socket: RefCell::new(Some(sock)),
            factory: RefCell::new(factory),
            local,
            backing_off: Cell::new(false),
        });
        let h = core.insert(listener.clone())?;
        listener.handle.set(Some(h));
        if let Err(e) = core.register(fd, h, 0, Interest::READABLE) {
            core.remove(h);
            return Err(e.into());
        }
        Ok(h)
    }

    pub(crate) fn local(&self) -> SocketAddr {
        self.local
    }

    /// Stops accepting and frees the port; accepted connections stay.
    pub(crate) fn stop(&self, core: &Rc<Core>) {
        if let Some(sock) = self.socket.borrow_mut().take() {
            core.deregister(sock.as_raw_fd());
        }
        if let Some(h) = self.handle.take() {
            core.remove(h);
        }
    }

    fn accept_some(self: &Rc<Self>, core: &Rc<Core>) {
        for _ in 0..ACCEPTS_PER_EVENT {
            // Non-blocking and close-on-exec from the start: no fcntl calls.
            let accepted = match &*self.socket.borrow() {
                Some(sock) => sock.accept4(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK),
                None => return,
            };
            match accepted {
                Ok((sock, peer)) => {
                    let remote = peer.as_socket();
                    let peer = remote.map(Address::Inet).unwrap_or(Address::Inet(self.local));
                    let protocol = (self.factory.borrow_mut())(&peer);
                    // Bound to one address, the local end is the listener's
                    // own; bound to a wildcard, ask the socket.
                    let local = Some(self.local).filter(|a| !a.ip().is_unspecified());
                    if TcpConnection::accepted(core, sock, protocol, local, remote).is_err() {
                        crate::log::warn(core, "could not set up an accepted connection");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)) => {
                    // Out of descriptors: the connection stays in the backlog;
                    // retry later instead of spinning on a readable socket.
                    crate::log::warn(core, &format!("accept failed ({e}); retrying in {EMFILE_BACKOFF:?}"));
                    return self.back_off(core);
                }
                Err(e) => {
                    // ECONNABORTED and friends concern one connection only.
                    crate::log::warn(core, &format!("accept failed: {e}"));
                }
            }
        }
        // More may be waiting: continue after other work had its turn.
        let me = self.clone();
        core.defer(move |core| me.accept_some(core));
    }

    fn back_off(self: &Rc<Self>, core: &Rc<Core>) {
        if self.backing_off.replace(true) {
            return;
        }
        let me = self.clone();
        core.call_later_internal(EMFILE_BACKOFF, move |core| {
            me.backing_off.set(false);
            me.accept_some(core);
        });
    }
}

impl Object for Listener {
    fn ready(self: Rc<Self>, core: &Rc<Core>, _sub: u8, _r: Readiness) {
        if !self.backing_off.get() {
            self.accept_some(core);
        }
    }

    fn shutdown(self: Rc<Self>, core: &Rc<Core>) {
        self.stop(core);
    }

    fn into_any(self: Rc<Self>) -> Rc<dyn Any> {
        self
    }
}
