//! Shared helpers for the Rust tests: a protocol that records every event,
//! and a loop runner with a deadline so no test can hang.
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use marline::{Reactor, Reason, ReasonKind, Transport};

/// One recorded protocol event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Made,
    Data(Vec<u8>),
    Urgent(Vec<u8>),
    ReadLost,
    WriteLost,
    Lost(ReasonKind),
    Failed(ReasonKind),
}

pub type Log = Rc<RefCell<Vec<Ev>>>;
pub type Hook = Box<dyn FnMut(&Transport, &Ev)>;

/// Records events into a shared log and runs an optional hook after each.
pub struct Recorder {
    pub log: Log,
    pub half_close: bool,
    pub hook: Option<Hook>,
    pub reasons: Rc<RefCell<Vec<Reason>>>,
    /// The transport, once connection_made has run (for accepted ones).
    pub current: Rc<RefCell<Option<Transport>>>,
}

impl Recorder {
    pub fn new(log: &Log) -> Recorder {
        Recorder { log: log.clone(), half_close: false, hook: None, reasons: Default::default(), current: Default::default() }
    }
    pub fn half_close(mut self) -> Self {
        self.half_close = true;
        self
    }
    pub fn hook(mut self, f: impl FnMut(&Transport, &Ev) + 'static) -> Self {
        self.hook = Some(Box::new(f));
        self
    }
    fn push(&mut self, t: &Transport, ev: Ev) {
        self.log.borrow_mut().push(ev.clone());
        if let Some(h) = self.hook.as_mut() {
            h(t, &ev);
        }
    }
}

impl marline::Protocol for Recorder {
    fn connection_made(&mut self, t: &Transport) {
        *self.current.borrow_mut() = Some(t.clone());
        self.push(t, Ev::Made)
    }
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        // Consecutive data events are merged: TCP has no message boundaries.
        let mut log = self.log.borrow_mut();
        if let Some(Ev::Data(d)) = log.last_mut() {
            d.extend_from_slice(data);
        } else {
            log.push(Ev::Data(data.to_vec()));
        }
        drop(log);
        if let Some(h) = self.hook.as_mut() {
            h(t, &Ev::Data(data.to_vec()));
        }
    }
    fn urgent_data_received(&mut self, t: &Transport, data: &[u8]) {
        self.push(t, Ev::Urgent(data.to_vec()))
    }
    fn connection_lost(&mut self, t: &Transport, reason: &Reason) {
        self.reasons.borrow_mut().push(reason.clone());
        self.push(t, Ev::Lost(reason.kind()))
    }
    fn connection_failed(&mut self, t: &Transport, reason: &Reason) {
        self.reasons.borrow_mut().push(reason.clone());
        self.push(t, Ev::Failed(reason.kind()))
    }
    fn half_close(&self) -> bool {
        self.half_close
    }
    fn read_connection_lost(&mut self, t: &Transport) {
        self.push(t, Ev::ReadLost)
    }
    fn write_connection_lost(&mut self, t: &Transport) {
        self.push(t, Ev::WriteLost)
    }
}

/// Runs the loop until `done()` or 10 s pass (then panics).
pub fn run_until(r: &Reactor, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for the condition");
        r.run_once(Some(Duration::from_millis(20))).unwrap();
    }
}

/// True once the log holds an event matching `pred`.
pub fn has(log: &Log, pred: impl Fn(&Ev) -> bool) -> bool {
    log.borrow().iter().any(pred)
}

pub fn is_lost(e: &Ev) -> bool {
    matches!(e, Ev::Lost(_) | Ev::Failed(_))
}

/// All data bytes in the log, concatenated.
pub fn data_of(log: &Log) -> Vec<u8> {
    log.borrow().iter().filter_map(|e| if let Ev::Data(d) = e { Some(d.clone()) } else { None }).flatten().collect()
}

/// Deterministic pseudo-random bytes (xorshift), for large transfers.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An echo server on 127.0.0.1 with a free port; returns the port.
pub fn echo_server(r: &Reactor) -> u16 {
    struct Echo;
    impl marline::Protocol for Echo {
        fn data_received(&mut self, t: &Transport, data: &[u8]) {
            t.write(data).unwrap();
        }
    }
    let port = r.listen_tcp("127.0.0.1", 0, 0, |_| Box::new(Echo)).unwrap();
    match port.host().unwrap() {
        marline::Address::Inet(a) => a.port(),
        other => panic!("unexpected {other}"),
    }
}

// ----- peers and pairs -----

use std::io::Read;
use std::net::{TcpListener, TcpStream};

/// A std listener on 127.0.0.1 (port 0). `rcvbuf` sets SO_RCVBUF before
/// listen(), so accepted sockets inherit it (a peer that fills up fast).
pub fn std_listener(rcvbuf: Option<usize>) -> TcpListener {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    if let Some(n) = rcvbuf {
        s.set_recv_buffer_size(n).unwrap();
    }
    s.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    s.listen(16).unwrap();
    s.into()
}

pub fn port_of(l: &TcpListener) -> u16 {
    l.local_addr().unwrap().port()
}

/// A marline client (running `proto`) connected to a std peer.
pub fn client_pair(r: &Reactor, proto: Recorder) -> (Transport, TcpStream) {
    client_pair_on(r, proto, &std_listener(None))
}

/// Like [`client_pair`], on a given std listener.
pub fn client_pair_on(r: &Reactor, proto: Recorder, l: &TcpListener) -> (Transport, TcpStream) {
    let log = proto.log.clone();
    let t = r.connect_tcp("127.0.0.1", port_of(l), None, Box::new(proto)).unwrap();
    run_until(r, || has(&log, |e| *e == Ev::Made));
    let (s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    (t, s)
}

/// A marline listener accepting one std client; `proto` runs on the
/// accepted transport.
pub fn server_pair(r: &Reactor, proto: Recorder) -> (Transport, TcpStream) {
    let log = proto.log.clone();
    let current = proto.current.clone();
    let mut once = Some(proto);
    let lp = r.listen_tcp("127.0.0.1", 0, 0, move |_| Box::new(once.take().expect("one connection"))).unwrap();
    let port = match lp.host().unwrap() {
        marline::Address::Inet(a) => a.port(),
        other => panic!("unexpected {other}"),
    };
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    run_until(r, || has(&log, |e| *e == Ev::Made));
    lp.stop_listening().unwrap();
    let t = current.borrow().clone().unwrap();
    (t, s)
}

/// Reads until EOF (panics on error or after the read timeout).
pub fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    let mut v = Vec::new();
    s.read_to_end(&mut v).unwrap();
    v
}

/// Reads exactly `n` bytes.
pub fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    s.read_exact(&mut v).unwrap();
    v
}

/// Runs the loop for `d` (for "nothing happens" checks).
pub fn run_for(r: &Reactor, d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        r.run_once(Some(Duration::from_millis(10))).unwrap();
    }
}

/// The number of `Lost`/`Failed` events in the log.
pub fn lost_count(log: &Log) -> usize {
    log.borrow().iter().filter(|e| is_lost(e)).count()
}
