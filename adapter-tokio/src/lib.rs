//! Tokio bindings for `rtmp-proto` and `so-engine`: the SharedObject server
//! people run and the client library ([`client`]).
//!
//! Everything but the runtime calls is written once in `adapter-core` and
//! shared with `adapter-smol`; this crate supplies [`Tokio`], the
//! [`Runtime`](adapter_core::Runtime) it runs on, and names the types for
//! it. How the server and the client work is in `adapter-core`'s docs.
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
//!     // .application(MyApp).setup(|engine| { /* factories, security, methods */ })
//!     .bind()
//!     .await?; // the store is loaded and restored before this returns
//! server.run().await // until SIGINT/SIGTERM, then a graceful shutdown
//! # }
//! ```
//!
//! # Embedding it: the server handle, declared scopes, locks, authorization
//!
//! An application acts on the running server from outside hooks (a timer
//! task, a web backend) through a [`ServerHandle`]: cheap to clone, usable
//! from any task, every operation async with its own [`ServerError`]. A
//! scope the application declares runs with no client, and the SOs it
//! creates there keep their data while clients come and go. Connects can
//! be authorized asynchronously before the engine hears of them.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use adapter_tokio::{Edit, Server};
//! use so_engine::{Attributes, ConnectInfo, ScopePath, SoKey};
//!
//! let server = Server::builder()
//!     .bind_addr("127.0.0.1:1935")
//!     // Off the engine thread, before the engine sees the connect.
//!     .authorize(|info: ConnectInfo| async move {
//!         match info.args.first().and_then(|token| token.as_str()) {
//!             Some("secret") => Ok(Attributes::from([("role".into(), "player".into())])),
//!             _ => Err("a token is required".to_owned()),
//!         }
//!     })
//!     .bind()
//!     .await?;
//! let handle = server.handle();
//! let game = ScopePath::new("game")?;
//! let state = SoKey::new(game.clone(), "state");
//! handle.start_scope(&game).await?; // runs with no client, until stop_scope
//! handle.create_transient(&state).await?; // lives with the scope, data included
//! tokio::spawn(async move {
//!     // One update (one version, one message per subscriber).
//!     let edits = vec![Edit::Set("round".into(), 2.0.into()), Edit::Remove("winner".into())];
//!     let _ = handle.batch(&state, edits).await;
//!     // AMS's lock: clients' writes wait until the unlock.
//!     let _ = handle.lock(&state).await;
//!     let _ = handle.set(&state, "phase", "scoring").await;
//!     let _ = handle.unlock(&state).await;
//! });
//! server.run().await?;
//! # Ok(()) }
//! ```
//!
//! `cargo run -p adapter-tokio --example embedded` tells the whole story:
//! an SO created before any client, a timer task writing to it, clients
//! coming and going while its data stays, a server call awaited, a hook
//! that panics without stopping the server, and the SO destroyed by
//! server code.
//!
//! Connection tasks run on the runtime that calls [`Server::run`] (a
//! multi-thread runtime spreads them over every core); the engine has its
//! own thread and current-thread runtime, and store writes go to the
//! blocking pool.

pub mod client;
mod runtime;

pub use adapter_core::{
    Authorization, ClientSummary, Config, Edit, Error, ServerError, ServerHandle, ShutdownHandle,
    Verdict,
};
pub use client::{Client, ClientError, ClientOptions};
pub use runtime::Tokio;

/// The SharedObject server on tokio: [`Server::builder`], then
/// [`ServerBuilder::bind`], then [`Server::run`].
pub type Server = adapter_core::Server<Tokio>;

/// Builds a [`Server`].
pub type ServerBuilder = adapter_core::ServerBuilder<Tokio>;
