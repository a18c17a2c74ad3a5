//! The fork() fallback for kernels or sandboxes that refuse
//! clone(CLONE_VM | CLONE_VFORK) (forced here): the same child setup and
//! the same error reports.
mod common;
use common::*;
use marline::{ChildFd, ErrorKind, ProcessSpec, Reactor, ReasonKind};

fn sh(script: &str) -> ProcessSpec {
    ProcessSpec::new("/bin/sh", ["sh", "-c", script])
}

#[test]
fn forked_children_get_their_fds_env_cwd_pty_and_failures_are_reported() {
    marline::process::force_fork_spawn(true);
    let r = Reactor::new().unwrap();

    let (log, reason) = run_process(&r, &sh("echo \"$FOO\"; pwd; echo err >&2; exit 3").env(["FOO=bar"]).cwd("/tmp"));
    assert_eq!(out_of(&log, 1), b"bar\n/tmp\n");
    assert_eq!(out_of(&log, 2), b"err\n");
    assert_eq!(reason.exit().unwrap().code, Some(3));

    // The inherited descriptor's number is also another entry's target:
    // the two-step move must copy it before that target is overwritten.
    let mut fds = [0; 2];
    // SAFETY: a two-element array for pipe2.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let (ours, other) = (fds[1], fds[1] + 1);
    assert!(other <= 9, "sh redirects single-digit fds only");
    let spec = sh(&format!("echo inherited >&{other}; echo piped >&{ours}"))
        .child_fd(ours, ChildFd::FromChild)
        .child_fd(other, ChildFd::Inherit(ours));
    let (log, _) = run_process(&r, &spec);
    // SAFETY: our descriptors; the buffer is ours.
    let got = unsafe {
        libc::close(fds[1]);
        let mut buf = [0u8; 64];
        let n = libc::read(fds[0], buf.as_mut_ptr() as *mut _, buf.len());
        libc::close(fds[0]);
        buf[..n as usize].to_vec()
    };
    assert_eq!(got, b"inherited\n");
    assert_eq!(out_of(&log, ours), b"piped\n");

    let (log, reason) = run_process(&r, &sh("stty size; test -t 0 && echo tty").pty(true).window_size(27, 91));
    assert_eq!(out_of(&log, 1), b"27 91\r\ntty\r\n");
    assert_eq!(reason.kind(), ReasonKind::Done);

    let log: PLog = Default::default();
    let bad = r.spawn_process(&ProcessSpec::new("/etc/passwd", ["x"]), Box::new(ProcRecorder::new(&log)));
    let e = bad.err().unwrap();
    assert_eq!((e.kind(), e.raw_os_error()), (ErrorKind::BadExecutable, Some(libc::EACCES)));
    let bad = r.spawn_process(&sh("true").cwd("/nonexistent/dir"), Box::new(ProcRecorder::new(&log)));
    let e = bad.err().unwrap();
    assert_eq!((e.kind(), e.raw_os_error()), (ErrorKind::BadWorkingDirectory, Some(libc::ENOENT)));
    assert_eq!(r.object_count(), 0);
}
