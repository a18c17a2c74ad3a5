//! Shared helpers for the TLS tests: certificates generated at test time (rcgen; no key is
//! ever stored in the tree), an in-memory driver for two TLS endpoints, and a tiny blocking
//! driver of a `Session` over a real TCP socket.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use marline::tls::{ClientConfig, Event, Identity, Roots, ServerConfig, Session, TlsError};
#[path = "../common/mod.rs"]
mod common;
#[allow(unused_imports)]
pub use common::pattern;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

// ----- certificates -----

/// A test certificate authority.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A certificate and its key, as PEM.
#[derive(Clone)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    pub fn der(&self) -> Vec<u8> {
        self.cert.der().to_vec()
    }

    pub fn roots(&self) -> Roots {
        let mut roots = Roots::new();
        roots.add_pem(self.pem().as_bytes()).unwrap();
        roots
    }

    /// A certificate for `names` (DNS names or IP addresses), valid now.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        self.leaf_with(names, |_| {})
    }

    /// Same, with the parameters adjusted by `adjust` (validity dates, ...).
    pub fn leaf_with(&self, names: &[&str], adjust: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, names.first().copied().unwrap_or("client"));
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2090, 1, 1);
        adjust(&mut params);
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().to_vec() }
    }
}

impl Leaf {
    pub fn identity(&self) -> Identity {
        Identity::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes()).unwrap()
    }

    /// Write `<stem>.crt` and `<stem>.key` into `dir`; returns both paths.
    pub fn write(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{stem}.crt"));
        let key = dir.join(format!("{stem}.key"));
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }
}

/// A fresh empty directory under the target dir, removed at drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("marline-tls-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ----- events -----

/// A recorded session event (consecutive data merged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Handshake,
    Data(Vec<u8>),
    PeerClosed,
}

pub fn record(events: &mut Vec<Ev>) -> impl FnMut(Event<'_>) + '_ {
    move |ev| match ev {
        Event::HandshakeCompleted => events.push(Ev::Handshake),
        Event::Data(d) => {
            assert!(!d.is_empty(), "empty Data event");
            if let Some(Ev::Data(last)) = events.last_mut() {
                last.extend_from_slice(d);
            } else {
                events.push(Ev::Data(d.to_vec()));
            }
        }
        Event::PeerClosed => events.push(Ev::PeerClosed),
    }
}

// ----- in-memory endpoints -----

/// Something that speaks TLS over an in-memory pipe.
pub trait Endpoint {
    /// Take ciphertext from the peer.
    fn recv(&mut self, bytes: &[u8]);
    /// Ciphertext to send to the peer (drains it).
    fn send(&mut self) -> Vec<u8>;
}

/// A marline `Session` with its recorded events and outcome.
pub struct End {
    pub s: Session,
    pub events: Vec<Ev>,
    pub error: Option<TlsError>,
    pub out: Vec<u8>,
    /// Feed incoming ciphertext in pieces of at most this many bytes.
    pub chunk: usize,
}

impl End {
    pub fn new(mut s: Session) -> End {
        let mut out = Vec::new();
        s.take_output(&mut out);
        End { s, events: Vec::new(), error: None, out, chunk: usize::MAX }
    }
    pub fn client(config: &ClientConfig, name: &str) -> End {
        End::new(Session::client(config, name).unwrap())
    }
    pub fn server(config: &ServerConfig) -> End {
        End::new(Session::server(config).unwrap())
    }
    pub fn write(&mut self, data: &[u8]) {
        self.s.write(data, &mut self.out).unwrap();
    }
    /// All data received, concatenated.
    pub fn data(&self) -> Vec<u8> {
        self.events
            .iter()
            .filter_map(|e| if let Ev::Data(d) = e { Some(d.iter().copied()) } else { None })
            .flatten()
            .collect()
    }
}

impl Endpoint for End {
    fn recv(&mut self, bytes: &[u8]) {
        for piece in bytes.chunks(self.chunk.max(1)) {
            if self.error.is_some() {
                return;
            }
            if let Err(e) = self.s.feed(piece, &mut self.out, &mut record(&mut self.events)) {
                self.error = Some(e);
            }
        }
    }
    fn send(&mut self) -> Vec<u8> {
        self.s.take_output(&mut self.out);
        std::mem::take(&mut self.out)
    }
}

/// A plain rustls connection, configured with rustls's own builders: a peer that does not
/// go through marline's code.
pub struct RawPeer {
    pub conn: rustls::Connection,
    pub received: Vec<u8>,
    pub error: Option<rustls::Error>,
}

impl RawPeer {
    pub fn new(conn: impl Into<rustls::Connection>) -> RawPeer {
        RawPeer { conn: conn.into(), received: Vec::new(), error: None }
    }
    pub fn write(&mut self, data: &[u8]) {
        self.conn.writer().write_all(data).unwrap();
    }
}

impl Endpoint for RawPeer {
    fn recv(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && self.error.is_none() {
            if self.conn.read_tls(&mut bytes).unwrap() == 0 {
                return;
            }
            if let Err(e) = self.conn.process_new_packets() {
                self.error = Some(e);
                return;
            }
            let _ = self.conn.reader().read_to_end(&mut self.received);
        }
    }
    fn send(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            self.conn.write_tls(&mut out).unwrap();
        }
        out
    }
}

/// Shuttle ciphertext both ways until neither side has anything to send. Returns the
/// number of bytes moved from `a` to `b` and from `b` to `a`.
pub fn pump(a: &mut dyn Endpoint, b: &mut dyn Endpoint) -> (usize, usize) {
    let (mut ab, mut ba) = (0, 0);
    for _ in 0..10_000 {
        let x = a.send();
        b.recv(&x);
        let y = b.send();
        a.recv(&y);
        ab += x.len();
        ba += y.len();
        if x.is_empty() && y.is_empty() {
            return (ab, ba);
        }
    }
    panic!("the endpoints never went quiet");
}

// ----- a session over a real socket (blocking, no reactor) -----

/// Drives a `Session` over a blocking TCP stream with read timeouts: enough to talk to
/// openssl and Python peers.
pub struct Wire {
    pub end: End,
    pub sock: TcpStream,
    pub eof: bool,
}

impl Wire {
    pub fn new(end: End, sock: TcpStream) -> Wire {
        sock.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        sock.set_nodelay(true).unwrap();
        Wire { end, sock, eof: false }
    }

    pub fn flush(&mut self) {
        let out = self.end.send();
        // A peer that has gone away is seen by the next read.
        if !out.is_empty() && self.sock.write_all(&out).is_err() {
            self.eof = true;
        }
    }

    /// Read once (up to the short timeout), feed what came; false on EOF.
    pub fn read_once(&mut self) -> bool {
        let mut buf = [0u8; 16384];
        match self.sock.read(&mut buf) {
            Ok(0) => {
                self.eof = true;
                false
            }
            Ok(n) => {
                self.end.recv(&buf[..n]);
                true
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => true,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                self.eof = true;
                false
            }
            Err(e) => panic!("read: {e}"),
        }
    }

    /// Flush and read until `done` holds, the session fails, or EOF; panics after `limit`.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&End) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            self.flush();
            if done(&self.end) || self.end.error.is_some() || self.eof {
                return;
            }
            assert!(Instant::now() < deadline, "timed out; events so far: {:?}", self.end.events);
            self.read_once();
        }
    }

    /// Read until EOF (then report it to the session), or the session fails.
    pub fn run_to_eof(&mut self, limit: Duration) {
        self.run_until(limit, |_| false);
        if self.eof && self.end.error.is_none() {
            if let Err(e) = self.end.s.feed_eof() {
                self.end.error = Some(e);
            }
        }
    }
}
