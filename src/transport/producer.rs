//! Producer/consumer flow control shared by every transport.

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;

use super::{Producer, Transport, DEFAULT_HIGH_WATER};
use crate::error::{Error, Result};
use crate::reactor::Core;

/// The registered producer of a transport, and its pause state. The state
/// of a producer object is boxed and created on first use (most connections
/// never have one: the slot stays at 16 bytes instead of 48); the
/// transport's own reading as its producer needs no box, only one byte.
#[derive(Default)]
pub(crate) struct ProducerSlot {
    inner: OnceCell<Box<Inner>>,
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
    fn get(&self) -> Option<&Inner> {
        self.inner.get().map(|b| &**b)
    }

    fn init(&self) -> &Inner {
        self.inner.get_or_init(Box::default)
    }

    fn high_water(&self) -> usize {
        self.get().map_or(DEFAULT_HIGH_WATER, |i| i.high_water.get())
    }

    pub fn is_registered(&self) -> bool {
        self.get().is_some_and(|i| i.registered.get())
    }

    pub fn set_high_water(&self, bytes: usize) {
        self.init().high_water.set(bytes.max(1));
    }

    pub fn register(&self, core: &Rc<Core>, t: &Transport, queued: usize, producer: Box<dyn Producer>, streaming: bool) -> Result<()> {
        if self.own_reading.get() != OwnReading::Off {
            return Err(Error::ProducerAlreadyRegistered);
        }
        self.init().register(core, t, queued, producer, streaming)
    }

    /// Makes the transport's own reading the streaming producer of its
    /// writes: reading pauses past the high-water mark, resumes when the
    /// queue has drained.
    pub fn register_own_reading(&self, t: &Transport, queued: usize) -> Result<()> {
        if self.is_registered() || self.own_reading.get() != OwnReading::Off {
            return Err(Error::ProducerAlreadyRegistered);
        }
        self.own_reading.set(OwnReading::Reading);
        self.after_write(t, queued);
        Ok(())
    }

    /// Removes the producer; reading paused by flow control starts again.
    pub fn unregister(&self, t: &Transport) -> Result<()> {
        match self.own_reading.replace(OwnReading::Off) {
            OwnReading::Off => self.get().ok_or(Error::NoProducer)?.unregister(),
            OwnReading::Reading => Ok(()),
            OwnReading::Paused => t.resume_producing(),
        }
    }

    /// After data was queued: pause a streaming producer past the mark.
    pub fn after_write(&self, t: &Transport, queued: usize) {
        if self.own_reading.get() == OwnReading::Reading && queued > self.high_water() {
            self.own_reading.set(OwnReading::Paused);
            let _ = t.pause_producing();
        }
        if let Some(i) = self.get() {
            i.after_write(t, queued)
        }
    }

    /// The queue emptied: resume a paused streaming producer, or ask a pull
    /// producer for more (at the end of the turn, so it cannot recurse).
    pub fn drained(&self, core: &Rc<Core>, t: &Transport) {
        if self.own_reading.get() == OwnReading::Paused {
            self.own_reading.set(OwnReading::Reading);
            let _ = t.resume_producing();
        }
        if let Some(i) = self.get() {
            i.drained(core, t)
        }
    }

    /// The transport is gone: the producer is told to stop and dropped.
    pub fn stop(&self, t: &Transport) {
        self.own_reading.set(OwnReading::Off);
        if let Some(i) = self.get() {
            i.stop(t)
        }
    }
}

struct Inner {
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
    fn register(
        &self,
        core: &Rc<Core>,
        t: &Transport,
        queued: usize,
        producer: Box<dyn Producer>,
        streaming: bool,
    ) -> Result<()> {
        if self.registered.get() {
            return Err(Error::ProducerAlreadyRegistered);
        }
        *self.producer.borrow_mut() = Some(Rc::from(producer));
        self.registered.set(true);
        self.streaming.set(streaming);
        self.paused.set(false);
        if streaming {
            self.after_write(t, queued);
        } else {
            // A pull producer is asked for its first data straight away.
            self.schedule_pull(core, t);
        }
        Ok(())
    }

    fn unregister(&self) -> Result<()> {
        if !self.registered.replace(false) {
            return Err(Error::NoProducer);
        }
        self.producer.borrow_mut().take();
        self.pull_due.set(false);
        Ok(())
    }

    /// Calls the producer without holding any borrow, so it may re-enter
    /// the transport (write, unregister) and be called again from there.
    fn call(&self, t: &Transport, f: impl FnOnce(&dyn Producer, &Transport)) {
        let producer = self.producer.borrow().clone();
        if let Some(p) = producer {
            f(p.as_ref(), t);
        }
    }

    /// After data was queued: pause a streaming producer past the mark.
    fn after_write(&self, t: &Transport, queued: usize) {
        if self.registered.get() && self.streaming.get() && !self.paused.get() && queued > self.high_water.get() {
            self.paused.set(true);
            self.call(t, |p, t| p.pause_producing(t));
        }
    }

    /// The queue emptied: resume a paused streaming producer, or ask a pull
    /// producer for more (at the end of the turn, so it cannot recurse).
    fn drained(&self, core: &Rc<Core>, t: &Transport) {
        if !self.registered.get() {
            return;
        }
        if self.streaming.get() {
            if self.paused.replace(false) {
                self.call(t, |p, t| p.resume_producing(t));
            }
        } else {
            self.schedule_pull(core, t);
        }
    }

    fn schedule_pull(&self, core: &Rc<Core>, t: &Transport) {
        if self.pull_due.replace(true) {
            return;
        }
        let t = t.clone();
        core.defer(move |core| {
            let Ok(object) = core.object(t.handle) else { return };
            let Some(ops) = object.transport() else { return };
            let Some(slot) = ops.producer().get() else { return };
            if slot.pull_due.replace(false) && slot.registered.get() && ops.queued() == 0 {
                slot.call(&t, |p, t| p.resume_producing(t));
            }
        });
    }

    /// The transport is gone: the producer is told to stop and dropped.
    fn stop(&self, t: &Transport) {
        if self.registered.replace(false) {
            let producer = self.producer.borrow_mut().take();
            if let Some(p) = producer {
                p.stop_producing(t);
            }
        }
    }
}
