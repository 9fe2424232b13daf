//! The example SharedObject server on smol: the demo application on
//! `127.0.0.1:1935`, persistent SOs under `./so-data` (flags: `--help`,
//! shared with adapter-tokio's in `app_cli::server`).
//!
//! ```text
//! cargo run --release -p adapter-smol --example smol-server -- --help
//! RUST_LOG=debug cargo run --release -p adapter-smol --example smol-server
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    smol::block_on(app_cli::server::main::<adapter_smol::Smol>())
}
