//! TCP urgent (out-of-band) data in both directions.
mod common;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::*;
use marline::Reactor;

fn send_oob(s: &std::net::TcpStream, byte: u8) {
    // SAFETY: one valid byte, a connected socket.
    let n = unsafe { libc::send(s.as_raw_fd(), &byte as *const u8 as *const libc::c_void, 1, libc::MSG_OOB) };
    assert_eq!(n, 1);
}

/// Waits for the peer's urgent byte (POLLPRI) and reads it with MSG_OOB.
fn recv_oob(s: &std::net::TcpStream) -> u8 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut b = 0u8;
        // SAFETY: one writable byte.
        let n = unsafe { libc::recv(s.as_raw_fd(), &mut b as *mut u8 as *mut libc::c_void, 1, libc::MSG_OOB | libc::MSG_DONTWAIT) };
        if n == 1 {
            return b;
        }
        assert!(Instant::now() < deadline, "no urgent byte: {}", std::io::Error::last_os_error());
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn write_urgent_reaches_a_peer_reading_with_msg_oob() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, mut peer) = client_pair(&r, Recorder::new(&log));
    t.write(b"before").unwrap();
    t.write_urgent(b"!").unwrap();
    t.write(b"after").unwrap();
    r.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(recv_oob(&peer), b'!');
    // The normal stream stops at the mark: "before", then "after".
    assert_eq!(read_n(&mut peer, 6), b"before");
    assert_eq!(read_n(&mut peer, 5), b"after");
    t.lose_connection().unwrap();
    run_until(&r, || has(&log, is_lost));
    assert_eq!(read_to_eof(&mut peer), b"");
}

#[test]
fn write_urgent_behind_a_full_queue_keeps_its_place() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, mut peer) = client_pair(&r, Recorder::new(&log));
    let big = pattern(4 << 20, 8);
    t.write(&big).unwrap();
    assert!(t.queued().unwrap() > 0);
    t.write_urgent(b"U").unwrap();
    t.write(b"tail").unwrap();
    let reader = std::thread::spawn(move || {
        // Read the normal stream up to the mark, then the urgent byte.
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        while got.len() < big.len() {
            let n = peer.read(&mut buf).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got == big, "everything before the urgent byte, in order");
        let u = recv_oob(&peer);
        let mut tail = Vec::new();
        peer.read_to_end(&mut tail).unwrap();
        (u, tail)
    });
    t.lose_connection().unwrap();
    run_until(&r, || has(&log, is_lost));
    let (u, tail) = reader.join().unwrap();
    assert_eq!(u, b'U');
    assert_eq!(tail, b"tail");
}

#[test]
fn urgent_byte_from_the_peer_arrives_after_the_data_sent_before_it() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (_t, mut peer) = client_pair(&r, Recorder::new(&log));
    peer.write_all(b"abc").unwrap();
    send_oob(&peer, b'!');
    peer.write_all(b"def").unwrap();
    run_until(&r, || data_of(&log) == b"abcdef");
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Data(b"abc".to_vec()), Ev::Urgent(b"!".to_vec()), Ev::Data(b"def".to_vec())]);
}

#[test]
fn urgent_byte_arriving_after_everything_was_read_is_not_lost() {
    // The mark is where the reader already is: a plain read there would
    // skip the out-of-band byte.
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (_t, mut peer) = client_pair(&r, Recorder::new(&log));
    peer.write_all(b"abc").unwrap();
    run_until(&r, || data_of(&log) == b"abc");
    send_oob(&peer, b'1');
    run_until(&r, || log.borrow().len() == 3);
    peer.write_all(b"def").unwrap();
    send_oob(&peer, b'2');
    run_until(&r, || log.borrow().len() == 5);
    peer.write_all(b"ghi").unwrap();
    drop(peer);
    run_until(&r, || has(&log, is_lost));
    assert_eq!(
        *log.borrow(),
        [
            Ev::Made,
            Ev::Data(b"abc".to_vec()),
            Ev::Urgent(b"1".to_vec()),
            Ev::Data(b"def".to_vec()),
            Ev::Urgent(b"2".to_vec()),
            Ev::Data(b"ghi".to_vec()),
            Ev::Lost(marline::ReasonKind::Done),
        ]
    );
}

#[test]
fn urgent_byte_after_a_large_amount_of_data() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (_t, peer) = client_pair(&r, Recorder::new(&log));
    let big = pattern(3 << 20, 12);
    let b2 = big.clone();
    let writer = std::thread::spawn(move || {
        let mut peer = peer;
        peer.write_all(&b2).unwrap();
        send_oob(&peer, b'X');
        peer.write_all(b"end").unwrap();
        peer
    });
    let mut want = big.clone();
    want.extend_from_slice(b"end");
    run_until(&r, || data_of(&log).len() == want.len() && writer.is_finished());
    let _peer = writer.join().unwrap();
    let l = log.borrow();
    let pos = l.iter().position(|e| *e == Ev::Urgent(b"X".to_vec())).expect("urgent delivered");
    let before: usize = l[..pos].iter().map(|e| if let Ev::Data(d) = e { d.len() } else { 0 }).sum();
    assert_eq!(before, big.len(), "delivered exactly after the data sent before it");
    drop(l);
    assert!(data_of(&log) == want);
}

/// Everything arrives before the reactor accepts: the first read of the
/// accepted connection is the one epoll reports when the socket is
/// registered, and the urgent byte is neither skipped nor moved.
#[test]
fn urgent_byte_sent_before_the_connection_was_accepted() {
    for (before, after) in [(&b""[..], &b"cd"[..]), (b"ab", b"cd"), (b"ab", b"")] {
        let r = Reactor::new().unwrap();
        let log: Log = Default::default();
        let mut once = Some(Recorder::new(&log));
        let lp = r.listen_tcp("127.0.0.1", 0, 0, move |_| Box::new(once.take().expect("one connection"))).unwrap();
        let port = match lp.host().unwrap() {
            marline::Address::Inet(a) => a.port(),
            other => panic!("unexpected {other}"),
        };
        let mut peer = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        peer.write_all(before).unwrap();
        send_oob(&peer, b'!');
        peer.write_all(after).unwrap();
        drop(peer); // the FIN follows: it too is in before the accept
        std::thread::sleep(Duration::from_millis(50));
        run_until(&r, || has(&log, is_lost));
        let mut want = vec![Ev::Made];
        if !before.is_empty() {
            want.push(Ev::Data(before.to_vec()));
        }
        want.push(Ev::Urgent(b"!".to_vec()));
        if !after.is_empty() {
            want.push(Ev::Data(after.to_vec()));
        }
        want.push(Ev::Lost(marline::ReasonKind::Done));
        assert_eq!(*log.borrow(), want, "before {before:?}, after {after:?}");
    }
}

/// A protocol that opts out of urgent data (no mark checks before bulk
/// reads): the normal stream is exact and nothing stalls, wherever in the
/// bulk the urgent byte lands. (One urgent byte per connection: TCP keeps
/// one mark, and an unread urgent byte superseded by a newer one becomes
/// normal data, whoever reads.)
#[test]
fn opting_out_of_urgent_data_leaves_the_stream_exact() {
    struct Bulk(Rc<RefCell<Vec<u8>>>);
    impl marline::Protocol for Bulk {
        fn data_received(&mut self, _t: &marline::Transport, data: &[u8]) {
            self.0.borrow_mut().extend_from_slice(data);
        }
        fn receives_urgent_data(&self) -> bool {
            false
        }
    }
    for round in 0..5u64 {
        let r = Reactor::new().unwrap();
        let got: Rc<RefCell<Vec<u8>>> = Default::default();
        let l = std_listener(None);
        let _t = r.connect_tcp("127.0.0.1", port_of(&l), None, Box::new(Bulk(got.clone()))).unwrap();
        let (peer, _) = l.accept().unwrap();
        let big = pattern((1 << 20) + (round as usize) * 4099, round);
        let b2 = big.clone();
        let writer = std::thread::spawn(move || {
            let mut peer = peer;
            let at = 100_000 + round as usize * 190_000;
            peer.write_all(&b2[..at]).unwrap();
            send_oob(&peer, b'!');
            peer.write_all(&b2[at..]).unwrap();
            peer.write_all(b"end").unwrap();
        });
        let mut want = big;
        want.extend_from_slice(b"end");
        run_until(&r, || got.borrow().len() >= want.len() && writer.is_finished());
        writer.join().unwrap();
        let g = got.borrow();
        let first = g.iter().zip(want.iter()).position(|(a, b)| a != b);
        assert!(*g == want, "round {round}: the normal stream differs: {} vs {} bytes, first difference at {first:?}", g.len(), want.len());
    }
}
