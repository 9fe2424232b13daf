//! Per-chunk-stream state, found by chunk stream id without hashing.
//!
//! Ids 0..=63 (the 1-byte basic header, where nearly all traffic lives) go
//! through a direct table; larger ids through a short list sorted by id.

/// State of type `T` for each chunk stream id that has some.
#[derive(Debug, Clone)]
pub(crate) struct Streams<T> {
    /// For ids below 64: index + 1 into `slots`, 0 when absent.
    direct: [u32; 64],
    /// For ids from 64 on: `(csid, index into slots)`, sorted by csid.
    wide: Vec<(u32, u32)>,
    slots: Vec<T>,
}

impl<T> Streams<T> {
    /// No chunk stream has state yet.
    pub(crate) fn new() -> Self {
        Self {
            direct: [0; 64],
            wide: Vec::new(),
            slots: Vec::new(),
        }
    }

    /// How many chunk streams have state.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Where the state of `csid` is, if it has any.
    #[inline]
    pub(crate) fn find(&self, csid: u32) -> Option<usize> {
        if let Some(&entry) = usize::try_from(csid)
            .ok()
            .and_then(|id| self.direct.get(id))
        {
            return usize::try_from(entry.checked_sub(1)?).ok();
        }
        let at = self.wide.binary_search_by_key(&csid, |&(id, _)| id).ok()?;
        let &(_, index) = self.wide.get(at)?;
        usize::try_from(index).ok()
    }

    /// Every state, by index (an index stays its chunk stream's for the
    /// decoder's life).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.slots.iter().enumerate()
    }

    /// The state at `index` (from [`find`](Self::find) or [`insert`](Self::insert)).
    #[inline]
    pub(crate) fn slot(&self, index: usize) -> Option<&T> {
        self.slots.get(index)
    }

    /// The state at `index`, to change.
    #[inline]
    pub(crate) fn slot_mut(&mut self, index: usize) -> Option<&mut T> {
        self.slots.get_mut(index)
    }

    /// The state of `csid`, if it has any, to change.
    #[inline]
    pub(crate) fn get_mut(&mut self, csid: u32) -> Option<&mut T> {
        let index = self.find(csid)?;
        self.slot_mut(index)
    }

    /// Gives `csid` the state `value`, replacing any it had; returns where it is.
    pub(crate) fn insert(&mut self, csid: u32, value: T) -> usize {
        if let Some(index) = self.find(csid) {
            if let Some(slot) = self.slots.get_mut(index) {
                *slot = value;
            }
            return index;
        }
        let index = self.slots.len();
        // Indexes fit in u32: chunk stream ids end at 65,599.
        let entry = u32::try_from(index).unwrap_or(u32::MAX);
        if let Some(direct) = usize::try_from(csid)
            .ok()
            .and_then(|id| self.direct.get_mut(id))
        {
            *direct = entry.saturating_add(1);
        } else {
            let at = self.wide.partition_point(|&(id, _)| id < csid);
            self.wide.insert(at, (csid, entry));
        }
        self.slots.push(value);
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(streams: &Streams<u32>, csid: u32) -> Option<&u32> {
        streams.slot(streams.find(csid)?)
    }

    #[test]
    fn finds_direct_and_wide_ids() {
        let mut streams = Streams::new();
        for csid in [3, 65_599, 2, 64, 320, 63, 319] {
            streams.insert(csid, csid * 10);
        }
        assert_eq!(streams.len(), 7);
        for csid in [3, 65_599, 2, 64, 320, 63, 319] {
            assert_eq!(get(&streams, csid), Some(&(csid * 10)));
        }
        for csid in [0, 1, 4, 65, 321, 65_598, 65_600, u32::MAX] {
            assert_eq!(get(&streams, csid), None);
        }
        streams.insert(64, 7);
        assert_eq!(streams.len(), 7);
        assert_eq!(get(&streams, 64), Some(&7));
        *streams.get_mut(3).unwrap() = 8;
        assert_eq!(get(&streams, 3), Some(&8));
        assert_eq!(streams.get_mut(4), None);
        assert_eq!(streams.insert(5, 50), 7);
        assert_eq!(streams.find(5), Some(7));
        assert_eq!(streams.slot(7), Some(&50));
        assert_eq!(streams.slot(8), None);
    }
}
