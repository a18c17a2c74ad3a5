//! A child whose exit status the host took: the host reaped it itself
//! (waitpid on its pid) or ignores SIGCHLD, so the kernel discarded the
//! status. marline cannot know how it ended and says so with
//! ReasonKind::ExitStatusUnknown, never with a made-up status.
mod common;
use std::sync::Mutex;

use common::*;
use marline::{ProcessSpec, Reactor, ReasonKind};

/// The tests change process-wide state (SIGCHLD, the reaping mode).
static SERIAL: Mutex<()> = Mutex::new(());

fn exit_3() -> ProcessSpec {
    ProcessSpec::new("/bin/sh", ["sh", "-c", "exit 3"])
}

/// Spawns `exit 3`, lets `host` interfere with its pid, and returns the
/// recorded events and the process_ended reason.
fn run_with_host(r: &Reactor, host: impl FnOnce(libc::pid_t)) -> (PLog, marline::Reason) {
    let log: PLog = Default::default();
    let rec = ProcRecorder::new(&log);
    let (exited, ended) = (rec.exited.clone(), rec.ended.clone());
    let p = r.spawn_process(&exit_3(), Box::new(rec)).unwrap();
    host(p.pid().unwrap() as libc::pid_t);
    run_until(r, || has_p(&log, is_ended));
    check_process_order(&log);
    let reason = ended.borrow().clone().unwrap();
    assert_eq!(exited.borrow().as_ref(), Some(&reason), "process_exited had the same reason");
    (log, reason)
}

fn assert_unknown(reason: &marline::Reason) {
    assert_eq!(reason.exit(), None, "no exit code, signal or wait status is made up: {reason:?}");
    assert_eq!(reason.kind(), ReasonKind::ExitStatusUnknown, "{reason:?}");
    assert_eq!(reason.message(), "process ended, but its exit status was taken by someone else");
}

/// The host calls waitpid on the child's pid before marline's loop does.
fn host_reaps(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: waiting for a child of this process; `status` is ours.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert_eq!(libc::WEXITSTATUS(status), 3, "the host got the real status");
}

#[test]
fn a_child_the_host_reaped_itself_ends_with_exit_status_unknown() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = Reactor::new().unwrap();
    let (_, reason) = run_with_host(&r, host_reaps);
    assert_unknown(&reason);

    // The same through the SIGCHLD self-pipe (no pidfd).
    marline::process::force_sigchld_reaping(true);
    let (_, reason) = run_with_host(&r, host_reaps);
    marline::process::force_sigchld_reaping(false);
    assert_unknown(&reason);

    // A child nobody else touches still reports its code.
    let (_, reason) = run_process(&r, &exit_3());
    assert_eq!((reason.kind(), reason.exit().unwrap().code), (ReasonKind::Terminated, Some(3)));
}

fn set_sigchld(handler: libc::sighandler_t) -> libc::sighandler_t {
    // SAFETY: sigaction is plain data; SIG_IGN or SIG_DFL.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        let mut old: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = handler;
        assert_eq!(libc::sigaction(libc::SIGCHLD, &act, &mut old), 0);
        old.sa_sigaction
    }
}

#[test]
fn a_child_of_a_host_that_ignores_sigchld_ends_with_exit_status_unknown() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = Reactor::new().unwrap();
    let old = set_sigchld(libc::SIG_IGN);
    // With SIGCHLD ignored the kernel reaps the child as it exits.
    let (_, reason) = run_with_host(&r, |_| {});
    set_sigchld(old);
    assert_unknown(&reason);
}
