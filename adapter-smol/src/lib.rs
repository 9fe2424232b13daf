//! smol bindings for `rtmp-proto` and `so-engine`: the SharedObject server
//! people run and the client library ([`client`]), the same as
//! `adapter-tokio`'s, on smol.
//!
//! Everything but the runtime calls is written once in `adapter-core` and
//! shared with `adapter-tokio`; this crate supplies [`Smol`], the
//! [`Runtime`](adapter_core::Runtime) it runs on, and names the types for
//! it. How the server and the client work is in `adapter-core`'s docs.
//!
//! # Running a server
//!
//! ```no_run
//! # fn main() -> Result<(), adapter_smol::Error> {
//! use adapter_smol::Server;
//!
//! smol::block_on(async {
//!     let server = Server::builder()
//!         .bind_addr("127.0.0.1:1935")
//!         .data_dir("./so-data") // persistent SOs, one file each
//!         // .application(MyApp).setup(|engine| { /* factories, security, methods */ })
//!         .bind()
//!         .await?; // the store is loaded and restored before this returns
//!     server.run().await // until SIGINT/SIGTERM, then a graceful shutdown
//! })
//! # }
//! ```
//!
//! # Embedding it: the server handle
//!
//! [`ServerHandle`] (from [`Server::handle`]) acts on the running server
//! from any task: SOs, declared scopes, locks, clients, calls, each
//! operation with its own [`ServerError`]; `ServerBuilder::authorize`
//! checks connects asynchronously. The same as adapter-tokio's (see its
//! docs for a longer example).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use adapter_smol::Server;
//! use so_engine::{ScopePath, SoKey};
//!
//! smol::block_on(async {
//!     let server = Server::builder().bind_addr("127.0.0.1:1935").bind().await?;
//!     let handle = server.handle();
//!     let game = ScopePath::new("game")?;
//!     let state = SoKey::new(game.clone(), "state");
//!     handle.start_scope(&game).await?;
//!     handle.create_transient(&state).await?;
//!     handle.set(&state, "round", 1.0).await?;
//!     server.run().await?;
//!     Ok(())
//! })
//! # }
//! ```
//!
//! `cargo run -p adapter-smol --example smol-embedded` tells the whole
//! story (the same as adapter-tokio's `embedded`).
//!
//! Connection tasks run on this crate's executor, one thread per core
//! (see [`Smol`]); the engine has its own thread, and store writes go to
//! smol's blocking pool.

pub mod client;
mod runtime;

pub use adapter_core::{
    Authorization, ClientSummary, Config, Edit, Error, ServerError, ServerHandle, ShutdownHandle,
    Verdict,
};
pub use client::{Client, ClientError, ClientOptions};
pub use runtime::{EventSender, Smol, Stream};

/// The SharedObject server on smol: [`Server::builder`], then
/// [`ServerBuilder::bind`], then [`Server::run`].
pub type Server = adapter_core::Server<Smol>;

/// Builds a [`Server`].
pub type ServerBuilder = adapter_core::ServerBuilder<Smol>;
