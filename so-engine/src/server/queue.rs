//! [`OutboundQueue`]: what waits for one client's socket, bounded in bytes,
//! with pending CHANGEs of one key coalesced to the latest.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use bytes::Bytes;

use super::link::ClientCommand;
use crate::delivery::ChangeKey;
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
/// **Coalescing** follows the server's one [rule](super#coalescing): a
/// pushed single CHANGE removes the pending single CHANGE of the same SO
/// name and key, if any, and goes to the back. The body is never read:
/// the engine's [`ChangeKey`] says where name and key sit.
#[derive(Debug)]
// Declared order: `live` first, which an empty queue's owner checks on
// every hand-over (the adapter keeps the queue right after its lock).
#[repr(C)]
pub struct OutboundQueue {
    live: usize,
    limits: QueueLimits,
    /// Sorted by `seq`; removed entries stay as holes (`item: None`) until
    /// they reach the front or a compaction.
    entries: VecDeque<Entry>,
    /// The live single-CHANGE entries by (SO name, key), built once the
    /// queue holds [`INDEX_FROM`] entries; below that a scan is cheaper
    /// (a reader that keeps up never pays for a map).
    index: Option<BTreeMap<IndexKey, u64>>,
    /// Until there is an index: the (key hash, seq) of every live single
    /// CHANGE, so that a push compares against the pending keys only, not
    /// against every entry and hole. Built at the first push that looks
    /// (a reader that keeps up, whose queue is empty at every push, never
    /// needs it), kept up to date from then on.
    changes: Vec<(u64, u64)>,
    /// Whether `changes` is built.
    changes_built: bool,
    next_seq: u64,
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
    key: Option<ChangeKey>,
    item: Option<ClientCommand>,
}

impl Entry {
    /// The (SO name, key) of a live single CHANGE.
    fn key(&self) -> Option<(&[u8], &[u8])> {
        match (&self.item, &self.key) {
            (Some(ClientCommand::SharedObject(body)), Some(key)) => Some(key.slices(body)),
            _ => None,
        }
    }

    /// The same, as the index's key.
    fn shared_key(&self) -> Option<IndexKey> {
        match (&self.item, &self.key) {
            (Some(ClientCommand::SharedObject(body)), Some(key)) => Some(index_key(key, body)),
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
            changes: Vec::new(),
            changes_built: false,
            next_seq: 0,
            live: 0,
            bytes: 0,
            overflowed: false,
            coalesced: 0,
        }
    }

    /// Appends `command`; `key` is the [`ChangeKey`] the engine gave its
    /// body when that body is exactly one CHANGE (the engine's
    /// `Output::SharedObject` carries it), `None` for anything else. A
    /// pending single CHANGE of the same SO and key is removed first (see
    /// the [coalescing rule](super#coalescing)).
    pub fn push(
        &mut self,
        command: ClientCommand,
        key: Option<ChangeKey>,
    ) -> Result<Pushed, Overflow> {
        if self.overflowed {
            return Ok(Pushed::Dropped);
        }
        let key = match &command {
            ClientCommand::SharedObject(body) => key.filter(|k| k.fits(body)),
            _ => None,
        };
        let mut pushed = Pushed::Queued;
        if let (Some(key), ClientCommand::SharedObject(body)) = (&key, &command)
            && let Some(seq) = self.pending_change(key, body)
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
            key,
            item: Some(command),
        };
        match (&mut self.index, &entry.key) {
            (Some(index), _) => {
                if let Some(key) = entry.shared_key() {
                    index.insert(key, seq);
                }
            }
            (None, Some(key)) if self.changes_built => self.changes.push((key.hash(), seq)),
            (None, _) => {}
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
            self.forget_change(entry.seq);
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
        self.changes.clear();
        self.changes_built = false;
        self.live = 0;
        self.bytes = 0;
    }

    /// The pending single CHANGE of the same SO and key, if any.
    fn pending_change(&mut self, key: &ChangeKey, body: &Bytes) -> Option<u64> {
        // A reader that keeps up finds its queue empty at every push: no
        // scan (its set-up costs more than the rest of a push, B1).
        if self.live == 0 {
            return None;
        }
        if let Some(index) = &mut self.index {
            return index.remove(&index_key(key, body));
        }
        if !self.changes_built {
            self.changes.clear();
            self.changes.extend(
                self.entries
                    .iter()
                    .filter(|e| e.item.is_some())
                    .filter_map(|e| Some((e.key?.hash(), e.seq))),
            );
            self.changes_built = true;
        }
        let wanted = key.slices(body);
        let hash = key.hash();
        // Coalescing leaves at most one pending CHANGE per key: the hash
        // rules out other keys, the bytes settle collisions.
        let at = self.changes.iter().position(|&(h, seq)| {
            h == hash && self.entry(seq).and_then(Entry::key) == Some(wanted)
        })?;
        Some(self.changes.swap_remove(at).1)
    }

    /// The entry `seq`, if still in the queue.
    fn entry(&self, seq: u64) -> Option<&Entry> {
        self.entries.get(self.position(seq)?)
    }

    /// Where the entry `seq` is, if still in the queue: found at once
    /// while no compaction moved entries (seqs then run without gaps from
    /// the front), by a search otherwise.
    fn position(&self, seq: u64) -> Option<usize> {
        let first = self.entries.front()?.seq;
        let guess = usize::try_from(seq.wrapping_sub(first)).ok()?;
        if self.entries.get(guess).is_some_and(|e| e.seq == seq) {
            return Some(guess);
        }
        self.entries.binary_search_by_key(&seq, |e| e.seq).ok()
    }

    /// `seq` is no longer a live single CHANGE.
    fn forget_change(&mut self, seq: u64) {
        if let Some(at) = self.changes.iter().position(|&(_, s)| s == seq) {
            self.changes.swap_remove(at);
        }
    }

    fn build_index(&mut self) {
        self.changes.clear();
        self.changes_built = false;
        let index = self
            .entries
            .iter()
            .filter_map(|e| Some((e.shared_key()?, e.seq)))
            .collect();
        self.index = Some(index);
    }

    /// Turns the live entry `seq` into a hole.
    fn remove(&mut self, seq: u64) {
        let Some(at) = self.position(seq) else {
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

/// The index's key: the hash first, so that most comparisons are one
/// integer comparison; the bytes settle collisions.
type IndexKey = (u64, Bytes, Bytes);

fn index_key(key: &ChangeKey, body: &Bytes) -> IndexKey {
    let (name, so_key) = key.slices(body);
    (key.hash(), body.slice_ref(name), body.slice_ref(so_key))
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

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
