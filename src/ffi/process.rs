//! Processes: reactor_spawn_process, the process_* calls on a process
//! transport, and bridge_t (a process bridged to another transport).
//!
//! A process transport is a transport_t: transport_write,
//! transport_write_sequence (to the child's stdin), transport_lose_connection,
//! transport_abort_connection, the producer calls, transport_get_peer and
//! transport_get/set_user all work on it.

use std::cell::Cell;
use std::ffi::{c_char, c_void, CStr, OsStr};
use std::rc::Rc;
use std::os::unix::ffi::OsStrExt;

use super::handle::{encode, encode_transport, object_of, reactor_t, transport_t, bridge_t, Kind};
use super::reason::{as_c, marline_reason_t};
use super::status::marline_status_t;
use super::{c_bytes, c_str, guard, non_null, put, reactor_of, transport_of};
use crate::error::{Error, Result};
use crate::process::{Bridge, BridgeHandler, ChildFd, Process, ProcessProtocol, ProcessSpec};
use crate::transport::{Reason, Transport};

/// marline_child_fd_t.kind: a new pipe we write (process_write_to_child)
/// and the child reads.
pub const MARLINE_CHILD_FD_TO_CHILD: i32 = 0;
/// marline_child_fd_t.kind: a new pipe the child writes and we read
/// (child_data_received).
pub const MARLINE_CHILD_FD_FROM_CHILD: i32 = 1;
/// marline_child_fd_t.kind: the child gets a copy of parent_fd (ours stays
/// open and ours).
pub const MARLINE_CHILD_FD_INHERIT: i32 = 2;

/// One entry of a child fd map. Plain data, read during the call only.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct marline_child_fd_t {
    /// The descriptor number in the child (0..1023, each at most once).
    pub child_fd: i32,
    /// MARLINE_CHILD_FD_TO_CHILD, _FROM_CHILD or _INHERIT.
    pub kind: i32,
    /// For MARLINE_CHILD_FD_INHERIT: our descriptor to give the child.
    pub parent_fd: i32,
}

/// Callbacks of a process. Every entry may be NULL (ignore the event). Each
/// receives the process transport first and its user pointer last.
/// Callbacks run on the reactor thread only.
///
/// Order: connection_made first; child_data_received as data arrives;
/// child_connection_lost once per child fd as our end closes;
/// process_exited when the child is reaped (before or after its pipes
/// close); process_ended exactly once, after process_exited and after every
/// pipe has closed — so a grandchild that keeps a pipe open delays
/// process_ended, not process_exited. The handle is stale once
/// process_ended returns.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct marline_process_protocol_t {
    /// The process transport is ready (from the loop, before any other).
    pub connection_made: Option<unsafe extern "C" fn(t: *mut transport_t, user: *mut c_void)>,
    /// The child wrote on child fd `fd` (1 stdout, 2 stderr; a pty's output
    /// is fd 1). `data` is valid during the call only.
    pub child_data_received:
        Option<unsafe extern "C" fn(t: *mut transport_t, fd: i32, data: *const u8, len: usize, user: *mut c_void)>,
    /// Our end of child fd `fd` closed.
    pub child_connection_lost: Option<unsafe extern "C" fn(t: *mut transport_t, fd: i32, user: *mut c_void)>,
    /// The child was reaped: MARLINE_REASON_DONE (exit code 0) or
    /// MARLINE_REASON_TERMINATED (see marline_reason_exit_code / _signal /
    /// _core_dumped / _wait_status), or MARLINE_REASON_EXIT_STATUS_UNKNOWN
    /// when the host took its status first (reaped it itself, or ignores
    /// SIGCHLD): it has ended, how is not known.
    pub process_exited: Option<unsafe extern "C" fn(t: *mut transport_t, reason: *const marline_reason_t, user: *mut c_void)>,
    /// The child was reaped and every pipe is closed (the same reason; or
    /// MARLINE_REASON_SHUTDOWN when the reactor was freed first, without
    /// process_exited). Free per-process state here.
    pub process_ended: Option<unsafe extern "C" fn(t: *mut transport_t, reason: *const marline_reason_t, user: *mut c_void)>,
}

/// marline_spawn_options_t.flags: run the child on a new pseudo-terminal:
/// its stdin, stdout and stderr, and its controlling terminal, in a new
/// session (no fd map then; output arrives as fd 1).
pub const MARLINE_SPAWN_PTY: u32 = 1;
/// marline_spawn_options_t.flags: start the child in a new session
/// (setsid): it leads a process group of its own, has no controlling
/// terminal, and a terminal's Ctrl-C or hang-up aimed at our group does not
/// reach it. process_signal_group then signals it and what it started.
pub const MARLINE_SPAWN_NEW_SESSION: u32 = 2;
/// marline_spawn_options_t.flags: start the child in a new process group
/// (setpgid(0, 0)) in our session, as a shell starts a job.
/// process_signal_group then signals it and what it started.
pub const MARLINE_SPAWN_NEW_PROCESS_GROUP: u32 = 4;
/// marline_spawn_options_t.flags: leave the signals we ignore ignored in
/// the child. Without it every signal starts at its default action in the
/// child (as Twisted's _resetSignalDisposition does), because SIG_IGN
/// survives exec: a server started as a shell's background job has SIGINT
/// and SIGQUIT ignored, and its commands would ignore Ctrl-C. Handlers are
/// reset either way, and so are SIGPIPE and SIGXFSZ.
pub const MARLINE_SPAWN_KEEP_IGNORED_SIGNALS: u32 = 8;
/// Every MARLINE_SPAWN_* flag this library knows.
const SPAWN_FLAGS: u32 =
    MARLINE_SPAWN_PTY | MARLINE_SPAWN_NEW_SESSION | MARLINE_SPAWN_NEW_PROCESS_GROUP | MARLINE_SPAWN_KEEP_IGNORED_SIGNALS;

/// How to start a child (reactor_spawn_process_with,
/// process_bridge_spawn_with). All-zero fields are the defaults; the
/// strings and arrays are read during the call only.
///
/// ABI rule: zero the struct, then set `size` to
/// sizeof(marline_spawn_options_t). marline reads `size` bytes, so a
/// program built against an older (smaller) version keeps working, with
/// defaults for what it does not know; fields a newer (larger) version
/// appended must be zero where this library does not know them
/// (MARLINE_ERR_INVALID_ARGUMENT otherwise), so an option is never ignored
/// silently.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct marline_spawn_options_t {
    /// sizeof(marline_spawn_options_t).
    pub size: usize,
    /// "NAME=value" strings, NULL-terminated; NULL = a copy of ours.
    pub envp: *const *const c_char,
    /// The working directory; NULL = ours.
    pub cwd: *const c_char,
    /// The child fd map (`fd_map_len` entries); NULL/0 = the default: 0 to
    /// the child, 1 and 2 from it. With a map the child has exactly those
    /// fds; every other descriptor is closed in it.
    pub fd_map: *const marline_child_fd_t,
    /// The number of entries in `fd_map`.
    pub fd_map_len: usize,
    /// MARLINE_SPAWN_* flags, or'ed; unknown bits →
    /// MARLINE_ERR_INVALID_ARGUMENT.
    pub flags: u32,
    /// With MARLINE_SPAWN_PTY: the pty's height, set before the child
    /// starts (with `cols`); 0 x 0 = the kernel's default. Without a pty
    /// both must be 0.
    pub rows: u16,
    /// With MARLINE_SPAWN_PTY: the pty's width (see `rows`).
    pub cols: u16,
}

/// Reads the caller's options by the ABI rule (see marline_spawn_options_t).
///
/// # Safety
/// `o` is NULL or points to at least `(*o).size` readable bytes.
unsafe fn read_options(o: *const marline_spawn_options_t) -> Result<marline_spawn_options_t> {
    let ours = std::mem::size_of::<marline_spawn_options_t>();
    // SAFETY: every field is an integer or a raw pointer: all-zero is valid.
    let mut opts: marline_spawn_options_t = unsafe { std::mem::zeroed() };
    if o.is_null() {
        opts.size = ours;
        return Ok(opts);
    }
    // SAFETY: non-NULL; the struct starts with its size.
    let size = unsafe { std::ptr::read_unaligned(o as *const usize) };
    if size < std::mem::size_of::<usize>() {
        return Err(Error::InvalidArgument);
    }
    // SAFETY: the caller's struct has `size` readable bytes.
    let theirs = unsafe { std::slice::from_raw_parts(o as *const u8, size) };
    if theirs.get(ours..).is_some_and(|newer| newer.iter().any(|&b| b != 0)) {
        return Err(Error::InvalidArgument);
    }
    let n = size.min(ours);
    // SAFETY: copying n ≤ sizeof bytes into our struct; any bit pattern is
    // a valid value of every field.
    unsafe { std::ptr::copy_nonoverlapping(theirs.as_ptr(), &mut opts as *mut _ as *mut u8, n) };
    if opts.flags & !SPAWN_FLAGS != 0 {
        return Err(Error::InvalidArgument);
    }
    Ok(opts)
}

struct CProcessProtocol {
    table: marline_process_protocol_t,
}

fn user_of(p: &Process) -> *mut c_void {
    p.user_data().unwrap_or(0) as *mut c_void
}

impl ProcessProtocol for CProcessProtocol {
    fn connection_made(&mut self, p: &Process) {
        if let Some(f) = self.table.connection_made {
            // SAFETY: a C callback the user registered for this event.
            unsafe { f(encode_transport(p), user_of(p)) }
        }
    }
    fn child_data_received(&mut self, p: &Process, fd: i32, data: &[u8]) {
        if let Some(f) = self.table.child_data_received {
            // SAFETY: data is valid for the call, as documented.
            unsafe { f(encode_transport(p), fd, data.as_ptr(), data.len(), user_of(p)) }
        }
    }
    fn child_connection_lost(&mut self, p: &Process, fd: i32) {
        if let Some(f) = self.table.child_connection_lost {
            // SAFETY: a registered C callback.
            unsafe { f(encode_transport(p), fd, user_of(p)) }
        }
    }
    fn process_exited(&mut self, p: &Process, reason: &Reason) {
        if let Some(f) = self.table.process_exited {
            // SAFETY: the reason outlives the call.
            unsafe { f(encode_transport(p), as_c(reason), user_of(p)) }
        }
    }
    fn process_ended(&mut self, p: &Process, reason: &Reason) {
        if let Some(f) = self.table.process_ended {
            // SAFETY: the reason outlives the call.
            unsafe { f(encode_transport(p), as_c(reason), user_of(p)) }
        }
    }
}

/// Reads a NULL-terminated array of strings (NULL array → NullPointer).
///
/// # Safety
/// `list` is NULL or a NULL-terminated array of NUL-terminated strings.
unsafe fn c_list<'a>(list: *const *const c_char) -> Result<Vec<&'a OsStr>> {
    non_null(list)?;
    let mut out = Vec::new();
    for i in 0.. {
        // SAFETY: the array is NULL-terminated per the contract.
        let s = unsafe { *list.add(i) };
        if s.is_null() {
            break;
        }
        // SAFETY: each element is a NUL-terminated string.
        out.push(OsStr::from_bytes(unsafe { CStr::from_ptr(s) }.to_bytes()));
    }
    Ok(out)
}

/// Builds a spec from the C arguments shared by the spawn functions.
///
/// # Safety
/// As documented on reactor_spawn_process_with; `o` was read by
/// read_options.
unsafe fn spec_of(executable: *const c_char, argv: *const *const c_char, o: &marline_spawn_options_t) -> Result<ProcessSpec> {
    non_null(executable)?;
    // SAFETY: forwarded contract.
    let exe = OsStr::from_bytes(unsafe { CStr::from_ptr(executable) }.to_bytes());
    // SAFETY: forwarded contract.
    let args = unsafe { c_list(argv) }?;
    let mut spec = ProcessSpec::new(exe, args);
    if !o.envp.is_null() {
        // SAFETY: forwarded contract.
        spec = spec.env(unsafe { c_list(o.envp) }?);
    }
    if !o.cwd.is_null() {
        // SAFETY: forwarded contract.
        spec = spec.cwd(OsStr::from_bytes(unsafe { CStr::from_ptr(o.cwd) }.to_bytes()));
    }
    if o.fd_map_len > 0 {
        if o.fd_map.is_null() {
            return Err(Error::NullPointer);
        }
        if o.fd_map_len > crate::process::MAX_CHILD_FDS {
            return Err(Error::BadChildFdMap);
        }
        // SAFETY: non-NULL with fd_map_len readable entries per the contract.
        for e in unsafe { std::slice::from_raw_parts(o.fd_map, o.fd_map_len) } {
            let how = match e.kind {
                MARLINE_CHILD_FD_TO_CHILD => ChildFd::ToChild,
                MARLINE_CHILD_FD_FROM_CHILD => ChildFd::FromChild,
                MARLINE_CHILD_FD_INHERIT => ChildFd::Inherit(e.parent_fd),
                _ => return Err(Error::BadChildFdMap),
            };
            spec = spec.child_fd(e.child_fd, how);
        }
    }
    if (o.rows, o.cols) != (0, 0) {
        spec = spec.window_size(o.rows, o.cols);
    }
    let flag = |f: u32| o.flags & f != 0;
    Ok(spec
        .pty(flag(MARLINE_SPAWN_PTY))
        .new_session(flag(MARLINE_SPAWN_NEW_SESSION))
        .new_process_group(flag(MARLINE_SPAWN_NEW_PROCESS_GROUP))
        .keep_ignored_signals(flag(MARLINE_SPAWN_KEEP_IGNORED_SIGNALS)))
}

/// The options the positional spawn functions stand for.
fn positional(
    envp: *const *const c_char,
    cwd: *const c_char,
    fd_map: *const marline_child_fd_t,
    fd_map_len: usize,
    use_pty: bool,
) -> marline_spawn_options_t {
    marline_spawn_options_t {
        size: std::mem::size_of::<marline_spawn_options_t>(),
        envp,
        cwd,
        fd_map,
        fd_map_len,
        flags: if use_pty { MARLINE_SPAWN_PTY } else { 0 },
        rows: 0,
        cols: 0,
    }
}

/// Starts `executable` (looked up in PATH when it has no '/') with `argv`
/// (argv[0] is the program's name; NULL-terminated, at least one entry),
/// `envp` ("NAME=value" strings, NULL-terminated; NULL = a copy of ours),
/// working directory `cwd` (NULL = ours), and child fds `fd_map`
/// (`fd_map_len` entries; NULL/0 = the default: 0 to the child, 1 and 2
/// from it). With a fd map the child has exactly those fds; every other
/// descriptor is closed in it. `use_pty` runs it on a new pseudo-terminal
/// (no fd map then). The process transport is written to `*out`; its user
/// pointer is `user` (see transport_set_user). The child starts with every
/// signal at its default action and an empty signal mask (see
/// MARLINE_SPAWN_KEEP_IGNORED_SIGNALS), in our process group;
/// reactor_spawn_process_with offers these and more options.
///
/// Failures are synchronous, call no callback and leave nothing behind:
/// MARLINE_ERR_NULL_POINTER (executable, argv, protocol or out NULL),
/// MARLINE_ERR_INVALID_ARGUMENT (empty argv), MARLINE_ERR_BAD_EXECUTABLE
/// (not found, not executable, not a program), MARLINE_ERR_BAD_WORKING_DIRECTORY,
/// MARLINE_ERR_BAD_CHILD_FD_MAP (repeated or out-of-range child fd, unknown
/// kind, an inherited fd that is not open, a fd map with a pty), or
/// MARLINE_ERR_OS (marline_last_os_error has the errno, as it does for the
/// executable and directory errors).
///
/// # Safety
/// Strings are NUL-terminated; `argv` and `envp` are NULL-terminated arrays
/// of them; `fd_map` has `fd_map_len` readable entries; `protocol` is
/// readable (it is copied); `out` is writable. Nothing is kept after the
/// call: marline copies what it needs.
#[no_mangle]
pub unsafe extern "C" fn reactor_spawn_process(
    reactor: *mut reactor_t,
    executable: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    cwd: *const c_char,
    fd_map: *const marline_child_fd_t,
    fd_map_len: usize,
    use_pty: bool,
    protocol: *const marline_process_protocol_t,
    user: *mut c_void,
    out: *mut *mut transport_t,
) -> marline_status_t {
    let options = positional(envp, cwd, fd_map, fd_map_len, use_pty);
    // SAFETY: forwarded contract.
    unsafe { reactor_spawn_process_with(reactor, executable, argv, &options, protocol, user, out) }
}

/// Starts `executable` with `argv` as reactor_spawn_process does, with
/// `options` (NULL = every default; see marline_spawn_options_t): its
/// environment, working directory, fd map, a pty and its window size, a
/// new session or process group, and whether ignored signals stay ignored.
///
/// Errors as for reactor_spawn_process, and MARLINE_ERR_INVALID_ARGUMENT
/// for `options` that break its ABI rule (size smaller than the size field,
/// unknown flags, non-zero fields this library does not know) or give a
/// window size without MARLINE_SPAWN_PTY.
///
/// # Safety
/// As for reactor_spawn_process; `options` is NULL or has `options->size`
/// readable bytes, with strings and arrays as described there.
#[no_mangle]
pub unsafe extern "C" fn reactor_spawn_process_with(
    reactor: *mut reactor_t,
    executable: *const c_char,
    argv: *const *const c_char,
    options: *const marline_spawn_options_t,
    protocol: *const marline_process_protocol_t,
    user: *mut c_void,
    out: *mut *mut transport_t,
) -> marline_status_t {
    guard(|| {
        non_null(out)?;
        non_null(protocol)?;
        let r = reactor_of(reactor)?;
        // SAFETY: forwarded contract.
        let spec = unsafe { spec_of(executable, argv, &read_options(options)?) }?;
        // SAFETY: checked non-NULL; copied.
        let table = unsafe { *protocol };
        let p = r.spawn_process(&spec, Box::new(CProcessProtocol { table }))?;
        p.set_user_data(user as usize)?;
        // SAFETY: checked non-NULL.
        unsafe { put(out, encode_transport(&p)) };
        Ok(())
    })
}

fn process_of(t: *mut transport_t) -> Result<Process> {
    Process::try_from(transport_of(t)?)
}

/// Writes `len` bytes to child fd `fd` (one mapped MARLINE_CHILD_FD_TO_CHILD),
/// like transport_write. Unknown fd, or one we read →
/// MARLINE_ERR_NO_SUCH_CHILD_FD; closed → MARLINE_ERR_CLOSED; pty →
/// MARLINE_ERR_NOT_SUPPORTED; not a process → MARLINE_ERR_WRONG_HANDLE_TYPE.
/// The caller keeps ownership of `data`.
///
/// # Safety
/// `data` is NULL (only with len 0) or has `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn process_write_to_child(t: *mut transport_t, fd: i32, data: *const u8, len: usize) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let bytes = unsafe { c_bytes(data, len) }?;
        process_of(t)?.write_to_child(fd, bytes)
    })
}

/// Closes our end of child fd `fd`: one we read at once, one we write once
/// what is queued has been written (and, for stdin, once a registered
/// producer has unregistered: it is the stdin pipe's lose_connection).
/// Writes to it are accepted until it has actually closed, from the loop.
/// child_connection_lost(fd) follows from the loop. Closing a closed fd does
/// nothing. Unknown fd → MARLINE_ERR_NO_SUCH_CHILD_FD; pty →
/// MARLINE_ERR_NOT_SUPPORTED.
#[no_mangle]
pub extern "C" fn process_close_child_fd(t: *mut transport_t, fd: i32) -> marline_status_t {
    guard(|| process_of(t)?.close_child_fd(fd))
}

/// process_close_child_fd(t, 0): the child reads EOF after what was written.
#[no_mangle]
pub extern "C" fn process_close_stdin(t: *mut transport_t) -> marline_status_t {
    guard(|| process_of(t)?.close_stdin())
}

/// process_close_child_fd(t, 1).
#[no_mangle]
pub extern "C" fn process_close_stdout(t: *mut transport_t) -> marline_status_t {
    guard(|| process_of(t)?.close_stdout())
}

/// process_close_child_fd(t, 2).
#[no_mangle]
pub extern "C" fn process_close_stderr(t: *mut transport_t) -> marline_status_t {
    guard(|| process_of(t)?.close_stderr())
}

/// Sends signal `signum`. Not a signal → MARLINE_ERR_UNKNOWN_SIGNAL; the
/// child already reaped → MARLINE_ERR_PROCESS_EXITED_ALREADY and nothing is
/// sent (never to a recycled pid). After process_ended the handle is stale
/// (MARLINE_ERR_STALE_HANDLE).
#[no_mangle]
pub extern "C" fn process_signal(t: *mut transport_t, signum: i32) -> marline_status_t {
    guard(|| process_of(t)?.signal(signum))
}

/// Sends signal `signum` to the child's process group (kill(-pid)): the
/// child and whatever it started that stayed in its group, such as a
/// shell's pipeline or a grandchild. Only for a child that leads a group of
/// its own (started with MARLINE_SPAWN_NEW_SESSION,
/// MARLINE_SPAWN_NEW_PROCESS_GROUP or a pty; a bridged child always is),
/// else MARLINE_ERR_NOT_SUPPORTED. Not a signal →
/// MARLINE_ERR_UNKNOWN_SIGNAL; the child already reaped →
/// MARLINE_ERR_PROCESS_EXITED_ALREADY and nothing is sent (the group's id
/// is the child's pid, which may then be another's).
#[no_mangle]
pub extern "C" fn process_signal_group(t: *mut transport_t, signum: i32) -> marline_status_t {
    guard(|| process_of(t)?.signal_group(signum))
}

/// Sends the signal called `name`: "TERM", "SIGTERM", "hup", "BUS@linux", …
/// (case-insensitive, "SIG" optional). Unknown → MARLINE_ERR_UNKNOWN_SIGNAL;
/// otherwise as process_signal.
///
/// # Safety
/// `name` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn process_signal_by_name(t: *mut transport_t, name: *const c_char) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let name = unsafe { c_str(name) }.map_err(|e| if e == Error::InvalidArgument { Error::UnknownSignal } else { e })?;
        process_of(t)?.signal_by_name(name)
    })
}

/// Writes the child's pid to `*pid`. Once the child has been reaped →
/// MARLINE_ERR_PROCESS_EXITED_ALREADY (the number may be reused).
///
/// # Safety
/// `pid` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn process_get_pid(t: *mut transport_t, pid: *mut i32) -> marline_status_t {
    guard(|| {
        non_null(pid)?;
        let n = process_of(t)?.pid()?;
        // SAFETY: checked non-NULL.
        unsafe { put(pid, n as i32) };
        Ok(())
    })
}

/// The name of signal `signum` in the form SSH's exit-signal message
/// carries (RFC 4254 §6.10): without "SIG" — "TERM", "KILL", "SEGV", … —
/// or "NAME@linux" for a signal with no portable name ("BUS@linux"). This
/// is the name bridge exit_signal callbacks receive. A static string
/// (never free it); NULL when `signum` is no signal. For the name with
/// "SIG" see process_signal_full_name.
#[no_mangle]
pub extern "C" fn process_signal_name(signum: i32) -> *const c_char {
    crate::process::signals::signal_name_cstr(signum).map_or(std::ptr::null(), |c| c.as_ptr())
}

/// The name of signal `signum` with its "SIG" prefix, as Twisted conch's
/// `_getSignalName` returns it: "SIGTERM", "SIGKILL", …, or
/// "SIGNAME@linux" for a signal with no portable name ("SIGBUS@linux").
/// process_signal_name is this string without its first three
/// characters. A static string (never free it); NULL when `signum` is no
/// signal.
#[no_mangle]
pub extern "C" fn process_signal_full_name(signum: i32) -> *const c_char {
    crate::process::signals::signal_full_name_cstr(signum).map_or(std::ptr::null(), |c| c.as_ptr())
}

/// Sets the pty's window size (the child gets SIGWINCH). Not a pty →
/// MARLINE_ERR_NOT_SUPPORTED; pty closed → MARLINE_ERR_CLOSED.
#[no_mangle]
pub extern "C" fn process_set_window_size(t: *mut transport_t, rows: u16, cols: u16) -> marline_status_t {
    guard(|| process_of(t)?.set_window_size(rows, cols))
}

// ----- bridge_t -----

/// What a bridge tells its owner. Every entry may be NULL. Each receives
/// the bridge first (possibly stale by then: after process_bridge_close the
/// callbacks still report the process's end), the remote transport (which
/// may be closed; writes then fail harmlessly), and the user pointer last.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct marline_bridge_callbacks_t {
    /// The child wrote on stderr (SSH "extended data"); only when stderr is
    /// not merged. NULL: stderr is dropped.
    pub extended_data: Option<
        unsafe extern "C" fn(b: *mut bridge_t, remote: *mut transport_t, data: *const u8, len: usize, user: *mut c_void),
    >,
    /// The child exited with `code` (SSH "exit-status").
    pub exit_status: Option<unsafe extern "C" fn(b: *mut bridge_t, remote: *mut transport_t, code: i32, user: *mut c_void)>,
    /// The child was killed by a signal (SSH "exit-signal"): its name
    /// without "SIG" (see process_signal_name; valid during the call) and
    /// whether it dumped core. Called instead of exit_status.
    pub exit_signal: Option<
        unsafe extern "C" fn(
            b: *mut bridge_t,
            remote: *mut transport_t,
            signal_name: *const c_char,
            core_dumped: bool,
            user: *mut c_void,
        ),
    >,
    /// The process ended (after exit_status / exit_signal; with
    /// MARLINE_REASON_EXIT_STATUS_UNKNOWN neither was called); the remote
    /// transport is then closed with transport_lose_connection.
    pub process_ended: Option<
        unsafe extern "C" fn(b: *mut bridge_t, remote: *mut transport_t, reason: *const marline_reason_t, user: *mut c_void),
    >,
}

struct CBridgeHandler {
    table: marline_bridge_callbacks_t,
    user: usize,
    /// The bridge's own C handle, set right after creation.
    me: Rc<Cell<usize>>,
}

impl BridgeHandler for CBridgeHandler {
    fn extended_data(&mut self, remote: &Transport, data: &[u8]) {
        if let Some(f) = self.table.extended_data {
            // SAFETY: data is valid for the call.
            unsafe { f(self.me.get() as *mut bridge_t, encode_transport(remote), data.as_ptr(), data.len(), self.user as *mut c_void) }
        }
    }
    fn exit_status(&mut self, remote: &Transport, code: i32) {
        if let Some(f) = self.table.exit_status {
            // SAFETY: a registered C callback.
            unsafe { f(self.me.get() as *mut bridge_t, encode_transport(remote), code, self.user as *mut c_void) }
        }
    }
    fn exit_signal(&mut self, remote: &Transport, name: &str, core_dumped: bool) {
        if let Some(f) = self.table.exit_signal {
            let num = crate::process::signal_number(name).unwrap_or(0);
            let cname = crate::process::signals::signal_name_cstr(num).map_or(c"UNKNOWN".as_ptr(), |c| c.as_ptr());
            // SAFETY: the name is a static string.
            unsafe { f(self.me.get() as *mut bridge_t, encode_transport(remote), cname, core_dumped, self.user as *mut c_void) }
        }
    }
    fn process_ended(&mut self, remote: &Transport, reason: &Reason) {
        if let Some(f) = self.table.process_ended {
            // SAFETY: the reason outlives the call.
            unsafe { f(self.me.get() as *mut bridge_t, encode_transport(remote), as_c(reason), self.user as *mut c_void) }
        }
    }
}

fn bridge_of(b: *mut bridge_t) -> Result<Bridge> {
    let (core, h) = object_of(b, Kind::Bridge)?;
    Ok(Bridge::from_handle(&core, h))
}

/// Bridges the transport `remote` to a process started later with
/// process_bridge_spawn, with the semantics of an SSH session channel:
/// - feed what `remote` receives to process_bridge_feed (it goes to the
///   child's stdin; what arrives before process_bridge_spawn is buffered)
///   and call process_bridge_remote_eof when `remote` half-closes;
/// - the child's stdout is written to `remote`, its stderr too when
///   `merge_stderr`, else to callbacks->extended_data;
/// - `remote` gets EOF (transport_lose_write_connection) once both stdout
///   and stderr have closed;
/// - when the process ends: exit_signal (signal wins) or exit_status, then
///   process_ended, then transport_lose_connection(remote) (what is queued
///   is sent first);
/// - `remote`'s write queue pauses the child's output (the process is
///   registered as its streaming producer when it has none), and the
///   child's stdin queue pauses reading from `remote` (the bridge registers
///   a producer on the process transport), so input the child does not
///   read is not buffered without bound. What is fed before the spawn is
///   buffered as it comes: bound it yourself.
///
/// - when `remote` goes, the child is hung up (see process_bridge_close).
///
/// Call process_bridge_close from `remote`'s connection_lost. The bridge
/// handle is written to `*out`.
///
/// # Safety
/// `callbacks` is readable (copied); `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn process_bridge(
    remote: *mut transport_t,
    merge_stderr: bool,
    callbacks: *const marline_bridge_callbacks_t,
    user: *mut c_void,
    out: *mut *mut bridge_t,
) -> marline_status_t {
    guard(|| {
        non_null(out)?;
        non_null(callbacks)?;
        let remote = transport_of(remote)?;
        // SAFETY: checked non-NULL; copied.
        let table = unsafe { *callbacks };
        let cell = Rc::new(Cell::new(0));
        let handler = Box::new(CBridgeHandler { table, user: user as usize, me: cell.clone() });
        let b = Bridge::new(&remote, merge_stderr, handler)?;
        let core = b.reactor_core()?;
        let me = encode::<bridge_t>(core.serial, Kind::Bridge, b.handle);
        cell.set(me as usize);
        // SAFETY: checked non-NULL.
        unsafe { put(out, me) };
        Ok(())
    })
}

/// Data from the remote side for the child's stdin (copied; buffered until
/// the process starts). After process_bridge_remote_eof → MARLINE_ERR_CLOSED.
///
/// # Safety
/// `data` is NULL (only with len 0) or has `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn process_bridge_feed(b: *mut bridge_t, data: *const u8, len: usize) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let bytes = unsafe { c_bytes(data, len) }?;
        bridge_of(b)?.feed(bytes)
    })
}

/// The remote side sent EOF: the child's stdin closes once what was fed
/// has been written (at once, or when the process starts).
#[no_mangle]
pub extern "C" fn process_bridge_remote_eof(b: *mut bridge_t) -> marline_status_t {
    guard(|| bridge_of(b)?.remote_eof())
}

/// Starts the bridged process (arguments as for reactor_spawn_process, with
/// the default fd map) and writes what was fed so far. Once only
/// (MARLINE_ERR_INVALID_STATE the second time). The process transport is
/// written to `*out` when `out` is not NULL; it belongs to the bridge (its
/// user pointer is free for the caller; its producer slot is the bridge's).
/// The child runs in a session of its own (see process_bridge_spawn_with).
///
/// # Safety
/// As for reactor_spawn_process; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn process_bridge_spawn(
    b: *mut bridge_t,
    executable: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    cwd: *const c_char,
    use_pty: bool,
    out: *mut *mut transport_t,
) -> marline_status_t {
    let options = positional(envp, cwd, std::ptr::null(), 0, use_pty);
    // SAFETY: forwarded contract.
    unsafe { process_bridge_spawn_with(b, executable, argv, &options, out) }
}

/// As process_bridge_spawn with MARLINE_SPAWN_PTY, and the pty's window
/// size set to `rows` x `cols` before the child starts (so the command's
/// first look at its terminal sees it, with no SIGWINCH race). Later
/// changes: process_set_window_size on the process transport. Errors as
/// for process_bridge_spawn.
///
/// # Safety
/// As for reactor_spawn_process; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn process_bridge_spawn_pty(
    b: *mut bridge_t,
    executable: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    cwd: *const c_char,
    rows: u16,
    cols: u16,
    out: *mut *mut transport_t,
) -> marline_status_t {
    let mut options = positional(envp, cwd, std::ptr::null(), 0, true);
    (options.rows, options.cols) = (rows, cols);
    // SAFETY: forwarded contract.
    unsafe { process_bridge_spawn_with(b, executable, argv, &options, out) }
}

/// Starts the bridged process with `options` (NULL = every default; see
/// marline_spawn_options_t and reactor_spawn_process_with) and writes what
/// was fed so far; otherwise as process_bridge_spawn. The bridge feeds
/// child fd 0 and relays 1 and 2, so a fd map is refused
/// (MARLINE_ERR_BAD_CHILD_FD_MAP). The child always runs in a session of
/// its own, whatever the flags say (MARLINE_SPAWN_NEW_SESSION, as sshd
/// runs a session's command): so it can be hung up as a group when the
/// remote side goes (see process_bridge_close), and Ctrl-C at the server's
/// terminal does not reach it.
///
/// # Safety
/// As for reactor_spawn_process_with; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn process_bridge_spawn_with(
    b: *mut bridge_t,
    executable: *const c_char,
    argv: *const *const c_char,
    options: *const marline_spawn_options_t,
    out: *mut *mut transport_t,
) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let o = unsafe { read_options(options) }?;
        if o.fd_map_len > 0 {
            return Err(Error::BadChildFdMap);
        }
        // SAFETY: forwarded contract.
        let spec = unsafe { spec_of(executable, argv, &o) }?;
        let p = bridge_of(b)?.spawn(&spec)?;
        if !out.is_null() {
            // SAFETY: checked non-NULL; writable per the contract.
            unsafe { put(out, encode_transport(&p)) };
        }
        Ok(())
    })
}

/// The remote side is gone: the child is hung up, and the bridge handle
/// becomes stale. Input still queued for the child is dropped and its pty
/// or pipes are closed at once (nobody is left to read its output; closing
/// a pty's master is a terminal hang-up: the child's session gets SIGHUP
/// and its writes fail). Its process group gets SIGHUP, and SIGKILL once
/// the grace period has passed if it is still there (see
/// process_bridge_set_hangup_grace; default 5 seconds). The group is
/// signalled only while the child itself has not been reaped (its pid is
/// the group's id): a grandchild that ignores SIGHUP and outlives the
/// child is left alone. The same happens
/// when `remote` closes while the bridge is its producer, even without this
/// call. The callbacks still report the process's end.
#[no_mangle]
pub extern "C" fn process_bridge_close(b: *mut bridge_t) -> marline_status_t {
    guard(|| bridge_of(b)?.close())
}

/// Sets how long a hung-up child (see process_bridge_close) has to end
/// after SIGHUP before its process group gets SIGKILL: `seconds` ≥ 0, or
/// INFINITY for never (SIGHUP only). The default is 5 seconds. Applies to
/// a hang-up after the call. NaN or a negative value →
/// MARLINE_ERR_INVALID_ARGUMENT; a closed bridge →
/// MARLINE_ERR_STALE_HANDLE.
#[no_mangle]
pub extern "C" fn process_bridge_set_hangup_grace(b: *mut bridge_t, seconds: f64) -> marline_status_t {
    guard(|| {
        let grace = super::seconds(seconds)?.delay_or_never()?;
        bridge_of(b)?.set_hangup_grace(grace)
    })
}
