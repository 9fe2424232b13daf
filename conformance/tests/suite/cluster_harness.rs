//! A cluster of N example-server processes on one real `redis-server`
//! (the [`RedisServer`] of [`crate::cluster`]: a free loopback port, its
//! data in a temporary directory with the append-only file on), the
//! processes alternating the adapters (tokio, smol, tokio, ...) so that
//! one cluster runs both; processes killed, stopped and started again;
//! their `cluster_redis_up` gauge.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::adapter::PATIENCE;
use crate::cluster::{RedisServer, cluster_process};
use crate::harness::TempDir;
use crate::process::ServerProcess;
use crate::ws_client::get;

/// Process `i`'s example server: tokio's for even `i`, smol's for odd.
fn spawn(redis: &RedisServer, dir: &TempDir, i: usize) -> ServerProcess {
    if i.is_multiple_of(2) {
        cluster_process::<adapter_tokio::Tokio>(redis, dir)
    } else {
        cluster_process::<adapter_smol::Smol>(redis, dir)
    }
}

/// The keys of `redis` matching `pattern`, sorted.
pub(crate) fn redis_keys(redis: &RedisServer, pattern: &str) -> Vec<String> {
    let client = redis::Client::open(redis.url()).expect("a Redis URL");
    let mut con = client
        .get_connection_with_timeout(PATIENCE)
        .expect("Redis answers");
    let mut keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query(&mut con).unwrap();
    keys.sort();
    keys
}

/// Redis and `n` server processes with `--redis` and a short lease.
pub(crate) struct Cluster {
    pub(crate) redis: RedisServer,
    servers: Vec<Option<ServerProcess>>,
    dirs: Vec<TempDir>,
}

impl Cluster {
    /// Redis and `n` servers (with the cluster tests' short lease), or
    /// `None` when the test should skip (no `redis-server`).
    pub(crate) fn start(n: usize) -> Option<Self> {
        let redis = RedisServer::start()?;
        let dirs: Vec<TempDir> = (0..n).map(|_| TempDir::new()).collect();
        let servers = (0..n).map(|i| Some(spawn(&redis, &dirs[i], i))).collect();
        Some(Self {
            redis,
            servers,
            dirs,
        })
    }

    /// Process `i` (panics if it was killed).
    pub(crate) fn server(&self, i: usize) -> &ServerProcess {
        self.servers[i].as_ref().expect("a running process")
    }

    /// `rtmp://<process i>/path`.
    pub(crate) fn url(&self, i: usize, path: &str) -> String {
        self.server(i).url(path)
    }

    /// `kill -9` of process `i`.
    pub(crate) fn kill_9(&mut self, i: usize) {
        self.servers[i].take().expect("a running process").kill_9();
    }

    /// SIGTERM to process `i`; it must stop cleanly.
    pub(crate) fn terminate(&mut self, i: usize) {
        let server = self.servers[i].take().expect("a running process");
        let log = server.log();
        let status = server.terminate();
        assert!(status.success(), "process {i}: {status:?}\n{log}");
    }

    /// Starts process `i` again, on new ports; with `fresh_data` on an
    /// empty data directory, so that whatever it finds came from Redis.
    pub(crate) fn restart(&mut self, i: usize, fresh_data: bool) {
        assert!(self.servers[i].is_none(), "process {i} is running");
        if fresh_data {
            self.dirs[i] = TempDir::new();
        }
        self.servers[i] = Some(spawn(&self.redis, &self.dirs[i], i));
    }

    /// Every running process's log, for a failure message.
    pub(crate) fn logs(&self) -> String {
        let mut out = String::new();
        for (i, server) in self.servers.iter().enumerate() {
            if let Some(server) = server {
                out.push_str(&format!("--- process {i}\n{}", server.log()));
            }
        }
        out
    }

    /// Process `i`'s `cluster_redis_up` metric.
    pub(crate) fn redis_up(&self, i: usize) -> Option<f64> {
        metric(self.server(i).http_addr(), "cluster_redis_up")
    }

    /// Waits until process `i`'s `cluster_redis_up` is `value`.
    pub(crate) fn await_redis_up(&self, i: usize, value: f64) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let got = self.redis_up(i);
            if got == Some(value) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "process {i}: cluster_redis_up {got:?}, expected {value}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The value of the metric whose name ends with `name` (with or without
/// a prefix), from `/metrics` at `http`.
pub(crate) fn metric(http: SocketAddr, name: &str) -> Option<f64> {
    let (status, body) = get(http, "/metrics HTTP/1.1");
    assert_eq!(status, 200, "{body}");
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (metric, value) = line.rsplit_once(' ')?;
            let bare = metric.split('{').next()?;
            (bare == name || bare.ends_with(&format!("_{name}")))
                .then(|| value.parse().ok())
                .flatten()
        })
}
