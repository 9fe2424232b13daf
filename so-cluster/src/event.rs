//! What the protocol asks of its caller ([`Event`]) and what the caller
//! answers ([`Applied`]).

use bytes::Bytes;

use crate::types::{NodeId, SoId, StoredState, WriteRef};

/// One thing for the caller (the server around the engine) to do or know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// This process now owns the SO: build its authoritative copy from
    /// `state` (`None`: a new SO, empty). Security hooks, listeners and send
    /// handlers run on that copy.
    Rebuild {
        /// The SO.
        so: SoId,
        /// The last published state.
        state: Option<StoredState>,
    },
    /// This process no longer owns the SO: drop its authoritative copy
    /// (the replica that serves the clients stays).
    Dismiss {
        /// The SO.
        so: SoId,
    },
    /// Apply this to the SO's authoritative copy, then call
    /// [`Node::handle_applied`](crate::Node::handle_applied) with the result
    /// **before polling the next event**.
    Apply {
        /// The SO.
        so: SoId,
        /// What to apply.
        op: ApplyOp,
    },
    /// Apply a published update to the replica that serves this process's
    /// clients: the writer (if it is connected here) gets SUCCESS, the
    /// others CHANGE, all at `version`.
    ReplicaUpdate {
        /// The SO.
        so: SoId,
        /// The SO's version after it.
        version: u32,
        /// The changes, as the owner's caller encoded them.
        delta: Bytes,
        /// The write it answers, if it was made on this process.
        writer: Option<WriteRef>,
    },
    /// Replace the replica's state: subscribers get the full state (CLEAR,
    /// then every attribute) at `version`.
    ReplicaReset {
        /// The SO.
        so: SoId,
        /// The version.
        version: u32,
        /// The attributes, as the owner's caller encoded them.
        data: Bytes,
    },
    /// The owner's answer to a write made here that published nothing
    /// (refused, or nothing changed): give it to the writer.
    Answered {
        /// The SO.
        so: SoId,
        /// The write.
        write: WriteRef,
        /// The answer, as the owner's caller encoded it.
        answer: Bytes,
    },
    /// A write made here was processed by the owner, but its outcome
    /// reached this process folded into a full state (the replica was
    /// reset past it, rare): answer the writer with SUCCESS for what it
    /// wrote; the full state it comes with gives its copy the
    /// authoritative values.
    Settled {
        /// The SO.
        so: SoId,
        /// The write.
        write: WriteRef,
    },
    /// A write made here is refused (STATUS error, then the authoritative
    /// value, like a denied write).
    Refused {
        /// The SO.
        so: SoId,
        /// The write.
        write: WriteRef,
        /// Why.
        reason: Refusal,
    },
    /// The process this one believes owns the SO changed (for logs and
    /// metrics).
    OwnerChanged {
        /// The SO.
        so: SoId,
        /// The new owner, if known.
        owner: Option<NodeId>,
    },
}

/// What the owner's caller applies to an SO's authoritative copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOp {
    /// A client's write (one client message), from this process or another.
    Write {
        /// Its id.
        write: WriteRef,
        /// The write as its process's caller encoded it.
        payload: Bytes,
    },
    /// Set the SO's version to `version` (above what a former owner's
    /// clients saw during an outage) as one update; publish the full state.
    Raise {
        /// The version to set.
        version: u32,
    },
}

/// The result of an [`Event::Apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The SO changed (or a send went out): publish this.
    Update {
        /// The SO's version after it.
        version: u32,
        /// The changes, for the replicas.
        delta: Bytes,
        /// The SO's full state after it, for the stored state.
        data: Bytes,
    },
    /// Nothing to publish (refused, or nothing changed): this answer goes
    /// to the writer.
    NoUpdate {
        /// The answer.
        answer: Bytes,
    },
}

/// Why a write was refused without reaching an owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Redis is unreachable and another process owns the SO.
    Unavailable,
    /// No answer within
    /// [`ClusterConfig::forward_timeout_ms`](crate::ClusterConfig::forward_timeout_ms).
    Timeout,
    /// Too many writes wait for an answer on this process.
    Overloaded,
    /// This process owns the SO, cannot publish, and its backlog is full.
    BacklogFull,
}

/// This process's part in one SO, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It has no subscribers of the SO here.
    None,
    /// It follows the owner it knows (if any).
    Follower {
        /// The owner, if known.
        owner: Option<NodeId>,
    },
    /// It owns the SO.
    Owner {
        /// The lease term.
        term: u64,
        /// It cannot publish (Redis lost, or its lease in doubt).
        degraded: bool,
    },
}
