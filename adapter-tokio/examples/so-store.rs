//! Prints what a data directory holds: every persistent shared object with
//! its version and values, then any interrupted write or unreadable file.
//! Read-only: safe while a server uses the directory.
//!
//! ```text
//! cargo run -p adapter-tokio --example so-store -- ./so-data
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use so_engine::store::{FileStore, dump};

/// Print the contents of a SharedObject data directory.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The data directory.
    #[arg(default_value = "./so-data")]
    data_dir: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match FileStore::new(&args.data_dir).inspect() {
        Ok(report) => {
            print!("{}", dump(&report));
            if report.set_aside.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
        Err(e) => {
            eprintln!("{}: {e}", args.data_dir.display());
            ExitCode::FAILURE
        }
    }
}
