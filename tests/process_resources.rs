//! Resources: no zombies after 10,000 spawns, no leaked descriptors. The
//! tests of this binary share the process's fd table and children, so they
//! run one at a time (a lock). The 10,000-spawn test takes a few seconds in
//! release; it is a plain #[test] and also runs in the debug pass.
mod common;
use std::sync::Mutex;
use std::time::Instant;

use common::*;
use marline::{ChildFd, ProcessSpec, Reactor};

static SERIAL: Mutex<()> = Mutex::new(());

/// Our children that are zombies (state Z), from /proc.
fn zombie_children() -> Vec<i32> {
    let me = std::process::id().to_string();
    let mut z = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // pid (comm) state ppid ...
        let Some(rest) = stat.rsplit_once(')').map(|x| x.1) else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 1 && fields[0] == "Z" && fields[1] == me {
            z.push(pid);
        }
    }
    z
}

/// Spawns `total` children, `batch` at a time, and waits for all to end.
fn spawn_many(r: &Reactor, spec: &ProcessSpec, total: usize, batch: usize) {
    let mut done = 0;
    while done < total {
        let n = batch.min(total - done);
        let log: PLog = Default::default();
        for _ in 0..n {
            r.spawn_process(spec, Box::new(ProcRecorder::new(&log))).unwrap();
        }
        run_until(r, || log.borrow().iter().filter(|e| is_ended(e)).count() == n);
        done += n;
    }
}

#[test]
fn ten_thousand_spawns_leave_no_zombie_and_no_descriptor() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = Reactor::new().unwrap();
    let fds_before = open_fds();
    let start = Instant::now();
    spawn_many(&r, &ProcessSpec::new("/bin/true", ["true"]), 10_000, 64);
    let took = start.elapsed();
    eprintln!("10,000 spawns of /bin/true took {took:?}");
    assert_eq!(r.object_count(), 0);
    assert_eq!(zombie_children(), Vec::<i32>::new());
    assert_eq!(open_fds(), fds_before, "no descriptor leaked");
}

#[test]
fn failed_spawns_leak_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = Reactor::new().unwrap();
    let fds_before = open_fds();
    for _ in 0..200 {
        assert!(r.spawn_process(&ProcessSpec::new("/nonexistent", ["x"]), Box::new(ProcRecorder::new(&Default::default()))).is_err());
        assert!(r
            .spawn_process(&ProcessSpec::new("/bin/true", ["true"]).cwd("/nonexistent"), Box::new(ProcRecorder::new(&Default::default())))
            .is_err());
        assert!(r
            .spawn_process(&ProcessSpec::new("/etc/passwd", ["x"]).pty(true), Box::new(ProcRecorder::new(&Default::default())))
            .is_err());
    }
    assert_eq!(open_fds(), fds_before);
    assert_eq!(zombie_children(), Vec::<i32>::new());
}

#[test]
fn every_kind_of_ending_releases_its_descriptors() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let fds_before = open_fds();
    {
        let r = Reactor::new().unwrap();
        // Extra fds, a pty, signals, lose_connection, abort.
        let spec = ProcessSpec::new("/bin/sh", ["sh", "-c", "cat <&3 >&4"])
            .child_fd(3, ChildFd::ToChild)
            .child_fd(4, ChildFd::FromChild);
        let log: PLog = Default::default();
        let p = r.spawn_process(&spec, Box::new(ProcRecorder::new(&log))).unwrap();
        p.write_to_child(3, b"abc").unwrap();
        p.close_child_fd(3).unwrap();
        run_until(&r, || has_p(&log, is_ended));
        assert_eq!(out_of(&log, 4), b"abc");
        let log: PLog = Default::default();
        let p = r.spawn_process(&ProcessSpec::new("cat", ["cat"]).pty(true), Box::new(ProcRecorder::new(&log))).unwrap();
        p.lose_connection().unwrap();
        run_until(&r, || has_p(&log, is_ended));
        let log: PLog = Default::default();
        let p = r.spawn_process(&ProcessSpec::new("cat", ["cat"]), Box::new(ProcRecorder::new(&log))).unwrap();
        p.abort_connection().unwrap();
        run_until(&r, || has_p(&log, is_ended));
        // A child still running when the reactor is freed: SHUTDOWN, and it
        // is reaped in the background once it exits.
        let log: PLog = Default::default();
        let rec = ProcRecorder::new(&log);
        let ended = rec.ended.clone();
        r.spawn_process(&ProcessSpec::new("sleep", ["sleep", "0.2"]), Box::new(rec)).unwrap();
        drop(r);
        assert_eq!(ended.borrow().as_ref().unwrap().kind(), marline::ReasonKind::Shutdown);
        check_process_order_without_exit(&log);
    }
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(open_fds(), fds_before);
    assert_eq!(zombie_children(), Vec::<i32>::new());
}

fn check_process_order_without_exit(log: &PLog) {
    let l = log.borrow();
    assert!(is_ended(l.last().unwrap()), "{l:?}");
    assert!(!l.iter().any(|e| matches!(e, PEv::Exited(_))), "{l:?}");
}

/// Throughput: 1000 × `sh -c 'echo hello; exit 42'`, 64 at a time, every
/// output and exit code checked. Run with
/// `cargo test --release --test process_resources -- --ignored --nocapture`.
#[test]
#[ignore]
fn spawn_rate_benchmark() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = Reactor::new().unwrap();
    let spec = ProcessSpec::new("/bin/sh", ["sh", "-c", "echo hello; exit 42"]);
    for round in 0..3 {
        let start = Instant::now();
        let mut done = 0;
        while done < 1000 {
            let log: PLog = Default::default();
            let ended: std::rc::Rc<std::cell::RefCell<Vec<marline::Reason>>> = Default::default();
            for _ in 0..64.min(1000 - done) {
                let rec = ProcRecorder::new(&log);
                let (e, mine) = (ended.clone(), rec.ended.clone());
                let rec = rec.hook(move |_, ev| {
                    if is_ended(ev) {
                        e.borrow_mut().push(mine.borrow().clone().unwrap());
                    }
                });
                r.spawn_process(&spec, Box::new(rec)).unwrap();
            }
            let n = 64.min(1000 - done);
            run_until(&r, || ended.borrow().len() == n);
            assert!(ended.borrow().iter().all(|x| x.exit().unwrap().code == Some(42)));
            assert_eq!(out_of(&log, 1), b"hello\n".repeat(n));
            done += n;
        }
        let t = start.elapsed();
        eprintln!("round {round}: 1000 spawns in {t:?} = {:.0} spawns/s", 1000.0 / t.as_secs_f64());
    }
}
