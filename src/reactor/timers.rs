//! Delayed calls: a binary heap ordered by (deadline, sequence) with lazy
//! removal, so equal deadlines fire in the order they were scheduled and
//! cancel/reset cost O(log n) without searching the heap.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use super::handles::{Handle, HandleTable};
use super::Reactor;

/// What a delayed call runs.
pub(crate) type TimerCallback = Box<dyn FnOnce(&Reactor)>;

struct Entry {
    deadline: Instant,
    /// Matches exactly one heap item; older items for this entry are stale.
    seq: u64,
    callback: TimerCallback,
}

#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64, Handle)>>,
    table: HandleTable<Entry>,
    next_seq: u64,
}

impl Timers {
    /// Adds a call; `None` when the table is full or `delay` is too far in
    /// the future for an `Instant` (adding it would panic).
    pub fn schedule(&mut self, delay: Duration, callback: TimerCallback) -> Option<Handle> {
        let deadline = Instant::now().checked_add(delay)?;
        let seq = self.bump();
        let h = self.table.insert(Entry { deadline, seq, callback })?;
        self.heap.push(Reverse((deadline, seq, h)));
        Some(h)
    }

    fn bump(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    pub fn is_active(&self, h: Handle) -> bool {
        self.table.get(h).is_some()
    }

    pub fn cancel(&mut self, h: Handle) -> bool {
        self.table.remove(h).is_some()
    }

    /// Moves the deadline of a pending call; false if it is not pending.
    pub fn set_deadline(&mut self, h: Handle, deadline: Instant) -> bool {
        let seq = self.bump();
        match self.table.get_mut(h) {
            Some(e) => {
                e.deadline = deadline;
                e.seq = seq;
                self.heap.push(Reverse((deadline, seq, h)));
                true
            }
            None => false,
        }
    }

    pub fn deadline(&self, h: Handle) -> Option<Instant> {
        self.table.get(h).map(|e| e.deadline)
    }

    /// The earliest pending deadline (skipping stale heap items).
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((deadline, seq, h))) = self.heap.peek().copied() {
            match self.table.get(h) {
                Some(e) if e.seq == seq => return Some(deadline),
                _ => {
                    self.heap.pop();
                }
            }
        }
        None
    }

    /// A mark for this turn: calls scheduled after it wait for the next one.
    pub fn turn_mark(&self) -> u64 {
        self.next_seq
    }

    /// Removes and returns the next call due at `now` that was scheduled
    /// (or last moved) before `mark`.
    pub fn pop_due(&mut self, now: Instant, mark: u64, held: &mut Vec<(Instant, u64, Handle)>) -> Option<TimerCallback> {
        while let Some(Reverse((deadline, seq, h))) = self.heap.peek().copied() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            match self.table.get(h) {
                Some(e) if e.seq == seq && seq <= mark => {
                    return self.table.remove(h).map(|e| e.callback);
                }
                Some(e) if e.seq == seq => held.push((deadline, seq, h)),
                _ => {}
            }
        }
        None
    }

    /// Puts back the items `pop_due` held over for the next turn.
    pub fn restore(&mut self, held: &mut Vec<(Instant, u64, Handle)>) {
        for item in held.drain(..) {
            self.heap.push(Reverse(item));
        }
    }

    pub fn clear(&mut self) -> Vec<TimerCallback> {
        self.heap.clear();
        let handles = self.table.handles();
        handles.into_iter().filter_map(|h| self.table.remove(h)).map(|e| e.callback).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_deadlines_pop_in_the_order_they_were_set() {
        let mut t = Timers::default();
        let at = Instant::now();
        let hs: Vec<Handle> = (0..50).map(|_| t.schedule(Duration::from_secs(60), Box::new(|_| {})).unwrap()).collect();
        // Give them all the very same deadline, in reverse order.
        for h in hs.iter().rev() {
            assert!(t.set_deadline(*h, at));
        }
        let mark = t.turn_mark();
        let mut held = Vec::new();
        let mut popped = Vec::new();
        // pop_due returns callbacks; identify them by what is left active.
        for _ in 0..hs.len() {
            assert!(t.pop_due(at, mark, &mut held).is_some());
            popped.push(*hs.iter().find(|h| !t.is_active(**h) && !popped.contains(*h)).unwrap());
        }
        assert!(t.pop_due(at, mark, &mut held).is_none());
        let want: Vec<Handle> = hs.iter().rev().copied().collect();
        assert_eq!(popped, want);
    }
}
