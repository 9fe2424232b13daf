//! [`OutboundQueue`]: what waits for one client's socket, bounded in bytes,
//! with pending CHANGEs of one key coalesced to the latest.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use bytes::Bytes;
use rtmp_proto::amf::Encoding;

use super::link::ClientCommand;
use crate::values::wire_size;

/// The limits of one client's [`OutboundQueue`]. Start from [`Default`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Most bytes that may wait for one client (encoded bodies, estimated
    /// sizes of calls and replies, plus [`QueueLimits::ENTRY_OVERHEAD`] per
    /// message). A push past it overflows the queue: the adapter
    /// disconnects the client. A message pushed into an empty queue is
    /// always accepted, so one client's memory is bounded by this plus one
    /// message, which the engine's `max_update_bytes` bounds.
    pub max_queued_bytes: usize,
}

impl QueueLimits {
    /// Default cap: 16 MiB. Above the engine's largest update (15 MiB), so
    /// that a client reading at all survives one full-size USE answer, and
    /// small enough that a thousand stalled clients cost at most 16 GiB
    /// (lower it for many clients on a small machine).
    pub const DEFAULT_MAX_QUEUED_BYTES: usize = 16 << 20;
    /// What each queued message counts for besides its bytes: its slot, its
    /// shared-body handle and its allocator overhead, so that a flood of
    /// tiny messages is bounded too.
    pub const ENTRY_OVERHEAD: usize = 64;
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self {
            max_queued_bytes: Self::DEFAULT_MAX_QUEUED_BYTES,
        }
    }
}

/// What [`OutboundQueue::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Appended.
    Queued,
    /// Appended, and an older pending CHANGE of the same SO and key was
    /// removed.
    Coalesced,
    /// Dropped: the queue overflowed earlier and its client is being
    /// disconnected.
    Dropped,
}

/// The queue went past its cap: disconnect the client. Reported once; the
/// queue is emptied and drops everything pushed afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow {
    /// Bytes that were waiting, the refused message included.
    pub queued_bytes: usize,
    /// The cap.
    pub limit: usize,
}

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "outbound queue over its cap ({} bytes waiting, limit {}): the client does not read",
            self.queued_bytes, self.limit
        )
    }
}

/// One client's pending [`ClientCommand`]s, in order, bounded in bytes.
///
/// The engine's side pushes; the connection's side takes everything at
/// once ([`OutboundQueue::drain_into`]) when its socket can take more, so
/// a slow reader's messages wait here, where they are bounded and
/// coalesced, not in socket buffers.
///
/// **Coalescing.** When a pushed SharedObject body consists of exactly one
/// CHANGE of one key, a pending body that also is exactly one CHANGE of
/// the same SO name and key is removed, and the new one appended. The
/// client skips the intermediate value and never sees versions go
/// backwards (the newer message goes last, behind everything queued
/// before it). Only the body's header is peeked (name, first event type
/// and length, key), no AMF is decoded. Every other message (a writer's
/// SUCCESS, REMOVE, a multi-event update, a USE answer, STATUS, SEND) is
/// delivered as it is: each one either carries a new version the client
/// must see in order or has no later replacement.
#[derive(Debug)]
pub struct OutboundQueue {
    limits: QueueLimits,
    /// Sorted by `seq`; removed entries stay as holes (`item: None`) until
    /// they reach the front or a compaction.
    entries: VecDeque<Entry>,
    /// The live single-CHANGE entries by (SO name, key), built once the
    /// queue holds [`INDEX_FROM`] entries; below that a scan is cheaper
    /// (a reader that keeps up never pays for a map).
    index: Option<BTreeMap<IndexKey, u64>>,
    next_seq: u64,
    live: usize,
    bytes: usize,
    overflowed: bool,
    coalesced: u64,
}

/// How many live entries make the queue index its single CHANGEs.
const INDEX_FROM: usize = 32;

#[derive(Debug)]
struct Entry {
    seq: u64,
    size: usize,
    /// Where the SO name and key sit in the body, for a single CHANGE.
    key: Option<KeySpan>,
    item: Option<ClientCommand>,
}

impl Entry {
    /// The (SO name, key) of a live single CHANGE.
    fn key(&self) -> Option<(&[u8], &[u8])> {
        match (&self.item, &self.key) {
            (Some(ClientCommand::SharedObject(body)), Some(span)) => Some(span.slices(body)),
            _ => None,
        }
    }

    /// The same, as the index's key.
    fn shared_key(&self) -> Option<IndexKey> {
        match (&self.item, &self.key) {
            (Some(ClientCommand::SharedObject(body)), Some(span)) => Some(span.shared(body)),
            _ => None,
        }
    }
}

impl OutboundQueue {
    /// An empty queue.
    pub fn new(limits: QueueLimits) -> Self {
        Self {
            limits,
            entries: VecDeque::new(),
            index: None,
            next_seq: 0,
            live: 0,
            bytes: 0,
            overflowed: false,
            coalesced: 0,
        }
    }

    /// Appends `command` for a client that uses `encoding` (which says how
    /// to read a SharedObject body's header).
    pub fn push(&mut self, encoding: Encoding, command: ClientCommand) -> Result<Pushed, Overflow> {
        let key = ChangeKey::of(encoding, &command);
        self.push_keyed(command, key)
    }

    /// [`OutboundQueue::push`] with the body's header already read:
    /// `key` must be [`ChangeKey::of`] this command, or of one with the
    /// same body bytes (one update's body goes to many clients, and its
    /// header need be read only once).
    pub fn push_keyed(
        &mut self,
        command: ClientCommand,
        key: Option<ChangeKey>,
    ) -> Result<Pushed, Overflow> {
        if self.overflowed {
            return Ok(Pushed::Dropped);
        }
        let span = match &command {
            ClientCommand::SharedObject(body) => key.map(|k| k.0).filter(|k| k.fits(body)),
            _ => None,
        };
        let mut pushed = Pushed::Queued;
        if let (Some(span), ClientCommand::SharedObject(body)) = (&span, &command)
            && let Some(seq) = self.pending_change(span, body)
        {
            self.remove(seq);
            pushed = Pushed::Coalesced;
            self.coalesced = self.coalesced.saturating_add(1);
        }
        let size = command_size(&command).saturating_add(QueueLimits::ENTRY_OVERHEAD);
        let total = self.bytes.saturating_add(size);
        if self.live > 0 && total > self.limits.max_queued_bytes {
            self.overflowed = true;
            self.clear();
            return Err(Overflow {
                queued_bytes: total,
                limit: self.limits.max_queued_bytes,
            });
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let entry = Entry {
            seq,
            size,
            key: span,
            item: Some(command),
        };
        if let Some(index) = &mut self.index
            && let Some(key) = entry.shared_key()
        {
            index.insert(key, seq);
        }
        self.entries.push_back(entry);
        self.live += 1;
        self.bytes = total;
        if self.index.is_none() && self.live >= INDEX_FROM {
            self.build_index();
        }
        Ok(pushed)
    }

    /// Takes the oldest pending command.
    pub fn pop(&mut self) -> Option<ClientCommand> {
        while let Some(entry) = self.entries.pop_front() {
            if entry.item.is_none() {
                continue;
            }
            self.live -= 1;
            self.bytes = self.bytes.saturating_sub(entry.size);
            if let Some(index) = &mut self.index
                && let Some(key) = entry.shared_key()
            {
                index.remove(&key);
            }
            if self.live == 0 {
                self.index = None;
            }
            return entry.item;
        }
        None
    }

    /// Moves every pending command, oldest first, to the end of `out`.
    pub fn drain_into(&mut self, out: &mut Vec<ClientCommand>) {
        out.reserve(self.live);
        out.extend(self.entries.drain(..).filter_map(|e| e.item));
        self.clear();
    }

    /// How many commands are pending.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The bytes pending, as counted against the cap.
    pub fn queued_bytes(&self) -> usize {
        self.bytes
    }

    /// Whether the queue overflowed (its client is to be disconnected).
    pub fn is_overflowed(&self) -> bool {
        self.overflowed
    }

    /// How many messages coalescing removed so far.
    pub fn coalesced(&self) -> u64 {
        self.coalesced
    }

    /// The limits.
    pub fn limits(&self) -> QueueLimits {
        self.limits
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.index = None;
        self.live = 0;
        self.bytes = 0;
    }

    /// The pending single CHANGE of the same SO and key, if any.
    fn pending_change(&mut self, span: &KeySpan, body: &Bytes) -> Option<u64> {
        // A reader that keeps up finds its queue empty at every push: no
        // scan (its set-up costs more than the rest of a push, B1).
        if self.live == 0 {
            return None;
        }
        if let Some(index) = &mut self.index {
            return index.remove(&span.shared(body));
        }
        let wanted = span.slices(body);
        self.entries
            .iter()
            .rev()
            .find(|e| e.key.is_some_and(|k| k.hash == span.hash) && e.key() == Some(wanted))
            .map(|e| e.seq)
    }

    fn build_index(&mut self) {
        let index = self
            .entries
            .iter()
            .filter_map(|e| Some((e.shared_key()?, e.seq)))
            .collect();
        self.index = Some(index);
    }

    /// Turns the live entry `seq` into a hole.
    fn remove(&mut self, seq: u64) {
        let Ok(at) = self.entries.binary_search_by_key(&seq, |e| e.seq) else {
            return;
        };
        let Some(entry) = self.entries.get_mut(at) else {
            return;
        };
        if entry.item.take().is_some() {
            self.live -= 1;
            self.bytes = self.bytes.saturating_sub(entry.size);
        }
        // Holes cost a slot each: compact once they outnumber the live
        // entries, so a hot key updated for a stalled reader stays O(1)
        // in memory (amortized O(1) per push).
        let holes = self.entries.len().saturating_sub(self.live);
        if holes > INDEX_FROM && holes > self.live {
            self.entries.retain(|e| e.item.is_some());
        }
    }
}

/// The (SO name, key) of a body that consists of exactly one CHANGE event
/// of one key; `None` for anything else. See [`OutboundQueue`].
pub fn single_change_key(encoding: Encoding, body: &[u8]) -> Option<(&[u8], &[u8])> {
    Some(KeySpan::find(encoding, body)?.slices(body))
}

/// Where a single-CHANGE body's SO name and key sit, and their hash: what
/// the queue coalesces by, read from the body's header once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeKey(KeySpan);

impl ChangeKey {
    /// Whether `a` (the key of body `a_body`) and `b` (of `b_body`) name
    /// the same SO and key.
    pub fn same(a: ChangeKey, a_body: &[u8], b: ChangeKey, b_body: &[u8]) -> bool {
        a.0.hash == b.0.hash
            && a.0.fits(a_body)
            && b.0.fits(b_body)
            && a.0.slices(a_body) == b.0.slices(b_body)
    }

    /// The key of `command` for a client that uses `encoding`: `None`
    /// unless it is a SharedObject body of exactly one CHANGE.
    pub fn of(encoding: Encoding, command: &ClientCommand) -> Option<Self> {
        match command {
            ClientCommand::SharedObject(body) => KeySpan::find(encoding, body).map(Self),
            _ => None,
        }
    }
}

/// Longest run [`coalesce_run`] looks at; a longer one is left to the
/// queue (which coalesces it the same, one push at a time).
pub const COALESCE_RUN_MAX: usize = 64;
/// Most distinct keys [`coalesce_run`] tracks; older CHANGEs of further
/// keys are left to the queue.
const COALESCE_RUN_KEYS: usize = 16;

/// Drops from `run` (one client's commands in order, each with its
/// [`ChangeKey`]) every single CHANGE that a later one of the same SO and
/// key in `run` replaces: what pushing them one by one into an
/// [`OutboundQueue`] would leave, found without the queue, so that a
/// batch of updates pushes only what its client will get.
pub fn coalesce_run(run: &mut Vec<(ClientCommand, Option<ChangeKey>)>) {
    if run.len() < 2 || run.len() > COALESCE_RUN_MAX {
        return;
    }
    // Indices of the newest CHANGE of each key seen, walking backwards.
    let mut newest = [0usize; COALESCE_RUN_KEYS];
    let mut keys = 0;
    let mut dropped: u64 = 0;
    for i in (0..run.len()).rev() {
        let (ClientCommand::SharedObject(body), Some(key)) = &run[i] else {
            continue;
        };
        if !key.0.fits(body) {
            continue;
        }
        let replaced = newest[..keys].iter().any(|&j| match &run[j] {
            (ClientCommand::SharedObject(later), Some(later_key)) => {
                later_key.0.hash == key.0.hash && later_key.0.slices(later) == key.0.slices(body)
            }
            _ => false,
        });
        if replaced {
            dropped |= 1 << i;
        } else if keys < COALESCE_RUN_KEYS {
            newest[keys] = i;
            keys += 1;
        }
    }
    if dropped != 0 {
        let mut i = 0;
        run.retain(|_| {
            i += 1;
            dropped & (1 << (i - 1)) == 0
        });
    }
}

/// Where the SO name and the key of a single-CHANGE body sit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KeySpan {
    name: (usize, usize),
    key: (usize, usize),
    /// FNV-1a of name and key: most comparisons stop at it.
    hash: u64,
}

/// The index's key: the hash first, so that most comparisons are one
/// integer comparison; the bytes settle collisions.
type IndexKey = (u64, Bytes, Bytes);

impl KeySpan {
    /// Reads the header only: type 16's leading byte, name (u16 length),
    /// version, flags and reserved words, then one event (type, u32
    /// length) that ends exactly at the end of the body, and the key (u16
    /// length) at the start of its payload.
    fn find(encoding: Encoding, body: &[u8]) -> Option<Self> {
        const CHANGE: u8 = 4;
        let start = match encoding {
            Encoding::Amf0 => 0,
            Encoding::Amf3 => 1,
        };
        let name_len = usize::from(u16_at(body, start)?);
        let name_at = start + 2;
        let name_end = name_at.checked_add(name_len)?;
        let header_end = name_end.checked_add(12)?;
        if *body.get(header_end)? != CHANGE {
            return None;
        }
        let event_len = usize::try_from(u32_at(body, header_end + 1)?).ok()?;
        let payload_at = header_end + 5;
        if payload_at.checked_add(event_len)? != body.len() {
            return None;
        }
        let key_len = usize::from(u16_at(body, payload_at)?);
        let key_at = payload_at + 2;
        let key_end = key_at.checked_add(key_len)?;
        if key_end > body.len() {
            return None;
        }
        let mut span = Self {
            name: (name_at, name_end),
            key: (key_at, key_end),
            hash: 0,
        };
        let (name, key) = span.slices(body);
        span.hash = fnv1a(fnv1a(FNV_OFFSET, name) ^ 0xFF, key);
        Some(span)
    }

    /// Whether both spans lie inside `body` (a key read from another
    /// body of another length does not).
    fn fits(&self, body: &[u8]) -> bool {
        self.name.0 <= self.name.1 && self.key.0 <= self.key.1 && self.key.1 <= body.len()
    }

    fn slices<'b>(&self, body: &'b [u8]) -> (&'b [u8], &'b [u8]) {
        let get = |(from, to): (usize, usize)| body.get(from..to).unwrap_or_default();
        (get(self.name), get(self.key))
    }

    fn shared(&self, body: &Bytes) -> IndexKey {
        let (name, key) = self.slices(body);
        (self.hash, body.slice_ref(name), body.slice_ref(key))
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// What a command counts for in the queue: a body's length, an estimate
/// of a call's or reply's encoding, a little for the rest.
fn command_size(command: &ClientCommand) -> usize {
    match command {
        ClientCommand::SharedObject(body) => body.len(),
        ClientCommand::Reply { reply, .. } => match reply {
            Ok(v) | Err(v) => wire_size(v).saturating_add(32),
        },
        ClientCommand::Call { method, args, .. } => {
            args.iter().fold(method.len().saturating_add(32), |n, v| {
                n.saturating_add(wire_size(v))
            })
        }
        ClientCommand::Reject(reason) | ClientCommand::Disconnect(reason) => {
            reason.len().saturating_add(64)
        }
        ClientCommand::Accept => 256,
    }
}

fn u16_at(body: &[u8], at: usize) -> Option<u16> {
    let bytes = body.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes(bytes.try_into().ok()?))
}

fn u32_at(body: &[u8], at: usize) -> Option<u32> {
    let bytes = body.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
