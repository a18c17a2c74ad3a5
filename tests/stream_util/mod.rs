//! Helpers for the stream tests: a marline stream connected to a plain
//! socket, an asr that records what it is told, and bounded waiting.
#![allow(dead_code)]

pub mod netns;

use std::io::Read;
use std::net::{SocketAddr, TcpStream as PlainStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use marline::stream::{Asr, Event, TcpStream};
use marline::ErrorKind;

pub type Events = Arc<Mutex<Vec<(Event, i32)>>>;

/// An asr that appends every (event, detail) to the returned log.
pub fn recorder() -> (Asr, Events) {
    let log: Events = Default::default();
    let l = log.clone();
    (Box::new(move |e, d| l.lock().unwrap().push((e, d))), log)
}

pub fn events(log: &Events) -> Vec<(Event, i32)> {
    log.lock().unwrap().clone()
}

/// Polls `cond` every 2 ms for up to 5 s; panics if it never holds.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The port a passively opened stream listens on.
pub fn port_of(s: &TcpStream) -> u16 {
    s.sock_name().unwrap().port()
}

/// A marline stream (passive side) connected to a plain client socket.
pub fn accepted_pair() -> (TcpStream, PlainStream) {
    let s = TcpStream::new().unwrap();
    s.passive_open_on(localhost(0)).unwrap();
    let peer = PlainStream::connect(("127.0.0.1", port_of(&s))).unwrap();
    s.wait(Some(Duration::from_secs(5))).unwrap();
    (s, peer)
}

/// A marline stream (active side) connected to a plain server socket.
pub fn connected_pair() -> (TcpStream, PlainStream) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let s = TcpStream::new().unwrap();
    s.active_open(0, "127.0.0.1", port, Some(Duration::from_secs(5))).unwrap();
    let (peer, _) = l.accept().unwrap();
    (s, peer)
}

/// Sends `data` as TCP urgent data from a plain socket (MSG_OOB).
pub fn send_oob(peer: &PlainStream, data: &[u8]) {
    // SAFETY: the buffer is valid for the call.
    let n = unsafe { libc::send(peer.as_raw_fd(), data.as_ptr() as *const libc::c_void, data.len(), libc::MSG_OOB) };
    assert_eq!(n, data.len() as isize);
}

/// Reads exactly `n` bytes from a plain socket (5 s limit).
pub fn read_exact(peer: &mut PlainStream, n: usize) -> Vec<u8> {
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0; n];
    peer.read_exact(&mut buf).unwrap();
    buf
}

/// Bytes waiting unread in a plain socket (SIOCINQ).
pub fn unread(peer: &PlainStream) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    assert_eq!(unsafe { libc::ioctl(peer.as_raw_fd(), libc::FIONREAD, &mut n) }, 0);
    n as usize
}

pub fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

pub const SECOND: Option<Duration> = Some(Duration::from_secs(1));
pub const FIVE: Option<Duration> = Some(Duration::from_secs(5));

/// Like [`accepted_pair`], with a recording asr installed before the
/// passive open; the log is emptied once PASSIVE_OPEN_DONE has come.
pub fn accepted_pair_logged() -> (TcpStream, PlainStream, Events) {
    let s = TcpStream::new().unwrap();
    let (asr, log) = recorder();
    s.set_asr(Some(asr)).unwrap();
    s.passive_open_on(localhost(0)).unwrap();
    let peer = PlainStream::connect(("127.0.0.1", port_of(&s))).unwrap();
    s.wait(Some(Duration::from_secs(5))).unwrap();
    eventually("PASSIVE_OPEN_DONE", || !events(&log).is_empty());
    assert_eq!(events(&log), vec![(Event::PassiveOpenDone, 0)]);
    log.lock().unwrap().clear();
    (s, peer, log)
}

/// A plain client with a tiny receive buffer, connected to a passively
/// opened stream, that does not read.
pub fn slow_reader_pair() -> (TcpStream, PlainStream) {
    let s = TcpStream::new().unwrap();
    s.passive_open_on(localhost(0)).unwrap();
    let c = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    c.set_recv_buffer_size(4096).unwrap();
    c.connect(&localhost(port_of(&s)).into()).unwrap();
    s.wait(FIVE).unwrap();
    (s, PlainStream::from(c))
}

/// True while a send or close of `s` is in progress (an empty send is
/// refused as busy then, and does nothing otherwise).
pub fn sending(s: &TcpStream) -> bool {
    s.send(b"", true, false) == Err(ErrorKind::StreamBusy.into())
}

/// True while a rcv of `s` is in progress. The probe is a rcv with a zero
/// limit, which is answered at once and so never holds the receiving lane
/// itself; only for when no data is waiting (it would read a byte).
pub fn receiving(s: &TcpStream) -> bool {
    s.rcv(1, Some(Duration::ZERO)) == Err(ErrorKind::StreamBusy.into())
}

/// A pattern of `n` bytes that shows misordering.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}
