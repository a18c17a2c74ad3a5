//! Delayed calls: an indexed 4-ary min-heap ordered by (deadline, sequence),
//! so equal deadlines fire in the order they were scheduled. Every pending
//! call is exactly one heap item and knows where that item is, so cancel
//! removes it and reset/delay move it in place, each in O(log n): the heap
//! never holds more items than there are pending calls.

use std::time::{Duration, Instant};

use super::handles::{Handle, HandleTable};
use super::Reactor;
use crate::error::{ErrorKind, Result};
use crate::ffi::CCall;

/// What a delayed call runs.
pub(crate) enum TimerCallback {
    Boxed(Box<dyn FnOnce(&Reactor)>),
    /// The C API's function and user pointer, unboxed: a Box per call cost
    /// 1,441 against 1,057 instructions per call in bench timers_marline.
    C(CCall),
}

impl TimerCallback {
    pub fn run(self, r: &Reactor) {
        match self {
            TimerCallback::Boxed(f) => f(r),
            TimerCallback::C(c) => c.run(r),
        }
    }
}

/// Children per heap node. 4 beats 2: half as many levels, and siblings
/// are adjacent in memory (bench timers_marline: 1,057 against 1,201
/// instructions per call, and faster in wall time).
const ARITY: usize = 4;

/// Heap order: deadline (nanoseconds since the epoch), then sequence
/// number, which is unique, so no two keys are equal.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    deadline: u64,
    seq: u64,
}

#[derive(Clone, Copy)]
struct Item {
    key: Key,
    handle: Handle,
}

/// Where the item of a pending call is.
#[derive(Clone, Copy)]
enum Place {
    Heap(u32),
    /// Set aside until the end of the running turn (see `pop_due`).
    Held(u32),
}

/// The time and sequence mark one run of the due calls compares against.
#[derive(Clone, Copy)]
pub(crate) struct Turn {
    now: u64,
    mark: u64,
}

pub(crate) struct Timers {
    /// Deadlines are kept as nanoseconds since this instant.
    epoch: Instant,
    heap: Vec<Item>,
    held: Vec<Item>,
    /// Indexed by the table index of a pending call's handle.
    place: Vec<Place>,
    table: HandleTable<TimerCallback>,
    next_seq: u64,
}

/// A duration in nanoseconds; `None` past u64 (about 584 years).
fn nanos(d: Duration) -> Option<u64> {
    u64::try_from(d.as_nanos()).ok()
}

impl Timers {
    /// Timers whose handles come from `table` (empty; it may carry on the
    /// identities of an earlier reactor's table).
    pub fn new(table: HandleTable<TimerCallback>) -> Timers {
        Timers { epoch: Instant::now(), heap: Vec::new(), held: Vec::new(), place: Vec::new(), table, next_seq: 0 }
    }

    fn now(&self) -> u64 {
        nanos(self.epoch.elapsed()).unwrap_or(u64::MAX)
    }

    /// The deadline `delay` from now; `None` when it does not fit.
    fn deadline_in(&self, delay: Duration) -> Option<u64> {
        self.now().checked_add(nanos(delay)?)
    }

    fn next_key(&mut self, deadline: u64) -> Key {
        self.next_seq += 1;
        Key { deadline, seq: self.next_seq }
    }

    /// Adds a call: `InvalidArgument` when `delay` is too far in the
    /// future, `Exhausted` when the table has no handle left.
    pub fn schedule(&mut self, delay: Duration, callback: TimerCallback) -> Result<Handle> {
        let deadline = self.deadline_in(delay).ok_or(ErrorKind::InvalidArgument)?;
        let handle = self.table.insert(callback)?;
        let index = handle.index as usize;
        if index >= self.place.len() {
            self.place.resize(index + 1, Place::Heap(0));
        }
        let key = self.next_key(deadline);
        self.heap.push(Item { key, handle });
        self.sift_up(self.heap.len() - 1);
        Ok(handle)
    }

    pub fn is_active(&self, h: Handle) -> bool {
        self.table.get(h).is_some()
    }

    pub fn cancel(&mut self, h: Handle) -> bool {
        if self.table.remove(h).is_none() {
            return false;
        }
        match self.place[h.index as usize] {
            Place::Heap(i) => self.remove_at(i as usize),
            Place::Held(i) => self.unhold(i as usize),
        }
        true
    }

    /// Re-schedules a pending call `delay` from now.
    pub fn reset(&mut self, h: Handle, delay: Duration) -> Result<()> {
        if !self.is_active(h) {
            return Err(ErrorKind::NotActive.into());
        }
        let deadline = self.deadline_in(delay).ok_or(ErrorKind::InvalidArgument)?;
        self.move_to(h, deadline);
        Ok(())
    }

    /// Pushes a pending call back by `by` from its current deadline.
    pub fn delay(&mut self, h: Handle, by: Duration) -> Result<()> {
        let deadline = self.item(h).ok_or(ErrorKind::NotActive)?.key.deadline;
        let deadline = nanos(by).and_then(|by| deadline.checked_add(by)).ok_or(ErrorKind::InvalidArgument)?;
        self.move_to(h, deadline);
        Ok(())
    }

    /// Time left before a pending call is due (zero when overdue).
    pub fn time_left(&self, h: Handle) -> Option<Duration> {
        let deadline = self.item(h)?.key.deadline;
        Some(Duration::from_nanos(deadline.saturating_sub(self.now())))
    }

    /// Time left before the earliest pending call is due.
    pub fn until_next(&self) -> Option<Duration> {
        let top = self.heap.first()?;
        Some(Duration::from_nanos(top.key.deadline.saturating_sub(self.now())))
    }

    /// Starts a run of the due calls: calls scheduled (or moved) after this
    /// wait for the next turn, so a call re-scheduling itself cannot starve
    /// the loop.
    pub fn begin_turn(&self) -> Turn {
        Turn { now: self.now(), mark: self.next_seq }
    }

    /// Removes and returns the next call due in `turn`. Due calls scheduled
    /// or moved since the turn began are held aside until `end_turn`.
    pub fn pop_due(&mut self, turn: Turn) -> Option<TimerCallback> {
        while let Some(&top) = self.heap.first() {
            if top.key.deadline > turn.now {
                break;
            }
            self.remove_at(0);
            if top.key.seq <= turn.mark {
                return self.table.remove(top.handle);
            }
            self.place[top.handle.index as usize] = Place::Held(self.held.len() as u32);
            self.held.push(top);
        }
        None
    }

    /// Puts the calls `pop_due` held back into the heap.
    pub fn end_turn(&mut self) {
        while let Some(item) = self.held.pop() {
            self.heap.push(item);
            self.sift_up(self.heap.len() - 1);
        }
    }

    /// Removes every pending call and returns the callbacks (not run).
    pub fn clear(&mut self) -> Vec<TimerCallback> {
        self.heap.clear();
        self.held.clear();
        let handles = self.table.handles();
        handles.into_iter().filter_map(|h| self.table.remove(h)).collect()
    }

    /// The handle table (empty after `clear`), leaving an empty one.
    pub fn take_table(&mut self) -> HandleTable<TimerCallback> {
        std::mem::take(&mut self.table)
    }

    /// Test hook: see [`HandleTable::restrict`].
    pub fn restrict_table(&mut self, new_slots: u32, last_generation: u32) {
        self.table.restrict(new_slots, last_generation);
    }

    fn item(&self, h: Handle) -> Option<&Item> {
        self.table.get(h)?;
        Some(match self.place[h.index as usize] {
            Place::Heap(i) => &self.heap[i as usize],
            Place::Held(i) => &self.held[i as usize],
        })
    }

    /// Gives pending call `h` a new deadline; it counts as scheduled now.
    fn move_to(&mut self, h: Handle, deadline: u64) {
        let key = self.next_key(deadline);
        match self.place[h.index as usize] {
            Place::Heap(i) => {
                self.heap[i as usize].key = key;
                self.fix(i as usize);
            }
            // Still held: it was moved during this turn, so waits anyway.
            Place::Held(i) => self.held[i as usize].key = key,
        }
    }

    fn unhold(&mut self, i: usize) {
        self.held.swap_remove(i);
        if let Some(moved) = self.held.get(i) {
            self.place[moved.handle.index as usize] = Place::Held(i as u32);
        }
    }

    fn remove_at(&mut self, i: usize) {
        let last = self.heap.pop().expect("remove_at on an empty heap");
        if i < self.heap.len() {
            self.heap[i] = last;
            self.fix(i);
        }
    }

    /// Moves heap[i] up or down to where its key belongs.
    fn fix(&mut self, i: usize) {
        if i > 0 && self.heap[i].key < self.heap[(i - 1) / ARITY].key {
            self.sift_up(i);
        } else {
            self.sift_down(i);
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        let item = self.heap[i];
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if item.key > self.heap[parent].key {
                break;
            }
            self.put(i, self.heap[parent]);
            i = parent;
        }
        self.put(i, item);
    }

    fn sift_down(&mut self, mut i: usize) {
        let item = self.heap[i];
        let len = self.heap.len();
        loop {
            let first = i * ARITY + 1;
            if first >= len {
                break;
            }
            let kids = &self.heap[first..len.min(first + ARITY)];
            let (mut c, mut least) = (0, kids[0].key);
            for (k, kid) in kids.iter().enumerate().skip(1) {
                if kid.key < least {
                    (c, least) = (k, kid.key);
                }
            }
            if item.key < least {
                break;
            }
            self.put(i, kids[c]);
            i = first + c;
        }
        self.put(i, item);
    }

    fn put(&mut self, i: usize, item: Item) {
        self.place[item.handle.index as usize] = Place::Heap(i as u32);
        self.heap[i] = item;
    }
}

#[cfg(test)]
mod tests;
