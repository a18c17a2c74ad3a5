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
    /// _core_dumped / _wait_status).
    pub process_exited: Option<unsafe extern "C" fn(t: *mut transport_t, reason: *const marline_reason_t, user: *mut c_void)>,
    /// The child was reaped and every pipe is closed (the same reason; or
    /// MARLINE_REASON_SHUTDOWN when the reactor was freed first, without
    /// process_exited). Free per-process state here.
    pub process_ended: Option<unsafe extern "C" fn(t: *mut transport_t, reason: *const marline_reason_t, user: *mut c_void)>,
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

/// Builds a spec from the C arguments shared by reactor_spawn_process and
/// process_bridge_spawn.
///
/// # Safety
/// As documented on reactor_spawn_process.
unsafe fn spec_of(
    executable: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    cwd: *const c_char,
    fd_map: *const marline_child_fd_t,
    fd_map_len: usize,
    use_pty: bool,
) -> Result<ProcessSpec> {
    non_null(executable)?;
    // SAFETY: forwarded contract.
    let exe = OsStr::from_bytes(unsafe { CStr::from_ptr(executable) }.to_bytes());
    // SAFETY: forwarded contract.
    let args = unsafe { c_list(argv) }?;
    let mut spec = ProcessSpec::new(exe, args);
    if !envp.is_null() {
        // SAFETY: forwarded contract.
        spec = spec.env(unsafe { c_list(envp) }?);
    }
    if !cwd.is_null() {
        // SAFETY: forwarded contract.
        spec = spec.cwd(OsStr::from_bytes(unsafe { CStr::from_ptr(cwd) }.to_bytes()));
    }
    if fd_map_len > 0 {
        if fd_map.is_null() {
            return Err(Error::NullPointer);
        }
        if fd_map_len > crate::process::MAX_CHILD_FDS {
            return Err(Error::BadChildFdMap);
        }
        // SAFETY: non-NULL with fd_map_len readable entries per the contract.
        for e in unsafe { std::slice::from_raw_parts(fd_map, fd_map_len) } {
            let how = match e.kind {
                MARLINE_CHILD_FD_TO_CHILD => ChildFd::ToChild,
                MARLINE_CHILD_FD_FROM_CHILD => ChildFd::FromChild,
                MARLINE_CHILD_FD_INHERIT => ChildFd::Inherit(e.parent_fd),
                _ => return Err(Error::BadChildFdMap),
            };
            spec = spec.child_fd(e.child_fd, how);
        }
    }
    Ok(spec.pty(use_pty))
}

/// Starts `executable` (looked up in PATH when it has no '/') with `argv`
/// (argv[0] is the program's name; NULL-terminated, at least one entry),
/// `envp` ("NAME=value" strings, NULL-terminated; NULL = a copy of ours),
/// working directory `cwd` (NULL = ours), and child fds `fd_map`
/// (`fd_map_len` entries; NULL/0 = the default: 0 to the child, 1 and 2
/// from it). With a fd map the child has exactly those fds; every other
/// descriptor is closed in it. `use_pty` runs it on a new pseudo-terminal
/// (no fd map then). The process transport is written to `*out`; its user
/// pointer is `user` (see transport_set_user).
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
    guard(|| {
        non_null(out)?;
        non_null(protocol)?;
        let r = reactor_of(reactor)?;
        // SAFETY: forwarded contract.
        let spec = unsafe { spec_of(executable, argv, envp, cwd, fd_map, fd_map_len, use_pty) }?;
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

/// The name of signal `signum` without "SIG", as SSH names it: "TERM",
/// "KILL", "SEGV", …, or "NAME@linux" for a signal with no portable name
/// ("BUS@linux"). A static string (never free it); NULL when `signum` is
/// no signal.
#[no_mangle]
pub extern "C" fn process_signal_name(signum: i32) -> *const c_char {
    crate::process::signals::signal_name_cstr(signum).map_or(std::ptr::null(), |c| c.as_ptr())
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
    /// The process ended (after exit_status / exit_signal); the remote
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
    guard(|| {
        // SAFETY: forwarded contract.
        let spec = unsafe { spec_of(executable, argv, envp, cwd, std::ptr::null(), 0, use_pty) }?;
        // SAFETY: forwarded contract.
        unsafe { spawn_bridged(b, &spec, out) }
    })
}

/// Starts the bridged process and writes its transport to `*out` if wanted.
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn spawn_bridged(b: *mut bridge_t, spec: &ProcessSpec, out: *mut *mut transport_t) -> Result<()> {
    let p = bridge_of(b)?.spawn(spec)?;
    if !out.is_null() {
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { put(out, encode_transport(&p)) };
    }
    Ok(())
}

/// As process_bridge_spawn with `use_pty`, and the pty's window size set
/// to `rows` x `cols` before the child starts (so the command's first look
/// at its terminal sees it, with no SIGWINCH race). Later changes:
/// process_set_window_size on the process transport. Errors as for
/// process_bridge_spawn.
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
    guard(|| {
        // SAFETY: forwarded contract.
        let spec = unsafe { spec_of(executable, argv, envp, cwd, std::ptr::null(), 0, true) }?.window_size(rows, cols);
        // SAFETY: forwarded contract.
        unsafe { spawn_bridged(b, &spec, out) }
    })
}

/// The remote side is gone: closes the process's pipes
/// (transport_lose_connection; the child is not signalled) and makes the
/// bridge handle stale. The callbacks still report the process's end.
#[no_mangle]
pub extern "C" fn process_bridge_close(b: *mut bridge_t) -> marline_status_t {
    guard(|| bridge_of(b)?.close())
}
