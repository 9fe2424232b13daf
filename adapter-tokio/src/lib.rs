//! Tokio bindings for `rtmp-proto` and `so-engine`: the SharedObject server
//! people run and the client library ([`client`]).
//!
//! # Running a server
//!
//! ```no_run
//! # async fn run() -> Result<(), adapter_tokio::Error> {
//! use adapter_tokio::Server;
//!
//! let server = Server::builder()
//!     .bind_addr("127.0.0.1:1935")
//!     .data_dir("./so-data") // persistent SOs, one file each
//!     .demo() // or .application(MyApp).setup(|engine| { /* factories, security, methods */ })
//!     .bind()
//!     .await?; // the store is loaded and restored before this returns
//! server.run().await // until SIGINT/SIGTERM, then a graceful shutdown
//! # }
//! ```
//!
//! # How it runs
//!
//! * **The engine** ([`so_engine::Engine`], wrapped in
//!   [`so_engine::host::Host`]) runs on a dedicated thread with a
//!   current-thread runtime, so application hooks need not be `Sync`. It
//!   takes inputs from one bounded channel (a flood of requests slows the
//!   flooding readers down) and pushes what each client must receive into
//!   that client's [`OutboundQueue`](so_engine::host::OutboundQueue). Store
//!   writes run on the blocking pool, one batch at a time.
//! * **Each connection** is one task on the caller's (multi-thread)
//!   runtime: it owns the socket, the `rtmp_proto` `Connection` (so decoding
//!   and encoding spread over every core), the
//!   [`ClientLink`](so_engine::host::ClientLink) and two reused buffers, and
//!   runs the `Connection`'s drive loop: `select!` on the socket, the
//!   `Connection`'s timer and its queue. Everything pending goes out in
//!   one write per loop turn; `TCP_NODELAY` is set.
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
//! Logs go through `tracing`: connections opened and closed (with the
//! reason), rejected connects, refused connections, slow readers, store
//! errors, unreadable stored files set aside.

pub mod client;
mod error;
mod server;

pub use client::{Client, ClientError, ClientOptions};
pub use error::Error;
pub use server::{Config, Server, ServerBuilder, ShutdownHandle};
