//! The ownership protocol that lets several SharedObject server processes
//! share their SOs through one Redis server, as a state machine with no
//! I/O, no clock and no randomness of its own.
//!
//! # The model
//!
//! Each live SO has one **owner** process, the one holding the SO's lease
//! in Redis ([`Command::Acquire`], renewed with [`Command::Renew`]). Only the
//! owner applies writes ([`Event::Apply`] on its authoritative copy), so an
//! SO's versions stay one sequence. A write on another process is forwarded
//! to the owner's inbox stream ([`InboxMsg::Forward`]) with a write id
//! ([`WriteRef`]) that makes re-sends harmless. The owner publishes each
//! resulting update once ([`Command::Publish`]: a script that checks the
//! lease, stores the full state and appends the update to the SO's stream);
//! every process with subscribers applies the SO's updates in publish order
//! to its replica ([`Event::ReplicaUpdate`]), which answers the writer and
//! the other subscribers. When the owner dies, its lease expires and a
//! follower takes over from the last stored state ([`Event::Rebuild`]).
//!
//! The design, with what a crash or a Redis outage may lose, is in the
//! repository's `docs/CLUSTER.md`.
//!
//! # Driving it
//!
//! ```
//! use bytes::Bytes;
//! use so_cluster::{ClusterConfig, Command, Event, Node, NodeId, SoId};
//!
//! let mut node = Node::new(ClusterConfig::default(), NodeId(7), 42);
//! let so = SoId::new("chatapp/lobby", "chat");
//! let now = 0;
//! node.handle_interest(now, &so, true); // a first client used the SO here
//! node.handle_write(now, &so, Bytes::from_static(b"k=v"));
//! while let Some(command) = node.poll_command() {
//!     // Carry it out on Redis; report its answer with `handle_reply`,
//!     // stream entries with `handle_entry` and `handle_inbox`.
//!     let _ = command;
//! }
//! while let Some(event) = node.poll_event() {
//!     match event {
//!         // Apply to the authoritative copy, answer with `handle_applied`.
//!         Event::Apply { .. } => {}
//!         // Feed the replica that serves the clients here.
//!         Event::ReplicaUpdate { .. } | Event::ReplicaReset { .. } => {}
//!         _ => {}
//!     }
//! }
//! if let Some(at) = node.poll_timeout() {
//!     node.handle_timeout(at);
//! }
//! # let _: Option<Command> = None;
//! ```

#![warn(missing_docs)]

pub mod codec;
mod config;
mod event;
mod node;
mod redis;
mod types;

pub use config::{ClusterConfig, INTEREST_LEASES};
pub use event::{Applied, ApplyOp, Event, Refusal, Role};
pub use node::Node;
pub use redis::{Command, CommandId, LinkError, Outcome, Reply, StreamPos};
pub use types::{
    Dedupe, InboxMsg, NodeId, SoId, StoredState, StreamEntry, Token, Update, UpdateBody,
    WriteAnswer, WriteRef,
};
