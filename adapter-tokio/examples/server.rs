//! The example SharedObject server on tokio: the demo application on
//! `127.0.0.1:1935`, persistent SOs under `./so-data` (flags: `--help`,
//! shared with adapter-smol's in `app_cli::server`).
//!
//! ```text
//! cargo run --release -p adapter-tokio --example server -- --help
//! RUST_LOG=debug cargo run --release -p adapter-tokio --example server
//! ```

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    app_cli::server::main::<adapter_tokio::Tokio>().await
}
