//! The only parts of a reactor other threads may touch: its waker, a queue
//! of calls to run on the reactor thread, and the stop flag.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::handles::{Handle, HandleTable, Limits};
use super::Reactor;
use crate::error::{Error, ErrorKind, Result};

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
        self.shared.calls.lock().map_err(|_| ErrorKind::Panic)?.push(Box::new(f));
        self.shared.has_calls.store(true, Ordering::Release);
        self.shared.waker.wake().map_err(Error::from)
    }
}

/// A reactor's place in the registry: its slot (the number object handles
/// carry) and that slot's generation.
pub(crate) type Serial = Handle;

/// Bits of a registry slot in an object's C handle: at most 4,096 reactors
/// live at once.
pub(crate) const SLOT_BITS: u32 = 12;

/// Per registry slot, the identities handed out by the tables of the
/// reactors that held it: the next reactor in the slot goes on from them,
/// so an old reactor's handle never names a new reactor's object.
#[derive(Default)]
pub(crate) struct Lineage {
    pub objects: HandleTable<()>,
    pub timers: HandleTable<()>,
}

struct Registry {
    reactors: HandleTable<Weak<Shared>>,
    lineages: Vec<Lineage>,
}

/// Every live reactor of the process, so that a serial found in a C handle
/// can be told apart as "another thread's" or "gone". A slot is used for
/// 2^28 - 1 reactors, then retired: 2^40 reactors per process.
static REGISTRY: Mutex<Registry> = Mutex::new(Registry { reactors: HandleTable::new(LIMITS), lineages: Vec::new() });

const LIMITS: Limits = Limits { entries: 1 << SLOT_BITS, last_generation: Limits::FULL.last_generation };

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers a new reactor: its serial and the identities its tables go on
/// from. `Exhausted` when 4,096 reactors are live or no slot is left.
pub(crate) fn register(shared: &Arc<Shared>) -> Result<(Serial, Lineage)> {
    let mut reg = registry();
    let serial = reg.reactors.insert(Arc::downgrade(shared))?;
    let i = serial.index as usize;
    if i >= reg.lineages.len() {
        reg.lineages.resize_with(i + 1, Lineage::default);
    }
    Ok((serial, std::mem::take(&mut reg.lineages[i])))
}

/// Gives the slot back with the identities its reactor's tables used. A
/// slot whose tables have none left is retired with them.
pub(crate) fn unregister(serial: Serial, lineage: Lineage) {
    let mut reg = registry();
    if lineage.objects.is_exhausted() || lineage.timers.is_exhausted() {
        reg.reactors.retire(serial);
    } else {
        reg.reactors.remove(serial);
    }
    reg.lineages[serial.index as usize] = lineage;
}

/// The thread-safe part of a live reactor, from any thread.
pub(crate) fn lookup(serial: Serial) -> Option<Stopper> {
    registry().reactors.get(serial).and_then(Weak::upgrade).map(|shared| Stopper { shared })
}

/// True when a reactor holds registry slot `slot`.
pub(crate) fn slot_is_live(slot: u32) -> bool {
    registry().reactors.is_live_at(slot)
}

/// Test hook: see [`HandleTable::restrict`].
pub(crate) fn restrict(new_slots: u32, last_generation: u32) {
    registry().reactors.restrict(new_slots, last_generation);
}

/// Test hook: the registry's own limits again.
pub(crate) fn lift_restriction() {
    registry().reactors.lift_restriction(LIMITS);
}
