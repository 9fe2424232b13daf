//! smol bindings for `rtmp-proto` and `so-engine`: the SharedObject server
//! people run and the client library ([`client`]), the same as
//! `adapter-tokio`'s, on smol.
//!
//! Everything but the runtime calls is written once in `adapter-core` and
//! shared with `adapter-tokio`; this crate supplies [`Smol`], the
//! [`adapter_core::Runtime`] it runs on, and names the types for
//! it. How the server and the client work is in `adapter-core`'s docs.
//!
//! # An embedded server and a client
//!
//! A server with one method of its own and an SO factory, on a free
//! loopback port, and a client that uses it (this example runs as a test):
//!
//! ```
//! use adapter_smol::{Client, ClientOptions, Server};
//! use rtmp_proto::Value;
//! use so_engine::{CallRequest, Context, SoKey, SoSetup};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! smol::block_on(async {
//!     let server = Server::builder()
//!         .bind_addr("127.0.0.1:0")
//!         .memory_store() // or .data_dir("./so-data"): persistent SOs on disk
//!         .setup(|engine| {
//!             // Clients may call `add`; every SO named `scores` starts with a round.
//!             engine.register_method("add", |_: &mut Context<'_>, call: &CallRequest<'_>| {
//!                 let sum = call.args.iter().filter_map(Value::as_f64).sum::<f64>();
//!                 Ok(Value::from(sum))
//!             });
//!             engine.register_factory("scores", |_: &SoKey, so: &mut SoSetup| {
//!                 so.initial("round", 1.0);
//!             });
//!         })
//!         .bind()
//!         .await?;
//!     let url = format!("rtmp://{}/game/room1", server.local_addr());
//!     let stop = server.shutdown_handle();
//!     let running = smol::spawn(server.run());
//!
//!     let client = Client::connect(&url, ClientOptions::default()).await?;
//!     assert_eq!(client.call("add", vec![2.0.into(), 3.0.into()]).await?, [Value::from(5.0)]);
//!     let scores = client.shared_object("scores", false).await?;
//!     assert_eq!(scores.get("round"), Some(Value::from(1.0)));
//!     scores.set("alice", 10.0).await?; // resolves once the server confirmed it
//!     client.close().await;
//!
//!     stop.shutdown();
//!     running.await?;
//!     Ok(())
//! })
//! # }
//! ```
//!
//! The example server people run is `cargo run --release -p adapter-smol
//! --example smol-server` (the demo application of `app-cli`, `--help` for its
//! flags). Your own server is `.application(..)` and `.setup(..)` as above,
//! then `server.run().await`, which stops gracefully on SIGINT/SIGTERM.
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

#![warn(missing_docs)]

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
