//! SEMANTICS §5: close (returns when everything is acknowledged, with a
//! time limit), abort (RST), the peer's end of stream and reset.

mod stream_util;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream as PlainStream};
use std::time::{Duration, Instant};

use marline::stream::{Event, TcpState, TcpStream, TerminateReason};
use stream_util::*;

#[test]
fn close_returns_once_everything_is_acknowledged() {
    let (s, mut peer, log) = accepted_pair_logged();
    s.send(&[3u8; 100_000], true, false).unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap(); // ends at our FIN
        (got.len(), peer)
    });
    s.close(FIVE).unwrap();
    // The real guarantee: nothing of ours (FIN included) is unacknowledged.
    let st = s.status().unwrap();
    assert_eq!(st.unacked_bytes, 0);
    assert_eq!(st.bytes_acked, 100_001, "our data and the FIN's sequence number");
    assert_eq!(st.state, TcpState::FinWait2);
    let (n, peer) = reader.join().unwrap();
    assert_eq!(n, 100_000);
    assert_eq!(s.send(b"x", true, false), Err(marline::ErrorKind::Closed.into()));
    assert_eq!(s.close(FIVE), Err(marline::ErrorKind::Closed.into()));
    // Receiving goes on until the peer closes too; then the connection ends.
    (&peer).write_all(b"last words").unwrap();
    assert_eq!(s.rcv(100, FIVE).unwrap().data, b"last words");
    peer.shutdown(Shutdown::Write).unwrap();
    // (DATA_ARRIVAL may come first, depending on whether the data or the
    // rcv reached the engine first.)
    let ending = || events(&log).into_iter().filter(|e| e.0 != Event::DataArrival).collect::<Vec<_>>();
    eventually("TERMINATE", || ending().len() == 2);
    assert_eq!(ending(), vec![(Event::Closing, 0), (Event::Terminate, TerminateReason::UlpClose as i32)]);
    assert_eq!(s.status().unwrap().state, TcpState::Closed);
    assert_eq!(s.rcv(100, FIVE), Err(marline::ErrorKind::Terminated.into()));
}

#[test]
fn close_time_limit_gives_timed_out_and_ulp_timeout() {
    let s = TcpStream::new().unwrap();
    let (asr, log) = recorder();
    s.set_asr(Some(asr)).unwrap();
    s.passive_open_on(localhost(0)).unwrap();
    let c = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    c.set_recv_buffer_size(4096).unwrap();
    c.connect(&SocketAddr::from(([127, 0, 0, 1], port_of(&s))).into()).unwrap();
    s.wait(FIVE).unwrap();
    let mut peer = PlainStream::from(c);
    s.send(&[1u8; 60_000], true, false).unwrap();
    let started = Instant::now();
    assert_eq!(s.close(Some(Duration::from_millis(200))), Err(marline::ErrorKind::TimedOut.into()));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(200) && took < Duration::from_secs(3), "{took:?}");
    eventually("ULP_TIMEOUT", || events(&log).contains(&(Event::UlpTimeout, 0)));
    assert!(s.status().unwrap().unacked_bytes > 0);
    // The connection is still there: once the peer reads, all is acknowledged.
    let mut got = Vec::new();
    peer.set_read_timeout(FIVE).unwrap();
    peer.read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), 60_000);
    eventually("all acknowledged", || s.status().unwrap().unacked_bytes == 0);
    // A tiny limit on an already-closed side is a clear error.
    assert_eq!(s.close(Some(Duration::from_nanos(1))), Err(marline::ErrorKind::Closed.into()));
}

#[test]
fn abort_sends_rst_and_drops_queued_data() {
    let (s, mut peer, log) = accepted_pair_logged();
    s.send(b"doomed", true, false).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    s.abort().unwrap();
    eventually("TERMINATE", || !events(&log).is_empty());
    assert_eq!(events(&log), vec![(Event::Terminate, TerminateReason::UlpAbort as i32)]);
    peer.set_read_timeout(FIVE).unwrap();
    let mut buf = [0u8; 64];
    // The peer may first read what had already arrived, then sees the reset.
    let mut outcome = peer.read(&mut buf);
    if let Ok(6) = outcome {
        outcome = peer.read(&mut buf);
    }
    assert_eq!(outcome.map_err(|e| e.kind()), Err(ErrorKind::ConnectionReset));
    assert_eq!(s.status().unwrap().state, TcpState::Closed);
    assert_eq!(s.send(b"x", true, false), Err(marline::ErrorKind::Terminated.into()));
    assert_eq!(s.abort(), Err(marline::ErrorKind::Terminated.into()));
    assert_eq!(TcpStream::new().unwrap().abort(), Err(marline::ErrorKind::NotConnected.into()));
}

#[test]
fn a_reset_from_the_peer_ends_a_waiting_rcv_and_terminates() {
    let (s, peer, log) = accepted_pair_logged();
    std::thread::scope(|scope| {
        let r = scope.spawn(|| s.rcv(100, FIVE));
        std::thread::sleep(Duration::from_millis(50));
        let sock = socket2::Socket::from(peer);
        sock.set_linger(Some(Duration::ZERO)).unwrap();
        drop(sock); // RST
        let e = r.join().unwrap().unwrap_err();
        assert_eq!((e.kind(), e.raw_os_error()), (marline::ErrorKind::ConnectionReset, Some(libc::ECONNRESET)));
    });
    eventually("TERMINATE", || !events(&log).is_empty());
    assert_eq!(events(&log), vec![(Event::Terminate, TerminateReason::RemoteAbort as i32)]);
    assert_eq!(s.rcv(100, FIVE), Err(marline::ErrorKind::Terminated.into()));
}

#[test]
fn end_of_stream_after_the_last_data_sends_closing_once() {
    let (s, mut peer, log) = accepted_pair_logged();
    peer.write_all(b"bye").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    eventually("CLOSE_WAIT", || s.status().unwrap().state == TcpState::CloseWait);
    eventually("DATA_ARRIVAL", || !events(&log).is_empty());
    assert_eq!(events(&log), vec![(Event::DataArrival, 0)]);
    assert_eq!(s.rcv(100, FIVE).unwrap().data, b"bye");
    eventually("CLOSING", || events(&log).len() == 2);
    assert_eq!(s.rcv(100, FIVE), Err(marline::ErrorKind::ConnectionClosing.into()));
    assert_eq!(s.rcv(100, FIVE), Err(marline::ErrorKind::ConnectionClosing.into()));
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(events(&log), vec![(Event::DataArrival, 0), (Event::Closing, 0)]);
}

#[test]
fn send_on_a_stream_that_is_not_open_is_a_clear_error() {
    let s = TcpStream::new().unwrap();
    assert_eq!(s.send(b"x", true, false), Err(marline::ErrorKind::NotConnected.into()));
    assert_eq!(s.rcv(10, SECOND), Err(marline::ErrorKind::NotConnected.into()));
    assert_eq!(s.close(SECOND), Err(marline::ErrorKind::NotConnected.into()));
}

#[test]
fn ulp_timeout_report_counts_data_a_closed_window_holds_back() {
    // Issue 13 item 9 (the netns tests show a peer that stops
    // acknowledging; this one runs without root): a peer that does not
    // read closes its window, so our data waits unacknowledged and the
    // report action raises ULP_TIMEOUT, once per timeout, and goes on.
    const LIMIT: Duration = Duration::from_millis(150);
    let (s, mut peer) = slow_reader_pair();
    let (asr, log) = recorder();
    s.set_asr(Some(asr)).unwrap();
    s.set_ulp_timeout(Some(LIMIT), marline::stream::UlpAction::Report).unwrap();
    s.send(&pattern(60_000), true, false).unwrap();
    let started = Instant::now();
    eventually("two ULP_TIMEOUT", || events(&log).len() == 2);
    assert!(started.elapsed() >= LIMIT, "{:?}", started.elapsed());
    assert_eq!(events(&log), vec![(Event::UlpTimeout, 0), (Event::UlpTimeout, 0)]);
    assert_eq!(s.status().unwrap().state, TcpState::Established);
    assert!(read_exact(&mut peer, 60_000) == pattern(60_000));
    eventually("all acknowledged", || s.status().unwrap().unacked_bytes == 0);
    let n = events(&log).len();
    std::thread::sleep(LIMIT * 3);
    assert_eq!(events(&log).len(), n, "no report once everything is acknowledged");
    // Off again: nothing more, whatever waits.
    s.set_ulp_timeout(None, marline::stream::UlpAction::Report).unwrap();
    s.send(&pattern(60_000), true, false).unwrap();
    std::thread::sleep(LIMIT * 3);
    assert_eq!(events(&log).len(), n);
}

#[test]
fn ulp_timeout_setting_is_checked() {
    let s = TcpStream::new().unwrap();
    use marline::stream::UlpAction::*;
    assert_eq!(s.set_ulp_timeout(Some(Duration::ZERO), Abort), Err(marline::ErrorKind::InvalidArgument.into()));
    s.set_ulp_timeout(Some(Duration::from_secs(3)), Abort).unwrap(); // kept for the next connection
    s.passive_open_on(localhost(0)).unwrap();
    assert_eq!(s.set_ulp_timeout(None, Report), Err(marline::ErrorKind::PassiveOpenInProgress.into()));
    let _peer = PlainStream::connect(localhost(port_of(&s))).unwrap();
    s.wait(FIVE).unwrap();
    s.set_ulp_timeout(None, Report).unwrap();
    s.free();
    assert_eq!(s.set_ulp_timeout(None, Report), Err(marline::ErrorKind::StaleHandle.into()));
}
