//! Producer/consumer flow control: streaming and pull producers, their
//! registration rules, and the transport itself as a producer.
mod common;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::Duration;

use common::*;
use marline::{ErrorKind, Producer, Reactor, ReasonKind, Transport};

type Events = Rc<RefCell<Vec<(String, usize)>>>;

/// Records each call with the transport's queue size at that moment.
struct Rec {
    ev: Events,
    /// Pull mode: chunks still to write, one per resume_producing.
    pull_left: Cell<usize>,
    chunk: Vec<u8>,
}

impl Rec {
    fn new(ev: &Events) -> Rec {
        Rec { ev: ev.clone(), pull_left: Cell::new(0), chunk: Vec::new() }
    }
    fn note(&self, t: &Transport, what: &str) {
        let q = t.queued().unwrap_or(usize::MAX);
        self.ev.borrow_mut().push((what.to_string(), q));
    }
}

impl Producer for Rec {
    fn pause_producing(&self, t: &Transport) {
        self.note(t, "pause")
    }
    fn resume_producing(&self, t: &Transport) {
        self.note(t, "resume");
        if self.pull_left.get() > 0 {
            self.pull_left.set(self.pull_left.get() - 1);
            t.write(&self.chunk).unwrap();
            if self.pull_left.get() == 0 {
                t.unregister_producer().unwrap();
                t.lose_connection().unwrap();
            }
        }
    }
    fn stop_producing(&self, t: &Transport) {
        self.ev.borrow_mut().push(("stop".into(), 0));
        let _ = t;
    }
}

fn names(ev: &Events) -> Vec<String> {
    ev.borrow().iter().map(|e| e.0.clone()).collect()
}

/// Writes `chunk` until the producer is paused; returns the bytes written.
fn write_until_paused(r: &Reactor, t: &Transport, ev: &Events, chunk: &[u8], sent: &mut Vec<u8>) {
    for _ in 0..100_000 {
        if names(ev).last().map(String::as_str) == Some("pause") {
            return;
        }
        t.write(chunk).unwrap();
        sent.extend_from_slice(chunk);
        r.run_once(Some(Duration::ZERO)).unwrap();
    }
    panic!("never paused; queued {}", t.queued().unwrap());
}

fn streaming_cycle(high_water: Option<usize>, chunk_len: usize) {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let listener = std_listener(Some(4096));
    let (t, mut peer) = client_pair_on(&r, Recorder::new(&log), &listener);
    if let Some(hw) = high_water {
        t.set_write_high_water(hw).unwrap();
    }
    let mark = high_water.unwrap_or(64 * 1024);
    let ev: Events = Default::default();
    t.register_producer(Box::new(Rec::new(&ev)), true).unwrap();
    let chunk = pattern(chunk_len, 77);
    let mut sent = Vec::new();
    write_until_paused(&r, &t, &ev, &chunk, &mut sent);
    let at_pause = ev.borrow()[0].1;
    assert!(at_pause > mark && at_pause <= mark + chunk_len, "paused at {at_pause} for mark {mark}");
    // Still paused while nobody reads.
    run_for(&r, Duration::from_millis(50));
    assert_eq!(names(&ev), ["pause"]);

    // The peer reads what is there; the queue drains; the producer resumes.
    let mut got = Vec::new();
    let mut buf = vec![0; 1 << 16];
    while names(&ev).len() < 2 {
        peer.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
        if let Ok(n) = peer.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        r.run_once(Some(Duration::ZERO)).unwrap();
    }
    assert_eq!(*ev.borrow(), [("pause".to_string(), at_pause), ("resume".to_string(), 0)]);

    // A second round: pause again, then finish.
    write_until_paused(&r, &t, &ev, &chunk, &mut sent);
    assert_eq!(names(&ev), ["pause", "resume", "pause"]);
    t.unregister_producer().unwrap();
    t.lose_connection().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let reader = std::thread::spawn(move || {
        peer.read_to_end(&mut got).unwrap();
        got
    });
    run_until(&r, || has(&log, is_lost));
    let got = reader.join().unwrap();
    assert!(got == sent, "exact bytes");
    assert_eq!(names(&ev), ["pause", "resume", "pause"], "unregistered: no stop_producing");
}

#[test]
fn streaming_producer_pauses_past_64k_and_resumes_when_drained() {
    streaming_cycle(None, 16 * 1024);
}

#[test]
fn streaming_producer_honours_a_custom_high_water_mark() {
    streaming_cycle(Some(1000), 300);
}

#[test]
fn pull_producer_is_resumed_each_time_the_queue_empties() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, mut peer) = client_pair(&r, Recorder::new(&log));
    let ev: Events = Default::default();
    let chunk = pattern(300 * 1024, 4);
    let mut p = Rec::new(&ev);
    p.pull_left.set(20);
    p.chunk = chunk.clone();
    t.register_producer(Box::new(p), false).unwrap();
    assert!(ev.borrow().is_empty(), "the first resume comes from the loop");
    let reader = std::thread::spawn(move || read_to_eof(&mut peer));
    run_until(&r, || has(&log, is_lost));
    let got = reader.join().unwrap();
    assert_eq!(got.len(), 20 * chunk.len());
    assert!(got == chunk.repeat(20));
    let ev = ev.borrow();
    assert_eq!(ev.len(), 20, "{ev:?}");
    assert!(ev.iter().all(|(n, q)| n == "resume" && *q == 0), "each resume with an empty queue: {ev:?}");
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Lost(ReasonKind::Done)]);
}

#[test]
fn a_second_registration_is_an_error() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, _peer) = client_pair(&r, Recorder::new(&log));
    let first: Events = Default::default();
    let second: Events = Default::default();
    t.register_producer(Box::new(Rec::new(&first)), true).unwrap();
    assert_eq!(t.register_producer(Box::new(Rec::new(&second)), true), Err(ErrorKind::ProducerAlreadyRegistered.into()));
    assert_eq!(t.register_producer(Box::new(Rec::new(&second)), false), Err(ErrorKind::ProducerAlreadyRegistered.into()));
    t.abort_connection().unwrap();
    run_until(&r, || has(&log, is_lost));
    assert_eq!(names(&first), ["stop"], "the registered producer is the first one");
    assert!(second.borrow().is_empty());
}

#[test]
fn registering_on_a_dead_transport_stops_the_producer_at_once() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, _peer) = client_pair(&r, Recorder::new(&log));
    t.lose_connection().unwrap();
    run_until(&r, || has(&log, is_lost));
    for streaming in [true, false] {
        let ev: Events = Default::default();
        assert_eq!(t.register_producer(Box::new(Rec::new(&ev)), streaming), Err(ErrorKind::StaleHandle.into()));
        assert_eq!(names(&ev), ["stop"]);
    }
    // Unregistering after the disconnect is a clean error too.
    assert_eq!(t.unregister_producer(), Err(ErrorKind::StaleHandle.into()));
}

#[test]
fn unregister_without_a_producer_is_an_error() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, _peer) = client_pair(&r, Recorder::new(&log));
    assert_eq!(t.unregister_producer(), Err(ErrorKind::NoProducer.into()));
    let ev: Events = Default::default();
    t.register_producer(Box::new(Rec::new(&ev)), true).unwrap();
    t.unregister_producer().unwrap();
    assert_eq!(t.unregister_producer(), Err(ErrorKind::NoProducer.into()));
    t.lose_connection().unwrap();
    run_until(&r, || has(&log, is_lost));
    assert!(ev.borrow().is_empty(), "an unregistered producer is not stopped");
}

#[test]
fn lose_connection_waits_for_the_producer_to_unregister() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, mut peer) = client_pair(&r, Recorder::new(&log));
    let ev: Events = Default::default();
    t.register_producer(Box::new(Rec::new(&ev)), true).unwrap();
    t.write(b"data").unwrap();
    t.lose_connection().unwrap();
    run_for(&r, Duration::from_millis(100));
    assert_eq!(*log.borrow(), [Ev::Made]);
    assert_eq!(read_n(&mut peer, 4), b"data");
    peer.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut b = [0u8; 1];
    assert!(peer.read(&mut b).is_err(), "no EOF while the producer is registered");
    t.unregister_producer().unwrap();
    assert_eq!(*log.borrow(), [Ev::Made], "closing continues from the loop");
    run_until(&r, || has(&log, is_lost));
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Lost(ReasonKind::Done)]);
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(peer.read(&mut b).unwrap(), 0);
    assert!(ev.borrow().is_empty());
}

fn lost_with_producer(kill: impl FnOnce(std::net::TcpStream)) -> (Vec<String>, Vec<Ev>) {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let ev: Events = Default::default();
    let ev2 = ev.clone();
    let proto = Recorder::new(&log).hook(move |_, e| {
        if is_lost(e) {
            ev2.borrow_mut().push(("lost".into(), 0));
        }
    });
    let (t, peer) = client_pair(&r, proto);
    t.register_producer(Box::new(Rec::new(&ev)), true).unwrap();
    kill(peer);
    run_until(&r, || has(&log, is_lost));
    let l = log.borrow().clone();
    (names(&ev), l)
}

#[test]
fn peer_reset_stops_the_producer_before_connection_lost() {
    let (ev, log) = lost_with_producer(|peer| {
        socket2::SockRef::from(&peer).set_linger(Some(Duration::ZERO)).unwrap();
    });
    assert_eq!(ev, ["stop", "lost"]);
    assert_eq!(log, [Ev::Made, Ev::Lost(ReasonKind::Lost)]);
}

#[test]
fn peer_close_stops_the_producer_and_closes() {
    // The peer's FIN closes a non-half-close protocol even with a producer
    // registered: the producer is told to stop rather than waited for.
    let (ev, log) = lost_with_producer(|mut peer| {
        peer.write_all(b"x").unwrap();
    });
    assert_eq!(ev, ["stop", "lost"]);
    assert_eq!(log, [Ev::Made, Ev::Data(b"x".to_vec()), Ev::Lost(ReasonKind::Done)]);
}

#[test]
fn the_transport_as_a_producer_pauses_and_resumes_reading() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, mut peer) = client_pair(&r, Recorder::new(&log));
    peer.write_all(b"a").unwrap();
    run_until(&r, || data_of(&log) == b"a");
    t.pause_producing().unwrap();
    peer.write_all(b"b").unwrap();
    peer.write_all(b"c").unwrap();
    run_for(&r, Duration::from_millis(100));
    assert_eq!(data_of(&log), b"a", "no reads while paused");
    t.pause_producing().unwrap(); // twice is harmless
    t.resume_producing().unwrap();
    // Data that arrived while paused is delivered without a new edge.
    run_until(&r, || data_of(&log) == b"abc");
    t.resume_producing().unwrap();
    // A FIN that arrived while paused is seen after resuming too.
    t.pause_producing().unwrap();
    drop(peer);
    run_for(&r, Duration::from_millis(50));
    assert!(!has(&log, is_lost));
    t.resume_producing().unwrap();
    run_until(&r, || has(&log, is_lost));
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Data(b"abc".to_vec()), Ev::Lost(ReasonKind::Done)]);
}

#[test]
fn stop_producing_on_the_transport_closes_it() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, mut peer) = client_pair(&r, Recorder::new(&log));
    t.write(b"flushed first").unwrap();
    t.stop_producing().unwrap();
    run_until(&r, || has(&log, is_lost));
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Lost(ReasonKind::Done)]);
    assert_eq!(read_to_eof(&mut peer), b"flushed first");
}

/// A streaming producer that writes from inside resume_producing and so
/// crosses the mark during its own callback.
struct WritesOnResume {
    ev: Events,
    chunk: Vec<u8>,
    sent: Rc<RefCell<Vec<u8>>>,
}

impl Producer for WritesOnResume {
    fn pause_producing(&self, t: &Transport) {
        self.ev.borrow_mut().push(("pause".into(), t.queued().unwrap()));
    }
    fn resume_producing(&self, t: &Transport) {
        self.ev.borrow_mut().push(("resume".into(), t.queued().unwrap()));
        t.write(&self.chunk).unwrap();
        self.sent.borrow_mut().extend_from_slice(&self.chunk);
    }
}

#[test]
fn a_pause_decided_inside_resume_producing_is_delivered() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let listener = std_listener(Some(4096));
    let (t, mut peer) = client_pair_on(&r, Recorder::new(&log), &listener);
    let ev: Events = Default::default();
    let sent: Rc<RefCell<Vec<u8>>> = Default::default();
    // More than the kernel can take at once, however fast the peer reads.
    let chunk = pattern(16 << 20, 21);
    t.register_producer(Box::new(WritesOnResume { ev: ev.clone(), chunk: chunk.clone(), sent: sent.clone() }), true)
        .unwrap();
    let mut first = Vec::new();
    write_until_paused(&r, &t, &ev, &chunk, &mut first);
    sent.borrow_mut().splice(0..0, first);
    assert_eq!(names(&ev), ["pause"]);
    let reader = std::thread::spawn(move || read_to_eof(&mut peer));
    let ev2 = ev.clone();
    let start = std::time::Instant::now();
    while ev.borrow().len() < 7 {
        assert!(start.elapsed() < Duration::from_secs(10), "{:?}", ev2.borrow());
        r.run_once(Some(Duration::from_millis(20))).unwrap();
    }
    let n = names(&ev);
    for pair in n.windows(2) {
        assert_ne!(pair[0], pair[1], "pause and resume alternate: {n:?}");
    }
    t.unregister_producer().unwrap();
    t.lose_connection().unwrap();
    run_until(&r, || has(&log, is_lost));
    assert!(reader.join().unwrap() == *sent.borrow());
}

/// Writes its last chunk from resume_producing, then unregisters and loses
/// the connection: the close must wait for that chunk to flush.
struct FinishesOnResume {
    ev: Events,
    last: Vec<u8>,
}

impl Producer for FinishesOnResume {
    fn pause_producing(&self, t: &Transport) {
        self.ev.borrow_mut().push(("pause".into(), t.queued().unwrap_or(0)));
    }
    fn resume_producing(&self, t: &Transport) {
        self.ev.borrow_mut().push(("resume".into(), 0));
        t.write(&self.last).unwrap();
        t.unregister_producer().unwrap();
        t.lose_connection().unwrap();
    }
}

#[test]
fn data_written_and_closed_from_resume_producing_is_all_delivered() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let listener = std_listener(Some(4096));
    let (t, mut peer) = client_pair_on(&r, Recorder::new(&log), &listener);
    let ev: Events = Default::default();
    let last = pattern(1 << 20, 33);
    t.register_producer(Box::new(FinishesOnResume { ev: ev.clone(), last: last.clone() }), true).unwrap();
    let mut sent = Vec::new();
    write_until_paused(&r, &t, &ev, &pattern(64 * 1024, 5), &mut sent);
    sent.extend_from_slice(&last);
    let reader = std::thread::spawn(move || read_to_eof(&mut peer));
    run_until(&r, || has(&log, is_lost));
    assert_eq!(*log.borrow().last().unwrap(), Ev::Lost(ReasonKind::Done));
    let got = reader.join().unwrap();
    assert_eq!(got.len(), sent.len(), "every byte arrives");
    assert!(got == sent);
}

/// An echo protocol whose reading is the producer of its writes.
fn self_paced_echo(high_water: usize) -> Recorder {
    let log: Log = Default::default();
    Recorder::new(&log).hook(move |t, ev| match ev {
        Ev::Made => {
            t.set_write_high_water(high_water).unwrap();
            t.register_reading_as_producer().unwrap();
        }
        Ev::Data(d) => t.write(d).unwrap(),
        _ => {}
    })
}

/// The peer writes without reading until its writes have been refused for
/// 300 ms (the reactor running meanwhile); returns what it wrote.
fn write_until_stalled(r: &Reactor, peer: &mut std::net::TcpStream, data: &[u8]) -> usize {
    peer.set_nonblocking(true).unwrap();
    let (mut sent, mut stalled) = (0, 0);
    while sent < data.len() && stalled < 300 {
        match peer.write(&data[sent..(sent + 65536).min(data.len())]) {
            Ok(n) => (sent, stalled) = (sent + n, 0),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                run_for(r, Duration::from_millis(1));
                stalled += 1;
            }
            Err(e) => panic!("peer write: {e}"),
        }
        r.run_once(Some(Duration::ZERO)).unwrap();
    }
    peer.set_nonblocking(false).unwrap();
    sent
}

#[test]
fn reading_as_producer_stops_reading_while_the_echo_is_not_read() {
    let r = Reactor::new().unwrap();
    let (t, mut peer) = server_pair(&r, self_paced_echo(16 * 1024));
    let data = pattern(128 << 20, 3);
    let sent = write_until_stalled(&r, &mut peer, &data);
    assert!(sent < data.len(), "the peer wrote all {sent} bytes: reading never paused");
    // Reading paused past the mark: at most one more read (64 KiB) queued.
    let queued = t.queued().unwrap();
    assert!(queued > 16 * 1024 && queued <= (16 + 64) * 1024, "queued {queued}");
    // The peer reads: everything comes back, in order.
    let reader = std::thread::spawn(move || read_n(&mut peer, sent));
    run_until(&r, || reader.is_finished());
    assert!(reader.join().unwrap() == data[..sent], "echo differs");
}

#[test]
fn reading_as_producer_is_the_registered_producer() {
    let r = Reactor::new().unwrap();
    let (t, mut peer) = server_pair(&r, self_paced_echo(4096));
    assert_eq!(t.register_reading_as_producer(), Err(ErrorKind::ProducerAlreadyRegistered.into()));
    let ev: Events = Default::default();
    assert_eq!(t.register_producer(Box::new(Rec::new(&ev)), true), Err(ErrorKind::ProducerAlreadyRegistered.into()));
    // Paused by flow control; unregistering resumes reading, and with no
    // flow control left the queue grows past the mark.
    let data = pattern(64 << 20, 5);
    let sent = write_until_stalled(&r, &mut peer, &data);
    let paused_at = t.queued().unwrap();
    t.unregister_producer().unwrap();
    assert_eq!(t.unregister_producer(), Err(ErrorKind::NoProducer.into()));
    let more = sent + write_until_stalled(&r, &mut peer, &data[sent..]);
    assert!(t.queued().unwrap() > paused_at + 64 * 1024, "reading did not resume: {} queued", t.queued().unwrap());
    // Another producer may now be registered; everything echoes back.
    t.register_producer(Box::new(Rec::new(&ev)), true).unwrap();
    let reader = std::thread::spawn(move || read_n(&mut peer, more));
    run_until(&r, || reader.is_finished());
    assert!(reader.join().unwrap() == data[..more], "echo differs");
}
