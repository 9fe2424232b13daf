//! The example SharedObject server: the demo application on
//! `127.0.0.1:1935`, persistent SOs under `./so-data`.
//!
//! ```text
//! cargo run --release -p adapter-tokio --example server -- --help
//! RUST_LOG=debug cargo run --release -p adapter-tokio --example server
//! ```

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use adapter_tokio::{Config, Server};
use clap::Parser;
use rtmp_proto::chunk::DecoderLimits;
use so_engine::EngineConfig;
use so_engine::host::QueueLimits;
use tracing_subscriber::EnvFilter;

/// RTMP Remote SharedObject server running the demo application.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:1935")]
    listen: String,
    /// Directory for persistent shared objects (created if missing).
    #[arg(long, default_value = "./so-data")]
    data_dir: PathBuf,
    /// Most time a change to a persistent SO waits before it is written;
    /// a crash loses at most this plus the write in progress.
    #[arg(long, default_value_t = EngineConfig::DEFAULT_PERSIST_INTERVAL_MS)]
    flush_interval_ms: u64,
    /// Most connections at once; more are refused.
    #[arg(long, default_value_t = Config::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Largest RTMP message a client may send, in bytes.
    #[arg(long, default_value_t = DecoderLimits::DEFAULT_MAX_MESSAGE_SIZE)]
    max_message_size: u32,
    /// Most bytes waiting for one client before it is disconnected.
    #[arg(long, default_value_t = QueueLimits::DEFAULT_MAX_QUEUED_BYTES)]
    max_queued_bytes: usize,
    /// Time allowed for the handshake, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    handshake_timeout_ms: u64,
    /// Time allowed between the handshake and `connect`, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    connect_timeout_ms: u64,
    /// How long a client-created transient SO lives on without subscribers.
    #[arg(long, default_value_t = 0)]
    linger_ms: u64,
    /// Most shared objects in one scope.
    #[arg(long)]
    max_shared_objects_per_scope: Option<usize>,
    /// Most attributes in one shared object.
    #[arg(long)]
    max_attributes_per_so: Option<usize>,
    /// Most bytes one attribute value may take.
    #[arg(long)]
    max_value_bytes: Option<usize>,
    /// Most bytes one shared object may take.
    #[arg(long)]
    max_so_bytes: Option<usize>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let mut config = Config {
        max_connections: args.max_connections,
        ..Config::default()
    };
    config.queue.max_queued_bytes = args.max_queued_bytes;
    let connection = &mut config.connection;
    connection.chunk_limits.max_message_size = args.max_message_size;
    connection.handshake_timeout = Duration::from_millis(args.handshake_timeout_ms);
    connection.connect_timeout = Duration::from_millis(args.connect_timeout_ms);
    let engine = &mut config.engine;
    engine.persist_interval_ms = args.flush_interval_ms;
    engine.default_linger_ms = args.linger_ms;
    let limits = &mut engine.limits;
    if let Some(n) = args.max_shared_objects_per_scope {
        limits.max_shared_objects_per_scope = n;
    }
    if let Some(n) = args.max_attributes_per_so {
        limits.max_attributes_per_so = n;
    }
    if let Some(n) = args.max_value_bytes {
        limits.max_value_bytes = n;
    }
    if let Some(n) = args.max_so_bytes {
        limits.max_so_bytes = n;
    }
    tracing::info!(data_dir = %args.data_dir.display(), "starting the demo server");
    let server = Server::builder()
        .bind_addr(args.listen)
        .data_dir(args.data_dir)
        .config(config)
        .demo()
        .bind()
        .await?;
    server.run().await?;
    Ok(())
}
