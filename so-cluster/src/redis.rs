//! What the protocol asks of Redis ([`Command`]) and what comes back
//! ([`Reply`], [`Outcome`]), as data. A Redis link carries them out; each
//! command says which Redis commands or script it stands for.

use crate::types::{InboxMsg, NodeId, SoId, StoredState, Token, Update};

/// A command's id, to match its [`Reply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommandId(pub u64);

/// A position in a Redis stream (an entry id `ms-seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamPos {
    /// The milliseconds part.
    pub ms: u64,
    /// The sequence part.
    pub seq: u64,
}

/// One request to Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Record the token's process as interested in the SO (it has
    /// subscribers), forgetting processes not seen for `interest_ms`; then
    /// take the SO's lease if it is free: `SET lease token NX PX ttl`; on
    /// success `INCR term` and read the stored state and the update
    /// stream's end, in one script. Answered by [`Outcome::Acquired`] or
    /// [`Outcome::Held`].
    Acquire {
        /// Its id.
        id: CommandId,
        /// The SO.
        so: SoId,
        /// The token to store.
        token: Token,
        /// The lease time to live.
        ttl_ms: u64,
        /// How long a process's interest lasts without a new acquisition
        /// attempt.
        interest_ms: u64,
    },
    /// Compare and renew: `if GET lease == token then PEXPIRE lease ttl`.
    /// Answered by [`Outcome::Renewed`] or [`Outcome::Lost`].
    Renew {
        /// Its id.
        id: CommandId,
        /// The SO.
        so: SoId,
        /// The token held.
        token: Token,
        /// The new time to live.
        ttl_ms: u64,
    },
    /// Compare and delete the lease, then append
    /// [`StreamEntry::Released`](crate::StreamEntry::Released) to the
    /// update stream, and drop the token's process from the SO's interest.
    /// With `discard` (a non-persistent SO its last subscriber here left):
    /// if no other process showed interest within that many milliseconds,
    /// delete the SO's stored state, sequence, update stream and interest
    /// instead of appending. Answered by [`Outcome::Released`].
    Release {
        /// Its id.
        id: CommandId,
        /// The SO.
        so: SoId,
        /// The token held.
        token: Token,
        /// Drop the SO's stored state if nobody else uses it.
        discard: Option<u64>,
    },
    /// The publish script: if the lease holds `token` and `update.seq` is
    /// the stored sequence + 1, store `state` and `XADD` the update to the
    /// SO's stream. Answered by [`Outcome::Published`],
    /// [`Outcome::AlreadyPublished`] (a retry: the stored sequence is
    /// already at or past it), [`Outcome::Fenced`] or
    /// [`Outcome::OutOfOrder`].
    Publish {
        /// Its id.
        id: CommandId,
        /// The token held.
        token: Token,
        /// The update to append.
        update: Update,
        /// The state after it.
        state: StoredState,
    },
    /// `XADD` to a process's inbox stream. Answered by
    /// [`Outcome::Appended`].
    Append {
        /// Its id.
        id: CommandId,
        /// The process.
        to: NodeId,
        /// The message.
        msg: InboxMsg,
    },
    /// Read the stored state and the update stream's end, in one script.
    /// Answered by [`Outcome::Loaded`].
    Load {
        /// Its id.
        id: CommandId,
        /// The SO.
        so: SoId,
    },
    /// Start (or move) tailing the SO's update stream after `after`, and
    /// deliver its entries in order through
    /// [`Node::handle_entry`](crate::Node::handle_entry), across
    /// reconnections. No reply.
    Watch {
        /// The SO.
        so: SoId,
        /// Deliver entries after this one.
        after: StreamPos,
    },
    /// Stop tailing the SO's update stream. No reply.
    Unwatch {
        /// The SO.
        so: SoId,
    },
}

impl Command {
    /// The id its reply will carry, if it gets one.
    pub fn id(&self) -> Option<CommandId> {
        match self {
            Self::Acquire { id, .. }
            | Self::Renew { id, .. }
            | Self::Release { id, .. }
            | Self::Publish { id, .. }
            | Self::Append { id, .. }
            | Self::Load { id, .. } => Some(*id),
            Self::Watch { .. } | Self::Unwatch { .. } => None,
        }
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The lease is ours for a new term.
    Acquired {
        /// The new term.
        term: u64,
        /// The stored state, if the SO was ever published.
        state: Option<StoredState>,
        /// The update stream's end when the state was read.
        end: StreamPos,
    },
    /// Someone holds the lease.
    Held {
        /// Its token.
        holder: Token,
        /// The lease's remaining time (`PTTL`).
        remaining_ms: u64,
    },
    /// The lease was extended.
    Renewed,
    /// The lease does not hold our token any more.
    Lost,
    /// The lease was released (or was not ours any more).
    Released,
    /// The update was stored and appended.
    Published,
    /// The stored sequence was already at or past the update: a retry of a
    /// publish that went through.
    AlreadyPublished,
    /// The lease does not hold our token: nothing was stored.
    Fenced,
    /// The update's sequence is past the stored one + 1 (an earlier publish
    /// did not happen): nothing was stored; publish again in order.
    OutOfOrder,
    /// The inbox message was appended.
    Appended,
    /// The stored state and the stream's end.
    Loaded {
        /// The state, if the SO was ever published.
        state: Option<StoredState>,
        /// The update stream's end when the state was read.
        end: StreamPos,
    },
}

/// A command's result, as the link reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The command.
    pub id: CommandId,
    /// Its outcome; `Err` if the link failed before an answer (the command
    /// may or may not have run).
    pub result: Result<Outcome, LinkError>,
}

/// The link lost the command's answer: Redis may or may not have run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkError;
