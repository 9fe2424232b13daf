//! What the adapters' example programs share, on any
//! [`Runtime`](adapter_core::Runtime): the example server's flags and main
//! ([`server`]) and the `so-client` CLI ([`so_client`]). Each adapter's
//! example is one line that runs these on its runtime, so the two
//! adapters' programs take the same flags and print the same lines.

pub mod server;
pub mod so_client;
