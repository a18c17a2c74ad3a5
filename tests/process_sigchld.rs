//! The SIGCHLD self-pipe fallback (forced here; pidfds exist on this
//! kernel): processes are reaped, signals work, and children that are not
//! ours keep their statuses for their owner.
mod common;
use common::*;
use marline::{ErrorKind, ProcessSpec, Reactor, ReasonKind};

#[test]
fn sigchld_fallback_reaps_only_our_children() {
    marline::process::force_sigchld_reaping(true);
    let r = Reactor::new().unwrap();
    // A child that is not marline's: its status must still be there.
    let mut other = std::process::Command::new("/bin/sh").args(["-c", "exit 7"]).spawn().unwrap();

    let (log, reason) = run_process(&r, &ProcessSpec::new("/bin/sh", ["sh", "-c", "echo hi; exit 3"]));
    assert_eq!(out_of(&log, 1), b"hi\n");
    assert_eq!(reason.exit().unwrap().code, Some(3));

    // Many at once, one signalled.
    let logs: Vec<PLog> = (0..20).map(|_| Default::default()).collect();
    let mut procs = Vec::new();
    for (i, log) in logs.iter().enumerate() {
        let script = format!("exit {i}");
        procs.push(r.spawn_process(&ProcessSpec::new("/bin/sh", ["sh", "-c", &script]), Box::new(ProcRecorder::new(log))).unwrap());
    }
    let sleeper_log: PLog = Default::default();
    let rec = ProcRecorder::new(&sleeper_log);
    let ended = rec.ended.clone();
    let sleeper = r.spawn_process(&ProcessSpec::new("sleep", ["sleep", "100"]), Box::new(rec)).unwrap();
    sleeper.signal_by_name("TERM").unwrap();
    run_until(&r, || logs.iter().all(|l| has_p(l, is_ended)) && has_p(&sleeper_log, is_ended));
    for l in &logs {
        check_process_order(l);
    }
    let reason = ended.borrow().clone().unwrap();
    assert_eq!(reason.kind(), ReasonKind::Terminated);
    assert_eq!(reason.exit().unwrap().signal, Some(libc::SIGTERM));
    assert_eq!(r.object_count(), 0, "the reaper retires when it has no children");

    let status = other.wait().unwrap();
    assert_eq!(status.code(), Some(7), "the other child's status was left alone");
    let _ = ErrorKind::ProcessExitedAlready;
}
