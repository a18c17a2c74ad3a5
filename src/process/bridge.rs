//! A process bridged to another transport, with the semantics of an SSH
//! session channel (Twisted conch's SSHSessionProcessProtocol):
//!
//! - data from the remote side ([`Bridge::feed`]) goes to the child's
//!   stdin; what arrives before [`Bridge::spawn`] is buffered and written
//!   when the child starts; [`Bridge::remote_eof`] closes the child's stdin
//!   once that data is written;
//! - the child's stdout is written to the remote transport, its stderr goes
//!   to [`BridgeHandler::extended_data`] (or to the remote transport too,
//!   with `merge_stderr`);
//! - EOF (lose_write_connection) is sent to the remote side only once both
//!   stdout and stderr have closed;
//! - when the process ends, [`BridgeHandler::exit_signal`] (name without
//!   "SIG", core-dumped flag) or else [`BridgeHandler::exit_status`] is
//!   called — signal wins — and then the remote transport is closed with
//!   lose_connection, which sends what is still queued first;
//! - the remote transport's write queue pauses the child's output (the
//!   process is registered as its streaming producer when possible), and
//!   the child's stdin queue pauses reading from the remote transport (a
//!   streaming producer on the process transport), so data the child does
//!   not read is not buffered without bound. (What is fed before
//!   [`Bridge::spawn`] is buffered as it comes: the caller bounds that.)
//! - when the remote side goes ([`Bridge::close`], or the remote transport
//!   closing under the bridge), the child is hung up: input still queued
//!   for it is dropped and its pty or pipes are closed at once, since
//!   nobody is left to read its output (closing a pty's master is a
//!   terminal hang-up), and its process group gets SIGHUP (unless the
//!   child has already closed all its output: it is exiting, and gets no
//!   SIGHUP that would spoil its exit status); if it is still
//!   there after the grace period ([`Bridge::set_hangup_grace`], default
//!   [`DEFAULT_HANGUP_GRACE`]), the group gets SIGKILL. The child runs in a
//!   session of its own, so the group is the child and what it started.
//!   Signals go to the group only while the child itself has not been
//!   reaped (its pid is the group's id, which may afterwards name another
//!   group): a grandchild that ignores SIGHUP and outlives the child is
//!   left alone.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::Duration;

use super::{signal_name, Process, ProcessProtocol, ProcessSpec};
use crate::error::{ErrorKind, Result};
use crate::reactor::handles::Handle;
use crate::reactor::{Core, Object, Readiness, Reactor};
use crate::transport::{Producer, Reason, Transport};

/// How long a hung-up child has to end after SIGHUP before its process
/// group gets SIGKILL.
pub const DEFAULT_HANGUP_GRACE: Duration = Duration::from_secs(5);

/// What the bridge's owner is told. Every method has a default.
pub trait BridgeHandler {
    /// The child wrote `data` on stderr (SSH "extended data"); only called
    /// when stderr is not merged into the remote stream. Default: dropped.
    fn extended_data(&mut self, _remote: &Transport, _data: &[u8]) {}
    /// The child exited with `code` (SSH "exit-status"). Called before the
    /// remote transport is closed; it has already had EOF, so an in-band
    /// trailer cannot be written to a plain byte stream.
    fn exit_status(&mut self, _remote: &Transport, _code: i32) {}
    /// The child was killed by signal `name` ("TERM", "SEGV", "BUS@linux",
    /// …) (SSH "exit-signal").
    fn exit_signal(&mut self, _remote: &Transport, _name: &str, _core_dumped: bool) {}
    /// The process has ended (after exit_status / exit_signal); `reason` is
    /// its reason (SHUTDOWN when the reactor was freed first;
    /// ExitStatusUnknown, without exit_status or exit_signal, when the host
    /// took the child's status).
    fn process_ended(&mut self, _remote: &Transport, _reason: &Reason) {}
}

#[derive(Default)]
struct Stage {
    process: Option<Process>,
    started: bool,
    buffered: Vec<u8>,
    eof_pending: bool,
    stdout_open: bool,
    stderr_open: bool,
    eof_sent: bool,
}

pub(crate) struct BridgeInner {
    handle: Cell<Option<Handle>>,
    remote: Transport,
    merge_stderr: bool,
    handler: RefCell<Option<Box<dyn BridgeHandler>>>,
    stage: RefCell<Stage>,
    /// Our [`InputFlow`] is registered on the process transport.
    input_flow: Cell<bool>,
    /// SIGKILL this long after the hang-up; None: never.
    grace: Cell<Option<Duration>>,
    /// The remote side is gone and the child was hung up.
    hung_up: Cell<bool>,
    /// The SIGKILL timer, while it is pending.
    kill_timer: Cell<Option<Handle>>,
}

/// A handle to a bridge (see the module documentation). Stale after
/// [`Bridge::close`] or when the reactor is freed.
#[derive(Clone)]
pub struct Bridge {
    core: Weak<Core>,
    pub(crate) handle: Handle,
}

impl Bridge {
    /// Bridges the live transport `remote` to a process started later with
    /// [`Bridge::spawn`].
    pub fn new(remote: &Transport, merge_stderr: bool, handler: Box<dyn BridgeHandler>) -> Result<Bridge> {
        remote.queued()?; // fails unless remote is a live transport
        let core = remote.core()?;
        let inner = Rc::new(BridgeInner {
            handle: Cell::new(None),
            remote: remote.clone(),
            merge_stderr,
            handler: RefCell::new(Some(handler)),
            stage: RefCell::default(),
            input_flow: Cell::new(false),
            grace: Cell::new(Some(DEFAULT_HANGUP_GRACE)),
            hung_up: Cell::new(false),
            kill_timer: Cell::new(None),
        });
        let h = core.insert(inner.clone())?;
        inner.handle.set(Some(h));
        Ok(Bridge { core: Rc::downgrade(&core), handle: h })
    }

    pub(crate) fn from_handle(core: &Rc<Core>, handle: Handle) -> Bridge {
        Bridge { core: Rc::downgrade(core), handle }
    }

    pub(crate) fn reactor_core(&self) -> Result<Rc<Core>> {
        self.core.upgrade().ok_or_else(|| ErrorKind::StaleHandle.into())
    }

    fn inner(&self) -> Result<(Rc<Core>, Rc<BridgeInner>)> {
        let core = self.core.upgrade().ok_or(ErrorKind::StaleHandle)?;
        let inner = core.object_as::<BridgeInner>(self.handle)?;
        Ok((core, inner))
    }

    /// Data from the remote side for the child's stdin (buffered until the
    /// child starts). After remote_eof → `Closed`.
    pub fn feed(&self, data: &[u8]) -> Result<()> {
        let (_, b) = self.inner()?;
        let process = {
            let mut st = b.stage.borrow_mut();
            if st.eof_pending {
                return Err(ErrorKind::Closed.into());
            }
            if !st.started {
                st.buffered.extend_from_slice(data);
                return Ok(());
            }
            st.process.clone()
        };
        match process {
            Some(p) => p.write(data),
            None => Err(ErrorKind::Closed.into()),
        }
    }

    /// The remote side sent EOF: the child's stdin is closed once what was
    /// fed has been written. (A pty has no separate stdin: ignored.)
    pub fn remote_eof(&self) -> Result<()> {
        let (_, b) = self.inner()?;
        let process = {
            let mut st = b.stage.borrow_mut();
            if std::mem::replace(&mut st.eof_pending, true) || !st.started {
                return Ok(());
            }
            st.process.clone()
        };
        if let Some(p) = process {
            if !p.is_pty().unwrap_or(true) {
                // The remote side has sent everything: its reading no longer produces the
                // child's input (a registered producer would hold stdin open).
                b.release_input(&p);
                let _ = p.close_stdin();
            }
        }
        Ok(())
    }

    /// Starts the child and writes what was fed so far. Once only
    /// (`InvalidState` the second time); spawn errors as for
    /// [`Reactor::spawn_process`]. The child always runs in a session of
    /// its own ([`ProcessSpec::new_session`]), as sshd runs a session's
    /// command, so that it can be hung up as a group when the remote side
    /// goes ([`Bridge::close`]).
    pub fn spawn(&self, spec: &ProcessSpec) -> Result<Process> {
        let (core, b) = self.inner()?;
        if b.stage.borrow().started {
            return Err(ErrorKind::InvalidState.into());
        }
        b.remote.queued()?;
        let reactor = Reactor::view(&core);
        let spec = spec.clone().new_session(true);
        let p = reactor.spawn_process(&spec, Box::new(BridgeProcess { bridge: b.clone() }))?;
        let (buffered, eof) = {
            let mut st = b.stage.borrow_mut();
            st.started = true;
            st.process = Some(p.clone());
            st.stdout_open = true;
            st.stderr_open = !spec.pty && spec.fd_map().iter().any(|(fd, _)| *fd == 2);
            (std::mem::take(&mut st.buffered), st.eof_pending)
        };
        if !buffered.is_empty() {
            p.write(&buffered)?;
        }
        if eof && !spec.pty {
            p.close_stdin()?;
        }
        let _ = b.remote.register_producer(Box::new(Pause { process: p.clone(), bridge: b.clone() }), true);
        // After the remote side's EOF there is no more input to pace (and a producer
        // would hold the closing stdin open).
        if !eof && p.register_producer(Box::new(InputFlow(b.remote.clone())), true).is_ok() {
            b.input_flow.set(true);
        }
        Ok(p)
    }

    /// How long the child has, once hung up (see [`Bridge::close`]), to
    /// end after SIGHUP before its process group gets SIGKILL; None: never
    /// (SIGHUP only). Default [`DEFAULT_HANGUP_GRACE`]. Takes effect for a
    /// hang-up that comes after the call.
    pub fn set_hangup_grace(&self, grace: Option<Duration>) -> Result<()> {
        self.inner()?.1.grace.set(grace);
        Ok(())
    }

    /// The process, once started.
    pub fn process(&self) -> Result<Option<Process>> {
        Ok(self.inner()?.1.stage.borrow().process.clone())
    }

    /// The remote side is gone (call it from its connection_lost): the
    /// child is hung up (see the module documentation: its input dropped,
    /// its pty or pipes closed at once, SIGHUP to its group, SIGKILL after
    /// the grace period) and the handle becomes stale. The handler still
    /// gets exit_status / exit_signal / process_ended when the child ends.
    pub fn close(&self) -> Result<()> {
        let (core, b) = self.inner()?;
        if let Some(h) = b.handle.take() {
            core.remove(h);
        }
        b.hang_up(&core);
        Ok(())
    }
}

impl BridgeInner {
    /// The remote side is gone: nobody is left to read the child's output
    /// or to give it more input. Drops what is queued for it, closes its pty
    /// or pipes now (abort, not lose_connection: the queue would never
    /// drain, as its output is not read), and hangs up its process group,
    /// with SIGKILL after the grace period. Once only.
    ///
    /// A child that has already closed all its output (stdout and stderr,
    /// or the pty) is not sent SIGHUP: it is exiting (cat closes its
    /// streams from an atexit handler, then exits) or has detached from the
    /// session, and a hang-up would turn a clean exit status into
    /// exit-signal HUP. It gets only the SIGKILL, after the grace period.
    fn hang_up(self: &Rc<Self>, core: &Rc<Core>) {
        if self.hung_up.replace(true) {
            return;
        }
        let Some(p) = self.stage.borrow().process.clone() else { return };
        let output_open = {
            let st = self.stage.borrow();
            st.stdout_open || st.stderr_open
        };
        self.release_input(&p);
        let _ = p.abort_connection();
        if output_open && p.signal_group(libc::SIGHUP).is_err() {
            return; // already reaped: nothing is left to kill
        }
        if let Some(grace) = self.grace.get() {
            let me = self.clone();
            let timer = core.call_later_internal(grace, move |_| {
                me.kill_timer.set(None);
                let _ = p.signal_group(libc::SIGKILL);
            });
            self.kill_timer.set(timer);
        }
    }

    /// The child has ended: the SIGKILL, if pending, is not needed.
    fn cancel_kill(&self, core: &Rc<Core>) {
        if let Some(h) = self.kill_timer.take() {
            core.timers().cancel(h);
        }
    }

    /// Unregisters our [`InputFlow`] from the process (a registered producer
    /// would hold its pipes open through lose_connection) and lets the
    /// remote side be read again.
    fn release_input(&self, p: &Process) {
        if self.input_flow.replace(false) {
            let _ = p.unregister_producer();
            let _ = self.remote.resume_producing();
        }
    }

    fn with_handler(&self, f: impl FnOnce(&mut dyn BridgeHandler)) {
        let taken = self.handler.borrow_mut().take();
        if let Some(mut h) = taken {
            f(h.as_mut());
            let mut slot = self.handler.borrow_mut();
            if slot.is_none() {
                *slot = Some(h);
            }
        }
    }

    fn maybe_eof(&self) {
        let send = {
            let mut st = self.stage.borrow_mut();
            let send = !st.stdout_open && !st.stderr_open && !st.eof_sent;
            if send {
                st.eof_sent = true;
            }
            send
        };
        if send {
            let _ = self.remote.lose_write_connection();
        }
    }
}

/// The process side of a bridge.
struct BridgeProcess {
    bridge: Rc<BridgeInner>,
}

impl ProcessProtocol for BridgeProcess {
    fn child_data_received(&mut self, _p: &Process, fd: i32, data: &[u8]) {
        let b = &self.bridge;
        if fd == 1 || (fd == 2 && b.merge_stderr) {
            let _ = b.remote.write(data);
        } else if fd == 2 {
            b.with_handler(|h| h.extended_data(&b.remote, data));
        }
    }

    fn child_connection_lost(&mut self, p: &Process, fd: i32) {
        // The child's input is gone (stdin, or the pty itself).
        if fd == 0 || (fd == 1 && p.is_pty().unwrap_or(false)) {
            self.bridge.release_input(p);
        }
        {
            let mut st = self.bridge.stage.borrow_mut();
            match fd {
                1 => st.stdout_open = false,
                2 => st.stderr_open = false,
                _ => return,
            }
        }
        self.bridge.maybe_eof();
    }

    fn process_ended(&mut self, p: &Process, reason: &Reason) {
        let b = &self.bridge;
        if let Ok(core) = p.core() {
            b.cancel_kill(&core);
        }
        // Both streams are closed by now; make sure EOF went out first.
        {
            let mut st = b.stage.borrow_mut();
            st.stdout_open = false;
            st.stderr_open = false;
        }
        b.maybe_eof();
        let remote = &b.remote;
        b.with_handler(|h| {
            if let Some(exit) = reason.exit() {
                match (exit.signal, exit.code) {
                    (Some(sig), _) => h.exit_signal(remote, signal_name(sig).unwrap_or("UNKNOWN"), exit.core_dumped),
                    (None, Some(code)) => h.exit_status(remote, code),
                    (None, None) => {}
                }
            }
            h.process_ended(remote, reason);
        });
        let _ = remote.unregister_producer();
        let _ = remote.lose_connection();
        b.stage.borrow_mut().process = None;
    }
}

/// Pauses the child's output while the remote transport's queue is full.
struct Pause {
    process: Process,
    bridge: Rc<BridgeInner>,
}

impl Producer for Pause {
    fn pause_producing(&self, _t: &Transport) {
        let _ = self.process.pause_producing();
    }
    fn resume_producing(&self, _t: &Transport) {
        let _ = self.process.resume_producing();
    }
    /// The remote transport has closed: hang the child up, even if the
    /// owner never calls [`Bridge::close`].
    fn stop_producing(&self, t: &Transport) {
        if let Ok(core) = t.core() {
            self.bridge.hang_up(&core);
        }
    }
}

/// Pauses reading from the remote transport while the child's stdin queue
/// is full (registered on the process transport).
struct InputFlow(Transport);

impl Producer for InputFlow {
    fn pause_producing(&self, _p: &Transport) {
        let _ = self.0.pause_producing();
    }
    fn resume_producing(&self, _p: &Transport) {
        let _ = self.0.resume_producing();
    }
    fn stop_producing(&self, _p: &Transport) {
        // The process side is gone: let the remote side be read again.
        let _ = self.0.resume_producing();
    }
}

impl Object for BridgeInner {
    fn ready(self: Rc<Self>, _core: &Rc<Core>, _sub: u8, _r: Readiness) {}

    fn shutdown(self: Rc<Self>, core: &Rc<Core>) {
        if let Some(h) = self.handle.take() {
            core.remove(h);
        }
    }

    fn into_any(self: Rc<Self>) -> Rc<dyn Any> {
        self
    }
}
