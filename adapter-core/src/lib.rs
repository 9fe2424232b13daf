//! The SharedObject server people run and the client library, written
//! once over a small [`Runtime`] trait: `adapter-tokio` and `adapter-smol`
//! implement it with their runtime's sockets, timers and tasks, and
//! re-export these types under their own names (`adapter_tokio::Server`
//! is `Server<Tokio>`). Nothing here calls a runtime directly, so the two
//! adapters share every line of their logic.
//!
//! # How the server runs
//!
//! * **The engine** ([`so_engine::Engine`], wrapped in
//!   [`so_engine::server::Hub`]) runs on a dedicated thread with its own
//!   event loop ([`Runtime::block_on`]), so application hooks need not be
//!   `Sync`. It takes inputs from one queue (while the queue is full,
//!   connections stop reading requests: a flood slows the flooding readers
//!   down) and, once per delivery tick, hands each client its share
//!   ([`so_engine::server::Handover`]) into that client's
//!   [`so_engine::server::OutboundQueue`], under one lock, with one
//!   wake-up. The path itself (what is delivered, grouped and coalesced)
//!   is [`so_engine::server`]'s, sans-IO; this crate only locks, pushes
//!   and wakes. Store writes run on the blocking pool, one batch at a
//!   time.
//! * **Each connection** is one task on the runtime's workers: it owns
//!   the socket, the `rtmp_proto` `Connection` (so decoding and encoding
//!   spread over every core), the [`so_engine::server::ClientLink`]
//!   and two reused buffers, and runs the `Connection`'s drive loop on the
//!   socket, the `Connection`'s timer and its queue. Everything pending
//!   goes out in one write per loop turn; `TCP_NODELAY` is set.
//! * **Slow and hostile clients**: a client that does not read has its
//!   pending CHANGEs of one key coalesced, and is disconnected once its
//!   queue passes [`Config::queue`]'s cap (logged); while its socket is
//!   full, its requests are not read either. Handshake and connect
//!   timeouts, message size and chunk stream limits are the `Connection`'s
//!   ([`Config::connection`]); connections past
//!   [`Config::max_connections`] are refused. None of this blocks anyone
//!   else.
//! * **Shutdown** (SIGINT, SIGTERM, a [`ShutdownHandle`], or the future
//!   given to [`Server::run_until`]): stop accepting, disconnect every
//!   client, save every persistent SO and write every pending store
//!   operation, wait for the connections to close.
//!
//! * **Cluster mode** ([`ServerBuilder::cluster`]): several server
//!   processes share one set of SOs through Redis. The ownership protocol
//!   (`so_cluster::Node`) runs on the engine thread beside the engine, its
//!   Redis link ([`cluster`]) on two threads of its own; clients' writes and
//!   server code's changes are applied by each SO's owner and published to
//!   every process's replica. Without Redis at start the server does not
//!   start; Redis lost while running refuses writes to SOs other processes
//!   own (a STATUS, never silently) and shows on `/metrics`
//!   (`rtmp_so_cluster_redis_up`). The design is the repository's
//!   `docs/CLUSTER.md`.
//!
//! Logs go through `tracing`: connections opened and closed (with the
//! reason), rejected connects, refused connections, slow readers, store
//! errors, unreadable stored files set aside.
//!
//! # How the client runs
//!
//! See [`client`]: one driver task per connection, handles that share the
//! connection with it behind a lock, answers matched to requests as
//! [`rtmp_proto::mirror`] settles them.

#![warn(missing_docs)]

pub mod client;
pub mod cluster;
mod error;
mod runtime;
mod server;
mod sync;

pub use error::Error;
pub use runtime::{Received, Refused, Runtime, SocketWriter, sleep, until};
pub use server::{
    Authorization, ClientSummary, Config, Edit, Server, ServerBuilder, ServerError, ServerHandle,
    ShutdownHandle, Verdict,
};
