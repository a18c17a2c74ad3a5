//! The fault table for TCP and the reactor (RELIABILITY.md): peers that reset
//! in mid-write or after a half-close, an EAGAIN storm, the reactor freed
//! with connections open, and callbacks that re-enter every API call.
//! (EMFILE: tests/tcp_emfile.rs; connect timeout against a full backlog:
//! tests/tcp_connect.rs; an unroutable host: tests/fault_netns.rs.)
mod common;

use std::cell::{Cell, RefCell};
use std::io::{IoSlice, Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::*;
use marline::{ErrorKind, Reactor, ReasonKind, Transport};

/// Resets the connection (RST) when dropped.
fn reset(s: TcpStream) {
    socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO)).unwrap();
    drop(s);
}

#[test]
fn peer_resets_in_mid_write() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let l = std_listener(Some(4096));
    let (t, mut s) = client_pair_on(&r, Recorder::new(&log), &l);
    // Far more than the socket buffers hold: most of it stays queued.
    let data = pattern(8 << 20, 3);
    t.write(&data).unwrap();
    assert!(t.queued().unwrap() > 0);
    let mut got = vec![0u8; 64 * 1024];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, data[..got.len()], "what arrived before the reset is in order");
    reset(s);
    run_until(&r, || has(&log, is_lost));
    run_for(&r, Duration::from_millis(30));
    assert_eq!(lost_count(&log), 1, "exactly one connection_lost");
    assert_eq!(log.borrow().last(), Some(&Ev::Lost(ReasonKind::Lost)));
    assert_eq!(t.write(b"more"), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(r.object_count(), 0, "the queue and the transport are released");
}

#[test]
fn peer_half_closes_then_resets() {
    for half_close in [true, false] {
        let r = Reactor::new().unwrap();
        let log: Log = Default::default();
        let l = std_listener(Some(4096));
        let rec = if half_close { Recorder::new(&log).half_close() } else { Recorder::new(&log) };
        let (t, mut s) = client_pair_on(&r, rec, &l);
        s.shutdown(std::net::Shutdown::Write).unwrap();
        if half_close {
            run_until(&r, || has(&log, |e| *e == Ev::ReadLost));
            // Still writable after the peer's FIN; keep writing into a full pipe.
            t.write(&pattern(4 << 20, 5)).unwrap();
            let mut buf = [0u8; 1000];
            s.read_exact(&mut buf).unwrap();
        } else {
            // A non-half-close protocol flushes and closes on the FIN; write a
            // lot first so the close is still flushing when the reset comes.
            t.write(&pattern(4 << 20, 5)).unwrap_or(());
            run_for(&r, Duration::from_millis(20));
        }
        reset(s);
        run_until(&r, || has(&log, is_lost));
        run_for(&r, Duration::from_millis(30));
        assert_eq!(lost_count(&log), 1, "half_close {half_close}: {:?}", log.borrow());
        let last = log.borrow().last().cloned();
        assert!(matches!(last, Some(Ev::Lost(ReasonKind::Lost | ReasonKind::Done))), "{last:?}");
        if half_close {
            assert_eq!(last, Some(Ev::Lost(ReasonKind::Lost)), "the reset is a loss");
        }
        assert_eq!(r.object_count(), 0);
    }
}

/// Finds the descriptor of `t` (by its local and remote ports) and shrinks
/// its send buffer, so the kernel refuses writes early and often.
fn shrink_send_buffer(t: &Transport) {
    let (marline::Address::Inet(host), marline::Address::Inet(peer)) = (t.host().unwrap(), t.peer().unwrap()) else { panic!() };
    for fd in 3..4096 {
        // SAFETY: borrows a descriptor number only for the two queries and
        // the option below; ManuallyDrop keeps it open.
        let sock = std::mem::ManuallyDrop::new(unsafe { <socket2::Socket as std::os::fd::FromRawFd>::from_raw_fd(fd) });
        let (Ok(l), Ok(p)) = (sock.local_addr(), sock.peer_addr()) else { continue };
        if l.as_socket() == Some(host) && p.as_socket() == Some(peer) {
            sock.set_send_buffer_size(4096).unwrap();
            return;
        }
    }
    panic!("descriptor of {host} not found");
}

#[test]
fn eagain_storm_of_small_writes_loses_nothing_and_keeps_order() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let l = std_listener(Some(2048));
    let (t, s) = client_pair_on(&r, Recorder::new(&log), &l);
    shrink_send_buffer(&t);
    // A slow reader with a tiny receive buffer, on its own thread.
    let reader = std::thread::spawn(move || {
        let mut s = s;
        let mut all = Vec::new();
        let mut buf = [0u8; 512];
        loop {
            let n = match s.read(&mut buf) {
                Ok(0) => return all,
                Ok(n) => {
                    all.extend_from_slice(&buf[..n]);
                    n
                }
                Err(e) => panic!("reader: {e}"),
            };
            // Stall now and then: the sender's socket fills and refuses.
            if all.len() / (128 << 10) != (all.len() - n) / (128 << 10) {
                std::thread::sleep(Duration::from_millis(15));
            }
        }
    });
    let mut rng = 0x1234_5678u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut sent = Vec::new();
    let (mut queued_seen, mut drained_seen) = (0, 0);
    let mut was_queued = false;
    let start = Instant::now();
    while sent.len() < 3 << 20 {
        let n = 1 + (next() % 300) as usize;
        let chunk: Vec<u8> = (0..n).map(|i| (sent.len() + i) as u8 ^ 0x5A).collect();
        if next() % 5 == 0 {
            let (a, b) = chunk.split_at(n / 2);
            t.write_sequence(&[IoSlice::new(a), IoSlice::new(b)]).unwrap();
        } else {
            t.write(&chunk).unwrap();
        }
        sent.extend_from_slice(&chunk);
        let q = t.queued().unwrap();
        if q > 0 && !was_queued {
            queued_seen += 1;
        }
        if q == 0 && was_queued {
            drained_seen += 1;
        }
        was_queued = q > 0;
        if next() % 8 == 0 {
            r.run_once(Some(Duration::ZERO)).unwrap();
        }
        // Every 32 KiB (and whenever the queue is large) let the loop drain
        // it completely: each drain is a run of refused and resumed writes.
        if sent.len() / (32 << 10) != (sent.len() - n) / (32 << 10) || t.queued().unwrap() > 1 << 20 {
            while t.queued().unwrap() > 0 {
                r.run_once(Some(Duration::from_millis(5))).unwrap();
            }
            if was_queued {
                drained_seen += 1;
            }
            was_queued = false;
        }
    }
    t.lose_connection().unwrap();
    run_until(&r, || has(&log, is_lost));
    let got = reader.join().unwrap();
    println!("{} writes' worth, {queued_seen} times queued, {drained_seen} drained, {:?}", sent.len(), start.elapsed());
    assert!(queued_seen > 10, "the kernel refused often: {queued_seen}");
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "bytes lost or reordered");
    assert_eq!(*log.borrow().last().unwrap(), Ev::Lost(ReasonKind::Done));
}

/// Every transport call made from inside a callback: on the transport
/// itself, on another one, and on itself again after it closed. Nothing may
/// panic; results are only error codes. (The reactor calls re-entered from
/// every callback, through the C API: tests/fuzz_capi.rs.)
fn call_everything(me: &Transport, other: Option<&Transport>) {
    for t in std::iter::once(me).chain(other) {
        let _ = t.write(b"re-entrant");
        let _ = t.write_sequence(&[IoSlice::new(b"a"), IoSlice::new(b"b")]);
        let _ = t.write_urgent(b"!");
        let _ = t.host();
        let _ = t.peer();
        let _ = t.queued();
        let _ = t.set_write_high_water(1000);
        let _ = t.pause_producing();
        let _ = t.resume_producing();
        let _ = t.tcp_nodelay();
        let _ = t.set_tcp_nodelay(true);
        let _ = t.tcp_keepalive();
        let _ = t.set_tcp_keepalive(true);
        let _ = t.register_producer(Box::new(Quiet), true);
        let _ = t.unregister_producer();
        let _ = t.lose_write_connection();
    }
}

struct Quiet;
impl marline::Producer for Quiet {}
struct Quiet2;
impl marline::Protocol for Quiet2 {}

struct Reenter {
    other: Rc<RefCell<Option<Transport>>>,
    log: Log,
    closes_at: usize,
}

impl Reenter {
    fn go(&mut self, t: &Transport, ev: Ev) {
        self.log.borrow_mut().push(ev.clone());
        let other = self.other.borrow().clone();
        call_everything(t, other.as_ref());
        let n = self.log.borrow().len();
        if n == self.closes_at {
            let _ = t.lose_connection();
            let _ = t.abort_connection();
            // On itself after close: refused, never a crash.
            call_everything(t, other.as_ref());
            assert_eq!(t.write(b"late"), Err(ErrorKind::Closed.into()));
        }
    }
}

impl marline::Protocol for Reenter {
    fn connection_made(&mut self, t: &Transport) {
        self.go(t, Ev::Made)
    }
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        self.go(t, Ev::Data(data.to_vec()))
    }
    fn urgent_data_received(&mut self, t: &Transport, data: &[u8]) {
        self.go(t, Ev::Urgent(data.to_vec()))
    }
    fn connection_lost(&mut self, t: &Transport, reason: &marline::Reason) {
        self.go(t, Ev::Lost(reason.kind()))
    }
    fn connection_failed(&mut self, t: &Transport, reason: &marline::Reason) {
        self.go(t, Ev::Failed(reason.kind()))
    }
    fn half_close(&self) -> bool {
        true
    }
    fn read_connection_lost(&mut self, t: &Transport) {
        self.go(t, Ev::ReadLost)
    }
    fn write_connection_lost(&mut self, t: &Transport) {
        self.go(t, Ev::WriteLost)
    }
}

#[test]
fn callbacks_that_re_enter_every_api_call() {
    let r = Reactor::new().unwrap();
    let (la, lb): (Log, Log) = Default::default();
    let other_a: Rc<RefCell<Option<Transport>>> = Default::default();
    let other_b: Rc<RefCell<Option<Transport>>> = Default::default();
    let (ob, lb2, oa2) = (other_b.clone(), lb.clone(), other_a.clone());
    let lp = r
        .listen_tcp("127.0.0.1", 0, 0, move |_| Box::new(Reenter { other: ob.clone(), log: lb2.clone(), closes_at: 4 }))
        .unwrap();
    let marline::Address::Inet(addr) = lp.host().unwrap() else { panic!() };
    let client =
        r.connect_tcp("127.0.0.1", addr.port(), None, Box::new(Reenter { other: other_a.clone(), log: la.clone(), closes_at: 6 })).unwrap();
    *other_b.borrow_mut() = Some(client.clone());
    // The client's "other" is a second client, closed early.
    let extra = r.connect_tcp("127.0.0.1", echo_server(&r), None, Box::new(Quiet2)).unwrap();
    *oa2.borrow_mut() = Some(extra.clone());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(has(&la, is_lost) && has(&lb, is_lost)) {
        assert!(Instant::now() < deadline, "client {:?} server {:?}", la.borrow(), lb.borrow());
        r.run_once(Some(Duration::from_millis(10))).unwrap();
    }
    let _ = extra.abort_connection();
    run_for(&r, Duration::from_millis(30));
    for log in [&la, &lb] {
        assert_eq!(lost_count(log), 1, "{:?}", log.borrow());
        assert_eq!(log.borrow()[0], Ev::Made);
    }
    assert_eq!(client.write(b"x"), Err(ErrorKind::StaleHandle.into()));
    lp.stop_listening().unwrap();
    // Only the echo server's listening port is left.
    run_until(&r, || r.object_count() == 1);
}

/// The reactor freed with connections in every state: each protocol gets
/// exactly one final callback (SHUTDOWN) before the free returns, producers
/// are stopped, pending telnet requests complete, the peers see the close,
/// and the final callbacks may use their handles.
#[test]
fn reactor_freed_with_connections_open() {
    use marline::telnet::transport::Completion;
    let r = Reactor::new().unwrap();
    let port = echo_server(&r);
    let mut logs = Vec::new();
    let mut peers = Vec::new();
    let in_final = Rc::new(RefCell::new(Vec::new()));
    // Established clients to the echo server, one with a producer and a
    // full queue, one half-closed.
    for i in 0..6 {
        let log: Log = Default::default();
        let f = in_final.clone();
        let rec = Recorder::new(&log).hook(move |t, ev| {
            if matches!(ev, Ev::Lost(_)) {
                // Usable during the final callback: writes refused, no panic.
                f.borrow_mut().push(t.write(b"x"));
            }
        });
        let t = r.connect_tcp("127.0.0.1", port, None, Box::new(rec)).unwrap();
        run_until(&r, || has(&log, |e| *e == Ev::Made));
        if i == 0 {
            t.register_producer(Box::new(Quiet), true).unwrap();
            t.write(&pattern(8 << 20, 1)).unwrap();
        }
        if i == 1 {
            t.lose_write_connection().unwrap();
        }
        logs.push(log);
    }
    // Std peers connected to a marline listener.
    let accepted: Log = Default::default();
    let a2 = accepted.clone();
    let lp = r.listen_tcp("127.0.0.1", 0, 0, move |_| Box::new(Recorder::new(&a2))).unwrap();
    let marline::Address::Inet(addr) = lp.host().unwrap() else { panic!() };
    for _ in 0..3 {
        peers.push(TcpStream::connect(addr).unwrap());
    }
    run_until(&r, || accepted.borrow().iter().filter(|e| **e == Ev::Made).count() == 3);
    // A client still connecting (to a port nobody answers quickly) and one resolving.
    let connecting: Log = Default::default();
    r.connect_tcp("localhost", port, None, Box::new(Recorder::new(&connecting))).unwrap();
    // A telnet pair with a request pending.
    let done: Rc<RefCell<Vec<Completion>>> = Default::default();
    let tport = {
        let lp = r.listen_telnet("127.0.0.1", 0, 0, |_| Box::new(Silent)).unwrap();
        match lp.host().unwrap() {
            marline::Address::Inet(a) => a.port(),
            _ => unreachable!(),
        }
    };
    let tn = r.connect_telnet("127.0.0.1", tport, None, Box::new(Silent)).unwrap();
    let d2 = done.clone();
    tn.do_(24, move |_, c, _| d2.borrow_mut().push(c)).unwrap();
    run_for(&r, Duration::from_millis(20));
    let before = r.object_count();
    assert!(before > 10, "{before} objects open");
    drop(r);
    for (i, log) in logs.iter().enumerate() {
        assert_eq!(lost_count(log), 1, "client {i}: {:?}", log.borrow());
        if i != 1 {
            // (Client 1 half-closed: the echo server closed it already.)
            assert_eq!(log.borrow().last(), Some(&Ev::Lost(ReasonKind::Shutdown)), "client {i}");
        }
    }
    assert_eq!(lost_count(&accepted), 3);
    assert_eq!(lost_count(&connecting), 1, "{:?}", connecting.borrow());
    assert!(in_final.borrow().iter().all(|r| *r == Err(ErrorKind::Closed.into())), "{:?}", in_final.borrow());
    assert!(matches!(done.borrow()[..], [Completion::ConnectionLost] | [Completion::Refused] | [Completion::Ok]), "{:?}", done.borrow());
    // The peers see the close (EOF or reset), not a hang.
    for mut p in peers {
        p.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 16];
        match p.read(&mut buf) {
            Ok(0) | Err(_) => {}
            Ok(n) => panic!("{n} bytes after the free"),
        }
        let _ = p.write(b"x");
    }
}

struct Silent;
impl marline::telnet::TelnetProtocol for Silent {}

/// The same through the C API (regression: reactor_free used to disown the
/// reactor before closing, so a final callback got WRONG_THREAD for its own
/// handle, and a connection made from it was dropped without a callback).
#[test]
fn c_reactor_free_final_callbacks_can_use_their_handles() {
    use marline::ffi::marline_status_t::*;
    use marline::ffi::*;
    use std::ffi::{c_void, CString};
    use std::ptr::null_mut;
    thread_local! {
        static SEEN: RefCell<Vec<(marline_status_t, marline_status_t, marline_status_t, marline_status_t)>> = const { RefCell::new(Vec::new()) };
        static REACTOR: Cell<usize> = const { Cell::new(0) };
    }
    unsafe extern "C" fn lost(t: *mut transport_t, _r: *const marline_reason_t, _u: *mut c_void) {
        let r = REACTOR.with(|c| c.get()) as *mut reactor_t;
        let mut addr: *mut marline_address_t = null_mut();
        // SAFETY: valid arguments.
        let w = unsafe { transport_write(t, b"x".as_ptr(), 1) };
        // SAFETY: valid out pointer.
        let p = unsafe { transport_get_peer(t, &mut addr) };
        if p == MARLINE_OK {
            // SAFETY: returned by transport_get_peer.
            unsafe { marline_address_free(addr) };
        }
        let host = CString::new("127.0.0.1").unwrap();
        let mut out: *mut transport_t = null_mut();
        // SAFETY: valid arguments.
        let c = unsafe { reactor_connect_tcp(r, host.as_ptr(), 9, 0.0, &PROTO, null_mut(), &mut out) };
        SEEN.with(|s| s.borrow_mut().push((w, p, c, reactor_run_once(r, 0.0))));
    }
    const PROTO: marline_protocol_t = marline_protocol_t {
        size: std::mem::size_of::<marline_protocol_t>(),
        connection_made: None,
        data_received: None,
        connection_lost: Some(lost),
        connection_failed: Some(lost),
        read_connection_lost: None,
        write_connection_lost: None,
        urgent_data_received: None,
    };
    let mut r: *mut reactor_t = null_mut();
    // SAFETY: valid out pointer.
    assert_eq!(unsafe { reactor_new(&mut r) }, MARLINE_OK);
    REACTOR.with(|c| c.set(r as usize));
    let l = std_listener(None);
    let host = CString::new("127.0.0.1").unwrap();
    let mut t: *mut transport_t = null_mut();
    // SAFETY: valid arguments.
    assert_eq!(unsafe { reactor_connect_tcp(r, host.as_ptr(), port_of(&l) as i32, 0.0, &PROTO, null_mut(), &mut t) }, MARLINE_OK);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut peer = None;
    l.set_nonblocking(true).unwrap();
    while peer.is_none() {
        assert!(Instant::now() < deadline);
        assert_eq!(reactor_run_once(r, 0.01), MARLINE_OK);
        peer = l.accept().ok();
    }
    for _ in 0..5 {
        reactor_run_once(r, 0.01);
    }
    assert_eq!(reactor_free(r), MARLINE_OK);
    let seen = SEEN.with(|s| s.borrow().clone());
    assert_eq!(seen, vec![(MARLINE_ERR_CLOSED, MARLINE_OK, MARLINE_ERR_REENTRANT, MARLINE_ERR_REENTRANT)]);
    // SAFETY: handle values only.
    assert_eq!(unsafe { transport_write(t, b"x".as_ptr(), 1) }, MARLINE_ERR_STALE_HANDLE);
}
