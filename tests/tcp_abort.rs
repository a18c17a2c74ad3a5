//! abort_connection: once, from the loop, with a reset the peer sees; and a
//! peer that resets while we write.
mod common;

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use common::*;
use marline::{Reactor, ReasonKind, Transport};

/// Reads until EOF or an error; returns the bytes and the error kind.
fn drain(peer: &mut std::net::TcpStream) -> (usize, Option<ErrorKind>) {
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0;
    loop {
        match peer.read(&mut buf) {
            Ok(0) => return (total, None),
            Ok(n) => total += n,
            Err(e) => return (total, Some(e.kind())),
        }
    }
}

#[test]
fn abort_twice_gives_one_lost_aborted() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, mut peer) = client_pair(&r, Recorder::new(&log));
    t.abort_connection().unwrap();
    t.abort_connection().unwrap();
    assert_eq!(*log.borrow(), [Ev::Made], "not from inside the call");
    run_until(&r, || has(&log, is_lost));
    run_for(&r, Duration::from_millis(30));
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Lost(ReasonKind::Aborted)]);
    assert_eq!(drain(&mut peer), (0, Some(ErrorKind::ConnectionReset)));
}

#[test]
fn abort_then_lose_gives_one_lost_aborted() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, _peer) = client_pair(&r, Recorder::new(&log));
    t.abort_connection().unwrap();
    t.lose_connection().unwrap();
    t.lose_write_connection().unwrap();
    run_until(&r, || has(&log, is_lost));
    run_for(&r, Duration::from_millis(30));
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Lost(ReasonKind::Aborted)]);
}

#[test]
fn lose_with_queued_data_then_abort_gives_aborted() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, _peer) = client_pair(&r, Recorder::new(&log));
    t.write(&pattern(8 << 20, 1)).unwrap();
    assert!(t.queued().unwrap() > 0);
    t.lose_connection().unwrap();
    t.abort_connection().unwrap();
    run_until(&r, || has(&log, is_lost));
    run_for(&r, Duration::from_millis(30));
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Lost(ReasonKind::Aborted)]);
}

#[test]
fn abort_from_data_received() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let l2 = log.clone();
    let proto = Recorder::new(&log).hook(move |t, ev| {
        if let Ev::Data(_) = ev {
            t.abort_connection().unwrap();
            assert_eq!(t.write(b"x"), Err(marline::ErrorKind::Closed.into()));
            assert!(!l2.borrow().iter().any(is_lost));
        }
    });
    let (_t, mut peer) = client_pair(&r, proto);
    peer.write_all(b"hi").unwrap();
    run_until(&r, || has(&log, is_lost));
    run_for(&r, Duration::from_millis(30));
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Data(b"hi".to_vec()), Ev::Lost(ReasonKind::Aborted)]);
    assert_eq!(drain(&mut peer).1, Some(ErrorKind::ConnectionReset));
}

#[test]
fn abort_with_a_full_write_buffer_resets_the_peer() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let listener = std_listener(Some(4096));
    let (t, mut peer) = client_pair_on(&r, Recorder::new(&log), &listener);
    // Fill every buffer on the way: ours, the kernel's, the peer's.
    let chunk = pattern(1 << 20, 5);
    let mut written = 0;
    while t.queued().unwrap() < (4 << 20) {
        t.write(&chunk).unwrap();
        written += chunk.len();
        r.run_once(Some(Duration::from_millis(1))).unwrap();
    }
    t.abort_connection().unwrap();
    assert_eq!(t.queued().unwrap(), 0, "the queue is discarded at once");
    run_until(&r, || has(&log, is_lost));
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Lost(ReasonKind::Aborted)]);
    let (got, err) = drain(&mut peer);
    assert_eq!(err, Some(ErrorKind::ConnectionReset), "got {got} of {written} bytes, then {err:?}");
    assert!(got < written);
}

#[test]
fn peer_reset_in_mid_write_is_lost_with_errno_and_no_sigpipe() {
    // SIGPIPE is restored to its default action in a child process, so a
    // write without MSG_NOSIGNAL would kill it.
    if std::env::var_os("MARLINE_SIGPIPE_CHILD").is_some() {
        return sigpipe_child();
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "peer_reset_in_mid_write_is_lost_with_errno_and_no_sigpipe", "--nocapture", "--test-threads=1"])
        .env("MARLINE_SIGPIPE_CHILD", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), None, "child killed by a signal: {text}");
    assert!(out.status.success(), "{text}");
    assert!(text.contains("CHILD-OK"), "{text}");
}

fn sigpipe_child() {
    let r = Reactor::new().unwrap();
    // SAFETY: restoring the default action of one signal.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    for queued in [true, false] {
        let log: Log = Default::default();
        let proto = Recorder::new(&log);
        let reasons = proto.reasons.clone();
        let listener = std_listener(Some(4096));
        let (t, peer) = client_pair_on(&r, proto, &listener);
        if queued {
            let chunk = pattern(1 << 20, 5);
            while t.queued().unwrap() < (2 << 20) {
                t.write(&chunk).unwrap();
                r.run_once(Some(Duration::from_millis(1))).unwrap();
            }
        }
        socket2::SockRef::from(&peer).set_linger(Some(Duration::ZERO)).unwrap();
        drop(peer);
        std::thread::sleep(Duration::from_millis(50));
        // Take the pending ECONNRESET off marline's socket behind its back:
        // its next send then fails with EPIPE, the case that raises SIGPIPE
        // unless the send says MSG_NOSIGNAL.
        let marline::Address::Inet(local) = t.host().unwrap() else { panic!() };
        let fd = socket_fd_with_local_addr(local).expect("marline's socket");
        // SAFETY: fd is an open socket of this process, only borrowed.
        let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let err = socket2::SockRef::from(&b).take_error().unwrap();
        assert_eq!(err.and_then(|e| e.raw_os_error()), Some(libc::ECONNRESET));
        // Both the immediate path (empty queue) and the queue flush send.
        let _ = t.write(b"more");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !has(&log, is_lost) {
            assert!(Instant::now() < deadline);
            r.run_once(Some(Duration::from_millis(5))).unwrap();
        }
        assert_eq!(*log.borrow(), [Ev::Made, Ev::Lost(ReasonKind::Lost)]);
        let errno = reasons.borrow()[0].errno();
        assert_eq!(errno, libc::EPIPE, "queued={queued}");
    }
    println!("CHILD-OK");
}

/// The descriptor of this process whose local address is `addr`.
fn socket_fd_with_local_addr(addr: std::net::SocketAddr) -> Option<i32> {
    for entry in std::fs::read_dir("/proc/self/fd").ok()? {
        let fd: i32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        // SAFETY: probing; a non-socket just fails getsockname.
        let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        if let Ok(a) = socket2::SockRef::from(&b).local_addr() {
            if a.as_socket() == Some(addr) {
                return Some(fd);
            }
        }
    }
    None
}

#[test]
fn abort_while_a_producer_is_registered_stops_it_from_the_loop() {
    use std::cell::RefCell;
    use std::rc::Rc;
    struct P(Rc<RefCell<Vec<&'static str>>>);
    impl marline::Producer for P {
        fn stop_producing(&self, _t: &Transport) {
            self.0.borrow_mut().push("stop");
        }
    }
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, _peer) = client_pair(&r, Recorder::new(&log));
    let seen: Rc<RefCell<Vec<&'static str>>> = Default::default();
    t.register_producer(Box::new(P(seen.clone())), true).unwrap();
    t.abort_connection().unwrap();
    assert!(seen.borrow().is_empty(), "stop_producing comes from the loop, not from inside abort");
    run_until(&r, || has(&log, is_lost));
    assert_eq!(*seen.borrow(), ["stop"]);
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Lost(ReasonKind::Aborted)]);
}
