//! ITransport basics over TCP: writes, write_sequence, the closing rules and
//! the handle's life.
mod common;

use std::io::{IoSlice, Read, Write};
use std::time::Duration;

use common::*;
use marline::{Error, ErrorKind, Reactor, ReasonKind};

#[test]
fn empty_writes_are_no_ops() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, mut peer) = client_pair(&r, Recorder::new(&log));
    t.write(b"").unwrap();
    t.write_sequence(&[]).unwrap();
    t.write_sequence(&[IoSlice::new(b""), IoSlice::new(b"")]).unwrap();
    assert_eq!(t.queued().unwrap(), 0);
    t.write(b"x").unwrap();
    t.lose_connection().unwrap();
    run_until(&r, || has(&log, is_lost));
    assert_eq!(read_to_eof(&mut peer), b"x");
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Lost(ReasonKind::Done)]);
}

fn write_after(close: fn(&marline::Transport)) -> (Vec<Ev>, Vec<Result<(), Error>>, Vec<u8>) {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, mut peer) = client_pair(&r, Recorder::new(&log));
    close(&t);
    let got = vec![
        t.write(b"late"),
        t.write_sequence(&[IoSlice::new(b"a"), IoSlice::new(b"b")]),
        t.write(b""),
    ];
    run_until(&r, || has(&log, is_lost));
    assert_eq!(t.write(b"x"), Err(ErrorKind::StaleHandle.into()), "refused once the connection is gone");
    let l = log.borrow().clone();
    peer.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut received = Vec::new();
    let _ = peer.read_to_end(&mut received);
    (l, got, received)
}

/// ITransport and the seed: writes after lose_connection are accepted and
/// flushed with the rest until the connection has actually closed (never
/// dropped silently); afterwards they are refused.
#[test]
fn write_after_lose_connection_is_delivered() {
    let (log, got, received) = write_after(|t| t.lose_connection().unwrap());
    assert_eq!(got, [Ok(()), Ok(()), Ok(())]);
    assert_eq!(received, b"lateab");
    assert_eq!(log, [Ev::Made, Ev::Lost(ReasonKind::Done)]);
}

#[test]
fn write_after_abort_is_closed() {
    let (log, got, received) = write_after(|t| t.abort_connection().unwrap());
    assert_eq!(got, [Err(ErrorKind::Closed.into()), Err(ErrorKind::Closed.into()), Err(ErrorKind::Closed.into())]);
    assert_eq!(received, b"");
    assert_eq!(log, [Ev::Made, Ev::Lost(ReasonKind::Aborted)]);
}

/// Writes after lose_write_connection are accepted until the sending side
/// has actually been shut down (from the loop); then they are refused.
#[test]
fn write_after_lose_write_connection_is_closed_once_shut_down_but_reading_goes_on() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, mut peer) = client_pair(&r, Recorder::new(&log).half_close());
    t.write(b"before").unwrap();
    t.lose_write_connection().unwrap();
    t.write(b" and after").unwrap();
    run_until(&r, || has(&log, |e| *e == Ev::WriteLost));
    assert_eq!(t.write(b"too late"), Err(ErrorKind::Closed.into()));
    assert_eq!(t.write_sequence(&[IoSlice::new(b"too late")]), Err(ErrorKind::Closed.into()));
    assert_eq!(read_to_eof(&mut peer), b"before and after");
    peer.write_all(b"still reading").unwrap();
    run_until(&r, || data_of(&log) == b"still reading");
    drop(peer);
    run_until(&r, || has(&log, is_lost));
    assert_eq!(
        *log.borrow(),
        [Ev::Made, Ev::WriteLost, Ev::Data(b"still reading".to_vec()), Ev::ReadLost, Ev::Lost(ReasonKind::Done)]
    );
}

/// Sends `bufs` with one write_sequence, closes, and returns what the peer got.
fn gather(bufs: &[Vec<u8>]) -> Vec<u8> {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, mut peer) = client_pair(&r, Recorder::new(&log));
    let reader = std::thread::spawn(move || read_to_eof(&mut peer));
    let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
    t.write_sequence(&slices).unwrap();
    t.lose_connection().unwrap();
    run_until(&r, || has(&log, is_lost));
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Lost(ReasonKind::Done)]);
    reader.join().unwrap()
}

fn numbered_buffers(n: usize, max_len: usize) -> Vec<Vec<u8>> {
    // Varying sizes, some empty, each with its own content.
    (0..n).map(|i| pattern(i * 7919 % (max_len + 1), i as u64 + 1)).collect()
}

#[test]
fn write_sequence_sends_exact_bytes() {
    for (n, max) in [(1, 10), (3, 1000), (64, 300), (65, 300), (200, 5000), (1024, 100), (1025, 100), (3000, 700)] {
        let bufs = numbered_buffers(n, max);
        let want: Vec<u8> = bufs.concat();
        let got = gather(&bufs);
        assert_eq!(got.len(), want.len(), "{n} buffers");
        assert!(got == want, "{n} buffers: bytes differ");
    }
}

#[test]
fn write_sequence_larger_than_the_socket_buffer_sends_exact_bytes() {
    // 2000 buffers of 4 KiB: the kernel cannot take it all at once, so the
    // rest is queued and flushed later.
    let bufs: Vec<Vec<u8>> = (0..2000).map(|i| pattern(4096, i + 1)).collect();
    let want = bufs.concat();
    assert!(gather(&bufs) == want);
}

#[test]
fn bytes_leave_in_the_order_written() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, mut peer) = client_pair(&r, Recorder::new(&log));
    let reader = std::thread::spawn(move || read_to_eof(&mut peer));
    let mut want = Vec::new();
    // Mix single writes and gathers, small and large, so some go out at once
    // and some queue behind others.
    for i in 0..400u64 {
        let a = pattern((i as usize * 131) % 9000, i + 1);
        let b = pattern((i as usize * 17) % 300, i + 1000);
        if i % 3 == 0 {
            t.write_sequence(&[IoSlice::new(&a), IoSlice::new(&b)]).unwrap();
        } else {
            t.write(&a).unwrap();
            t.write(&b).unwrap();
        }
        want.extend_from_slice(&a);
        want.extend_from_slice(&b);
        if i % 50 == 0 {
            r.run_once(Some(Duration::ZERO)).unwrap();
        }
    }
    t.lose_connection().unwrap();
    run_until(&r, || has(&log, is_lost));
    let got = reader.join().unwrap();
    assert_eq!(got.len(), want.len());
    assert!(got == want);
}

#[test]
fn writes_made_while_connecting_are_delivered() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let l = std_listener(None);
    let t = r.connect_tcp("127.0.0.1", port_of(&l), None, Box::new(Recorder::new(&log))).unwrap();
    t.write(b"one ").unwrap();
    t.write_sequence(&[IoSlice::new(b"two "), IoSlice::new(b"three")]).unwrap();
    assert_eq!(t.queued().unwrap(), 13);
    let (mut peer, _) = l.accept().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    run_until(&r, || has(&log, |e| *e == Ev::Made));
    t.lose_connection().unwrap();
    run_until(&r, || has(&log, is_lost));
    assert_eq!(read_to_eof(&mut peer), b"one two three");
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Lost(ReasonKind::Done)]);
}

#[test]
fn lose_connection_inside_a_callback_is_delivered_later_and_once() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let l2 = log.clone();
    let inside: std::rc::Rc<std::cell::RefCell<Vec<Vec<Ev>>>> = Default::default();
    let ins = inside.clone();
    let proto = Recorder::new(&log).hook(move |t, ev| {
        if let Ev::Data(_) = ev {
            t.write(b"bye").unwrap();
            t.lose_connection().unwrap();
            t.lose_connection().unwrap(); // twice is harmless
            ins.borrow_mut().push(l2.borrow().clone());
        }
    });
    let (_t, mut peer) = client_pair(&r, proto);
    peer.write_all(b"hi").unwrap();
    run_until(&r, || has(&log, is_lost));
    run_for(&r, Duration::from_millis(30));
    assert_eq!(*inside.borrow(), [vec![Ev::Made, Ev::Data(b"hi".to_vec())]], "no Lost inside the call");
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Data(b"hi".to_vec()), Ev::Lost(ReasonKind::Done)]);
    assert_eq!(read_to_eof(&mut peer), b"bye");
}

#[test]
fn the_handle_is_stale_after_connection_lost() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, _peer) = client_pair(&r, Recorder::new(&log));
    let kept = t.clone();
    t.lose_connection().unwrap();
    // Until connection_lost has run, the handle is alive but closing.
    assert_eq!(kept.lose_connection(), Ok(()));
    run_until(&r, || has(&log, is_lost));
    assert_eq!(kept.write(b"x"), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(kept.write_sequence(&[IoSlice::new(b"x")]), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(kept.write_urgent(b"x"), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(kept.lose_connection(), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(kept.lose_write_connection(), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(kept.abort_connection(), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(kept.host(), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(kept.peer(), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(kept.queued(), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(kept.pause_producing(), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(kept.resume_producing(), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(kept.unregister_producer(), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(kept.set_write_high_water(10), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(kept.tcp_nodelay(), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(kept.set_tcp_keepalive(true), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(r.object_count(), 0);
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Lost(ReasonKind::Done)]);
}

#[test]
fn connection_lost_fires_once_when_the_peer_closes() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, mut peer) = client_pair(&r, Recorder::new(&log));
    peer.write_all(b"last words").unwrap();
    drop(peer);
    run_until(&r, || has(&log, is_lost));
    // Closing calls after the peer's close but before the loop turned again
    // must not produce a second notification.
    let _ = t.lose_connection();
    let _ = t.abort_connection();
    run_for(&r, Duration::from_millis(50));
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Data(b"last words".to_vec()), Ev::Lost(ReasonKind::Done)]);
}

#[test]
fn peer_reset_gives_lost_with_errno() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let proto = Recorder::new(&log);
    let reasons = proto.reasons.clone();
    let (_t, peer) = client_pair(&r, proto);
    socket2::SockRef::from(&peer).set_linger(Some(Duration::ZERO)).unwrap();
    drop(peer); // RST
    run_until(&r, || has(&log, is_lost));
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Lost(ReasonKind::Lost)]);
    assert_eq!(reasons.borrow()[0].errno(), libc::ECONNRESET);
    assert!(!reasons.borrow()[0].message().is_empty());
}

#[test]
fn dropping_the_reactor_closes_connections_with_shutdown() {
    let log: Log = Default::default();
    let mut peer = {
        let r = Reactor::new().unwrap();
        let (_t, peer) = client_pair(&r, Recorder::new(&log));
        peer
    };
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Lost(ReasonKind::Shutdown)]);
    let mut buf = [0u8; 8];
    assert_eq!(peer.read(&mut buf).unwrap(), 0);
}

#[test]
fn small_writes_after_the_first_of_a_turn_are_coalesced_and_arrive_in_order() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let queued_after = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let q2 = queued_after.clone();
    let proto = Recorder::new(&log).hook(move |t, e| {
        if let Ev::Data(d) = e {
            if d.as_slice() != b"go" {
                return;
            }
            // Inside a callback: the first write goes to the kernel at once…
            t.write(b"first,").unwrap();
            q2.borrow_mut().push(t.queued().unwrap());
            // …the small ones after it wait for the end of the turn, in order,
            for i in 0..10_000u32 {
                t.write(format!("{i},").as_bytes()).unwrap();
            }
            q2.borrow_mut().push(t.queued().unwrap());
            // and a large one joins them behind, never ahead.
            t.write(&vec![b'L'; 100_000]).unwrap();
            t.lose_connection().unwrap();
        }
    });
    let (_t, mut peer) = server_pair(&r, proto);
    peer.write_all(b"go").unwrap();
    run_until(&r, || has(&log, is_lost));
    let q = queued_after.borrow().clone();
    assert_eq!(q[0], 0, "the first write of a turn is sent at once");
    assert!(q[1] > 0, "later small writes are queued until the end of the turn");
    let mut want = b"first,".to_vec();
    for i in 0..10_000u32 {
        want.extend_from_slice(format!("{i},").as_bytes());
    }
    want.extend(std::iter::repeat(b'L').take(100_000));
    let got = read_to_eof(&mut peer);
    assert_eq!(got.len(), want.len());
    assert!(got == want, "bytes out of order");
    assert_eq!(log.borrow().last(), Some(&Ev::Lost(ReasonKind::Done)));
}
