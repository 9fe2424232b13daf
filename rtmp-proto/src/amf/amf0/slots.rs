//! The AMF0 reference table.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

/// A reference-table entry: where its value starts, and whether it is complete.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ObjectSlot<'a> {
    pub(super) at: &'a [u8],
    pub(super) done: bool,
}

/// How many entries live inline: most bodies hold fewer containers, so the
/// table costs them no allocation.
const INLINE: usize = 4;

/// The table of containers of one body, in the order they start (AMF0 §2.9).
#[derive(Debug, Default)]
pub(super) struct Slots<'a> {
    len: usize,
    inline: [ObjectSlot<'a>; INLINE],
    spilled: Vec<ObjectSlot<'a>>,
}

impl<'a> Slots<'a> {
    /// Adds an open entry for the container starting at `at`; returns its index.
    #[inline]
    pub(super) fn open(&mut self, at: &'a [u8]) -> usize {
        let slot = ObjectSlot { at, done: false };
        match self.inline.get_mut(self.len) {
            Some(entry) => *entry = slot,
            None => self.spilled.push(slot),
        }
        let index = self.len;
        self.len = self.len.saturating_add(1);
        index
    }

    /// Marks entry `index` complete.
    #[inline]
    pub(super) fn close(&mut self, index: usize) {
        let slot = match index.checked_sub(INLINE) {
            None => self.inline.get_mut(index),
            Some(spilled) => self.spilled.get_mut(spilled),
        };
        if let Some(slot) = slot {
            slot.done = true;
        }
    }

    /// Entry `index`, if the table has it.
    pub(super) fn get(&self, index: usize) -> Option<ObjectSlot<'a>> {
        if index >= self.len {
            return None;
        }
        match index.checked_sub(INLINE) {
            None => self.inline.get(index).copied(),
            Some(spilled) => self.spilled.get(spilled).copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Slots;

    #[test]
    fn spills_past_the_inline_part() {
        let body = [0u8; 8];
        let mut slots = Slots::default();
        for i in 0..7 {
            assert_eq!(slots.open(&body[i..]), i);
        }
        slots.close(1);
        slots.close(5);
        slots.close(99);
        let done: Vec<_> = (0..8).map(|i| slots.get(i).map(|s| s.done)).collect();
        assert_eq!(
            done,
            [
                Some(false),
                Some(true),
                Some(false),
                Some(false),
                Some(false),
                Some(true),
                Some(false),
                None
            ]
        );
        assert_eq!(slots.get(6).map(|s| s.at.len()), Some(2));
    }
}
