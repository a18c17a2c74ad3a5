//! The engine: a marline reactor on a thread of its own, owning the
//! stream's sockets. Callers' operations arrive through
//! `Stopper::call_from_thread`; answers go back through [`Shared`].
//!
//! Operations run in two lanes, one operation each: receiving (rcv) and
//! sending (send, close, and an active open, which also holds the
//! receiving lane back). So one thread may receive while another sends,
//! for example an asr receiving while the program is blocked in a send.
//!
//! The opening, transfer and closing operations live in their own files;
//! this one holds the thread, the object the reactor dispatches to, and
//! what every operation shares: replies, timers, termination and
//! notifications. The engine never runs user code and never waits for
//! another thread: notifications go to the asr thread's queue.

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

use super::codes::{Event, TcpState, TerminateReason};
use super::shared::{Reply, Shared};
use crate::error::{Error, ErrorKind, Result};
use crate::reactor::handles::Handle;
use crate::reactor::{Core, DelayedCall, Object, Reactor, Readiness, Stopper};

/// Sub-descriptor numbers of the engine's two sockets.
pub(super) const LISTENER: u8 = 0;
pub(super) const CONNECTION: u8 = 1;

/// A request from the caller's thread.
pub(crate) enum Op {
    PassiveOpen { local: std::net::SocketAddr },
    ActiveOpen { local_port: u16, targets: Vec<std::net::SocketAddr>, timeout: Option<Duration> },
    Send { data: Vec<u8>, push: bool, urgent: bool },
    Rcv { cap: usize, timeout: Option<Duration> },
    Close { timeout: Option<Duration> },
    Abort,
    SetUlp { ulp: Option<super::ulp::Ulp> },
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

/// Which operations may be in progress together: one in each lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lane {
    Receive = 0,
    Send = 1,
}

/// An operation the engine is working on.
pub(super) enum Pending {
    Connect(super::open::Connect),
    Send { data: Vec<u8>, pos: usize, push: bool, urgent: bool },
    Rcv { cap: usize },
    Close,
}

impl Pending {
    fn lane(&self) -> Lane {
        match self {
            Pending::Rcv { .. } => Lane::Receive,
            Pending::Connect(_) | Pending::Send { .. } | Pending::Close => Lane::Send,
        }
    }
}

/// An operation in progress: whose answer it is, and its time limit.
pub(super) struct Call {
    ticket: u64,
    op: Pending,
    deadline: Option<DelayedCall>,
}

pub(super) struct State {
    pub phase: Phase,
    pub listener: Option<Socket>,
    pub conn: Option<Arc<Socket>>,
    /// The operation in progress in each lane (indexed by [`Lane`]).
    calls: [Option<Call>; 2],
    /// DATA_ARRIVAL was sent and no rcv has happened since.
    pub data_notified: bool,
    /// URGENT was sent for the urgent mark not yet read.
    pub urgent_notified: bool,
    /// A rcv returned the first piece of the urgent data not yet read up
    /// to its mark (that piece had the urgent flag; the next ones do not).
    pub urgent_returned: bool,
    /// The peer's end of stream has been reached (CLOSING was sent).
    pub peer_done: bool,
    /// close() was called: our side is shut down.
    pub write_closed: bool,
    /// close() completed: everything we sent, FIN included, is acknowledged.
    pub close_done: bool,
    /// The ULP timeout setting, for every connection of the stream.
    pub ulp: Option<super::ulp::Ulp>,
    /// The report action's clock, while data is unacknowledged.
    pub ulp_clock: Option<super::ulp::Clock>,
}

impl State {
    /// The operation in progress in `lane`, if any.
    pub fn op(&mut self, lane: Lane) -> Option<&mut Pending> {
        self.calls[lane as usize].as_mut().map(|c| &mut c.op)
    }
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
                break Err(ErrorKind::Panic.into());
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
                calls: [None, None],
                data_notified: false,
                urgent_notified: false,
                urgent_returned: false,
                peer_done: false,
                write_closed: false,
                close_done: false,
                ulp: None,
                ulp_clock: None,
            }),
        });
        let h = r.core.insert(engine.clone())?;
        engine.handle.set(Some(h));
        Ok(h)
    }

    fn start(self: &Rc<Self>, core: &Rc<Core>, ticket: u64, op: Op) {
        if self.conflicts(&op) {
            return self.shared.reply(ticket, Err(ErrorKind::StreamBusy.into()));
        }
        let started = match op {
            Op::PassiveOpen { local } => self.passive_open(core, local).map(|()| Some(Reply::Done)),
            Op::ActiveOpen { local_port, targets, timeout } => self.active_open(core, ticket, local_port, targets, timeout),
            Op::Send { data, push, urgent } => self.send(core, ticket, data, push, urgent),
            Op::Rcv { cap, timeout } => self.rcv(core, ticket, cap, timeout),
            Op::Close { timeout } => self.close(core, ticket, timeout),
            Op::Abort => self.abort(core).map(Some),
            Op::SetUlp { ulp } => self.not_listening().and_then(|()| self.set_ulp(core, ulp)).map(|()| Some(Reply::Done)),
        };
        // Ok(None): answered already or pending; Ok(Some)/Err: answer now.
        match started {
            Ok(None) => {}
            Ok(Some(reply)) => self.shared.reply(ticket, Ok(reply)),
            Err(e) => self.shared.reply(ticket, Err(e)),
        }
    }

    /// Whether `op` must wait for an operation in progress: opening needs
    /// both lanes free, rcv the receiving one, send and close the sending
    /// one; nothing runs beside an active open. Abort always runs.
    fn conflicts(&self, op: &Op) -> bool {
        let st = self.st.borrow();
        let [receiving, sending] = [&st.calls[Lane::Receive as usize], &st.calls[Lane::Send as usize]];
        let connecting = matches!(sending, Some(Call { op: Pending::Connect(_), .. }));
        match op {
            Op::Abort | Op::SetUlp { .. } => false,
            Op::PassiveOpen { .. } | Op::ActiveOpen { .. } => receiving.is_some() || sending.is_some(),
            Op::Rcv { .. } => receiving.is_some() || connecting,
            Op::Send { .. } | Op::Close { .. } => sending.is_some(),
        }
    }

    pub(super) fn conn_fd(&self) -> Option<RawFd> {
        self.st.borrow().conn.as_ref().map(|s| s.as_raw_fd())
    }

    /// Fails while a passive open is in progress.
    fn not_listening(&self) -> Result<()> {
        match self.st.borrow().phase {
            Phase::Listening => Err(ErrorKind::PassiveOpenInProgress.into()),
            _ => Ok(()),
        }
    }

    /// Why a data operation cannot run in the current phase, if it cannot.
    pub(super) fn require_open(&self) -> Result<()> {
        match self.st.borrow().phase {
            Phase::Open => Ok(()),
            Phase::Idle | Phase::Connecting => Err(ErrorKind::NotConnected.into()),
            Phase::Listening => Err(ErrorKind::PassiveOpenInProgress.into()),
            Phase::Gone(_) => Err(ErrorKind::Terminated.into()),
        }
    }

    /// Makes `pending` the operation in progress in its lane, limited by
    /// `timeout`.
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
        let lane = pending.lane();
        self.st.borrow_mut().calls[lane as usize] = Some(Call { ticket, op: pending, deadline });
    }

    /// Ends the operation in progress in `lane` with `result`.
    pub(super) fn finish(&self, lane: Lane, result: Result<Reply>) {
        let call = self.st.borrow_mut().calls[lane as usize].take();
        if let Some(call) = call {
            if let Some(d) = call.deadline {
                let _ = d.cancel();
            }
            self.shared.reply(call.ticket, result);
        }
    }

    fn time_limit_passed(self: &Rc<Self>, core: &Rc<Core>, ticket: u64) {
        let found = {
            let mut st = self.st.borrow_mut();
            st.calls.iter_mut().flatten().find(|c| c.ticket == ticket).map(|c| {
                c.deadline = None; // it has fired
                (c.op.lane(), matches!(c.op, Pending::Connect(_)), matches!(c.op, Pending::Close))
            })
        };
        match found {
            None => {}
            Some((_, true, _)) => self.connect_timed_out(core),
            Some((lane, _, true)) => {
                self.notify(Event::UlpTimeout, 0);
                self.finish(lane, Err(ErrorKind::TimedOut.into()));
            }
            Some((lane, _, _)) => self.finish(lane, Err(ErrorKind::TimedOut.into())),
        }
    }

    /// Queues a notification for the asr thread. Each is queued before the
    /// reply or state change that goes with it, so that once a call has
    /// returned, the notifications it caused are queued (for the routine
    /// set then).
    pub(super) fn notify(&self, event: Event, detail: i32) {
        self.shared.notifier.post(event, detail);
    }

    /// Closes the connection socket (with RST when `reset`), forgets it.
    pub(super) fn drop_connection(&self, core: &Rc<Core>, reset: bool) {
        self.stop_ulp_clock();
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
        self.notify(Event::Terminate, reason as i32);
        self.finish(Lane::Receive, Err(error.clone()));
        self.finish(Lane::Send, Err(error));
    }

    /// An OS error on the connection: returns true when it ended the
    /// connection (terminated), false when it was an ICMP report.
    ///
    /// With IP_RECVERR, Linux reports an ICMP error (host or network
    /// unreachable, and the like) for an established connection as the
    /// socket's pending error, which POLLERR, SO_ERROR or the next send or
    /// recv returns once, while the connection goes on (TCP retransmits).
    /// A fatal error (reset, retransmission timeout) closes the connection
    /// first. So an ICMP errno on a connection whose state is not CLOSED
    /// is an ICMP report: as in MacTCP, ICMP_RECEIVED with the errno, and
    /// the stream stays open.
    pub(super) fn io_error(&self, core: &Rc<Core>, err: &std::io::Error) -> bool {
        let code = err.raw_os_error().unwrap_or(0);
        let alive = || self.conn_fd().is_some_and(|fd| matches!(super::status::tcp_state(fd), Ok(s) if s != TcpState::Closed));
        if super::codes::from_icmp(code) && alive() {
            self.notify(Event::IcmpReceived, code);
            return false;
        }
        let reason = if self.ulp_aborted(code) { TerminateReason::UlpTimeout } else { TerminateReason::from_errno(code) };
        self.terminate(core, reason, err.into(), false);
        true
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
                if self.io_error(core, &e) {
                    return;
                }
            }
        }
        // Each lane's operation looks for itself whether it can go on.
        self.continue_send(core);
        self.check_close(core);
        self.try_rcv(core);
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
            self.notify(Event::Urgent, 0);
        }
        if self.st.borrow().calls[Lane::Receive as usize].is_some() {
            return;
        }
        let unread = crate::sys::inq(fd).unwrap_or(0);
        if unread > 0 {
            if !std::mem::replace(&mut self.st.borrow_mut().data_notified, true) {
                self.notify(Event::DataArrival, 0);
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
        self.finish(Lane::Receive, Err(ErrorKind::StaleHandle.into()));
        self.finish(Lane::Send, Err(ErrorKind::StaleHandle.into()));
    }

    fn into_any(self: Rc<Self>) -> Rc<dyn Any> {
        self
    }
}

/// Registers a socket of the engine with the reactor.
pub(super) fn register(core: &Rc<Core>, engine: &Engine, fd: RawFd, sub: u8) -> Result<()> {
    let h = engine.handle.get().ok_or(ErrorKind::StaleHandle)?;
    let interest = if sub == LISTENER { Interest::READABLE } else { Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY };
    core.register(fd, h, sub, interest).map_err(Error::from)
}
