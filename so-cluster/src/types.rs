//! Identifiers and the records that travel through Redis.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

/// A server process in the cluster, numbered by the caller: pick a fresh
/// random number at every start, so that a restarted process is a new one
/// (its write sequence starts over, and the dedupe tables must not confuse
/// it with its former self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NodeId(pub u64);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node#{:x}", self.0)
    }
}

/// One SO's cluster-wide name: its scope and its name, written so that no
/// two SOs share it (`len(scope):scope/name`; a scope may contain `/`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SoId(Arc<str>);

impl SoId {
    /// The SO named `name` in `scope`.
    pub fn new(scope: &str, name: &str) -> Self {
        Self(format!("{}:{scope}/{name}", scope.len()).into())
    }

    /// Read back a key made by [`SoId::new`] (`None` if it is not one).
    pub fn parse(key: &str) -> Option<Self> {
        let (len, rest) = key.split_once(':')?;
        let len: usize = len.parse().ok()?;
        (rest.as_bytes().get(len) == Some(&b'/')).then(|| Self(key.into()))
    }

    /// The key text, for Redis key names and logs.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A write's cluster-wide id: the process it was made on and that process's
/// write sequence (increasing, one per write, across all SOs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WriteRef {
    /// The writer's process.
    pub node: NodeId,
    /// Its sequence number on that process.
    pub seq: u64,
}

/// What a lease holds: the owner's process and a random nonce drawn at
/// each acquisition, so that a renewal or a publish made with an old
/// acquisition's token fails even on the same process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token {
    /// The holder.
    pub node: NodeId,
    /// Random per acquisition.
    pub nonce: u64,
}

/// The last published state of an SO, stored with every publish (the
/// `rso:{K}:state` key): what a new owner rebuilds from and what a new
/// replica starts from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredState {
    /// The publish sequence of the last update folded in.
    pub seq: u64,
    /// The SO's version.
    pub version: u32,
    /// The lease term of the owner that published it.
    pub term: u64,
    /// Per writer process, which of its writes were applied (dedupe),
    /// sorted by process.
    pub applied: Vec<Dedupe>,
    /// The SO's attributes, encoded by the caller (opaque here).
    pub data: Bytes,
}

impl StoredState {
    /// Whether the write `write` was applied to this state (or is too old
    /// for its process to be waiting for it).
    pub fn has_applied(&self, write: WriteRef) -> bool {
        self.applied
            .binary_search_by_key(&write.node, |d| d.node)
            .is_ok_and(|i| self.applied[i].contains(write.seq))
    }
}

/// What an SO's owner remembers of one writer process's writes, to apply
/// each once: every sequence below `floor` is done with (applied, or
/// answered otherwise: the writer no longer waits for it), and `seen` holds
/// the sequences at or above it that were applied.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dedupe {
    /// The writer process.
    pub node: NodeId,
    /// Sequences below this are done with.
    pub floor: u64,
    /// Applied sequences at or above `floor`, ascending.
    pub seen: Vec<u64>,
}

impl Dedupe {
    /// Whether the write with sequence `seq` is done with.
    pub fn contains(&self, seq: u64) -> bool {
        seq < self.floor || self.seen.binary_search(&seq).is_ok()
    }
}

/// What one published update carries besides its ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateBody {
    /// The changes of one update (changed and removed keys, or a send),
    /// encoded by the caller.
    Delta(Bytes),
    /// The SO's full state: replicas replace theirs (after a version floor).
    Reset(Bytes),
}

/// One update, as the owner publishes it on the SO's update stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The SO.
    pub so: SoId,
    /// The publish sequence: +1 per update of this SO, across owners.
    pub seq: u64,
    /// The SO's version after it (a send leaves it unchanged).
    pub version: u32,
    /// The publisher's lease term.
    pub term: u64,
    /// The write it applies, if a client's.
    pub write: Option<WriteRef>,
    /// The changes.
    pub body: UpdateBody,
}

/// One entry of an SO's update stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEntry {
    /// An update.
    Update(Update),
    /// The owner released the lease (a clean stop, or its last subscriber
    /// left): followers may try to take over at once.
    Released {
        /// The SO.
        so: SoId,
    },
}

impl StreamEntry {
    /// The SO it belongs to.
    pub fn so(&self) -> &SoId {
        match self {
            Self::Update(u) => &u.so,
            Self::Released { so } => so,
        }
    }
}

/// The owner's answer to a forwarded write that published nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteAnswer {
    /// Applied, nothing changed, or refused: here is what the writer gets
    /// (encoded by the owner's caller: SUCCESS, or STATUS and the
    /// authoritative value).
    NoUpdate(Bytes),
    /// Already applied (a re-sent or duplicated forward): its update is on
    /// the stream, or folded into the stored state.
    Duplicate,
    /// The receiver does not own the SO (any more).
    NotOwner,
}

/// One entry of a process's inbox stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxMsg {
    /// A write forwarded to the owner.
    Forward {
        /// The SO.
        so: SoId,
        /// Its id.
        write: WriteRef,
        /// The writer's oldest write still waiting for an answer (every
        /// older one is done with: the owner may forget them).
        oldest: u64,
        /// The write as the caller encoded it (one client message).
        payload: Bytes,
    },
    /// The owner's answer to a forwarded write that published nothing.
    Answer {
        /// The SO.
        so: SoId,
        /// The write.
        write: WriteRef,
        /// The answer.
        answer: WriteAnswer,
    },
    /// A former owner's clients saw versions up to `version` (applied
    /// during a Redis outage and not published): the owner must publish a
    /// full state above it before they can follow again.
    Floor {
        /// The SO.
        so: SoId,
        /// The highest version the sender's clients saw.
        version: u32,
    },
}

impl InboxMsg {
    /// The SO it is about.
    pub fn so(&self) -> &SoId {
        match self {
            Self::Forward { so, .. } | Self::Answer { so, .. } | Self::Floor { so, .. } => so,
        }
    }
}
