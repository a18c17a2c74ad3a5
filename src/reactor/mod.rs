//! The loop: a mio `Poll`, the handle table of live objects, delayed calls,
//! calls from other threads, and callbacks deferred to the next turn.
//!
//! Re-entrancy rule: no `RefCell` of the core is borrowed while user code
//! runs, so a callback may call anything on its reactor (except running it).

mod cross_thread;
mod delayed_call;
pub mod handles;
mod timers;

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mio::{Interest, Token};

pub use cross_thread::Stopper;
pub(crate) use cross_thread::{
    lift_restriction as lift_registry_restriction, lookup as lookup_reactor, restrict as restrict_registry,
    slot_is_live, Serial, SLOT_BITS,
};
pub use delayed_call::DelayedCall;
use handles::{Handle, HandleTable, HANDLE_BITS};
pub(crate) use timers::TimerCallback;
use timers::Timers;

use crate::error::{ErrorKind, Result};
use crate::transport::TransportOps;

/// Size of the one read buffer each reactor reuses for every read.
pub(crate) const READ_BUFFER_SIZE: usize = 64 * 1024;
const WAKER: Token = Token(usize::MAX);

/// What the poll reported for one descriptor.
#[derive(Debug, Clone, Copy, Default)]
pub struct Readiness {
    pub readable: bool,
    pub writable: bool,
    pub priority: bool,
    pub error: bool,
    pub read_closed: bool,
    pub write_closed: bool,
}

/// Anything the reactor owns and dispatches to: listeners, transports, …
pub(crate) trait Object: Any {
    /// One of this object's descriptors (number `sub`) is ready.
    fn ready(self: Rc<Self>, core: &Rc<Core>, sub: u8, readiness: Readiness);
    /// The transport calls, for objects that are transports.
    fn into_transport(self: Rc<Self>) -> Option<Rc<dyn TransportOps>> {
        None
    }
    /// The reactor is being freed: close and deliver final callbacks now.
    fn shutdown(self: Rc<Self>, core: &Rc<Core>);
    /// The object as `Any`, for [`Core::object_as`] (every impl returns `self`).
    fn into_any(self: Rc<Self>) -> Rc<dyn Any>;
}

type Deferred = Box<dyn FnOnce(&Rc<Core>)>;

/// The reactor's state, shared by the handles that point into it.
pub struct Core {
    pub(crate) serial: Serial,
    poll: RefCell<mio::Poll>,
    events: RefCell<mio::Events>,
    registry: mio::Registry,
    objects: RefCell<HandleTable<Rc<dyn Object>>>,
    timers: RefCell<Timers>,
    deferred: RefCell<VecDeque<Deferred>>,
    read_buf: RefCell<Box<[u8]>>,
    shared: Arc<cross_thread::Shared>,
    running: Cell<bool>,
    /// Counts turns: lets a transport tell whether it already wrote to the
    /// kernel during this turn (see the TCP write path).
    turns: Cell<u64>,
    shutting_down: Cell<bool>,
}

/// A reactor. The value returned by [`Reactor::new`] owns the loop: dropping
/// it closes every connection (delivering their final callbacks). The
/// `&Reactor` passed to callbacks is a view that owns nothing.
pub struct Reactor {
    pub(crate) core: Rc<Core>,
    owner: bool,
}

impl Reactor {
    /// Creates a reactor belonging to the calling thread. `Exhausted` when
    /// 4,096 reactors are live, or no registry slot is left (after about
    /// 2^40 reactors).
    pub fn new() -> Result<Reactor> {
        crate::sys::ignore_sigpipe_if_default();
        let poll = mio::Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = mio::Waker::new(poll.registry(), WAKER)?;
        let shared = Arc::new(cross_thread::Shared {
            waker,
            calls: Mutex::new(Vec::new()),
            has_calls: Default::default(),
            stop: Default::default(),
        });
        let (serial, lineage) = cross_thread::register(&shared)?;
        let core = Rc::new(Core {
            serial,
            poll: RefCell::new(poll),
            events: RefCell::new(mio::Events::with_capacity(1024)),
            registry,
            objects: RefCell::new(lineage.objects.identities()),
            timers: RefCell::new(Timers::new(lineage.timers.identities())),
            deferred: RefCell::default(),
            read_buf: RefCell::new(vec![0u8; READ_BUFFER_SIZE].into_boxed_slice()),
            shared,
            running: Cell::new(false),
            turns: Cell::new(0),
            shutting_down: Cell::new(false),
        });
        Ok(Reactor { core, owner: true })
    }

    pub(crate) fn view(core: &Rc<Core>) -> Reactor {
        Reactor { core: core.clone(), owner: false }
    }

    /// Runs until [`Reactor::stop`] (or a [`Stopper`]) is called.
    pub fn run(&self) -> Result<()> {
        self.core.enter()?;
        let result = loop {
            if self.core.shared.stop.swap(false, Ordering::AcqRel) {
                break Ok(());
            }
            if let Err(e) = self.core.turn(None) {
                break Err(e);
            }
        };
        self.core.running.set(false);
        result
    }

    /// Runs one turn: waits up to `timeout` (`None` = until something
    /// happens, zero = just poll), then handles what is ready.
    pub fn run_once(&self, timeout: Option<Duration>) -> Result<()> {
        self.core.enter()?;
        let result = self.core.turn(timeout);
        self.core.running.set(false);
        result
    }

    /// Makes `run` return at its next turn. From another thread, use a
    /// [`Stopper`].
    pub fn stop(&self) {
        self.stopper().stop()
    }

    /// A thread-safe handle for stopping the reactor and calling into it.
    pub fn stopper(&self) -> Stopper {
        Stopper { shared: self.core.shared.clone() }
    }

    /// Runs `f` once after `delay`. Calls due at the same time run in the
    /// order they were scheduled. A deadline more than about 584 years after
    /// the reactor was made is `InvalidArgument`.
    pub fn call_later(&self, delay: Duration, f: impl FnOnce(&Reactor) + 'static) -> Result<DelayedCall> {
        let h = self.schedule(delay, TimerCallback::Boxed(Box::new(f)))?;
        Ok(DelayedCall::new(&self.core, h))
    }

    /// `call_later` for any kind of callback; returns the table handle.
    /// Refused (`Reentrant`) while the reactor is being freed: the call
    /// would never run.
    pub(crate) fn schedule(&self, delay: Duration, callback: TimerCallback) -> Result<Handle> {
        if self.core.shutting_down.get() {
            return Err(ErrorKind::Reentrant.into());
        }
        self.core.timers.borrow_mut().schedule(delay, callback)
    }

    /// The epoll descriptor: when it polls readable, `run_once(Some(0))`
    /// has work to do. For embedding in another event loop.
    pub fn backend_fd(&self) -> RawFd {
        self.core.poll.borrow().as_raw_fd()
    }

    /// How long the loop may sleep before a delayed call is due (`None` when
    /// none is pending). For embedding: the foreign loop's timeout.
    pub fn next_timeout(&self) -> Option<Duration> {
        if !self.core.deferred.borrow().is_empty() {
            return Some(Duration::ZERO);
        }
        self.core.timers.borrow().until_next()
    }

    /// Number of live objects (transports, listening ports) the loop owns.
    pub fn object_count(&self) -> usize {
        self.core.objects.borrow().len()
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        if self.owner {
            self.core.shutdown();
        }
    }
}

impl Core {
    fn enter(&self) -> Result<()> {
        // Also refused while the reactor is being freed: its final callbacks
        // run from inside the free.
        if self.shutting_down.get() || self.running.replace(true) {
            return Err(ErrorKind::Reentrant.into());
        }
        Ok(())
    }

    /// True while a turn is running (a callback is on the stack).
    pub(crate) fn is_running(&self) -> bool {
        self.running.get()
    }

    /// The number of the current turn (changes at the start of each).
    pub(crate) fn turn_number(&self) -> u64 {
        self.turns.get()
    }

    fn turn(self: &Rc<Self>, timeout: Option<Duration>) -> Result<()> {
        self.turns.set(self.turns.get().wrapping_add(1));
        let mut wait = timeout;
        if !self.deferred.borrow().is_empty() || self.shared.has_calls.load(Ordering::Acquire) {
            wait = Some(Duration::ZERO);
        } else if let Some(until) = self.timers.borrow().until_next() {
            wait = Some(wait.map_or(until, |w| w.min(until)));
        }
        let mut events = self.events.borrow_mut();
        match self.poll.borrow_mut().poll(&mut events, wait) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
        for event in events.iter() {
            if event.token() == WAKER {
                continue;
            }
            let readiness = Readiness {
                readable: event.is_readable(),
                writable: event.is_writable(),
                priority: event.is_priority(),
                error: event.is_error(),
                read_closed: event.is_read_closed(),
                write_closed: event.is_write_closed(),
            };
            let (handle, sub) = decode_token(event.token());
            let object = self.objects.borrow().get(handle).cloned();
            if let Some(object) = object {
                object.ready(self, sub, readiness);
            }
        }
        drop(events);
        self.run_thread_calls();
        self.run_timers();
        self.run_deferred();
        Ok(())
    }

    fn run_thread_calls(self: &Rc<Self>) {
        if !self.shared.has_calls.swap(false, Ordering::AcqRel) {
            return;
        }
        let calls = std::mem::take(&mut *self.shared.calls.lock().unwrap_or_else(|e| e.into_inner()));
        let view = Reactor::view(self);
        for call in calls {
            call(&view);
        }
    }

    fn run_timers(self: &Rc<Self>) {
        let turn = self.timers.borrow().begin_turn();
        let view = Reactor::view(self);
        loop {
            let due = self.timers.borrow_mut().pop_due(turn);
            match due {
                Some(callback) => callback.run(&view),
                None => break,
            }
        }
        self.timers.borrow_mut().end_turn();
    }

    fn run_deferred(self: &Rc<Self>) {
        let count = self.deferred.borrow().len();
        for _ in 0..count {
            let next = self.deferred.borrow_mut().pop_front();
            match next {
                Some(f) => f(self),
                None => break,
            }
        }
    }

    /// Runs `f` at the end of this turn (or the next, if one is running
    /// deferred calls now). Used for every "never from inside the user's
    /// call" notification.
    pub(crate) fn defer(&self, f: impl FnOnce(&Rc<Core>) + 'static) {
        self.deferred.borrow_mut().push_back(Box::new(f));
    }

    /// Adds an object and returns its handle. Refused (`Reentrant`) while the
    /// reactor is being freed: an object made from a final callback would be
    /// dropped without ever getting its own final callback. `Exhausted`
    /// when the object table has no handle left.
    pub(crate) fn insert(&self, object: Rc<dyn Object>) -> Result<Handle> {
        if self.shutting_down.get() {
            return Err(ErrorKind::Reentrant.into());
        }
        self.objects.borrow_mut().insert(object)
    }

    /// Removes an object; its handle becomes stale.
    pub(crate) fn remove(&self, h: Handle) -> Option<Rc<dyn Object>> {
        self.objects.borrow_mut().remove(h)
    }

    /// The live object `h` names.
    pub(crate) fn object(&self, h: Handle) -> Result<Rc<dyn Object>> {
        self.objects.borrow().get(h).cloned().ok_or_else(|| ErrorKind::StaleHandle.into())
    }

    /// The live object `h` names, as the concrete type `T`.
    pub(crate) fn object_as<T: Object>(&self, h: Handle) -> Result<Rc<T>> {
        self.object(h)?.into_any().downcast::<T>().map_err(|_| ErrorKind::WrongHandleType.into())
    }

    /// Registers descriptor `fd` for object `h` (sub-descriptor `sub`).
    pub(crate) fn register(&self, fd: RawFd, h: Handle, sub: u8, interest: Interest) -> io::Result<()> {
        self.registry.register(&mut mio::unix::SourceFd(&fd), encode_token(h, sub), interest)
    }

    /// Stops watching `fd` (before it is closed).
    pub(crate) fn deregister(&self, fd: RawFd) {
        let _ = self.registry.deregister(&mut mio::unix::SourceFd(&fd));
    }

    /// The reactor's read buffer. Borrowed only for the length of one read
    /// and its data callback; callbacks never trigger reads synchronously.
    pub(crate) fn read_buffer(&self) -> std::cell::RefMut<'_, Box<[u8]>> {
        self.read_buf.borrow_mut()
    }

    pub(crate) fn timers(&self) -> std::cell::RefMut<'_, Timers> {
        self.timers.borrow_mut()
    }

    /// True once the reactor is being freed.
    pub(crate) fn shutting_down(&self) -> bool {
        self.shutting_down.get()
    }

    /// Schedules an internal timer; the callback gets the core.
    pub(crate) fn call_later_internal(
        self: &Rc<Self>,
        delay: Duration,
        f: impl FnOnce(&Rc<Core>) + 'static,
    ) -> Option<Handle> {
        if self.shutting_down.get() {
            return None;
        }
        let callback = TimerCallback::Boxed(Box::new(move |r: &Reactor| f(&r.core)));
        self.timers.borrow_mut().schedule(delay, callback).ok()
    }

    /// Closes everything and delivers the final callbacks (what dropping the
    /// owning [`Reactor`] does); later calls do nothing. The C layer calls it
    /// while the reactor is still registered as this thread's, so those
    /// callbacks can use their handles.
    pub(crate) fn shutdown(self: &Rc<Self>) {
        if self.shutting_down.replace(true) {
            return;
        }
        let handles = self.objects.borrow().handles();
        for h in handles {
            let object = self.objects.borrow().get(h).cloned();
            if let Some(object) = object {
                object.shutdown(self);
            }
        }
        // Final notifications were deferred: deliver them before freeing.
        for _ in 0..16 {
            if self.deferred.borrow().is_empty() {
                break;
            }
            self.run_deferred();
        }
        self.release();
    }

    /// Tears the reactor down without calling back: for a reactor nobody
    /// freed, from a thread-local destructor when its thread ends or the
    /// process exits, when the pointers its callbacks would get may be
    /// gone. Descriptors close as their objects drop; pending calls are
    /// dropped; children are neither signalled nor reaped. Later calls (and
    /// `shutdown`) do nothing.
    pub(crate) fn abandon(self: &Rc<Self>) {
        if self.shutting_down.replace(true) {
            return;
        }
        self.release();
    }

    /// Drops every object, pending call and deferred callback, and gives
    /// the serial back. Each is taken out before it is dropped: dropping an
    /// object may call back into the core.
    fn release(self: &Rc<Self>) {
        let callbacks = self.timers.borrow_mut().clear();
        drop(callbacks);
        let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
        drop(deferred);
        let handles = self.objects.borrow().handles();
        for h in handles {
            let object = self.objects.borrow_mut().remove(h);
            drop(object);
        }
        let lineage = cross_thread::Lineage {
            objects: self.objects.take().identities(),
            timers: self.timers.borrow_mut().take_table().identities(),
        };
        cross_thread::unregister(self.serial, lineage);
    }

    /// Test hook: restricts this reactor's object and timer tables (see
    /// [`HandleTable::restrict`]).
    pub(crate) fn restrict_tables(&self, new_slots: u32, last_generation: u32) {
        self.objects.borrow_mut().restrict(new_slots, last_generation);
        self.timers.borrow_mut().restrict_table(new_slots, last_generation);
    }
}

/// A mio token: sub-descriptor (8 bits) | packed handle. Never the waker's
/// token (all bits set).
fn encode_token(h: Handle, sub: u8) -> Token {
    Token(((sub as usize) << HANDLE_BITS) | h.to_bits() as usize)
}

fn decode_token(t: Token) -> (Handle, u8) {
    (Handle::from_bits(t.0 as u64), (t.0 >> HANDLE_BITS) as u8)
}
