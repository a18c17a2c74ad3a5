//! Signals: HUP, INT, KILL, TERM by name and number, kill after exit, core
//! dumps, unknown signals.
mod common;
use std::cell::RefCell;
use std::rc::Rc;

use common::*;
use marline::{Error, ErrorKind, ProcessSpec, Reactor, ReasonKind};

fn sleeper() -> ProcessSpec {
    ProcessSpec::new("sleep", ["sleep", "100"])
}

#[test]
fn each_of_hup_int_kill_term_by_name_and_number() {
    let r = Reactor::new().unwrap();
    for (name, num) in [("HUP", libc::SIGHUP), ("INT", libc::SIGINT), ("KILL", libc::SIGKILL), ("TERM", libc::SIGTERM)] {
        for by_name in [true, false] {
            let log: PLog = Default::default();
            let rec = ProcRecorder::new(&log);
            let (exited, ended) = (rec.exited.clone(), rec.ended.clone());
            let p = r.spawn_process(&sleeper(), Box::new(rec)).unwrap();
            if by_name {
                p.signal_by_name(name).unwrap();
            } else {
                p.signal(num).unwrap();
            }
            run_until(&r, || has_p(&log, is_ended));
            check_process_order(&log);
            let reason = ended.borrow().clone().unwrap();
            assert_eq!(exited.borrow().as_ref(), Some(&reason));
            assert_eq!(reason.kind(), ReasonKind::Terminated);
            let exit = reason.exit().unwrap();
            assert_eq!((exit.code, exit.signal, exit.core_dumped), (None, Some(num), false), "{name}");
            assert_eq!(exit.status, num);
            assert_eq!(marline::process::signal_name(exit.signal.unwrap()), Some(name));
            assert_eq!(reason.message(), format!("process was killed by signal {num} ({name})"));
        }
    }
}

#[test]
fn signal_after_exit_is_process_exited_already_and_never_sent() {
    let r = Reactor::new().unwrap();
    let results: Rc<RefCell<Vec<Result<(), Error>>>> = Default::default();
    let res = results.clone();
    let log: PLog = Default::default();
    let rec = ProcRecorder::new(&log).hook(move |p, ev| {
        if matches!(ev, PEv::Exited(_) | PEv::Ended(_)) {
            res.borrow_mut().push(p.signal_by_name("TERM"));
            res.borrow_mut().push(p.signal(libc::SIGKILL));
            res.borrow_mut().push(p.pid().map(|_| ()));
        }
    });
    let p = r.spawn_process(&ProcessSpec::new("/bin/sh", ["sh", "-c", "exit 0"]), Box::new(rec)).unwrap();
    run_until(&r, || has_p(&log, is_ended));
    let all = results.borrow().clone();
    assert_eq!(all, vec![Err(ErrorKind::ProcessExitedAlready.into()); 6]);
    assert_eq!(p.signal_by_name("TERM"), Err(ErrorKind::StaleHandle.into()), "after process_ended the handle is dead");
}

#[test]
fn unknown_signals_are_refused_before_anything_is_sent() {
    let r = Reactor::new().unwrap();
    let log: PLog = Default::default();
    let p = r.spawn_process(&sleeper(), Box::new(ProcRecorder::new(&log))).unwrap();
    assert_eq!(p.signal_by_name("NOPE"), Err(ErrorKind::UnknownSignal.into()));
    assert_eq!(p.signal(0), Err(ErrorKind::UnknownSignal.into()));
    assert_eq!(p.signal(-3), Err(ErrorKind::UnknownSignal.into()));
    assert_eq!(p.signal(4096), Err(ErrorKind::UnknownSignal.into()));
    p.signal_by_name("SIGUSR1").unwrap();
    run_until(&r, || has_p(&log, is_ended));
    assert_eq!(log.borrow().iter().filter(|e| matches!(e, PEv::Exited(_))).count(), 1);
}

#[test]
fn core_dump_flag_is_what_the_kernel_reports() {
    let r = Reactor::new().unwrap();
    let scratch = Scratch::new("core");
    let spec = ProcessSpec::new("/bin/sh", ["sh", "-c", "ulimit -c unlimited 2>/dev/null; kill -SEGV $$"]).cwd(&scratch.0);
    let (_, reason) = run_process(&r, &spec);
    let exit = *reason.exit().unwrap();
    assert_eq!(exit.signal, Some(libc::SIGSEGV));
    assert_eq!(exit.core_dumped, libc::WCOREDUMP(exit.status), "the flag is the kernel's");
    let (_, reason) = run_process(&r, &ProcessSpec::new("/bin/sh", ["sh", "-c", "ulimit -c 0; kill -SEGV $$"]));
    let exit = *reason.exit().unwrap();
    assert_eq!((exit.signal, exit.core_dumped), (Some(libc::SIGSEGV), false));
}
