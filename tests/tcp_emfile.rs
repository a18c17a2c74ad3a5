//! An accept storm that runs out of descriptors (EMFILE) must not spin the
//! loop, and accepting must resume once descriptors are free again. Runs in
//! a child process, since it lowers RLIMIT_NOFILE.
mod common;

use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use common::*;
use marline::Reactor;

const CHILD_ENV: &str = "MARLINE_EMFILE_CHILD";
const NAME: &str = "accept_storm_at_the_fd_limit_does_not_spin_and_resumes";

#[test]
fn accept_storm_at_the_fd_limit_does_not_spin_and_resumes() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child();
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), None, "{text}");
    assert!(out.status.success(), "{text}");
    assert!(text.contains("CHILD-OK"), "{text}");
}

fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) }, 0);
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn highest_fd() -> i32 {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .max()
        .unwrap()
}

fn child() {
    const CLIENTS: usize = 40;
    const ROOM: usize = 10;
    let r = Reactor::new().unwrap();
    let log: Log = Default::default();
    let l2 = log.clone();
    type Slot = std::rc::Rc<std::cell::RefCell<Option<marline::Transport>>>;
    let accepted: std::rc::Rc<std::cell::RefCell<Vec<Slot>>> = Default::default();
    let acc2 = accepted.clone();
    let lp = r
        .listen_tcp("127.0.0.1", 0, 128, move |_| {
            let rec = Recorder::new(&l2);
            acc2.borrow_mut().push(rec.current.clone());
            Box::new(rec)
        })
        .unwrap();
    let marline::Address::Inet(addr) = lp.host().unwrap() else { panic!() };
    // The clients' descriptors exist before the limit is lowered; their
    // connections wait in the listen backlog.
    let clients: Vec<TcpStream> = (0..CLIENTS).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let limit = (highest_fd() + 1) as u64 + ROOM as u64;
    let lim = libc::rlimit { rlim_cur: limit, rlim_max: limit };
    // SAFETY: lowers this (child) process's own descriptor limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    // Fill every free descriptor number below the limit, then free exactly
    // ROOM of them for accepts.
    let mut fillers = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        fillers.push(f);
    }
    assert!(fillers.len() >= ROOM);
    fillers.truncate(fillers.len() - ROOM);

    run_until(&r, || accepted.borrow().len() >= ROOM);
    // Now every accept fails with EMFILE while 30 connections stay ready.
    let cpu0 = cpu_time();
    let start = Instant::now();
    let mut turns = 0u32;
    while start.elapsed() < Duration::from_secs(1) {
        r.run_once(Some(Duration::from_millis(200))).unwrap();
        turns += 1;
    }
    let cpu = cpu_time() - cpu0;
    let stuck = accepted.borrow().len();
    println!("accepted {stuck}, turns {turns}, cpu {cpu:?}");
    assert_eq!(stuck, ROOM, "accepted {stuck} with room for {ROOM}");
    assert!(turns < 200, "the loop spins: {turns} turns in 1 s");
    assert!(cpu < Duration::from_millis(300), "the loop burns CPU: {cpu:?} in 1 s");

    // Free descriptors: close five accepted connections.
    for slot in accepted.borrow().iter().take(5) {
        slot.borrow().as_ref().unwrap().abort_connection().unwrap();
    }
    run_until(&r, || accepted.borrow().len() >= stuck + 5);
    println!("accepted {} after freeing 5", accepted.borrow().len());
    drop(clients);
    drop(fillers);
    println!("CHILD-OK");
}
