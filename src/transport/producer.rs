//! Producer/consumer flow control shared by every transport.
//!
//! The slot lives in the connection whose write queue it watches. A transport that wraps
//! another (telnet) or is made of several streams (a process) registers its producers in
//! the slot of the stream that carries its writes, with itself as the *face*: the handle
//! the producer's calls receive. So one slot, and one lifecycle, decides for every layer.

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;

use super::{Producer, Transport, DEFAULT_HIGH_WATER};
use crate::error::{ErrorKind, Result};
use crate::reactor::Core;

/// The registered producer of a transport, and its pause state. The state
/// of a producer object is kept behind a pointer and created on first use
/// (most connections never have one: the slot stays at 16 bytes); the
/// transport's own reading as its producer needs no allocation, only one
/// byte (unless it is registered through another face).
#[derive(Default)]
pub(crate) struct ProducerSlot {
    inner: OnceCell<Rc<Inner>>,
    own_reading: Cell<OwnReading>,
}

/// The transport's own reading as the streaming producer of its writes.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum OwnReading {
    #[default]
    Off,
    Reading,
    /// Paused because the write queue passed the high-water mark.
    Paused,
}

impl ProducerSlot {
    fn get(&self) -> Option<&Rc<Inner>> {
        self.inner.get()
    }

    fn init(&self) -> &Rc<Inner> {
        self.inner.get_or_init(Rc::default)
    }

    pub fn high_water(&self) -> usize {
        self.get().map_or(DEFAULT_HIGH_WATER, |i| i.high_water.get())
    }

    /// Whether the slot is taken (by a producer object or the own reading).
    fn occupied(&self) -> bool {
        self.own_reading.get() != OwnReading::Off || self.has_producer()
    }

    /// Whether a producer object is registered: closing and half-closing wait for it. (The
    /// transport's own reading as its producer has nothing to finish: it holds no close.)
    pub fn has_producer(&self) -> bool {
        self.get().is_some_and(|i| i.registered.get())
    }

    /// Whether [`ProducerSlot::drained`] has anything to do.
    pub fn wants_drained(&self) -> bool {
        self.own_reading.get() == OwnReading::Paused || self.has_producer()
    }

    pub fn set_high_water(&self, bytes: usize) {
        self.init().high_water.set(bytes.max(1));
    }

    /// The handle pause/resume of the own reading go to: the face it was registered on.
    fn reading_face(&self, t: &Transport) -> Transport {
        self.get().and_then(|i| i.face.borrow().clone()).unwrap_or_else(|| t.clone())
    }

    /// Registers `producer`; `t` is the slot's own connection, `face` the handle the
    /// producer's calls receive.
    pub fn register(
        &self,
        core: &Rc<Core>,
        face: &Transport,
        queued: usize,
        producer: Box<dyn Producer>,
        streaming: bool,
    ) -> Result<()> {
        if self.occupied() {
            return Err(ErrorKind::ProducerAlreadyRegistered.into());
        }
        self.init().register(core, face, queued, producer, streaming);
        Ok(())
    }

    /// Makes the transport's own reading the streaming producer of its
    /// writes: reading pauses past the high-water mark, resumes when the
    /// queue has drained.
    pub fn register_own_reading(&self, t: &Transport, face: &Transport, queued: usize) -> Result<()> {
        if self.occupied() {
            return Err(ErrorKind::ProducerAlreadyRegistered.into());
        }
        if face != t {
            *self.init().face.borrow_mut() = Some(face.clone());
        }
        self.own_reading.set(OwnReading::Reading);
        self.after_write(t, queued);
        Ok(())
    }

    /// Removes the producer; reading paused by flow control starts again.
    pub fn unregister(&self, t: &Transport) -> Result<()> {
        let face = self.reading_face(t);
        if let Some(i) = self.get() {
            i.face.borrow_mut().take();
        }
        match self.own_reading.replace(OwnReading::Off) {
            OwnReading::Off => self.get().ok_or(ErrorKind::NoProducer)?.unregister(),
            OwnReading::Reading => Ok(()),
            OwnReading::Paused => face.resume_producing(),
        }
    }

    /// After data was queued: pause a streaming producer past the mark.
    pub fn after_write(&self, t: &Transport, queued: usize) {
        if self.own_reading.get() == OwnReading::Reading && queued > self.high_water() {
            self.own_reading.set(OwnReading::Paused);
            let _ = self.reading_face(t).pause_producing();
        }
        if let Some(i) = self.get() {
            i.after_write(queued)
        }
    }

    /// The queue emptied: resume a paused streaming producer, or ask a pull
    /// producer for more (at the end of the turn, so it cannot recurse).
    pub fn drained(&self, core: &Rc<Core>, t: &Transport) {
        if self.own_reading.get() == OwnReading::Paused {
            self.own_reading.set(OwnReading::Reading);
            let _ = self.reading_face(t).resume_producing();
        }
        if self.has_producer() {
            self.init().drained(core)
        }
    }

    /// The connection has closed; stop_producing follows from the loop. A pull
    /// producer's resume still due is not delivered (its writes would be refused).
    pub fn closed(&self) {
        if let Some(i) = self.get() {
            i.pull_due.set(false);
        }
    }

    /// The transport is gone: the producer is told to stop and dropped.
    pub fn stop(&self) {
        self.own_reading.set(OwnReading::Off);
        if let Some(i) = self.get() {
            i.stop()
        }
    }
}

struct Inner {
    /// The handle the producer's calls receive (see the module documentation).
    face: RefCell<Option<Transport>>,
    producer: RefCell<Option<Rc<dyn Producer>>>,
    registered: Cell<bool>,
    streaming: Cell<bool>,
    paused: Cell<bool>,
    /// A pull producer is owed a resume_producing at the end of this turn.
    pull_due: Cell<bool>,
    high_water: Cell<usize>,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            face: RefCell::new(None),
            producer: RefCell::new(None),
            registered: Cell::new(false),
            streaming: Cell::new(false),
            paused: Cell::new(false),
            pull_due: Cell::new(false),
            high_water: Cell::new(DEFAULT_HIGH_WATER),
        }
    }
}

impl Inner {
    fn register(self: &Rc<Self>, core: &Rc<Core>, face: &Transport, queued: usize, producer: Box<dyn Producer>, streaming: bool) {
        *self.face.borrow_mut() = Some(face.clone());
        *self.producer.borrow_mut() = Some(Rc::from(producer));
        self.registered.set(true);
        self.streaming.set(streaming);
        self.paused.set(false);
        if streaming {
            self.after_write(queued);
        } else {
            // A pull producer is asked for its first data straight away.
            self.schedule_pull(core);
        }
    }

    fn unregister(&self) -> Result<()> {
        if !self.registered.replace(false) {
            return Err(ErrorKind::NoProducer.into());
        }
        self.producer.borrow_mut().take();
        self.pull_due.set(false);
        Ok(())
    }

    /// Calls the producer without holding any borrow, so it may re-enter
    /// the transport (write, unregister) and be called again from there.
    fn call(&self, f: impl FnOnce(&dyn Producer, &Transport)) {
        let producer = self.producer.borrow().clone();
        let face = self.face.borrow().clone();
        if let (Some(p), Some(face)) = (producer, face) {
            f(p.as_ref(), &face);
        }
    }

    /// After data was queued: pause a streaming producer past the mark.
    fn after_write(&self, queued: usize) {
        if self.registered.get() && self.streaming.get() && !self.paused.get() && queued > self.high_water.get() {
            self.paused.set(true);
            self.call(|p, t| p.pause_producing(t));
        }
    }

    /// The queue emptied: resume a paused streaming producer, or ask a pull
    /// producer for more (at the end of the turn, so it cannot recurse).
    fn drained(self: &Rc<Self>, core: &Rc<Core>) {
        if !self.registered.get() {
            return;
        }
        if self.streaming.get() {
            if self.paused.replace(false) {
                self.call(|p, t| p.resume_producing(t));
            }
        } else {
            self.schedule_pull(core);
        }
    }

    fn schedule_pull(self: &Rc<Self>, core: &Rc<Core>) {
        if self.pull_due.replace(true) {
            return;
        }
        let me = Rc::downgrade(self);
        core.defer(move |_| {
            let Some(me) = me.upgrade() else { return };
            let face = me.face.borrow().clone();
            let Some(face) = face else { return };
            if me.pull_due.replace(false) && me.registered.get() && face.queued() == Ok(0) {
                me.call(|p, t| p.resume_producing(t));
            }
        });
    }

    /// The transport is gone: the producer is told to stop and dropped.
    fn stop(&self) {
        if self.registered.replace(false) {
            let producer = self.producer.borrow_mut().take();
            let face = self.face.borrow_mut().take();
            if let (Some(p), Some(face)) = (producer, face) {
                p.stop_producing(&face);
            }
        }
    }
}
