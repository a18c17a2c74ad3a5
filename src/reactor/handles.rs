//! A generation-checked slab: a handle to a removed entry is detected as
//! stale instead of reaching whatever took its slot.
//!
//! An identity (index, generation) is handed out at most once per table:
//! a slot's generation only goes up, and a slot whose generation has
//! reached the table's last one is retired when its entry is removed,
//! never reused. A table that has neither a free slot nor room for a new
//! one refuses to insert (`Exhausted`). With 20 index and 28 generation
//! bits a table hands out 2^48 identities: a million creations a second
//! for 8.9 years.

use crate::error::{ErrorKind, Result};

/// Bits of a table index in a packed handle: at most 2^20 live entries.
pub(crate) const INDEX_BITS: u32 = 20;
/// Bits of a generation in a packed handle.
pub(crate) const GENERATION_BITS: u32 = 28;
/// Bits of a packed handle: [`Handle::to_bits`] fits in them.
pub(crate) const HANDLE_BITS: u32 = INDEX_BITS + GENERATION_BITS;

const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
const GENERATION_MASK: u64 = (1 << GENERATION_BITS) - 1;

/// Identifies one entry of a [`HandleTable`]. The generation is never 0,
/// so a packed handle is never 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl Handle {
    /// Packs the handle into [`HANDLE_BITS`] bits: index | generation.
    pub(crate) fn to_bits(self) -> u64 {
        ((self.index as u64) << GENERATION_BITS) | self.generation as u64
    }

    /// The inverse of [`Handle::to_bits`] (bits above [`HANDLE_BITS`] are
    /// ignored).
    pub(crate) fn from_bits(bits: u64) -> Handle {
        Handle {
            index: ((bits >> GENERATION_BITS) & INDEX_MASK) as u32,
            generation: (bits & GENERATION_MASK) as u32,
        }
    }
}

/// How many identities a table may hand out: `entries` slots, each used
/// for generations 1 to `last_generation`. Lowered only by tests (see
/// [`HandleTable::restrict`]), to reach the ends quickly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) entries: u32,
    pub(crate) last_generation: u32,
}

impl Limits {
    /// What the packed handle has room for.
    pub(crate) const FULL: Limits = Limits { entries: 1 << INDEX_BITS, last_generation: GENERATION_MASK as u32 };

    /// `self`, but never beyond what a packed handle holds, and never 0.
    fn clamped(self) -> Limits {
        Limits {
            entries: self.entries.clamp(1, Limits::FULL.entries),
            last_generation: self.last_generation.clamp(1, Limits::FULL.last_generation),
        }
    }
}

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// The slab itself.
pub(crate) struct HandleTable<T> {
    slots: Vec<Slot<T>>,
    /// Slots to reuse, the most recently freed last.
    free: Vec<u32>,
    len: usize,
    limits: Limits,
}

impl<T> Default for HandleTable<T> {
    fn default() -> Self {
        HandleTable::new(Limits::FULL)
    }
}

impl<T> HandleTable<T> {
    /// An empty table handing out identities within `limits`.
    pub const fn new(limits: Limits) -> Self {
        HandleTable { slots: Vec::new(), free: Vec::new(), len: 0, limits }
    }

    /// Stores `value`; `Exhausted` when no identity is left.
    pub fn insert(&mut self, value: T) -> Result<Handle> {
        let index = match self.free.pop() {
            Some(i) => i,
            None if self.slots.len() < self.limits.entries as usize => {
                self.slots.push(Slot { generation: 0, value: None });
                (self.slots.len() - 1) as u32
            }
            None => return Err(ErrorKind::Exhausted.into()),
        };
        let slot = &mut self.slots[index as usize];
        slot.generation += 1;
        slot.value = Some(value);
        self.len += 1;
        Ok(Handle { index, generation: slot.generation })
    }

    fn slot(&self, h: Handle) -> Option<&Slot<T>> {
        self.slots.get(h.index as usize).filter(|s| s.generation == h.generation)
    }

    /// The live entry `h` names.
    pub fn get(&self, h: Handle) -> Option<&T> {
        self.slot(h)?.value.as_ref()
    }

    /// True when slot `index` holds a live entry (of any generation).
    pub fn is_live_at(&self, index: u32) -> bool {
        self.slots.get(index as usize).is_some_and(|s| s.value.is_some())
    }

    /// Removes the entry; later uses of `h` are stale. Its slot is reused
    /// unless its generation is the last one.
    pub fn remove(&mut self, h: Handle) -> Option<T> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        let value = slot.value.take()?;
        if slot.generation < self.limits.last_generation {
            self.free.push(h.index);
        }
        self.len -= 1;
        Some(value)
    }

    /// Removes the entry and retires its slot, whatever its generation.
    pub fn retire(&mut self, h: Handle) -> Option<T> {
        let value = self.remove(h)?;
        if self.free.last() == Some(&h.index) {
            self.free.pop();
        }
        Some(value)
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the next insert would be refused.
    pub fn is_exhausted(&self) -> bool {
        self.free.is_empty() && self.slots.len() >= self.limits.entries as usize
    }

    /// Handles of every live entry.
    pub fn handles(&self) -> Vec<Handle> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.value.is_some())
            .map(|(i, s)| Handle { index: i as u32, generation: s.generation })
            .collect()
    }

    /// Test hook: retires every free slot and allows `new_slots` more, each
    /// for generations up to `last_generation`. A live slot already past it
    /// is retired when its entry is removed.
    pub fn restrict(&mut self, new_slots: u32, last_generation: u32) {
        self.free.clear();
        let entries = (self.slots.len() as u32).saturating_add(new_slots);
        self.limits = Limits { entries, last_generation }.clamped();
    }

    /// Test hook: sets the limits back (retired slots stay retired).
    pub fn lift_restriction(&mut self, limits: Limits) {
        self.limits = limits.clamped();
    }

    /// The identities this table has handed out, without its entries
    /// (dropped here): a table that goes on from them never repeats one.
    /// A slot still live is given up.
    pub fn identities<U>(self) -> HandleTable<U> {
        HandleTable {
            slots: self.slots.into_iter().map(|s| Slot { generation: s.generation, value: None }).collect(),
            free: self.free,
            len: 0,
            limits: self.limits,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_handles_are_stale_even_when_the_slot_is_reused() {
        let mut t = HandleTable::default();
        let a = t.insert("a").unwrap();
        assert_eq!(t.remove(a), Some("a"));
        let b = t.insert("b").unwrap();
        assert_eq!(a.index, b.index);
        assert_eq!(t.get(a), None);
        assert_eq!(t.get(b), Some(&"b"));
        assert_eq!(t.remove(a), None);
        assert_eq!(Handle::from_bits(b.to_bits()), b);
        assert_ne!(b.to_bits(), 0);
    }

    #[test]
    fn the_full_limits_fill_the_packed_handle() {
        let last = Handle { index: Limits::FULL.entries - 1, generation: Limits::FULL.last_generation };
        assert_eq!(Handle::from_bits(last.to_bits()), last);
        assert_eq!(last.to_bits(), (1 << HANDLE_BITS) - 1);
    }

    #[test]
    fn a_slot_at_its_last_generation_is_retired_and_never_reused() {
        let mut t = HandleTable::new(Limits { entries: 2, last_generation: 3 });
        let mut seen = Vec::new();
        while let Ok(h) = t.insert(()) {
            assert!(!seen.contains(&h), "{h:?} handed out twice");
            seen.push(h);
            t.remove(h);
        }
        // Slot 0 for generations 1..=3, then slot 1 for 1..=3.
        let expected: Vec<_> = (0..2).flat_map(|index| (1..=3).map(move |generation| Handle { index, generation })).collect();
        assert_eq!(seen, expected);
        assert!(t.is_exhausted());
        assert_eq!(t.insert(()), Err(ErrorKind::Exhausted.into()));
        assert!(seen.iter().all(|&h| t.get(h).is_none()));
    }

    #[test]
    fn at_the_full_limits_a_slot_is_retired_at_generation_2_pow_28_minus_1() {
        let mut t = HandleTable::default();
        let a = t.insert(()).unwrap();
        t.remove(a);
        t.slots[0].generation = Limits::FULL.last_generation - 1;
        let last = t.insert(()).unwrap();
        assert_eq!(last, Handle { index: 0, generation: (1 << 28) - 1 });
        t.remove(last);
        // Not back to generation 1 of slot 0: a fresh slot.
        assert_eq!(t.insert(()).unwrap(), Handle { index: 1, generation: 1 });
    }

    #[test]
    fn a_table_full_of_live_entries_refuses_with_exhausted() {
        let mut t = HandleTable::new(Limits { entries: 2, last_generation: 9 });
        let a = t.insert(1).unwrap();
        t.insert(2).unwrap();
        assert_eq!(t.insert(3), Err(ErrorKind::Exhausted.into()));
        t.remove(a);
        assert_eq!(t.insert(3).unwrap(), Handle { index: 0, generation: 2 });
    }

    #[test]
    fn identities_carry_on_where_the_last_table_stopped() {
        let mut t = HandleTable::new(Limits { entries: 4, last_generation: 2 });
        let a = t.insert("a").unwrap();
        let b = t.insert("b").unwrap();
        t.remove(a);
        t.remove(b);
        let retired = t.insert("c").unwrap();
        t.remove(retired);
        assert_eq!(retired.generation, 2);
        let mut next: HandleTable<u8> = t.identities();
        let mut seen = vec![a, b, retired];
        while let Ok(h) = next.insert(0) {
            assert!(!seen.contains(&h), "{h:?} handed out twice");
            seen.push(h);
            next.remove(h);
        }
        assert_eq!(seen.len(), 4 * 2);
    }

    #[test]
    fn retire_gives_up_a_slot_at_any_generation() {
        let mut t = HandleTable::default();
        let a = t.insert(()).unwrap();
        t.retire(a);
        assert_eq!(t.insert(()).unwrap().index, 1);
    }
}
