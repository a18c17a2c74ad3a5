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

/// One recorded process-protocol event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PEv {
    Made,
    /// Data on a child fd (consecutive data on the same fd is merged).
    Out(i32, Vec<u8>),
    /// child_connection_lost(fd).
    Lost(i32),
    Exited(ReasonKind),
    Ended(ReasonKind),
}

pub type PLog = Rc<RefCell<Vec<PEv>>>;
pub type PHook = Box<dyn FnMut(&marline::Process, &PEv)>;

/// Records process events; keeps the exited and ended reasons.
pub struct ProcRecorder {
    pub log: PLog,
    pub exited: Rc<RefCell<Option<Reason>>>,
    pub ended: Rc<RefCell<Option<Reason>>>,
    pub hook: Option<PHook>,
}

impl ProcRecorder {
    pub fn new(log: &PLog) -> ProcRecorder {
        ProcRecorder { log: log.clone(), exited: Default::default(), ended: Default::default(), hook: None }
    }
    pub fn hook(mut self, f: impl FnMut(&marline::Process, &PEv) + 'static) -> Self {
        self.hook = Some(Box::new(f));
        self
    }
    fn push(&mut self, p: &marline::Process, ev: PEv) {
        self.log.borrow_mut().push(ev.clone());
        if let Some(h) = self.hook.as_mut() {
            h(p, &ev);
        }
    }
}

impl marline::ProcessProtocol for ProcRecorder {
    fn connection_made(&mut self, p: &marline::Process) {
        self.push(p, PEv::Made)
    }
    fn child_data_received(&mut self, p: &marline::Process, fd: i32, data: &[u8]) {
        let mut log = self.log.borrow_mut();
        match log.last_mut() {
            Some(PEv::Out(f, d)) if *f == fd => d.extend_from_slice(data),
            _ => log.push(PEv::Out(fd, data.to_vec())),
        }
        drop(log);
        if let Some(h) = self.hook.as_mut() {
            h(p, &PEv::Out(fd, data.to_vec()));
        }
    }
    fn child_connection_lost(&mut self, p: &marline::Process, fd: i32) {
        self.push(p, PEv::Lost(fd))
    }
    fn process_exited(&mut self, p: &marline::Process, reason: &Reason) {
        *self.exited.borrow_mut() = Some(reason.clone());
        self.push(p, PEv::Exited(reason.kind()))
    }
    fn process_ended(&mut self, p: &marline::Process, reason: &Reason) {
        *self.ended.borrow_mut() = Some(reason.clone());
        self.push(p, PEv::Ended(reason.kind()))
    }
}

/// All bytes received on child fd `fd`, concatenated.
pub fn out_of(log: &PLog, fd: i32) -> Vec<u8> {
    log.borrow()
        .iter()
        .filter_map(|e| match e {
            PEv::Out(f, d) if *f == fd => Some(d.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

pub fn is_ended(e: &PEv) -> bool {
    matches!(e, PEv::Ended(_))
}

/// Checks the order guarantees every process log must meet: Made first,
/// exactly one Exited (unless shut down) and one Ended, Ended last,
/// Exited before it, each fd's Lost once and after its data.
pub fn check_process_order(log: &PLog) {
    let log = log.borrow();
    assert_eq!(log.first(), Some(&PEv::Made), "{log:?}");
    let ended: Vec<usize> = log.iter().enumerate().filter(|(_, e)| is_ended(e)).map(|(i, _)| i).collect();
    assert_eq!(ended, vec![log.len() - 1], "exactly one Ended, last: {log:?}");
    let exited: Vec<usize> = log.iter().enumerate().filter(|(_, e)| matches!(e, PEv::Exited(_))).map(|(i, _)| i).collect();
    assert_eq!(exited.len(), 1, "exactly one Exited: {log:?}");
    for (i, e) in log.iter().enumerate() {
        if let PEv::Lost(fd) = e {
            assert_eq!(log.iter().filter(|x| **x == PEv::Lost(*fd)).count(), 1, "one Lost({fd}): {log:?}");
            assert!(!log[i..].iter().any(|x| matches!(x, PEv::Out(f, _) if f == fd)), "data after Lost({fd}): {log:?}");
        }
    }
}

/// Spawns `spec` with a recorder and runs until process_ended.
pub fn run_process(r: &Reactor, spec: &marline::ProcessSpec) -> (PLog, Reason) {
    let log: PLog = Default::default();
    let rec = ProcRecorder::new(&log);
    let ended = rec.ended.clone();
    r.spawn_process(spec, Box::new(rec)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !has_p(&log, is_ended) {
        assert!(Instant::now() < deadline, "timed out; events so far: {:?}", log.borrow());
        r.run_once(Some(Duration::from_millis(20))).unwrap();
    }
    check_process_order(&log);
    let reason = ended.borrow().clone().unwrap();
    (log, reason)
}

/// True once the process log holds an event matching `pred`.
pub fn has_p(log: &PLog, pred: impl Fn(&PEv) -> bool) -> bool {
    log.borrow().iter().any(pred)
}

/// The descriptors this process has open.
pub fn open_fds() -> Vec<i32> {
    let mut v: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    v.sort();
    v
}

/// A fresh scratch directory (removed by the returned guard): the working
/// directory for children that may dump core, so no core file lands in
/// the source tree.
pub struct Scratch(pub std::path::PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("marline-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
