//! Starting a child: pipes (CLOEXEC, our ends non-blocking), the child fd
//! map, environment, working directory, an optional pty, and
//! clone(CLONE_VM | CLONE_VFORK)/exec with a CLOEXEC error pipe so that a
//! failed exec is reported synchronously.
//!
//! The child shares our memory until it execs (no page tables are copied,
//! so spawning costs the same in a small program and in a huge one): so
//! everything it needs is prepared here, before the clone, as a
//! [`Plan`] that the child side (`child.rs`) only reads.

use std::ffi::{c_char, CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use super::child::{start_child, Plan, STAGE_CHDIR, STAGE_EXEC};
use super::spec::{check_fd_map, ChildFd, ProcessSpec, MAX_CHILD_FDS};
use crate::error::{Error, ErrorKind, Result};
use crate::sys::syscall;

/// Which way a parent-side descriptor carries data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// We read what the child writes.
    Read,
    /// We write what the child reads.
    Write,
    /// The pty master: both.
    Pty,
}

/// One of our ends.
pub(crate) struct ParentEnd {
    pub child_fd: i32,
    pub fd: OwnedFd,
    pub dir: Dir,
}

/// A running child and our ends of its descriptors.
pub(crate) struct Spawned {
    pub pid: libc::pid_t,
    pub ends: Vec<ParentEnd>,
    /// The child leads a process group of its own (its id is the pid).
    pub own_group: bool,
}

fn cstring(s: &OsStr) -> Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| ErrorKind::InvalidArgument.into())
}

fn bad_executable(errno: i32) -> Error {
    Error::with_errno(ErrorKind::BadExecutable, errno)
}

/// Finds `exe` the way execvp would, in the parent, so that "not found" is
/// known before forking.
fn resolve(exe: &OsStr, env: Option<&[OsString]>) -> Result<CString> {
    if exe.is_empty() {
        return Err(bad_executable(libc::ENOENT));
    }
    if exe.as_bytes().contains(&b'/') {
        return cstring(exe);
    }
    let from_env = env.and_then(|vars| {
        vars.iter().find_map(|v| v.as_bytes().strip_prefix(b"PATH=").map(|p| OsStr::from_bytes(p).to_owned()))
    });
    let path = from_env
        .or_else(|| std::env::var_os("PATH"))
        .unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    let mut errno = libc::ENOENT;
    for dir in path.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() { b".".as_slice() } else { dir };
        let mut candidate = dir.to_vec();
        candidate.push(b'/');
        candidate.extend_from_slice(exe.as_bytes());
        let Ok(c) = CString::new(candidate) else { continue };
        // SAFETY: `c` is a valid NUL-terminated path.
        if unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0 {
            if std::fs::metadata(OsStr::from_bytes(c.as_bytes())).is_ok_and(|m| m.is_file()) {
                return Ok(c);
            }
        } else if io::Error::last_os_error().raw_os_error() == Some(libc::EACCES) {
            errno = libc::EACCES;
        }
    }
    Err(bad_executable(errno))
}

fn cloexec_pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    syscall!(pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC))?;
    // SAFETY: pipe2 returned two new descriptors that we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    let flags = syscall!(fcntl(fd, libc::F_GETFL))?;
    syscall!(fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK))?;
    Ok(())
}

/// A new pty: (master, slave), both CLOEXEC, the master non-blocking.
fn open_pty() -> Result<(OwnedFd, OwnedFd)> {
    let m = syscall!(posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC))?;
    // SAFETY: a new descriptor we own.
    let master = unsafe { OwnedFd::from_raw_fd(m) };
    syscall!(fcntl(m, libc::F_SETFD, libc::FD_CLOEXEC))?;
    syscall!(grantpt(m))?;
    syscall!(unlockpt(m))?;
    let s = match syscall!(ioctl(m, libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC)) {
        Ok(s) => s,
        Err(_) => {
            let mut name = [0 as c_char; 128];
            // SAFETY: the buffer and its length are ours.
            let rc = unsafe { libc::ptsname_r(m, name.as_mut_ptr(), name.len()) };
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc).into());
            }
            syscall!(open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC))?
        }
    };
    // SAFETY: a new descriptor we own.
    let slave = unsafe { OwnedFd::from_raw_fd(s) };
    set_nonblocking(m)?;
    Ok((master, slave))
}

/// Starts the child, which execs the program. On failure nothing is left
/// behind: no process (a child that failed to exec is reaped here), no
/// descriptor.
pub(crate) fn spawn(spec: &ProcessSpec) -> Result<Spawned> {
    if spec.args.is_empty() {
        return Err(ErrorKind::InvalidArgument.into());
    }
    if spec.pty && spec.fds.is_some() {
        return Err(ErrorKind::BadChildFdMap.into());
    }
    if spec.window_size.is_some() && !spec.pty {
        return Err(ErrorKind::InvalidArgument.into());
    }
    let map = if spec.pty { Vec::new() } else { spec.fd_map() };
    check_fd_map(&map)?;
    let args: Vec<CString> = spec.args.iter().map(|a| cstring(a)).collect::<Result<_>>()?;
    let env: Vec<CString> = match &spec.env {
        Some(vars) => vars.iter().map(|v| cstring(v)).collect::<Result<_>>()?,
        None => std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k.into_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                CString::new(kv).map_err(|_| ErrorKind::InvalidArgument.into())
            })
            .collect::<Result<_>>()?,
    };
    let cwd = spec.cwd.as_ref().map(|c| cstring(c.as_os_str())).transpose()?;
    let path = resolve(&spec.executable, spec.env.as_deref())?;

    // Our ends, and the child's ends (closed here once the child has them).
    let mut ends = Vec::new();
    let mut child_ends: Vec<OwnedFd> = Vec::new();
    let mut moves = Vec::new();
    let mut pty_slave = None;
    if spec.pty {
        let (master, slave) = open_pty()?;
        if let Some((rows, cols)) = spec.window_size {
            let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
            syscall!(ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws as *const libc::winsize))?;
        }
        pty_slave = Some(slave.as_raw_fd());
        for target in 0..3 {
            moves.push((slave.as_raw_fd(), target));
        }
        child_ends.push(slave);
        ends.push(ParentEnd { child_fd: 1, fd: master, dir: Dir::Pty });
    }
    for &(target, how) in &map {
        match how {
            ChildFd::ToChild | ChildFd::FromChild => {
                let (r, w) = cloexec_pipe()?;
                let (ours, theirs, dir) = if how == ChildFd::ToChild { (w, r, Dir::Write) } else { (r, w, Dir::Read) };
                set_nonblocking(ours.as_raw_fd())?;
                moves.push((theirs.as_raw_fd(), target));
                child_ends.push(theirs);
                ends.push(ParentEnd { child_fd: target, fd: ours, dir });
            }
            ChildFd::Inherit(fd) => moves.push((fd, target)),
        }
    }
    let (err_r, err_w) = cloexec_pipe()?;
    let mut targets: Vec<i32> = moves.iter().map(|m| m.1).collect();
    targets.sort_unstable();
    targets.dedup();
    let mut argv: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // check_fd_map bounds a map, and a pty makes 3 moves: the child's
    // scratch array (see `child`) holds them all.
    assert!(moves.len() <= MAX_CHILD_FDS, "fd map larger than the child can hold");
    let plan = Plan {
        path,
        argv,
        envp,
        cwd,
        moves,
        targets,
        pty_slave,
        err_fd: err_w.as_raw_fd(),
        new_session: spec.new_session,
        new_group: spec.new_group,
        keep_ignored: spec.keep_ignored_signals,
    };

    let pid = start_child(&plan)?;
    drop(err_w);
    drop(child_ends);
    let mut report = [0u8; 8];
    let mut got = 0;
    while got < report.len() {
        match crate::sys::read(err_r.as_raw_fd(), &mut report[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    drop(err_r);
    if got == 0 {
        let own_group = spec.pty || spec.new_session || spec.new_group;
        return Ok(Spawned { pid, ends, own_group });
    }
    // The child failed before exec: reap it (it has exited or is about to).
    super::reap::wait_blocking(pid);
    drop(ends);
    let stage = i32::from_ne_bytes(report[..4].try_into().expect("4 bytes"));
    let errno = if got == 8 { i32::from_ne_bytes(report[4..].try_into().expect("4 bytes")) } else { libc::EIO };
    Err(match stage {
        STAGE_EXEC => match errno {
            libc::ENOENT | libc::EACCES | libc::ENOEXEC | libc::ENOTDIR | libc::ELOOP | libc::ENAMETOOLONG
            | libc::EISDIR | libc::ETXTBSY | libc::EPERM | libc::ELIBBAD => bad_executable(errno),
            _ => io::Error::from_raw_os_error(errno).into(),
        },
        STAGE_CHDIR => Error::with_errno(ErrorKind::BadWorkingDirectory, errno),
        _ => Error::with_errno(ErrorKind::Os, errno),
    })
}
