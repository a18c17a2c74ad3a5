//! Integrity through a chain: a marline client → marline proxy → marline
//! proxy → a plain reader, with checksums on both ends, and lose_connection
//! called right after the last write (source and proxies alike).
//!
//! Normal suite: 64 MiB. The 1 GiB run (release):
//!
//! ```text
//! cargo test --release --test integrity_chain -- --ignored --nocapture
//! ```
//! (`MARLINE_CHAIN_MIB=4096` for other sizes.)
mod common;

use std::cell::{Cell, RefCell};
use std::io::Read;
use std::net::TcpListener;
use std::rc::Rc;
use std::time::{Duration, Instant};

use marline::{Producer, Protocol, Reactor, Reason, ReasonKind, Transport};

const CHUNK: usize = 256 * 1024;

/// A position-sensitive 64-bit checksum of a byte stream, independent of
/// how the stream is cut.
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
struct Sum {
    h: u64,
    carry: u64,
    n: u32,
    total: u64,
}

impl Sum {
    fn mix(&mut self, w: u64) {
        self.h = (self.h ^ w).wrapping_mul(0x0000_0100_0000_01B3).rotate_left(29) ^ self.total;
    }
    fn update(&mut self, mut d: &[u8]) {
        while self.n != 0 && !d.is_empty() {
            self.carry |= (d[0] as u64) << (8 * self.n);
            self.n = (self.n + 1) % 8;
            self.total += 1;
            d = &d[1..];
            if self.n == 0 {
                let w = std::mem::take(&mut self.carry);
                self.mix(w);
            }
        }
        let mut words = d.chunks_exact(8);
        for w in &mut words {
            self.total += 8;
            self.mix(u64::from_le_bytes(w.try_into().unwrap()));
        }
        for &b in words.remainder() {
            self.carry |= (b as u64) << (8 * self.n);
            self.n += 1;
            self.total += 1;
        }
    }
    fn finish(mut self) -> (u64, u64) {
        let (c, t) = (self.carry, self.total);
        self.mix(c ^ t.rotate_left(17));
        (self.h, self.total)
    }
}

/// Chunk `k`: a fixed random block with `k` stamped at its start, so a lost,
/// repeated or reordered chunk changes the checksum.
fn chunk(block: &[u8], k: u64) -> Vec<u8> {
    let mut c = block.to_vec();
    c[..8].copy_from_slice(&k.to_le_bytes());
    c
}

// ----- the proxy -----

/// One direction-pair of a proxied connection.
#[derive(Default)]
struct Link {
    inbound: Option<Transport>,
    outbound: Option<Transport>,
    pending: Vec<u8>,
    inbound_done: bool,
}

type L = Rc<RefCell<Link>>;

struct Inbound {
    link: L,
    reactor_port: u16,
    connect: Rc<dyn Fn(u16, Box<dyn Protocol>) -> Transport>,
}

/// The outbound side's producer is the inbound transport: pausing it stops
/// reading from the client until the next hop drains.
struct Throttle(L);
impl Producer for Throttle {
    fn pause_producing(&self, _t: &Transport) {
        if let Some(i) = self.0.borrow().inbound.clone() {
            let _ = i.pause_producing();
        }
    }
    fn resume_producing(&self, _t: &Transport) {
        if let Some(i) = self.0.borrow().inbound.clone() {
            let _ = i.resume_producing();
        }
    }
}

impl Protocol for Inbound {
    fn connection_made(&mut self, t: &Transport) {
        self.link.borrow_mut().inbound = Some(t.clone());
        let out = (self.connect)(self.reactor_port, Box::new(Outbound { link: self.link.clone() }));
        out.register_producer(Box::new(Throttle(self.link.clone())), true).unwrap();
        // Until the next hop is up, do not read more than one buffer.
        t.pause_producing().unwrap();
        self.link.borrow_mut().outbound = Some(out);
    }
    fn data_received(&mut self, _t: &Transport, data: &[u8]) {
        let out = self.link.borrow().outbound.clone();
        match out {
            Some(o) => o.write(data).unwrap(),
            None => self.link.borrow_mut().pending.extend_from_slice(data),
        }
    }
    fn connection_lost(&mut self, _t: &Transport, reason: &Reason) {
        assert_eq!(reason.kind(), ReasonKind::Done, "proxy inbound: {reason:?}");
        let out = {
            let mut l = self.link.borrow_mut();
            l.inbound = None;
            l.inbound_done = true;
            l.outbound.clone()
        };
        if let Some(o) = out {
            // Right after the last forwarded write: flush, then close.
            let _ = o.unregister_producer();
            o.lose_connection().unwrap();
        }
    }
}

struct Outbound {
    link: L,
}

impl Protocol for Outbound {
    fn connection_made(&mut self, t: &Transport) {
        let (pending, inbound) = {
            let mut l = self.link.borrow_mut();
            (std::mem::take(&mut l.pending), l.inbound.clone())
        };
        t.write(&pending).unwrap();
        if let Some(i) = inbound {
            let _ = i.resume_producing();
        }
    }
    fn connection_lost(&mut self, _t: &Transport, reason: &Reason) {
        assert_eq!(reason.kind(), ReasonKind::Done, "proxy outbound: {reason:?}");
    }
}

fn proxy(r: &Rc<Reactor>, next_hop: u16) -> u16 {
    let weak = Rc::downgrade(r);
    let core_connect: Rc<dyn Fn(u16, Box<dyn Protocol>) -> Transport> =
        Rc::new(move |port, p| weak.upgrade().expect("reactor alive").connect_tcp("127.0.0.1", port, None, p).unwrap());
    let lp = r
        .listen_tcp("127.0.0.1", 0, 0, move |_| {
            Box::new(Inbound { link: Default::default(), reactor_port: next_hop, connect: core_connect.clone() })
        })
        .unwrap();
    match lp.host().unwrap() {
        marline::Address::Inet(a) => a.port(),
        _ => unreachable!(),
    }
}

// ----- the source -----

struct Source {
    block: Rc<Vec<u8>>,
    next: Cell<u64>,
    chunks: u64,
    sum: Rc<RefCell<Sum>>,
}

impl Producer for Source {
    fn resume_producing(&self, t: &Transport) {
        let k = self.next.get();
        if k >= self.chunks {
            return;
        }
        let c = chunk(&self.block, k);
        self.sum.borrow_mut().update(&c);
        t.write(&c).unwrap();
        self.next.set(k + 1);
        if k + 1 == self.chunks {
            // Close right after the last write: nothing may be lost.
            t.unregister_producer().unwrap();
            t.lose_connection().unwrap();
        }
    }
}

struct SourceProto {
    producer: Option<Source>,
    lost: Rc<Cell<Option<ReasonKind>>>,
}

impl Protocol for SourceProto {
    fn connection_made(&mut self, t: &Transport) {
        t.register_producer(Box::new(self.producer.take().unwrap()), false).unwrap();
    }
    fn connection_lost(&mut self, _t: &Transport, reason: &Reason) {
        self.lost.set(Some(reason.kind()));
    }
}

fn run_chain(mib: u64) {
    let total = mib << 20;
    let chunks = total / CHUNK as u64;
    let sink = TcpListener::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = sink.accept().unwrap();
        let mut sum = Sum::default();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return sum,
                Ok(n) => sum.update(&buf[..n]),
                Err(e) => panic!("sink: {e}"),
            }
        }
    });
    let r = Rc::new(Reactor::new().unwrap());
    let p2 = proxy(&r, sink_port);
    let p1 = proxy(&r, p2);
    let block = Rc::new(common::pattern(CHUNK, 99));
    let sent: Rc<RefCell<Sum>> = Default::default();
    let lost: Rc<Cell<Option<ReasonKind>>> = Default::default();
    let start = Instant::now();
    let src = Source { block, next: Cell::new(0), chunks, sum: sent.clone() };
    r.connect_tcp("127.0.0.1", p1, None, Box::new(SourceProto { producer: Some(src), lost: lost.clone() })).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60 + mib / 4);
    while !reader.is_finished() {
        assert!(Instant::now() < deadline, "chain stalled");
        r.run_once(Some(Duration::from_millis(50))).unwrap();
    }
    let got = reader.join().unwrap().finish();
    let want = sent.borrow().finish();
    let secs = start.elapsed().as_secs_f64();
    println!("chain: {} MiB in {secs:.2} s ({:.0} MiB/s), checksum sent {:#018x} received {:#018x}", mib, mib as f64 / secs, want.0, got.0);
    assert_eq!(got.1, total, "bytes received");
    assert_eq!(got, want, "checksums differ");
    assert_eq!(lost.get(), Some(ReasonKind::Done));
    // Every proxied connection closes cleanly; only the two listeners stay.
    let end = Instant::now() + Duration::from_secs(10);
    while r.object_count() > 2 {
        assert!(Instant::now() < end, "{} objects left", r.object_count());
        r.run_once(Some(Duration::from_millis(10))).unwrap();
    }
}

#[test]
fn chain_64_mib_with_lose_connection_after_the_last_write() {
    run_chain(64);
}

#[test]
#[ignore = "1 GiB: run in release, see the module docs"]
fn chain_1_gib() {
    let mib = std::env::var("MARLINE_CHAIN_MIB").ok().and_then(|s| s.parse().ok()).unwrap_or(1024);
    run_chain(mib);
}
