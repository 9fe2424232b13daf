//! The encoder's side of the AMF3 string table (AMF 3 §3.8): which
//! strings the peer's table holds, at which index, and where their bytes
//! are, so that the encoder can write a repeat as a reference.

use super::MAX_U28;

/// Slots probed for a string before giving up on a reference, so that
/// colliding strings cannot make encoding quadratic.
const MAX_PROBES: usize = 8;
/// The hash index grows past a full probe sequence while it has fewer than
/// this many slots per string.
const MAX_SPARSENESS: usize = 16;

/// The encoder's side of the string table: how many strings the peer's
/// table holds, and what is needed to find them again.
///
/// The first [`LISTED`] strings are kept in a list in the order the peer
/// numbers them, each with a [`tag`] (its length and its first and last
/// bytes). A 1,024-bit filter over the tags says when a string cannot be
/// in the list, so a string seen for the first time (nearly every string
/// of a body without repeats) costs a tag, a bit test and a few stores,
/// and no search; only when the filter lets a string through is the list
/// scanned. Past [`LISTED`] strings, all of them move into an
/// open-addressing hash index, which [`hash`] keys. Neither copies strings
/// while a call runs: an entry points at the bytes just written to the
/// output. When [`Encoder::encode`](super::Encoder::encode) returns, the
/// strings it added are copied to `arena` for the calls after it.
#[derive(Debug)]
pub(super) struct StringTable {
    count: u32,
    /// Bit [`filter_bit`] of the tag of every listed string.
    filter: [u64; FILTER_WORDS],
    /// Entry `i` is string `i`, for `i` below `count` and [`LISTED`].
    spans: [Span; LISTED],
    /// The hash index, once more than [`LISTED`] strings were written: a
    /// power of two long.
    slots: Vec<Slot>,
    used: usize,
    /// Positions below `arena.len()` are in here; positions from there on
    /// are offsets into the current call's output, shifted by `arena.len()`.
    arena: Vec<u8>,
}

/// Strings kept in the list before the hash index takes over: the most
/// tags a string the filter lets through is compared with.
const LISTED: usize = 32;
/// Words of the filter over listed tags: 1,024 bits.
const FILTER_WORDS: usize = 16;

/// Where a string's bytes are; `len` 0 for a string that cannot be found
/// again (the empty string is never in the table).
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    at: usize,
    len: u32,
    /// The string's [`tag`] while it is listed (it fills what would be
    /// padding).
    tag: u32,
}

/// A string's bytes and its index in the peer's table.
#[derive(Debug, Clone, Copy, Default)]
struct Place {
    index: u32,
    span: Span,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    hash: u32,
    /// The string's place; a free slot has `span.len` 0.
    place: Place,
}

impl Default for StringTable {
    fn default() -> Self {
        Self {
            count: 0,
            filter: [0; FILTER_WORDS],
            spans: [Span::default(); LISTED],
            slots: Vec::new(),
            used: 0,
            arena: Vec::new(),
        }
    }
}

/// A string [`StringTable::unseen`] vouches for: short, new, and with
/// room in the list.
#[derive(Debug, Clone, Copy)]
pub(super) struct Unseen {
    index: usize,
    tag: u32,
    len: u8,
}

impl Unseen {
    /// The string's U29S-value header: its length, not a reference.
    pub(super) fn header(self) -> u8 {
        self.len << 1 | 1
    }
}

impl StringTable {
    /// `Some` when `s` is not empty, shorter than 64 bytes (a one-byte
    /// header), certainly not in the table, and the list has room for it:
    /// then [`list`](Self::list) it once written.
    #[inline]
    pub(super) fn unseen(&self, s: &[u8]) -> Option<Unseen> {
        let index = self.count as usize;
        // One comparison for "not empty and below 64".
        if s.len().wrapping_sub(1) >= 63 || index >= LISTED {
            return None;
        }
        let tag = tag(s);
        let (word, bit) = filter_bit(tag);
        let len = s.len() as u8;
        (self.filter[word] & bit == 0).then_some(Unseen { index, tag, len })
    }

    /// Lists a string [`unseen`](Self::unseen) vouched for, written at
    /// offset `at` of the current call's output.
    #[inline]
    pub(super) fn list(&mut self, new: Unseen, at: usize) {
        // `index` is below LISTED: the count cannot overflow.
        self.count += 1;
        if let Some(span) = self.spans.get_mut(new.index) {
            // Offsets of bytes in memory: the sum cannot overflow.
            *span = Span {
                at: self.arena.len() + at,
                len: u32::from(new.len),
                tag: new.tag,
            };
            let (word, bit) = filter_bit(new.tag);
            self.filter[word] |= bit;
        }
    }

    /// The index of `s` (not empty) if the table holds it, else the key to
    /// [`add`](Self::add) it with (its tag, or its hash once the index
    /// took over).
    #[inline]
    pub(super) fn find(&self, s: &[u8], out: &[u8], base: usize) -> Result<u32, u32> {
        if !self.slots.is_empty() {
            return self.find_hashed(s, out, base);
        }
        let tag = tag(s);
        let (word, bit) = filter_bit(tag);
        if self.filter[word] & bit == 0 {
            return Err(tag);
        }
        self.find_listed(tag, s, out, base)
    }

    #[inline(never)]
    fn find_listed(&self, tag: u32, s: &[u8], out: &[u8], base: usize) -> Result<u32, u32> {
        let listed = (self.count as usize).min(LISTED);
        for (index, &span) in self.spans.iter().enumerate().take(listed) {
            if span.tag == tag
                && span.len as usize == s.len()
                && self.bytes(span, out, base) == Some(s)
            {
                // `index` is below LISTED (32).
                return Ok(index as u32);
            }
        }
        Err(tag)
    }

    #[inline(never)]
    fn find_hashed(&self, s: &[u8], out: &[u8], base: usize) -> Result<u32, u32> {
        let hash = hash(s);
        let mask = self.slots.len() - 1;
        for probe in 0..MAX_PROBES {
            let slot = self.slots[(hash as usize + probe) & mask];
            if slot.place.span.len == 0 {
                break;
            }
            if slot.hash == hash
                && slot.place.span.len as usize == s.len()
                && self.bytes(slot.place.span, out, base) == Some(s)
            {
                return Ok(slot.place.index);
            }
        }
        Err(hash)
    }

    /// Counts a string of `len` bytes written inline at offset `at` of the
    /// current call's output `out` (which starts at `base`), and keeps it
    /// under `key` (from [`find`](Self::find)) if a reference can express
    /// it and there is room.
    #[inline]
    pub(super) fn add(&mut self, key: u32, at: usize, len: usize, out: &[u8], base: usize) {
        let index = self.count;
        self.count = self.count.saturating_add(1);
        let span = match u32::try_from(len) {
            Ok(len) => Span {
                at: self.arena.len().saturating_add(at),
                len,
                tag: key,
            },
            Err(_) => Span::default(),
        };
        if let Some(free) = self.spans.get_mut(index as usize) {
            *free = span;
            let (word, bit) = filter_bit(key);
            self.filter[word] |= bit;
            return;
        }
        if index <= MAX_U28 && span.len != 0 {
            self.add_hashed(key, Place { index, span }, out, base);
        }
    }

    /// [`add`](Self::add) once the list is full.
    #[inline(never)]
    fn add_hashed(&mut self, mut hash: u32, place: Place, out: &[u8], base: usize) {
        if self.slots.is_empty() {
            self.spill(out, base);
            // `find` gave a tag, not a hash: the index was not there yet.
            hash = self.bytes(place.span, out, base).map_or(0, self::hash);
        }
        let slot = Slot { hash, place };
        if insert(&mut self.slots, slot) {
            self.used += 1;
            if self.used * 2 > self.slots.len() {
                self.grow();
            }
        } else if self.slots.len() < MAX_SPARSENESS * self.used {
            // A cluster longer than MAX_PROBES: spread it out rather than
            // write this string again each time it comes back. Strings of
            // one hash cannot be spread, hence the bound on growth.
            self.grow();
            if insert(&mut self.slots, slot) {
                self.used += 1;
            }
        }
    }

    /// Moves the list into a new hash index.
    fn spill(&mut self, out: &[u8], base: usize) {
        let mut slots = vec![Slot::default(); LISTED * 4];
        let mut used = 0;
        for (index, &span) in (0u32..).zip(&self.spans) {
            let Some(bytes) = self.bytes(span, out, base).filter(|b| !b.is_empty()) else {
                continue;
            };
            let place = Place { index, span };
            if insert(
                &mut slots,
                Slot {
                    hash: hash(bytes),
                    place,
                },
            ) {
                used += 1;
            }
        }
        self.used = used;
        self.slots = slots;
    }

    /// Copies the strings the current call added (written to `written`, its
    /// output) into the arena, so that later calls can compare against them.
    pub(super) fn keep(&mut self, written: &[u8]) {
        let start = self.arena.len();
        // Once the hash index took over, the list is a stale copy of it.
        let listed = if self.slots.is_empty() {
            (self.count as usize).min(LISTED)
        } else {
            0
        };
        let small = self.spans.iter_mut().take(listed);
        let hashed = self.slots.iter_mut().map(|slot| &mut slot.place.span);
        for span in small.chain(hashed) {
            let Some(offset) = span.at.checked_sub(start) else {
                continue;
            };
            if span.len == 0 {
                continue;
            }
            let bytes = written
                .get(offset..)
                .and_then(|rest| rest.get(..span.len as usize));
            match bytes {
                Some(bytes) => {
                    span.at = self.arena.len();
                    self.arena.extend_from_slice(bytes);
                }
                // Unreachable (the call wrote these bytes); never match it.
                _ => span.len = 0,
            }
        }
    }

    fn bytes<'s>(&'s self, span: Span, out: &'s [u8], base: usize) -> Option<&'s [u8]> {
        let at = span.at;
        let len = span.len as usize;
        match at.checked_sub(self.arena.len()) {
            None => self.arena.get(at..)?.get(..len),
            Some(offset) => out.get(base.checked_add(offset)?..)?.get(..len),
        }
    }

    fn grow(&mut self) {
        let mut grown = vec![Slot::default(); self.slots.len() * 2];
        let mut used = 0;
        for &slot in self.slots.iter().filter(|s| s.place.span.len != 0) {
            if insert(&mut grown, slot) {
                used += 1;
            }
        }
        self.used = used;
        self.slots = grown;
    }
}

/// The length and the first and last bytes of a string: enough to tell
/// apart most strings of one body, in a few instructions.
#[inline]
fn tag(bytes: &[u8]) -> u32 {
    let first = bytes.first().copied().unwrap_or(0);
    let last = bytes.last().copied().unwrap_or(0);
    (bytes.len() as u32) << 16 ^ u32::from(first) << 8 ^ u32::from(last)
}

/// The word and bit of a tag in the filter: the top 10 bits of a
/// multiplicative hash, which every bit of the tag reaches. With at most
/// [`LISTED`] bits set of 1,024, a new string is let through (and the list
/// scanned for nothing) less than 1 time in 32.
#[inline]
fn filter_bit(tag: u32) -> (usize, u64) {
    let h = tag.wrapping_mul(0x9e37_79b9) >> 22;
    ((h >> 6) as usize % FILTER_WORDS, 1 << (h & 63))
}

/// Puts `slot` in the first free place of its probe sequence, if any.
fn insert(slots: &mut [Slot], slot: Slot) -> bool {
    let mask = slots.len() - 1;
    for probe in 0..MAX_PROBES {
        let free = &mut slots[(slot.hash as usize + probe) & mask];
        if free.place.span.len == 0 {
            *free = slot;
            return true;
        }
    }
    false
}

/// A hash of the length and of up to three 8-byte words (head, middle,
/// tail): constant time whatever the length. Strings that collide only
/// cost a comparison, and the probe limit bounds that.
fn hash(bytes: &[u8]) -> u32 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let len = bytes.len();
    let (head, middle, tail) = if len >= 8 {
        let word = |w: Option<&[u8; 8]>| w.map_or(0, |w| u64::from_le_bytes(*w));
        (
            word(bytes.first_chunk()),
            word(bytes.get(len / 2 - 4..).and_then(<[u8]>::first_chunk)),
            word(bytes.last_chunk()),
        )
    } else if len >= 4 {
        let word = |w: Option<&[u8; 4]>| w.map_or(0, |w| u64::from(u32::from_le_bytes(*w)));
        (word(bytes.first_chunk()), 0, word(bytes.last_chunk()))
    } else {
        let byte = |b: Option<&u8>| b.map_or(0, |&b| u64::from(b));
        let head = byte(bytes.first()) | byte(bytes.get(len / 2)) << 8 | byte(bytes.last()) << 16;
        (head, 0, 0)
    };
    let mut h = (head ^ (len as u64) << 40).wrapping_mul(K);
    h = (h.rotate_left(26) ^ middle).wrapping_mul(K);
    h = (h.rotate_left(26) ^ tail).wrapping_mul(K);
    // A product only carries differences upwards: fold the high half down
    // and multiply again, so that the last bytes reach the bits that pick
    // the slot.
    h = (h ^ h >> 32).wrapping_mul(K);
    (h >> 32) as u32
}
