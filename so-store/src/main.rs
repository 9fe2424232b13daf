//! `so-store`: prints the persistent shared objects of a data directory,
//! or imports an old file-per-SO data directory into its database.
//!
//! ```text
//! so-store [DATA_DIR]                       # print (default ./so-data)
//! so-store import OLD_DIR [--data-dir DIR]  # import old .rso files
//! ```
//!
//! Printing is read-only and takes no lock: safe while a server runs.
//! Importing writes, and needs the server stopped (it takes the lock).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use so_engine::store::dump;
use so_store::{SqliteStore, import_dir, inspect};

/// Print or import the persistent SharedObjects of a data directory.
#[derive(Debug, Parser)]
#[command(name = "so-store", version, args_conflicts_with_subcommands = true)]
struct Args {
    /// The data directory to print.
    #[arg(default_value = "./so-data")]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Imports the `.rso` files of an old data directory (stop the server
    /// first). An SO the database holds at the same or a higher version
    /// is kept as it is.
    Import {
        /// The old data directory (left unchanged).
        old_dir: PathBuf,
        /// The data directory whose database receives them.
        #[arg(long, default_value = "./so-data")]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.command {
        None => print(&args.data_dir),
        Some(Command::Import { old_dir, data_dir }) => import(&old_dir, data_dir),
    }
}

fn print(dir: &std::path::Path) -> ExitCode {
    match inspect(dir) {
        Ok(report) => {
            print!("{}", dump(&report));
            if report.set_aside.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn import(old_dir: &std::path::Path, data_dir: PathBuf) -> ExitCode {
    let mut store = SqliteStore::new(data_dir);
    let report = match import_dir(&mut store, old_dir) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    for (so, version) in &report.imported {
        println!("imported {so} version {version}");
    }
    for (so, why) in &report.kept {
        println!("kept {so}: {why}");
    }
    for path in &report.ignored {
        println!("ignored {}", path.display());
    }
    for (path, why) in &report.unreadable {
        eprintln!("unreadable {}: {why}", path.display());
    }
    println!(
        "{} imported into {}",
        report.imported.len(),
        store.path().display()
    );
    if report.unreadable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
