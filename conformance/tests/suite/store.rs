//! The embedded SQLite store seen from clients, in process: names that
//! once aliased on disk, and versions over restarts and clears. (The
//! crash, lock and damage tests run the example servers as processes, in
//! `process`.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use adapter_core::{Server, sleep};
use app_cli::demo::ServeDemo;
use rtmp_proto::amf::{Encoding, Value};
use rtmp_proto::message::shared_object::SoEvent;
use so_engine::store::{LoadReport, MemoryStore, Store, StoreError, StoreOp};
use so_engine::{Snapshot, SoKey};

use crate::adapter::{Adapter, PATIENCE};
use crate::harness::{TempDir, TestServer};
use crate::wire::{TestClient, change, set};
use crate::ws_client::{get, http_of};

/// SO names that are paths, or that a file store would encode alike.
const ODD_NAMES: [&str; 7] = ["clash", "clash.rso", "a/b", "..", "%2F", "/", "Grüße ☃"];

/// Room `app/room/clash.rso` and SO `clash.rso` of room `app/room` (a
/// directory and a file at the same path in the old file store), and
/// names with `/`, `..`, `%2F` and Unicode: each is its own SO after a
/// restart, with its own value.
async fn odd_names_stay_distinct_after_a_restart<R: Adapter>() {
    let dir = TempDir::new();
    let server = TestServer::<R>::start(dir.path()).await;
    let mut room = TestClient::connect(&server.url("app/room"), Encoding::Amf3);
    for name in ODD_NAMES {
        room.use_so(name, true);
        room.send_so(name, true, vec![set("v", format!("app/room {name}"))]);
        room.next_so();
    }
    let mut sub = TestClient::connect(&server.url("app/room/clash.rso"), Encoding::Amf0);
    sub.use_so("clash", true);
    sub.send_so("clash", true, vec![set("v", "app/room/clash.rso clash")]);
    sub.next_so();
    server.stop().await;

    let server = TestServer::<R>::start(dir.path()).await;
    let mut room = TestClient::connect(&server.url("app/room"), Encoding::Amf0);
    for name in ODD_NAMES {
        let used = room.use_so(name, true);
        assert_eq!(
            used.events,
            [
                SoEvent::UseSuccess,
                SoEvent::Clear,
                change("v", format!("app/room {name}"))
            ],
            "{name}"
        );
        assert_eq!(used.version, 2, "{name}");
    }
    let mut sub = TestClient::connect(&server.url("app/room/clash.rso"), Encoding::Amf3);
    let used = sub.use_so("clash", true);
    assert_eq!(
        used.events,
        [
            SoEvent::UseSuccess,
            SoEvent::Clear,
            change("v", "app/room/clash.rso clash")
        ]
    );
    server.stop().await;
}

/// An SO written to version 6 and emptied comes back empty at version 6
/// after a restart, and goes on from there, restart after restart.
async fn versions_never_go_back_over_restarts_and_clears<R: Adapter>() {
    let dir = TempDir::new();
    let server = TestServer::<R>::start(dir.path()).await;
    let mut c = TestClient::connect(&server.url("app"), Encoding::Amf0);
    c.use_so("counter", true);
    for events in [
        vec![set("a", 1.0)],
        vec![set("a", 2.0)],
        vec![set("b", 1.0)],
        vec![SoEvent::RequestRemove { key: "a".into() }],
        vec![SoEvent::RequestRemove { key: "b".into() }],
    ] {
        c.send_so("counter", true, events);
        c.next_so();
    }
    server.stop().await;

    let mut expected = 6;
    for round in 0..3 {
        let server = TestServer::<R>::start(dir.path()).await;
        let mut c = TestClient::connect(&server.url("app"), Encoding::Amf3);
        let used = c.use_so("counter", true);
        assert_eq!(used.version, expected, "round {round}");
        if round == 0 {
            assert_eq!(used.events, [SoEvent::UseSuccess, SoEvent::Clear]);
        }
        c.send_so(
            "counter",
            true,
            vec![set("n", Value::from(f64::from(round)))],
        );
        assert_eq!(c.next_so().version, expected + 1);
        c.send_so(
            "counter",
            true,
            vec![SoEvent::RequestRemove { key: "n".into() }],
        );
        assert_eq!(c.next_so().version, expected + 2);
        expected += 2;
        server.stop().await;
    }
}

/// A store whose every write fails (a full disk), counting the attempts.
struct Failing(Arc<AtomicUsize>);

impl Store for Failing {
    fn load_all(&mut self) -> Result<LoadReport, StoreError> {
        Ok(LoadReport::default())
    }
    fn save(&mut self, _: &SoKey, _: &Snapshot) -> Result<(), StoreError> {
        Err(StoreError::Backend("disk full".into()))
    }
    fn delete(&mut self, _: &SoKey) -> Result<(), StoreError> {
        Err(StoreError::Backend("disk full".into()))
    }
    fn apply_batch(&mut self, _: &[StoreOp]) -> Result<(), StoreError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err(StoreError::Backend("disk full".into()))
    }
}

/// A flush that keeps failing is tried again after 250 ms, 500 ms, 1 s,
/// ...: a handful of attempts in three seconds, not one per interval
/// (the old store's retry logged about 1,500 lines a second).
async fn a_failing_store_is_retried_with_a_backoff<R: Adapter>() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let server = Server::<R>::builder()
        .bind_addr("127.0.0.1:0")
        .store(Failing(attempts.clone()))
        .demo()
        .bind()
        .await
        .expect("the server starts");
    let server = TestServer::run(server);
    let mut c = TestClient::connect(&server.url("app"), Encoding::Amf0);
    c.use_so("p", true);
    c.send_so("p", true, vec![set("k", 1.0)]);
    c.next_so();
    // The first flush 500 ms after the change, then retries at +250 ms,
    // +500 ms, +1 s, +2 s: 4 attempts by 3 s after the change.
    sleep::<R>(Duration::from_secs(3)).await;
    let seen = attempts.load(Ordering::SeqCst);
    assert!((2..=5).contains(&seen), "{seen} attempts in 3 s");
    // The client is still served meanwhile.
    c.send_so("p", true, vec![set("k", 2.0)]);
    assert_eq!(c.next_so().events, [SoEvent::Success { key: "k".into() }]);
    server.stop().await;
}

/// A store that fails while its switch is on, and keeps what it is given
/// while it is off.
struct Switched {
    failing: Arc<AtomicBool>,
    kept: MemoryStore,
}

impl Switched {
    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("disk full".into()));
        }
        Ok(())
    }
}

impl Store for Switched {
    fn load_all(&mut self) -> Result<LoadReport, StoreError> {
        self.kept.load_all()
    }
    fn save(&mut self, so: &SoKey, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.check()?;
        self.kept.save(so, snapshot)
    }
    fn delete(&mut self, so: &SoKey) -> Result<(), StoreError> {
        self.check()?;
        self.kept.delete(so)
    }
}

/// The value of an unlabelled sample on a `/metrics` page.
fn sample(page: &str, name: &str) -> Option<u64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Polls `/metrics` until `done` holds for the page; returns the page.
fn metrics_until(http: std::net::SocketAddr, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, page) = get(http, "/metrics HTTP/1.1");
        assert_eq!(status, 200);
        if done(&page) {
            return page;
        }
        assert!(Instant::now() < deadline, "never reached:\n{page}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `/metrics` counts failed flushes and says while the last one failed;
/// once the store works again the gauge goes back to 0 and the counter
/// keeps its count.
async fn failed_flushes_show_on_metrics<R: Adapter>() {
    let failing = Arc::new(AtomicBool::new(false));
    let server = Server::<R>::builder()
        .bind_addr("127.0.0.1:0")
        .http_addr(Some("127.0.0.1:0".into()))
        .store(Switched {
            failing: failing.clone(),
            kept: MemoryStore::default(),
        })
        .flush_interval(Duration::from_millis(20))
        .demo()
        .bind()
        .await
        .expect("the server starts");
    let server = TestServer::run(server);
    let http = http_of(&server);
    let failures = |page: &str| sample(page, "rtmp_so_store_flush_failures_total");
    let failed_last = |page: &str| sample(page, "rtmp_so_store_last_flush_failed");
    let mut c = TestClient::connect(&server.url("app"), Encoding::Amf0);
    c.use_so("p", true);
    c.send_so("p", true, vec![set("k", 1.0)]);
    c.next_so();
    // Written: nothing failed.
    let page = metrics_until(http, |p| {
        sample(p, "rtmp_so_store_flush_seconds_count") >= Some(1)
    });
    assert_eq!((failures(&page), failed_last(&page)), (Some(0), Some(0)));

    failing.store(true, Ordering::SeqCst);
    c.send_so("p", true, vec![set("k", 2.0)]);
    c.next_so();
    let page = metrics_until(http, |p| failures(p) >= Some(1));
    assert_eq!(failed_last(&page), Some(1), "{page}");

    // The retry (after 250 ms) succeeds.
    failing.store(false, Ordering::SeqCst);
    let page = metrics_until(http, |p| failed_last(p) == Some(0));
    assert!(failures(&page) >= Some(1), "{page}");
    server.stop().await;
}

suite!(
    odd_names_stay_distinct_after_a_restart,
    versions_never_go_back_over_restarts_and_clears,
    a_failing_store_is_retried_with_a_backoff,
    failed_flushes_show_on_metrics,
);
