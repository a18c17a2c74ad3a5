//! How children start (clone with CLONE_VM | CLONE_VFORK, see
//! src/process/spawn.rs): the signal state they begin with, the spawning
//! thread's mask left as it was, no child stack left mapped, and several
//! threads spawning at once.
mod common;
use std::sync::Mutex;

use common::*;
use marline::{ProcessSpec, Reactor, ReasonKind};

/// The tests change process-wide signal dispositions: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// A "SigXxx:" mask from a /proc/<pid>/status text.
fn status_mask(status: &str, field: &str) -> u64 {
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field} in {status}"));
    u64::from_str_radix(line[field.len()..].trim(), 16).unwrap()
}

fn bit(sig: i32) -> u64 {
    1 << (sig - 1)
}

/// This thread's signal mask.
fn thread_mask() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; pthread_sigmask with no new set only reads.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut set);
        set
    }
}

extern "C" fn count_usr1(_sig: i32) {}

fn set_action(sig: i32, handler: libc::sighandler_t) {
    // SAFETY: sigaction is plain data; a valid handler or SIG_IGN/SIG_DFL.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = handler;
        assert_eq!(libc::sigaction(sig, &act, std::ptr::null_mut()), 0);
    }
}

/// The child's /proc/self/status, read by `cat` spawned from `spec`.
fn child_status(r: &Reactor, spec: ProcessSpec) -> String {
    let (log, _) = run_process(r, &spec);
    String::from_utf8(out_of(&log, 1)).unwrap()
}

fn cat_status() -> ProcessSpec {
    ProcessSpec::new("cat", ["cat", "/proc/self/status"])
}

#[test]
fn children_start_with_an_empty_mask_and_every_signal_at_its_default() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = Reactor::new().unwrap();
    set_action(libc::SIGUSR1, count_usr1 as *const () as libc::sighandler_t);
    set_action(libc::SIGHUP, libc::SIG_IGN);
    set_action(libc::SIGINT, libc::SIG_IGN);
    set_action(libc::SIGPIPE, libc::SIG_IGN);
    // SAFETY: sigset_t is plain data; blocking SIGUSR2 in this thread only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR2);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    let before = thread_mask();

    let status = child_status(&r, cat_status());
    assert_eq!(status_mask(&status, "SigBlk:"), 0, "the child's mask is empty");
    assert_eq!(status_mask(&status, "SigIgn:"), 0, "ignored signals (HUP, INT, PIPE) are back to their defaults");
    assert_eq!(status_mask(&status, "SigCgt:"), 0, "no handler");
    let after = thread_mask();
    // SAFETY: both sets are initialised.
    let same = (1..=64).all(|s| unsafe { libc::sigismember(&before, s) == libc::sigismember(&after, s) });
    assert!(same, "the spawning thread's mask is restored");
    // SAFETY: `after` is initialised.
    assert_eq!(unsafe { libc::sigismember(&after, libc::SIGUSR2) }, 1);

    // keep_ignored_signals: ignored ones stay ignored, but SIGPIPE; handlers
    // are reset all the same.
    let ours = bit(libc::SIGHUP) | bit(libc::SIGINT) | bit(libc::SIGPIPE);
    let status = child_status(&r, cat_status().keep_ignored_signals(true));
    assert_eq!(status_mask(&status, "SigIgn:") & ours, bit(libc::SIGHUP) | bit(libc::SIGINT), "HUP and INT kept, PIPE reset");
    assert_eq!(status_mask(&status, "SigCgt:"), 0, "no handler");

    // Under the fork() fallback too.
    marline::process::force_fork_spawn(true);
    let forked = child_status(&r, cat_status());
    let forked_kept = child_status(&r, cat_status().keep_ignored_signals(true));
    marline::process::force_fork_spawn(false);
    assert_eq!((status_mask(&forked, "SigIgn:"), status_mask(&forked, "SigCgt:")), (0, 0));
    assert_eq!(status_mask(&forked_kept, "SigIgn:") & ours, bit(libc::SIGHUP) | bit(libc::SIGINT));

    set_action(libc::SIGUSR1, libc::SIG_DFL);
    set_action(libc::SIGHUP, libc::SIG_DFL);
    set_action(libc::SIGINT, libc::SIG_DFL);
}

/// Twisted's test_childSignalHandling (twisted/test/test_process.py): "The
/// disposition of signals which are ignored in the parent process is reset
/// to the default behavior for the child process." SIGUSR1, ignored here,
/// kills the child, which reports it: TERMINATED by SIGUSR1, no exit code.
#[test]
fn child_signal_handling() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = Reactor::new().unwrap();
    set_action(libc::SIGUSR1, libc::SIG_IGN);
    let log: PLog = Default::default();
    let rec = ProcRecorder::new(&log).hook(|p, ev| {
        if *ev == PEv::Out(1, b"ok, signal us\n".to_vec()) {
            p.signal(libc::SIGUSR1).unwrap();
        }
    });
    let ended = rec.ended.clone();
    // As process_signal.py: say so, then wait on stdin (exit 1 at EOF).
    let spec = ProcessSpec::new("/bin/sh", ["sh", "-c", "echo 'ok, signal us'; read x; exit 1"]);
    r.spawn_process(&spec, Box::new(rec)).unwrap();
    run_until(&r, || has_p(&log, is_ended));
    set_action(libc::SIGUSR1, libc::SIG_DFL);
    let reason = ended.borrow().clone().unwrap();
    assert_eq!(reason.kind(), ReasonKind::Terminated, "{reason:?}");
    let exit = reason.exit().unwrap();
    assert_eq!((exit.signal, exit.code), (Some(libc::SIGUSR1), None), "{reason:?}");
}

/// Lines of /proc/self/maps: one per mapping.
fn mapping_count() -> usize {
    std::fs::read_to_string("/proc/self/maps").unwrap().lines().count()
}

#[test]
fn child_stacks_are_unmapped() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = Reactor::new().unwrap();
    let spec = ProcessSpec::new("/bin/true", ["true"]);
    run_process(&r, &spec);
    let before = mapping_count();
    for _ in 0..200 {
        run_process(&r, &spec);
    }
    // A leaked stack would be two mappings (the guard page and the rest) per spawn.
    let after = mapping_count();
    assert!(after < before + 20, "mappings: {before} before 200 spawns, {after} after");
}

#[test]
fn threads_spawning_at_once_each_get_their_own_children() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let r = Reactor::new().unwrap();
                for i in 0..50 {
                    let word = format!("t{t}-{i}");
                    let spec = ProcessSpec::new("/bin/sh", ["sh", "-c", "echo \"$0\"", &word]);
                    let (log, _) = run_process(&r, &spec);
                    assert_eq!(out_of(&log, 1), format!("{word}\n").into_bytes());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
