//! SEMANTICS §5: passive open (returns at once; wait / isdone /
//! get_sock_name; everything else fails while it is in progress), active
//! open (local port, refused, timed out), reuse after termination.

mod stream_util;

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream as PlainStream};
use std::time::{Duration, Instant};

use marline::stream::{Event, TcpState, TcpStream, TerminateReason};
use marline::ErrorKind;
use stream_util::*;

#[test]
fn passive_open_returns_at_once_and_only_wait_isdone_sockname_work_until_done() {
    let s = TcpStream::new().unwrap();
    let (asr, log) = recorder();
    s.set_asr(Some(asr)).unwrap();
    let started = Instant::now();
    s.passive_open_on(localhost(0)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(!s.is_done());
    let listening = s.sock_name().unwrap();
    assert_eq!(listening.ip(), Ipv4Addr::LOCALHOST);
    assert_ne!(listening.port(), 0);

    assert_eq!(s.send(b"x", true, false), Err(ErrorKind::PassiveOpenInProgress.into()));
    assert_eq!(s.rcv(10, SECOND), Err(ErrorKind::PassiveOpenInProgress.into()));
    assert_eq!(s.close(SECOND), Err(ErrorKind::PassiveOpenInProgress.into()));
    assert_eq!(s.abort(), Err(ErrorKind::PassiveOpenInProgress.into()));
    assert_eq!(s.status(), Err(ErrorKind::PassiveOpenInProgress.into()));
    assert_eq!(s.passive_open_on(localhost(0)), Err(ErrorKind::PassiveOpenInProgress.into()));
    assert_eq!(s.active_open(0, "127.0.0.1", 9, SECOND), Err(ErrorKind::PassiveOpenInProgress.into()));
    assert_eq!(s.wait(Some(Duration::from_millis(20))), Err(ErrorKind::TimedOut.into()));
    assert!(!s.is_done());
    assert!(events(&log).is_empty());

    let peer = PlainStream::connect(("127.0.0.1", listening.port())).unwrap();
    s.wait(FIVE).unwrap();
    assert!(s.is_done());
    let local = s.sock_name().unwrap();
    assert_eq!(local, peer.peer_addr().unwrap());
    assert_eq!(local.port(), listening.port());
    eventually("PASSIVE_OPEN_DONE", || !events(&log).is_empty());
    assert_eq!(events(&log), vec![(Event::PassiveOpenDone, 0)]);
    let st = s.status().unwrap();
    assert_eq!(st.state, TcpState::Established);
    assert_eq!(st.remote, Some(peer.local_addr().unwrap()));
    // Nothing pending and nothing to report: wait returns at once.
    s.wait(None).unwrap();
}

#[test]
fn passive_open_on_listens_on_the_given_address_only() {
    // Issue 13 item 8: a passive open takes the local address, IPv6
    // included. On 127.0.0.1, a connection to 127.0.0.2 (also this host,
    // which a 0.0.0.0 listener would take) is refused.
    let s = TcpStream::new().unwrap();
    s.passive_open_on(localhost(0)).unwrap();
    let port = port_of(&s);
    assert_eq!(s.sock_name().unwrap(), localhost(port));
    let other = PlainStream::connect(("127.0.0.2", port)).unwrap_err();
    assert_eq!(other.kind(), std::io::ErrorKind::ConnectionRefused);
    let peer = PlainStream::connect(localhost(port)).unwrap();
    s.wait(FIVE).unwrap();
    assert_eq!(s.status().unwrap().remote, Some(peer.local_addr().unwrap()));

    // On ::1: IPv6 connections only.
    let s6 = TcpStream::new().unwrap();
    let v6: SocketAddr = "[::1]:0".parse().unwrap();
    s6.passive_open_on(v6).unwrap();
    let port6 = port_of(&s6);
    assert_eq!(s6.sock_name().unwrap(), SocketAddr::new(v6.ip(), port6));
    let v4 = PlainStream::connect(localhost(port6)).unwrap_err();
    assert_eq!(v4.kind(), std::io::ErrorKind::ConnectionRefused);
    let peer6 = PlainStream::connect(SocketAddr::new(v6.ip(), port6)).unwrap();
    s6.wait(FIVE).unwrap();
    let st = s6.status().unwrap();
    assert_eq!((st.local, st.remote), (Some(peer6.peer_addr().unwrap()), Some(peer6.local_addr().unwrap())));
    s6.send(b"six", true, false).unwrap();
    let mut peer6 = peer6;
    assert_eq!(read_exact(&mut peer6, 3), b"six");

    // An address that is not this host's is refused at once.
    let t = TcpStream::new().unwrap();
    let e = t.passive_open_on("192.0.2.1:0".parse().unwrap()).unwrap_err();
    assert_eq!((e.kind(), e.raw_os_error()), (ErrorKind::BadAddress, Some(libc::EADDRNOTAVAIL)));
    assert!(t.is_done());
}

#[test]
fn passive_open_on_a_port_in_use_is_a_clear_error_and_the_stream_stays_usable() {
    let first = TcpStream::new().unwrap();
    first.passive_open_on(localhost(0)).unwrap();
    let port = port_of(&first);
    let second = TcpStream::new().unwrap();
    let e = second.passive_open_on(localhost(port)).unwrap_err();
    assert_eq!((e.kind(), e.raw_os_error()), (ErrorKind::AddressInUse, Some(libc::EADDRINUSE)));
    assert!(second.is_done());
    assert_eq!(second.sock_name(), Err(ErrorKind::NotConnected.into()));
    assert_eq!(second.status().unwrap().state, TcpState::Closed);
    second.passive_open_on(localhost(0)).unwrap();
    assert_ne!(port_of(&second), port);
}

#[test]
fn free_with_a_passive_open_pending_cancels_it_and_releases_the_port() {
    let s = TcpStream::new().unwrap();
    let (asr, log) = recorder();
    s.set_asr(Some(asr)).unwrap();
    s.passive_open_on(localhost(0)).unwrap();
    let port = port_of(&s);
    drop(s);
    let refused = PlainStream::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(events(&log).is_empty(), "no asr after free: {:?}", events(&log));
    let again = TcpStream::new().unwrap();
    again.passive_open_on(localhost(port)).unwrap();
    assert_eq!(port_of(&again), port);
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn active_open_to_remote_port_0_is_an_invalid_argument_and_tries_nothing() {
    let s = TcpStream::new().unwrap();
    let (asr, log) = recorder();
    s.set_asr(Some(asr)).unwrap();
    assert_eq!(s.active_open(0, "127.0.0.1", 0, FIVE), Err(ErrorKind::InvalidArgument.into()));
    assert_eq!(s.status().unwrap().state, TcpState::Closed);
    // Nothing was tried: no TERMINATE, and the stream opens as a new one.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    s.active_open(0, "127.0.0.1", l.local_addr().unwrap().port(), FIVE).unwrap();
    assert_eq!(events(&log), vec![]);
}

#[test]
fn active_open_to_a_refused_port_is_an_error_plus_a_terminate_asr() {
    let s = TcpStream::new().unwrap();
    let (asr, log) = recorder();
    s.set_asr(Some(asr)).unwrap();
    let e = s.active_open(0, "127.0.0.1", free_port(), FIVE).unwrap_err();
    assert_eq!((e.kind(), e.raw_os_error()), (ErrorKind::Refused, Some(libc::ECONNREFUSED)));
    eventually("TERMINATE", || !events(&log).is_empty());
    assert_eq!(events(&log), vec![(Event::Terminate, TerminateReason::RemoteAbort as i32)]);
    assert_eq!(s.status().unwrap().state, TcpState::Closed);
    assert_eq!(s.send(b"x", true, false), Err(ErrorKind::Terminated.into()));
    assert_eq!(s.rcv(1, SECOND), Err(ErrorKind::Terminated.into()));

    // The stream can be opened again.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    s.active_open(0, "127.0.0.1", l.local_addr().unwrap().port(), FIVE).unwrap();
    let (mut peer, _) = l.accept().unwrap();
    s.send(b"again", true, false).unwrap();
    assert_eq!(read_exact(&mut peer, 5), b"again");
}

#[test]
fn active_open_from_a_chosen_local_port_and_by_host_name() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let lport = free_port();
    let s = TcpStream::new().unwrap();
    s.active_open(lport, "localhost", l.local_addr().unwrap().port(), FIVE).unwrap();
    let (_peer, from) = l.accept().unwrap();
    assert_eq!(from.port(), lport);
    assert_eq!(s.sock_name().unwrap(), from);
    assert_eq!(s.active_open(0, "127.0.0.1", 9, SECOND), Err(ErrorKind::InvalidState.into()));
    assert_eq!(s.passive_open_on(localhost(0)), Err(ErrorKind::InvalidState.into()));
    assert_eq!(s.active_open(0, "", 9, SECOND), Err(ErrorKind::BadAddress.into()));
}

/// A listener whose accept queue is full: further SYNs are dropped, so a
/// connection attempt hangs until its time limit.
fn black_hole() -> (socket2::Socket, Vec<PlainStream>, u16) {
    let l = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    l.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
    l.listen(0).unwrap();
    let port = l.local_addr().unwrap().as_socket().unwrap().port();
    let mut fill = Vec::new();
    for _ in 0..2 {
        // Connect without waiting for accept; extra ones may themselves hang.
        let c = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        c.set_nonblocking(true).unwrap();
        let _ = c.connect(&SocketAddr::from(([127, 0, 0, 1], port)).into());
        fill.push(PlainStream::from(c));
        std::thread::sleep(Duration::from_millis(50));
    }
    (l, fill, port)
}

#[test]
fn active_open_time_limit_gives_timed_out_and_terminate_ulp_timeout() {
    let (_l, _fill, port) = black_hole();
    let s = TcpStream::new().unwrap();
    let (asr, log) = recorder();
    s.set_asr(Some(asr)).unwrap();
    let started = Instant::now();
    assert_eq!(s.active_open(0, "127.0.0.1", port, Some(Duration::from_millis(200))), Err(ErrorKind::TimedOut.into()));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(200) && took < Duration::from_secs(3), "{took:?}");
    eventually("TERMINATE", || !events(&log).is_empty());
    assert_eq!(events(&log), vec![(Event::Terminate, TerminateReason::UlpTimeout as i32)]);
    // A tiny limit works the same way.
    assert_eq!(s.active_open(0, "127.0.0.1", port, Some(Duration::from_nanos(1))), Err(ErrorKind::TimedOut.into()));
}
