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

    /// The state of `csid`, if it has any.
    #[inline]
    pub(crate) fn get(&self, csid: u32) -> Option<&T> {
        self.slots.get(self.index(csid)?)
    }

    /// The state of `csid`, if it has any, to change.
    #[inline]
    pub(crate) fn get_mut(&mut self, csid: u32) -> Option<&mut T> {
        let index = self.index(csid)?;
        self.slots.get_mut(index)
    }

    /// Gives `csid` the state `value`, replacing any it had.
    pub(crate) fn insert(&mut self, csid: u32, value: T) {
        if let Some(slot) = self.get_mut(csid) {
            *slot = value;
            return;
        }
        let Ok(index) = u32::try_from(self.slots.len()) else {
            // More than 2^32 chunk streams cannot exist (ids end at 65,599).
            return;
        };
        if let Some(entry) = usize::try_from(csid)
            .ok()
            .and_then(|id| self.direct.get_mut(id))
        {
            *entry = index + 1;
        } else {
            let at = self.wide.partition_point(|&(id, _)| id < csid);
            self.wide.insert(at, (csid, index));
        }
        self.slots.push(value);
    }

    #[inline]
    fn index(&self, csid: u32) -> Option<usize> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_direct_and_wide_ids() {
        let mut streams = Streams::new();
        for csid in [3, 65_599, 2, 64, 320, 63, 319] {
            streams.insert(csid, csid * 10);
        }
        assert_eq!(streams.len(), 7);
        for csid in [3, 65_599, 2, 64, 320, 63, 319] {
            assert_eq!(streams.get(csid), Some(&(csid * 10)));
        }
        for csid in [0, 1, 4, 65, 321, 65_598, 65_600, u32::MAX] {
            assert_eq!(streams.get(csid), None);
        }
        streams.insert(64, 7);
        assert_eq!(streams.len(), 7);
        assert_eq!(streams.get(64), Some(&7));
        *streams.get_mut(3).unwrap() = 8;
        assert_eq!(streams.get(3), Some(&8));
        assert_eq!(streams.get_mut(4), None);
    }
}
