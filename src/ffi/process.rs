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
use super::protocol::user_of;
use super::reason::{as_c, marline_reason_t};
use super::status::marline_status_t::{self, *};
use super::sized::{read_sized, SizedStruct};
use super::{c_bytes, c_str, guard, non_null, reactor_of, transport_of, with_out, CResult, Out};
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
/// Start it with `MARLINE_INIT(&t)` (zeroes it and sets `size` to
/// sizeof(marline_process_protocol_t)), then set the entries you use: marline reads
/// `size` bytes, so a program built against another version of this header
/// keeps working (see "ABI policy" in the README; a `size` no version had,
/// or an entry this library does not know set, is
/// MARLINE_ERR_INVALID_ARGUMENT).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct marline_process_protocol_t {
    /// sizeof(marline_process_protocol_t), set by the caller.
    pub size: usize,
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

// SAFETY: a size and nullable function pointers, none over 8 bytes.
unsafe impl SizedStruct for marline_process_protocol_t {}

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
/// Start it with `MARLINE_INIT(&t)` (zeroes it and sets `size` to
/// sizeof(marline_spawn_options_t)), then set the options you use: marline reads
/// `size` bytes, so a program built against another version of this header
/// keeps working (see "ABI policy" in the README; a `size` no version had,
/// or an option this library does not know set, is
/// MARLINE_ERR_INVALID_ARGUMENT).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct marline_spawn_options_t {
    /// sizeof(marline_spawn_options_t), set by the caller.
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

// SAFETY: integers and raw pointers, none over 8 bytes.
unsafe impl SizedStruct for marline_spawn_options_t {}

/// Reads the caller's options by the ABI rule (NULL: every default).
///
/// # Safety
/// `o` is NULL or points to at least `(*o).size` readable bytes.
unsafe fn read_options(o: *const marline_spawn_options_t) -> CResult<marline_spawn_options_t> {
    if o.is_null() {
        return Ok(positional(std::ptr::null(), std::ptr::null(), std::ptr::null(), 0, false));
    }
    // SAFETY: forwarded contract.
    let opts = unsafe { read_sized(o) }?;
    if opts.flags & !SPAWN_FLAGS != 0 {
        return Err(MARLINE_ERR_INVALID_ARGUMENT.into());
    }
    Ok(opts)
}

struct CProcessProtocol {
    table: marline_process_protocol_t,
}

impl ProcessProtocol for CProcessProtocol {
    fn connection_made(&mut self, p: &Process) {
        call_c!(self.table.connection_made, encode_transport(p), user_of(p));
    }
    fn child_data_received(&mut self, p: &Process, fd: i32, data: &[u8]) {
        call_c!(self.table.child_data_received, encode_transport(p), fd, data.as_ptr(), data.len(), user_of(p));
    }
    fn child_connection_lost(&mut self, p: &Process, fd: i32) {
        call_c!(self.table.child_connection_lost, encode_transport(p), fd, user_of(p));
    }
    fn process_exited(&mut self, p: &Process, reason: &Reason) {
        call_c!(self.table.process_exited, encode_transport(p), as_c(reason), user_of(p));
    }
    fn process_ended(&mut self, p: &Process, reason: &Reason) {
        call_c!(self.table.process_ended, encode_transport(p), as_c(reason), user_of(p));
    }
}

/// Reads a NULL-terminated array of strings (NULL array → NullPointer).
///
/// # Safety
/// `list` is NULL or a NULL-terminated array of NUL-terminated strings.
unsafe fn c_list<'a>(list: *const *const c_char) -> CResult<Vec<&'a OsStr>> {
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
unsafe fn spec_of(executable: *const c_char, argv: *const *const c_char, o: &marline_spawn_options_t) -> CResult<ProcessSpec> {
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
            return Err(MARLINE_ERR_NULL_POINTER.into());
        }
        if o.fd_map_len > crate::process::MAX_CHILD_FDS {
            return Err(MARLINE_ERR_BAD_CHILD_FD_MAP.into());
        }
        // SAFETY: non-NULL with fd_map_len readable entries per the contract.
        for e in unsafe { std::slice::from_raw_parts(o.fd_map, o.fd_map_len) } {
            let how = match e.kind {
                MARLINE_CHILD_FD_TO_CHILD => ChildFd::ToChild,
                MARLINE_CHILD_FD_FROM_CHILD => ChildFd::FromChild,
                MARLINE_CHILD_FD_INHERIT => ChildFd::Inherit(e.parent_fd),
                _ => return Err(MARLINE_ERR_BAD_CHILD_FD_MAP.into()),
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
/// (argv[0] is the program's name; NULL-terminated, at least one entry), `envp`
/// ("NAME=value" strings, NULL-terminated; NULL = a copy of ours), working
/// directory `cwd` (NULL = ours), and child fds `fd_map` (`fd_map_len` entries;
/// NULL and 0 = the default: 0 to the child, 1 and 2 from it). With a fd map
/// the child has exactly those fds; every other descriptor is closed in it.
/// `use_pty` runs it on a new pseudo-terminal (no fd map then). The process
/// transport is written to `*out`; its user pointer is `user` (see
/// transport_set_user), and it runs the callbacks of `protocol` (copied). The
/// child starts with every signal at its default action and an empty signal
/// mask (see MARLINE_SPAWN_KEEP_IGNORED_SIGNALS), in our process group;
/// reactor_spawn_process_with offers these and more options.
///
/// Failures are synchronous, call no callback and leave nothing behind. Errors:
/// MARLINE_ERR_NULL_POINTER (`executable`, `argv`, `protocol` or `out` NULL, or
/// `fd_map` NULL with a non-zero `fd_map_len`), MARLINE_ERR_INVALID_ARGUMENT
/// (an empty `argv`; a table whose `size` no version had or with an entry this
/// library does not know), MARLINE_ERR_BAD_EXECUTABLE (not found, not
/// executable, not a program), MARLINE_ERR_BAD_WORKING_DIRECTORY,
/// MARLINE_ERR_BAD_CHILD_FD_MAP (a child fd repeated or outside 0..1023, an
/// unknown kind, an inherited fd that is not open, a fd map with a pty),
/// MARLINE_ERR_EXHAUSTED, MARLINE_ERR_OS (marline_last_os_error has the errno,
/// as it does for the executable and directory errors), and the handle errors.
/// `reactor`, `executable`, `argv`, `protocol` and `out` must not be NULL;
/// `envp` and `cwd` may be NULL (ours); `fd_map` may be NULL only when
/// `fd_map_len` is 0; `user` may be NULL (it is only passed back).
///
/// # Safety
/// Strings are NUL-terminated; `argv` and `envp` are NULL-terminated arrays of
/// them; `fd_map` has `fd_map_len` readable entries; `protocol` points to a
/// marline_process_protocol_t with `size` readable bytes; `out` points to a
/// writable `transport_t *`. Nothing is kept after the call: marline copies
/// what it needs.
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
/// `options` (see marline_spawn_options_t): its environment, working directory,
/// fd map, a pty and its window size, a new session or process group, and
/// whether ignored signals stay ignored.
///
/// Errors: as reactor_spawn_process (MARLINE_ERR_NULL_POINTER (`executable`,
/// `argv`, `protocol` or `out` NULL, or `fd_map` NULL with a non-zero
/// `fd_map_len`), MARLINE_ERR_INVALID_ARGUMENT (an empty `argv`; a table whose
/// `size` no version had or with an entry this library does not know),
/// MARLINE_ERR_BAD_EXECUTABLE (not found, not executable, not a program),
/// MARLINE_ERR_BAD_WORKING_DIRECTORY, MARLINE_ERR_BAD_CHILD_FD_MAP (a child fd
/// repeated or outside 0..1023, an unknown kind, an inherited fd that is not
/// open, a fd map with a pty), MARLINE_ERR_EXHAUSTED, MARLINE_ERR_OS
/// (marline_last_os_error has the errno, as it does for the executable and
/// directory errors), and the handle errors), and MARLINE_ERR_INVALID_ARGUMENT
/// for `options` that break their ABI rule (a `size` no version had, a non-zero
/// field this library does not know), unknown flags, or a window size without
/// MARLINE_SPAWN_PTY. `reactor`, `executable`, `argv`, `protocol` and `out`
/// must not be NULL; `options` may be NULL (every default); `user` may be NULL
/// (it is only passed back).
///
/// # Safety
/// As for reactor_spawn_process; `options`, when not NULL, has `options->size`
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
        // SAFETY: forwarded contract.
        let out = unsafe { Out::new(out) }?;
        // SAFETY: forwarded contract; the table is copied.
        let table = unsafe { read_sized(protocol) }?;
        let r = reactor_of(reactor)?;
        // SAFETY: forwarded contract.
        let spec = unsafe { spec_of(executable, argv, &read_options(options)?) }?;
        let p = r.spawn_process(&spec, Box::new(CProcessProtocol { table }))?;
        p.set_user_data(user as usize)?;
        out.write(encode_transport(&p));
        Ok(())
    })
}

fn process_of(t: *mut transport_t) -> CResult<Process> {
    Ok(Process::try_from(transport_of(t)?)?)
}

/// Writes `len` bytes to child fd `fd` (one mapped MARLINE_CHILD_FD_TO_CHILD),
/// like transport_write. The caller keeps ownership of `data`.
///
/// Errors: MARLINE_ERR_NO_SUCH_CHILD_FD (no such fd, or one we read),
/// MARLINE_ERR_CLOSED (that fd is closed), MARLINE_ERR_NOT_SUPPORTED (a pty),
/// MARLINE_ERR_NULL_POINTER (`data` NULL with a non-zero `len`),
/// MARLINE_ERR_WRONG_HANDLE_TYPE (not a process transport), and the handle
/// errors (MARLINE_ERR_STALE_HANDLE once process_ended has run). `t` must not
/// be NULL; `data` may be NULL only when `len` is 0.
///
/// # Safety
/// `data` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn process_write_to_child(t: *mut transport_t, fd: i32, data: *const u8, len: usize) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let bytes = unsafe { c_bytes(data, len) }?;
        Ok(process_of(t)?.write_to_child(fd, bytes)?)
    })
}

/// Closes our end of child fd `fd`: one we read at once, one we write once what
/// is queued has been written (and, for stdin, once a registered producer has
/// unregistered: it is the stdin pipe's lose_connection). Writes to it are
/// accepted until it has actually closed, from the loop.
/// child_connection_lost(fd) follows from the loop. Closing a closed fd does
/// nothing.
///
/// Errors: MARLINE_ERR_NO_SUCH_CHILD_FD (no such fd), MARLINE_ERR_NOT_SUPPORTED
/// (a pty), MARLINE_ERR_WRONG_HANDLE_TYPE (not a process transport), and the
/// handle errors (MARLINE_ERR_STALE_HANDLE once process_ended has run). `t`
/// must not be NULL.
#[no_mangle]
pub extern "C" fn process_close_child_fd(t: *mut transport_t, fd: i32) -> marline_status_t {
    guard(|| Ok(process_of(t)?.close_child_fd(fd)?))
}

/// process_close_child_fd(t, 0): the child reads end of file after what was
/// written to it.
///
/// Errors: as process_close_child_fd: MARLINE_ERR_NO_SUCH_CHILD_FD,
/// MARLINE_ERR_NOT_SUPPORTED, MARLINE_ERR_WRONG_HANDLE_TYPE (not a process
/// transport), and the handle errors (MARLINE_ERR_STALE_HANDLE once
/// process_ended has run). `t` must not be NULL.
#[no_mangle]
pub extern "C" fn process_close_stdin(t: *mut transport_t) -> marline_status_t {
    guard(|| Ok(process_of(t)?.close_stdin()?))
}

/// process_close_child_fd(t, 1): stops reading the child's stdout (its writes
/// then fail with EPIPE).
///
/// Errors: as process_close_child_fd: MARLINE_ERR_NO_SUCH_CHILD_FD,
/// MARLINE_ERR_NOT_SUPPORTED, MARLINE_ERR_WRONG_HANDLE_TYPE (not a process
/// transport), and the handle errors (MARLINE_ERR_STALE_HANDLE once
/// process_ended has run). `t` must not be NULL.
#[no_mangle]
pub extern "C" fn process_close_stdout(t: *mut transport_t) -> marline_status_t {
    guard(|| Ok(process_of(t)?.close_stdout()?))
}

/// process_close_child_fd(t, 2): stops reading the child's stderr (its writes
/// then fail with EPIPE).
///
/// Errors: as process_close_child_fd: MARLINE_ERR_NO_SUCH_CHILD_FD,
/// MARLINE_ERR_NOT_SUPPORTED, MARLINE_ERR_WRONG_HANDLE_TYPE (not a process
/// transport), and the handle errors (MARLINE_ERR_STALE_HANDLE once
/// process_ended has run). `t` must not be NULL.
#[no_mangle]
pub extern "C" fn process_close_stderr(t: *mut transport_t) -> marline_status_t {
    guard(|| Ok(process_of(t)?.close_stderr()?))
}

/// Sends signal `signum` to the child. Nothing is ever sent to a recycled pid.
///
/// Errors: MARLINE_ERR_UNKNOWN_SIGNAL (not a signal),
/// MARLINE_ERR_PROCESS_EXITED_ALREADY (the child was reaped; nothing is sent),
/// MARLINE_ERR_WRONG_HANDLE_TYPE (not a process transport), and the handle
/// errors (MARLINE_ERR_STALE_HANDLE once process_ended has run). `t` must not
/// be NULL.
#[no_mangle]
pub extern "C" fn process_signal(t: *mut transport_t, signum: i32) -> marline_status_t {
    guard(|| Ok(process_of(t)?.signal(signum)?))
}

/// Sends signal `signum` to the child's process group (kill(-pid)): the child
/// and whatever it started that stayed in its group, such as a shell's pipeline
/// or a grandchild. Only for a child that leads a group of its own (started
/// with MARLINE_SPAWN_NEW_SESSION, MARLINE_SPAWN_NEW_PROCESS_GROUP or a pty; a
/// bridged child always is).
///
/// Errors: MARLINE_ERR_NOT_SUPPORTED (the child leads no group),
/// MARLINE_ERR_UNKNOWN_SIGNAL (not a signal),
/// MARLINE_ERR_PROCESS_EXITED_ALREADY (the child was reaped: the group's id is
/// its pid, which may then be another's; nothing is sent),
/// MARLINE_ERR_WRONG_HANDLE_TYPE (not a process transport), and the handle
/// errors (MARLINE_ERR_STALE_HANDLE once process_ended has run). `t` must not
/// be NULL.
#[no_mangle]
pub extern "C" fn process_signal_group(t: *mut transport_t, signum: i32) -> marline_status_t {
    guard(|| Ok(process_of(t)?.signal_group(signum)?))
}

/// Sends the signal called `name`: "TERM", "SIGTERM", "hup", "BUS@linux", …
/// (case-insensitive, "SIG" optional); otherwise as process_signal.
///
/// Errors: MARLINE_ERR_UNKNOWN_SIGNAL (no signal has that name),
/// MARLINE_ERR_PROCESS_EXITED_ALREADY, MARLINE_ERR_NULL_POINTER (`name` NULL),
/// MARLINE_ERR_WRONG_HANDLE_TYPE (not a process transport), and the handle
/// errors (MARLINE_ERR_STALE_HANDLE once process_ended has run). `t` and `name`
/// must not be NULL.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn process_signal_by_name(t: *mut transport_t, name: *const c_char) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let name = unsafe { c_str(name) }.map_err(|e| if e.status == MARLINE_ERR_INVALID_ARGUMENT { MARLINE_ERR_UNKNOWN_SIGNAL.into() } else { e })?;
        Ok(process_of(t)?.signal_by_name(name)?)
    })
}

/// Writes the child's pid to `*pid`.
///
/// Errors: MARLINE_ERR_PROCESS_EXITED_ALREADY (the child was reaped: the number
/// may be another process's by now), MARLINE_ERR_WRONG_HANDLE_TYPE (not a
/// process transport), and the handle errors (MARLINE_ERR_STALE_HANDLE once
/// process_ended has run). `t` and `pid` must not be NULL.
///
/// # Safety
/// `pid` points to a writable `int32_t`.
#[no_mangle]
pub unsafe extern "C" fn process_get_pid(t: *mut transport_t, pid: *mut i32) -> marline_status_t {
    // SAFETY: forwarded contract.
    unsafe { with_out(pid, || Ok(process_of(t)?.pid()? as i32)) }
}

/// The name of signal `signum` in the form SSH's exit-signal message carries
/// (RFC 4254 §6.10): without "SIG" — "TERM", "KILL", "SEGV", … — or
/// "NAME@linux" for a signal with no portable name ("BUS@linux"). This is the
/// name bridge exit_signal callbacks receive. A static string (never free it);
/// NULL when `signum` is no signal. For the name with "SIG" see
/// process_signal_full_name.
#[no_mangle]
pub extern "C" fn process_signal_name(signum: i32) -> *const c_char {
    crate::process::signals::signal_name_cstr(signum).map_or(std::ptr::null(), |c| c.as_ptr())
}

/// The name of signal `signum` with its "SIG" prefix, as Twisted conch's
/// `_getSignalName` returns it: "SIGTERM", "SIGKILL", …, or "SIGNAME@linux" for
/// a signal with no portable name ("SIGBUS@linux"). process_signal_name is this
/// string without its first three characters. A static string (never free it);
/// NULL when `signum` is no signal.
#[no_mangle]
pub extern "C" fn process_signal_full_name(signum: i32) -> *const c_char {
    crate::process::signals::signal_full_name_cstr(signum).map_or(std::ptr::null(), |c| c.as_ptr())
}

/// Sets the window size of the child's pty to `rows` x `cols`; the child gets
/// SIGWINCH.
///
/// Errors: MARLINE_ERR_NOT_SUPPORTED (the child has no pty), MARLINE_ERR_CLOSED
/// (the pty is closed), MARLINE_ERR_WRONG_HANDLE_TYPE (not a process
/// transport), and the handle errors (MARLINE_ERR_STALE_HANDLE once
/// process_ended has run). `t` must not be NULL.
#[no_mangle]
pub extern "C" fn process_set_window_size(t: *mut transport_t, rows: u16, cols: u16) -> marline_status_t {
    guard(|| Ok(process_of(t)?.set_window_size(rows, cols)?))
}

// ----- bridge_t -----

/// What a bridge tells its owner. Every entry may be NULL. Each receives
/// the bridge first (possibly stale by then: after process_bridge_close the
/// callbacks still report the process's end), the remote transport (which
/// may be closed; writes then fail harmlessly), and the user pointer last.
/// Start it with `MARLINE_INIT(&t)` (zeroes it and sets `size` to
/// sizeof(marline_bridge_callbacks_t)), then set the entries you use: marline reads
/// `size` bytes, so a program built against another version of this header
/// keeps working (see "ABI policy" in the README; a `size` no version had,
/// or an entry this library does not know set, is
/// MARLINE_ERR_INVALID_ARGUMENT).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct marline_bridge_callbacks_t {
    /// sizeof(marline_bridge_callbacks_t), set by the caller.
    pub size: usize,
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

// SAFETY: a size and nullable function pointers, none over 8 bytes.
unsafe impl SizedStruct for marline_bridge_callbacks_t {}

struct CBridgeHandler {
    table: marline_bridge_callbacks_t,
    user: *mut c_void,
    /// The bridge's own C handle, set right after creation.
    me: Rc<Cell<usize>>,
}

impl CBridgeHandler {
    fn me(&self) -> *mut bridge_t {
        self.me.get() as *mut bridge_t
    }
}

impl BridgeHandler for CBridgeHandler {
    fn extended_data(&mut self, remote: &Transport, data: &[u8]) {
        call_c!(self.table.extended_data, self.me(), encode_transport(remote), data.as_ptr(), data.len(), self.user);
    }
    fn exit_status(&mut self, remote: &Transport, code: i32) {
        call_c!(self.table.exit_status, self.me(), encode_transport(remote), code, self.user);
    }
    fn exit_signal(&mut self, remote: &Transport, name: &str, core_dumped: bool) {
        let num = crate::process::signal_number(name).unwrap_or(0);
        let cname = crate::process::signals::signal_name_cstr(num).map_or(c"UNKNOWN".as_ptr(), |c| c.as_ptr());
        call_c!(self.table.exit_signal, self.me(), encode_transport(remote), cname, core_dumped, self.user);
    }
    fn process_ended(&mut self, remote: &Transport, reason: &Reason) {
        call_c!(self.table.process_ended, self.me(), encode_transport(remote), as_c(reason), self.user);
    }
}

fn bridge_of(b: *mut bridge_t) -> CResult<Bridge> {
    let (core, h) = object_of(b, Kind::Bridge)?;
    Ok(Bridge::from_handle(&core, h))
}

/// Bridges the transport `remote` to a process started later with
/// process_bridge_spawn, with the semantics of an SSH session channel:
///
/// - feed what `remote` receives to process_bridge_feed (it goes to the
///   child's stdin; what arrives before process_bridge_spawn is buffered) and
///   call process_bridge_remote_eof when `remote` half-closes;
/// - the child's stdout is written to `remote`, its stderr too when
///   `merge_stderr`, else to callbacks->extended_data;
/// - `remote` gets EOF (transport_lose_write_connection) once both stdout and
///   stderr have closed;
/// - when the process ends: exit_signal (signal wins) or exit_status, then
///   process_ended, then transport_lose_connection(remote) (what is queued is
///   sent first);
/// - `remote`'s write queue pauses the child's output (the process is
///   registered as its streaming producer when it has none), and the child's
///   stdin queue pauses reading from `remote` (the bridge registers a producer
///   on the process transport), so input the child does not read is not
///   buffered without bound. What is fed before the spawn is buffered as it
///   comes: bound it yourself;
/// - when `remote` goes, the child is hung up (see process_bridge_close).
///
/// Call process_bridge_close from `remote`'s connection_lost. The bridge handle
/// is written to `*out`; the callbacks (copied) receive `user`.
///
/// Errors: MARLINE_ERR_INVALID_ARGUMENT (a table whose `size` no version had or
/// with an entry this library does not know), MARLINE_ERR_EXHAUSTED, and the
/// handle errors (for `remote`). `remote`, `callbacks` and `out` must not be
/// NULL; `user` may be NULL (it is only passed back).
///
/// # Safety
/// `callbacks` points to a marline_bridge_callbacks_t with `size` readable
/// bytes; `out` points to a writable `bridge_t *`.
#[no_mangle]
pub unsafe extern "C" fn process_bridge(
    remote: *mut transport_t,
    merge_stderr: bool,
    callbacks: *const marline_bridge_callbacks_t,
    user: *mut c_void,
    out: *mut *mut bridge_t,
) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let out = unsafe { Out::new(out) }?;
        // SAFETY: forwarded contract; the table is copied.
        let table = unsafe { read_sized(callbacks) }?;
        let remote = transport_of(remote)?;
        let cell = Rc::new(Cell::new(0));
        let handler = Box::new(CBridgeHandler { table, user, me: cell.clone() });
        let b = Bridge::new(&remote, merge_stderr, handler)?;
        let core = b.reactor_core()?;
        let me = encode::<bridge_t>(core.serial, Kind::Bridge, b.handle);
        cell.set(me as usize);
        out.write(me);
        Ok(())
    })
}

/// Data from the remote side for the child's stdin (copied; buffered until the
/// process starts).
///
/// Errors: MARLINE_ERR_CLOSED (after process_bridge_remote_eof),
/// MARLINE_ERR_NULL_POINTER (`data` NULL with a non-zero `len`), and the handle
/// errors (MARLINE_ERR_STALE_HANDLE after process_bridge_close). `b` must not
/// be NULL; `data` may be NULL only when `len` is 0.
///
/// # Safety
/// `data` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn process_bridge_feed(b: *mut bridge_t, data: *const u8, len: usize) -> marline_status_t {
    guard(|| {
        // SAFETY: forwarded contract.
        let bytes = unsafe { c_bytes(data, len) }?;
        Ok(bridge_of(b)?.feed(bytes)?)
    })
}

/// The remote side sent end of file: the child's stdin closes once what was fed
/// has been written (at once, or when the process starts). Calling it again is
/// harmless.
///
/// Errors: only the handle errors (MARLINE_ERR_STALE_HANDLE after
/// process_bridge_close). `b` must not be NULL.
#[no_mangle]
pub extern "C" fn process_bridge_remote_eof(b: *mut bridge_t) -> marline_status_t {
    guard(|| Ok(bridge_of(b)?.remote_eof()?))
}

/// Starts the bridged process (arguments as for reactor_spawn_process, with the
/// default fd map) and writes what was fed so far. The process transport is
/// written to `*out` when `out` is not NULL; it belongs to the bridge (its user
/// pointer is free for the caller; its producer slot is the bridge's). The
/// child runs in a session of its own (see process_bridge_spawn_with).
///
/// Errors: MARLINE_ERR_INVALID_STATE (the process was started already), the
/// errors of reactor_spawn_process (MARLINE_ERR_NULL_POINTER,
/// MARLINE_ERR_INVALID_ARGUMENT, MARLINE_ERR_BAD_EXECUTABLE,
/// MARLINE_ERR_BAD_WORKING_DIRECTORY, MARLINE_ERR_EXHAUSTED, MARLINE_ERR_OS),
/// and the handle errors. `b`, `executable` and `argv` must not be NULL; `envp`
/// and `cwd` may be NULL (ours); `out` may be NULL (the process transport is
/// then not wanted).
///
/// # Safety
/// As for reactor_spawn_process; `out`, when not NULL, points to a writable
/// `transport_t *`.
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

/// As process_bridge_spawn with MARLINE_SPAWN_PTY, and the pty's window size
/// set to `rows` x `cols` before the child starts (so the command's first look
/// at its terminal sees it, with no SIGWINCH race). Later changes:
/// process_set_window_size on the process transport.
///
/// Errors: as process_bridge_spawn (MARLINE_ERR_INVALID_STATE,
/// MARLINE_ERR_BAD_EXECUTABLE, …). `b`, `executable` and `argv` must not be
/// NULL; `envp` and `cwd` may be NULL (ours); `out` may be NULL (not wanted).
///
/// # Safety
/// As for process_bridge_spawn.
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

/// Starts the bridged process with `options` (see marline_spawn_options_t and
/// reactor_spawn_process_with) and writes what was fed so far; otherwise as
/// process_bridge_spawn. The bridge feeds child fd 0 and relays 1 and 2, so a
/// fd map is refused. The child always runs in a session of its own, whatever
/// the flags say (MARLINE_SPAWN_NEW_SESSION, as sshd runs a session's command):
/// so it can be hung up as a group when the remote side goes (see
/// process_bridge_close), and Ctrl-C at the server's terminal does not reach
/// it.
///
/// Errors: MARLINE_ERR_BAD_CHILD_FD_MAP (a fd map), and as process_bridge_spawn
/// and reactor_spawn_process_with (MARLINE_ERR_INVALID_STATE,
/// MARLINE_ERR_INVALID_ARGUMENT, …). `b`, `executable` and `argv` must not be
/// NULL; `options` may be NULL (every default); `out` may be NULL (not wanted).
///
/// # Safety
/// As for reactor_spawn_process_with; `out`, when not NULL, points to a
/// writable `transport_t *`.
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
            return Err(MARLINE_ERR_BAD_CHILD_FD_MAP.into());
        }
        // SAFETY: forwarded contract.
        let spec = unsafe { spec_of(executable, argv, &o) }?;
        let p = bridge_of(b)?.spawn(&spec)?;
        // SAFETY: forwarded contract.
        if let Some(out) = unsafe { Out::optional(out) } {
            out.write(encode_transport(&p));
        }
        Ok(())
    })
}

/// The remote side is gone: the child is hung up, and the bridge handle becomes
/// stale. Input still queued for the child is dropped and its pty or pipes are
/// closed at once (nobody is left to read its output; closing a pty's master is
/// a terminal hang-up: the child's session gets SIGHUP and its writes fail).
/// Its process group gets SIGHUP, and SIGKILL once the grace period has passed
/// if it is still there (see process_bridge_set_hangup_grace; default 5
/// seconds). The group is signalled only while the child itself has not been
/// reaped (its pid is the group's id): a grandchild that ignores SIGHUP and
/// outlives the child is left alone. The same happens when `remote` closes
/// while the bridge is its producer, even without this call. The callbacks
/// still report the process's end.
///
/// Errors: only the handle errors (MARLINE_ERR_STALE_HANDLE when it was closed
/// already). `b` must not be NULL.
#[no_mangle]
pub extern "C" fn process_bridge_close(b: *mut bridge_t) -> marline_status_t {
    guard(|| Ok(bridge_of(b)?.close()?))
}

/// Sets how long a hung-up child (see process_bridge_close) has to end after
/// SIGHUP before its process group gets SIGKILL: `seconds` ≥ 0, or INFINITY for
/// never (SIGHUP only). The default is 5 seconds. Applies to a hang-up after
/// the call.
///
/// Errors: MARLINE_ERR_INVALID_ARGUMENT (NaN or a negative value), and the
/// handle errors (MARLINE_ERR_STALE_HANDLE after process_bridge_close). `b`
/// must not be NULL.
#[no_mangle]
pub extern "C" fn process_bridge_set_hangup_grace(b: *mut bridge_t, seconds: f64) -> marline_status_t {
    guard(|| {
        let grace = super::seconds(seconds)?.delay_or_never()?;
        Ok(bridge_of(b)?.set_hangup_grace(grace)?)
    })
}
