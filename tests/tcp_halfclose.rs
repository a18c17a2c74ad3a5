//! Half-close in both directions (lose_write_connection and a peer's FIN).
mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use common::*;
use marline::{Reactor, ReasonKind};

#[test]
fn lose_write_connection_notifies_and_the_peer_sees_eof_after_the_data() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, mut peer) = client_pair(&r, Recorder::new(&log).half_close());
    t.write(b"hello").unwrap();
    t.lose_write_connection().unwrap();
    t.lose_write_connection().unwrap(); // twice is harmless
    assert_eq!(*log.borrow(), [Ev::Made], "write_connection_lost comes from the loop");
    run_until(&r, || has(&log, |e| *e == Ev::WriteLost));
    assert_eq!(read_to_eof(&mut peer), b"hello");
    // We keep reading, and may be told the peer is done too.
    peer.write_all(b"reply").unwrap();
    run_until(&r, || data_of(&log) == b"reply");
    peer.shutdown(Shutdown::Write).unwrap();
    run_until(&r, || has(&log, is_lost));
    assert_eq!(
        *log.borrow(),
        [Ev::Made, Ev::WriteLost, Ev::Data(b"reply".to_vec()), Ev::ReadLost, Ev::Lost(ReasonKind::Done)]
    );
}

#[test]
fn lose_write_connection_waits_for_the_queue() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, mut peer) = client_pair(&r, Recorder::new(&log).half_close());
    let big = pattern(8 << 20, 3);
    t.write(&big).unwrap();
    assert!(t.queued().unwrap() > 0, "the kernel cannot take 8 MiB at once");
    t.lose_write_connection().unwrap();
    let reader = std::thread::spawn(move || read_to_eof(&mut peer));
    run_until(&r, || has(&log, |e| *e == Ev::WriteLost));
    let got = reader.join().unwrap();
    assert!(got == big, "every byte before the EOF");
}

#[test]
fn non_half_close_protocol_gets_no_write_notification() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, mut peer) = client_pair(&r, Recorder::new(&log));
    t.lose_write_connection().unwrap();
    r.run_once(Some(Duration::ZERO)).unwrap(); // the shutdown happens from the loop
    assert_eq!(read_to_eof(&mut peer), b"");
    peer.write_all(b"x").unwrap();
    run_until(&r, || data_of(&log) == b"x");
    drop(peer);
    run_until(&r, || has(&log, is_lost));
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Data(b"x".to_vec()), Ev::Lost(ReasonKind::Done)]);
}

#[test]
fn peer_half_close_lets_a_half_close_protocol_keep_writing() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let proto = Recorder::new(&log).half_close().hook(|t, ev| {
        if *ev == Ev::ReadLost {
            t.write(b"still ").unwrap();
            t.write(b"talking").unwrap();
        }
    });
    let (t, mut peer) = client_pair(&r, proto);
    peer.write_all(b"abc").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    run_until(&r, || has(&log, |e| *e == Ev::ReadLost));
    run_for(&r, Duration::from_millis(30));
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Data(b"abc".to_vec()), Ev::ReadLost], "not closed");
    t.write(b"!").unwrap();
    t.lose_connection().unwrap();
    run_until(&r, || has(&log, is_lost));
    assert_eq!(read_to_eof(&mut peer), b"still talking!");
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Data(b"abc".to_vec()), Ev::ReadLost, Ev::Lost(ReasonKind::Done)]);
}

#[test]
fn peer_half_close_closes_a_non_half_close_protocol_after_the_queue_flushes() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let proto = Recorder::new(&log);
    let (t, mut peer) = client_pair(&r, proto);
    let big = pattern(8 << 20, 9);
    t.write(&big).unwrap();
    assert!(t.queued().unwrap() > 0);
    peer.write_all(b"bye").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    // Not read yet: the FIN comes while our queue is full.
    run_for(&r, Duration::from_millis(50));
    assert!(!has(&log, is_lost), "must wait for the queue: {:?}", log.borrow().len());
    let reader = std::thread::spawn(move || read_to_eof(&mut peer));
    run_until(&r, || has(&log, is_lost));
    let got = reader.join().unwrap();
    assert!(got == big, "nothing lost");
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Data(b"bye".to_vec()), Ev::Lost(ReasonKind::Done)]);
}

fn close_inside(on: Ev, abort: bool) -> (Vec<Ev>, Vec<u8>, Option<std::io::ErrorKind>) {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let l2 = log.clone();
    let on2 = on.clone();
    let proto = Recorder::new(&log).half_close().hook(move |t, ev| {
        if *ev == on2 {
            t.write(b"tail").unwrap_or(()); // allowed after a read half-close only
            if abort {
                t.abort_connection().unwrap();
            } else {
                t.lose_connection().unwrap();
            }
            assert!(!l2.borrow().iter().any(is_lost), "connection_lost inside the call");
        }
    });
    let (t, mut peer) = client_pair(&r, proto);
    if on == Ev::WriteLost {
        t.lose_write_connection().unwrap();
    } else {
        peer.shutdown(Shutdown::Write).unwrap();
    }
    run_until(&r, || has(&log, is_lost));
    run_for(&r, Duration::from_millis(20));
    let mut got = Vec::new();
    let err = peer.read_to_end(&mut got).err().map(|e| e.kind());
    let l = log.borrow().clone();
    (l, got, err)
}

#[test]
fn lose_connection_from_inside_write_connection_lost() {
    let (log, got, err) = close_inside(Ev::WriteLost, false);
    assert_eq!(log, [Ev::Made, Ev::WriteLost, Ev::Lost(ReasonKind::Done)]);
    assert_eq!((got, err), (vec![], None));
}

#[test]
fn abort_from_inside_write_connection_lost() {
    let (log, _, _) = close_inside(Ev::WriteLost, true);
    assert_eq!(log, [Ev::Made, Ev::WriteLost, Ev::Lost(ReasonKind::Aborted)]);
}

#[test]
fn lose_connection_from_inside_read_connection_lost() {
    let (log, got, err) = close_inside(Ev::ReadLost, false);
    assert_eq!(log, [Ev::Made, Ev::ReadLost, Ev::Lost(ReasonKind::Done)]);
    assert_eq!((got, err), (b"tail".to_vec(), None));
}

#[test]
fn abort_from_inside_read_connection_lost() {
    let (log, _got, err) = close_inside(Ev::ReadLost, true);
    assert_eq!(log, [Ev::Made, Ev::ReadLost, Ev::Lost(ReasonKind::Aborted)]);
    assert_eq!(err, Some(std::io::ErrorKind::ConnectionReset));
}

#[test]
fn both_directions_closed_gives_done_once() {
    // Peer first, then us: read_connection_lost, write_connection_lost, Lost.
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let proto = Recorder::new(&log).half_close().hook(|t, ev| {
        if *ev == Ev::ReadLost {
            t.lose_write_connection().unwrap();
        }
    });
    let (_t, mut peer) = client_pair(&r, proto);
    peer.shutdown(Shutdown::Write).unwrap();
    run_until(&r, || has(&log, is_lost));
    run_for(&r, Duration::from_millis(20));
    assert_eq!(*log.borrow(), [Ev::Made, Ev::ReadLost, Ev::WriteLost, Ev::Lost(ReasonKind::Done)]);
    assert_eq!(read_to_eof(&mut peer), b"");
}
