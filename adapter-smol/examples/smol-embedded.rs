//! An application that embeds the server on smol and acts on it from
//! outside hooks through a `ServerHandle` (the same story as
//! adapter-tokio's `embedded`, from `app_cli::embedded`).
//!
//! ```text
//! cargo run -p adapter-smol --example smol-embedded
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    app_cli::embedded::one_line_panics();
    let mut story = String::new();
    let result = smol::block_on(app_cli::embedded::run::<adapter_smol::Smol>(&mut story));
    print!("{story}");
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("the story went wrong: {e}");
            ExitCode::FAILURE
        }
    }
}
