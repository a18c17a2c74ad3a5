//! Threads and the asr: two streams in two threads at once; the asr never
//! runs concurrently with itself nor after free; free from inside the asr
//! and while another thread is blocked; calls from inside the asr.

mod stream_util;

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use marline::stream::{Event, TcpStream};
use marline::ErrorKind;
use stream_util::*;

#[test]
fn two_threads_each_with_its_own_stream_run_concurrently() {
    // Thread A blocks in rcv on its stream; meanwhile thread B completes
    // many round trips on its own: one blocked stream delays no other.
    let (a, _a_peer) = accepted_pair();
    let (b, mut b_peer) = accepted_pair();
    let b_done_at = std::thread::scope(|scope| {
        let blocked = scope.spawn(|| {
            let started = Instant::now();
            assert_eq!(a.rcv(100, Some(Duration::from_millis(1500))), Err(ErrorKind::TimedOut.into()));
            started.elapsed()
        });
        let busy = scope.spawn(|| {
            let started = Instant::now();
            for i in 0..200u32 {
                let msg = i.to_be_bytes();
                b.send(&msg, true, false).unwrap();
                assert_eq!(read_exact(&mut b_peer, 4), msg);
                b_peer.write_all(&msg).unwrap();
                let mut got = Vec::new();
                while got.len() < 4 {
                    got.extend(b.rcv(4 - got.len(), FIVE).unwrap().data);
                }
                assert_eq!(got, msg);
            }
            started.elapsed()
        });
        let b_took = busy.join().unwrap();
        let a_took = blocked.join().unwrap();
        assert!(a_took >= Duration::from_millis(1500));
        b_took
    });
    assert!(b_done_at < Duration::from_millis(1500), "B waited for A: {b_done_at:?}");
}

#[test]
fn two_streams_talking_to_each_other_from_two_threads() {
    let server = TcpStream::new().unwrap();
    server.passive_open_on(localhost(0)).unwrap();
    let port = port_of(&server);
    let data: Vec<u8> = (0..500_000u32).map(|i| (i % 251) as u8).collect();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let client = TcpStream::new().unwrap();
            client.active_open(0, "127.0.0.1", port, FIVE).unwrap();
            for chunk in data.chunks(7000) {
                client.send(chunk, true, false).unwrap();
            }
            client.close(FIVE).unwrap();
        });
        server.wait(FIVE).unwrap();
        let mut got = Vec::new();
        loop {
            match server.rcv(65536, FIVE) {
                Ok(r) => got.extend(r.data),
                Err(e) if e.kind() == ErrorKind::ConnectionClosing => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert!(got == data, "{} bytes", got.len());
    });
}

#[test]
fn the_asr_never_runs_concurrently_nor_after_free() {
    for round in 0..20 {
        let (s, peer) = accepted_pair();
        let active = Arc::new(AtomicUsize::new(0));
        let overlaps = Arc::new(AtomicUsize::new(0));
        let calls = Arc::new(AtomicUsize::new(0));
        let freed = Arc::new(AtomicBool::new(false));
        let after_free = Arc::new(AtomicUsize::new(0));
        let (a, o, c, f, af) = (active.clone(), overlaps.clone(), calls.clone(), freed.clone(), after_free.clone());
        s.set_asr(Some(Box::new(move |_, _| {
            if f.load(Ordering::SeqCst) {
                af.fetch_add(1, Ordering::SeqCst);
            }
            if a.fetch_add(1, Ordering::SeqCst) != 0 {
                o.fetch_add(1, Ordering::SeqCst);
            }
            c.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(15)); // free lands mid-call
            a.fetch_sub(1, Ordering::SeqCst);
            if f.load(Ordering::SeqCst) {
                af.fetch_add(1, Ordering::SeqCst);
            }
        })))
        .unwrap();
        for i in 0..5u8 {
            send_oob(&peer, &[i]); // DATA_ARRIVAL and URGENT each time
            std::thread::sleep(Duration::from_millis(3));
        }
        eventually("an asr call", || calls.load(Ordering::SeqCst) > 0);
        std::thread::sleep(Duration::from_millis((round % 4) * 5));
        s.free();
        freed.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(overlaps.load(Ordering::SeqCst), 0, "round {round}");
        assert_eq!(after_free.load(Ordering::SeqCst), 0, "round {round}: asr ran after free returned");
        assert_eq!(s.status(), Err(ErrorKind::StaleHandle.into()));
        assert_eq!(s.send(b"x", true, false), Err(ErrorKind::StaleHandle.into()));
        drop(peer);
    }
}

#[test]
fn free_from_inside_the_asr_stops_further_notifications() {
    let (s, peer) = accepted_pair();
    let s = Arc::new(s);
    let slot: Arc<Mutex<Option<Arc<TcpStream>>>> = Arc::new(Mutex::new(Some(s.clone())));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (sl, se) = (slot.clone(), seen.clone());
    s.set_asr(Some(Box::new(move |e, d| {
        if e == Event::PassiveOpenDone {
            return; // may still be on its way from accepted_pair
        }
        se.lock().unwrap().push((e, d));
        if let Some(me) = sl.lock().unwrap().take() {
            me.free(); // returns at once on the engine thread
            assert_eq!(me.status(), Err(ErrorKind::StaleHandle.into()));
        }
    })))
    .unwrap();
    (&peer).write_all(b"data").unwrap();
    eventually("the asr", || !seen.lock().unwrap().is_empty());
    // The freed stream's socket is gone (reset, since "data" was unread):
    // whether or not this send gets through, no asr may follow.
    // SAFETY: a valid one-byte buffer.
    let _ = unsafe { libc::send(std::os::fd::AsRawFd::as_raw_fd(&peer), b"!".as_ptr() as *const libc::c_void, 1, libc::MSG_OOB | libc::MSG_NOSIGNAL) };
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(*seen.lock().unwrap(), vec![(Event::DataArrival, 0)]);
    assert_eq!(s.sock_name(), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(s.rcv(10, SECOND), Err(ErrorKind::StaleHandle.into()));
}

#[test]
fn free_while_another_thread_is_blocked_fails_that_call() {
    let (s, _peer) = accepted_pair();
    std::thread::scope(|scope| {
        let r = scope.spawn(|| s.rcv(100, None));
        std::thread::sleep(Duration::from_millis(50));
        s.free();
        assert_eq!(r.join().unwrap(), Err(ErrorKind::StaleHandle.into()));
    });
}

#[test]
fn one_rcv_and_one_send_at_once_a_second_in_a_lane_is_busy_and_abort_ends_both() {
    let (s, peer) = slow_reader_pair();
    let mut peer_reader = peer.try_clone().unwrap();
    std::thread::scope(|scope| {
        let r = scope.spawn(|| s.rcv(100, FIVE));
        eventually("rcv waiting", || receiving(&s));
        // The sending lane is free while a rcv waits: a send goes through.
        s.send(b"while receiving", true, false).unwrap();
        assert_eq!(read_exact(&mut peer_reader, 15), b"while receiving");
        // A send that blocks (the peer does not read) holds the sending lane.
        let w = scope.spawn(|| s.send(&pattern(16_000_000), true, false));
        eventually("send blocked", || sending(&s));
        assert_eq!(s.rcv(1, FIVE), Err(ErrorKind::StreamBusy.into()));
        assert_eq!(s.close(FIVE), Err(ErrorKind::StreamBusy.into()));
        assert_eq!(s.send(b"x", true, false), Err(ErrorKind::StreamBusy.into()));
        assert_eq!(s.passive_open_on(localhost(0)), Err(ErrorKind::StreamBusy.into()));
        s.abort().unwrap();
        assert_eq!(r.join().unwrap(), Err(ErrorKind::Terminated.into()));
        assert_eq!(w.join().unwrap(), Err(ErrorKind::Terminated.into()));
    });
    drop(peer);
}

#[test]
fn inside_the_asr_every_call_works() {
    // Seed: "It is safe to do further calls from the asr." (each blocking
    // call in detail: tests/stream_asr.rs)
    let (s, mut peer) = accepted_pair();
    let s = Arc::new(s);
    let me = Arc::downgrade(&s);
    let results = Arc::new(Mutex::new(Vec::new()));
    let r2 = results.clone();
    s.set_asr(Some(Box::new(move |e, _| {
        let Some(me) = me.upgrade() else { return };
        if e != Event::DataArrival {
            return;
        }
        let mut r = r2.lock().unwrap();
        r.push(format!("rcv {:?}", me.rcv(10, SECOND).map(|p| p.data)));
        r.push(format!("send {:?}", me.send(b"x", true, false)));
        r.push(format!("close {:?}", me.close(SECOND)));
        r.push(format!("done {}", me.is_done()));
        r.push(format!("wait {:?}", me.wait(SECOND)));
        r.push(format!("unread {:?}", me.status().map(|s| s.unread_bytes)));
        r.push(format!("name {:?}", me.sock_name().map(|a| a.port() != 0)));
        r.push(format!("abort {:?}", me.abort()));
        r.push(format!("send {:?}", me.send(b"x", true, false).map_err(|e| e.kind())));
    })))
    .unwrap();
    (&peer).write_all(b"abc").unwrap();
    eventually("asr results", || results.lock().unwrap().len() == 9);
    assert_eq!(
        *results.lock().unwrap(),
        vec![
            "rcv Ok([97, 98, 99])",
            "send Ok(())",
            "close Ok(())",
            "done true",
            "wait Ok(())",
            "unread Ok(0)",
            "name Ok(true)",
            "abort Ok(())",
            "send Err(Terminated)",
        ]
    );
    assert_eq!(read_exact(&mut peer, 1), b"x");
}
