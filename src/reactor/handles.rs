//! A generation-checked slab: a handle to a removed entry is detected as
//! stale instead of reaching whatever took its slot.

/// Identifies one entry of a [`HandleTable`]. The generation is 24 bits and
/// never 0, so an encoded handle is never NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// Entries per table before `insert` refuses (20 bits of index).
pub(crate) const MAX_ENTRIES: usize = 1 << 20;
const GENERATION_MASK: u32 = (1 << 24) - 1;

impl Handle {
    /// Packs the handle into 44 bits: index (20) | generation (24).
    pub(crate) fn to_bits(self) -> u64 {
        ((self.index as u64) << 24) | self.generation as u64
    }

    /// The inverse of [`Handle::to_bits`].
    pub(crate) fn from_bits(bits: u64) -> Handle {
        Handle {
            index: ((bits >> 24) as u32) & (MAX_ENTRIES as u32 - 1),
            generation: (bits as u32) & GENERATION_MASK,
        }
    }
}

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// The slab itself.
pub struct HandleTable<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for HandleTable<T> {
    fn default() -> Self {
        HandleTable { slots: Vec::new(), free: Vec::new(), len: 0 }
    }
}

impl<T> HandleTable<T> {
    /// Stores `value`; `None` when the table is full.
    pub fn insert(&mut self, value: T) -> Option<Handle> {
        let index = match self.free.pop() {
            Some(i) => i,
            None if self.slots.len() < MAX_ENTRIES => {
                self.slots.push(Slot { generation: 0, value: None });
                (self.slots.len() - 1) as u32
            }
            None => return None,
        };
        let slot = &mut self.slots[index as usize];
        // 1, 2, … GENERATION_MASK, then 1 again: never 0.
        slot.generation = if slot.generation == GENERATION_MASK { 1 } else { slot.generation + 1 };
        slot.value = Some(value);
        self.len += 1;
        Some(Handle { index, generation: slot.generation })
    }

    fn slot(&self, h: Handle) -> Option<&Slot<T>> {
        self.slots.get(h.index as usize).filter(|s| s.generation == h.generation)
    }

    /// The live entry `h` names.
    pub fn get(&self, h: Handle) -> Option<&T> {
        self.slot(h)?.value.as_ref()
    }

    /// The live entry `h` names, mutably.
    pub fn get_mut(&mut self, h: Handle) -> Option<&mut T> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.value.as_mut()
    }

    /// Removes the entry; later uses of `h` are stale.
    pub fn remove(&mut self, h: Handle) -> Option<T> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        let value = slot.value.take()?;
        self.free.push(h.index);
        self.len -= 1;
        Some(value)
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no entry is live.
    pub fn is_empty(&self) -> bool {
        self.len == 0
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
    fn the_generation_wraps_to_1_never_to_0() {
        let mut t = HandleTable::default();
        let a = t.insert(()).unwrap();
        t.remove(a);
        t.slots[0].generation = GENERATION_MASK - 1;
        let b = t.insert(()).unwrap();
        assert_eq!(b.generation, GENERATION_MASK);
        t.remove(b);
        assert_eq!(t.insert(()).unwrap().generation, 1);
    }
}
