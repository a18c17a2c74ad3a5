//! Process groups and sessions: ProcessSpec::new_session (setsid) and
//! new_process_group (setpgid), and Process::signal_group, which reaches
//! the child and what it started.
mod common;
use std::time::{Duration, Instant};

use common::*;
use marline::{ErrorKind, ProcessSpec, Reactor, ReasonKind};

/// (pid, process group, session) of the child, from its /proc/self/stat.
fn ids(r: &Reactor, spec: ProcessSpec) -> (i32, i32, i32) {
    let (log, _) = run_process(r, &spec);
    let stat = String::from_utf8(out_of(&log, 1)).unwrap();
    let pid = stat.split_whitespace().next().unwrap().parse().unwrap();
    // After "(comm)": state, ppid, pgrp, session.
    let rest: Vec<i32> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().skip(1).take(3).map(|f| f.parse().unwrap()).collect();
    (pid, rest[1], rest[2])
}

fn cat_stat() -> ProcessSpec {
    ProcessSpec::new("cat", ["cat", "/proc/self/stat"])
}

#[test]
fn children_start_in_our_group_or_in_a_group_or_session_of_their_own() {
    let r = Reactor::new().unwrap();
    // SAFETY: plain queries of our own ids.
    let (our_group, our_session) = unsafe { (libc::getpgrp(), libc::getsid(0)) };
    let (_, group, session) = ids(&r, cat_stat());
    assert_eq!((group, session), (our_group, our_session), "by default: our group and session");
    let (pid, group, session) = ids(&r, cat_stat().new_process_group(true));
    assert_eq!((group, session), (pid, our_session), "new_process_group: its own group in our session");
    let (pid, group, session) = ids(&r, cat_stat().new_session(true));
    assert_eq!((group, session), (pid, pid), "new_session: its own session and group");
    let (pid, group, session) = ids(&r, cat_stat().new_process_group(true).new_session(true));
    assert_eq!((group, session), (pid, pid), "both: a session");
}

/// True once `pid` has gone, or is a zombie waiting for whoever adopted it.
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat[stat.rfind(')').unwrap() + 2..].starts_with('Z'),
    }
}

#[test]
fn signal_group_reaches_the_child_and_what_it_started() {
    let r = Reactor::new().unwrap();
    for (session, group) in [(true, false), (false, true)] {
        let script = "sleep 1000 & echo $!; wait";
        let spec = ProcessSpec::new("/bin/sh", ["sh", "-c", script]).new_session(session).new_process_group(group);
        let log: PLog = Default::default();
        let rec = ProcRecorder::new(&log);
        let ended = rec.ended.clone();
        let p = r.spawn_process(&spec, Box::new(rec)).unwrap();
        run_until(&r, || out_of(&log, 1).ends_with(b"\n"));
        let grandchild: i32 = String::from_utf8(out_of(&log, 1)).unwrap().trim().parse().unwrap();
        p.signal_group(libc::SIGTERM).unwrap();
        run_until(&r, || has_p(&log, is_ended));
        let reason = ended.borrow().clone().unwrap();
        assert_eq!((reason.kind(), reason.exit().unwrap().signal), (ReasonKind::Terminated, Some(libc::SIGTERM)));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !gone(grandchild) {
            assert!(Instant::now() < deadline, "the grandchild {grandchild} survived the group's SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(p.signal_group(libc::SIGTERM), Err(ErrorKind::StaleHandle.into()), "after process_ended the handle is stale");
    }
}

#[test]
fn signal_group_is_refused_without_a_group_of_its_own_and_after_the_reap() {
    let r = Reactor::new().unwrap();
    let log: PLog = Default::default();
    let p = r.spawn_process(&ProcessSpec::new("sleep", ["sleep", "1000"]), Box::new(ProcRecorder::new(&log))).unwrap();
    assert_eq!(p.signal_group(libc::SIGTERM), Err(ErrorKind::NotSupported.into()), "our group is not the child's to signal");
    assert_eq!(p.signal_group(0), Err(ErrorKind::NotSupported.into()));
    p.signal(libc::SIGKILL).unwrap();
    run_until(&r, || has_p(&log, is_ended));

    let log: PLog = Default::default();
    let rec = ProcRecorder::new(&log).hook(|p, ev| {
        if let PEv::Exited(_) = ev {
            assert_eq!(p.signal_group(libc::SIGTERM), Err(ErrorKind::ProcessExitedAlready.into()), "reaped: nothing is sent");
        }
    });
    let p = r.spawn_process(&ProcessSpec::new("sleep", ["sleep", "1000"]).new_session(true), Box::new(rec)).unwrap();
    assert_eq!(p.signal_group(0), Err(ErrorKind::UnknownSignal.into()));
    assert_eq!(p.signal_group(999), Err(ErrorKind::UnknownSignal.into()));
    p.signal_group(libc::SIGKILL).unwrap();
    run_until(&r, || has_p(&log, is_ended));
    assert!(has_p(&log, |e| matches!(e, PEv::Exited(_))), "the check in process_exited ran");
}
