//! The Redis link against a real `redis-server` (Debian's package) on a
//! loopback port: the scripts keep the protocol's lease and publish
//! contract, and two `so_cluster::Node`s share an SO through it, including
//! a takeover after the owner stops renewing.
//!
//! Without `redis-server` on the PATH the tests print one line and skip;
//! with `RTMP_SO_REQUIRE_INTEROP=1` (as `.ci/run` sets it) they fail
//! (`rtmp-proto/tests/common/interop.rs`).

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use adapter_core::cluster::{ClusterError, Delivery, RedisLink, StreamReader};
use bytes::Bytes;
use so_cluster::{
    Applied, ApplyOp, ClusterConfig, Command, Event, Node, NodeId, Outcome, Reply, Role, SoId,
    StoredState, StreamPos, Token, Update, UpdateBody, WriteRef,
};

#[allow(dead_code)]
#[path = "../../rtmp-proto/tests/common/interop.rs"]
mod interop;

struct RedisServer {
    child: Child,
    url: String,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A fresh `redis-server` on a loopback port, or `None` (after saying why)
/// when the calling test should skip.
fn redis_server() -> Option<RedisServer> {
    let program = interop::redis_server()?;
    let port = free_port();
    let child = Process::new(program)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} ran a moment ago, now: {e}"));
    let server = RedisServer {
        child,
        url: format!("redis://127.0.0.1:{port}/"),
    };
    let start = Instant::now();
    while RedisLink::connect(&server.url).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(server)
}

fn so() -> SoId {
    SoId::new("app/room", "chat")
}

fn token(node: u64) -> Token {
    Token {
        node: NodeId(node),
        nonce: 0xfeed,
    }
}

fn run(link: &mut RedisLink, command: Command) -> Outcome {
    link.execute(&command).unwrap().unwrap()
}

fn publish(seq: u64, token: Token) -> Command {
    let data = Bytes::from(format!("k={seq}"));
    Command::Publish {
        id: so_cluster::CommandId(seq),
        token,
        update: Update {
            so: so(),
            seq,
            version: u32::try_from(seq).unwrap(),
            term: 1,
            write: None,
            body: UpdateBody::Delta(data.clone()),
        },
        state: StoredState {
            seq,
            version: u32::try_from(seq).unwrap(),
            term: 1,
            applied: vec![],
            data,
        },
    }
}

#[test]
fn the_scripts_keep_the_lease_and_publish_contract() {
    let Some(redis) = redis_server() else {
        return;
    };
    let mut link = RedisLink::connect(&redis.url).unwrap();
    let id = so_cluster::CommandId(0);
    let acquire = |node| Command::Acquire {
        id,
        so: so(),
        token: token(node),
        ttl_ms: 5_000,
        interest_ms: 15_000,
    };
    assert_eq!(
        run(&mut link, acquire(1)),
        Outcome::Acquired {
            term: 1,
            state: None,
            end: StreamPos::default()
        }
    );
    let Outcome::Held {
        holder,
        remaining_ms,
    } = run(&mut link, acquire(2))
    else {
        panic!("a held lease was taken");
    };
    assert_eq!(holder, token(1));
    assert!(remaining_ms > 4_000 && remaining_ms <= 5_000);
    let renew = |node| Command::Renew {
        id,
        so: so(),
        token: token(node),
        ttl_ms: 5_000,
    };
    assert_eq!(run(&mut link, renew(2)), Outcome::Lost);
    assert_eq!(run(&mut link, renew(1)), Outcome::Renewed);

    assert_eq!(run(&mut link, publish(1, token(1))), Outcome::Published);
    assert_eq!(
        run(&mut link, publish(1, token(1))),
        Outcome::AlreadyPublished
    );
    assert_eq!(run(&mut link, publish(3, token(1))), Outcome::OutOfOrder);
    assert_eq!(run(&mut link, publish(2, token(2))), Outcome::Fenced);
    let Outcome::Loaded { state, end } = run(&mut link, Command::Load { id, so: so() }) else {
        panic!("no load");
    };
    assert_eq!(state.unwrap().data, Bytes::from_static(b"k=1"));
    assert_ne!(end, StreamPos::default());

    // A clean release hands the lease over with the state.
    let release = Command::Release {
        id,
        so: so(),
        token: token(1),
        discard: None,
    };
    assert_eq!(run(&mut link, release), Outcome::Released);
    let Outcome::Acquired {
        term,
        state,
        end: after,
    } = run(&mut link, acquire(2))
    else {
        panic!("a released lease was not free");
    };
    assert_eq!(term, 2);
    assert_eq!(state.unwrap().seq, 1);
    assert!(after > end, "the release marker is on the stream");

    // A non-persistent SO another process still uses keeps its state...
    assert!(matches!(run(&mut link, acquire(3)), Outcome::Held { .. }));
    let discard = |node| Command::Release {
        id,
        so: so(),
        token: token(node),
        discard: Some(15_000),
    };
    assert_eq!(run(&mut link, discard(2)), Outcome::Released);
    let Outcome::Acquired { state, .. } = run(&mut link, acquire(3)) else {
        panic!("a released lease was not free");
    };
    assert_eq!(state.unwrap().seq, 1);
    // ...and is gone when the last one leaves.
    assert_eq!(run(&mut link, discard(3)), Outcome::Released);
    let Outcome::Loaded { state, end } = run(&mut link, Command::Load { id, so: so() }) else {
        panic!("no load");
    };
    assert_eq!((state, end), (None, StreamPos::default()));
    let Outcome::Acquired { term, state, .. } = run(&mut link, acquire(1)) else {
        panic!("a released lease was not free");
    };
    assert_eq!((term, state), (4, None), "terms go on");
}

#[test]
fn an_unreachable_redis_is_one_clear_error() {
    let url = format!("redis://127.0.0.1:{}/", free_port());
    let err = RedisLink::connect(&url).unwrap_err();
    assert!(matches!(err, ClusterError::Unreachable { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("cannot reach Redis at {url}")),
        "{message}"
    );
}

/// One process: its protocol state, its Redis link and reader, and a
/// model of its engine (the authoritative copy and the replica).
struct Proc {
    node: Node,
    link: RedisLink,
    reader: StreamReader,
    authority: BTreeMap<String, String>,
    version: u32,
    replica: BTreeMap<String, String>,
    replica_version: u32,
    acked: Vec<WriteRef>,
}

impl Proc {
    fn new(url: &str, id: u64, config: ClusterConfig) -> Self {
        Self {
            node: Node::new(config, NodeId(id), id),
            link: RedisLink::connect(url).unwrap(),
            reader: StreamReader::connect(url, NodeId(id)).unwrap(),
            authority: BTreeMap::new(),
            version: 0,
            replica: BTreeMap::new(),
            replica_version: 0,
            acked: Vec::new(),
        }
    }

    fn pump(&mut self, now: u64) {
        loop {
            let mut progressed = false;
            while let Some(command) = self.node.poll_command() {
                progressed = true;
                self.reader.apply(&command);
                if let (Some(outcome), Some(id)) =
                    (self.link.execute(&command).unwrap(), command.id())
                {
                    self.node.handle_reply(
                        now,
                        Reply {
                            id,
                            result: Ok(outcome),
                        },
                    );
                }
            }
            while let Some(event) = self.node.poll_event() {
                progressed = true;
                self.on_event(now, event);
            }
            if !progressed {
                return;
            }
        }
    }

    fn on_event(&mut self, now: u64, event: Event) {
        match event {
            Event::Rebuild { state, .. } => {
                let state = state.unwrap_or_default();
                self.version = state.version;
                self.authority = parse(&state.data);
            }
            Event::Apply { op, .. } => {
                let applied = match op {
                    ApplyOp::Write { payload, .. } => {
                        let text = std::str::from_utf8(&payload).unwrap();
                        let (k, v) = text.split_once('=').unwrap();
                        self.authority.insert(k.to_owned(), v.to_owned());
                        self.version += 1;
                        Applied::Update {
                            version: self.version,
                            delta: payload.clone(),
                            data: Bytes::from(render(&self.authority)),
                        }
                    }
                    ApplyOp::Raise { .. } => Applied::NoUpdate {
                        answer: Bytes::new(),
                    },
                };
                self.node.handle_applied(now, applied);
            }
            Event::ReplicaUpdate {
                version,
                delta,
                writer,
                ..
            } => {
                assert!(version >= self.replica_version);
                self.replica.extend(parse(&delta));
                self.replica_version = version;
                self.acked.extend(writer);
            }
            Event::ReplicaReset { version, data, .. } => {
                assert!(version >= self.replica_version);
                self.replica = parse(&data);
                self.replica_version = version;
            }
            _ => {}
        }
    }

    fn step(&mut self, now: u64) {
        for delivery in self.reader.read(Duration::from_millis(5)).unwrap() {
            match delivery {
                Delivery::Entry(entry) => self.node.handle_entry(now, entry),
                Delivery::Inbox(msg) => self.node.handle_inbox(now, msg),
            }
            self.pump(now);
        }
        if self.node.poll_timeout().is_some_and(|t| t <= now) {
            self.node.handle_timeout(now);
        }
        self.pump(now);
    }
}

fn parse(bytes: &[u8]) -> BTreeMap<String, String> {
    std::str::from_utf8(bytes)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn render(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn two_processes_share_an_so_and_the_survivor_takes_over() {
    let Some(redis) = redis_server() else {
        return;
    };
    let config = ClusterConfig {
        lease_ttl_ms: 400,
        renew_every_ms: 130,
        takeover_jitter_ms: 50,
        forward_timeout_ms: 3_000,
        ..ClusterConfig::default()
    };
    let start = Instant::now();
    let now = || u64::try_from(start.elapsed().as_millis()).unwrap();
    let mut a = Proc::new(&redis.url, 1, config.clone());
    let mut b = Proc::new(&redis.url, 2, config);
    let so = so();
    a.node.handle_interest(now(), &so, true);
    a.pump(now());
    b.node.handle_interest(now(), &so, true);
    b.pump(now());
    assert!(matches!(a.node.role(&so), Role::Owner { .. }));

    // A write on the follower is forwarded, applied by the owner, and
    // answered through its published update.
    let w = b
        .node
        .handle_write(now(), &so, Bytes::from_static(b"k=from-b"));
    b.pump(now());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !b.acked.contains(&w) {
        assert!(
            Instant::now() < deadline,
            "the forwarded write got no answer"
        );
        a.step(now());
        b.step(now());
    }
    assert_eq!(b.replica_version, 1);
    assert_eq!(b.replica.get("k").map(String::as_str), Some("from-b"));

    // The owner dies without a word: its lease expires and the follower
    // takes over from the stored state, versions going on.
    drop(a);
    let died = Instant::now();
    while !matches!(b.node.role(&so), Role::Owner { .. }) {
        assert!(died.elapsed() < Duration::from_secs(5), "no takeover");
        b.step(now());
    }
    let takeover = died.elapsed();
    // One TTL after the last renewal, plus jitter and a retry: generous
    // for loaded machines, still far below the forward timeout.
    assert!(takeover < Duration::from_millis(4 * 400), "{takeover:?}");
    eprintln!("takeover after the owner stopped: {takeover:?}");
    let w = b
        .node
        .handle_write(now(), &so, Bytes::from_static(b"k=after"));
    b.pump(now());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !b.acked.contains(&w) {
        assert!(Instant::now() < deadline, "the new owner did not apply");
        b.step(now());
    }
    assert_eq!(b.replica_version, 2);
}
