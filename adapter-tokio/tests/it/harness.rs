//! A server on `127.0.0.1:0` with its own temporary data directory.
//! Self-contained (no other test module): `tests/interop.rs` includes it
//! by path.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use adapter_tokio::{Config, Error, Server, ShutdownHandle};
use tokio::task::JoinHandle;

/// A directory under the system's temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("so-it-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running demo server.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    shutdown: ShutdownHandle,
    task: JoinHandle<Result<(), Error>>,
}

impl TestServer {
    /// The demo server with the default configuration.
    pub(crate) async fn start(data_dir: &Path) -> Self {
        Self::with_config(data_dir, Config::default()).await
    }

    pub(crate) async fn with_config(data_dir: &Path, config: Config) -> Self {
        // The server's logs, shown with a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "info".into()),
            )
            .with_test_writer()
            .with_ansi(false)
            .try_init();
        let server = Server::builder()
            .bind_addr("127.0.0.1:0")
            .data_dir(data_dir)
            .config(config)
            .demo()
            .bind()
            .await
            .expect("the server starts");
        let addr = server.local_addr();
        let shutdown = server.shutdown_handle();
        let task = tokio::spawn(server.run_until(std::future::pending()));
        Self {
            addr,
            shutdown,
            task,
        }
    }

    /// `rtmp://addr/path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("rtmp://{}/{path}", self.addr)
    }

    /// Shuts down gracefully and waits until it has.
    pub(crate) async fn stop(self) {
        self.shutdown.shutdown();
        self.task
            .await
            .expect("the server task")
            .expect("a clean stop");
    }
}
