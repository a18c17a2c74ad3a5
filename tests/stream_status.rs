//! SEMANTICS §5 status record, checked against values known in advance.

mod stream_util;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream as PlainStream};
use std::time::Duration;

use marline::stream::{Event, TcpState, TcpStream, TerminateReason};
use marline::ErrorKind;
use stream_util::*;

#[test]
fn a_new_stream_reports_closed_with_zero_fields() {
    let s = TcpStream::new().unwrap();
    let st = s.status().unwrap();
    assert_eq!(st.state, TcpState::Closed);
    assert_eq!((st.local, st.remote, st.unacked_bytes, st.unread_bytes, st.bytes_sent), (None, None, 0, 0, 0));
}

#[test]
fn addresses_and_connection_figures() {
    let (s, peer) = accepted_pair();
    let st = s.status().unwrap();
    assert_eq!(st.state, TcpState::Established);
    assert_eq!(st.local, Some(peer.peer_addr().unwrap()));
    assert_eq!(st.remote, Some(peer.local_addr().unwrap()));
    assert_eq!(st.tos, 0);
    assert!(st.max_segment_size > 0);
    assert!(st.congestion_window > 0);
    assert!(st.send_window > 0 && st.receive_window > 0, "{st:?}");
    assert_eq!((st.bytes_sent, st.bytes_acked, st.bytes_received), (0, 0, 0));
    s.send(&[7u8; 1000], true, false).unwrap();
    (&peer).write_all(&[9u8; 300]).unwrap();
    eventually("counters", || {
        let st = s.status().unwrap();
        st.bytes_acked == 1000 && st.bytes_received == 300
    });
    let st = s.status().unwrap();
    assert_eq!(st.bytes_sent, 1000);
    assert_eq!(st.unacked_bytes, 0);
    assert_eq!(st.unread_bytes, 300);
    assert!(st.smoothed_rtt_us > 0);
}

#[test]
fn unread_bytes_follow_what_arrived_and_what_was_read() {
    let (s, peer) = accepted_pair();
    (&peer).write_all(&[1u8; 1234]).unwrap();
    eventually("1234 unread", || s.status().unwrap().unread_bytes == 1234);
    assert_eq!(s.rcv(1000, FIVE).unwrap().data.len(), 1000);
    assert_eq!(s.status().unwrap().unread_bytes, 234);
    assert_eq!(s.rcv(1000, FIVE).unwrap().data.len(), 234);
    assert_eq!(s.status().unwrap().unread_bytes, 0);
}

#[test]
fn unacked_bytes_while_the_peer_does_not_read() {
    const TOTAL: usize = 60_000;
    let (s, mut peer) = slow_reader_pair();
    s.send(&vec![5u8; TOTAL], true, false).unwrap();
    // Settled: what the peer holds unread was acknowledged; the rest is not.
    let mut last = (0, 0);
    eventually("settled", || {
        let now = (s.status().unwrap().unacked_bytes as usize, unread(&peer));
        let settled = now == last && now.0 + now.1 == TOTAL;
        last = now;
        std::thread::sleep(Duration::from_millis(20));
        settled
    });
    let st = s.status().unwrap();
    assert!(st.unacked_bytes as usize > TOTAL / 2, "the peer's buffer is small: {st:?}");
    assert_eq!(st.unacked_bytes as usize, TOTAL - unread(&peer));
    assert_eq!(st.bytes_acked as usize, TOTAL - st.unacked_bytes as usize);
    // Once the peer reads everything, nothing is left unacknowledged.
    let mut got = vec![0u8; TOTAL];
    peer.set_read_timeout(FIVE).unwrap();
    peer.read_exact(&mut got).unwrap();
    eventually("all acknowledged", || s.status().unwrap().unacked_bytes == 0);
    assert_eq!(s.status().unwrap().bytes_acked as usize, TOTAL);
}

#[test]
fn state_goes_from_established_to_close_wait_when_the_peer_closes() {
    let (s, mut peer, log) = accepted_pair_logged();
    assert_eq!(s.status().unwrap().state, TcpState::Established);
    peer.shutdown(Shutdown::Write).unwrap();
    eventually("CLOSE_WAIT", || s.status().unwrap().state == TcpState::CloseWait);
    // Nothing was left unread, so the peer's close is complete: CLOSING.
    eventually("CLOSING", || !events(&log).is_empty());
    assert_eq!(events(&log), vec![(Event::Closing, 0)]);
    assert_eq!(s.rcv(10, FIVE), Err(ErrorKind::ConnectionClosing.into()));
    // Sending is still allowed in CLOSE_WAIT.
    s.send(b"still here", true, false).unwrap();
    assert_eq!(read_exact(&mut peer, 10), b"still here");
    // Our close completes the connection: TERMINATE with ULP_CLOSE.
    s.close(FIVE).unwrap();
    eventually("TERMINATE", || events(&log).len() == 2);
    assert_eq!(events(&log), vec![(Event::Closing, 0), (Event::Terminate, TerminateReason::UlpClose as i32)]);
    assert_eq!(s.status().unwrap().state, TcpState::Closed);
    assert_eq!(s.send(b"x", true, false), Err(ErrorKind::Terminated.into()));
}

/// Sends 3000 bytes, waits until all are acknowledged, and returns
/// bytes_acked; then closes and returns it again (the FIN counted).
fn acked_after_3000_then_close(s: &TcpStream, peer: &mut PlainStream) -> (u64, u64) {
    s.send(&[1u8; 3000], true, false).unwrap();
    assert_eq!(read_exact(peer, 3000).len(), 3000);
    eventually("all acknowledged", || s.status().unwrap().unacked_bytes == 0);
    let data = s.status().unwrap().bytes_acked;
    s.close(FIVE).unwrap();
    (data, s.status().unwrap().bytes_acked)
}

#[test]
fn bytes_acked_counts_data_and_our_fin_only_after_an_active_or_a_passive_open() {
    // Header: "bytes the peer acknowledged (our FIN counts as one)". The
    // kernel's tcpi_bytes_acked also counts our SYN after an active open
    // (issue 13 item 6: 3000 read as 3001); both opens must read alike.
    let (active, mut a_peer) = connected_pair();
    assert_eq!(active.status().unwrap().bytes_acked, 0, "nothing sent yet");
    assert_eq!(acked_after_3000_then_close(&active, &mut a_peer), (3000, 3001), "active open");
    let (passive, mut p_peer) = accepted_pair();
    assert_eq!(passive.status().unwrap().bytes_acked, 0, "nothing sent yet");
    assert_eq!(acked_after_3000_then_close(&passive, &mut p_peer), (3000, 3001), "passive open");
}
