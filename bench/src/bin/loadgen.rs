//! The load generator: raw non-blocking sockets on an edge-triggered epoll,
//! one loop per thread (one thread unless --threads), checking every byte
//! it gets back against the pattern it sent (see lib.rs). A server that
//! drops, duplicates, reorders or corrupts a byte makes it print `FAIL …` and
//! exit 1 instead of scoring.
//!
//! loadgen pump     --port P --conns N --secs S [--size 65536]   → MiB/s echoed
//! loadgen pingpong --port P --conns N --secs S [--size 64]      → round trips/s
//! loadgen churn    --port P --conns N --secs S [--size 64]      → connections/s
//! loadgen idle     --port P --conns N   (opens N echoed connections, prints
//!                  "ready", holds them until stdin closes)
//! loadgen sink     [--port P] [--expect BYTES]  (accepts one connection, reads
//!                  stream 0 until EOF, prints the CLOCK_MONOTONIC time of EOF)
//!
//! Rates are measured after a warm-up of a fifth of the run. The result is
//! one line: `RESULT value=… unit=… checked=… byte-exact: pass`.

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use marline_bench::{mono_ns, slice, table, PERIOD};

const READ_BUF: usize = 64 * 1024;
/// Most bytes a pump connection has in flight (sent, not yet echoed).
const PUMP_WINDOW: u64 = 1 << 20;

#[derive(Clone)]
struct Args {
    mode: String,
    port: u16,
    conns: usize,
    secs: f64,
    size: usize,
    threads: usize,
    expect: Option<u64>,
}

fn fail(msg: &str) -> ! {
    println!("FAIL {msg}");
    let _ = std::io::stdout().flush();
    std::process::exit(1);
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let mode = it.next().unwrap_or_else(|| fail("usage: loadgen MODE [--port P] [--conns N] [--secs S] [--size B] [--threads T]"));
    let mut a = Args { mode, port: 0, conns: 1, secs: 2.0, size: 0, threads: 1, expect: None };
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| fail(&format!("{k} needs a value")));
        macro_rules! num {
            () => {
                v.parse().unwrap_or_else(|_| fail(&format!("bad value for {k}: {v}")))
            };
        }
        match k.as_str() {
            "--port" => a.port = num!(),
            "--conns" => a.conns = num!(),
            "--secs" => a.secs = num!(),
            "--size" => a.size = num!(),
            "--threads" => a.threads = num!(),
            "--expect" => a.expect = Some(num!()),
            _ => fail(&format!("unknown option {k}")),
        }
    }
    if a.size == 0 {
        a.size = if a.mode == "pump" { 64 * 1024 } else { 64 };
    }
    if a.size > PERIOD - 1 {
        fail("--size must be below the pattern period");
    }
    a
}

fn raise_nofile() {
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn sockaddr(port: u16) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain old data.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as _;
    sa.sin_port = port.to_be();
    sa.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
    sa
}

/// A non-blocking TCP socket with TCP_NODELAY, connecting (or connected,
/// when `wait` is set) to 127.0.0.1:port.
fn connect(port: u16, wait: bool) -> i32 {
    // SAFETY: plain socket calls on a descriptor this function owns.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC | if wait { 0 } else { libc::SOCK_NONBLOCK }, 0);
        if fd < 0 {
            fail(&format!("socket: {}", std::io::Error::last_os_error()));
        }
        let one: libc::c_int = 1;
        libc::setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, &one as *const _ as *const libc::c_void, 4);
        let sa = sockaddr(port);
        let r = libc::connect(fd, &sa as *const _ as *const libc::sockaddr, std::mem::size_of_val(&sa) as u32);
        if r < 0 && errno() != libc::EINPROGRESS {
            fail(&format!("connect to port {port}: {}", std::io::Error::last_os_error()));
        }
        if wait {
            let fl = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
        fd
    }
}

struct Epoll(i32);

impl Epoll {
    fn new() -> Epoll {
        // SAFETY: plain syscall.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            fail("epoll_create1");
        }
        Epoll(fd)
    }
    fn add(&self, fd: i32, key: u64) {
        let mut ev = libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32, u64: key };
        // SAFETY: valid descriptors and event.
        if unsafe { libc::epoll_ctl(self.0, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            fail(&format!("epoll_ctl: {}", std::io::Error::last_os_error()));
        }
    }
    fn wait(&self, evs: &mut [libc::epoll_event], ms: i32) -> usize {
        // SAFETY: evs is a valid buffer of its length.
        let n = unsafe { libc::epoll_wait(self.0, evs.as_mut_ptr(), evs.len() as i32, ms) };
        if n < 0 {
            if errno() == libc::EINTR {
                return 0;
            }
            fail("epoll_wait");
        }
        n as usize
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: our descriptor.
        unsafe { libc::close(self.0) };
    }
}

/// One connection's streams: `sent` bytes written, `recvd` echoed back and
/// checked, and `goal`, how far the writer may go.
struct Conn {
    fd: i32,
    seed: u64,
    sent: u64,
    recvd: u64,
    goal: u64,
}

enum Io {
    /// Would block (or nothing left to do).
    Idle,
    /// The peer closed.
    Eof,
}

impl Conn {
    fn new(fd: i32, seed: u64, goal: u64) -> Conn {
        Conn { fd, seed, sent: 0, recvd: 0, goal }
    }

    /// Reads and checks everything available.
    fn read_all(&mut self, t: &[u8], buf: &mut [u8]) -> Io {
        loop {
            // SAFETY: buf is valid for its length.
            let n = unsafe { libc::read(self.fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
            if n > 0 {
                let n = n as usize;
                if self.recvd + n as u64 > self.sent {
                    fail(&format!("received {} bytes but only {} were sent", self.recvd + n as u64, self.sent));
                }
                let want = slice(t, self.seed, self.recvd, n);
                if want != &buf[..n] {
                    let at = want.iter().zip(&buf[..n]).position(|(a, b)| a != b).unwrap_or(0);
                    fail(&format!("wrong byte at offset {} of stream {}", self.recvd + at as u64, self.seed));
                }
                self.recvd += n as u64;
                continue;
            }
            if n == 0 {
                return Io::Eof;
            }
            match errno() {
                libc::EAGAIN => return Io::Idle,
                libc::EINTR => continue,
                e => fail(&format!("read: {}", std::io::Error::from_raw_os_error(e))),
            }
        }
    }

    /// Writes towards `goal`, `size` bytes at a time, until it would block.
    fn write_some(&mut self, t: &[u8], size: usize) {
        while self.sent < self.goal {
            let len = ((self.goal - self.sent) as usize).min(size);
            let data = slice(t, self.seed, self.sent, len);
            // SAFETY: data is valid for its length.
            let n = unsafe { libc::send(self.fd, data.as_ptr() as *const libc::c_void, len, libc::MSG_NOSIGNAL) };
            if n >= 0 {
                self.sent += n as u64;
                continue;
            }
            match errno() {
                libc::EAGAIN | libc::ENOTCONN => return,
                libc::EINTR => continue,
                e => fail(&format!("write: {}", std::io::Error::from_raw_os_error(e))),
            }
        }
    }
}

/// What one thread measured: units counted during the measured window,
/// its length, and bytes checked in all.
struct Measured {
    units: f64,
    secs: f64,
    checked: u64,
}

/// Counts after the warm-up.
struct Window {
    start: Instant,
    warm: Instant,
    end: Instant,
    at_warm: Option<(u64, Instant)>,
}

impl Window {
    fn new(secs: f64) -> Window {
        let start = Instant::now();
        Window {
            start,
            warm: start + Duration::from_secs_f64(secs / 5.0),
            end: start + Duration::from_secs_f64(secs),
            at_warm: None,
        }
    }
    /// Notes `count` at the warm-up mark; true once the run is over.
    fn tick(&mut self, count: u64) -> bool {
        let now = Instant::now();
        if self.at_warm.is_none() && now >= self.warm {
            self.at_warm = Some((count, now));
        }
        now >= self.end
    }
    fn result(&self, count: u64, checked: u64) -> Measured {
        let (c0, t0) = self.at_warm.unwrap_or((0, self.start));
        Measured { units: (count - c0) as f64, secs: t0.elapsed().as_secs_f64(), checked }
    }
}

/// pump and pingpong: `conns` long-lived connections.
fn echo_thread(a: Args, seeds: Vec<u64>) -> Measured {
    let t = table();
    let mut buf = vec![0u8; READ_BUF];
    let ep = Epoll::new();
    let pump = a.mode == "pump";
    let size = a.size as u64;
    let mut conns: Vec<Conn> = seeds
        .iter()
        .enumerate()
        .map(|(i, &seed)| {
            let c = Conn::new(connect(a.port, true), seed, if pump { PUMP_WINDOW } else { size });
            ep.add(c.fd, i as u64);
            c
        })
        .collect();
    for c in conns.iter_mut() {
        c.write_some(&t, a.size);
    }
    let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut w = Window::new(a.secs);
    let mut count: u64 = 0; // bytes echoed (pump) or round trips (pingpong)
    let mut stopping = false;
    let mut stop_deadline = None;
    let mut measured = None;
    loop {
        let n = ep.wait(&mut evs, 10);
        for ev in &evs[..n] {
            let c = &mut conns[ev.u64 as usize];
            let before = c.recvd;
            if let Io::Eof = c.read_all(&t, &mut buf) {
                fail(&format!("the server closed stream {} after {} of {} bytes", c.seed, c.recvd, c.sent));
            }
            if pump {
                count += c.recvd - before;
                if !stopping {
                    c.goal = c.recvd + PUMP_WINDOW;
                }
            } else if c.recvd == c.goal && c.recvd > before {
                count += 1;
                if !stopping {
                    c.goal += size;
                }
            }
            c.write_some(&t, a.size);
        }
        if !stopping && w.tick(count) {
            stopping = true;
            stop_deadline = Some(Instant::now() + Duration::from_secs(10));
            measured = Some(w.result(count, 0));
            // Drain: everything sent must come back before we trust the run.
            for c in conns.iter_mut() {
                c.goal = c.sent;
            }
        }
        if stopping {
            if conns.iter().all(|c| c.recvd == c.sent) {
                break;
            }
            if Instant::now() > stop_deadline.unwrap() {
                let missing: u64 = conns.iter().map(|c| c.sent - c.recvd).sum();
                fail(&format!("{missing} bytes never came back"));
            }
        }
    }
    let checked = conns.iter().map(|c| c.recvd).sum();
    for c in &conns {
        // SAFETY: our descriptors.
        unsafe { libc::close(c.fd) };
    }
    let mut m = measured.unwrap();
    m.checked = checked;
    m
}

/// churn: `conns` slots, each connecting, writing, reading back, closing.
fn churn_thread(a: Args, first_seed: u64) -> Measured {
    let t = table();
    let mut buf = vec![0u8; READ_BUF];
    let ep = Epoll::new();
    let size = a.size as u64;
    let mut seed = first_seed;
    let mut open = |ep: &Epoll, i: usize| {
        seed += 7919;
        let c = Conn::new(connect(a.port, false), seed, size);
        ep.add(c.fd, i as u64);
        c
    };
    let mut slots: Vec<Option<Conn>> = (0..a.conns).map(|i| Some(open(&ep, i))).collect();
    let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut w = Window::new(a.secs);
    let mut done: u64 = 0;
    let mut checked: u64 = 0;
    let mut stopping = false;
    let mut measured = None;
    let deadline = Instant::now() + Duration::from_secs_f64(a.secs + 10.0);
    loop {
        let n = ep.wait(&mut evs, 10);
        for ev in &evs[..n] {
            let i = ev.u64 as usize;
            let Some(c) = slots[i].as_mut() else { continue };
            if ev.events & libc::EPOLLERR as u32 != 0 {
                let mut err: libc::c_int = 0;
                let mut len = 4u32;
                // SAFETY: valid out pointers.
                unsafe { libc::getsockopt(c.fd, libc::SOL_SOCKET, libc::SO_ERROR, &mut err as *mut _ as *mut libc::c_void, &mut len) };
                fail(&format!("connection error: {}", std::io::Error::from_raw_os_error(err)));
            }
            c.write_some(&t, a.size);
            let eof = matches!(c.read_all(&t, &mut buf), Io::Eof);
            if c.recvd == size {
                checked += size;
                // SAFETY: our descriptor (closing also leaves the epoll set).
                unsafe { libc::close(c.fd) };
                done += 1;
                slots[i] = if stopping { None } else { Some(open(&ep, i)) };
            } else if eof {
                fail(&format!("the server closed a connection after {} of {} bytes", c.recvd, size));
            }
        }
        if !stopping && w.tick(done) {
            stopping = true;
            measured = Some(w.result(done, 0));
        }
        if stopping && slots.iter().all(|s| s.is_none()) {
            break;
        }
        if Instant::now() > deadline {
            fail("connections still open 10 s after the run");
        }
    }
    let mut m = measured.unwrap();
    m.checked = checked;
    m
}

/// idle: opens `conns` connections, each echoing 16 bytes once, then holds.
fn idle(a: Args) {
    let t = table();
    let mut buf = vec![0u8; 64];
    let mut conns = Vec::with_capacity(a.conns);
    for i in 0..a.conns {
        let fd = connect(a.port, true);
        // Back to blocking for one small round trip.
        // SAFETY: our descriptor.
        unsafe {
            let fl = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, fl & !libc::O_NONBLOCK);
        }
        let mut c = Conn::new(fd, i as u64 * 7919, 16);
        c.write_some(&t, 16);
        while c.recvd < 16 {
            if let Io::Eof = c.read_all_blocking(&t, &mut buf) {
                fail("the server closed an idle connection");
            }
        }
        conns.push(c);
    }
    println!("ready {}", conns.len());
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    for c in &conns {
        // SAFETY: our descriptors.
        unsafe { libc::close(c.fd) };
    }
    println!("RESULT value={} unit=conns checked={} byte-exact: pass", conns.len(), conns.len() * 16);
}

impl Conn {
    fn read_all_blocking(&mut self, t: &[u8], buf: &mut [u8]) -> Io {
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::read(self.fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if n == 0 {
            return Io::Eof;
        }
        if n < 0 {
            fail(&format!("read: {}", std::io::Error::last_os_error()));
        }
        let n = n as usize;
        if self.recvd + n as u64 > self.sent || slice(t, self.seed, self.recvd, n) != &buf[..n] {
            fail(&format!("wrong bytes echoed on stream {}", self.seed));
        }
        self.recvd += n as u64;
        Io::Idle
    }
}

/// sink: accepts one connection and reads stream 0 until EOF.
fn sink(a: Args) {
    let t = table();
    // SAFETY: plain socket calls on descriptors this function owns.
    let (lfd, port) = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        let one: libc::c_int = 1;
        libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, &one as *const _ as *const libc::c_void, 4);
        let mut sa = sockaddr(a.port);
        if libc::bind(fd, &sa as *const _ as *const libc::sockaddr, std::mem::size_of_val(&sa) as u32) < 0 || libc::listen(fd, 16) < 0 {
            fail(&format!("sink: bind/listen: {}", std::io::Error::last_os_error()));
        }
        let mut len = std::mem::size_of_val(&sa) as u32;
        libc::getsockname(fd, &mut sa as *mut _ as *mut libc::sockaddr, &mut len);
        (fd, u16::from_be(sa.sin_port))
    };
    println!("listening on 127.0.0.1:{port}");
    let _ = std::io::stdout().flush();
    // SAFETY: as above.
    let fd = unsafe { libc::accept4(lfd, std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC) };
    if fd < 0 {
        fail("sink: accept");
    }
    let mut buf = vec![0u8; READ_BUF];
    let mut c = Conn::new(fd, 0, 0);
    c.sent = u64::MAX;
    let mut first = 0;
    loop {
        match c.read_all_blocking(&t, &mut buf) {
            Io::Eof => break,
            Io::Idle if first == 0 => first = mono_ns(),
            Io::Idle => {}
        }
    }
    let eof = mono_ns();
    if let Some(want) = a.expect {
        if c.recvd != want {
            fail(&format!("sink: got {} bytes, expected {want}", c.recvd));
        }
    }
    println!("RESULT eof_ns={eof} first_ns={first} checked={} byte-exact: pass", c.recvd);
}

fn main() {
    let a = parse_args();
    raise_nofile();
    match a.mode.as_str() {
        "idle" => return idle(a),
        "sink" => return sink(a),
        "pump" | "pingpong" | "churn" => {}
        m => fail(&format!("unknown mode {m}")),
    }
    let threads = a.threads.max(1);
    let handles: Vec<_> = (0..threads)
        .map(|k| {
            let a = a.clone();
            std::thread::spawn(move || {
                let mut a = a;
                let share = a.conns / threads + usize::from(k < a.conns % threads);
                a.conns = share;
                if a.mode == "churn" {
                    churn_thread(a, k as u64 * 1_000_003)
                } else {
                    let seeds = (0..share).map(|i| ((k + i * threads) as u64) * 7919 + 1).collect();
                    echo_thread(a, seeds)
                }
            })
        })
        .collect();
    let results: Vec<Measured> = handles.into_iter().map(|h| h.join().unwrap_or_else(|_| fail("a thread panicked"))).collect();
    let rate: f64 = results.iter().map(|m| m.units / m.secs).sum();
    let checked: u64 = results.iter().map(|m| m.checked).sum();
    let (value, unit) = match a.mode.as_str() {
        "pump" => (rate / (1024.0 * 1024.0), "MiB/s"),
        "pingpong" => (rate, "rt/s"),
        _ => (rate, "conn/s"),
    };
    println!("RESULT value={value:.1} unit={unit} checked={checked} byte-exact: pass");
}
