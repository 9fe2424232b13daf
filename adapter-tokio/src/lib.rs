//! Tokio bindings for `rtmp-proto` and `so-engine`: the SharedObject server
//! people run and the client library ([`client`]).
//!
//! Everything but the runtime calls is written once in `adapter-core` and
//! shared with `adapter-smol`; this crate supplies [`Tokio`], the
//! [`adapter_core::Runtime`] it runs on, and names the types for
//! it. How the server and the client work is in `adapter-core`'s docs.
//!
//! # An embedded server and a client
//!
//! A server with one method of its own and an SO factory, on a free
//! loopback port, and a client that uses it (this example runs as a test):
//!
//! ```
//! use adapter_tokio::{Client, ClientOptions, Server};
//! use rtmp_proto::Value;
//! use so_engine::{CallRequest, Context, SoKey, SoSetup};
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::builder()
//!     .bind_addr("127.0.0.1:0")
//!     .memory_store() // or .data_dir("./so-data"): persistent SOs on disk
//!     .setup(|engine| {
//!         // Clients may call `add`; every SO named `scores` starts with a round.
//!         engine.register_method("add", |_: &mut Context<'_>, call: &CallRequest<'_>| {
//!             let sum = call.args.iter().filter_map(Value::as_f64).sum::<f64>();
//!             Ok(Value::from(sum))
//!         });
//!         engine.register_factory("scores", |_: &SoKey, so: &mut SoSetup| {
//!             so.initial("round", 1.0);
//!         });
//!     })
//!     .bind()
//!     .await?;
//! let url = format!("rtmp://{}/game/room1", server.local_addr());
//! let stop = server.shutdown_handle();
//! let running = tokio::spawn(server.run());
//!
//! let client = Client::connect(&url, ClientOptions::default()).await?;
//! assert_eq!(client.call("add", vec![2.0.into(), 3.0.into()]).await?, [Value::from(5.0)]);
//! let scores = client.shared_object("scores", false).await?;
//! assert_eq!(scores.get("round"), Some(Value::from(1.0)));
//! scores.set("alice", 10.0).await?; // resolves once the server confirmed it
//! client.close().await;
//!
//! stop.shutdown();
//! running.await??;
//! # Ok(())
//! # }
//! ```
//!
//! The example server people run is `cargo run --release -p adapter-tokio
//! --example server` (the demo application of `app-cli`, `--help` for its
//! flags). Your own server is `.application(..)` and `.setup(..)` as above,
//! then `server.run().await`, which stops gracefully on SIGINT/SIGTERM.
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

#![warn(missing_docs)]

pub mod client;
mod runtime;

pub use adapter_core::{
    Authorization, ClientSummary, Config, Edit, Error, ServerError, ServerHandle, ShutdownHandle,
    Verdict,
};
pub use client::{Client, ClientError, ClientOptions};
pub use runtime::{SharedStream, Tokio};

/// The SharedObject server on tokio: [`Server::builder`], then
/// [`ServerBuilder::bind`], then [`Server::run`].
pub type Server = adapter_core::Server<Tokio>;

/// Builds a [`Server`].
pub type ServerBuilder = adapter_core::ServerBuilder<Tokio>;
