//! TCP: listening ports, client connections, TCP options and urgent data.

mod connection;
mod listener;
mod options;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::rc::{Rc, Weak};
use std::time::Duration;

pub(crate) use connection::TcpConnection;
pub use listener::ProtocolFactory;
use listener::Listener;
pub use options::KeepAlive;

use crate::error::{Error, ErrorKind, Result};
use crate::reactor::handles::Handle;
use crate::reactor::{Core, Reactor};
use crate::transport::{Address, Protocol, Transport};

/// A port accepting connections, from [`Reactor::listen_tcp`].
#[derive(Clone)]
pub struct ListeningPort {
    core: Weak<Core>,
    pub(crate) handle: Handle,
}

impl ListeningPort {
    pub(crate) fn new(core: &Rc<Core>, handle: Handle) -> ListeningPort {
        ListeningPort { core: Rc::downgrade(core), handle }
    }

    fn listener(&self) -> Result<(Rc<Core>, Rc<Listener>)> {
        let core = self.core.upgrade().ok_or(ErrorKind::StaleHandle)?;
        let l = core.object_as::<Listener>(self.handle)?;
        Ok((core, l))
    }

    /// The address actually bound (with the real port when 0 was asked).
    pub fn host(&self) -> Result<Address> {
        Ok(Address::Inet(self.listener()?.1.local()))
    }

    /// Stops accepting and closes the port. Connections already accepted are
    /// left alone. The handle is stale afterwards.
    pub fn stop_listening(&self) -> Result<()> {
        let (core, l) = self.listener()?;
        l.stop(&core);
        Ok(())
    }
}

/// How a port listens (see [`Reactor::listen_tcp_with`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenOptions {
    /// Set SO_REUSEPORT, so that other sockets (typically other reactors'
    /// on other threads) may listen on the same address and port, every
    /// one of them with it set; the kernel balances connections among them.
    pub reuse_port: bool,
}

/// Parses a listening interface: "" means every IPv4 interface.
pub fn parse_interface(interface: &str, port: u16) -> Result<SocketAddr> {
    if interface.is_empty() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    let ip: IpAddr = interface.parse().map_err(|_| ErrorKind::BadAddress)?;
    Ok(SocketAddr::new(ip, port))
}

impl Reactor {
    /// Listens on `interface` ("127.0.0.1", "::1", "::", "" for all IPv4)
    /// and `port` (0 picks a free one). `backlog` ≤ 0 means the system
    /// maximum. `factory` builds a protocol for each connection.
    pub fn listen_tcp(
        &self,
        interface: &str,
        port: u16,
        backlog: i32,
        factory: impl FnMut(&Address) -> Box<dyn Protocol> + 'static,
    ) -> Result<ListeningPort> {
        self.listen_tcp_with(interface, port, backlog, ListenOptions::default(), factory)
    }

    /// As [`Reactor::listen_tcp`], with [`ListenOptions`]: with `reuse_port`,
    /// reactors on several threads can each listen on the same port
    /// (SO_REUSEPORT) and the kernel spreads the connections over them.
    pub fn listen_tcp_with(
        &self,
        interface: &str,
        port: u16,
        backlog: i32,
        options: ListenOptions,
        factory: impl FnMut(&Address) -> Box<dyn Protocol> + 'static,
    ) -> Result<ListeningPort> {
        let addr = parse_interface(interface, port)?;
        let h = Listener::open(&self.core, addr, backlog, options.reuse_port, Box::new(factory))?;
        Ok(ListeningPort::new(&self.core, h))
    }

    /// Connects to `host` (a name or a literal address) and `port`. Name
    /// resolution runs on a helper thread, never blocking the loop. The
    /// protocol gets connection_made, or connection_failed with a reason
    /// (REFUSED, TIMED_OUT, UNREACHABLE, RESOLVE_FAILED, CANCELLED).
    pub fn connect_tcp(
        &self,
        host: &str,
        port: u16,
        timeout: Option<Duration>,
        protocol: Box<dyn Protocol>,
    ) -> Result<Transport> {
        if host.is_empty() || host.contains('\0') {
            return Err(ErrorKind::BadAddress.into());
        }
        let t = TcpConnection::connecting(&self.core, protocol, timeout)?;
        let conn = self.core.object_as::<TcpConnection>(t.handle)?;
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            conn.resolved(&self.core, Ok(vec![SocketAddr::new(ip, port)]));
            return Ok(t);
        }
        let host = host.to_owned();
        let stopper = self.stopper();
        let h = t.handle;
        std::thread::Builder::new()
            .name("marline-resolve".into())
            .spawn(move || {
                let result = (host.as_str(), port).to_socket_addrs().map(|it| it.collect::<Vec<_>>());
                let _ = stopper.call_from_thread(move |r| {
                    if let Ok(conn) = r.core.object_as::<TcpConnection>(h) {
                        conn.resolved(&r.core, result);
                    }
                });
            })
            .map_err(Error::from)?;
        Ok(t)
    }
}
