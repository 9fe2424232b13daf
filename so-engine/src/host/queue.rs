//! [`OutboundQueue`]: what waits for one client's socket, bounded in bytes,
//! with pending CHANGEs of one key coalesced to the latest.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::hash::{DefaultHasher, Hasher};
use std::ops::Range;

use bytes::Bytes;
use rtmp_proto::amf::Encoding;

use crate::glue::ClientCommand;
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
    /// Single-CHANGE entries by the hash of their (SO name, key): the
    /// `seq` of the last one pushed. Lookups check that entry (live, same
    /// name and key bytes), so stale and colliding slots are harmless; they
    /// stay until the index outgrows the live entries (see
    /// [`INDEX_SLACK`]), so that a client's hot key costs no allocation
    /// per message, and the index holds no handle on the shared bodies
    /// (every recipient's copy of one update shares one reference count,
    /// which the engine thread and the connections' threads would
    /// otherwise bounce between them).
    index: BTreeMap<u64, u64>,
    next_seq: u64,
    live: usize,
    bytes: usize,
    overflowed: bool,
    coalesced: u64,
}

/// How many index slots beyond twice the live entries may be stale
/// before the index is rebuilt (amortized O(1) per push).
const INDEX_SLACK: usize = 64;

#[derive(Debug)]
struct Entry {
    seq: u64,
    size: usize,
    key: Option<ChangeKey>,
    item: Option<ClientCommand>,
}

/// Where a single CHANGE's SO name and key sit in its body, with a hash
/// of both.
#[derive(Debug, Clone)]
struct ChangeKey {
    hash: u64,
    name: Range<usize>,
    key: Range<usize>,
}

impl ChangeKey {
    fn of(encoding: Encoding, body: &[u8]) -> Option<Self> {
        let (name, key) = single_change_spans(encoding, body)?;
        // Fixed keys: the same hash in every run. A peer that makes keys
        // collide only stops their coalescing (the bytes are compared).
        let mut hasher = DefaultHasher::new();
        hasher.write_usize(name.len());
        hasher.write(body.get(name.clone())?);
        hasher.write(body.get(key.clone())?);
        Some(Self {
            hash: hasher.finish(),
            name,
            key,
        })
    }

    /// Whether `self` (in `body`) and `other` (in `other_body`) are the
    /// same SO name and key.
    fn same(&self, body: &[u8], other: &Self, other_body: &[u8]) -> bool {
        self.hash == other.hash
            && body.get(self.name.clone()) == other_body.get(other.name.clone())
            && body.get(self.key.clone()) == other_body.get(other.key.clone())
    }
}

impl OutboundQueue {
    /// An empty queue.
    pub fn new(limits: QueueLimits) -> Self {
        Self {
            limits,
            entries: VecDeque::new(),
            index: BTreeMap::new(),
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
        if self.overflowed {
            return Ok(Pushed::Dropped);
        }
        let key = match &command {
            ClientCommand::SharedObject(body) => ChangeKey::of(encoding, body),
            _ => None,
        };
        let mut pushed = Pushed::Queued;
        if let (Some(key), ClientCommand::SharedObject(body)) = (&key, &command)
            && let Some(&seq) = self.index.get(&key.hash)
            && self.remove_same(seq, key, body)
        {
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
        let hash = key.as_ref().map(|k| k.hash);
        self.entries.push_back(Entry {
            seq,
            size,
            key,
            item: Some(command),
        });
        self.live += 1;
        self.bytes = total;
        if let Some(hash) = hash {
            self.index.insert(hash, seq);
            if self.index.len() > 2 * self.live + INDEX_SLACK {
                self.rebuild_index();
            }
        }
        Ok(pushed)
    }

    /// Takes the oldest pending command.
    pub fn pop(&mut self) -> Option<ClientCommand> {
        while let Some(entry) = self.entries.pop_front() {
            if let Some(item) = entry.item {
                // Its index slot goes stale: lookups no longer find it.
                self.live -= 1;
                self.bytes = self.bytes.saturating_sub(entry.size);
                return Some(item);
            }
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
        // Every slot is stale now; a few are kept to be reused.
        if self.index.len() > INDEX_SLACK {
            self.index.clear();
        }
        self.live = 0;
        self.bytes = 0;
    }

    /// Indexes the live single-CHANGE entries only.
    fn rebuild_index(&mut self) {
        self.index.clear();
        for entry in &self.entries {
            if let (Some(key), Some(_)) = (&entry.key, &entry.item) {
                self.index.insert(key.hash, entry.seq);
            }
        }
    }

    /// Turns the entry `seq` into a hole if it is live and a single CHANGE
    /// of the same SO name and key as `key` in `body`; says whether it did.
    fn remove_same(&mut self, seq: u64, key: &ChangeKey, body: &[u8]) -> bool {
        let Ok(at) = self.entries.binary_search_by_key(&seq, |e| e.seq) else {
            return false;
        };
        let Some(entry) = self.entries.get_mut(at) else {
            return false;
        };
        let same = match (&entry.key, &entry.item) {
            (Some(old), Some(ClientCommand::SharedObject(old_body))) => {
                old.same(old_body, key, body)
            }
            _ => false,
        };
        if !same {
            return false;
        }
        if entry.item.take().is_some() {
            self.live -= 1;
            self.bytes = self.bytes.saturating_sub(entry.size);
            entry.key = None;
        }
        // Holes cost a slot each: compact once they outnumber the live
        // entries, so a hot key updated for a stalled reader stays O(1)
        // in memory (amortized O(1) per push).
        let holes = self.entries.len() - self.live;
        if holes > 32 && holes > self.live {
            self.entries.retain(|e| e.item.is_some());
        }
        true
    }
}

/// The (SO name, key) of a body that consists of exactly one CHANGE event
/// of one key; `None` for anything else. Reads the header only: type 16's
/// leading byte, name (u16 length), version, flags and reserved words,
/// then one event (type, u32 length) that ends exactly at the end of the
/// body, and the key (u16 length) at the start of its payload.
pub fn single_change_key(encoding: Encoding, body: &Bytes) -> Option<(Bytes, Bytes)> {
    let (name, key) = single_change_spans(encoding, body)?;
    Some((body.slice(name), body.slice(key)))
}

/// [`single_change_key`] as byte ranges of `body`.
fn single_change_spans(encoding: Encoding, body: &[u8]) -> Option<(Range<usize>, Range<usize>)> {
    const CHANGE: u8 = 4;
    let start = match encoding {
        Encoding::Amf0 => 0,
        Encoding::Amf3 => 1,
    };
    let name_len = usize::from(u16_at(body, start)?);
    let name_at = start + 2;
    let header_end = name_at.checked_add(name_len)?.checked_add(12)?;
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
    Some((name_at..name_at + name_len, key_at..key_end))
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
mod tests {
    use bytes::BytesMut;
    use rtmp_proto::amf::{Limits, Value};
    use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};

    use super::*;

    fn body(encoding: Encoding, name: &str, version: u32, events: Vec<SoEvent>) -> Bytes {
        let message = SharedObjectMessage {
            name: name.into(),
            version,
            persistent: false,
            events,
        };
        let mut out = BytesMut::new();
        message.encode(encoding, &mut out).unwrap();
        out.freeze()
    }

    fn change(
        encoding: Encoding,
        name: &str,
        version: u32,
        key: &str,
        value: f64,
    ) -> ClientCommand {
        ClientCommand::SharedObject(body(
            encoding,
            name,
            version,
            vec![SoEvent::Change {
                key: key.into(),
                value: Value::Number(value),
            }],
        ))
    }

    fn decode(encoding: Encoding, command: &ClientCommand) -> SharedObjectMessage {
        let ClientCommand::SharedObject(body) = command else {
            panic!("not a body: {command:?}");
        };
        SharedObjectMessage::decode(body, encoding, &Limits::default()).unwrap()
    }

    fn drain(queue: &mut OutboundQueue) -> Vec<ClientCommand> {
        let mut out = Vec::new();
        queue.drain_into(&mut out);
        out
    }

    #[test]
    fn peeks_the_name_and_key_of_single_changes_only() {
        for encoding in [Encoding::Amf0, Encoding::Amf3] {
            let ClientCommand::SharedObject(one) = change(encoding, "chat", 3, "k", 1.0) else {
                unreachable!()
            };
            assert_eq!(
                single_change_key(encoding, &one),
                Some((Bytes::from_static(b"chat"), Bytes::from_static(b"k")))
            );
            let two = body(
                encoding,
                "chat",
                3,
                vec![
                    SoEvent::Change {
                        key: "k".into(),
                        value: Value::Null,
                    },
                    SoEvent::Change {
                        key: "j".into(),
                        value: Value::Null,
                    },
                ],
            );
            let success = body(
                encoding,
                "chat",
                3,
                vec![SoEvent::Success { key: "k".into() }],
            );
            let remove = body(
                encoding,
                "chat",
                3,
                vec![SoEvent::Remove { key: "k".into() }],
            );
            let empty = body(encoding, "chat", 3, vec![]);
            for other in [two, success, remove, empty] {
                assert_eq!(single_change_key(encoding, &other), None, "{other:?}");
            }
            // Truncated or lying headers are not single changes either.
            for cut in 0..one.len() {
                assert_eq!(
                    single_change_key(encoding, &one.slice(..cut)),
                    None,
                    "cut at {cut}"
                );
            }
        }
        // An AMF3 body read as AMF0 is misread, never a panic.
        let ClientCommand::SharedObject(amf3) = change(Encoding::Amf3, "chat", 3, "k", 1.0) else {
            unreachable!()
        };
        assert_eq!(single_change_key(Encoding::Amf0, &amf3), None);
    }

    #[test]
    fn a_newer_change_of_a_key_replaces_the_pending_one_at_the_back() {
        let e = Encoding::Amf0;
        let mut queue = OutboundQueue::new(QueueLimits::default());
        assert_eq!(
            queue.push(e, change(e, "so", 5, "k", 1.0)),
            Ok(Pushed::Queued)
        );
        assert_eq!(
            queue.push(e, change(e, "so", 6, "j", 1.0)),
            Ok(Pushed::Queued)
        );
        assert_eq!(
            queue.push(e, change(e, "other", 2, "k", 1.0)),
            Ok(Pushed::Queued)
        );
        assert_eq!(
            queue.push(e, change(e, "so", 7, "k", 2.0)),
            Ok(Pushed::Coalesced)
        );
        assert_eq!(
            queue.push(e, change(e, "so", 8, "k", 3.0)),
            Ok(Pushed::Coalesced)
        );
        assert_eq!(queue.len(), 3);
        assert_eq!(queue.coalesced(), 2);
        let got: Vec<_> = drain(&mut queue)
            .iter()
            .map(|c| {
                let m = decode(e, c);
                let SoEvent::Change { key, value } = &m.events[0] else {
                    panic!("{m:?}")
                };
                (
                    m.name.to_string(),
                    m.version,
                    key.to_string(),
                    value.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("so".into(), 6, "j".into(), Value::Number(1.0)),
                ("other".into(), 2, "k".into(), Value::Number(1.0)),
                ("so".into(), 8, "k".into(), Value::Number(3.0)),
            ]
        );
        assert_eq!((queue.len(), queue.queued_bytes()), (0, 0));
    }

    #[test]
    fn other_messages_keep_their_place() {
        let e = Encoding::Amf3;
        let mut queue = OutboundQueue::new(QueueLimits::default());
        let multi = ClientCommand::SharedObject(body(
            e,
            "so",
            6,
            vec![
                SoEvent::Change {
                    key: "k".into(),
                    value: Value::Null,
                },
                SoEvent::SendMessage {
                    method: "m".into(),
                    args: vec![],
                },
            ],
        ));
        let success = ClientCommand::SharedObject(body(
            e,
            "so",
            7,
            vec![SoEvent::Success { key: "k".into() }],
        ));
        queue.push(e, ClientCommand::Accept).unwrap();
        queue.push(e, multi.clone()).unwrap();
        queue.push(e, success.clone()).unwrap();
        queue.push(e, multi.clone()).unwrap();
        assert_eq!(
            drain(&mut queue),
            [ClientCommand::Accept, multi.clone(), success, multi]
        );
    }

    #[test]
    fn pop_keeps_the_index_right() {
        let e = Encoding::Amf0;
        let mut queue = OutboundQueue::new(QueueLimits::default());
        queue.push(e, change(e, "so", 1, "k", 1.0)).unwrap();
        assert_eq!(queue.pop(), Some(change(e, "so", 1, "k", 1.0)));
        // The popped one is on its way: the next is not coalesced with it.
        assert_eq!(
            queue.push(e, change(e, "so", 2, "k", 2.0)),
            Ok(Pushed::Queued)
        );
        assert_eq!(
            queue.push(e, change(e, "so", 3, "k", 3.0)),
            Ok(Pushed::Coalesced)
        );
        assert_eq!(queue.pop(), Some(change(e, "so", 3, "k", 3.0)));
        assert_eq!(queue.pop(), None);
        assert_eq!(queue.queued_bytes(), 0);
    }

    /// A random mix of keys, SOs and other messages, drained at random
    /// points: versions per SO never go backwards, and the last value of
    /// every key is what the client ends with.
    #[test]
    fn coalescing_keeps_order_and_final_state() {
        let e = Encoding::Amf0;
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut queue = OutboundQueue::new(QueueLimits::default());
        let mut version = BTreeMap::<String, u32>::new();
        let mut expected = BTreeMap::<(String, String), f64>::new();
        let mut seen_version = BTreeMap::<String, u32>::new();
        let mut seen = BTreeMap::<(String, String), f64>::new();
        let mut coalesced = 0;
        for step in 0..5000 {
            let name = ["a", "b"][(next() % 2) as usize].to_string();
            let v = version.entry(name.clone()).or_insert(0);
            *v += 1;
            let key = format!("k{}", next() % 4);
            let value = step as f64;
            let command = if next() % 5 == 0 {
                // Two keys in one update: never coalesced.
                expected.insert((name.clone(), key.clone()), value);
                expected.insert((name.clone(), "z".into()), value);
                ClientCommand::SharedObject(body(
                    e,
                    &name,
                    *v,
                    vec![
                        SoEvent::Change {
                            key: key.clone().into(),
                            value: Value::Number(value),
                        },
                        SoEvent::Change {
                            key: "z".into(),
                            value: Value::Number(value),
                        },
                    ],
                ))
            } else {
                expected.insert((name.clone(), key.clone()), value);
                change(e, &name, *v, &key, value)
            };
            if queue.push(e, command).unwrap() == Pushed::Coalesced {
                coalesced += 1;
            }
            if next() % 50 == 0 {
                for command in drain(&mut queue) {
                    let m = decode(e, &command);
                    let last = seen_version.entry(m.name.to_string()).or_insert(0);
                    assert!(
                        m.version > *last,
                        "{} went from {last} to {}",
                        m.name,
                        m.version
                    );
                    *last = m.version;
                    for event in m.events {
                        let SoEvent::Change { key, value } = event else {
                            unreachable!()
                        };
                        seen.insert(
                            (m.name.to_string(), key.to_string()),
                            value.as_f64().unwrap(),
                        );
                    }
                }
            }
        }
        for command in drain(&mut queue) {
            let m = decode(e, &command);
            for event in m.events {
                let SoEvent::Change { key, value } = event else {
                    unreachable!()
                };
                seen.insert(
                    (m.name.to_string(), key.to_string()),
                    value.as_f64().unwrap(),
                );
            }
        }
        assert_eq!(seen, expected);
        assert!(coalesced > 1000, "only {coalesced} coalesced");
    }

    #[test]
    fn overflow_is_reported_once_then_everything_is_dropped() {
        let e = Encoding::Amf0;
        let one = change(e, "so", 1, "k0", 0.0);
        let size = command_size(&one) + QueueLimits::ENTRY_OVERHEAD;
        let mut queue = OutboundQueue::new(QueueLimits {
            max_queued_bytes: 3 * size,
        });
        for i in 0..3 {
            queue
                .push(e, change(e, "so", 1, &format!("k{i}"), 0.0))
                .unwrap();
        }
        assert_eq!(queue.queued_bytes(), 3 * size);
        // Coalescing frees the old one first: this fits.
        assert_eq!(
            queue.push(e, change(e, "so", 2, "k0", 1.0)),
            Ok(Pushed::Coalesced)
        );
        assert_eq!(
            queue.push(e, change(e, "so", 3, "k3", 1.0)),
            Err(Overflow {
                queued_bytes: 4 * size,
                limit: 3 * size
            })
        );
        assert!(queue.is_overflowed());
        assert_eq!((queue.len(), queue.queued_bytes()), (0, 0));
        assert_eq!(queue.push(e, ClientCommand::Accept), Ok(Pushed::Dropped));
        assert_eq!(queue.pop(), None);
    }

    #[test]
    fn one_large_message_fits_an_empty_queue() {
        let e = Encoding::Amf0;
        let mut queue = OutboundQueue::new(QueueLimits {
            max_queued_bytes: 10,
        });
        assert_eq!(
            queue.push(e, change(e, "so", 1, "k", 0.0)),
            Ok(Pushed::Queued)
        );
        assert!(queue.push(e, change(e, "so", 2, "j", 0.0)).is_err());
    }

    /// The index keeps hashes only: two keys whose hashes collide are
    /// compared byte for byte and never coalesced with each other.
    #[test]
    fn colliding_hashes_do_not_coalesce_different_keys() {
        let e = Encoding::Amf0;
        let mut queue = OutboundQueue::new(QueueLimits::default());
        let k = change(e, "so", 1, "k", 1.0);
        let j = change(e, "so", 2, "j", 2.0);
        queue.push(e, k.clone()).unwrap();
        // Forge a collision: k's entry has j's hash, and j's slot points at it.
        let ClientCommand::SharedObject(j_body) = &j else {
            unreachable!()
        };
        let j_hash = ChangeKey::of(e, j_body).expect("a single change").hash;
        let k_key = queue.entries[0].key.as_mut().expect("indexed");
        k_key.hash = j_hash;
        queue.index.clear();
        queue.index.insert(j_hash, 0);
        assert_eq!(queue.push(e, j.clone()), Ok(Pushed::Queued));
        assert_eq!(queue.coalesced(), 0);
        assert_eq!(drain(&mut queue), [k, j]);
    }

    /// Drained and popped entries leave stale slots that match nothing;
    /// the index stays within twice the live entries plus the slack.
    #[test]
    fn stale_slots_match_nothing_and_stay_bounded() {
        let e = Encoding::Amf0;
        let mut queue = OutboundQueue::new(QueueLimits::default());
        for v in 1..=100 {
            queue
                .push(e, change(e, "so", v, "hot", f64::from(v)))
                .unwrap();
            assert_eq!(drain(&mut queue).len(), 1);
            assert_eq!(queue.index.len(), 1, "the hot key reuses its slot");
        }
        queue.push(e, change(e, "so", 101, "hot", 0.0)).unwrap();
        assert_eq!(queue.coalesced(), 0, "drained entries are never replaced");
        for i in 0..1000 {
            queue
                .push(e, change(e, "so", 102 + i, &format!("k{i}"), 0.0))
                .unwrap();
            assert!(queue.index.len() <= 2 * queue.len() + INDEX_SLACK);
        }
        assert_eq!(drain(&mut queue).len(), 1001);
        assert!(queue.index.len() <= INDEX_SLACK, "{}", queue.index.len());
        // Many keys, each drained at once: the stale slots are bounded too.
        for i in 0..1000 {
            queue
                .push(e, change(e, "so", 2000 + i, &format!("k{i}"), 1.0))
                .unwrap();
            drain(&mut queue);
            assert!(queue.index.len() <= 2 + INDEX_SLACK);
        }
    }

    /// A stalled reader of a hot key holds one message, and the holes
    /// coalescing leaves behind stay bounded.
    #[test]
    fn a_hot_key_for_a_stalled_reader_stays_small() {
        let e = Encoding::Amf0;
        let mut queue = OutboundQueue::new(QueueLimits::default());
        queue.push(e, change(e, "other", 1, "x", 0.0)).unwrap();
        for v in 1..=10_000 {
            queue
                .push(e, change(e, "so", v, "k", f64::from(v)))
                .unwrap();
        }
        assert_eq!(queue.len(), 2);
        assert!(queue.entries.len() <= 40, "{} slots", queue.entries.len());
        let last = drain(&mut queue).pop().unwrap();
        assert_eq!(decode(e, &last).version, 10_000);
    }
}
