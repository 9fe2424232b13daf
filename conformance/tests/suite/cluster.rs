//! Cluster mode: each adapter's example server as separate processes
//! sharing their SOs through a real `redis-server` that the tests start on
//! a free loopback port (its data in a temporary directory, append-only
//! file on, as docs/CLUSTER.md asks). RTMP clients on different processes
//! see one SO: the same values, the same versions, SUCCESS to the writer
//! and CHANGE to the others. Redis unreachable at start stops the server
//! with one message; Redis lost while running refuses writes to SOs
//! another process owns with a STATUS, and the cluster recovers when Redis
//! returns.
//!
//! Without `redis-server` on the PATH these tests print one line and
//! skip; with `RTMP_SO_REQUIRE_INTEROP=1` (as `.ci/run` sets it) they fail.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rtmp_proto::amf::{Encoding, Value};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use so_engine::status;

use crate::adapter::{Adapter, PATIENCE};
use crate::harness::TempDir;
use crate::process::{ServerProcess, fails_to_start, start_error};
use crate::wire::{TestClient, change, set, status_error};
use crate::ws_client::get;

#[allow(dead_code)]
#[path = "../../../rtmp-proto/tests/common/interop.rs"]
mod interop;

/// The lease the tests run with: failover and recovery within a second.
pub(crate) const LEASE_MS: &str = "1000";

/// A `redis-server` on a loopback port, killed on drop.
pub(crate) struct RedisServer {
    child: Child,
    program: &'static str,
    port: u16,
    dir: TempDir,
}

impl RedisServer {
    /// A fresh one, or `None` (after saying why) when the calling test
    /// should skip.
    pub(crate) fn start() -> Option<Self> {
        let program = interop::redis_server()?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = TempDir::new();
        std::fs::create_dir_all(dir.path()).expect("a directory for Redis's data");
        let child = spawn(program, port, dir.path());
        let server = Self {
            child,
            program,
            port,
            dir,
        };
        server.wait_ready();
        Some(server)
    }

    /// `redis://127.0.0.1:PORT/`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills it (its data stays in its directory).
    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port, with the data it had.
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.child = spawn(self.program, self.port, self.dir.path());
        self.wait_ready();
    }

    /// `GET key` (`None`: no such key), over a plain socket.
    pub(crate) fn get(&self, key: &str) -> Option<String> {
        use std::io::{BufRead, BufReader, Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        write!(stream, "*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        reader.read_line(&mut head).unwrap();
        let len: i64 = head
            .trim_end()
            .strip_prefix('$')
            .expect("a bulk reply")
            .parse()
            .unwrap();
        let len = usize::try_from(len).ok()?;
        let mut body = vec![0; len + 2];
        reader.read_exact(&mut body).unwrap();
        body.truncate(len);
        Some(String::from_utf8(body).unwrap())
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn spawn(program: &str, port: u16, dir: &Path) -> Child {
    Command::new(program)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} ran a moment ago, now: {e}"))
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `R`'s example server in cluster mode on `redis`.
pub(crate) fn cluster_process<R: Adapter>(redis: &RedisServer, dir: &TempDir) -> ServerProcess {
    let url = redis.url();
    ServerProcess::start::<R>(
        dir.path(),
        &["--redis", &url, "--cluster-lease-ms", LEASE_MS],
    )
}

/// The next SharedObject message `client` gets that satisfies `wanted`
/// (others, like a full-state sync, are skipped).
fn next_where(
    client: &mut TestClient,
    wanted: impl Fn(&SharedObjectMessage) -> bool,
) -> SharedObjectMessage {
    let deadline = Instant::now() + PATIENCE;
    loop {
        assert!(
            Instant::now() < deadline,
            "the awaited message did not come"
        );
        let message = client.next_so();
        if wanted(&message) {
            return message;
        }
    }
}

fn has(message: &SharedObjectMessage, event: &SoEvent) -> bool {
    message.events.contains(event)
}

/// Two processes: a client on each uses `app/room` `chat`; a write on one
/// reaches the other as a CHANGE with the same version, and the writer
/// gets SUCCESS. Both ways, whichever process owns the SO.
async fn a_write_on_one_process_reaches_the_other_at_the_same_version<R: Adapter>() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (dir_a, dir_b) = (TempDir::new(), TempDir::new());
    let a = cluster_process::<R>(&redis, &dir_a);
    let b = cluster_process::<R>(&redis, &dir_b);
    let mut ca = TestClient::connect(&a.url("app/room"), Encoding::Amf0);
    let mut cb = TestClient::connect(&b.url("app/room"), Encoding::Amf3);
    ca.use_so("chat", false);
    cb.use_so("chat", false);

    ca.send_so("chat", false, vec![set("k", "from A")]);
    let success = SoEvent::Success { key: "k".into() };
    let answer = next_where(&mut ca, |m| has(m, &success));
    let seen = next_where(&mut cb, |m| has(m, &change("k", "from A")));
    assert_eq!(answer.version, seen.version, "one version for everyone");
    assert!(answer.version >= 2);

    cb.send_so("chat", false, vec![set("k", Value::Number(2.0))]);
    let answer = next_where(&mut cb, |m| has(m, &success));
    let seen = next_where(&mut ca, |m| has(m, &change("k", Value::Number(2.0))));
    assert_eq!(answer.version, seen.version);
    assert_eq!(answer.version, seen.version.max(answer.version));

    // A third client, on either process, gets the same state.
    let mut late = TestClient::connect(&b.url("app/room"), Encoding::Amf0);
    let reply = late.use_so("chat", false);
    assert!(has(&reply, &change("k", Value::Number(2.0))), "{reply:?}");
    assert_eq!(reply.version, answer.version);
    let metrics = get(a.http_addr(), "/metrics HTTP/1.1").1;
    assert!(
        metrics.lines().any(|l| l == "rtmp_so_cluster_redis_up 1"),
        "{metrics}"
    );
}

/// Security checks and send handlers run on the SO's owner, for writes
/// made on any process: a denied write on the other process gets the
/// STATUS and the authoritative value; the demo's `say` handler's change
/// reaches everybody, before the message.
async fn hooks_run_on_the_owner_for_writes_from_any_process<R: Adapter>() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (dir_a, dir_b) = (TempDir::new(), TempDir::new());
    let a = cluster_process::<R>(&redis, &dir_a);
    let b = cluster_process::<R>(&redis, &dir_b);
    let mut ca = TestClient::connect(&a.url("app"), Encoding::Amf0);
    let mut cb = TestClient::connect(&b.url("app"), Encoding::Amf0);
    for name in ["readonly.x", "server.echo"] {
        ca.use_so(name, false);
        // Whichever process owns it, the hooks run there.
        ca.sync();
        cb.use_so(name, false);
    }

    cb.send_so("readonly.x", false, vec![set("k", 1.0)]);
    let refusal = next_where(&mut cb, |_| true);
    assert_eq!(
        refusal.events,
        vec![
            status_error(status::NO_WRITE_ACCESS),
            SoEvent::Remove { key: "k".into() }
        ]
    );

    let said = SoEvent::SendMessage {
        method: "say".into(),
        args: vec![Value::from("hi")],
    };
    cb.send_so("server.echo", false, vec![said.clone()]);
    for client in [&mut ca, &mut cb] {
        let update = next_where(client, |m| has(m, &said));
        assert_eq!(update.events, vec![change("last", "hi"), said.clone()]);
    }
}

/// A clean stop (SIGTERM) of the owner releases its leases: the other
/// process takes the SO over from the stored state (no waiting for the
/// lease to expire) and its clients' writes go on, versions continuing.
async fn a_clean_stop_hands_the_sos_over<R: Adapter>() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (dir_a, dir_b) = (TempDir::new(), TempDir::new());
    let a = cluster_process::<R>(&redis, &dir_a);
    let b = cluster_process::<R>(&redis, &dir_b);
    let mut ca = TestClient::connect(&a.url("app/room"), Encoding::Amf0);
    ca.use_so("chat", false);
    ca.send_so("chat", false, vec![set("k", 1.0)]);
    let success = SoEvent::Success { key: "k".into() };
    next_where(&mut ca, |m| has(m, &success));
    let lease = "rso:{8:app/room/chat}:lease";
    let owner = redis.get(lease).expect("A holds the lease");
    let mut cb = TestClient::connect(&b.url("app/room"), Encoding::Amf0);
    let reply = cb.use_so("chat", false);
    let seen = if has(&reply, &change("k", 1.0)) {
        reply
    } else {
        next_where(&mut cb, |m| has(m, &change("k", 1.0)))
    };

    assert!(a.terminate().success(), "a clean stop");
    assert_ne!(redis.get(lease), Some(owner), "released");
    cb.send_so("chat", false, vec![set("k", 2.0)]);
    let answer = next_where(&mut cb, |m| has(m, &success));
    assert_eq!(answer.version, seen.version + 1, "versions go on");
    let held = redis.get(lease).expect("B holds the lease");
    assert!(!held.is_empty());
}

/// Redis unreachable at start: the server stops with one message naming
/// the URL and the error, and a non-zero exit.
async fn redis_unreachable_at_start_stops_with_one_message<R: Adapter>() {
    // A port nobody listens on: bound, then closed.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let url = format!("redis://user:secret@127.0.0.1:{port}/");
    let dir = TempDir::new();
    let mut command = Command::new(R::server_binary());
    command.args(["--redis", &url]);
    let stderr = fails_to_start::<R>(command, dir.path());
    let message = start_error(&stderr);
    assert!(
        message.contains(&format!(
            "cannot reach Redis at redis://***@127.0.0.1:{port}/"
        )),
        "{message}"
    );
    assert!(
        !stderr.contains("secret"),
        "the password stays out: {stderr}"
    );
}

/// Redis lost while running: a write to an SO another process owns is
/// refused at once with STATUS NoWriteAccess and the authoritative value;
/// the owner's own clients keep writing; `/metrics` says 0. When Redis
/// returns, the cluster works again.
async fn writes_to_a_remote_owned_so_are_refused_while_redis_is_down<R: Adapter>() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let (dir_a, dir_b) = (TempDir::new(), TempDir::new());
    let a = cluster_process::<R>(&redis, &dir_a);
    let b = cluster_process::<R>(&redis, &dir_b);
    // B's client comes first and writes: B owns the SO.
    let mut cb = TestClient::connect(&b.url("app/room"), Encoding::Amf0);
    cb.use_so("chat", false);
    cb.send_so("chat", false, vec![set("k", "owner's")]);
    let success = SoEvent::Success { key: "k".into() };
    next_where(&mut cb, |m| has(m, &success));
    let mut ca = TestClient::connect(&a.url("app/room"), Encoding::Amf0);
    let reply = ca.use_so("chat", false);
    if !has(&reply, &change("k", "owner's")) {
        next_where(&mut ca, |m| has(m, &change("k", "owner's")));
    }

    redis.stop();
    a.wait_for_log("lost Redis");
    b.wait_for_log("lost Redis");
    let metrics = get(a.http_addr(), "/metrics HTTP/1.1").1;
    assert!(
        metrics.lines().any(|l| l == "rtmp_so_cluster_redis_up 0"),
        "{metrics}"
    );
    ca.send_so("chat", false, vec![set("k", "refused")]);
    let refusal = next_where(&mut ca, |_| true);
    assert_eq!(
        refusal.events,
        vec![
            status_error(status::NO_WRITE_ACCESS),
            change("k", "owner's")
        ],
        "never dropped silently"
    );
    // The owner's clients keep being served.
    cb.send_so("chat", false, vec![set("during", true)]);
    let during = SoEvent::Success {
        key: "during".into(),
    };
    next_where(&mut cb, |m| has(m, &during));

    redis.restart();
    a.wait_for_log("Redis is back");
    b.wait_for_log("Redis is back");
    // The owner's outage writes reach the others; new writes work again.
    next_where(&mut ca, |m| has(m, &change("during", true)));
    ca.send_so("chat", false, vec![set("k", "after")]);
    next_where(&mut ca, |m| has(m, &success));
    next_where(&mut cb, |m| has(m, &change("k", "after")));
    let lost = a.log().matches("lost Redis").count();
    assert_eq!(lost, 1, "one log line per transition:\n{}", a.log());
}

suite!(
    a_write_on_one_process_reaches_the_other_at_the_same_version,
    hooks_run_on_the_owner_for_writes_from_any_process,
    a_clean_stop_hands_the_sos_over,
    redis_unreachable_at_start_stops_with_one_message,
    writes_to_a_remote_owned_so_are_refused_while_redis_is_down,
);
