//! Process transports: Twisted's process tests (SEMANTICS §3) ported.
mod common;
use std::io::IoSlice;

use common::*;
use marline::{ChildFd, ErrorKind, ProcessSpec, Reactor, ReasonKind};

fn sh(script: &str) -> ProcessSpec {
    ProcessSpec::new("/bin/sh", ["sh", "-c", script])
}

fn lost_set(log: &PLog) -> Vec<i32> {
    let mut v: Vec<i32> = log.borrow().iter().filter_map(|e| if let PEv::Lost(fd) = e { Some(*fd) } else { None }).collect();
    v.sort();
    v
}

#[test]
fn stdio_echo_with_write_and_write_sequence_then_close_stdin() {
    let r = Reactor::new().unwrap();
    let log: PLog = Default::default();
    let rec = ProcRecorder::new(&log).hook(|p, ev| {
        if *ev == PEv::Lost(0) {
            assert_eq!(p.write(b"too late"), Err(ErrorKind::Closed.into()), "a write after stdin has closed");
        }
    });
    let ended = rec.ended.clone();
    let p = r.spawn_process(&ProcessSpec::new("cat", ["cat"]), Box::new(rec)).unwrap();
    p.write(b"hello, ").unwrap();
    p.write_sequence(&[IoSlice::new(b"world"), IoSlice::new(b""), IoSlice::new(b"!\n")]).unwrap();
    p.write(b"").unwrap();
    p.close_stdin().unwrap();
    // Accepted and delivered: stdin closes from the loop, after what was written.
    p.write(b"late\n").unwrap();
    assert_eq!(p.close_stdin(), Ok(()), "closing twice is harmless");
    run_until(&r, || has_p(&log, is_ended));
    check_process_order(&log);
    assert_eq!(out_of(&log, 1), b"hello, world!\nlate\n");
    assert_eq!(out_of(&log, 2), b"");
    assert_eq!(lost_set(&log), vec![0, 1, 2]);
    let reason = ended.borrow().clone().unwrap();
    assert_eq!(reason.kind(), ReasonKind::Done);
    let exit = reason.exit().unwrap();
    assert_eq!((exit.code, exit.signal, exit.core_dumped, exit.status), (Some(0), None, false, 0));
    assert_eq!(p.write(b"x"), Err(ErrorKind::StaleHandle.into()), "dead after process_ended");
}

#[test]
fn large_echo_through_cat_keeps_every_byte_in_order() {
    let r = Reactor::new().unwrap();
    let data = pattern(3 * 1024 * 1024 + 17, 7);
    let log: PLog = Default::default();
    let p = r.spawn_process(&ProcessSpec::new("cat", ["cat"]), Box::new(ProcRecorder::new(&log))).unwrap();
    let (a, b) = data.split_at(1_000_000);
    p.write(a).unwrap();
    p.write_sequence(&[IoSlice::new(&b[..10]), IoSlice::new(&b[10..])]).unwrap();
    assert!(p.queued().unwrap() > 0, "a pipe cannot take 3 MiB at once");
    p.close_stdin().unwrap();
    run_until(&r, || has_p(&log, is_ended));
    check_process_order(&log);
    assert!(out_of(&log, 1) == data);
}

#[test]
fn normal_and_abnormal_exit_codes() {
    let r = Reactor::new().unwrap();
    let (_, reason) = run_process(&r, &sh("exit 0"));
    assert_eq!(reason.kind(), ReasonKind::Done);
    assert_eq!(reason.exit().unwrap().code, Some(0));
    for code in [1, 42, 255] {
        let (_, reason) = run_process(&r, &sh(&format!("exit {code}")));
        assert_eq!(reason.kind(), ReasonKind::Terminated);
        let exit = reason.exit().unwrap();
        assert_eq!((exit.code, exit.signal, exit.core_dumped), (Some(code), None, false));
        assert_eq!(exit.status, code << 8);
        assert_eq!(reason.message(), format!("process exited with code {code}"));
    }
}

#[test]
fn stderr_is_fd_2() {
    let r = Reactor::new().unwrap();
    let (log, reason) = run_process(&r, &sh("printf out; printf err-data >&2; printf more >&2"));
    assert_eq!(out_of(&log, 1), b"out");
    assert_eq!(out_of(&log, 2), b"err-datamore");
    assert_eq!(reason.kind(), ReasonKind::Done);
}

#[test]
fn environment_and_working_directory() {
    let r = Reactor::new().unwrap();
    let spec = sh("echo \"$FOO\"; pwd; echo \"${HOME:-unset}\"").env(["FOO=bar baz", "PATH=/usr/bin:/bin"]).cwd("/tmp");
    let (log, _) = run_process(&r, &spec);
    assert_eq!(String::from_utf8(out_of(&log, 1)).unwrap(), "bar baz\n/tmp\nunset\n");
    // Inherited by default.
    std::env::set_var("MARLINE_TEST_INHERIT", "yes");
    let (log, _) = run_process(&r, &sh("echo $MARLINE_TEST_INHERIT"));
    assert_eq!(out_of(&log, 1), b"yes\n");
}

#[test]
fn the_child_gets_only_its_mapped_fds() {
    let r = Reactor::new().unwrap();
    // A descriptor of ours without CLOEXEC must not leak into the child.
    let leaky = unsafe { libc::dup(1) };
    unsafe { libc::fcntl(leaky, libc::F_SETFD, 0) };
    let (log, _) = run_process(&r, &sh("ls /proc/$$/fd"));
    unsafe { libc::close(leaky) };
    assert_eq!(String::from_utf8(out_of(&log, 1)).unwrap(), "0\n1\n2\n");
}

#[test]
fn custom_child_fds_with_write_to_child_and_close_child_fd() {
    let r = Reactor::new().unwrap();
    let spec = sh("echo start; cat <&3 >&4; echo done >&4; echo bye >&2")
        .child_fd(0, ChildFd::ToChild)
        .child_fd(1, ChildFd::FromChild)
        .child_fd(2, ChildFd::FromChild)
        .child_fd(3, ChildFd::ToChild)
        .child_fd(4, ChildFd::FromChild);
    let log: PLog = Default::default();
    let rec = ProcRecorder::new(&log).hook(|p, ev| {
        if *ev == PEv::Out(1, b"start\n".to_vec()) {
            p.write_to_child(3, b"righto").unwrap();
            p.close_child_fd(3).unwrap();
            // Accepted until the pipe has actually closed (from the loop).
            p.write_to_child(3, b"!").unwrap();
        }
        if *ev == PEv::Lost(3) {
            assert_eq!(p.write_to_child(3, b"x"), Err(ErrorKind::Closed.into()));
        }
    });
    let p = r.spawn_process(&spec, Box::new(rec)).unwrap();
    assert_eq!(p.write_to_child(1, b"x"), Err(ErrorKind::NoSuchChildFd.into()), "fd 1 is read by us");
    assert_eq!(p.write_to_child(7, b"x"), Err(ErrorKind::NoSuchChildFd.into()));
    assert_eq!(p.close_child_fd(7), Err(ErrorKind::NoSuchChildFd.into()));
    assert_eq!(p.set_window_size(24, 80), Err(ErrorKind::NotSupported.into()));
    run_until(&r, || has_p(&log, is_ended));
    check_process_order(&log);
    assert_eq!(out_of(&log, 1), b"start\n");
    assert_eq!(out_of(&log, 4), b"righto!done\n");
    assert_eq!(out_of(&log, 2), b"bye\n");
    assert_eq!(lost_set(&log), vec![0, 1, 2, 3, 4]);
}

#[test]
fn inherited_parent_fd() {
    let r = Reactor::new().unwrap();
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let spec = sh("echo via-inherited >&5; echo out").child_fd(1, ChildFd::FromChild).child_fd(5, ChildFd::Inherit(fds[1]));
    let (log, _) = run_process(&r, &spec);
    unsafe { libc::close(fds[1]) };
    let mut buf = [0u8; 64];
    let n = unsafe { libc::read(fds[0], buf.as_mut_ptr() as *mut _, buf.len()) };
    unsafe { libc::close(fds[0]) };
    assert_eq!(&buf[..n as usize], b"via-inherited\n");
    assert_eq!(out_of(&log, 1), b"out\n");
    assert_eq!(lost_set(&log), vec![1]);
}

#[test]
fn pty_turns_newlines_into_crlf_and_sets_the_window_size() {
    let r = Reactor::new().unwrap();
    let (log, reason) = run_process(&r, &sh("printf 'a\\nb\\n'").pty(true));
    assert_eq!(out_of(&log, 1), b"a\r\nb\r\n");
    assert_eq!(reason.kind(), ReasonKind::Done);
    assert_eq!(lost_set(&log), vec![1]);

    let log: PLog = Default::default();
    let rec = ProcRecorder::new(&log).hook(|p, ev| {
        if *ev == PEv::Out(1, b"ready\r\n".to_vec()) {
            p.write(b"go\n").unwrap();
        }
    });
    let script = "stty -echo; echo ready; read x; stty size; test -t 0 && echo tty";
    let p = r.spawn_process(&sh(script).pty(true), Box::new(rec)).unwrap();
    assert_eq!(p.is_pty(), Ok(true));
    p.set_window_size(33, 101).unwrap();
    assert_eq!(p.write_to_child(0, b"x"), Err(ErrorKind::NotSupported.into()));
    assert_eq!(p.close_child_fd(0), Err(ErrorKind::NotSupported.into()));
    assert_eq!(p.close_stdin(), Err(ErrorKind::NotSupported.into()));
    run_until(&r, || has_p(&log, is_ended));
    check_process_order(&log);
    assert_eq!(String::from_utf8(out_of(&log, 1)).unwrap(), "ready\r\n33 101\r\ntty\r\n");
}

#[test]
fn a_pty_can_start_with_a_window_size() {
    let r = Reactor::new().unwrap();
    // The child's very first look at its terminal sees the size (set before it starts).
    let (log, reason) = run_process(&r, &sh("stty size").pty(true).window_size(27, 91));
    assert_eq!(out_of(&log, 1), b"27 91\r\n");
    assert_eq!(reason.kind(), ReasonKind::Done);
}

#[test]
fn bad_arguments_fail_synchronously_without_callbacks() {
    let r = Reactor::new().unwrap();
    let dir = std::env::temp_dir().join(format!("marline-noexec-{}", std::process::id()));
    std::fs::write(&dir, "#!/bin/sh\necho hi\n").unwrap();
    let cases: Vec<(ProcessSpec, ErrorKind)> = vec![
        (ProcessSpec::new("/nonexistent/program", ["x"]), ErrorKind::BadExecutable),
        (ProcessSpec::new("no-such-program-marline", ["x"]), ErrorKind::BadExecutable),
        (ProcessSpec::new(&dir, ["x"]), ErrorKind::BadExecutable),
        (ProcessSpec::new("/tmp", ["x"]), ErrorKind::BadExecutable),
        (ProcessSpec::new("", ["x"]), ErrorKind::BadExecutable),
        (ProcessSpec::new("/bin/sh", Vec::<&str>::new()), ErrorKind::InvalidArgument),
        (ProcessSpec::new("/bin/sh", ["sh", "a\0b"]), ErrorKind::InvalidArgument),
        (sh("true").cwd("/nonexistent/dir"), ErrorKind::BadWorkingDirectory),
        (sh("true").cwd("/etc/passwd"), ErrorKind::BadWorkingDirectory),
        (sh("true").child_fd(1, ChildFd::FromChild).child_fd(1, ChildFd::ToChild), ErrorKind::BadChildFdMap),
        (sh("true").child_fd(-1, ChildFd::FromChild), ErrorKind::BadChildFdMap),
        (sh("true").child_fd(100_000, ChildFd::FromChild), ErrorKind::BadChildFdMap),
        (sh("true").child_fd(3, ChildFd::Inherit(987_654)), ErrorKind::BadChildFdMap),
        (sh("true").child_fd(3, ChildFd::Inherit(-5)), ErrorKind::BadChildFdMap),
        (sh("true").pty(true).child_fd(0, ChildFd::ToChild), ErrorKind::BadChildFdMap),
        (sh("true").window_size(24, 80), ErrorKind::InvalidArgument),
    ];
    for (spec, want) in cases {
        let log: PLog = Default::default();
        let got = r.spawn_process(&spec, Box::new(ProcRecorder::new(&log))).map(|_| ());
        assert_eq!(got.map_err(|e| e.kind()), Err(want), "{spec:?}");
        r.run_once(Some(std::time::Duration::from_millis(1))).unwrap();
        assert!(log.borrow().is_empty(), "no callback for {spec:?}");
        assert_eq!(r.object_count(), 0, "no half-made object for {spec:?}");
    }
    std::fs::remove_file(&dir).unwrap();
    // The errno behind a failure is kept as the error's source.
    let errno = |spec: &ProcessSpec| {
        let e = r.spawn_process(spec, Box::new(ProcRecorder::new(&Default::default()))).err().unwrap();
        (e.kind(), e.raw_os_error(), std::error::Error::source(&e).map(|s| s.to_string()))
    };
    let enoent = Some(std::io::Error::from_raw_os_error(libc::ENOENT).to_string());
    assert_eq!(errno(&ProcessSpec::new("/nonexistent/program", ["x"])), (ErrorKind::BadExecutable, Some(libc::ENOENT), enoent));
    let enotdir = Some(std::io::Error::from_raw_os_error(libc::ENOTDIR).to_string());
    assert_eq!(errno(&sh("true").cwd("/etc/passwd")), (ErrorKind::BadWorkingDirectory, Some(libc::ENOTDIR), enotdir));
}

#[test]
fn closing_stdout_early_gives_the_child_sigpipe_or_epipe() {
    let r = Reactor::new().unwrap();
    // SIGPIPE is back to its default in the child (marline ignores it here).
    let log: PLog = Default::default();
    let rec = ProcRecorder::new(&log);
    let ended = rec.ended.clone();
    let p = r.spawn_process(&sh("read x; echo x"), Box::new(rec)).unwrap();
    p.close_stdout().unwrap();
    p.write(b"go\n").unwrap();
    run_until(&r, || has_p(&log, is_ended));
    check_process_order(&log);
    let exit = ended.borrow().clone().unwrap().exit().copied().unwrap();
    assert_eq!(exit.signal, Some(libc::SIGPIPE), "{exit:?}");

    // With SIGPIPE ignored by the child, the write fails with EPIPE instead.
    let log: PLog = Default::default();
    let rec = ProcRecorder::new(&log);
    let ended = rec.ended.clone();
    let p = r.spawn_process(&sh("trap '' PIPE; read x; echo x || echo write-failed >&2; exit 42"), Box::new(rec)).unwrap();
    p.close_stdout().unwrap();
    p.write(b"go\n").unwrap();
    run_until(&r, || has_p(&log, is_ended));
    check_process_order(&log);
    assert!(String::from_utf8(out_of(&log, 2)).unwrap().ends_with("write-failed\n"));
    assert_eq!(ended.borrow().clone().unwrap().exit().unwrap().code, Some(42));
    let l = log.borrow();
    assert_eq!(l[1], PEv::Lost(1), "our close is reported first: {l:?}");
}

#[test]
fn child_closes_stdout_early_and_keeps_running() {
    let r = Reactor::new().unwrap();
    let (log, reason) = run_process(&r, &sh("exec 1>&-; sleep 0.3; echo still-here >&2; exit 5"));
    let l = log.borrow();
    let lost1 = l.iter().position(|e| *e == PEv::Lost(1)).unwrap();
    let err = l.iter().position(|e| matches!(e, PEv::Out(2, _))).unwrap();
    let exited = l.iter().position(|e| matches!(e, PEv::Exited(_))).unwrap();
    assert!(lost1 < err && err < exited, "{l:?}");
    assert_eq!(out_of(&log, 2), b"still-here\n");
    assert_eq!(reason.exit().unwrap().code, Some(5));
}

#[test]
fn grandchild_holding_the_pipes_delays_process_ended_not_process_exited() {
    let r = Reactor::new().unwrap();
    let (log, reason) = run_process(&r, &sh("(sleep 0.5; echo late) & echo early; exit 3"));
    let l = log.borrow();
    let exited = l.iter().position(|e| matches!(e, PEv::Exited(_))).unwrap();
    let late = l.iter().position(|e| *e == PEv::Out(1, b"late\n".to_vec())).unwrap();
    assert!(exited < late, "process_exited came when the child exited: {l:?}");
    assert_eq!(out_of(&log, 1), b"early\nlate\n");
    assert_eq!(reason.exit().unwrap().code, Some(3), "the child's status, not the grandchild's");
}

#[test]
fn lose_connection_closes_stdin_after_flushing_then_stderr_then_stdout() {
    let r = Reactor::new().unwrap();
    let log: PLog = Default::default();
    let p = r.spawn_process(&sh("exec sleep 0.3"), Box::new(ProcRecorder::new(&log))).unwrap();
    p.write(b"queued for stdin").unwrap();
    p.lose_connection().unwrap();
    p.lose_connection().unwrap();
    p.write(b"x").unwrap(); // accepted until stdin has actually closed
    run_until(&r, || has_p(&log, is_ended));
    check_process_order(&log);
    let l = log.borrow();
    assert_eq!(&l[..4], &[PEv::Made, PEv::Lost(0), PEv::Lost(2), PEv::Lost(1)], "{l:?}");
    assert_eq!(l[4], PEv::Exited(ReasonKind::Done));
}

#[test]
fn process_address_and_pid() {
    let r = Reactor::new().unwrap();
    let log: PLog = Default::default();
    let p = r.spawn_process(&sh("exec sleep 5"), Box::new(ProcRecorder::new(&log))).unwrap();
    let pid = p.pid().unwrap();
    assert!(pid > 1);
    assert_eq!(p.peer().unwrap(), marline::Address::Process { pid });
    assert_eq!(p.host().unwrap().to_string(), format!("process {pid}"));
    let t: marline::Transport = p.clone().into();
    assert_eq!(marline::Process::try_from(t).unwrap(), p);
    p.signal_by_name("KILL").unwrap();
    run_until(&r, || has_p(&log, is_ended));
}
