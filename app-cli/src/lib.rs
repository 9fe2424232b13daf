//! The application side of the workspace, on any
//! [`adapter_core::Runtime`]: the demo application ([`demo`]), the example
//! server's flags and main ([`server`]) and the `so-client` CLI
//! ([`so_client`]). Each adapter's example is one line that runs these on
//! its runtime, so the two adapters' programs take the same flags and print
//! the same lines.

#![warn(missing_docs)]

pub mod demo;
pub mod embedded;
pub mod server;
pub mod so_client;
