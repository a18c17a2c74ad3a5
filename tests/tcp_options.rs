//! TCP_NODELAY and SO_KEEPALIVE (with idle/interval/count), read back from
//! the socket itself.
mod common;

use std::time::Duration;

use common::*;
use marline::{ErrorKind, KeepAlive, Reactor};
use socket2::SockRef;

fn both_ends(r: &Reactor) -> Vec<(marline::Transport, std::net::TcpStream, Log)> {
    let l1: Log = Default::default();
    let (t1, p1) = client_pair(r, Recorder::new(&l1));
    let l2: Log = Default::default();
    let (t2, p2) = server_pair(r, Recorder::new(&l2));
    vec![(t1, p1, l1), (t2, p2, l2)]
}

/// The socket marline uses, seen from the peer's side: its local address is
/// our peer address. We check options through marline's getters and, for
/// the real state, through a duplicate of the descriptor found by address.
#[test]
fn nodelay_defaults_off_and_toggles() {
    let r = Reactor::new().unwrap();
    for (t, _peer, _) in both_ends(&r) {
        assert_eq!(t.tcp_nodelay(), Ok(false));
        t.set_tcp_nodelay(true).unwrap();
        assert_eq!(t.tcp_nodelay(), Ok(true));
        t.set_tcp_nodelay(false).unwrap();
        assert_eq!(t.tcp_nodelay(), Ok(false));
    }
}

#[test]
fn keepalive_defaults_off_and_toggles() {
    let r = Reactor::new().unwrap();
    for (t, _peer, _) in both_ends(&r) {
        assert_eq!(t.tcp_keepalive(), Ok(false));
        t.set_tcp_keepalive(true).unwrap();
        assert_eq!(t.tcp_keepalive(), Ok(true));
        t.set_tcp_keepalive(false).unwrap();
        assert_eq!(t.tcp_keepalive(), Ok(false));
    }
}

#[test]
fn getters_read_the_socket_not_a_cache() {
    // Flip the option behind marline's back on a dup of its descriptor.
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, _peer) = client_pair(&r, Recorder::new(&log));
    let marline::Address::Inet(local) = t.host().unwrap() else { panic!() };
    let fd = find_socket_fd(local).expect("marline's socket among our descriptors");
    // SAFETY: fd is an open socket of this process; SockRef only borrows it.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let sock = SockRef::from(&borrowed);
    sock.set_tcp_nodelay(true).unwrap();
    sock.set_keepalive(true).unwrap();
    assert_eq!(t.tcp_nodelay(), Ok(true));
    assert_eq!(t.tcp_keepalive(), Ok(true));
    t.set_tcp_nodelay(false).unwrap();
    assert!(!sock.tcp_nodelay().unwrap());
}

/// The descriptor of this process whose local address is `addr`.
fn find_socket_fd(addr: std::net::SocketAddr) -> Option<i32> {
    for entry in std::fs::read_dir("/proc/self/fd").ok()? {
        let fd: i32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        // SAFETY: probing; a non-socket just fails getsockname.
        let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        if let Ok(a) = SockRef::from(&b).local_addr() {
            if a.as_socket() == Some(addr) {
                return Some(fd);
            }
        }
    }
    None
}

#[test]
fn keepalive_parameters_round_trip() {
    let r = Reactor::new().unwrap();
    for (t, _peer, _) in both_ends(&r) {
        let k = KeepAlive { idle: Duration::from_secs(42), interval: Duration::from_secs(7), count: 5 };
        t.set_tcp_keepalive_params(k).unwrap();
        assert_eq!(t.tcp_keepalive_params(), Ok(k));
        assert_eq!(t.tcp_keepalive(), Ok(true), "setting the timing turns keepalive on");
        let k2 = KeepAlive { idle: Duration::from_secs(1), interval: Duration::from_secs(1), count: 1 };
        t.set_tcp_keepalive_params(k2).unwrap();
        assert_eq!(t.tcp_keepalive_params(), Ok(k2));
    }
}

#[test]
fn invalid_keepalive_parameters_are_refused() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, _peer) = client_pair(&r, Recorder::new(&log));
    let good = KeepAlive { idle: Duration::from_secs(30), interval: Duration::from_secs(5), count: 3 };
    t.set_tcp_keepalive_params(good).unwrap();
    let s = Duration::from_secs;
    for bad in [
        KeepAlive { idle: Duration::ZERO, ..good },
        KeepAlive { idle: Duration::from_millis(500), ..good },
        KeepAlive { interval: Duration::ZERO, ..good },
        KeepAlive { count: 0, ..good },
        KeepAlive { count: 1000, ..good },
        KeepAlive { count: u32::MAX, ..good },
        KeepAlive { idle: s(40_000), ..good },
        KeepAlive { interval: s(40_000), ..good },
        KeepAlive { idle: s(u64::MAX / 2), ..good },
    ] {
        assert_eq!(t.set_tcp_keepalive_params(bad), Err(ErrorKind::InvalidArgument.into()), "{bad:?}");
    }
    assert_eq!(t.tcp_keepalive_params(), Ok(good), "a refused setting changes nothing");
}

#[test]
fn options_before_connecting_and_after_closing() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let l = std_listener(None);
    let t = r.connect_tcp("127.0.0.1", port_of(&l), None, Box::new(Recorder::new(&log))).unwrap();
    // A literal address: the socket exists while connecting, and options
    // set now stay.
    t.set_tcp_nodelay(true).unwrap();
    assert_eq!(t.host(), Err(ErrorKind::NotConnected.into()));
    assert_eq!(t.peer(), Err(ErrorKind::NotConnected.into()));
    run_until(&r, || has(&log, |e| *e == Ev::Made));
    assert_eq!(t.tcp_nodelay(), Ok(true));
    t.abort_connection().unwrap();
    // Closing, not yet lost: the socket is gone.
    assert_eq!(t.tcp_nodelay(), Err(ErrorKind::NotConnected.into()));
    run_until(&r, || has(&log, is_lost));
    assert_eq!(t.tcp_nodelay(), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(t.set_tcp_keepalive_params(KeepAlive { idle: Duration::from_secs(1), interval: Duration::from_secs(1), count: 1 }), Err(ErrorKind::StaleHandle.into()));
}
