//! The notification routine (asr) and the thread it runs on.
//!
//! The engine posts (event, detail) pairs to a queue; the stream's asr
//! thread takes them one at a time, in order, and calls the routine with
//! none of marline's locks held. One thread per stream, so a routine
//! never runs while another call of it for the same stream runs; the
//! routine may make any call on its stream, since the engine thread that
//! answers those calls never waits for this one.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::codes::Event;
use crate::error::{Error, Result};

/// A notification routine: `(event, detail)`. For [`Event::Terminate`] the
/// detail is a [`super::TerminateReason`]; for [`Event::PassiveOpenDone`] it
/// is 0 on success or -1 on failure; for [`Event::IcmpReceived`] it is the
/// errno the ICMP message stands for; otherwise 0.
pub type Asr = Box<dyn FnMut(Event, i32) + Send>;

struct Slot {
    /// The routine; None also while the asr thread is calling it.
    routine: Option<Asr>,
    /// A routine is set (events that happen while none is are dropped).
    installed: bool,
    /// Bumped by every set; a routine taken out for a call is put back only
    /// if nobody replaced it meanwhile.
    serial: u64,
    queue: VecDeque<(Event, i32)>,
    /// The stream is being freed: no call starts any more, the thread ends.
    stop: bool,
}

pub(crate) struct Notifier {
    slot: Mutex<Slot>,
    cond: Condvar,
}

impl Notifier {
    pub fn new() -> Notifier {
        Notifier {
            slot: Mutex::new(Slot { routine: None, installed: false, serial: 0, queue: VecDeque::new(), stop: false }),
            cond: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets or removes the routine. A call of the old one that is running
    /// finishes; the old routine is dropped after it.
    pub fn set(&self, routine: Option<Asr>) {
        let old = {
            let mut slot = self.lock();
            slot.serial += 1;
            slot.installed = routine.is_some();
            std::mem::replace(&mut slot.routine, routine)
        };
        drop(old); // outside the lock: dropping user state may take time
    }

    /// Engine side: queues a notification for the asr thread, if a
    /// routine is set.
    pub fn post(&self, event: Event, detail: i32) {
        let mut slot = self.lock();
        if slot.stop || !slot.installed {
            return;
        }
        slot.queue.push_back((event, detail));
        self.cond.notify_one();
    }

    /// No routine call starts after this returns; the thread ends once the
    /// running call, if any, returns.
    pub fn stop(&self) {
        let old = {
            let mut slot = self.lock();
            slot.stop = true;
            slot.installed = false;
            slot.queue.clear();
            slot.serial += 1;
            slot.routine.take()
        };
        self.cond.notify_one();
        drop(old);
    }

    /// The asr thread's body.
    fn run(&self) {
        loop {
            let (event, detail, routine, serial) = {
                let mut slot = self.lock();
                loop {
                    if slot.stop {
                        return;
                    }
                    if let Some((event, detail)) = slot.queue.pop_front() {
                        let serial = slot.serial;
                        break (event, detail, slot.routine.take(), serial);
                    }
                    slot = self.cond.wait(slot).unwrap_or_else(|e| e.into_inner());
                }
            };
            let Some(mut routine) = routine else { continue };
            // A panicking Rust routine must not take the thread down with it.
            let _ = catch_unwind(AssertUnwindSafe(|| routine(event, detail)));
            let mut slot = self.lock();
            if slot.serial == serial && slot.routine.is_none() {
                slot.routine = Some(routine);
                continue;
            }
            drop(slot);
            drop(routine); // replaced or stopped meanwhile
        }
    }
}

/// Starts the asr thread of a stream.
pub(crate) fn spawn(notifier: Arc<Notifier>) -> Result<JoinHandle<()>> {
    std::thread::Builder::new().name("marline-asr".into()).spawn(move || notifier.run()).map_err(Error::from)
}
