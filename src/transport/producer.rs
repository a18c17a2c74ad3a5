//! Producer/consumer flow control shared by every transport.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::{Producer, Transport, DEFAULT_HIGH_WATER};
use crate::error::{Error, Result};
use crate::reactor::Core;

/// The registered producer of a transport, and its pause state.
pub(crate) struct ProducerSlot {
    producer: RefCell<Option<Box<dyn Producer>>>,
    registered: Cell<bool>,
    streaming: Cell<bool>,
    paused: Cell<bool>,
    /// A pull producer is owed a resume_producing at the end of this turn.
    pull_due: Cell<bool>,
    high_water: Cell<usize>,
    /// A pause or resume decided while the producer's own callback was
    /// running (it wrote from resume_producing and crossed the mark, say).
    /// It cannot be called re-entrantly, so it is delivered when that
    /// callback returns; otherwise producer and slot would disagree on
    /// whether it is paused and it would never be paused again.
    owed: Cell<Option<bool>>,
}

impl Default for ProducerSlot {
    fn default() -> Self {
        ProducerSlot {
            producer: RefCell::new(None),
            registered: Cell::new(false),
            streaming: Cell::new(false),
            paused: Cell::new(false),
            pull_due: Cell::new(false),
            high_water: Cell::new(DEFAULT_HIGH_WATER),
            owed: Cell::new(None),
        }
    }
}

impl ProducerSlot {
    pub fn is_registered(&self) -> bool {
        self.registered.get()
    }

    pub fn set_high_water(&self, bytes: usize) {
        self.high_water.set(bytes.max(1));
    }

    pub fn register(
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
        *self.producer.borrow_mut() = Some(producer);
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

    pub fn unregister(&self) -> Result<()> {
        if !self.registered.replace(false) {
            return Err(Error::NoProducer);
        }
        self.producer.borrow_mut().take();
        self.pull_due.set(false);
        self.owed.set(None);
        Ok(())
    }

    fn call(&self, t: &Transport, f: impl FnOnce(&mut dyn Producer, &Transport)) {
        let taken = self.producer.borrow_mut().take();
        let Some(mut p) = taken else { return };
        f(p.as_mut(), t);
        // Deliver what was decided while `f` ran (the last decision wins).
        while let Some(pause) = self.owed.take() {
            if !self.registered.get() {
                break;
            }
            if pause {
                p.pause_producing(t);
            } else {
                p.resume_producing(t);
            }
        }
        let mut slot = self.producer.borrow_mut();
        if self.registered.get() && slot.is_none() {
            *slot = Some(p);
        }
    }

    /// Pauses (true) or resumes (false) a streaming producer, now or, from
    /// inside its own callback, when that returns.
    fn pause_or_resume(&self, t: &Transport, pause: bool) {
        if self.producer.borrow().is_none() {
            self.owed.set(Some(pause));
            return;
        }
        self.call(t, |p, t| if pause { p.pause_producing(t) } else { p.resume_producing(t) });
    }

    /// After data was queued: pause a streaming producer past the mark.
    pub fn after_write(&self, t: &Transport, queued: usize) {
        if self.registered.get() && self.streaming.get() && !self.paused.get() && queued > self.high_water.get() {
            self.paused.set(true);
            self.pause_or_resume(t, true);
        }
    }

    /// The queue emptied: resume a paused streaming producer, or ask a pull
    /// producer for more (at the end of the turn, so it cannot recurse).
    pub fn drained(&self, core: &Rc<Core>, t: &Transport) {
        if !self.registered.get() {
            return;
        }
        if self.streaming.get() {
            if self.paused.replace(false) {
                self.pause_or_resume(t, false);
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
            let slot = ops.producer();
            if slot.pull_due.replace(false) && slot.registered.get() && ops.queued() == 0 {
                slot.call(&t, |p, t| p.resume_producing(t));
            }
        });
    }

    /// The transport is gone: the producer is told to stop and dropped.
    pub fn stop(&self, t: &Transport) {
        if self.registered.get() {
            self.call(t, |p, t| p.stop_producing(t));
            self.registered.set(false);
            self.producer.borrow_mut().take();
        }
    }
}
