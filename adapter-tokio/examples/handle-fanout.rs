//! A server whose own code writes: one SO in a declared scope, written
//! through the `ServerHandle` as fast as each write completes (or at
//! `--rate`), for measuring server-side fan-out with `loadgen
//! --server-writes` (BENCHMARKS.md). It prints the updates it made per
//! second on stderr and runs until SIGINT/SIGTERM.
//!
//! ```text
//! cargo run --release -p adapter-tokio --example handle-fanout -- --listen 127.0.0.1:1935
//! cargo run --release -p loadgen -- rtmp://127.0.0.1:1935/app --clients 1000 --server-writes \
//!     --server-pid <pid>
//! ```

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use adapter_tokio::Server;
use clap::Parser;
use rtmp_proto::amf::Value;
use so_engine::{ScopePath, SoKey};

/// A server writing one SO itself, through its handle.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:1935")]
    listen: String,
    /// The scope (application) the SO lives in.
    #[arg(long, default_value = "app")]
    app: String,
    /// The SO's name (loadgen's `--so`).
    #[arg(long, default_value = "loadgen")]
    so: String,
    /// Updates per second; without it, each write starts when the last
    /// completed.
    #[arg(long)]
    rate: Option<f64>,
    /// Padding bytes in each value (loadgen's `--value-bytes`).
    #[arg(long, default_value_t = 20)]
    value_bytes: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("handle-fanout: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::builder().bind_addr(&args.listen).bind().await?;
    eprintln!(
        "handle-fanout: listening on {} (pid {})",
        server.local_addr(),
        std::process::id()
    );
    let handle = server.handle();
    let scope = ScopePath::new(&args.app)?;
    let so = SoKey::new(scope.clone(), args.so.as_str());
    handle.start_scope(&scope).await?;
    handle.create_transient(&so).await?;
    let updates = Arc::new(AtomicU64::new(0));
    let written = updates.clone();
    let pad = Value::from("x".repeat(args.value_bytes));
    let period = args.rate.map(|r| Duration::from_secs_f64(1.0 / r));
    tokio::spawn(async move {
        let mut next = Instant::now();
        for seq in 1u64.. {
            // The fields a loadgen writer's values have; no send time.
            let value = Value::object([
                ("seq", Value::Number(seq as f64)),
                ("sent", Value::Number(0.0)),
                ("pad", pad.clone()),
            ]);
            if handle.set(&so, "w0", value).await.is_err() {
                return;
            }
            written.fetch_add(1, Ordering::Relaxed);
            if let Some(period) = period {
                next += period;
                tokio::time::sleep_until(next.into()).await;
            }
        }
    });
    tokio::spawn(async move {
        let mut last = 0;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = updates.load(Ordering::Relaxed);
            eprintln!("handle-fanout: {} updates/s", now - last);
            last = now;
        }
    });
    server.run().await?;
    Ok(())
}
