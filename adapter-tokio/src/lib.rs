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
//! Connection tasks run on the runtime that calls [`Server::run`] (a
//! multi-thread runtime spreads them over every core); the engine has its
//! own thread and current-thread runtime, and store writes go to the
//! blocking pool.

#![warn(missing_docs)]

pub mod client;
mod runtime;

pub use adapter_core::{Config, Error, ShutdownHandle};
pub use client::{Client, ClientError, ClientOptions};
pub use runtime::Tokio;

/// The SharedObject server on tokio: [`Server::builder`], then
/// [`ServerBuilder::bind`], then [`Server::run`].
pub type Server = adapter_core::Server<Tokio>;

/// Builds a [`Server`].
pub type ServerBuilder = adapter_core::ServerBuilder<Tokio>;
