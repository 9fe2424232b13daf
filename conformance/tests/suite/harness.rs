//! The demo server in process on `127.0.0.1:0`, with its own temporary
//! data directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;

use adapter_core::{Config, Error, Runtime, Server, ShutdownHandle};

use crate::adapter::PATIENCE;

/// A directory under the system's temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("so-conformance-{}-{n}", std::process::id()));
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

/// A running demo server; shut down on drop if [`stop`](Self::stop) was
/// not called.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    shutdown: ShutdownHandle,
    stopped: mpsc::Receiver<Result<(), Error>>,
}

impl TestServer {
    /// The demo server with the default configuration.
    pub(crate) async fn start<R: Runtime>(data_dir: &Path) -> Self {
        Self::with_config::<R>(data_dir, Config::default()).await
    }

    /// The demo server with `config`.
    pub(crate) async fn with_config<R: Runtime>(data_dir: &Path, config: Config) -> Self {
        let server = Server::<R>::builder()
            .bind_addr("127.0.0.1:0")
            .data_dir(data_dir)
            .config(config)
            .demo()
            .bind()
            .await
            .expect("the server starts");
        Self::run::<R>(server)
    }

    /// The demo server keeping persistent SOs in memory.
    pub(crate) async fn in_memory<R: Runtime>() -> Self {
        let server = Server::<R>::builder()
            .bind_addr("127.0.0.1:0")
            .memory_store()
            .demo()
            .bind()
            .await
            .expect("the server starts");
        Self::run::<R>(server)
    }

    /// Runs `server` in the background.
    pub(crate) fn run<R: Runtime>(server: Server<R>) -> Self {
        let addr = server.local_addr();
        let shutdown = server.shutdown_handle();
        let (done, stopped) = mpsc::channel();
        R::spawn(async move {
            let _ = done.send(server.run_until(std::future::pending()).await);
        });
        Self {
            addr,
            shutdown,
            stopped,
        }
    }

    /// `rtmp://addr/path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("rtmp://{}/{path}", self.addr)
    }

    /// Shuts down gracefully and waits until it has.
    pub(crate) fn stop(self) {
        self.shutdown.shutdown();
        self.stopped
            .recv_timeout(PATIENCE)
            .expect("the server stops in time")
            .expect("a clean stop");
    }

    /// How the server ended, once it did (within [`PATIENCE`]).
    pub(crate) fn ended(&self) -> Result<(), Error> {
        self.stopped
            .recv_timeout(PATIENCE)
            .expect("the server stops in time")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.shutdown();
    }
}
