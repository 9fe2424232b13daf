//! A small push-only list for the decoder's reference tables.
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

/// A list that keeps its first `N` items inline and the rest in a `Vec`:
/// a typical body's tables then cost no allocation, and every operation
/// stays small enough to inline into the decoder's hot paths.
#[derive(Debug)]
pub(crate) struct InlineVec<T, const N: usize> {
    len: usize,
    inline: [T; N],
    spilled: Vec<T>,
}

impl<T: Copy + Default, const N: usize> InlineVec<T, N> {
    pub(crate) fn new() -> Self {
        Self {
            len: 0,
            inline: [T::default(); N],
            spilled: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn push(&mut self, item: T) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = item,
            None => self.spilled.push(item),
        }
        self.len = self.len.saturating_add(1);
    }

    #[inline]
    pub(crate) fn get(&self, index: usize) -> Option<&T> {
        if index >= self.len {
            None
        } else if let Some(spilled) = index.checked_sub(N) {
            self.spilled.get(spilled)
        } else {
            self.inline.get(index)
        }
    }

    pub(crate) fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        if index >= self.len {
            None
        } else if let Some(spilled) = index.checked_sub(N) {
            self.spilled.get_mut(spilled)
        } else {
            self.inline.get_mut(index)
        }
    }

    pub(crate) fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
            self.spilled.truncate(len.saturating_sub(N));
        }
    }

    /// Makes room for `additional` more items.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let needed = self.len.saturating_add(additional).saturating_sub(N);
        self.spilled
            .reserve(needed.saturating_sub(self.spilled.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::InlineVec;

    #[test]
    fn spills_past_the_inline_part_and_truncates() {
        let mut list = InlineVec::<u32, 2>::new();
        for i in 0..5 {
            list.push(i);
        }
        assert_eq!(list.len(), 5);
        assert_eq!(
            (0..6).map(|i| list.get(i).copied()).collect::<Vec<_>>(),
            [Some(0), Some(1), Some(2), Some(3), Some(4), None]
        );
        *list.get_mut(3).unwrap() = 30;
        list.truncate(4);
        assert_eq!((list.len(), list.get(3), list.get(4)), (4, Some(&30), None));
        list.truncate(1);
        list.push(7);
        assert_eq!((list.get(1), list.get(2)), (Some(&7), None));
    }
}
