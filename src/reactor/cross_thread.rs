//! The only parts of a reactor other threads may touch: its waker, a queue
//! of calls to run on the reactor thread, and the stop flag.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::Reactor;
use crate::error::{Error, Result};

pub(crate) type ThreadCall = Box<dyn FnOnce(&Reactor) + Send>;

pub(crate) struct Shared {
    pub waker: mio::Waker,
    pub calls: Mutex<Vec<ThreadCall>>,
    pub has_calls: AtomicBool,
    pub stop: AtomicBool,
}

/// A thread-safe doorway into a reactor: stop it or run a call on its
/// thread. Cheap to clone and to send to other threads.
#[derive(Clone)]
pub struct Stopper {
    pub(crate) shared: Arc<Shared>,
}

impl Stopper {
    /// Asks the reactor to return from `run` at its next turn.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        let _ = self.shared.waker.wake();
    }

    /// Queues `f` to run on the reactor thread and wakes the loop.
    pub fn call_from_thread(&self, f: impl FnOnce(&Reactor) + Send + 'static) -> Result<()> {
        self.shared.calls.lock().map_err(|_| Error::Panic)?.push(Box::new(f));
        self.shared.has_calls.store(true, Ordering::Release);
        self.shared.waker.wake().map_err(|e| crate::error::os_error(&e))
    }
}

/// Every live reactor of the process by serial, so that a serial found in a
/// C handle can be told apart as "another thread's" or "gone".
static REACTORS: Mutex<BTreeMap<u16, Weak<Shared>>> = Mutex::new(BTreeMap::new());
static NEXT_SERIAL: AtomicU32 = AtomicU32::new(0);

/// Registers a new reactor and returns its serial (never 0).
pub(crate) fn register(shared: &Arc<Shared>) -> u16 {
    let mut map = REACTORS.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let serial = (NEXT_SERIAL.fetch_add(1, Ordering::Relaxed) % 0xFFFF + 1) as u16;
        if let std::collections::btree_map::Entry::Vacant(slot) = map.entry(serial) {
            slot.insert(Arc::downgrade(shared));
            return serial;
        }
    }
}

pub(crate) fn unregister(serial: u16) {
    REACTORS.lock().unwrap_or_else(|e| e.into_inner()).remove(&serial);
}

/// The thread-safe part of a live reactor, from any thread.
pub(crate) fn lookup(serial: u16) -> Option<Stopper> {
    let map = REACTORS.lock().unwrap_or_else(|e| e.into_inner());
    map.get(&serial).and_then(Weak::upgrade).map(|shared| Stopper { shared })
}
