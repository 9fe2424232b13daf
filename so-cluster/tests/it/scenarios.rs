//! Directed scenarios on a small cluster whose Redis answers at once: the
//! paths docs/CLUSTER.md describes, one at a time, with exact expectations.

use std::collections::BTreeMap;

use bytes::Bytes;
use so_cluster::{ClusterConfig, Command, InboxMsg, Node, NodeId, Role, SoId, WriteRef};

use crate::host::{Answer, Host, Model};
use crate::redis_model::Redis;

const TTL: u64 = 1_000;
const JITTER: u64 = 100;

fn config() -> ClusterConfig {
    ClusterConfig {
        lease_ttl_ms: TTL,
        renew_every_ms: 333,
        takeover_jitter_ms: JITTER,
        forward_timeout_ms: 3_000,
        ..ClusterConfig::default()
    }
}

struct Member {
    node: Node,
    host: Host,
    alive: bool,
    link: bool,
    watches: BTreeMap<SoId, usize>,
    inbox: usize,
}

struct Cluster {
    now: u64,
    redis: Redis,
    members: Vec<Member>,
    so: SoId,
}

impl Cluster {
    fn new(n: u64) -> Self {
        let members = (1..=n)
            .map(|i| Member {
                node: Node::new(config(), NodeId(i), i * 7919),
                host: Host::default(),
                alive: true,
                link: true,
                watches: BTreeMap::new(),
                inbox: 0,
            })
            .collect();
        Self {
            now: 0,
            redis: Redis::default(),
            members,
            so: SoId::new("app/room", "chat"),
        }
    }

    fn pump(&mut self, i: usize) {
        let now = self.now;
        loop {
            let m = &mut self.members[i];
            let mut progressed = false;
            while let Some(command) = m.node.poll_command() {
                progressed = true;
                match command {
                    Command::Watch { so, after } => {
                        m.watches.insert(so, after.seq as usize);
                    }
                    Command::Unwatch { so } => {
                        m.watches.remove(&so);
                    }
                    command if m.link => {
                        self.redis.now = now;
                        let outcome = self.redis.exec(&command);
                        if let (Some(result), Some(id)) = (outcome, command.id()) {
                            m.node.handle_reply(
                                now,
                                so_cluster::Reply {
                                    id,
                                    result: Ok(result),
                                },
                            );
                        }
                    }
                    _ => {}
                }
            }
            while let Some(event) = m.node.poll_event() {
                progressed = true;
                m.host.on_event(&mut m.node, now, event);
            }
            if !progressed {
                return;
            }
        }
    }

    /// Let `ms` milliseconds pass, delivering everything as it comes.
    fn run(&mut self, ms: u64) {
        for _ in 0..ms {
            self.now += 1;
            for i in 0..self.members.len() {
                if !self.members[i].alive {
                    continue;
                }
                self.deliver(i);
                let now = self.now;
                let m = &mut self.members[i];
                if m.node.poll_timeout().is_some_and(|t| t <= now) {
                    m.node.handle_timeout(now);
                }
                self.pump(i);
            }
        }
    }

    fn deliver(&mut self, i: usize) {
        let now = self.now;
        if !self.members[i].link {
            return;
        }
        let watched: Vec<(SoId, usize)> = self.members[i]
            .watches
            .iter()
            .map(|(s, c)| (s.clone(), *c))
            .collect();
        for (so, mut cursor) in watched {
            while let Some(entry) = self.redis.streams.get(&so).and_then(|s| s.get(cursor)) {
                let entry = entry.clone();
                cursor += 1;
                self.members[i].watches.insert(so.clone(), cursor);
                self.members[i].node.handle_entry(now, entry);
                self.pump(i);
            }
        }
        let id = self.members[i].node.id();
        while let Some(msg) = self
            .redis
            .inboxes
            .get(&id)
            .and_then(|b| b.get(self.members[i].inbox))
        {
            let msg = msg.clone();
            self.members[i].inbox += 1;
            self.members[i].node.handle_inbox(now, msg);
            self.pump(i);
        }
    }

    fn subscribe(&mut self, i: usize) {
        let (now, so) = (self.now, self.so.clone());
        self.members[i].node.handle_interest(now, &so, true);
        self.pump(i);
    }

    fn write(&mut self, i: usize, kv: &str) -> WriteRef {
        let (now, so) = (self.now, self.so.clone());
        let m = &mut self.members[i];
        let w = m.node.handle_write(now, &so, Bytes::from(kv.to_owned()));
        m.host.writes.insert(w.seq, so);
        self.pump(i);
        w
    }

    fn set_link(&mut self, i: usize, up: bool) {
        let now = self.now;
        let m = &mut self.members[i];
        m.link = up;
        m.node.handle_link(now, up);
        self.pump(i);
    }

    fn role(&self, i: usize) -> Role {
        self.members[i].node.role(&self.so)
    }

    fn replica(&self, i: usize) -> Model {
        self.members[i]
            .host
            .replicas
            .get(&self.so)
            .cloned()
            .unwrap_or_default()
    }

    fn answer(&self, i: usize, w: WriteRef) -> Option<Answer> {
        self.members[i].host.answers.get(&w.seq).copied()
    }

    /// How many published updates carry `w`.
    fn published(&self, w: WriteRef) -> usize {
        self.redis
            .published
            .get(&self.so)
            .into_iter()
            .flatten()
            .filter(|u| u.write == Some(w))
            .count()
    }

    fn model(version: u32, pairs: &[(&str, &str)]) -> Model {
        Model {
            version,
            data: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }
}

/// Two processes, the first one owning the SO.
fn pair() -> Cluster {
    let mut c = Cluster::new(2);
    c.subscribe(0);
    c.subscribe(1);
    c.run(5);
    assert!(matches!(
        c.role(0),
        Role::Owner {
            degraded: false,
            ..
        }
    ));
    assert_eq!(
        c.role(1),
        Role::Follower {
            owner: Some(NodeId(1))
        }
    );
    c
}

const ACK: Option<Answer> = Some(Answer::Ack {
    degraded_owner: false,
});

#[test]
fn a_write_on_a_follower_is_forwarded_applied_once_and_answered_by_its_update() {
    let mut c = pair();
    let w = c.write(1, "k=v");
    c.run(5);
    assert_eq!(c.answer(1, w), ACK);
    assert_eq!(c.published(w), 1);
    let expected = Cluster::model(1, &[("k", "v")]);
    assert_eq!(c.replica(0), expected);
    assert_eq!(c.replica(1), expected);
    // A refused write publishes nothing and gets the owner's answer.
    let denied = c.write(1, "ro.k=v");
    c.run(5);
    assert_eq!(c.answer(1, denied), Some(Answer::Answered));
    assert_eq!(c.redis.published[&c.so].len(), 1);
}

#[test]
fn the_owners_own_clients_are_answered_once_their_update_is_stored() {
    let mut c = pair();
    let w = c.write(0, "k=1");
    c.run(2);
    assert_eq!(c.answer(0, w), ACK);
    assert_eq!(c.redis.states[&c.so].version, 1);
    assert_eq!(c.replica(1), Cluster::model(1, &[("k", "1")]));
}

#[test]
fn a_dead_owners_lease_expires_and_a_follower_takes_over_where_it_left() {
    let mut c = pair();
    for v in ["1", "2", "3"] {
        c.write(0, &format!("k={v}"));
    }
    c.run(5);
    c.members[0].alive = false;
    let crash = c.now;
    let w = c.write(1, "k=4");
    let mut took_over = None;
    for _ in 0..3 * TTL {
        c.run(1);
        if took_over.is_none() && matches!(c.role(1), Role::Owner { .. }) {
            took_over = Some(c.now - crash);
        }
    }
    let after = took_over.expect("no takeover");
    assert!(after <= TTL + JITTER + 2, "takeover after {after} ms");
    assert_eq!(c.redis.holder(&c.so).map(|t| t.node), Some(NodeId(2)));
    // The write sent to the dead owner was sent again and applied once,
    // and the version went on from the stored one.
    assert_eq!(c.answer(1, w), ACK);
    assert_eq!(c.published(w), 1);
    assert_eq!(c.replica(1), Cluster::model(4, &[("k", "4")]));
}

#[test]
fn a_clean_stop_hands_the_lease_over_at_once() {
    let mut c = pair();
    c.write(0, "k=1");
    c.run(5);
    let now = c.now;
    c.members[0].node.handle_stop(now);
    c.pump(0);
    c.members[0].alive = false;
    c.run(JITTER + 5);
    assert!(matches!(c.role(1), Role::Owner { .. }), "{:?}", c.role(1));
}

#[test]
fn without_redis_followers_refuse_writes_and_owners_serve_their_clients() {
    let mut c = pair();
    c.set_link(0, false);
    c.set_link(1, false);
    let refused = c.write(1, "k=remote");
    assert_eq!(c.answer(1, refused), Some(Answer::Refused));
    let local = c.write(0, "k=local");
    assert_eq!(
        c.answer(0, local),
        Some(Answer::Ack {
            degraded_owner: true
        })
    );
    assert_eq!(c.replica(0), Cluster::model(1, &[("k", "local")]));
    assert_eq!(c.published(local), 0);
    c.run(3 * TTL);
    c.set_link(0, true);
    c.set_link(1, true);
    c.run(3 * TTL);
    // The owner got its SO back and published its backlog.
    assert!(matches!(
        c.role(0),
        Role::Owner {
            degraded: false,
            ..
        }
    ));
    assert_eq!(c.published(local), 1);
    assert_eq!(c.replica(1), Cluster::model(1, &[("k", "local")]));
}

#[test]
fn a_partitioned_owners_writes_are_applied_again_above_the_versions_its_clients_saw() {
    let mut c = pair();
    c.write(0, "k=0");
    c.run(5);
    c.set_link(0, false);
    let a1 = c.write(0, "a=1");
    let a2 = c.write(0, "a=2");
    assert_eq!(c.replica(0).version, 3);
    // The other process takes the SO over and writes on it.
    c.run(2 * TTL);
    assert!(matches!(c.role(1), Role::Owner { .. }));
    let b = c.write(1, "b=1");
    c.run(5);
    assert_eq!(c.replica(1), Cluster::model(2, &[("k", "0"), ("b", "1")]));
    // The partition heals: the former owner's clients saw v3, so the owner
    // raises the SO past it, then applies that process's writes again.
    c.set_link(0, true);
    c.run(10);
    assert_eq!(
        c.role(0),
        Role::Follower {
            owner: Some(NodeId(2))
        }
    );
    let expected = Cluster::model(6, &[("k", "0"), ("a", "2"), ("b", "1")]);
    assert_eq!(c.replica(0), expected);
    assert_eq!(c.replica(1), expected);
    for w in [a1, a2, b] {
        assert_eq!(c.published(w), 1, "{w:?}");
    }
}

#[test]
fn a_duplicated_forward_is_applied_once() {
    let mut c = pair();
    let w = c.write(1, "k=v");
    let forward = c.redis.inboxes[&NodeId(1)]
        .iter()
        .find(|m| matches!(m, InboxMsg::Forward { .. }))
        .cloned()
        .unwrap();
    c.redis.inboxes.get_mut(&NodeId(1)).unwrap().push(forward);
    c.run(5);
    assert_eq!(c.published(w), 1);
    assert_eq!(c.answer(1, w), ACK);
    assert_eq!(c.replica(1).version, 1);
}

#[test]
fn a_reader_that_lost_stream_entries_reloads_the_state() {
    let mut c = pair();
    c.write(0, "a=1");
    c.run(2);
    // The stream is trimmed past the follower's position.
    c.set_link(1, false);
    c.write(0, "a=2");
    c.write(0, "b=3");
    c.run(2);
    let end = c.redis.streams[&c.so].len();
    c.members[1].watches.insert(c.so.clone(), end - 1);
    c.members[1].link = true;
    let now = c.now;
    c.members[1].node.handle_link(now, true);
    c.pump(1);
    c.run(5);
    assert_eq!(c.replica(1), Cluster::model(3, &[("a", "2"), ("b", "3")]));
}

/// Writes queued on the owner but not applied yet are not in the dedupe
/// table of a state published meanwhile: an owner rebuilt from that state
/// (a takeover, or this process after its lease was in doubt) must apply
/// them, not drop them as applied and settle their writers.
#[test]
fn a_published_state_claims_only_the_writes_applied() {
    use so_cluster::{Applied, Event, Outcome, Reply, StreamPos};
    let so = SoId::new("app/room", "chat");
    let mut node = Node::new(config(), NodeId(1), 7);
    node.handle_interest(0, &so, true);
    let Some(Command::Acquire { id, .. }) = node.poll_command() else {
        panic!("the first subscriber acquires the lease");
    };
    let acquired = Outcome::Acquired {
        term: 1,
        state: None,
        end: StreamPos::default(),
    };
    node.handle_reply(
        0,
        Reply {
            id,
            result: Ok(acquired),
        },
    );
    while node.poll_event().is_some() {}
    while node.poll_command().is_some() {}
    let first = node.handle_write(0, &so, Bytes::from_static(b"1"));
    let second = node.handle_write(0, &so, Bytes::from_static(b"2"));
    let Some(Event::Apply { .. }) = node.poll_event() else {
        panic!("the first write is applied");
    };
    node.handle_applied(
        0,
        Applied::Update {
            version: 2,
            delta: Bytes::from_static(b"d"),
            data: Bytes::from_static(b"s"),
        },
    );
    let state = std::iter::from_fn(|| node.poll_command())
        .find_map(|c| match c {
            Command::Publish { state, .. } => Some(state),
            _ => None,
        })
        .expect("the first write's update is published");
    assert!(state.has_applied(first));
    assert!(!state.has_applied(second), "{:?}", state.applied);
}

#[test]
fn a_non_persistent_so_is_dropped_from_redis_when_its_last_process_leaves() {
    let mut c = pair();
    let w = c.write(1, "k=v");
    c.run(5);
    assert_eq!(c.answer(1, w), ACK);
    // The owner's last subscriber left; the follower still has some: the
    // state stays and the follower takes over where it was.
    let (now, so) = (c.now, c.so.clone());
    c.members[0].node.handle_gone(now, &so);
    // Its engine dropped the SO.
    c.members[0].host.replicas.remove(&so);
    c.pump(0);
    c.run(TTL);
    assert!(matches!(c.role(1), Role::Owner { .. }));
    assert_eq!(c.redis.states[&c.so].version, 1);
    let again = c.write(1, "k=w");
    c.run(5);
    assert_eq!(c.answer(1, again), ACK);
    assert_eq!(c.replica(1), Cluster::model(2, &[("k", "w")]));
    // Now nobody has subscribers: the SO is gone, as on a single server.
    let now = c.now;
    c.members[1].node.handle_gone(now, &so);
    c.pump(1);
    c.run(5);
    assert!(!c.redis.states.contains_key(&c.so));
    assert!(!c.redis.streams.contains_key(&c.so));
    // The next subscriber starts it afresh.
    c.subscribe(0);
    c.run(5);
    let fresh = c.write(0, "n=1");
    c.run(5);
    assert_eq!(c.answer(0, fresh), ACK);
    assert_eq!(c.redis.states[&c.so].seq, 1);
}

#[test]
fn a_clean_stop_right_after_the_last_subscriber_left_still_drops_a_non_persistent_so() {
    let mut c = pair();
    let so = c.so.clone();
    let stored = c.write(0, "k=1");
    c.run(5);
    assert_eq!(c.answer(0, stored), ACK);
    assert!(c.redis.states.contains_key(&c.so));
    // The follower's subscribers left long ago: its interest expired (3
    // leases).
    let now = c.now;
    c.members[1].node.handle_gone(now, &so);
    c.members[1].host.replicas.remove(&so);
    c.pump(1);
    c.run(3 * TTL + JITTER);
    // The owner's last client writes and leaves, and the process stops at
    // once: the update is applied but Redis has not answered its publish,
    // so the release that would discard the SO waits for it, and the stop
    // comes first.
    let now = c.now;
    let m = &mut c.members[0];
    let w = m.node.handle_write(now, &so, Bytes::from("k=2"));
    m.host.writes.insert(w.seq, so.clone());
    let mut held = Vec::new();
    loop {
        let mut progressed = false;
        while let Some(command) = m.node.poll_command() {
            held.push(command);
            progressed = true;
        }
        while let Some(event) = m.node.poll_event() {
            m.host.on_event(&mut m.node, now, event);
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
    assert!(
        held.iter().any(|c| matches!(c, Command::Publish { .. })),
        "{held:?}"
    );
    m.node.handle_gone(now, &so);
    m.host.replicas.remove(&so);
    m.node.handle_stop(now);
    // Redis gets the publish, then what the stop sent.
    c.redis.now = now;
    for command in held {
        c.redis.exec(&command);
    }
    c.pump(0);
    c.members[0].alive = false;
    c.run(JITTER + 5);
    assert!(!c.redis.states.contains_key(&c.so), "the state was kept");
    assert!(!c.redis.streams.contains_key(&c.so));
}

#[test]
fn a_persistent_sos_state_stays_when_everybody_left() {
    let mut c = pair();
    let w = c.write(0, "k=v");
    c.run(5);
    assert_eq!(c.answer(0, w), ACK);
    let so = c.so.clone();
    for i in [1, 0] {
        let now = c.now;
        c.members[i].node.handle_interest(now, &so, false);
        c.pump(i);
        c.run(5);
    }
    assert_eq!(c.redis.states[&c.so].version, 1);
}
