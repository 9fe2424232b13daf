//! `so-client` on smol: watch and change RTMP Remote SharedObjects from a
//! shell (see `app_cli::so_client`, shared with adapter-tokio).
//!
//! ```text
//! cargo run -p adapter-smol --example smol-so-client -- rtmp://127.0.0.1/chat --so messages watch
//! cargo run -p adapter-smol --example smol-so-client -- rtmp://127.0.0.1/chat --so messages set 'topic="hi"'
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    smol::block_on(app_cli::so_client::main::<adapter_smol::Smol>())
}
