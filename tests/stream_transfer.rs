//! SEMANTICS §5: send (push, urgent) and rcv (timeouts; urgent data first
//! with exact urgent/mark flags), against a plain-socket peer using MSG_OOB.

mod stream_util;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use marline::stream::{Event, Received};
use marline::ErrorKind;
use stream_util::*;

fn piece(data: &[u8], urgent: bool, mark: bool) -> Received {
    Received { data: data.to_vec(), urgent, mark }
}

#[test]
fn round_trip_both_ways() {
    let (s, mut peer) = accepted_pair();
    s.send(b"hello", true, false).unwrap();
    assert_eq!(read_exact(&mut peer, 5), b"hello");
    peer.write_all(b"world").unwrap();
    assert_eq!(s.rcv(100, FIVE).unwrap(), piece(b"world", false, false));
}

#[test]
fn a_large_transfer_arrives_intact_in_order() {
    let (s, mut peer) = connected_pair();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let expect = data.clone();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        got
    });
    // Not pushed: coalesced with MSG_MORE until the last, pushed, send.
    for chunk in data.chunks(100_000) {
        s.send(chunk, false, false).unwrap();
    }
    s.send(b"", true, false).unwrap();
    s.close(FIVE).unwrap();
    let got = reader.join().unwrap();
    assert_eq!(got.len(), expect.len());
    assert!(got == expect);
}

#[test]
fn urgent_data_from_a_plain_peer_comes_first_with_exact_flags() {
    let (s, peer, log) = accepted_pair_logged();
    (&peer).write_all(b"abc").unwrap();
    eventually("DATA_ARRIVAL", || !events(&log).is_empty());
    assert_eq!(events(&log), vec![(Event::DataArrival, 0)]);
    send_oob(&peer, b"XYZ"); // urgent pointer after Z: Z is the urgent byte
    eventually("URGENT", || events(&log).len() == 2);
    assert_eq!(events(&log), vec![(Event::DataArrival, 0), (Event::Urgent, 0)]);
    eventually("all 6 bytes", || s.status().unwrap().unread_bytes == 6);
    // Seed: "The first call returning urgent data will have the urgent flag
    // set, the last will have the mark flag set." Everything before the
    // mark is urgent data; the read stops before the urgent byte.
    assert_eq!(s.rcv(100, FIVE).unwrap(), piece(b"abcXY", true, false));
    // The urgent byte alone is the last piece: mark set, urgent not.
    assert_eq!(s.rcv(100, FIVE).unwrap(), piece(b"Z", false, true));
    // A rcv is waiting when the next data comes: no DATA_ARRIVAL.
    std::thread::scope(|scope| {
        let r = scope.spawn(|| s.rcv(100, FIVE));
        std::thread::sleep(Duration::from_millis(50));
        (&peer).write_all(b"after").unwrap();
        assert_eq!(r.join().unwrap().unwrap(), piece(b"after", false, false));
    });
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(events(&log), vec![(Event::DataArrival, 0), (Event::Urgent, 0)]);
}

#[test]
fn urgent_data_is_split_by_capacity_and_never_merged_with_normal_data() {
    // Seed: "The first call returning urgent data will have the urgent flag
    // set, the last will have the mark flag set." The calls between have
    // neither.
    let (s, peer) = accepted_pair();
    (&peer).write_all(b"abcdef").unwrap();
    send_oob(&peer, b"XY");
    (&peer).write_all(b"tail").unwrap();
    eventually("all 12 bytes", || s.status().unwrap().unread_bytes == 12);
    assert_eq!(s.rcv(4, FIVE).unwrap(), piece(b"abcd", true, false));
    assert_eq!(s.rcv(4, FIVE).unwrap(), piece(b"efX", false, false));
    assert_eq!(s.rcv(4, FIVE).unwrap(), piece(b"Y", false, true));
    assert_eq!(s.rcv(4, FIVE).unwrap(), piece(b"tail", false, false));
    // The next urgent data starts over: its first call has urgent set.
    (&peer).write_all(b"12").unwrap();
    send_oob(&peer, b"34");
    eventually("4 more bytes", || s.status().unwrap().unread_bytes == 4);
    assert_eq!(s.rcv(2, FIVE).unwrap(), piece(b"12", true, false));
    assert_eq!(s.rcv(2, FIVE).unwrap(), piece(b"3", false, false));
    assert_eq!(s.rcv(2, FIVE).unwrap(), piece(b"4", false, true));
}

#[test]
fn a_waiting_rcv_gets_a_single_urgent_byte_and_urgent_is_notified_once() {
    let (s, peer, log) = accepted_pair_logged();
    // A single urgent byte is both the first and the last call returning
    // urgent data: urgent and mark are both set.
    std::thread::scope(|scope| {
        let r = scope.spawn(|| s.rcv(100, FIVE));
        std::thread::sleep(Duration::from_millis(50));
        send_oob(&peer, b"!");
        assert_eq!(r.join().unwrap().unwrap(), piece(b"!", true, true));
    });
    eventually("URGENT", || !events(&log).is_empty());
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(events(&log), vec![(Event::Urgent, 0)]);
    // A second urgent byte is a new mark: notified again, and since no rcv
    // is waiting this time, DATA_ARRIVAL too (urgent data is data).
    send_oob(&peer, b"?");
    eventually("second URGENT", || events(&log).len() >= 3);
    assert_eq!(s.rcv(100, FIVE).unwrap(), piece(b"?", true, true));
    assert_eq!(events(&log), vec![(Event::Urgent, 0), (Event::Urgent, 0), (Event::DataArrival, 0)]);
}

/// Peer side: reads normal data and the out-of-band byte separately.
fn recv_oob(peer: &std::net::TcpStream) -> u8 {
    let mut byte = 0u8;
    eventually("urgent byte at the peer", || {
        // SAFETY: one writable byte.
        let n = unsafe { libc::recv(peer.as_raw_fd(), &mut byte as *mut u8 as *mut libc::c_void, 1, libc::MSG_OOB | libc::MSG_DONTWAIT) };
        n == 1
    });
    byte
}

#[test]
fn urgent_send_puts_the_urgent_pointer_at_the_end_of_the_data() {
    let (s, mut peer) = accepted_pair();
    s.send(b"12345", true, true).unwrap();
    // Without SO_OOBINLINE the peer gets "1234" in line and "5" out of band.
    assert_eq!(recv_oob(&peer), b'5');
    assert_eq!(read_exact(&mut peer, 4), b"1234");
    s.send(b"z", true, true).unwrap();
    assert_eq!(recv_oob(&peer), b'z');
    s.send(b"plain", true, false).unwrap();
    assert_eq!(read_exact(&mut peer, 5), b"plain");
    assert_eq!(s.send(b"", true, true), Err(ErrorKind::InvalidArgument.into()));
    s.send(b"", true, false).unwrap();
}

#[test]
fn urgent_between_two_marline_streams() {
    let server = marline::stream::TcpStream::new().unwrap();
    server.passive_open_on(localhost(0)).unwrap();
    let client = marline::stream::TcpStream::new().unwrap();
    client.active_open(0, "127.0.0.1", port_of(&server), FIVE).unwrap();
    server.wait(FIVE).unwrap();
    client.send(b"ab", true, false).unwrap();
    client.send(b"URG", true, true).unwrap();
    eventually("5 bytes", || server.status().unwrap().unread_bytes == 5);
    assert_eq!(server.rcv(64, FIVE).unwrap(), piece(b"abUR", true, false));
    assert_eq!(server.rcv(64, FIVE).unwrap(), piece(b"G", false, true));
}

#[test]
fn rcv_timeouts_zero_tiny_and_finite() {
    let (s, peer) = accepted_pair();
    let started = Instant::now();
    assert_eq!(s.rcv(10, Some(Duration::from_nanos(1))), Err(ErrorKind::TimedOut.into()));
    assert_eq!(s.rcv(10, Some(Duration::ZERO)), Err(ErrorKind::TimedOut.into()));
    assert_eq!(s.rcv(10, Some(Duration::from_millis(100))), Err(ErrorKind::TimedOut.into()));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(100) && took < Duration::from_secs(2), "{took:?}");
    // Data already there comes back even with a tiny limit.
    (&peer).write_all(b"ready").unwrap();
    eventually("5 bytes", || s.status().unwrap().unread_bytes == 5);
    assert_eq!(s.rcv(10, Some(Duration::from_nanos(1))).unwrap(), piece(b"ready", false, false));
    // No limit: waits as long as it takes.
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(150));
            (&peer).write_all(b"late").unwrap();
        });
        let started = Instant::now();
        assert_eq!(s.rcv(10, None).unwrap(), piece(b"late", false, false));
        assert!(started.elapsed() >= Duration::from_millis(100));
    });
    assert_eq!(s.rcv(0, FIVE), Err(ErrorKind::InvalidArgument.into()));
}

#[test]
fn data_arrival_is_sent_once_until_the_next_rcv() {
    let (s, peer, log) = accepted_pair_logged();
    (&peer).write_all(b"one").unwrap();
    eventually("DATA_ARRIVAL", || !events(&log).is_empty());
    (&peer).write_all(b"two").unwrap();
    eventually("6 bytes", || s.status().unwrap().unread_bytes == 6);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(events(&log), vec![(Event::DataArrival, 0)]);
    assert_eq!(s.rcv(100, FIVE).unwrap(), piece(b"onetwo", false, false));
    (&peer).write_all(b"three").unwrap();
    eventually("second DATA_ARRIVAL", || events(&log).len() == 2);
    assert_eq!(events(&log), vec![(Event::DataArrival, 0), (Event::DataArrival, 0)]);
}
