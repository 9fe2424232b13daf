//! An application that embeds the server on tokio and acts on it from
//! outside hooks through a `ServerHandle`: a server-defined SO created
//! before any client, a timer task writing to it, clients coming and going
//! while its data stays, a server call awaited, a panicking hook that
//! leaves the server serving, and the SO destroyed by server code. The
//! story (`app_cli::embedded`) is shared with adapter-smol's
//! `smol-embedded`.
//!
//! ```text
//! cargo run -p adapter-tokio --example embedded
//! ```

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    app_cli::embedded::one_line_panics();
    let mut story = String::new();
    let result = app_cli::embedded::run::<adapter_tokio::Tokio>(&mut story).await;
    print!("{story}");
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("the story went wrong: {e}");
            ExitCode::FAILURE
        }
    }
}
