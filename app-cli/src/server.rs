//! The example server: the demo application on `127.0.0.1:1935`,
//! persistent SOs under `./so-data`, on any [`Runtime`]. Each adapter's
//! `server` example is [`main`] on its runtime.
//!
//! ```text
//! cargo run --release -p adapter-tokio --example server -- --help
//! RUST_LOG=debug cargo run --release -p adapter-smol --example smol-server
//! ```

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use adapter_core::cluster::ClusterOptions;
use adapter_core::{Config, Runtime, Server};

use crate::demo::ServeDemo;
use clap::Parser;
use rtmp_proto::chunk::DecoderLimits;
use rtmp_proto::connection::Config as Connection;
use so_cluster::ClusterConfig;
use so_engine::EngineConfig;
use so_engine::server::QueueLimits;
use so_store::{SqliteStore, Synchronous};
use tracing_subscriber::EnvFilter;

/// RTMP Remote SharedObject server running the demo application.
#[derive(Debug, Parser)]
#[command(name = "server", version)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:1935")]
    pub listen: String,
    /// Address for HTTP: the browsers' WebSocket endpoint `/so`,
    /// `/healthz`, `/metrics` and the `/admin` page; `off` disables it.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http_listen: String,
    /// Lets the `/admin` page set, remove and destroy with this token
    /// (without it the page is read-only).
    #[arg(long)]
    pub admin_token: Option<String>,
    /// Address for RTMPS (RTMP inside TLS, commonly port 443); needs
    /// --tls-cert and --tls-key.
    #[arg(long, requires_all = ["tls_cert", "tls_key"])]
    pub tls_listen: Option<String>,
    /// The RTMPS certificate chain (PEM).
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// The RTMPS certificate's private key (PEM).
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// Directory for persistent shared objects: one SQLite database in it
    /// (both created if missing).
    #[arg(long, default_value = "./so-data")]
    pub data_dir: PathBuf,
    /// How hard each flush syncs: `full` survives a power loss, `normal` a
    /// crash of the server only (and costs less).
    #[arg(long, value_enum, default_value_t = Sync::Full)]
    pub sync: Sync,
    /// Most time a change to a persistent SO waits before it is written;
    /// a crash loses at most this plus the write in progress.
    #[arg(long, default_value_t = EngineConfig::DEFAULT_PERSIST_INTERVAL_MS)]
    pub flush_interval_ms: u64,
    /// Most admitted connections at once; more are refused.
    #[arg(long, default_value_t = Config::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Most connections still in their handshake or before `connect`,
    /// counted apart; past it the oldest of them is dropped.
    #[arg(long, default_value_t = Config::DEFAULT_MAX_HANDSHAKING)]
    pub max_handshaking: usize,
    /// Ping a client that sent nothing for this long, in milliseconds
    /// (0: never).
    #[arg(long, default_value_t = duration_ms(Connection::DEFAULT_PING_INTERVAL))]
    pub ping_interval_ms: u64,
    /// Close a connection that sent nothing, not even a ping's answer,
    /// for this long, in milliseconds (0: never).
    #[arg(long, default_value_t = duration_ms(Connection::DEFAULT_IDLE_TIMEOUT))]
    pub idle_timeout_ms: u64,
    /// Close a connection when a message it started gets no chunk for
    /// this long, in milliseconds (0: never).
    #[arg(long, default_value_t = duration_ms(Connection::DEFAULT_PARTIAL_MESSAGE_TIMEOUT))]
    pub partial_message_timeout_ms: u64,
    /// Largest RTMP message a client may send, in bytes.
    #[arg(long, default_value_t = DecoderLimits::DEFAULT_MAX_MESSAGE_SIZE)]
    pub max_message_size: u32,
    /// Most bytes waiting for one client before it is disconnected.
    #[arg(long, default_value_t = QueueLimits::DEFAULT_MAX_QUEUED_BYTES)]
    pub max_queued_bytes: usize,
    /// Least time between two hand-overs of deliveries to the
    /// connections, in microseconds: while updates keep coming, each
    /// client gets a tick's worth in one write (0: after every engine turn).
    #[arg(long, default_value_t = u64::try_from(Config::DEFAULT_DELIVERY_TICK.as_micros()).unwrap_or(u64::MAX))]
    pub delivery_tick_us: u64,
    /// Whether the engine writes SharedObject updates straight to plain
    /// RTMP sockets (`false`: every update through the connection's task).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub direct_writes: bool,
    /// Time allowed for the handshake, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub handshake_timeout_ms: u64,
    /// Time allowed between the handshake and `connect`, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub connect_timeout_ms: u64,
    /// How long a client-created transient SO lives on without subscribers.
    #[arg(long, default_value_t = 0)]
    pub linger_ms: u64,
    /// Most shared objects in one scope.
    #[arg(long)]
    pub max_shared_objects_per_scope: Option<usize>,
    /// Most attributes in one shared object.
    #[arg(long)]
    pub max_attributes_per_so: Option<usize>,
    /// Most bytes one attribute value may take.
    #[arg(long)]
    pub max_value_bytes: Option<usize>,
    /// Most bytes one shared object may take.
    #[arg(long)]
    pub max_so_bytes: Option<usize>,
    /// Cluster mode: share the shared objects with every server process
    /// given the same Redis (`redis://HOST:PORT/`); persistent SOs are then
    /// stored in Redis, not under --data-dir. The server does not start
    /// without Redis.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// Cluster mode: the SO ownership lease, in milliseconds; a crashed
    /// process's SOs are taken over after about this long.
    #[arg(long, default_value_t = ClusterConfig::default().lease_ttl_ms, requires = "redis")]
    pub cluster_lease_ms: u64,
}

/// The database's `synchronous` setting (see the `so_store` docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Sync {
    /// Every flush is synced to disk.
    Full,
    /// Synced at checkpoints only.
    Normal,
}

impl Args {
    /// The HTTP address, `None` for `off`.
    pub fn http_addr(&self) -> Option<String> {
        (self.http_listen != "off").then(|| self.http_listen.clone())
    }

    /// Cluster mode as these flags describe it (`None` without --redis).
    pub fn cluster(&self) -> Option<ClusterOptions> {
        let url = self.redis.clone()?;
        Some(ClusterOptions::new(url).lease_ttl_ms(self.cluster_lease_ms))
    }

    /// The store these flags describe.
    pub fn store(&self) -> SqliteStore {
        let synchronous = match self.sync {
            Sync::Full => Synchronous::Full,
            Sync::Normal => Synchronous::Normal,
        };
        SqliteStore::new(&self.data_dir).with_synchronous(synchronous)
    }

    /// The server configuration these flags describe (the defaults for
    /// everything they do not name).
    pub fn config(&self) -> Config {
        let mut config = Config {
            max_connections: self.max_connections,
            max_handshaking: self.max_handshaking,
            ..Config::default()
        };
        config.queue.max_queued_bytes = self.max_queued_bytes;
        config.delivery_tick = Duration::from_micros(self.delivery_tick_us);
        config.direct_writes = self.direct_writes;
        let connection = &mut config.connection;
        connection.chunk_limits.max_message_size = self.max_message_size;
        connection.handshake_timeout = Duration::from_millis(self.handshake_timeout_ms);
        connection.connect_timeout = Duration::from_millis(self.connect_timeout_ms);
        let optional = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
        connection.ping_interval = optional(self.ping_interval_ms);
        connection.idle_timeout = optional(self.idle_timeout_ms);
        connection.partial_message_timeout = optional(self.partial_message_timeout_ms);
        let engine = &mut config.engine;
        engine.persist_interval_ms = self.flush_interval_ms;
        engine.default_linger_ms = self.linger_ms;
        let limits = &mut engine.limits;
        if let Some(n) = self.max_shared_objects_per_scope {
            limits.max_shared_objects_per_scope = n;
        }
        if let Some(n) = self.max_attributes_per_so {
            limits.max_attributes_per_so = n;
        }
        if let Some(n) = self.max_value_bytes {
            limits.max_value_bytes = n;
        }
        if let Some(n) = self.max_so_bytes {
            limits.max_so_bytes = n;
        }
        config
    }
}

/// The whole program: logs to stderr (`RUST_LOG`, `info` by default),
/// parses the flags, serves the demo on `R` until SIGINT or SIGTERM.
pub async fn main<R: Runtime>() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    tracing::info!(data_dir = %args.data_dir.display(), "starting the demo server");
    let config = args.config();
    let tls = args
        .tls_listen
        .clone()
        .zip(args.tls_cert.clone())
        .zip(args.tls_key.clone());
    let store = args.store();
    let cluster = args.cluster();
    let served = async {
        let mut builder = Server::<R>::builder();
        if let Some(options) = cluster {
            builder = builder.cluster(options);
        }
        if let Some(((addr, cert), key)) = tls {
            builder = builder.tls(addr, cert, key);
        }
        builder
            .http_addr(args.http_addr())
            .admin_token(args.admin_token)
            .bind_addr(args.listen)
            .store(store)
            .config(config)
            .demo()
            .bind()
            .await?
            .run()
            .await
    };
    match served.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One message, on stderr (logs go there too).
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A duration as whole milliseconds (for flag defaults).
const fn duration_ms(duration: Duration) -> u64 {
    duration.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_reach_the_configuration() {
        let args = Args::try_parse_from([
            "server",
            "--listen",
            "0.0.0.0:1936",
            "--flush-interval-ms",
            "100",
            "--max-connections",
            "7",
            "--max-message-size",
            "65536",
            "--max-queued-bytes",
            "1048576",
            "--handshake-timeout-ms",
            "1000",
            "--connect-timeout-ms",
            "2000",
            "--linger-ms",
            "30",
            "--max-attributes-per-so",
            "9",
            "--delivery-tick-us",
            "500",
            "--max-handshaking",
            "11",
            "--ping-interval-ms",
            "0",
            "--partial-message-timeout-ms",
            "700",
        ])
        .expect("valid flags");
        assert_eq!(args.listen, "0.0.0.0:1936");
        let config = args.config();
        assert_eq!(config.max_connections, 7);
        assert_eq!(config.queue.max_queued_bytes, 1 << 20);
        assert_eq!(config.connection.chunk_limits.max_message_size, 65536);
        assert_eq!(config.connection.handshake_timeout, Duration::from_secs(1));
        assert_eq!(config.connection.connect_timeout, Duration::from_secs(2));
        assert_eq!(config.engine.persist_interval_ms, 100);
        assert_eq!(config.engine.default_linger_ms, 30);
        assert_eq!(config.engine.limits.max_attributes_per_so, 9);
        assert_eq!(config.delivery_tick, Duration::from_micros(500));
        assert_eq!(config.max_handshaking, 11);
        assert_eq!(config.connection.ping_interval, None);
        assert!(args.cluster().is_none(), "no cluster without --redis");
        assert_eq!(
            config.connection.partial_message_timeout,
            Some(Duration::from_millis(700))
        );
        let defaults = Config::default().engine.limits;
        assert_eq!(
            config.engine.limits.max_value_bytes,
            defaults.max_value_bytes
        );
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let args = Args::try_parse_from(["server"]).expect("no flags");
        assert_eq!(args.listen, "127.0.0.1:1935");
        assert_eq!(args.data_dir, PathBuf::from("./so-data"));
        assert_eq!(args.http_addr().as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(args.admin_token, None);
        let off = Args::try_parse_from(["server", "--http-listen", "off"]).expect("off");
        assert_eq!(off.http_addr(), None);
        assert_eq!(args.tls_listen, None);
        assert!(
            Args::try_parse_from(["server", "--tls-listen", "0.0.0.0:443"]).is_err(),
            "TLS needs a certificate"
        );
        let config = args.config();
        assert_eq!(
            config.engine.persist_interval_ms,
            EngineConfig::DEFAULT_PERSIST_INTERVAL_MS
        );
        assert_eq!(config.max_connections, Config::DEFAULT_MAX_CONNECTIONS);
        assert_eq!(config.max_handshaking, Config::DEFAULT_MAX_HANDSHAKING);
        let connection = Connection::default();
        assert_eq!(config.connection.ping_interval, connection.ping_interval);
        assert_eq!(config.connection.idle_timeout, connection.idle_timeout);
        assert_eq!(
            config.connection.partial_message_timeout,
            connection.partial_message_timeout
        );
    }

    #[test]
    fn cluster_flags() {
        let args = Args::try_parse_from([
            "server",
            "--redis",
            "redis://127.0.0.1:6390/",
            "--cluster-lease-ms",
            "1000",
        ])
        .expect("valid flags");
        let options = args.cluster().expect("cluster mode");
        assert_eq!(options.redis_url, "redis://127.0.0.1:6390/");
        assert_eq!(options.config.lease_ttl_ms, 1000);
        assert_eq!(options.config.renew_every_ms, 333);
        let default = Args::try_parse_from(["server", "--redis", "redis://h:1/"]).unwrap();
        assert_eq!(
            default.cluster().unwrap().config,
            ClusterConfig::default(),
            "the default lease keeps every default"
        );
        assert!(
            Args::try_parse_from(["server", "--cluster-lease-ms", "1000"]).is_err(),
            "a lease without --redis is a mistake"
        );
    }
}
