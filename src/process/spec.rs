//! What to run and how: [`ProcessSpec`], its child fd map ([`ChildFd`])
//! and the checks made on it before anything is created.

use std::ffi::{OsStr, OsString};
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use crate::error::{ErrorKind, Result};

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
    pub(crate) new_session: bool,
    pub(crate) new_group: bool,
    pub(crate) keep_ignored_signals: bool,
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
            new_session: false,
            new_group: false,
            keep_ignored_signals: false,
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

    /// Starts the child in a new session (setsid), so that it leads a
    /// process group of its own, has no controlling terminal, and a
    /// terminal's Ctrl-C or hang-up aimed at our group does not reach it.
    /// [`super::Process::signal_group`] then signals it and everything it
    /// started. A pty always does this. Default: off (our session and
    /// process group).
    pub fn new_session(mut self, on: bool) -> ProcessSpec {
        self.new_session = on;
        self
    }

    /// Starts the child in a new process group (setpgid(0, 0)) within our
    /// session, as a shell starts a job: it leads the group, and
    /// [`super::Process::signal_group`] signals it and everything it
    /// started. Implied by [`ProcessSpec::new_session`] and a pty. Default:
    /// off (our process group).
    pub fn new_process_group(mut self, on: bool) -> ProcessSpec {
        self.new_group = on;
        self
    }

    /// Leaves the signals we ignore ignored in the child. By default every
    /// signal starts at its default action in the child, as Twisted's
    /// `_resetSignalDisposition` does: a disposition of SIG_IGN survives
    /// exec, so a server started as a shell's background job (SIGINT and
    /// SIGQUIT ignored) would otherwise run commands that Ctrl-C cannot
    /// stop. Handlers are reset either way (they cannot survive exec), and
    /// so are SIGPIPE and SIGXFSZ (marline ignores SIGPIPE for itself).
    pub fn keep_ignored_signals(mut self, on: bool) -> ProcessSpec {
        self.keep_ignored_signals = on;
        self
    }

    pub(crate) fn fd_map(&self) -> Vec<(i32, ChildFd)> {
        match &self.fds {
            Some(m) => m.clone(),
            None => vec![(0, ChildFd::ToChild), (1, ChildFd::FromChild), (2, ChildFd::FromChild)],
        }
    }
}

/// Validates the fd map: unique targets in 0..=MAX_CHILD_FD, inherited
/// descriptors open.
pub(crate) fn check_fd_map(map: &[(i32, ChildFd)]) -> Result<()> {
    if map.len() > MAX_CHILD_FDS {
        return Err(ErrorKind::BadChildFdMap.into());
    }
    for (i, (target, how)) in map.iter().enumerate() {
        if !(0..=MAX_CHILD_FD).contains(target) || map[..i].iter().any(|(t, _)| t == target) {
            return Err(ErrorKind::BadChildFdMap.into());
        }
        if let ChildFd::Inherit(fd) = how {
            // SAFETY: F_GETFD only inspects the descriptor table.
            if *fd < 0 || unsafe { libc::fcntl(*fd, libc::F_GETFD) } == -1 {
                return Err(ErrorKind::BadChildFdMap.into());
            }
        }
    }
    Ok(())
}
