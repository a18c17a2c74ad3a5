//! The connection lifecycle every transport shares (src/transport/connection/), checked
//! on each transport: TCP, telnet over TCP, and processes.
//!
//! - a producer and a peer that goes away: connection_lost and stop_producing, always;
//! - lose_connection / lose_write_connection with a producer: its writes are delivered and
//!   the close waits for it; writes after lose_connection are delivered, never dropped;
//! - both sides half-closing: write_connection_lost always comes before connection_lost;
//! - output generated in answer to input stops reading past the high-water mark.
mod common;
mod telnet_common;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use common::{client_pair, read_to_eof, Ev, Log, Recorder};
use marline::telnet::transport::Side;
use marline::telnet::{Policy, Telnet};
use marline::{Error, ErrorKind, Process, ProcessSpec, Producer, Reactor, ReasonKind, Transport};
use telnet_common::{Raw, Rec, TEv, TLog};

type Notes = Rc<RefCell<Vec<String>>>;

/// A producer that records its calls; a pull producer writes `chunk` on each resume.
struct Rp {
    notes: Notes,
    chunk: Vec<u8>,
    /// Write results of the pull writes (a refused write is a defect).
    refused: Rc<Cell<usize>>,
}

impl Rp {
    fn new(notes: &Notes) -> Rp {
        Rp { notes: notes.clone(), chunk: Vec::new(), refused: Default::default() }
    }
    fn writing(notes: &Notes, chunk: &[u8]) -> Rp {
        Rp { chunk: chunk.to_vec(), ..Rp::new(notes) }
    }
}

impl Producer for Rp {
    fn pause_producing(&self, _t: &Transport) {
        self.notes.borrow_mut().push("pause".into())
    }
    fn resume_producing(&self, t: &Transport) {
        self.notes.borrow_mut().push("resume".into());
        if !self.chunk.is_empty() && t.write(&self.chunk).is_err() {
            self.refused.set(self.refused.get() + 1);
        }
    }
    fn stop_producing(&self, _t: &Transport) {
        self.notes.borrow_mut().push("stop".into())
    }
}

fn note(notes: &Notes, what: &str) {
    notes.borrow_mut().push(what.into());
}

fn count(notes: &Notes, what: &str) -> usize {
    notes.borrow().iter().filter(|n| *n == what).count()
}

fn reset(s: TcpStream) {
    socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO)).unwrap();
}

/// The port a listening port is bound to.
fn port_number(lp: &marline::ListeningPort) -> u16 {
    match lp.host().unwrap() {
        marline::Address::Inet(a) => a.port(),
        other => panic!("{other}"),
    }
}

fn lost_kind(log: &Log) -> Option<ReasonKind> {
    log.borrow().iter().find_map(|e| if let Ev::Lost(k) = e { Some(*k) } else { None })
}

// ----- 1. a producer and a peer that goes away -----

/// Port of Twisted's test_unregisterProducerAfterDisconnect
/// (twisted/internet/test/connectionmixins.py): the server closes at once; the client
/// registers a pull producer that writes "x" on each resume, calls lose_connection, and
/// unregisters the producer from connection_lost. The client must get connection_lost
/// (today reading stops at lose_connection, so the server's FIN is never seen), the
/// producer's writes must not be refused, and unregistering there is harmless.
#[test]
fn unregister_producer_after_disconnect() {
    let r = Reactor::new().unwrap();
    let port = r
        .listen_tcp("127.0.0.1", 0, 0, |_| {
            let closing: Log = Default::default();
            Box::new(Recorder::new(&closing).hook(|t, e| {
                if *e == Ev::Made {
                    t.lose_connection().unwrap();
                }
            }))
        })
        .unwrap();
    let port = port_number(&port);
    let notes: Notes = Default::default();
    let refused: Rc<Cell<usize>> = Default::default();
    let unregistered: Rc<RefCell<Option<Result<(), Error>>>> = Default::default();
    let log: Log = Default::default();
    let (n, rf, u) = (notes.clone(), refused.clone(), unregistered.clone());
    let client = Recorder::new(&log).hook(move |t, e| match e {
        Ev::Made => {
            let p = Rp { refused: rf.clone(), ..Rp::writing(&n, b"x") };
            t.register_producer(Box::new(p), false).unwrap();
            t.lose_connection().unwrap();
        }
        Ev::Lost(_) => *u.borrow_mut() = Some(t.unregister_producer()),
        _ => {}
    });
    let t = r.connect_tcp("127.0.0.1", port, None, Box::new(client)).unwrap();
    common::run_until(&r, || common::has(&log, common::is_lost));
    assert_eq!(refused.get(), 0, "a producer's write after lose_connection was refused");
    assert_eq!(count(&notes, "stop"), 1, "{:?}", notes.borrow());
    assert_eq!(notes.borrow().last().unwrap(), "stop", "nothing after stop_producing");
    // The producer was stopped before connection_lost: unregistering there finds none.
    assert_eq!(*unregistered.borrow(), Some(Err(ErrorKind::NoProducer.into())));
    assert!(matches!(lost_kind(&log), Some(ReasonKind::Done | ReasonKind::Lost)), "{:?}", log.borrow());
    assert_eq!(t.write(b"x"), Err(ErrorKind::StaleHandle.into()));
    assert_eq!(r.object_count(), 1, "only the listening port is left");
}

/// A connection that called lose_connection and waits for its streaming producer notices
/// the peer's reset: connection_lost(LOST), the producer stopped first.
#[test]
fn tcp_peer_reset_after_lose_connection_with_a_producer() {
    let r = Reactor::new().unwrap();
    let notes: Notes = Default::default();
    let n = notes.clone();
    let log: Log = Default::default();
    let (t, peer) = client_pair(&r, Recorder::new(&log).hook(move |_, e| if common::is_lost(e) { note(&n, "lost") }));
    t.register_producer(Box::new(Rp::new(&notes)), true).unwrap();
    t.lose_connection().unwrap();
    common::run_for(&r, Duration::from_millis(30));
    reset(peer);
    common::run_until(&r, || common::has(&log, common::is_lost));
    assert_eq!(*notes.borrow(), ["stop", "lost"]);
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Lost(ReasonKind::Lost)]);
}

/// The same with the peer's FIN: the peer will send nothing more, so a protocol without
/// half-close is closed (after flushing) and its producer stopped.
#[test]
fn tcp_peer_close_after_lose_connection_with_a_producer() {
    let r = Reactor::new().unwrap();
    let notes: Notes = Default::default();
    let log: Log = Default::default();
    let (t, mut peer) = client_pair(&r, Recorder::new(&log));
    t.register_producer(Box::new(Rp::new(&notes)), true).unwrap();
    t.write(b"tail").unwrap();
    t.lose_connection().unwrap();
    common::run_for(&r, Duration::from_millis(30));
    peer.shutdown(Shutdown::Write).unwrap();
    common::run_until(&r, || common::has(&log, common::is_lost));
    assert_eq!(*notes.borrow(), ["stop"]);
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Lost(ReasonKind::Done)]);
    assert_eq!(read_to_eof(&mut peer), b"tail");
}

/// A reset is noticed while reading is paused and nothing is queued (a bridge holding the
/// remote side's reading paused while the child's input is full).
#[test]
fn tcp_peer_reset_while_reading_is_paused() {
    let r = Reactor::new().unwrap();
    let notes: Notes = Default::default();
    let log: Log = Default::default();
    let (t, peer) = client_pair(&r, Recorder::new(&log));
    t.register_producer(Box::new(Rp::new(&notes)), true).unwrap();
    t.pause_producing().unwrap();
    common::run_for(&r, Duration::from_millis(20));
    reset(peer);
    common::run_until(&r, || common::has(&log, common::is_lost));
    assert_eq!(*notes.borrow(), ["stop"]);
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Lost(ReasonKind::Lost)]);
}

/// A telnet server session with a producer registered (as the process bridge registers
/// one) whose client sends a plain FIN: the session ends, the producer is stopped.
/// (Today it never ends; telnet_server then refuses clients once 64 are stuck.)
#[test]
fn telnet_peer_close_with_a_producer_registered() {
    for lose_first in [false, true] {
        let r = Reactor::new().unwrap();
        let notes: Notes = Default::default();
        let tlog: TLog = Default::default();
        let (n, l) = (notes.clone(), tlog.clone());
        let made: Rc<RefCell<Option<Telnet>>> = Default::default();
        let m = made.clone();
        let port = telnet_common::telnet_port(&r, move || {
            let (n, m) = (n.clone(), m.clone());
            Box::new(Rec::new(&l).hook(move |t, e| match e {
                TEv::Made => {
                    t.register_producer(Box::new(Rp::new(&n)), true).unwrap();
                    *m.borrow_mut() = Some(t.clone());
                }
                TEv::Lost(..) => note(&n, "lost"),
                _ => {}
            }))
        });
        let raw = Raw::connect(port);
        telnet_common::run_until(&r, "made", || made.borrow().is_some());
        if lose_first {
            made.borrow().as_ref().unwrap().lose_connection().unwrap();
            telnet_common::run_for(&r, Duration::from_millis(30));
            assert!(!telnet_common::lost(&tlog), "lose_connection waits for the producer");
        }
        raw.s.shutdown(Shutdown::Write).unwrap();
        telnet_common::run_until(&r, "lost", || telnet_common::lost(&tlog));
        assert_eq!(*notes.borrow(), ["stop", "lost"], "lose_first={lose_first}");
        assert!(matches!(tlog.borrow().last(), Some(TEv::Lost(ReasonKind::Done, _))), "{:?}", tlog.borrow());
        assert_eq!(r.object_count(), 1, "only the listening port is left");
    }
}

/// The same for a reset after lose_connection.
#[test]
fn telnet_peer_reset_after_lose_connection_with_a_producer() {
    let r = Reactor::new().unwrap();
    let notes: Notes = Default::default();
    let (c, clog, raw) = telnet_common::client_with_raw_peer(&r);
    c.register_producer(Box::new(Rp::new(&notes)), false).unwrap();
    c.lose_connection().unwrap();
    telnet_common::run_for(&r, Duration::from_millis(30));
    reset(raw.s);
    telnet_common::run_until(&r, "lost", || telnet_common::lost(&clog));
    assert_eq!(notes.borrow().last().unwrap(), "stop");
    assert!(matches!(clog.borrow().last(), Some(TEv::Lost(ReasonKind::Lost, _))), "{:?}", clog.borrow());
}

fn sh(script: &str) -> ProcessSpec {
    ProcessSpec::new("/bin/sh", ["sh", "-c", script])
}

/// A process with a producer on its stdin and lose_connection called: when the child
/// closes its stdin and exits, the process ends and the producer is stopped.
#[test]
fn process_child_going_away_with_a_producer_after_lose_connection() {
    let r = Reactor::new().unwrap();
    let log: common::PLog = Default::default();
    let p = r.spawn_process(&sh("exec 0<&-; sleep 0.2"), Box::new(common::ProcRecorder::new(&log))).unwrap();
    let notes: Notes = Default::default();
    p.register_producer(Box::new(Rp::new(&notes)), true).unwrap();
    p.lose_connection().unwrap();
    common::run_until(&r, || common::has_p(&log, common::is_ended));
    common::check_process_order(&log);
    assert_eq!(*notes.borrow(), ["stop"]);
}

// ----- 2. lose_connection / lose_write_connection with a producer -----

/// ITransport: "if there is a registered producer on a transport it will not be closed
/// until the producer has been unregistered": its writes after lose_connection are
/// delivered, then unregistering lets the close go on.
#[test]
fn tcp_producer_writes_after_lose_connection_are_delivered() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, mut peer) = client_pair(&r, Recorder::new(&log));
    let notes: Notes = Default::default();
    t.register_producer(Box::new(Rp::new(&notes)), true).unwrap();
    t.write(b"before ").unwrap();
    t.lose_connection().unwrap();
    common::run_for(&r, Duration::from_millis(30));
    t.write(b"after ").unwrap();
    common::run_for(&r, Duration::from_millis(30));
    t.write(b"tail").unwrap();
    t.unregister_producer().unwrap();
    common::run_until(&r, || common::has(&log, common::is_lost));
    assert_eq!(read_to_eof(&mut peer), b"before after tail");
    assert_eq!(*log.borrow(), [Ev::Made, Ev::Lost(ReasonKind::Done)]);
    assert!(notes.borrow().is_empty(), "an unregistered producer is not stopped");
}

/// Without a producer, writes after lose_connection are delivered with the flush until
/// the connection has actually closed (as Twisted's write); after that they are refused.
#[test]
fn tcp_writes_after_lose_connection_are_delivered_until_closed() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let results: Rc<RefCell<Vec<Result<(), Error>>>> = Default::default();
    let res = results.clone();
    let (t, mut peer) = client_pair(
        &r,
        Recorder::new(&log).hook(move |t, e| {
            if let Ev::Data(_) = e {
                res.borrow_mut().push(t.write(b"one "));
                res.borrow_mut().push(t.lose_connection());
                res.borrow_mut().push(t.write(b"two "));
                res.borrow_mut().push(t.write_sequence(&[std::io::IoSlice::new(b"three")]));
            }
            if let Ev::Lost(_) = e {
                res.borrow_mut().push(t.write(b"in connection_lost"));
            }
        }),
    );
    peer.write_all(b"go").unwrap();
    common::run_until(&r, || common::has(&log, common::is_lost));
    assert_eq!(read_to_eof(&mut peer), b"one two three");
    assert_eq!(*results.borrow(), [Ok(()), Ok(()), Ok(()), Ok(()), Err(ErrorKind::Closed.into())]);
    assert_eq!(t.write(b"late"), Err(ErrorKind::StaleHandle.into()));
}

/// lose_write_connection with a producer registered: the seed's ITCPTransport half-closes
/// "when buffer has emptied and there is no registered producer".
#[test]
fn tcp_lose_write_connection_waits_for_the_producer() {
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let (t, mut peer) = client_pair(&r, Recorder::new(&log).half_close());
    let notes: Notes = Default::default();
    t.register_producer(Box::new(Rp::new(&notes)), true).unwrap();
    t.write(b"a").unwrap();
    t.lose_write_connection().unwrap();
    common::run_for(&r, Duration::from_millis(50));
    t.write(b"b").unwrap();
    common::run_for(&r, Duration::from_millis(50));
    assert_eq!(*log.borrow(), [Ev::Made], "no half-close while the producer is registered");
    peer.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut got = [0u8; 8];
    assert_eq!(peer.read(&mut got).unwrap(), 2);
    assert_eq!(&got[..2], b"ab");
    assert!(peer.read(&mut got).is_err(), "no EOF while the producer is registered");
    t.unregister_producer().unwrap();
    common::run_until(&r, || common::has(&log, |e| *e == Ev::WriteLost));
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(peer.read(&mut got).unwrap(), 0, "EOF once the producer is gone");
    assert_eq!(t.write(b"c"), Err(ErrorKind::Closed.into()), "refused once the write side is shut down");
}

/// The same rules through a telnet transport (its producer sits in the inner transport's
/// slot, so one mechanism decides).
#[test]
fn telnet_producer_writes_after_lose_connection_are_delivered() {
    let r = Reactor::new().unwrap();
    let (c, clog, mut raw) = telnet_common::client_with_raw_peer(&r);
    let notes: Notes = Default::default();
    c.register_producer(Box::new(Rp::new(&notes)), true).unwrap();
    c.write(b"one\n").unwrap();
    c.lose_connection().unwrap();
    telnet_common::run_for(&r, Duration::from_millis(30));
    assert!(!telnet_common::lost(&clog));
    c.write(b"two\n").unwrap();
    c.unregister_producer().unwrap();
    raw.wait_eof(&r);
    assert_eq!(&raw.got.borrow()[..], b"one\r\ntwo\r\n");
    telnet_common::run_until(&r, "lost", || telnet_common::lost(&clog));
    assert!(matches!(clog.borrow().last(), Some(TEv::Lost(ReasonKind::Done, _))));
    assert!(notes.borrow().is_empty());
}

/// And through a process: the producer's writes to stdin after lose_connection reach the
/// child; stdin closes once it unregisters.
#[test]
fn process_producer_writes_after_lose_connection_are_delivered() {
    let r = Reactor::new().unwrap();
    let dir = common::Scratch::new("lifecycle");
    let file = dir.0.join("got");
    let log: common::PLog = Default::default();
    let spec = sh(&format!("cat > '{}'", file.display()));
    let p: Process = r.spawn_process(&spec, Box::new(common::ProcRecorder::new(&log))).unwrap();
    let notes: Notes = Default::default();
    p.register_producer(Box::new(Rp::new(&notes)), true).unwrap();
    p.write(b"one ").unwrap();
    p.lose_connection().unwrap();
    common::run_for(&r, Duration::from_millis(30));
    p.write(b"two").unwrap();
    p.unregister_producer().unwrap();
    common::run_until(&r, || common::has_p(&log, common::is_ended));
    common::check_process_order(&log);
    assert_eq!(std::fs::read(&file).unwrap(), b"one two");
    assert!(notes.borrow().is_empty());
}

// ----- 3. half-close notifications -----

/// Port of Twisted's HalfCloseTests.testWriteCloseNotification (twisted/test/test_tcp.py):
/// the server half-closes; it gets write_connection_lost, the client read_connection_lost,
/// and the server's read side stays open.
#[test]
fn write_close_notification() {
    let r = Reactor::new().unwrap();
    let clog: Log = Default::default();
    let slog: Log = Default::default();
    let sl = slog.clone();
    let port = r
        .listen_tcp("127.0.0.1", 0, 0, move |_| {
            Box::new(Recorder::new(&sl).half_close().hook(|t, e| {
                if *e == Ev::Made {
                    t.lose_write_connection().unwrap();
                }
            }))
        })
        .unwrap();
    let port = port_number(&port);
    let c = r.connect_tcp("127.0.0.1", port, None, Box::new(Recorder::new(&clog).half_close())).unwrap();
    common::run_until(&r, || common::has(&slog, |e| *e == Ev::WriteLost) && common::has(&clog, |e| *e == Ev::ReadLost));
    assert_eq!(*slog.borrow(), [Ev::Made, Ev::WriteLost], "the server's read side stays open");
    assert_eq!(*clog.borrow(), [Ev::Made, Ev::ReadLost]);
    c.lose_connection().unwrap();
    common::run_until(&r, || common::has(&slog, common::is_lost) && common::has(&clog, common::is_lost));
    assert_eq!(*slog.borrow(), [Ev::Made, Ev::WriteLost, Ev::ReadLost, Ev::Lost(ReasonKind::Done)]);
    assert_eq!(*clog.borrow(), [Ev::Made, Ev::ReadLost, Ev::Lost(ReasonKind::Done)]);
}

/// Two marline half-close protocols connected to each other; returns their logs once
/// both are lost. `b_starts` runs on B once both are connected.
fn half_close_pair(a_hook: impl FnMut(&Transport, &Ev) + 'static, b_starts: impl FnOnce(&Reactor, &Transport, &Transport)) -> (Vec<Ev>, Vec<Ev>) {
    let r = Reactor::new().unwrap();
    let alog: Log = Default::default();
    let blog: Log = Default::default();
    let a_proto = RefCell::new(Some(Recorder::new(&alog).half_close().hook(a_hook)));
    let a_current = a_proto.borrow().as_ref().unwrap().current.clone();
    let lp = r.listen_tcp("127.0.0.1", 0, 0, move |_| Box::new(a_proto.borrow_mut().take().unwrap())).unwrap();
    let port = port_number(&lp);
    let b = r.connect_tcp("127.0.0.1", port, None, Box::new(Recorder::new(&blog).half_close())).unwrap();
    common::run_until(&r, || common::has(&alog, |e| *e == Ev::Made) && common::has(&blog, |e| *e == Ev::Made));
    let a = a_current.borrow().clone().unwrap();
    b_starts(&r, &a, &b);
    common::run_until(&r, || common::has(&alog, common::is_lost) && common::has(&blog, common::is_lost));
    let (a, b) = (alog.borrow().clone(), blog.borrow().clone());
    (a, b)
}

fn check_write_lost_before_lost(log: &[Ev]) {
    let w = log.iter().position(|e| *e == Ev::WriteLost);
    let l = log.iter().position(|e| matches!(e, Ev::Lost(_)));
    assert!(w.is_some() && l == Some(log.len() - 1) && w < l, "write_connection_lost before connection_lost: {log:?}");
    assert_eq!(log.iter().filter(|e| **e == Ev::WriteLost).count(), 1, "{log:?}");
    assert_eq!(log.last(), Some(&Ev::Lost(ReasonKind::Done)));
}

/// Both sides half-close in the same turn (from one delayed call): both get
/// write_connection_lost, then read_connection_lost, then connection_lost(DONE).
#[test]
fn both_sides_half_close_in_the_same_turn() {
    let (a, b) = half_close_pair(
        |_, _| {},
        |r, a, b| {
            let (a, b) = (a.clone(), b.clone());
            r.call_later(Duration::ZERO, move |_| {
                a.lose_write_connection().unwrap();
                b.lose_write_connection().unwrap();
            })
            .unwrap();
        },
    );
    for log in [&a, &b] {
        check_write_lost_before_lost(log);
        assert!(log.contains(&Ev::ReadLost), "{log:?}");
    }
}

/// B sends "x" and half-closes; A half-closes from data_received, and reads B's FIN in the
/// same read loop: A's write_connection_lost (deferred to the end of the turn) must still
/// come, before connection_lost. Today it is dropped once the FIN closes the connection.
#[test]
fn half_close_answered_in_the_same_read_keeps_write_connection_lost() {
    let (a, b) = half_close_pair(
        |t, e| {
            if let Ev::Data(_) = e {
                t.lose_write_connection().unwrap();
            }
        },
        |_, _, b| {
            b.write(b"x").unwrap();
            b.lose_write_connection().unwrap();
        },
    );
    assert_eq!(a, [Ev::Made, Ev::Data(b"x".to_vec()), Ev::ReadLost, Ev::WriteLost, Ev::Lost(ReasonKind::Done)]);
    check_write_lost_before_lost(&b);
}

// ----- 6. output generated in answer to input is bounded -----

const IAC: u8 = 255;
const DO: u8 = 253;
const DONT: u8 = 254;
const WILL: u8 = 251;
const ECHO: u8 = 1;

/// The raw peer writes `unit` over and over without reading, until its writes have been
/// refused for 300 ms (the reactor running meanwhile) or `limit` bytes went out; returns
/// the bytes it wrote.
fn flood(r: &Reactor, s: &mut TcpStream, unit: &[u8], limit: usize) -> usize {
    let block = unit.repeat(65536 / unit.len());
    // A small send buffer keeps what waits in the peer's kernel (not the server's
    // business) small, and the test quick.
    socket2::SockRef::from(&*s).set_send_buffer_size(16 * 1024).unwrap();
    s.set_nonblocking(true).unwrap();
    let (mut sent, mut stalled) = (0, 0);
    while sent < limit && stalled < 300 {
        match s.write(&block[sent % block.len()..]) {
            Ok(n) => (sent, stalled) = (sent + n, 0),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                telnet_common::run_for(r, Duration::from_millis(1));
                stalled += 1;
            }
            Err(e) => panic!("peer write: {e}"),
        }
        r.run_once(Some(Duration::ZERO)).unwrap();
    }
    sent
}

/// A telnet server whose peer sends endless requests and never reads the answers: once
/// the answers fill the write queue past the high-water mark the server stops reading
/// from that peer, so the queue (and the peer's writes) stay bounded. Checked with plain
/// refusals (DO x → WONT x, WILL y → DONT y), and with DO/DONT ECHO toggles accepted by
/// policy while an application producer holds the producer slot.
#[test]
fn telnet_answers_to_a_peer_that_never_reads_are_bounded() {
    let cases: [(&[u8], bool); 2] = [(&[IAC, DO, 42, IAC, WILL, 43], false), (&[IAC, DO, ECHO, IAC, DONT, ECHO], true)];
    for (unit, producer) in cases {
        let r = Reactor::new().unwrap();
        let server: Rc<RefCell<Option<Telnet>>> = Default::default();
        let s = server.clone();
        let notes: Notes = Default::default();
        let n = notes.clone();
        let tlog: TLog = Default::default();
        let port = telnet_common::telnet_port(&r, move || {
            let (s, n) = (s.clone(), n.clone());
            Box::new(Rec::new(&tlog).hook(move |t, e| {
                if *e == TEv::Made {
                    t.set_policy(ECHO, Side::Local, Policy::Accept).unwrap();
                    if producer {
                        t.register_producer(Box::new(Rp::new(&n)), true).unwrap();
                    }
                    *s.borrow_mut() = Some(t.clone());
                }
            }))
        });
        let mut raw = Raw::connect(port);
        telnet_common::run_until(&r, "made", || server.borrow().is_some());
        let limit = 32 << 20;
        let sent = flood(&r, &mut raw.s, unit, limit);
        let t = server.borrow().clone().unwrap();
        let queued = t.queued().unwrap();
        assert!(sent < limit, "the server read all {sent} bytes: answers are unbounded (queue {queued})");
        eprintln!("{unit:?}: the peer wrote {sent} bytes before its writes stalled; {queued} queued");
        assert!(queued <= 64 * 1024 + 64 * 1024 + 64, "queue {queued} for unit {unit:?}");
        // The peer reads the answers: the server reads again and answers the rest.
        let answered = raw.got.clone();
        let mut got = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let whole = sent - sent % 3; // a partial request at the end waits for its last bytes
        while got < whole {
            raw.pump();
            got += answered.borrow().len();
            answered.borrow_mut().clear();
            r.run_once(Some(Duration::from_millis(1))).unwrap();
            assert!(std::time::Instant::now() < deadline, "answers stopped at {got} of {whole} for {unit:?}");
        }
        assert_eq!(got, whole, "one 3-byte answer per 3-byte request");
        if producer {
            assert!(!notes.borrow().contains(&"stop".to_string()));
        }
    }
}
