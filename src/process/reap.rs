//! Reaping children: through a pidfd registered with the reactor where the
//! kernel has pidfd_open (Linux 5.3+), otherwise through a SIGCHLD
//! self-pipe. Either way only our own children are waited for, each by its
//! pid — never waitpid(-1), so other children's statuses are left to their
//! owners.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Once, OnceLock};

use mio::Interest;

use super::signals::signal_name;
use super::transport::ProcessTransport;
use crate::error::{ErrorKind, Result};
use crate::reactor::handles::Handle;
use crate::reactor::{Core, Object, Readiness};
use crate::sys::syscall;
use crate::transport::{ExitInfo, Reason, ReasonKind};

/// How a wait status reads as an exit.
pub(crate) fn exit_info(status: i32) -> ExitInfo {
    if libc::WIFSIGNALED(status) {
        ExitInfo { code: None, signal: Some(libc::WTERMSIG(status)), core_dumped: libc::WCOREDUMP(status), status }
    } else {
        ExitInfo { code: Some(libc::WEXITSTATUS(status)), signal: None, core_dumped: false, status }
    }
}

/// What waiting for one of our children found out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// It ended with this wait status.
    Status(i32),
    /// It has ended, but its status was taken by someone else (waitpid
    /// says ECHILD): the host reaped it itself, or ignores SIGCHLD so the
    /// kernel discarded the status.
    Unknown,
}

/// The reason of a process that ended: DONE for exit code 0, TERMINATED
/// for another code or a signal, EXIT_STATUS_UNKNOWN when its status was
/// taken by someone else (no exit details are made up then).
pub(crate) fn reason(exit: Exit) -> Reason {
    let status = match exit {
        Exit::Status(status) => status,
        Exit::Unknown => {
            return Reason::new(ReasonKind::ExitStatusUnknown, "process ended, but its exit status was taken by someone else")
        }
    };
    let info = exit_info(status);
    match (info.code, info.signal) {
        (Some(0), _) => Reason::exited(ReasonKind::Done, info, "process exited with code 0"),
        (Some(code), _) => Reason::exited(ReasonKind::Terminated, info, &format!("process exited with code {code}")),
        (None, Some(sig)) => {
            let name = signal_name(sig).unwrap_or("?");
            let core = if info.core_dumped { " (core dumped)" } else { "" };
            Reason::exited(ReasonKind::Terminated, info, &format!("process was killed by signal {sig} ({name}){core}"))
        }
        (None, None) => Reason::exited(ReasonKind::Terminated, info, "process ended"),
    }
}

/// waitpid(pid) without blocking: how it ended, once it has.
pub(crate) fn try_wait(pid: libc::pid_t) -> Option<Exit> {
    let mut status = 0;
    loop {
        match syscall!(waitpid(pid, &mut status, libc::WNOHANG)) {
            Ok(0) => return None,
            Ok(_) => return Some(Exit::Status(status)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // ECHILD: our child, so someone else reaped it (or SIGCHLD is
            // ignored and the kernel did): it has ended, status unknown.
            Err(_) => return Some(Exit::Unknown),
        }
    }
}

/// waitpid(pid), blocking.
pub(crate) fn wait_blocking(pid: libc::pid_t) -> Option<i32> {
    let mut status = 0;
    loop {
        match syscall!(waitpid(pid, &mut status, 0)) {
            Ok(_) => return Some(status),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
    }
}

/// A child still running when its reactor is freed is reaped by a small
/// helper thread, so it never becomes a zombie.
pub(crate) fn orphan(pid: libc::pid_t) {
    let spawned = std::thread::Builder::new().name("marline-reap".into()).spawn(move || {
        wait_blocking(pid);
    });
    if spawned.is_err() {
        // No thread: better a zombie than a blocked loop; try once more.
        try_wait(pid);
    }
}

static FORCE_SIGCHLD: AtomicBool = AtomicBool::new(false);

/// Makes processes spawned from now on use the SIGCHLD self-pipe even
/// where pidfds exist (for testing the fallback).
#[doc(hidden)]
pub fn force_sigchld_reaping(on: bool) {
    FORCE_SIGCHLD.store(on, Ordering::Relaxed);
}

/// A pidfd for `pid`, unless unavailable (old kernel, seccomp) or the
/// fallback is forced. pidfds are always close-on-exec.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> Option<OwnedFd> {
    if FORCE_SIGCHLD.load(Ordering::Relaxed) {
        return None;
    }
    // SAFETY: a plain system call with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a new descriptor we own.
    Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Sends `sig` through a pidfd: it can never reach a recycled pid.
pub(crate) fn pidfd_signal(pidfd: &OwnedFd, sig: i32) -> io::Result<()> {
    // SAFETY: a plain system call; NULL siginfo means "as kill() would".
    let rc = unsafe {
        libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), sig, std::ptr::null::<libc::siginfo_t>(), 0)
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

// ----- the SIGCHLD fallback -----

/// Write ends of the self-pipes of the reactors that have children in
/// fallback mode; the handler writes one byte to each.
static SLOTS: [AtomicI32; 64] = [const { AtomicI32::new(-1) }; 64];
static OLD_ACTION: OnceLock<libc::sigaction> = OnceLock::new();
static INSTALL: Once = Once::new();

extern "C" fn on_sigchld(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: only async-signal-safe calls: write(2) and errno access.
    unsafe {
        let errno = *libc::__errno_location();
        for slot in &SLOTS {
            let fd = slot.load(Ordering::Acquire);
            if fd >= 0 {
                libc::write(fd, b"c".as_ptr() as *const libc::c_void, 1);
            }
        }
        *libc::__errno_location() = errno;
        // Chain to whatever handler the program had.
        if let Some(old) = OLD_ACTION.get() {
            let h = old.sa_sigaction;
            if h != libc::SIG_DFL && h != libc::SIG_IGN {
                if old.sa_flags & libc::SA_SIGINFO != 0 {
                    let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = std::mem::transmute(h);
                    f(sig, info, ctx);
                } else {
                    let f: extern "C" fn(libc::c_int) = std::mem::transmute(h);
                    f(sig);
                }
            }
        }
    }
}

fn install_handler() {
    INSTALL.call_once(|| {
        // SAFETY: reading then replacing the SIGCHLD action; the old one is
        // stored before ours can run, and ours chains to it.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut old);
            let _ = OLD_ACTION.set(old);
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_sigchld as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_NOCLDSTOP;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(libc::SIGCHLD, &act, std::ptr::null_mut());
        }
    });
}

/// The per-reactor SIGCHLD waiter: a self-pipe in the reactor and the list
/// of this reactor's children still to reap. It removes itself when the
/// list empties.
pub(crate) struct SigchldReaper {
    handle: Cell<Option<Handle>>,
    read: OwnedFd,
    _write: OwnedFd,
    slot: usize,
    children: RefCell<Vec<(libc::pid_t, Handle)>>,
}

thread_local! {
    static REAPERS: RefCell<Vec<(Weak<Core>, Handle)>> = const { RefCell::new(Vec::new()) };
}

impl SigchldReaper {
    /// This reactor's reaper, if it has one.
    fn find(core: &Rc<Core>) -> Option<Rc<SigchldReaper>> {
        let found = REAPERS.with(|r| {
            let mut r = r.borrow_mut();
            r.retain(|(c, h)| c.strong_count() > 0 && c.upgrade().is_some_and(|c| c.object(*h).is_ok()));
            r.iter().find(|(c, _)| std::ptr::eq(c.as_ptr(), Rc::as_ptr(core))).map(|(_, h)| *h)
        })?;
        core.object_as::<SigchldReaper>(found).ok()
    }

    fn of(core: &Rc<Core>) -> Result<Rc<SigchldReaper>> {
        if let Some(reaper) = SigchldReaper::find(core) {
            return Ok(reaper);
        }
        let mut fds = [-1; 2];
        syscall!(pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK))?;
        // SAFETY: two new descriptors we own.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let slot = SLOTS
            .iter()
            .position(|s| s.compare_exchange(-1, fds[1], Ordering::AcqRel, Ordering::Acquire).is_ok())
            .ok_or(ErrorKind::Os)?;
        install_handler();
        let reaper = Rc::new(SigchldReaper {
            handle: Cell::new(None),
            read,
            _write: write,
            slot,
            children: RefCell::default(),
        });
        // On failure, dropping the reaper frees the slot.
        let h = core.insert(reaper.clone())?;
        reaper.handle.set(Some(h));
        if let Err(e) = core.register(reaper.read.as_raw_fd(), h, 0, Interest::READABLE) {
            reaper.retire(core);
            return Err(e.into());
        }
        REAPERS.with(|r| r.borrow_mut().push((Rc::downgrade(core), h)));
        Ok(reaper)
    }

    /// Watches `pid`, whose process object is `h`.
    pub(crate) fn watch(core: &Rc<Core>, pid: libc::pid_t, h: Handle) -> Result<()> {
        let reaper = SigchldReaper::of(core)?;
        reaper.children.borrow_mut().push((pid, h));
        // The child may have exited before it was on the list.
        core.defer(move |core| reaper.check(core));
        Ok(())
    }

    /// Stops watching `pid` (its process object is going away).
    pub(crate) fn unwatch(core: &Rc<Core>, pid: libc::pid_t) {
        if let Some(reaper) = SigchldReaper::find(core) {
            reaper.children.borrow_mut().retain(|(p, _)| *p != pid);
            if reaper.children.borrow().is_empty() {
                reaper.retire(core);
            }
        }
    }

    fn check(self: &Rc<Self>, core: &Rc<Core>) {
        let mut buf = [0u8; 64];
        while let Ok(n) = crate::sys::read(self.read.as_raw_fd(), &mut buf) {
            if n < buf.len() {
                break;
            }
        }
        let children = self.children.borrow().clone();
        for (pid, h) in children {
            if let Some(status) = try_wait(pid) {
                self.children.borrow_mut().retain(|(p, _)| *p != pid);
                if let Ok(p) = core.object_as::<ProcessTransport>(h) {
                    p.reaped(core, status);
                }
            }
        }
        if self.children.borrow().is_empty() {
            self.retire(core);
        }
    }

    fn release_slot(&self) {
        let fd = self._write.as_raw_fd();
        let _ = SLOTS[self.slot].compare_exchange(fd, -1, Ordering::AcqRel, Ordering::Acquire);
    }

    fn retire(&self, core: &Rc<Core>) {
        if let Some(h) = self.handle.take() {
            self.release_slot();
            core.deregister(self.read.as_raw_fd());
            core.remove(h);
        }
    }
}

impl Object for SigchldReaper {
    fn ready(self: Rc<Self>, core: &Rc<Core>, _sub: u8, _r: Readiness) {
        self.check(core);
    }

    fn shutdown(self: Rc<Self>, core: &Rc<Core>) {
        self.retire(core);
    }

    fn into_any(self: Rc<Self>) -> Rc<dyn Any> {
        self
    }
}

impl Drop for SigchldReaper {
    fn drop(&mut self) {
        self.release_slot();
    }
}
