//! `so-client` on tokio: watch and change RTMP Remote SharedObjects from a
//! shell (see `app_cli::so_client`, shared with adapter-smol).
//!
//! ```text
//! cargo run -p adapter-tokio --example so-client -- rtmp://127.0.0.1/chat --so messages watch
//! cargo run -p adapter-tokio --example so-client -- rtmp://127.0.0.1/chat --so messages set 'topic="hi"'
//! ```

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    app_cli::so_client::main::<adapter_tokio::Tokio>().await
}
