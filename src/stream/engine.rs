//! The engine: a marline reactor on a thread of its own, owning the
//! stream's sockets. Callers' operations arrive through
//! `Stopper::call_from_thread`; answers go back through [`Shared`].
//!
//! The opening, transfer and closing operations live in their own files;
//! this one holds the thread, the object the reactor dispatches to, and
//! what every operation shares: replies, timers, termination and
//! notifications.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::os::fd::{AsRawFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use mio::Interest;
use socket2::Socket;

use super::codes::{Event, TerminateReason};
use super::shared::{Reply, Shared};
use crate::error::{Error, Result};
use crate::reactor::handles::Handle;
use crate::reactor::{Core, DelayedCall, Object, Reactor, Readiness, Stopper};

/// Sub-descriptor numbers of the engine's two sockets.
pub(super) const LISTENER: u8 = 0;
pub(super) const CONNECTION: u8 = 1;

/// A request from the caller's thread.
pub(crate) enum Op {
    PassiveOpen { port: u16 },
    ActiveOpen { local_port: u16, targets: Vec<std::net::SocketAddr>, timeout: Option<Duration> },
    Send { data: Vec<u8>, push: bool, urgent: bool },
    Rcv { cap: usize, timeout: Option<Duration> },
    Close { timeout: Option<Duration> },
    Abort,
}

/// Where the stream's connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Never opened.
    Idle,
    Listening,
    Connecting,
    /// Connected: established, or in one of the closing states.
    Open,
    /// The connection terminated; a new open may reuse the stream.
    Gone(TerminateReason),
}

/// The operation the engine is working on (at most one; abort aside).
pub(super) enum Pending {
    Connect(super::open::Connect),
    Send { data: Vec<u8>, pos: usize, push: bool, urgent: bool },
    Rcv { cap: usize },
    Close,
}

pub(super) struct State {
    pub phase: Phase,
    pub listener: Option<Socket>,
    pub conn: Option<Arc<Socket>>,
    pub pending: Option<(u64, Pending)>,
    /// The time limit of the pending operation.
    pub deadline: Option<DelayedCall>,
    /// DATA_ARRIVAL was sent and no rcv has happened since.
    pub data_notified: bool,
    /// URGENT was sent for the urgent mark not yet read.
    pub urgent_notified: bool,
    /// The peer's end of stream has been reached (CLOSING was sent).
    pub peer_done: bool,
    /// close() was called: our side is shut down.
    pub write_closed: bool,
    /// close() completed: everything we sent, FIN included, is acknowledged.
    pub close_done: bool,
}

pub(crate) struct Engine {
    pub(super) shared: Arc<Shared>,
    pub(super) handle: Cell<Option<Handle>>,
    pub(super) st: RefCell<State>,
}

/// What the caller's side keeps of a running engine.
pub(crate) struct Link {
    pub stopper: Stopper,
    pub engine: Handle,
    pub thread: JoinHandle<()>,
}

/// Marks the shared record dead when the engine thread ends, however.
struct DeadOnDrop(Arc<Shared>);

impl Drop for DeadOnDrop {
    fn drop(&mut self) {
        self.0.mark_dead();
    }
}

/// The engine thread's first answer: its reactor's doorway, or why none.
/// (A mutex and condition variable rather than a channel: std's channels
/// allocate a thread handle for the waiting thread, which a C thread never
/// frees, and valgrind rightly reports it.)
type Ready = Arc<(Mutex<Option<Result<(Stopper, Handle)>>>, Condvar)>;

fn announce(ready: &Ready, value: Result<(Stopper, Handle)>) {
    *ready.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
    ready.1.notify_all();
}

/// Starts the engine thread and waits until its reactor is ready.
pub(crate) fn spawn(shared: Arc<Shared>) -> Result<Link> {
    let ready: Ready = Arc::new((Mutex::new(None), Condvar::new()));
    let tx = ready.clone();
    let thread = std::thread::Builder::new()
        .name("marline-stream".into())
        .spawn(move || {
            let _dead = DeadOnDrop(shared.clone());
            let setup = Reactor::new().and_then(|r| {
                let h = Engine::install(&r, shared)?;
                Ok((r, h))
            });
            match setup {
                Ok((reactor, h)) => {
                    announce(&tx, Ok((reactor.stopper(), h)));
                    // A panic here must still end in mark_dead, never hang a caller.
                    let _ = catch_unwind(AssertUnwindSafe(|| reactor.run()));
                    drop(reactor); // runs Engine::shutdown on this thread
                }
                Err(e) => announce(&tx, Err(e)),
            }
        })
        .map_err(Error::from)?;
    let answer = {
        let mut slot = ready.0.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(answer) = slot.take() {
                break answer;
            }
            if thread.is_finished() {
                break Err(Error::Panic);
            }
            slot = ready.1.wait_timeout(slot, Duration::from_millis(50)).unwrap_or_else(|e| e.into_inner()).0;
        }
    };
    match answer {
        Ok((stopper, engine)) => Ok(Link { stopper, engine, thread }),
        Err(e) => {
            let _ = thread.join();
            Err(e)
        }
    }
}

/// Runs `op` on the engine thread (the body of a call_from_thread).
pub(crate) fn start(r: &Reactor, h: Handle, ticket: u64, op: Op) {
    // Gone means shutting down: the caller is woken by mark_dead.
    if let Ok(engine) = r.core.object_as::<Engine>(h) {
        engine.start(&r.core, ticket, op);
    }
}

impl Engine {
    fn install(r: &Reactor, shared: Arc<Shared>) -> Result<Handle> {
        let engine = Rc::new(Engine {
            shared,
            handle: Cell::new(None),
            st: RefCell::new(State {
                phase: Phase::Idle,
                listener: None,
                conn: None,
                pending: None,
                deadline: None,
                data_notified: false,
                urgent_notified: false,
                peer_done: false,
                write_closed: false,
                close_done: false,
            }),
        });
        let h = r.core.insert(engine.clone())?;
        engine.handle.set(Some(h));
        Ok(h)
    }

    fn start(self: &Rc<Self>, core: &Rc<Core>, ticket: u64, op: Op) {
        crate::error::set_last_os_error(0); // replies carry this thread's errno
        if let Op::Abort = op {
            let result = self.abort(core);
            if ticket != 0 {
                self.shared.reply(ticket, result); // 0: queued from the asr, nobody waits
            }
            return;
        }
        if self.st.borrow().pending.is_some() {
            return self.shared.reply(ticket, Err(Error::StreamBusy));
        }
        let started = match op {
            Op::PassiveOpen { port } => self.passive_open(core, port).map(|()| Some(Reply::Done)),
            Op::ActiveOpen { local_port, targets, timeout } => self.active_open(core, ticket, local_port, targets, timeout),
            Op::Send { data, push, urgent } => self.send(core, ticket, data, push, urgent),
            Op::Rcv { cap, timeout } => self.rcv(core, ticket, cap, timeout),
            Op::Close { timeout } => self.close(core, ticket, timeout),
            Op::Abort => unreachable!("handled above"),
        };
        // Ok(None): answered already or pending; Ok(Some)/Err: answer now.
        match started {
            Ok(None) => {}
            Ok(Some(reply)) => self.shared.reply(ticket, Ok(reply)),
            Err(e) => self.shared.reply(ticket, Err(e)),
        }
    }

    pub(super) fn conn_fd(&self) -> Option<RawFd> {
        self.st.borrow().conn.as_ref().map(|s| s.as_raw_fd())
    }

    /// Why a data operation cannot run in the current phase, if it cannot.
    pub(super) fn require_open(&self) -> Result<()> {
        match self.st.borrow().phase {
            Phase::Open => Ok(()),
            Phase::Idle | Phase::Connecting => Err(Error::NotConnected),
            Phase::Listening => Err(Error::PassiveOpenInProgress),
            Phase::Gone(_) => Err(Error::Terminated),
        }
    }

    /// Makes `pending` the operation in progress, limited by `timeout`.
    pub(super) fn set_pending(self: &Rc<Self>, core: &Rc<Core>, ticket: u64, pending: Pending, timeout: Option<Duration>) {
        let deadline = timeout.and_then(|t| {
            let me = self.handle.get()?;
            Reactor::view(core)
                .call_later(t, move |r| {
                    if let Ok(e) = r.core.object_as::<Engine>(me) {
                        e.time_limit_passed(&r.core, ticket);
                    }
                })
                .ok()
        });
        let mut st = self.st.borrow_mut();
        st.pending = Some((ticket, pending));
        st.deadline = deadline;
    }

    /// Ends the operation in progress with `result`.
    pub(super) fn finish(&self, result: Result<Reply>) {
        let (pending, deadline) = {
            let mut st = self.st.borrow_mut();
            (st.pending.take(), st.deadline.take())
        };
        if let Some(d) = deadline {
            let _ = d.cancel();
        }
        if let Some((ticket, _)) = pending {
            self.shared.reply(ticket, result);
        }
    }

    fn time_limit_passed(self: &Rc<Self>, core: &Rc<Core>, ticket: u64) {
        let kind = {
            let st = self.st.borrow();
            match &st.pending {
                Some((t, p)) if *t == ticket => match p {
                    Pending::Connect(_) => 0,
                    Pending::Close => 1,
                    _ => 2,
                },
                _ => return,
            }
        };
        self.st.borrow_mut().deadline = None;
        match kind {
            0 => self.connect_timed_out(core),
            1 => {
                self.finish(Err(Error::TimedOut));
                self.notify(core, Event::UlpTimeout, 0);
            }
            _ => self.finish(Err(Error::TimedOut)),
        }
    }

    /// Queues a notification for the end of this loop turn: outside any
    /// caller's call and outside the engine's own borrows.
    pub(super) fn notify(&self, core: &Rc<Core>, event: Event, detail: i32) {
        let shared = self.shared.clone();
        core.defer(move |_| shared.deliver(event, detail));
    }

    /// Closes the connection socket (with RST when `reset`), forgets it.
    pub(super) fn drop_connection(&self, core: &Rc<Core>, reset: bool) {
        let conn = self.st.borrow_mut().conn.take();
        if let Some(sock) = conn {
            core.deregister(sock.as_raw_fd());
            if reset {
                let _ = sock.set_linger(Some(Duration::ZERO));
            }
            self.shared.update(|p| p.sock = None);
            drop(sock); // the fd closes once no status call holds it
        }
    }

    /// The connection is gone: close it, fail the operation in progress with
    /// `error`, and tell the routine why.
    pub(super) fn terminate(&self, core: &Rc<Core>, reason: TerminateReason, error: Error, reset: bool) {
        self.drop_connection(core, reset);
        self.st.borrow_mut().phase = Phase::Gone(reason);
        self.finish(Err(error));
        self.notify(core, Event::Terminate, reason as i32);
    }

    /// Terminates after an OS error on the connection.
    pub(super) fn fail_io(&self, core: &Rc<Core>, err: &std::io::Error) {
        let code = err.raw_os_error().unwrap_or(0);
        let error = crate::error::os_error(err);
        self.terminate(core, TerminateReason::from_errno(code), error, false);
    }

    fn on_connection(self: &Rc<Self>, core: &Rc<Core>, r: Readiness) {
        let phase = self.st.borrow().phase;
        if phase == Phase::Connecting {
            return self.connect_progress(core);
        }
        if phase != Phase::Open {
            return;
        }
        if r.error {
            let err = self.st.borrow().conn.as_ref().and_then(|s| s.take_error().ok().flatten());
            if let Some(e) = err {
                return self.fail_io(core, &e);
            }
        }
        let pending = self.st.borrow().pending.as_ref().map(|(_, p)| match p {
            Pending::Send { .. } => 1,
            Pending::Rcv { .. } => 2,
            Pending::Close => 3,
            Pending::Connect(_) => 0,
        });
        match pending {
            Some(1) => self.continue_send(core),
            Some(2) => self.try_rcv(core),
            Some(3) => self.check_close(core),
            _ => {}
        }
        self.watch(core);
    }

    /// Notifications for what arrived while no rcv was waiting.
    fn watch(&self, core: &Rc<Core>) {
        let Some(fd) = self.conn_fd() else { return };
        if self.st.borrow().phase != Phase::Open {
            return;
        }
        if !self.st.borrow().urgent_notified && matches!(crate::sys::urgent_pending(fd), Ok(true)) {
            self.st.borrow_mut().urgent_notified = true;
            self.notify(core, Event::Urgent, 0);
        }
        let receiving = matches!(self.st.borrow().pending, Some((_, Pending::Rcv { .. })));
        if receiving {
            return;
        }
        let unread = crate::sys::inq(fd).unwrap_or(0);
        if unread > 0 {
            if !std::mem::replace(&mut self.st.borrow_mut().data_notified, true) {
                self.notify(core, Event::DataArrival, 0);
            }
        } else {
            self.check_peer_done(core);
        }
    }
}

impl Object for Engine {
    fn ready(self: Rc<Self>, core: &Rc<Core>, sub: u8, readiness: Readiness) {
        match sub {
            LISTENER => self.accept(core),
            CONNECTION => self.on_connection(core, readiness),
            _ => {}
        }
    }

    /// The stream is being freed: close everything; a pending passive open
    /// is cancelled, a connection is closed as by close(2).
    fn shutdown(self: Rc<Self>, core: &Rc<Core>) {
        let listener = self.st.borrow_mut().listener.take();
        if let Some(l) = listener {
            core.deregister(l.as_raw_fd());
        }
        self.drop_connection(core, false);
        self.finish(Err(Error::StaleHandle));
    }

    fn into_any(self: Rc<Self>) -> Rc<dyn Any> {
        self
    }
}

/// Registers a socket of the engine with the reactor.
pub(super) fn register(core: &Rc<Core>, engine: &Engine, fd: RawFd, sub: u8) -> Result<()> {
    let h = engine.handle.get().ok_or(Error::StaleHandle)?;
    let interest = if sub == LISTENER { Interest::READABLE } else { Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY };
    core.register(fd, h, sub, interest).map_err(Error::from)
}
