//! Child processes as transports (Twisted's IProcessTransport and
//! IProcessProtocol), and bridging a process to another transport.
//!
//! - [`Reactor::spawn_process`] starts a child described by a
//!   [`ProcessSpec`] and returns a [`Process`]: a [`Transport`] (write,
//!   write_sequence, lose_connection and the producer calls go to it, with
//!   writes feeding the child's stdin) with the process calls added.
//! - A [`ProcessProtocol`] receives child_data_received(fd, data),
//!   child_connection_lost(fd), process_exited(reason) and
//!   process_ended(reason).
//!
//! **Order.** process_exited fires when the child is reaped; it may come
//! before or after the pipes close. process_ended fires exactly once, after
//! process_exited *and* after every pipe is closed. So a child whose
//! grandchild keeps its stdout open gets process_exited as soon as it exits,
//! and process_ended only once the grandchild closes the pipe (or
//! lose_connection / close_child_fd closes our end).
//!
//! **Resources.** Every descriptor marline creates is close-on-exec; the
//! child gets exactly the fds of its fd map, all others are closed in it.
//! Children are reaped by pid (through a pidfd, or a SIGCHLD self-pipe on
//! kernels without pidfd_open), never with waitpid(-1), so no zombies are
//! left and other children's statuses are not stolen. A host that reaps a
//! child itself, or ignores SIGCHLD, takes its status first: that child
//! ends with [`ExitStatusUnknown`](crate::transport::ReasonKind) and no
//! exit details, never a made-up status. A child still running when its
//! reactor is freed is reaped by a helper thread; its protocol then gets
//! process_ended with reason SHUTDOWN.
//!
//! **Signals.** [`Process::signal`] refuses with
//! [`ErrorKind::ProcessExitedAlready`] once the child has been reaped; a signal
//! therefore never reaches a recycled pid (with pidfds it cannot even in
//! theory: pidfd_send_signal names the process, not the number).

mod bridge;
mod child;
mod reap;
pub mod signals;
mod spawn;
mod spec;
mod transport;

use std::ops::Deref;
use std::rc::Rc;

pub use bridge::{Bridge, BridgeHandler, DEFAULT_HANGUP_GRACE};
#[doc(hidden)]
pub use reap::force_sigchld_reaping;
pub use signals::{signal_full_name, signal_name, signal_number};
#[doc(hidden)]
pub use child::force_fork_spawn;
pub use spec::{ChildFd, ProcessSpec};
pub(crate) use spec::MAX_CHILD_FDS;
pub(crate) use transport::ProcessTransport;

use crate::error::{Error, ErrorKind, Result};
use crate::reactor::{Core, Reactor};
use crate::transport::{Reason, Transport};

/// Receives a child process's events. Every method has a default.
pub trait ProcessProtocol {
    /// The process transport is ready (first callback, from the loop).
    fn connection_made(&mut self, _p: &Process) {}
    /// The child wrote `data` on child fd `fd` (1 = stdout, 2 = stderr; a
    /// pty's output is fd 1). Valid for the call only.
    fn child_data_received(&mut self, _p: &Process, _fd: i32, _data: &[u8]) {}
    /// Our end of child fd `fd` closed (EOF, error, or closed by us).
    fn child_connection_lost(&mut self, _p: &Process, _fd: i32) {}
    /// The child has been reaped (before or after its pipes closed).
    fn process_exited(&mut self, _p: &Process, _reason: &Reason) {}
    /// The child has been reaped and every pipe is closed. Fires exactly
    /// once, last; the handle is dead when it returns.
    fn process_ended(&mut self, _p: &Process, _reason: &Reason) {}
}

/// A handle to a process transport: a [`Transport`] (it derefs to one)
/// plus the process calls. Cheap to clone; stale once process_ended has
/// returned.
#[derive(Clone, PartialEq, Debug)]
pub struct Process {
    t: Transport,
}

impl Deref for Process {
    type Target = Transport;
    fn deref(&self) -> &Transport {
        &self.t
    }
}

impl From<Process> for Transport {
    fn from(p: Process) -> Transport {
        p.t
    }
}

impl TryFrom<Transport> for Process {
    type Error = Error;
    /// Fails with `WrongHandleType` for a transport that is not a process.
    fn try_from(t: Transport) -> Result<Process> {
        let p = Process { t };
        p.with(|_, _| Ok(()))?;
        Ok(p)
    }
}

impl Process {
    pub(crate) fn new(t: Transport) -> Process {
        Process { t }
    }

    /// The transport handle of this process.
    pub fn transport(&self) -> &Transport {
        &self.t
    }

    fn with<R>(&self, f: impl FnOnce(&Rc<Core>, &Rc<ProcessTransport>) -> Result<R>) -> Result<R> {
        let core = self.t.core()?;
        let p = core.object_as::<ProcessTransport>(self.t.handle)?;
        f(&core, &p)
    }

    /// The child's pid; `ProcessExitedAlready` once it has been reaped (the
    /// number may belong to another process by then).
    pub fn pid(&self) -> Result<u32> {
        self.with(|_, p| p.pid())
    }

    /// Writes to child fd `fd` (one mapped ToChild). Unknown or read-only
    /// fd → `NoSuchChildFd`; after it was closed → `Closed`; pty →
    /// `NotSupported`.
    pub fn write_to_child(&self, fd: i32, data: &[u8]) -> Result<()> {
        self.with(|core, p| {
            if p.is_pty() {
                return Err(ErrorKind::NotSupported.into());
            }
            p.write_to(core, fd, &[std::io::IoSlice::new(data)])
        })
    }

    /// Closes our end of child fd `fd`: a pipe we read at once, a pipe we
    /// write once its queue has drained (stdin also waits for a registered
    /// producer: this is the stdin pipe's lose_connection, and writes are
    /// accepted until it has closed). child_connection_lost(fd) follows.
    /// Closing it again does nothing. Pty → `NotSupported`.
    pub fn close_child_fd(&self, fd: i32) -> Result<()> {
        self.with(|core, p| p.close_child_fd(core, fd))
    }

    /// close_child_fd(0): the child reads EOF once what was written is in.
    pub fn close_stdin(&self) -> Result<()> {
        self.close_child_fd(0)
    }

    /// close_child_fd(1).
    pub fn close_stdout(&self) -> Result<()> {
        self.close_child_fd(1)
    }

    /// close_child_fd(2).
    pub fn close_stderr(&self) -> Result<()> {
        self.close_child_fd(2)
    }

    /// Sends signal `signum`. Not a signal → `UnknownSignal`; already
    /// reaped → `ProcessExitedAlready` (nothing is sent).
    pub fn signal(&self, signum: i32) -> Result<()> {
        self.with(|_, p| p.signal(signum))
    }

    /// Sends signal `signum` to the child's process group: the child and
    /// whatever it started that stayed in its group (a shell's pipeline, a
    /// grandchild). Only for a child started in a group of its own (a pty,
    /// [`ProcessSpec::new_session`] or [`ProcessSpec::new_process_group`]),
    /// else `NotSupported`; not a signal → `UnknownSignal`; already reaped
    /// → `ProcessExitedAlready` (nothing is sent: the group's id is the
    /// child's pid, which may then be another's).
    pub fn signal_group(&self, signum: i32) -> Result<()> {
        self.with(|_, p| p.signal_group(signum))
    }

    /// Sends the signal called `name` ("TERM", "SIGKILL", "hup", …).
    pub fn signal_by_name(&self, name: &str) -> Result<()> {
        let signum = signal_number(name)?;
        self.signal(signum)
    }

    /// Sets the pty's window size (the child gets SIGWINCH). Not a pty →
    /// `NotSupported`.
    pub fn set_window_size(&self, rows: u16, cols: u16) -> Result<()> {
        self.with(|_, p| p.set_window_size(rows, cols))
    }

    /// True when the child runs on a pty.
    pub fn is_pty(&self) -> Result<bool> {
        self.with(|_, p| Ok(p.is_pty()))
    }
}

impl Reactor {
    /// Starts a child process. Failures are synchronous and leave nothing
    /// behind (no process, no descriptor, no callback):
    /// `InvalidArgument` (empty argv, a NUL inside a string),
    /// `BadExecutable` (not found, not executable, not a valid program),
    /// `BadWorkingDirectory`, `BadChildFdMap` (duplicate or out-of-range
    /// child fd, an inherited fd that is not open, a fd map with a pty),
    /// `Os` for other system errors. The executable, directory and system
    /// errors keep the errno behind them (`Error::raw_os_error`, and the
    /// error's `source`).
    pub fn spawn_process(&self, spec: &ProcessSpec, protocol: Box<dyn ProcessProtocol>) -> Result<Process> {
        let spawned = spawn::spawn(spec)?;
        ProcessTransport::start(&self.core, spawned, protocol)
    }
}
