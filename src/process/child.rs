//! The child between clone and exec: started with
//! clone(CLONE_VM | CLONE_VFORK) on a stack of its own (or fork() where
//! that is refused), it sets up its signals, descriptors and directory
//! from a [`Plan`] the parent prepared, and execs. It shares our memory
//! until then, so it makes only plain system calls: no allocation, no
//! locks, no thread-locals (but errno), nothing that can unwind, nothing
//! the parent can see except the error report.

use std::ffi::{c_char, c_int, c_void, CString};
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use super::spec::MAX_CHILD_FDS;
use crate::error::Result;
use crate::sys::syscall;

// What failed in the child, sent over the error pipe with the errno.
pub(crate) const STAGE_FD_MAP: i32 = 1;
pub(crate) const STAGE_PTY: i32 = 2;
pub(crate) const STAGE_CHDIR: i32 = 3;
pub(crate) const STAGE_EXEC: i32 = 4;
pub(crate) const STAGE_SESSION: i32 = 5;

/// Everything the child needs, prepared before the clone. The child only
/// reads it.
pub(crate) struct Plan {
    pub path: CString,
    pub argv: Vec<*const c_char>,
    pub envp: Vec<*const c_char>,
    pub cwd: Option<CString>,
    /// (descriptor in our numbering, child fd); at most MAX_CHILD_FDS.
    pub moves: Vec<(RawFd, i32)>,
    /// Every child fd, sorted: all other descriptors get FD_CLOEXEC.
    pub targets: Vec<i32>,
    pub pty_slave: Option<RawFd>,
    pub err_fd: RawFd,
    /// setsid(): a session and process group of its own (always with a pty).
    pub new_session: bool,
    /// setpgid(0, 0): a process group of its own in our session.
    pub new_group: bool,
    /// Leave ignored signals ignored (but SIGPIPE and SIGXFSZ).
    pub keep_ignored: bool,
}

/// Size of the child's stack, above its guard page. The child needs little:
/// `child`'s frame (the scratch array is 256 bytes) and libc's syscall
/// wrappers, plus, in a C program linked without -z now, the dynamic
/// linker's lazy binding of a wrapper on its first use, which saves the
/// vector registers on this stack (up to ~11 KiB of XSAVE state on recent
/// x86_64) and stores the same GOT entry the parent would. Measured with
/// mincore: one 4 KiB page touched, in a debug build and in a lazily bound
/// C program alike. glibc's posix_spawn gives its child 32 KiB "to be safe
/// from anything the compiler might do"; 64 KiB costs nothing more, as the
/// pages the child does not touch are never allocated.
const CHILD_STACK_SIZE: usize = 64 * 1024;

/// Set by tests: start children with plain fork(), the fallback for kernels
/// or sandboxes that refuse the clone.
static FORCE_FORK: AtomicBool = AtomicBool::new(false);

/// Makes processes spawned from now on start with fork() instead of
/// clone(CLONE_VM | CLONE_VFORK) (for testing the fallback).
#[doc(hidden)]
pub fn force_fork_spawn(on: bool) {
    FORCE_FORK.store(on, Ordering::Relaxed);
}

/// Starts the child running [`child`], this thread's signals all blocked
/// meanwhile (see [`SignalsBlocked`]).
///
/// Normally with clone(CLONE_VM | CLONE_VFORK): the child runs in our
/// address space on a stack of its own, and this thread sleeps until the
/// child has exec'd or exited. fork() instead copies our page tables and
/// marks every page copy-on-write, which costs in proportion to our mapped
/// memory (about 40 ms per spawn for a parent with 1 GiB touched, on the
/// benchmark machine: 23 spawns/s against 1,200 now), only for exec to
/// throw the copy away. Our other threads keep running, and the child has
/// its own descriptor table, cwd and signal dispositions (no CLONE_FILES,
/// CLONE_FS or CLONE_SIGHAND), so its dup2, chdir and sigaction calls stay
/// its own.
///
/// A kernel or sandbox that refuses those clone flags (EINVAL, ENOSYS, or
/// EPERM from a seccomp policy that allows only fork-shaped clones) gets
/// plain fork(), which runs the same `child`. valgrind runs the clone as a
/// fork by itself (strace shows CLONE_VFORK | SIGCHLD, without CLONE_VM):
/// the child then writes its own copy of memory, which is why the error
/// report stays on a pipe rather than in a shared word.
pub(crate) fn start_child(plan: &Plan) -> Result<libc::pid_t> {
    let _blocked = SignalsBlocked::all();
    if !FORCE_FORK.load(Ordering::Relaxed) {
        match clone_vfork(plan) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS | libc::EPERM)) => {}
            started => return Ok(started?),
        }
    }
    let pid = syscall!(fork())?;
    if pid == 0 {
        // SAFETY: we are the new child, a copy of us with one thread; see
        // `child`.
        unsafe { child(plan) }
    }
    Ok(pid)
}

/// clone(CLONE_VM | CLONE_VFORK | SIGCHLD) running `child` on a new stack;
/// returns once the child has exec'd or exited.
fn clone_vfork(plan: &Plan) -> io::Result<libc::pid_t> {
    let stack = ChildStack::new()?;
    // SIGCHLD as the exit signal: an ordinary child for waitpid and pidfds.
    let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD;
    let arg = plan as *const Plan as *mut c_void;
    // SAFETY: the child runs `child_entry` on `stack`, unmapped only after
    // the clone returns, when the child has exec'd or exited (CLONE_VFORK);
    // `plan` outlives the call likewise.
    let pid = unsafe { libc::clone(child_entry, stack.top(), flags, arg) };
    if pid == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid)
}

/// clone's entry point in the child.
extern "C" fn child_entry(plan: *mut c_void) -> c_int {
    // SAFETY: `plan` is the `&Plan` clone_vfork passed, alive until the
    // clone returns, which is after this child has exec'd or exited.
    unsafe { child(&*(plan as *const Plan)) }
}

/// The child's stack: an anonymous mapping with a guard page below it, so
/// that an overflow faults instead of writing into our memory (stacks grow
/// down on every architecture marline builds for).
struct ChildStack {
    base: *mut c_void,
    len: usize,
}

impl ChildStack {
    fn new() -> io::Result<ChildStack> {
        // SAFETY: sysconf has no preconditions.
        let guard = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let len = guard + CHILD_STACK_SIZE;
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK;
        // SAFETY: a new anonymous mapping; no existing memory is affected.
        let base = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, -1, 0) };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = ChildStack { base, len };
        syscall!(mprotect(base, guard, libc::PROT_NONE))?;
        Ok(stack)
    }

    /// The initial stack pointer: the end of the mapping (page-aligned,
    /// so aligned as every ABI wants).
    fn top(&self) -> *mut c_void {
        self.base.wrapping_byte_add(self.len)
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: our own mapping, no longer used: the child has exec'd or
        // exited before the clone returned.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// The kernel's signal set: one bit per signal, `_NSIG` = 64 on x86_64,
/// aarch64 and the other architectures marline builds for.
type KernelSigset = u64;

/// rt_sigprocmask(SIG_SETMASK) as a raw system call. pthread_sigmask would
/// quietly leave glibc's two internal signals (SIGCANCEL, SIGSETXID)
/// unblocked; this blocks exactly what it is given.
fn set_signal_mask(mask: KernelSigset) -> KernelSigset {
    let mut old: KernelSigset = 0;
    let size = std::mem::size_of::<KernelSigset>();
    // SAFETY: both sets are ours and of the size passed.
    unsafe { libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &mask, &mut old, size) };
    old
}

/// Every signal blocked in this thread until dropped, when its previous
/// mask comes back. The child starts with the mask of the thread that
/// cloned it, so it runs with everything blocked until it has reset the
/// dispositions ([`reset_signal_dispositions`]): no handler of ours can
/// run in it, on our memory.
struct SignalsBlocked(KernelSigset);

impl SignalsBlocked {
    fn all() -> SignalsBlocked {
        SignalsBlocked(set_signal_mask(!0))
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        set_signal_mask(self.0);
    }
}

/// The kernel's struct sigaction (its layout on x86_64 and aarch64). Only
/// `handler`, first everywhere, is read, and the all-zero value (SIG_DFL,
/// no flags, empty mask) means the same in every layout.
#[repr(C)]
#[derive(Default)]
struct KernelSigaction {
    handler: usize,
    flags: libc::c_ulong,
    restorer: usize,
    mask: KernelSigset,
}

/// The action of `sig`: a handler's address, SIG_DFL or SIG_IGN; None for a
/// number that is no signal. A raw rt_sigaction, see
/// [`reset_signal_dispositions`].
fn signal_action(sig: c_int) -> Option<libc::sighandler_t> {
    let mut old = KernelSigaction::default();
    let no_new = std::ptr::null::<KernelSigaction>();
    let size = std::mem::size_of::<KernelSigset>();
    // SAFETY: only reads the action, into our struct of the kernel's layout.
    let rc = unsafe { libc::syscall(libc::SYS_rt_sigaction, sig, no_new, &mut old, size) };
    (rc == 0).then_some(old.handler)
}

/// Sets `sig` to SIG_DFL in this process, by a raw rt_sigaction.
fn set_default_action(sig: c_int) {
    let default = KernelSigaction::default();
    let no_old = std::ptr::null_mut::<KernelSigaction>();
    let size = std::mem::size_of::<KernelSigset>();
    // SAFETY: the all-zero action (SIG_DFL) from our own struct.
    unsafe { libc::syscall(libc::SYS_rt_sigaction, sig, &default, no_old, size) };
}

/// For the child, with every signal blocked: every signal goes back to
/// SIG_DFL, as Twisted's `_resetSignalDisposition` does.
/// - A handler would otherwise run in the child, on memory it shares with
///   us: say a C program's SIGINT handler when Ctrl-C reaches the whole
///   process group, or marline's own SIGCHLD handler.
/// - An ignored disposition survives exec: SIGPIPE, which marline ignores
///   for itself; SIGINT and SIGQUIT, which a shell ignores in a background
///   job (Ctrl-C would do nothing in a command a server runs on a pty);
///   anything the host ignores. With `keep_ignored` those stay ignored,
///   as after a plain fork and exec, except SIGPIPE and SIGXFSZ.
///
/// The child has its own copy of the table (no CLONE_SIGHAND), so ours is
/// untouched. Raw system calls: libc's sigaction may be interposed by a
/// library that keeps its own tables (a JVM's libjsig, sanitizers), tables
/// the child would write in our memory.
fn reset_signal_dispositions(keep_ignored: bool) {
    for sig in 1..=KernelSigset::BITS as c_int {
        let keep = match signal_action(sig) {
            None => true,
            Some(libc::SIG_DFL) => true,
            Some(libc::SIG_IGN) => keep_ignored && sig != libc::SIGPIPE && sig != libc::SIGXFSZ,
            Some(_handler) => false,
        };
        if !keep {
            set_default_action(sig);
        }
    }
}

/// The child between clone and exec, on its own stack, in our memory. It
/// makes only plain system calls (no allocation, no locks), cannot panic
/// (slices are walked with iterators), and writes nothing of ours but
/// errno, a thread-local of the cloning thread, which sleeps until the
/// child has exec'd or exited and reads errno only when the clone itself
/// fails: the parent learns of a failure through the error pipe alone.
/// Under the fork fallback these are the rules for a forked child of a
/// multi-threaded program anyway.
///
/// # Safety
/// Called once, in the new child.
unsafe fn child(plan: &Plan) -> ! {
    let max_target = plan.targets.last().copied().unwrap_or(-1);
    let mut err_fd = plan.err_fd;
    let fail = |err_fd: RawFd, stage: i32| -> ! {
        // SAFETY: errno location is per-thread and always valid.
        let errno = unsafe { *libc::__errno_location() };
        let mut msg = [0u8; 8];
        msg[..4].copy_from_slice(&stage.to_ne_bytes());
        msg[4..].copy_from_slice(&errno.to_ne_bytes());
        // A raw write: libc's is a cancellation point, which could act on
        // the cloning thread's pending cancellation and unwind it here.
        // SAFETY: writing our own buffer, then exiting without running
        // any of the parent's atexit handlers or destructors.
        unsafe {
            libc::syscall(libc::SYS_write, err_fd, msg.as_ptr(), msg.len());
            libc::_exit(127)
        }
    };
    // Scratch space for the moved-up copies, on the child's own stack.
    let mut tmp: [RawFd; MAX_CHILD_FDS] = [-1; MAX_CHILD_FDS];
    // SAFETY: (whole block) we are the new child, alone in its process;
    // every call is a plain system call on descriptors and memory the
    // parent prepared before the clone, and nothing allocates.
    unsafe {
        // Signals: the default for everything, then an empty mask (every
        // signal has been blocked since before the clone).
        reset_signal_dispositions(plan.keep_ignored);
        set_signal_mask(0);

        // The error pipe must survive the dup2s below: move it above them.
        let moved = libc::fcntl(err_fd, libc::F_DUPFD_CLOEXEC, max_target + 1);
        if moved == -1 {
            fail(err_fd, STAGE_FD_MAP);
        }
        err_fd = moved;

        if plan.new_session || plan.pty_slave.is_some() {
            if libc::setsid() == -1 {
                fail(err_fd, STAGE_SESSION);
            }
        } else if plan.new_group && libc::setpgid(0, 0) == -1 {
            fail(err_fd, STAGE_SESSION);
        }
        if let Some(slave) = plan.pty_slave {
            if libc::ioctl(slave, libc::TIOCSCTTY, 0) == -1 {
                fail(err_fd, STAGE_PTY);
            }
        }
        // Two steps, so that a source numbered like another entry's
        // target is never overwritten before it is copied.
        for ((src, _), tmp) in plan.moves.iter().zip(tmp.iter_mut()) {
            *tmp = libc::fcntl(*src, libc::F_DUPFD_CLOEXEC, max_target + 1);
            if *tmp == -1 {
                fail(err_fd, STAGE_FD_MAP);
            }
        }
        for ((_, target), tmp) in plan.moves.iter().zip(tmp.iter()) {
            // dup2 clears FD_CLOEXEC on the target.
            if libc::dup2(*tmp, *target) == -1 {
                fail(err_fd, STAGE_FD_MAP);
            }
        }
        // Every descriptor that is not a target closes at exec.
        let mut low: u32 = 0;
        for t in plan.targets.iter() {
            let t = *t as u32;
            if t > low {
                libc::syscall(libc::SYS_close_range, low, t - 1, libc::CLOSE_RANGE_CLOEXEC);
            }
            low = t + 1;
        }
        libc::syscall(libc::SYS_close_range, low, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);

        if let Some(cwd) = &plan.cwd {
            if libc::chdir(cwd.as_ptr()) == -1 {
                fail(err_fd, STAGE_CHDIR);
            }
        }
        libc::execve(plan.path.as_ptr(), plan.argv.as_ptr(), plan.envp.as_ptr());
        fail(err_fd, STAGE_EXEC)
    }
}
