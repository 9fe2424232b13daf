//! Three example-server processes sharing their SOs through one real
//! `redis-server` (docs/CLUSTER.md), with wire-level RTMP clients spread
//! over them: the behaviour contract and the demo across processes,
//! persistent SOs stored in Redis, `kill -9` of an SO's owner in the
//! middle of writes, and Redis killed and started again mid-run.
//!
//! Each cluster alternates the adapters (tokio, smol, tokio), so both
//! servers take part in every test; a short lease keeps takeovers fast.
//! The SO's owner is the process whose client USEs it first: each test
//! joins there before anywhere else.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use app_cli::demo;
use rtmp_proto::amf::{Encoding, Value};
use rtmp_proto::connection::Event;
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use so_engine::status;

use crate::adapter::PATIENCE;
use crate::cluster::LEASE_MS;
use crate::cluster_harness::{Cluster, redis_keys};
use crate::wire::{TestClient, change, set, status_error};

/// A client subscribed to one SO, keeping its own copy of the SO from
/// what the server sends, and checking that versions never go back.
struct Member {
    client: TestClient,
    so: &'static str,
    persistent: bool,
    values: BTreeMap<String, Value>,
    version: u32,
    /// This client's writes not answered yet, oldest first.
    pending: VecDeque<(String, Value)>,
    /// SEND_MESSAGEs received.
    sends: Vec<SoEvent>,
    /// STATUS errors received.
    refusals: Vec<String>,
}

impl Member {
    /// Connects to `url` and USEs `so`.
    fn join(url: &str, so: &'static str, persistent: bool, encoding: Encoding) -> Self {
        let mut member = Self {
            client: TestClient::connect(url, encoding),
            so,
            persistent,
            values: BTreeMap::new(),
            version: 0,
            pending: VecDeque::new(),
            sends: Vec::new(),
            refusals: Vec::new(),
        };
        member.client.send_so(so, persistent, vec![SoEvent::Use]);
        let used = member.next();
        assert_eq!(
            used.events.first(),
            Some(&SoEvent::UseSuccess),
            "USE of {so} at {url}"
        );
        member
    }

    /// Sends one message of `events` (writes are remembered until their
    /// answer).
    fn send(&mut self, events: Vec<SoEvent>) {
        for event in &events {
            if let SoEvent::RequestChange { key, value } = event {
                self.pending.push_back((key.to_string(), value.clone()));
            }
        }
        self.client.send_so(self.so, self.persistent, events);
    }

    /// Requests `key = value`.
    fn write(&mut self, key: &str, value: impl Into<Value>) {
        self.send(vec![set(key, value)]);
    }

    /// The next message for the SO, applied to the copy.
    fn next(&mut self) -> SharedObjectMessage {
        let message = self.client.next_so();
        assert_eq!(message.name, self.so, "{message:?}");
        self.apply(&message);
        message
    }

    fn apply(&mut self, message: &SharedObjectMessage) {
        if message.version != 0 {
            assert!(
                message.version >= self.version,
                "version {} after {}: {message:?}",
                message.version,
                self.version
            );
            self.version = message.version;
        }
        for event in &message.events {
            match event {
                SoEvent::Clear => self.values.clear(),
                SoEvent::Change { key, value } => {
                    self.values.insert(key.to_string(), value.clone());
                }
                SoEvent::Remove { key } => {
                    self.values.remove(key.as_str());
                }
                SoEvent::Success { key } => {
                    let (sent, value) = self.pending.pop_front().expect("an answer to a write");
                    assert_eq!(sent, key.as_str(), "answers come in write order");
                    if value == Value::Null {
                        self.values.remove(&sent);
                    } else {
                        self.values.insert(sent, value);
                    }
                }
                SoEvent::Status { code, level } if level == "error" => {
                    // A refused write; the authoritative value follows.
                    self.pending.pop_front();
                    self.refusals.push(code.to_string());
                }
                SoEvent::SendMessage { .. } => self.sends.push(event.clone()),
                _ => {}
            }
        }
    }

    /// Reads until the copy holds `key = value`.
    fn await_value(&mut self, key: &str, value: &Value) {
        let deadline = Instant::now() + PATIENCE;
        while self.values.get(key) != Some(value) {
            assert!(
                Instant::now() < deadline,
                "{key} never became {value:?}: {:?}",
                self.values
            );
            self.next();
        }
    }

    /// Reads until every write of this client was answered.
    fn await_answers(&mut self) {
        while !self.pending.is_empty() {
            self.next();
        }
    }
}

fn success(key: &str) -> SoEvent {
    SoEvent::Success { key: key.into() }
}

/// Every member holds the same values at the same version.
fn assert_converged(members: &[&Member]) {
    let first = members[0];
    for (i, member) in members.iter().enumerate().skip(1) {
        assert_eq!(
            (member.version, &member.values),
            (first.version, &first.values),
            "member {i} against member 0"
        );
    }
}

/// Writes from each process in turn: SUCCESS to the writer, CHANGE to
/// the others, one new version each, the same everywhere; SEND_MESSAGE
/// reaches every subscriber, the sender included; then all three write
/// at once and everyone ends at the same state and version, with no
/// version lost or repeated.
#[test]
fn clients_on_three_processes_share_one_so() {
    let Some(cluster) = Cluster::start(3) else {
        return;
    };
    let encodings = [Encoding::Amf0, Encoding::Amf3, Encoding::Amf0];
    // Process 0 USEs first: it owns the SO; 1 and 2 forward their writes.
    let mut members: Vec<Member> = (0..3)
        .map(|i| Member::join(&cluster.url(i, "app/room"), "doc", false, encodings[i]))
        .collect();
    let start = members[0].version;
    assert!(
        members
            .iter()
            .all(|m| m.version == start && m.values.is_empty())
    );

    for writer in 0..3 {
        let key = format!("k{writer}");
        let value = Value::from(writer as f64);
        members[writer].write(&key, value.clone());
        let answer = members[writer].next();
        assert_eq!(answer.events, [success(&key)], "writer {writer}");
        let version = start + 1 + writer as u32;
        assert_eq!(answer.version, version, "writer {writer}");
        for (i, other) in members.iter_mut().enumerate() {
            if i != writer {
                let got = other.next();
                assert_eq!(
                    (got.version, got.events),
                    (version, vec![change(&key, value.clone())]),
                    "process {i}, write from {writer}"
                );
            }
        }
    }

    let say = SoEvent::SendMessage {
        method: "newMessage".into(),
        args: vec![Value::from("hi"), Value::from(3.0)],
    };
    members[1].send(vec![say.clone()]);
    for (i, member) in members.iter_mut().enumerate() {
        let got = member.next();
        assert_eq!(got.events, std::slice::from_ref(&say), "process {i}");
    }

    // All at once, each its own key, writes pipelined.
    const WRITES: u32 = 30;
    let before = members[0].version;
    let members: Vec<Member> = members
        .into_iter()
        .enumerate()
        .map(|(i, mut member)| {
            std::thread::spawn(move || {
                for n in 1..=WRITES {
                    member.write(&format!("w{i}"), f64::from(n));
                }
                member.await_answers();
                member
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|thread| thread.join().expect("a writer"))
        .collect();
    // A marker written after every write was acknowledged comes after
    // all of them in every copy.
    let mut members = members;
    members[2].write("done", true);
    for member in &mut members {
        member.await_value("done", &Value::from(true));
    }
    assert_converged(&members.iter().collect::<Vec<_>>());
    assert_eq!(
        members[0].version,
        before + 3 * WRITES + 1,
        "one version per write"
    );
    for i in 0..3 {
        assert_eq!(
            members[0].values.get(&format!("w{i}")),
            Some(&Value::from(f64::from(WRITES)))
        );
    }
}

/// A client USEs an SO on a process where nobody used it yet, after
/// writes on another: the USE answer holds the SO's state at its version,
/// as on a single server (no empty SO first, its state after).
#[test]
fn a_first_subscriber_on_another_process_gets_the_state_in_its_use_answer() {
    let Some(cluster) = Cluster::start(2) else {
        return;
    };
    let mut writer = Member::join(&cluster.url(0, "app"), "doc", false, Encoding::Amf0);
    writer.send(vec![set("a", 1.0), set("b", "two")]);
    writer.await_answers();
    let late = Member::join(&cluster.url(1, "app"), "doc", false, Encoding::Amf3);
    assert_eq!(
        (&late.values, late.version),
        (&writer.values, writer.version),
        "the USE answer"
    );
}

/// The demo's hooks across processes: a `say` sent on a process that
/// does not own `server.echo` runs the owner's handler once (everyone
/// sees `last` and the message); a write to `readonly.*` from another
/// process is refused and rolled back, as on one server.
#[test]
fn the_demo_behaves_the_same_across_processes() {
    let Some(cluster) = Cluster::start(3) else {
        return;
    };
    // Process 1 owns server.echo.
    let mut echo: Vec<Member> = [1, 0, 2]
        .into_iter()
        .map(|i| Member::join(&cluster.url(i, "app"), demo::ECHO, false, Encoding::Amf3))
        .collect();
    let say = SoEvent::SendMessage {
        method: "say".into(),
        args: vec![Value::from("hello")],
    };
    echo[2].send(vec![say.clone()]);
    let mut versions = Vec::new();
    for member in &mut echo {
        let got = member.next();
        assert_eq!(got.events, [change("last", "hello"), say.clone()]);
        versions.push(got.version);
    }
    assert!(versions.iter().all(|v| *v == versions[0]), "{versions:?}");
    let late = Member::join(&cluster.url(2, "app"), demo::ECHO, false, Encoding::Amf0);
    assert_eq!(late.values.get("last"), Some(&Value::from("hello")));

    let mut owner = Member::join(
        &cluster.url(0, "app"),
        "readonly.news",
        false,
        Encoding::Amf0,
    );
    let mut other = Member::join(
        &cluster.url(2, "app"),
        "readonly.news",
        false,
        Encoding::Amf0,
    );
    other.write("k", "v");
    let refused = other.next();
    assert_eq!(
        refused.events,
        [
            status_error(status::NO_WRITE_ACCESS),
            SoEvent::Remove { key: "k".into() }
        ]
    );
    // Nothing reached the owner's client: an echo round trip proves it.
    assert_eq!(owner.client.sync(), []);
}

/// A persistent SO is stored in Redis: after every process stopped and
/// started again on empty data directories, its values and version are
/// back, in the USE answer.
#[test]
fn persistent_sos_survive_every_process_restarting() {
    let Some(mut cluster) = Cluster::start(3) else {
        return;
    };
    let mut saved = Member::join(&cluster.url(1, "app/room"), "saved", true, Encoding::Amf3);
    let mut reader = Member::join(&cluster.url(2, "app/room"), "saved", true, Encoding::Amf0);
    let object = Value::object([("x", Value::from(2.0))]);
    saved.send(vec![set("s", "text"), set("o", object)]);
    saved.await_answers();
    reader.write("n", 1.5);
    reader.await_answers();
    saved.await_value("n", &Value::from(1.5));
    let (values, version) = (saved.values.clone(), saved.version);
    assert!(
        !redis_keys(&cluster.redis, "rso:*saved*").is_empty(),
        "the persistent SO is in Redis"
    );

    drop((saved, reader));
    for i in 0..3 {
        cluster.terminate(i);
    }
    for i in 0..3 {
        cluster.restart(i, true);
    }
    for i in [2, 0] {
        let back = Member::join(&cluster.url(i, "app/room"), "saved", true, Encoding::Amf0);
        assert_eq!(
            (&back.values, back.version),
            (&values, version),
            "process {i}: the USE answer"
        );
    }
}

/// A non-persistent SO that everybody left is gone, as on one server.
#[test]
fn a_transient_so_everybody_left_is_gone() {
    let Some(mut cluster) = Cluster::start(2) else {
        return;
    };
    let mut scratch = Member::join(
        &cluster.url(0, "app/room"),
        "scratch",
        false,
        Encoding::Amf0,
    );
    scratch.write("gone", 1.0);
    scratch.await_answers();
    drop(scratch);
    // The owner drops the SO's state from Redis once it has seen the last
    // subscriber leave; a clean stop before that would keep it (a stop
    // hands SOs over, it never discards them).
    let state = "rso:{8:app/room/scratch}:state";
    let deadline = Instant::now() + Duration::from_secs(10);
    while !redis_keys(&cluster.redis, state).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the transient SO's state is still in Redis after everybody left:\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for i in 0..2 {
        cluster.terminate(i);
    }
    for i in 0..2 {
        cluster.restart(i, true);
    }
    let fresh = Member::join(
        &cluster.url(1, "app/room"),
        "scratch",
        false,
        Encoding::Amf3,
    );
    assert!(fresh.values.is_empty(), "{:?}", fresh.values);
}

/// A non-persistent SO stays while a client on another process uses it:
/// its owner's last client leaving hands it over, state and all.
#[test]
fn a_transient_so_another_process_uses_stays() {
    let Some(cluster) = Cluster::start(2) else {
        return;
    };
    let mut first = Member::join(
        &cluster.url(0, "app/room"),
        "scratch",
        false,
        Encoding::Amf0,
    );
    first.write("kept", 1.0);
    first.await_answers();
    let lease = "rso:{8:app/room/scratch}:lease";
    let owner = cluster.redis.get(lease).expect("process 0 holds the lease");
    let mut other = Member::join(
        &cluster.url(1, "app/room"),
        "scratch",
        false,
        Encoding::Amf3,
    );
    other.await_value("kept", &Value::from(1.0));
    drop(first);
    let deadline = Instant::now() + PATIENCE;
    while cluster.redis.get(lease).is_none_or(|held| held == owner) {
        assert!(Instant::now() < deadline, "process 0 never released");
        std::thread::sleep(Duration::from_millis(10));
    }
    other.write("more", 2.0);
    other.await_answers();
    let late = Member::join(
        &cluster.url(0, "app/room"),
        "scratch",
        false,
        Encoding::Amf0,
    );
    assert_eq!(late.values.get("kept"), Some(&Value::from(1.0)));
    assert_eq!(late.values.get("more"), Some(&Value::from(2.0)));
}

/// What one writer saw in [`a_killed_owner_is_taken_over`].
struct Writes {
    member: Member,
    /// Values acknowledged (SUCCESS), with when.
    acked: Vec<(u32, Instant)>,
}

/// How long the writers go on after their first write acknowledged
/// after the kill.
const WRITING_AFTER_TAKEOVER: Duration = Duration::from_millis(500);

/// Writes `key` = 1, 2, ... one at a time (the next after the answer to
/// the last), recording each acknowledgement, until
/// [`WRITING_AFTER_TAKEOVER`] after the first one acknowledged after
/// `killed` was set (or [`PATIENCE`] after that); a writer on the killed
/// process stops when its connection does.
fn write_until(mut member: Member, key: &str, killed: &OnceLock<Instant>) -> Writes {
    let mut acked: Vec<(u32, Instant)> = Vec::new();
    let mut n = 0;
    loop {
        let now = Instant::now();
        if let Some(&kill) = killed.get() {
            let after = acked.iter().find(|(_, at)| *at > kill);
            if after.is_some_and(|(_, at)| now > *at + WRITING_AFTER_TAKEOVER)
                || now > kill + PATIENCE
            {
                return Writes { member, acked };
            }
        }
        n += 1;
        member.write(key, f64::from(n));
        while !member.pending.is_empty() {
            let message = match member.client.next_event() {
                Event::SharedObject(message) => message,
                Event::Closed(_) => return Writes { member, acked },
                _ => continue,
            };
            member.apply(&message);
            if message.events.contains(&success(key)) {
                acked.push((n, Instant::now()));
            }
        }
    }
}

/// A client of the owner sends a burst of writes, every one is
/// acknowledged, and the owner is killed at once: after the takeover the
/// SO holds the last of them. SUCCESS means the update is stored in
/// Redis (docs/CLUSTER.md), on the owner as on any other process.
#[test]
fn writes_acknowledged_by_a_killed_owner_survive() {
    const BURST: u32 = 50;
    let Some(mut cluster) = Cluster::start(2) else {
        return;
    };
    let mut owner = Member::join(&cluster.url(0, "app"), "burst", false, Encoding::Amf0);
    let mut other = Member::join(&cluster.url(1, "app"), "burst", false, Encoding::Amf0);
    for n in 1..=BURST {
        owner.write("k", f64::from(n));
    }
    owner.await_answers();
    assert_eq!(owner.values.get("k"), Some(&Value::from(f64::from(BURST))));
    cluster.kill_9(0);
    // Forwarded to the new owner once it took over; everything stored
    // before comes first.
    other.write("done", true);
    other.await_answers();
    assert_eq!(
        other.values.get("k"),
        Some(&Value::from(f64::from(BURST))),
        "acknowledged to the owner's client before the kill"
    );
}

/// `kill -9` of the owner while clients on all three processes write:
/// another process takes the SO over within about a lease, the writers
/// on the survivors go on, the survivors converge, versions never go
/// back for anyone, and every write the survivors' clients had
/// acknowledged is in the final state.
#[test]
fn a_killed_owner_is_taken_over() {
    let Some(mut cluster) = Cluster::start(3) else {
        return;
    };
    let url = |i| cluster.url(i, "app/crash");
    let joined: Vec<Member> = [0, 1, 2]
        .into_iter()
        .map(|i| Member::join(&url(i), "live", false, Encoding::Amf0))
        .collect();
    let mut watchers: Vec<Member> = [1, 2]
        .into_iter()
        .map(|i| Member::join(&url(i), "live", false, Encoding::Amf3))
        .collect();
    let killed = Arc::new(OnceLock::new());
    let writers: Vec<_> = joined
        .into_iter()
        .enumerate()
        .map(|(i, member)| {
            let killed = killed.clone();
            std::thread::spawn(move || write_until(member, &format!("w{i}"), &killed))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    cluster.kill_9(0);
    let killed_at = Instant::now();
    killed.set(killed_at).expect("killed once");
    let mut results: Vec<Writes> = writers
        .into_iter()
        .map(|w| w.join().expect("a writer"))
        .collect();

    let mut takeover = Duration::ZERO;
    for (i, writes) in results.iter().enumerate().skip(1) {
        let after = writes.acked.iter().find(|(_, at)| *at > killed_at);
        let (_, first) = after.unwrap_or_else(|| panic!("writer {i}: no write after the kill"));
        takeover = takeover.max(*first - killed_at);
        assert!(
            writes
                .acked
                .iter()
                .filter(|(_, at)| *at < killed_at)
                .count()
                > 0,
            "writer {i} wrote before the kill"
        );
    }
    let refusals: Vec<_> = results.iter().map(|w| w.member.refusals.len()).collect();
    eprintln!(
        "takeover after kill -9 (lease {LEASE_MS} ms): first acknowledged write after \
         {takeover:?}; refusals per writer {refusals:?}"
    );

    // The survivors converge: a marker written now comes after everything.
    let [_, one, two] = &mut results[..] else {
        unreachable!()
    };
    one.member.write("done", true);
    let mut survivors: Vec<&mut Member> = vec![&mut one.member, &mut two.member];
    survivors.extend(watchers.iter_mut());
    for member in &mut survivors {
        member.await_value("done", &Value::from(true));
    }
    let survivors: Vec<&Member> = survivors.into_iter().map(|m| &*m).collect();
    assert_converged(&survivors);
    let state = survivors[0].values.clone();
    // The dead owner's own clients' writes: see
    // writes_acknowledged_by_a_killed_owner_survive.
    for (i, writes) in results.iter().enumerate().skip(1) {
        let got = state
            .get(&format!("w{i}"))
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        // Every write of a survivor was answered: nothing later exists.
        let last = writes.acked.last().map_or(0, |(n, _)| *n);
        assert_eq!(got, f64::from(last), "w{i}: the last acknowledged write");
    }
}

/// Redis killed mid-run: `cluster_redis_up` drops to 0; writes to an SO
/// owned by another process are refused with a STATUS at once, the
/// owner's own clients keep writing; Redis back on the same port with
/// its data: the metric is 1 again, the writes made meanwhile reach the
/// other processes, and forwarded writes work again.
#[test]
fn redis_restarted_mid_run() {
    let Some(mut cluster) = Cluster::start(3) else {
        return;
    };
    for i in 0..3 {
        cluster.await_redis_up(i, 1.0);
    }
    // Process 0 owns "local", process 1 owns "remote".
    let mut local = Member::join(&cluster.url(0, "app"), "local", false, Encoding::Amf0);
    let mut local_far = Member::join(&cluster.url(2, "app"), "local", false, Encoding::Amf0);
    let mut remote_owner = Member::join(&cluster.url(1, "app"), "remote", false, Encoding::Amf0);
    let mut remote = Member::join(&cluster.url(0, "app"), "remote", false, Encoding::Amf3);
    remote.write("r", 1.0);
    remote.await_answers();
    local.write("l", 1.0);
    local.await_answers();
    local_far.await_value("l", &Value::from(1.0));
    remote_owner.await_value("r", &Value::from(1.0));

    cluster.redis.stop();
    for i in 0..3 {
        cluster.await_redis_up(i, 0.0);
    }
    remote.write("r", 2.0);
    let refused = remote.next();
    assert_eq!(
        refused.events,
        [status_error(status::NO_WRITE_ACCESS), change("r", 1.0)]
    );
    for n in 2..=5 {
        local.write("l", f64::from(n));
        let answer = local.next();
        assert_eq!(answer.events, [success("l")]);
    }

    cluster.redis.restart();
    for i in 0..3 {
        cluster.await_redis_up(i, 1.0);
    }
    // The owner's backlog is published: the other process catches up.
    local_far.await_value("l", &Value::from(5.0));
    assert_converged(&[&local, &local_far]);
    // Forwarded writes work again (possibly after a STATUS while the
    // cluster settles).
    let deadline = Instant::now() + PATIENCE;
    loop {
        let refused = remote.refusals.len();
        remote.write("r", 3.0);
        remote.await_answers();
        if remote.refusals.len() == refused {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "forwarded writes never came back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    remote_owner.await_value("r", &Value::from(3.0));
    assert_converged(&[&remote, &remote_owner]);
}
