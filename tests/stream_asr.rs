//! Seed (MacTCP, "TCP Stream Objects"): "It is safe to do further calls
//! from the asr." Each call is made from inside the asr and must work as
//! it does anywhere else (issue 13 item 4): rcv with and without a time
//! limit, send to a peer that does not read, close, abort (in effect
//! before the asr returns) and free; never a deadlock, no asr after free
//! returns, never two asrs of one stream at once.

mod stream_util;

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use marline::stream::{Event, Received, TcpState, TcpStream, TerminateReason};
use stream_util::*;

type Results = Arc<Mutex<Vec<String>>>;

/// Installs an asr that runs `body` once, on the first DATA_ARRIVAL, with
/// its own stream; every notification is logged.
fn on_first_data(s: &Arc<TcpStream>, body: impl FnOnce(&TcpStream) + Send + 'static) -> Events {
    let me = Arc::downgrade(s);
    let log: Events = Default::default();
    let l = log.clone();
    let mut body = Some(body);
    s.set_asr(Some(Box::new(move |e, d| {
        l.lock().unwrap().push((e, d));
        if e == Event::DataArrival {
            if let (Some(b), Some(me)) = (body.take(), me.upgrade()) {
                b(&me);
            }
        }
    })))
    .unwrap();
    log
}

/// A result with its error reduced to its kind, to log it exactly.
fn kind<T>(r: marline::Result<T>) -> Result<T, marline::ErrorKind> {
    r.map_err(|e| e.kind())
}

fn push(r: &Results, line: String) {
    r.lock().unwrap().push(line);
}

fn results(r: &Results) -> Vec<String> {
    r.lock().unwrap().clone()
}

#[test]
fn rcv_from_the_asr_without_and_with_a_time_limit() {
    let (s, mut peer) = accepted_pair();
    let s = Arc::new(s);
    let r: Results = Default::default();
    let r2 = r.clone();
    let log = on_first_data(&s, move |me| {
        // No limit: the data that raised DATA_ARRIVAL.
        push(&r2, format!("{:?}", kind(me.rcv(100, None))));
        // A limit and nothing coming: TIMED_OUT after the limit.
        let started = Instant::now();
        let timed_out = kind(me.rcv(100, Some(Duration::from_millis(150))));
        push(&r2, format!("{timed_out:?} {}", started.elapsed() >= Duration::from_millis(150)));
        // A limit, and data that comes while the asr waits.
        push(&r2, format!("{:?}", kind(me.rcv(100, FIVE))));
        // No limit again, then the peer's end of stream.
        push(&r2, format!("{:?}", kind(me.rcv(100, None))));
        push(&r2, format!("{:?}", kind(me.rcv(100, None))));
    });
    peer.write_all(b"first").unwrap();
    eventually("two results", || results(&r).len() == 2);
    eventually("the asr waiting in rcv", || receiving(&s));
    peer.write_all(b"second").unwrap();
    eventually("three results", || results(&r).len() == 3);
    eventually("the asr waiting in rcv again", || receiving(&s));
    peer.shutdown(Shutdown::Write).unwrap();
    eventually("five results", || results(&r).len() == 5);
    let piece = |d: &[u8]| format!("{:?}", Ok::<_, marline::ErrorKind>(Received { data: d.to_vec(), urgent: false, mark: false }));
    assert_eq!(
        results(&r),
        vec![piece(b"first"), "Err(TimedOut) true".into(), piece(b"second"), "Err(ConnectionClosing)".into(), "Err(ConnectionClosing)".into()]
    );
    // The data that came while the asr was receiving raised nothing; the
    // end of stream raised CLOSING, delivered once the asr returned.
    eventually("CLOSING", || events(&log).len() == 2);
    assert_eq!(events(&log), vec![(Event::DataArrival, 0), (Event::Closing, 0)]);
    // The stream goes on working outside the asr.
    s.send(b"done", true, false).unwrap();
    assert_eq!(read_exact(&mut peer, 4), b"done");
}

#[test]
fn send_from_the_asr_to_a_peer_that_does_not_read_blocks_until_it_reads() {
    const TOTAL: usize = 16_000_000;
    let (s, mut peer) = slow_reader_pair();
    let s = Arc::new(s);
    let r: Results = Default::default();
    let r2 = r.clone();
    let log = on_first_data(&s, move |me| {
        let started = Instant::now();
        let sent = me.send(&pattern(TOTAL), true, false);
        push(&r2, format!("send {sent:?} took {:?}", started.elapsed()));
    });
    peer.write_all(b"go").unwrap();
    eventually("the asr blocked in send", || sending(&s));
    std::thread::sleep(Duration::from_millis(100));
    assert!(results(&r).is_empty(), "the peer has not read, yet the send returned");
    // While the asr sends, another thread receives (the other lane).
    assert_eq!(s.rcv(100, FIVE).unwrap().data, b"go");
    assert!(sending(&s), "still blocked");
    let got = read_exact(&mut peer, TOTAL);
    assert!(got == pattern(TOTAL), "every byte, in order");
    eventually("send returned", || results(&r).len() == 1);
    let line = results(&r).remove(0);
    assert!(line.starts_with("send Ok(()) took"), "{line}");
    assert_eq!(events(&log), vec![(Event::DataArrival, 0)]);
}

#[test]
fn a_send_blocked_in_the_asr_is_ended_by_abort_or_free_from_another_thread() {
    for use_free in [false, true] {
        let (s, peer) = slow_reader_pair();
        let s = Arc::new(s);
        let r: Results = Default::default();
        let r2 = r.clone();
        let finished = Arc::new(AtomicBool::new(false));
        let f2 = finished.clone();
        let log = on_first_data(&s, move |me| {
            push(&r2, format!("{:?}", kind(me.send(&pattern(16_000_000), true, false))));
            std::thread::sleep(Duration::from_millis(50)); // free must wait for this
            f2.store(true, Ordering::SeqCst);
        });
        (&peer).write_all(b"go").unwrap();
        eventually("the asr blocked in send", || sending(&s));
        if use_free {
            s.free();
            assert!(finished.load(Ordering::SeqCst), "free returned while the asr still ran");
            assert_eq!(results(&r), vec!["Err(StaleHandle)"]);
            assert_eq!(events(&log), vec![(Event::DataArrival, 0)], "no asr after free");
        } else {
            s.abort().unwrap();
            eventually("send ended", || results(&r).len() == 1);
            assert_eq!(results(&r), vec!["Err(Terminated)"]);
            eventually("TERMINATE", || events(&log).len() == 2);
            assert_eq!(events(&log), vec![(Event::DataArrival, 0), (Event::Terminate, TerminateReason::UlpAbort as i32)]);
        }
    }
}

#[test]
fn close_from_the_asr_returns_once_everything_is_acknowledged() {
    let (s, mut peer) = accepted_pair();
    let s = Arc::new(s);
    let r: Results = Default::default();
    let r2 = r.clone();
    let log = on_first_data(&s, move |me| {
        let question = kind(me.rcv(100, FIVE).map(|p| p.data));
        push(&r2, format!("{question:?}"));
        push(&r2, format!("{:?}", kind(me.send(&pattern(300_000), false, false))));
        push(&r2, format!("{:?}", kind(me.close(FIVE))));
        let st = me.status().unwrap();
        push(&r2, format!("unacked {} acked {}", st.unacked_bytes, st.bytes_acked));
    });
    peer.write_all(b"?").unwrap();
    let mut got = Vec::new();
    peer.set_read_timeout(FIVE).unwrap();
    peer.read_to_end(&mut got).unwrap(); // ends at the FIN close sent
    assert!(got == pattern(300_000));
    eventually("four results", || results(&r).len() == 4);
    assert_eq!(results(&r), vec![format!("{:?}", Ok::<_, marline::ErrorKind>(b"?".to_vec())), "Ok(())".into(), "Ok(())".into(), "unacked 0 acked 300001".into()]);
    assert_eq!(events(&log), vec![(Event::DataArrival, 0)]);
    assert_eq!(s.status().unwrap().state, TcpState::FinWait2);
}

#[test]
fn abort_from_the_asr_takes_effect_before_the_asr_returns() {
    let (s, mut peer) = accepted_pair();
    let s = Arc::new(s);
    let peer_side = peer.try_clone().unwrap();
    let r: Results = Default::default();
    let r2 = r.clone();
    let log = on_first_data(&s, move |me| {
        push(&r2, format!("abort {:?}", kind(me.abort())));
        // Still inside the asr: the connection is gone, the peer reset.
        push(&r2, format!("state {:?}", kind(me.status().map(|st| st.state))));
        push(&r2, format!("send {:?}", kind(me.send(b"x", true, false))));
        let mut peer = peer_side;
        peer.set_read_timeout(FIVE).unwrap();
        let mut buf = [0u8; 8];
        push(&r2, format!("peer {:?}", peer.read(&mut buf).map_err(|e| e.kind())));
    });
    peer.write_all(b"x").unwrap();
    eventually("four results", || results(&r).len() == 4);
    assert_eq!(
        results(&r),
        vec!["abort Ok(())", "state Ok(Closed)", "send Err(Terminated)", &format!("peer {:?}", Err::<usize, _>(ErrorKind::ConnectionReset))]
    );
    eventually("TERMINATE", || events(&log).len() == 2);
    assert_eq!(events(&log), vec![(Event::DataArrival, 0), (Event::Terminate, TerminateReason::UlpAbort as i32)]);
}

#[test]
fn free_from_the_asr_closes_before_the_asr_returns_and_no_asr_follows() {
    let (s, peer) = accepted_pair();
    let s = Arc::new(s);
    let peer_side = peer.try_clone().unwrap();
    let r: Results = Default::default();
    let r2 = r.clone();
    let log = on_first_data(&s, move |me| {
        me.free(); // returns at once, though its caller is this asr
        push(&r2, format!("after free {:?}", kind(me.status())));
        // "data" was left unread, so the close was a reset; it has happened.
        let mut peer = peer_side;
        peer.set_read_timeout(FIVE).unwrap();
        let mut buf = [0u8; 8];
        push(&r2, format!("peer {:?}", peer.read(&mut buf).map_err(|e| e.kind())));
    });
    (&peer).write_all(b"data").unwrap();
    eventually("two results", || results(&r).len() == 2);
    assert_eq!(results(&r), vec!["after free Err(StaleHandle)".to_string(), format!("peer {:?}", Err::<usize, _>(ErrorKind::ConnectionReset))]);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(events(&log), vec![(Event::DataArrival, 0)]);
    assert_eq!(s.rcv(10, SECOND), Err(marline::ErrorKind::StaleHandle.into()));
    s.free(); // again, from this thread: harmless, and joins the asr thread
}

#[test]
fn free_from_another_thread_ends_a_rcv_blocked_in_the_asr_and_waits_for_it() {
    let (s, peer) = accepted_pair();
    let s = Arc::new(s);
    let (tx, rx) = mpsc::channel();
    let finished = Arc::new(AtomicBool::new(false));
    let f2 = finished.clone();
    let tx = Mutex::new(tx);
    let log = on_first_data(&s, move |me| {
        let first = me.rcv(100, None);
        let blocked = me.rcv(100, None); // nothing more comes
        tx.lock().unwrap().send((first.map(|p| p.data), blocked)).unwrap();
        f2.store(true, Ordering::SeqCst);
    });
    (&peer).write_all(b"one").unwrap();
    // The first rcv takes "one"; then the asr waits with no limit (and
    // nothing is left for the probe to read).
    eventually("DATA_ARRIVAL", || !events(&log).is_empty());
    eventually("\"one\" read", || s.status().unwrap().unread_bytes == 0);
    eventually("the asr blocked in rcv", || receiving(&s));
    s.free();
    assert!(finished.load(Ordering::SeqCst), "free returned before the asr did");
    assert_eq!(rx.try_recv().unwrap(), (Ok(b"one".to_vec()), Err(marline::ErrorKind::StaleHandle.into())));
}

#[test]
fn wait_from_the_asr_of_another_stream() {
    // An asr may block on another stream too: the engine threads are
    // independent and none waits for an asr.
    let (a, a_peer) = accepted_pair();
    let a = Arc::new(a);
    let b = Arc::new(TcpStream::new().unwrap());
    b.passive_open_on(localhost(0)).unwrap();
    let b_port = port_of(&b);
    let r: Results = Default::default();
    let (r2, b2) = (r.clone(), b.clone());
    let _log = on_first_data(&a, move |_| {
        push(&r2, format!("{:?}", kind(b2.wait(FIVE))));
        push(&r2, format!("{:?}", kind(b2.rcv(10, FIVE).map(|p| p.data))));
    });
    (&a_peer).write_all(b"x").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let mut b_peer = std::net::TcpStream::connect(localhost(b_port)).unwrap();
    b_peer.write_all(b"to b").unwrap();
    eventually("two results", || results(&r).len() == 2);
    assert_eq!(results(&r), vec!["Ok(())".to_string(), format!("{:?}", Ok::<_, marline::ErrorKind>(b"to b".to_vec()))]);
}
