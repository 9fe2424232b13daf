//! The demo server in process on `127.0.0.1:0`, with its own temporary
//! data directory. Self-contained (no other test module), so that
//! `adapter-tokio/tests/interop.rs` includes it by path too.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, TryRecvError};
use std::time::{Duration, Instant};

use adapter_core::{Config, Error, Runtime, Server, ShutdownHandle, sleep};
use app_cli::demo::ServeDemo;

/// How long a server may take to stop.
const STOP_PATIENCE: Duration = Duration::from_secs(10);

/// A directory under the system's temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("so-test-{}-{n}", std::process::id());
        let path = std::env::temp_dir().join(name);
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

/// A running demo server on runtime `R`; shut down on drop if
/// [`stop`](Self::stop) was not called.
pub(crate) struct TestServer<R> {
    pub(crate) addr: SocketAddr,
    /// The HTTP listener (WebSocket `/so`, `/metrics`, `/admin`), if any.
    pub(crate) http: Option<SocketAddr>,
    shutdown: ShutdownHandle,
    stopped: mpsc::Receiver<Result<(), Error>>,
    runtime: PhantomData<fn() -> R>,
}

impl<R: Runtime> TestServer<R> {
    /// The demo server with the default configuration.
    pub(crate) async fn start(data_dir: &Path) -> Self {
        Self::with_config(data_dir, Config::default()).await
    }

    /// The demo server with `config`.
    pub(crate) async fn with_config(data_dir: &Path, config: Config) -> Self {
        let server = Server::<R>::builder()
            .bind_addr("127.0.0.1:0")
            .http_addr(Some("127.0.0.1:0".into()))
            .data_dir(data_dir)
            .config(config)
            .demo()
            .bind()
            .await
            .expect("the server starts");
        Self::run(server)
    }

    /// The demo server keeping persistent SOs in memory.
    pub(crate) async fn in_memory() -> Self {
        let server = Server::<R>::builder()
            .bind_addr("127.0.0.1:0")
            .http_addr(Some("127.0.0.1:0".into()))
            .memory_store()
            .demo()
            .bind()
            .await
            .expect("the server starts");
        Self::run(server)
    }

    /// Runs `server` in the background.
    pub(crate) fn run(server: Server<R>) -> Self {
        let addr = server.local_addr();
        let http = server.http_addr();
        let shutdown = server.shutdown_handle();
        let (done, stopped) = mpsc::channel();
        R::spawn(async move {
            let _ = done.send(server.run_until(std::future::pending()).await);
        });
        Self {
            addr,
            http,
            shutdown,
            stopped,
            runtime: PhantomData,
        }
    }

    /// `rtmp://addr/path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("rtmp://{}/{path}", self.addr)
    }

    /// Shuts down gracefully and waits until it has.
    pub(crate) async fn stop(self) {
        self.shutdown.shutdown();
        self.ended().await.expect("a clean stop");
    }

    /// How the server ended, once it did.
    pub(crate) async fn ended(&self) -> Result<(), Error> {
        let deadline = Instant::now() + STOP_PATIENCE;
        loop {
            match self.stopped.try_recv() {
                Ok(ended) => return ended,
                Err(TryRecvError::Disconnected) => panic!("the server task was dropped"),
                Err(TryRecvError::Empty) if Instant::now() < deadline => {
                    sleep::<R>(Duration::from_millis(10)).await;
                }
                Err(TryRecvError::Empty) => panic!("the server did not stop in time"),
            }
        }
    }
}

impl<R> Drop for TestServer<R> {
    fn drop(&mut self) {
        self.shutdown.shutdown();
    }
}
