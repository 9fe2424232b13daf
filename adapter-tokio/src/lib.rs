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
