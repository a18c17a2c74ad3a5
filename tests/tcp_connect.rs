//! Client connections: failures with their reasons, name resolution off the
//! loop, timeouts and cancelling.
mod common;

use std::cell::RefCell;
use std::net::TcpStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::*;
use marline::{ErrorKind, Reactor, ReasonKind};

fn free_port() -> u16 {
    let l = std_listener(None);
    port_of(&l)
}

#[test]
fn refused_port_fails_with_refused() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let proto = Recorder::new(&log);
    let reasons = proto.reasons.clone();
    let t = r.connect_tcp("127.0.0.1", free_port(), None, Box::new(proto)).unwrap();
    assert!(log.borrow().is_empty(), "never from inside connect_tcp");
    run_until(&r, || has(&log, is_lost));
    run_for(&r, Duration::from_millis(30));
    assert_eq!(*log.borrow(), [Ev::Failed(ReasonKind::Refused)]);
    assert_eq!(reasons.borrow()[0].errno(), libc::ECONNREFUSED);
    assert_eq!(t.write(b"x"), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(r.object_count(), 0);
}

#[test]
fn unresolvable_name_fails_without_blocking_the_loop() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let fired: Rc<RefCell<Option<Instant>>> = Default::default();
    let f = fired.clone();
    let start = Instant::now();
    r.call_later(Duration::from_millis(20), move |_| *f.borrow_mut() = Some(Instant::now())).unwrap();
    let t = r.connect_tcp("nonexistent.invalid", 80, None, Box::new(Recorder::new(&log))).unwrap();
    assert!(start.elapsed() < Duration::from_millis(15), "connect_tcp must not resolve inline");
    t.write(b"queued while resolving").unwrap();
    run_until(&r, || has(&log, is_lost) && fired.borrow().is_some());
    let at = fired.borrow().expect("the timer fired") - start;
    assert!(at < Duration::from_millis(500), "timer late: {at:?}");
    assert_eq!(*log.borrow(), [Ev::Failed(ReasonKind::ResolveFailed)]);
}

#[test]
fn localhost_resolves_and_connects() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let l = std_listener(None); // 127.0.0.1 only: "localhost" may try ::1 first
    let t = r.connect_tcp("localhost", port_of(&l), Some(Duration::from_secs(5)), Box::new(Recorder::new(&log))).unwrap();
    run_until(&r, || has(&log, |e| *e == Ev::Made || is_lost(e)));
    assert_eq!(*log.borrow(), [Ev::Made]);
    assert_eq!(t.peer().unwrap().to_string(), format!("127.0.0.1:{}", port_of(&l)));
    // The timeout was cancelled on success.
    run_for(&r, Duration::from_millis(20));
    assert_eq!(*log.borrow(), [Ev::Made]);
}

#[test]
fn empty_or_nul_host_is_bad_address() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    assert!(matches!(r.connect_tcp("", 80, None, Box::new(Recorder::new(&log))).as_ref().map_err(|e| e.kind()), Err(ErrorKind::BadAddress)));
    assert!(matches!(r.connect_tcp("a\0b", 80, None, Box::new(Recorder::new(&log))).as_ref().map_err(|e| e.kind()), Err(ErrorKind::BadAddress)));
    run_for(&r, Duration::from_millis(20));
    assert!(log.borrow().is_empty(), "an error return means no callback");
}

/// A listener whose accept queue is full and never drained: Linux drops the
/// SYNs of further connects, so they hang until their timeout.
struct Blackhole {
    _listener: socket2::Socket,
    _fillers: Vec<TcpStream>,
    port: u16,
}

fn blackhole() -> Blackhole {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    s.listen(0).unwrap();
    let port = s.local_addr().unwrap().as_socket().unwrap().port();
    // Backlog 0 holds one connection; fill it (and one more for good measure,
    // connected without blocking).
    let mut fillers = vec![TcpStream::connect(("127.0.0.1", port)).unwrap()];
    let extra = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    extra.set_nonblocking(true).unwrap();
    let _ = extra.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into());
    fillers.push(extra.into());
    std::thread::sleep(Duration::from_millis(20));
    Blackhole { _listener: s, _fillers: fillers, port }
}

#[test]
fn connect_timeout_fails_with_timed_out() {
    let r = Reactor::new().unwrap();
    let hole = blackhole();
    let log: Log = Default::default();
    let start = Instant::now();
    r.connect_tcp("127.0.0.1", hole.port, Some(Duration::from_millis(300)), Box::new(Recorder::new(&log))).unwrap();
    run_until(&r, || has(&log, is_lost));
    let took = start.elapsed();
    assert_eq!(*log.borrow(), [Ev::Failed(ReasonKind::TimedOut)]);
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3), "{took:?}");
    assert_eq!(r.object_count(), 0);
}

#[test]
fn lose_connection_while_connecting_is_cancelled() {
    let r = Reactor::new().unwrap();
    let hole = blackhole();
    for abort in [false, true] {
        let log: Log = Default::default();
        let t = r.connect_tcp("127.0.0.1", hole.port, Some(Duration::from_secs(5)), Box::new(Recorder::new(&log))).unwrap();
        run_for(&r, Duration::from_millis(30));
        assert!(log.borrow().is_empty(), "still connecting");
        if abort {
            t.abort_connection().unwrap();
        } else {
            t.lose_connection().unwrap();
        }
        assert!(log.borrow().is_empty(), "never from inside the call");
        let _ = t.lose_connection();
        run_until(&r, || has(&log, is_lost));
        run_for(&r, Duration::from_millis(30));
        assert_eq!(*log.borrow(), [Ev::Failed(ReasonKind::Cancelled)]);
    }
}

#[test]
fn lose_connection_while_resolving_is_cancelled() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let t = r.connect_tcp("localhost", free_port(), None, Box::new(Recorder::new(&log))).unwrap();
    t.lose_connection().unwrap();
    run_until(&r, || has(&log, is_lost));
    // The late resolution result must not revive it.
    run_for(&r, Duration::from_millis(100));
    assert_eq!(*log.borrow(), [Ev::Failed(ReasonKind::Cancelled)]);
}

#[test]
fn ipv6_literal_refused() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    r.connect_tcp("::1", free_port(), None, Box::new(Recorder::new(&log))).unwrap();
    run_until(&r, || has(&log, is_lost));
    assert_eq!(*log.borrow(), [Ev::Failed(ReasonKind::Refused)]);
}

/// A reset that beats the connect's completion (the server accepts and resets before the
/// loop has seen the connection complete) is a connect failure, as Twisted reports it
/// (clientConnectionFailed with a ConnectError, twisted/internet/tcp.py doConnect), not a
/// lost connection: CONNECT_FAILED with the errno.
#[test]
fn reset_before_the_connect_completes_is_a_connect_failure() {
    let r = Reactor::new().unwrap();
    let l = std_listener(None);
    let log: Log = Default::default();
    let proto = Recorder::new(&log);
    let reasons = proto.reasons.clone();
    r.connect_tcp("127.0.0.1", port_of(&l), None, Box::new(proto)).unwrap();
    // The loop has not run: the handshake completes in the kernel, then the reset.
    let (s, _) = l.accept().unwrap();
    socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO)).unwrap();
    drop(s);
    run_until(&r, || has(&log, is_lost));
    assert_eq!(*log.borrow(), [Ev::Failed(ReasonKind::ConnectFailed)]);
    assert_eq!(reasons.borrow()[0].errno(), libc::ECONNRESET);
    assert_eq!(r.object_count(), 0);
}
