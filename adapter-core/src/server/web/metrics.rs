//! The counters behind `/metrics`, in Prometheus' text format.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::AdminView;

/// How a socket reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// An RTMP socket.
    Rtmp,
    /// An HTTP socket (counted as a WebSocket once upgraded).
    Http,
}

/// Counters and gauges, updated without locks by the accept loop, the
/// connections and the engine thread.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    rtmp: AtomicU64,
    websocket: AtomicU64,
    http: AtomicU64,
    /// SharedObject messages and server operations handled by the engine.
    pub(crate) updates: AtomicU64,
    /// Commands handed to clients (SharedObject messages, replies, calls).
    pub(crate) deliveries: AtomicU64,
    /// Clients disconnected for reading too slowly.
    pub(crate) slow_readers: AtomicU64,
    /// Socket writes the engine thread made itself (direct writes), and
    /// the SharedObject messages they carried.
    pub(crate) direct_writes: AtomicU64,
    pub(crate) direct_messages: AtomicU64,
    /// Panics of server code inside the engine.
    pub(crate) hook_panics: AtomicU64,
    /// Store batches written, and their total time in microseconds.
    store_flushes: AtomicU64,
    store_flush_micros: AtomicU64,
    /// Cluster mode is on (1) or off (0).
    cluster: AtomicU64,
    /// Cluster mode: Redis reachable (1) or not (0).
    cluster_redis_up: AtomicU64,
    /// Store batches that failed, and whether the last one did (0 or 1).
    store_failures: AtomicU64,
    store_failing: AtomicU64,
}

/// Counts one open socket of a transport while it lives.
#[derive(Debug)]
pub(crate) struct Open(Arc<Stats>, Transport);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.gauge(self.1).fetch_sub(1, Ordering::Relaxed);
    }
}

impl Stats {
    fn gauge(&self, transport: Transport) -> &AtomicU64 {
        match transport {
            Transport::Rtmp => &self.rtmp,
            Transport::Http => &self.http,
        }
    }

    /// Counts a socket of `transport` as open until the guard drops.
    pub(crate) fn open(self: &Arc<Self>, transport: Transport) -> Open {
        self.gauge(transport).fetch_add(1, Ordering::Relaxed);
        Open(self.clone(), transport)
    }

    /// Moves one open socket from HTTP to WebSocket (an upgrade).
    pub(crate) fn upgraded(&self) {
        self.http.fetch_sub(1, Ordering::Relaxed);
        self.websocket.fetch_add(1, Ordering::Relaxed);
    }

    /// Moves one open socket back from WebSocket to HTTP (the WebSocket
    /// ended; the socket's own guard counts it down).
    pub(crate) fn downgraded(&self) {
        self.websocket.fetch_sub(1, Ordering::Relaxed);
        self.http.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n` to a counter.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Records one store batch's time.
    pub(crate) fn store_flushed(&self, took: Duration) {
        self.store_flushes.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.store_flush_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Cluster mode is on: `/metrics` shows `rtmp_so_cluster_redis_up`
    /// (1 at first: the server starts only with Redis reached).
    pub(crate) fn cluster_on(&self, on: bool) {
        self.cluster.store(u64::from(on), Ordering::Relaxed);
        self.cluster_redis_up
            .store(u64::from(on), Ordering::Relaxed);
    }

    /// Cluster mode: Redis became reachable or unreachable.
    pub(crate) fn cluster_redis_up(&self, up: bool) {
        self.cluster_redis_up
            .store(u64::from(up), Ordering::Relaxed);
    }

    /// Records whether a store batch was written (`false`: it failed, and
    /// is retried after a backoff).
    pub(crate) fn store_done(&self, ok: bool) {
        if !ok {
            self.store_failures.fetch_add(1, Ordering::Relaxed);
        }
        self.store_failing.store(u64::from(!ok), Ordering::Relaxed);
    }

    /// The Prometheus text page.
    pub(crate) fn render(&self, admin: &AdminView) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        metric(
            "rtmp_so_connections",
            "gauge",
            "Open sockets by transport.",
            &[
                ("{transport=\"rtmp\"}", get(&self.rtmp)),
                ("{transport=\"websocket\"}", get(&self.websocket)),
                ("{transport=\"http\"}", get(&self.http)),
            ],
        );
        let gauges = admin.gauges();
        metric(
            "rtmp_so_scopes",
            "gauge",
            "Running scopes (applications and rooms).",
            &[("", gauges.scopes)],
        );
        metric(
            "rtmp_so_shared_objects",
            "gauge",
            "Live SharedObjects.",
            &[("", gauges.shared_objects)],
        );
        metric(
            "rtmp_so_subscriptions",
            "gauge",
            "Subscriptions of clients to SharedObjects.",
            &[("", gauges.subscriptions)],
        );
        metric(
            "rtmp_so_queued_bytes",
            "gauge",
            "Bytes waiting in clients' outbound queues.",
            &[("", gauges.queued_bytes)],
        );
        metric(
            "rtmp_so_updates_total",
            "counter",
            "SharedObject messages and server operations the engine handled (rate() gives updates per second).",
            &[("", get(&self.updates))],
        );
        metric(
            "rtmp_so_deliveries_total",
            "counter",
            "Messages handed to clients (rate() gives deliveries per second).",
            &[("", get(&self.deliveries))],
        );
        metric(
            "rtmp_so_direct_writes_total",
            "counter",
            "Socket writes the engine thread made straight to clients' sockets (direct writes).",
            &[("", get(&self.direct_writes))],
        );
        metric(
            "rtmp_so_direct_messages_total",
            "counter",
            "SharedObject messages in those writes (over rtmp_so_direct_writes_total: messages per write).",
            &[("", get(&self.direct_messages))],
        );
        metric(
            "rtmp_so_slow_reader_disconnects_total",
            "counter",
            "Clients disconnected because their queue passed its cap.",
            &[("", get(&self.slow_readers))],
        );
        metric(
            "rtmp_so_hook_panics_total",
            "counter",
            "Panics of server code inside the engine (each fails its request; the server serves on).",
            &[("", get(&self.hook_panics))],
        );
        if get(&self.cluster) == 1 {
            metric(
                "rtmp_so_cluster_redis_up",
                "gauge",
                "Cluster mode: whether Redis is reachable (1) or not (0).",
                &[("", get(&self.cluster_redis_up))],
            );
        }
        metric(
            "rtmp_so_store_flush_failures_total",
            "counter",
            "Store batches that failed (each is retried after a backoff).",
            &[("", get(&self.store_failures))],
        );
        metric(
            "rtmp_so_store_last_flush_failed",
            "gauge",
            "1 while the last store batch failed (changes are not on disk), else 0.",
            &[("", get(&self.store_failing))],
        );
        let flushes = get(&self.store_flushes);
        let micros = get(&self.store_flush_micros);
        let _ = writeln!(
            out,
            "# HELP rtmp_so_store_flush_seconds Time to write one store batch.\n\
             # TYPE rtmp_so_store_flush_seconds summary\n\
             rtmp_so_store_flush_seconds_sum {}.{:06}\n\
             rtmp_so_store_flush_seconds_count {flushes}",
            micros / 1_000_000,
            micros % 1_000_000
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_counts_sockets_and_updates() {
        let stats = Arc::new(Stats::default());
        let admin = AdminView::default();
        let rtmp = stats.open(Transport::Rtmp);
        let http = stats.open(Transport::Http);
        stats.upgraded();
        Stats::add(&stats.updates, 3);
        stats.store_flushed(Duration::from_micros(1_500_002));
        stats.store_done(false);
        let page = stats.render(&admin);
        for line in [
            "rtmp_so_connections{transport=\"rtmp\"} 1",
            "rtmp_so_connections{transport=\"websocket\"} 1",
            "rtmp_so_connections{transport=\"http\"} 0",
            "rtmp_so_updates_total 3",
            "rtmp_so_store_flush_seconds_sum 1.500002",
            "rtmp_so_store_flush_seconds_count 1",
            "rtmp_so_store_flush_failures_total 1",
            "rtmp_so_store_last_flush_failed 1",
        ] {
            assert!(page.lines().any(|l| l == line), "{line} in\n{page}");
        }
        drop(rtmp);
        stats.downgraded();
        drop(http);
        let page = stats.render(&admin);
        assert!(page.contains("rtmp_so_connections{transport=\"rtmp\"} 0"));
        assert!(page.contains("rtmp_so_connections{transport=\"websocket\"} 0"));
        assert!(page.contains("rtmp_so_connections{transport=\"http\"} 0"));
    }
}
