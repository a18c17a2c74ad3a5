//! Load: many concurrent connections held open with echo traffic, every byte
//! checked. The server (a marline echo server) runs in this process, the
//! clients (marline too) in a child process, so each side needs one
//! descriptor per connection; both raise RLIMIT_NOFILE to the hard limit.
//!
//! Normal suite: 1,000 connections for 5 s. The full run (release):
//!
//! ```text
//! cargo test --release --test soak -- --ignored --nocapture
//! ```
//! (10,000 connections for 60 s; `MARLINE_SOAK_CONNS` and
//! `MARLINE_SOAK_SECONDS` override.)
mod common;

use std::cell::RefCell;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use marline::{Protocol, Reactor, Reason, ReasonKind, Transport};

const CHILD_ENV: &str = "MARLINE_SOAK_CHILD";

fn raise_nofile() -> (u64, u64) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit on this process with a valid struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    (lim.rlim_cur, lim.rlim_max)
}

/// (VmRSS, VmHWM) in KiB.
fn rss() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let get = |k: &str| {
        s.lines().find(|l| l.starts_with(k)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    (get("VmRSS:"), get("VmHWM:"))
}

/// Byte `i` of connection `c`'s stream.
fn byte(c: u64, i: u64) -> u8 {
    (i.wrapping_mul(31).wrapping_add(c.wrapping_mul(131)) ^ (i >> 9)) as u8
}

// ----- the clients (child process) -----

#[derive(Default)]
struct Stats {
    connected: usize,
    lost: usize,
    bad: usize,
    echoed: u64,
    failed: usize,
}

struct Client {
    id: u64,
    sent: u64,
    recv: u64,
    seed: u64,
    stats: Rc<RefCell<Stats>>,
    stop: Rc<RefCell<bool>>,
}

impl Client {
    fn send_more(&mut self, t: &Transport) {
        if *self.stop.borrow() {
            return;
        }
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let n = 1 + self.seed % 2048;
        let data: Vec<u8> = (self.sent..self.sent + n).map(|i| byte(self.id, i)).collect();
        if t.write(&data).is_ok() {
            self.sent += n;
        }
    }
}

impl Protocol for Client {
    fn connection_made(&mut self, t: &Transport) {
        self.stats.borrow_mut().connected += 1;
        self.send_more(t);
    }
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        let ok = data.iter().enumerate().all(|(k, b)| *b == byte(self.id, self.recv + k as u64));
        self.recv += data.len() as u64;
        let mut st = self.stats.borrow_mut();
        st.echoed += data.len() as u64;
        if !ok || self.recv > self.sent {
            st.bad += 1;
        }
        drop(st);
        if self.recv == self.sent {
            // One chunk in flight per connection: ping-pong.
            self.send_more(t);
        }
    }
    fn connection_lost(&mut self, _t: &Transport, reason: &Reason) {
        let mut st = self.stats.borrow_mut();
        st.lost += 1;
        if reason.kind() != ReasonKind::Done || self.recv != self.sent {
            st.bad += 1;
        }
    }
    fn connection_failed(&mut self, _t: &Transport, _reason: &Reason) {
        self.stats.borrow_mut().failed += 1;
    }
}

fn child(port: u16, conns: usize, secs: u64) {
    let (cur, max) = raise_nofile();
    let r = Reactor::new().unwrap();
    let stats: Rc<RefCell<Stats>> = Default::default();
    let stop: Rc<RefCell<bool>> = Default::default();
    let mut transports = Vec::with_capacity(conns);
    let start = Instant::now();
    // Connect in waves so the listen backlog never overflows.
    while transports.len() < conns {
        let wave = (conns - transports.len()).min(500);
        for _ in 0..wave {
            let id = transports.len() as u64;
            let c = Client { id, sent: 0, recv: 0, seed: id * 7919 + 1, stats: stats.clone(), stop: stop.clone() };
            transports.push(r.connect_tcp("127.0.0.1", port, Some(Duration::from_secs(30)), Box::new(c)).unwrap());
        }
        let want = transports.len();
        while stats.borrow().connected + stats.borrow().failed < want {
            assert!(start.elapsed() < Duration::from_secs(120), "connecting stalled");
            r.run_once(Some(Duration::from_millis(10))).unwrap();
        }
    }
    let connect_time = start.elapsed();
    assert_eq!(stats.borrow().failed, 0, "connections failed");
    let held = Instant::now();
    let mut peak = rss();
    while held.elapsed() < Duration::from_secs(secs) {
        r.run_once(Some(Duration::from_millis(50))).unwrap();
        let now = rss();
        peak = (peak.0.max(now.0), now.1);
    }
    *stop.borrow_mut() = true;
    // Let the last chunks come back, then close every connection.
    let drain = Instant::now();
    while drain.elapsed() < Duration::from_secs(2) {
        r.run_once(Some(Duration::from_millis(10))).unwrap();
    }
    for t in &transports {
        t.lose_connection().unwrap();
    }
    while stats.borrow().lost < conns {
        assert!(drain.elapsed() < Duration::from_secs(60), "closing stalled");
        r.run_once(Some(Duration::from_millis(10))).unwrap();
    }
    let st = stats.borrow();
    println!(
        "CHILD conns={conns} nofile={cur}/{max} connect={:.2}s held={secs}s echoed={} bad={} rss_kib={} hwm_kib={}",
        connect_time.as_secs_f64(),
        st.echoed,
        st.bad,
        peak.0,
        rss().1
    );
    assert_eq!(st.bad, 0, "bytes lost, corrupted or out of order");
    println!("CHILD-OK");
}

// ----- the server (this process) -----

struct Echo(Rc<RefCell<(usize, usize)>>);
impl Protocol for Echo {
    fn connection_made(&mut self, _t: &Transport) {
        let mut c = self.0.borrow_mut();
        c.0 += 1;
        c.1 = c.1.max(c.0);
    }
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        t.write(data).unwrap();
    }
    fn connection_lost(&mut self, _t: &Transport, _reason: &Reason) {
        self.0.borrow_mut().0 -= 1;
    }
}

fn soak(conns: usize, secs: u64) {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let v: Vec<u64> = spec.split(',').map(|x| x.parse().unwrap()).collect();
        return child(v[0] as u16, v[1] as usize, v[2]);
    }
    let (cur, max) = raise_nofile();
    if max < 2 * conns as u64 {
        println!("note: RLIMIT_NOFILE hard limit {max} < {}: each side needs one descriptor per connection", 2 * conns);
    }
    assert!(cur as usize > conns + 100, "RLIMIT_NOFILE {cur} is too low for {conns} connections in one process");
    let r = Reactor::new().unwrap();
    let open: Rc<RefCell<(usize, usize)>> = Default::default();
    let o2 = open.clone();
    let lp = r.listen_tcp("127.0.0.1", 0, 0, move |_| Box::new(Echo(o2.clone()))).unwrap();
    let marline::Address::Inet(addr) = lp.host().unwrap() else { panic!() };
    let name = if conns >= 10_000 { "soak_10k_connections_60s" } else { "soak_short_1000_connections_5s" };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--include-ignored", "--test-threads=1"])
        .env(CHILD_ENV, format!("{},{conns},{secs}", addr.port()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut peak = (0, 0);
    let status = loop {
        r.run_once(Some(Duration::from_millis(20))).unwrap();
        let now = rss();
        peak = (peak.0.max(now.0), now.1);
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(secs + 300), "soak child hangs");
    };
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    for l in text.lines().filter_map(|l| l.find("CHILD conns").map(|i| &l[i..])) {
        println!("{l}");
    }
    println!("SERVER peak_open={} nofile={cur}/{max} rss_kib={} hwm_kib={}", open.borrow().1, peak.0, peak.1);
    assert!(status.success() && text.contains("CHILD-OK"), "{text}");
    assert_eq!(open.borrow().1, conns, "every connection was open at once");
    let end = Instant::now();
    while open.borrow().0 > 0 {
        assert!(end.elapsed() < Duration::from_secs(30));
        r.run_once(Some(Duration::from_millis(10))).unwrap();
    }
}

#[test]
fn soak_short_1000_connections_5s() {
    soak(1000, 5);
}

#[test]
#[ignore = "10,000 connections for 60 s: run in release, see the module docs"]
fn soak_10k_connections_60s() {
    let conns = std::env::var("MARLINE_SOAK_CONNS").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let secs = std::env::var("MARLINE_SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    soak(conns, secs);
}
