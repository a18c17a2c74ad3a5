//! Starting a child: pipes (CLOEXEC, our ends non-blocking), the child fd
//! map, environment, working directory, an optional pty, and
//! clone(CLONE_VM | CLONE_VFORK)/exec with a CLOEXEC error pipe so that a
//! failed exec is reported synchronously.
//!
//! The child shares our memory until it execs (no page tables are copied,
//! so spawning costs the same in a small program and in a huge one; see
//! [`start_child`]). Everything it needs is therefore prepared before the
//! clone, and between clone and exec it makes only plain system calls on
//! its own stack: no allocation, no locks, no thread-locals (but errno),
//! nothing that can unwind, nothing the parent can see except the error
//! report.

use std::ffi::{c_char, c_int, c_void, CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{os_error, Error, Result};
use crate::sys::syscall;

/// How one child fd is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildFd {
    /// A new pipe: we write (write_to_child), the child reads. Twisted's "w".
    ToChild,
    /// A new pipe: the child writes, we read (child_data_received). Twisted's "r".
    FromChild,
    /// The child gets a duplicate of this descriptor of ours (we keep ours).
    Inherit(RawFd),
}

/// What to run and how. Built with [`ProcessSpec::new`] and the setters.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub(crate) executable: OsString,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Option<Vec<OsString>>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) fds: Option<Vec<(i32, ChildFd)>>,
    pub(crate) pty: bool,
    /// The pty's initial size (rows, cols), set before the child starts.
    pub(crate) window_size: Option<(u16, u16)>,
}

/// Highest child fd number a fd map may use (0..=1023).
pub(crate) const MAX_CHILD_FD: i32 = 1023;
/// Most entries a fd map may have.
pub(crate) const MAX_CHILD_FDS: usize = 64;

impl ProcessSpec {
    /// Runs `executable` with `args` (args\[0\] is the program's name, as
    /// in execv). An executable without a '/' is looked up in PATH (the
    /// child's PATH when an environment is given, else ours).
    pub fn new<S: AsRef<OsStr>>(executable: impl AsRef<OsStr>, args: impl IntoIterator<Item = S>) -> ProcessSpec {
        ProcessSpec {
            executable: executable.as_ref().to_owned(),
            args: args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
            env: None,
            cwd: None,
            fds: None,
            pty: false,
            window_size: None,
        }
    }

    /// The child's whole environment, as "NAME=value" strings (default:
    /// a copy of ours).
    pub fn env<S: AsRef<OsStr>>(mut self, vars: impl IntoIterator<Item = S>) -> ProcessSpec {
        self.env = Some(vars.into_iter().map(|v| v.as_ref().to_owned()).collect());
        self
    }

    /// The child's working directory (default: ours).
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> ProcessSpec {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Maps child fd `child_fd`. The first call replaces the default map
    /// (0 ToChild, 1 FromChild, 2 FromChild): the child then has exactly
    /// the fds mapped, every other descriptor is closed in it.
    pub fn child_fd(mut self, child_fd: i32, how: ChildFd) -> ProcessSpec {
        self.fds.get_or_insert_with(Vec::new).push((child_fd, how));
        self
    }

    /// Runs the child on a new pseudo-terminal (its stdin, stdout and
    /// stderr, and its controlling terminal, in a new session). A fd map
    /// cannot be combined with a pty.
    pub fn pty(mut self, on: bool) -> ProcessSpec {
        self.pty = on;
        self
    }

    /// The pty's initial window size, set before the child starts, so its
    /// first look at the terminal already sees it (later changes:
    /// [`super::Process::set_window_size`]). Only with a pty: without one,
    /// spawn fails with `InvalidArgument`. Default: the kernel's (0 x 0).
    pub fn window_size(mut self, rows: u16, cols: u16) -> ProcessSpec {
        self.window_size = Some((rows, cols));
        self
    }

    pub(crate) fn fd_map(&self) -> Vec<(i32, ChildFd)> {
        match &self.fds {
            Some(m) => m.clone(),
            None => vec![(0, ChildFd::ToChild), (1, ChildFd::FromChild), (2, ChildFd::FromChild)],
        }
    }
}

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
}

// What failed in the child, sent over the error pipe with the errno.
const STAGE_FD_MAP: i32 = 1;
const STAGE_PTY: i32 = 2;
const STAGE_CHDIR: i32 = 3;
const STAGE_EXEC: i32 = 4;

fn cstring(s: &OsStr) -> Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| Error::InvalidArgument)
}

fn bad_executable(errno: i32) -> Error {
    os_error(&io::Error::from_raw_os_error(errno));
    Error::BadExecutable
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
                return Err(os_error(&io::Error::from_raw_os_error(rc)));
            }
            syscall!(open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC))?
        }
    };
    // SAFETY: a new descriptor we own.
    let slave = unsafe { OwnedFd::from_raw_fd(s) };
    set_nonblocking(m)?;
    Ok((master, slave))
}

/// Everything the child needs, prepared before the clone. The child only
/// reads it.
struct Plan {
    path: CString,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
    cwd: Option<CString>,
    /// (descriptor in our numbering, child fd); at most MAX_CHILD_FDS.
    moves: Vec<(RawFd, i32)>,
    /// Every child fd, sorted: all other descriptors get FD_CLOEXEC.
    targets: Vec<i32>,
    pty_slave: Option<RawFd>,
    err_fd: RawFd,
}

/// Validates the fd map: unique targets in 0..=MAX_CHILD_FD, inherited
/// descriptors open.
fn check_fd_map(map: &[(i32, ChildFd)]) -> Result<()> {
    if map.len() > MAX_CHILD_FDS {
        return Err(Error::BadChildFdMap);
    }
    for (i, (target, how)) in map.iter().enumerate() {
        if !(0..=MAX_CHILD_FD).contains(target) || map[..i].iter().any(|(t, _)| t == target) {
            return Err(Error::BadChildFdMap);
        }
        if let ChildFd::Inherit(fd) = how {
            // SAFETY: F_GETFD only inspects the descriptor table.
            if *fd < 0 || unsafe { libc::fcntl(*fd, libc::F_GETFD) } == -1 {
                return Err(Error::BadChildFdMap);
            }
        }
    }
    Ok(())
}

/// Starts the child, which execs the program. On failure nothing is left
/// behind: no process (a child that failed to exec is reaped here), no
/// descriptor.
pub(crate) fn spawn(spec: &ProcessSpec) -> Result<Spawned> {
    if spec.args.is_empty() {
        return Err(Error::InvalidArgument);
    }
    if spec.pty && spec.fds.is_some() {
        return Err(Error::BadChildFdMap);
    }
    if spec.window_size.is_some() && !spec.pty {
        return Err(Error::InvalidArgument);
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
                CString::new(kv).map_err(|_| Error::InvalidArgument)
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
    let plan = Plan { path, argv, envp, cwd, moves, targets, pty_slave, err_fd: err_w.as_raw_fd() };

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
        return Ok(Spawned { pid, ends });
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
            _ => os_error(&io::Error::from_raw_os_error(errno)),
        },
        STAGE_CHDIR => {
            os_error(&io::Error::from_raw_os_error(errno));
            Error::BadWorkingDirectory
        }
        _ => {
            os_error(&io::Error::from_raw_os_error(errno));
            Error::Os
        }
    })
}

// ----- starting the child without copying our page tables -----

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
fn start_child(plan: &Plan) -> Result<libc::pid_t> {
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

/// For the child, with every signal blocked: every signal that has a
/// handler goes back to SIG_DFL. A handler would otherwise run in the
/// child, on memory it shares with us: say a C program's SIGINT handler
/// when Ctrl-C reaches the whole process group, or marline's own SIGCHLD
/// handler. So do SIGPIPE and SIGXFSZ even when ignored: marline ignores
/// SIGPIPE for itself and an ignored disposition survives exec. Other
/// ignored signals stay ignored, as after fork and exec. The child has its
/// own copy of the table (no CLONE_SIGHAND), so ours is untouched. Raw
/// system calls: libc's sigaction may be interposed by a library that keeps
/// its own tables (a JVM's libjsig, sanitizers), tables the child would
/// write in our memory.
fn reset_signal_dispositions() {
    for sig in 1..=KernelSigset::BITS as c_int {
        let keep = match signal_action(sig) {
            None => true,
            Some(libc::SIG_DFL) => true,
            Some(libc::SIG_IGN) => sig != libc::SIGPIPE && sig != libc::SIGXFSZ,
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
        // Signals: the default for everything handled, then an empty mask
        // (every signal has been blocked since before the clone).
        reset_signal_dispositions();
        set_signal_mask(0);

        // The error pipe must survive the dup2s below: move it above them.
        let moved = libc::fcntl(err_fd, libc::F_DUPFD_CLOEXEC, max_target + 1);
        if moved == -1 {
            fail(err_fd, STAGE_FD_MAP);
        }
        err_fd = moved;

        if let Some(slave) = plan.pty_slave {
            if libc::setsid() == -1 || libc::ioctl(slave, libc::TIOCSCTTY, 0) == -1 {
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
