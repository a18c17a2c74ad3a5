//! Helpers for the telnet transport tests: a telnet protocol that records every event, and
//! a raw (non-telnet) TCP peer driven from the test thread.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use marline::telnet::options::{EnvKind, EnvVar};
use marline::telnet::transport::{Completion, Side};
use marline::telnet::{Telnet, TelnetProtocol};
use marline::{Protocol, Reactor, Reason, ReasonKind, Transport};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TEv {
    Made,
    Data(Vec<u8>),
    Cmd(u8),
    Sb(u8, Vec<u8>),
    Naws(u16, u16),
    TType(Vec<u8>),
    Env(EnvKind, Vec<EnvVar>),
    EnableLocal(u8),
    EnableRemote(u8),
    DisableLocal(u8),
    DisableRemote(u8),
    Done(u8, Completion),
    Lost(ReasonKind, String),
    Failed(ReasonKind),
}

pub type TLog = Rc<RefCell<Vec<TEv>>>;
pub type THook = Box<dyn FnMut(&Telnet, &TEv)>;

/// Records events; accepts the options listed in `local` / `remote`.
pub struct Rec {
    pub log: TLog,
    pub local: Vec<u8>,
    pub remote: Vec<u8>,
    pub hook: Option<THook>,
}

impl Rec {
    pub fn new(log: &TLog) -> Rec {
        Rec { log: log.clone(), local: vec![], remote: vec![], hook: None }
    }
    pub fn accept_local(mut self, opts: &[u8]) -> Rec {
        self.local = opts.to_vec();
        self
    }
    pub fn accept_remote(mut self, opts: &[u8]) -> Rec {
        self.remote = opts.to_vec();
        self
    }
    pub fn hook(mut self, f: impl FnMut(&Telnet, &TEv) + 'static) -> Rec {
        self.hook = Some(Box::new(f));
        self
    }
    fn push(&mut self, t: &Telnet, ev: TEv) {
        self.log.borrow_mut().push(ev.clone());
        if let Some(h) = self.hook.as_mut() {
            h(t, &ev);
        }
    }
}

impl TelnetProtocol for Rec {
    fn connection_made(&mut self, t: &Telnet) {
        self.push(t, TEv::Made)
    }
    fn data_received(&mut self, t: &Telnet, data: &[u8]) {
        let mut log = self.log.borrow_mut();
        if let Some(TEv::Data(d)) = log.last_mut() {
            d.extend_from_slice(data);
        } else {
            log.push(TEv::Data(data.to_vec()));
        }
        drop(log);
        if let Some(h) = self.hook.as_mut() {
            h(t, &TEv::Data(data.to_vec()));
        }
    }
    fn connection_lost(&mut self, t: &Telnet, reason: &Reason) {
        self.push(t, TEv::Lost(reason.kind(), reason.message().to_string()))
    }
    fn connection_failed(&mut self, t: &Telnet, reason: &Reason) {
        self.push(t, TEv::Failed(reason.kind()))
    }
    fn enable_local(&mut self, t: &Telnet, opt: u8) -> bool {
        self.push(t, TEv::EnableLocal(opt));
        self.local.contains(&opt)
    }
    fn enable_remote(&mut self, t: &Telnet, opt: u8) -> bool {
        self.push(t, TEv::EnableRemote(opt));
        self.remote.contains(&opt)
    }
    fn disable_local(&mut self, t: &Telnet, opt: u8) {
        self.push(t, TEv::DisableLocal(opt))
    }
    fn disable_remote(&mut self, t: &Telnet, opt: u8) {
        self.push(t, TEv::DisableRemote(opt))
    }
    fn unhandled_command(&mut self, t: &Telnet, cmd: u8) {
        self.push(t, TEv::Cmd(cmd))
    }
    fn unhandled_subnegotiation(&mut self, t: &Telnet, opt: u8, data: &[u8]) {
        self.push(t, TEv::Sb(opt, data.to_vec()))
    }
    fn window_size(&mut self, t: &Telnet, w: u16, h: u16) {
        self.push(t, TEv::Naws(w, h))
    }
    fn terminal_type(&mut self, t: &Telnet, name: &[u8]) {
        self.push(t, TEv::TType(name.to_vec()))
    }
    fn environment(&mut self, t: &Telnet, kind: EnvKind, vars: &[EnvVar]) {
        self.push(t, TEv::Env(kind, vars.to_vec()))
    }
}

/// A completion callback that logs `Done(opt, result)` (and checks the reason rule).
pub fn done_to(log: &TLog, opt: u8) -> impl FnOnce(&Telnet, Completion, Option<&Reason>) + 'static {
    let log = log.clone();
    move |_t, result, reason| {
        assert_eq!(reason.is_some(), result == Completion::ConnectionLost, "a reason comes with ConnectionLost only");
        log.borrow_mut().push(TEv::Done(opt, result));
    }
}

pub fn has(log: &TLog, ev: &TEv) -> bool {
    log.borrow().contains(ev)
}

pub fn lost(log: &TLog) -> bool {
    log.borrow().iter().any(|e| matches!(e, TEv::Lost(..) | TEv::Failed(_)))
}

pub fn data(log: &TLog) -> Vec<u8> {
    log.borrow().iter().filter_map(|e| if let TEv::Data(d) = e { Some(d.clone()) } else { None }).flatten().collect()
}

pub fn count(log: &TLog, pred: impl Fn(&TEv) -> bool) -> usize {
    log.borrow().iter().filter(|e| pred(e)).count()
}

/// Runs the loop until `done()` or 10 s pass (then panics with `what`).
pub fn run_until(r: &Reactor, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        r.run_once(Some(Duration::from_millis(10))).unwrap();
    }
}

/// Runs the loop for `d`.
pub fn run_for(r: &Reactor, d: Duration) {
    let deadline = Instant::now() + d;
    while Instant::now() < deadline {
        r.run_once(Some(Duration::from_millis(5))).unwrap();
    }
}

pub fn telnet_port(r: &Reactor, factory: impl FnMut() -> Box<dyn TelnetProtocol> + 'static) -> u16 {
    let mut factory = factory;
    let lp = r.listen_telnet("127.0.0.1", 0, 0, move |_| factory()).unwrap();
    match lp.host().unwrap() {
        marline::Address::Inet(a) => a.port(),
        other => panic!("unexpected {other}"),
    }
}

/// A plain TCP socket on the other end, non-blocking; what it reads accumulates in `got`.
pub struct Raw {
    pub s: TcpStream,
    pub got: Rc<RefCell<Vec<u8>>>,
    pub eof: bool,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        Raw::from(s)
    }
    pub fn from(s: TcpStream) -> Raw {
        s.set_nonblocking(true).unwrap();
        s.set_nodelay(true).unwrap();
        Raw { s, got: Default::default(), eof: false }
    }
    /// A listener whose first connection becomes a Raw once accepted (see `accept`).
    pub fn listener() -> (TcpListener, u16) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        (l, port)
    }
    pub fn send(&mut self, bytes: &[u8]) {
        self.s.set_nonblocking(false).unwrap();
        self.s.write_all(bytes).unwrap();
        self.s.set_nonblocking(true).unwrap();
    }
    /// Sends one byte as TCP urgent data (MSG_OOB).
    pub fn send_urgent(&mut self, byte: u8) {
        let n = unsafe { libc::send(self.s.as_raw_fd(), &byte as *const u8 as *const libc::c_void, 1, libc::MSG_OOB) };
        assert_eq!(n, 1, "send MSG_OOB");
    }
    /// Reads what is there (never blocks).
    pub fn pump(&mut self) {
        let mut buf = [0u8; 65536];
        loop {
            match self.s.read(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    return;
                }
                Ok(n) => self.got.borrow_mut().extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.eof = true;
                    return;
                }
            }
        }
    }
    /// Runs the loop and reads until `got` holds `want` (exactly, as a whole).
    pub fn expect(&mut self, r: &Reactor, want: &[u8]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.pump();
            if self.got.borrow().len() >= want.len() {
                break;
            }
            assert!(Instant::now() < deadline, "raw peer: timed out; got {:?}, want {:?}", self.got.borrow(), want);
            r.run_once(Some(Duration::from_millis(5))).unwrap();
        }
        assert_eq!(&self.got.borrow()[..], want);
        self.got.borrow_mut().clear();
    }
    /// Runs the loop a little and asserts nothing more arrived.
    pub fn expect_silence(&mut self, r: &Reactor) {
        run_for(r, Duration::from_millis(100));
        self.pump();
        assert_eq!(&self.got.borrow()[..], b"", "unexpected bytes from the telnet side");
    }
    /// Runs the loop until the peer closes.
    pub fn wait_eof(&mut self, r: &Reactor) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.eof {
            assert!(Instant::now() < deadline, "raw peer: no EOF");
            r.run_once(Some(Duration::from_millis(5))).unwrap();
            self.pump();
        }
    }
}

pub fn accept_raw(r: &Reactor, l: &TcpListener) -> Raw {
    l.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match l.accept() {
            Ok((s, _)) => return Raw::from(s),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("accept: {e}"),
        }
        assert!(Instant::now() < deadline, "no connection to the raw listener");
        r.run_once(Some(Duration::from_millis(5))).unwrap();
    }
}

pub const fn side_name(s: Side) -> &'static str {
    match s {
        Side::Local => "local",
        Side::Remote => "remote",
    }
}

/// A marline telnet client connected to a raw socket peer, once
/// connection_made has been delivered: (client, its event log, the peer).
pub fn client_with_raw_peer(r: &Reactor) -> (Telnet, TLog, Raw) {
    let (l, port) = Raw::listener();
    let clog: TLog = Default::default();
    let c = r.connect_telnet("127.0.0.1", port, None, Box::new(Rec::new(&clog))).unwrap();
    let raw = accept_raw(r, &l);
    run_until(r, "made", || has(&clog, &TEv::Made));
    (c, clog, raw)
}

/// Stands between a transport and the telnet adapter it carries (from
/// [`marline::telnet::wrap`]): forwards every event, cutting the incoming data also at the
/// stream offsets in `cuts`, so a test delivers what the peer sent in a read split
/// anywhere; counts the reads it passes on in `reads`.
pub struct Chunker {
    pub inner: Box<dyn Protocol>,
    pub cuts: Vec<u64>,
    pub at: u64,
    pub reads: Rc<Cell<usize>>,
}

impl Protocol for Chunker {
    fn connection_made(&mut self, t: &Transport) {
        self.inner.connection_made(t)
    }
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        let mut rest = data;
        while !rest.is_empty() {
            let end = self.at + rest.len() as u64;
            let cut = self.cuts.iter().copied().filter(|&c| c > self.at && c < end).min();
            let n = cut.map_or(rest.len(), |c| (c - self.at) as usize);
            self.reads.set(self.reads.get() + 1);
            self.inner.data_received(t, &rest[..n]);
            self.at += n as u64;
            rest = &rest[n..];
        }
    }
    fn urgent_data_received(&mut self, t: &Transport, data: &[u8]) {
        self.inner.urgent_data_received(t, data)
    }
    fn urgent_pending(&mut self, t: &Transport) {
        self.inner.urgent_pending(t)
    }
    fn connection_lost(&mut self, t: &Transport, reason: &Reason) {
        self.inner.connection_lost(t, reason)
    }
    fn connection_failed(&mut self, t: &Transport, reason: &Reason) {
        self.inner.connection_failed(t, reason)
    }
    fn half_close(&self) -> bool {
        self.inner.half_close()
    }
    fn receives_urgent_data(&self) -> bool {
        self.inner.receives_urgent_data()
    }
    fn read_connection_lost(&mut self, t: &Transport) {
        self.inner.read_connection_lost(t)
    }
    fn write_connection_lost(&mut self, t: &Transport) {
        self.inner.write_connection_lost(t)
    }
}

/// A marline telnet client (protocol `p`) whose incoming data is also cut at the stream
/// offsets `cuts` (see [`Chunker`]), connected to a raw peer, once connection_made has
/// been delivered: (client, the peer, the count of reads the adapter got).
pub fn chunked_client(r: &Reactor, p: Box<dyn TelnetProtocol>, log: &TLog, cuts: &[u64]) -> (Telnet, Raw, Rc<Cell<usize>>) {
    let (l, port) = Raw::listener();
    let (adapter, c) = marline::telnet::wrap(r, p).unwrap();
    let reads = Rc::new(Cell::new(0));
    let chunker = Chunker { inner: adapter, cuts: cuts.to_vec(), at: 0, reads: reads.clone() };
    r.connect_tcp("127.0.0.1", port, None, Box::new(chunker)).unwrap();
    let raw = accept_raw(r, &l);
    run_until(r, "made", || has(log, &TEv::Made));
    (c, raw, reads)
}
