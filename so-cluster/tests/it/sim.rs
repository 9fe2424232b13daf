//! A seeded simulation of three server processes sharing SOs through a
//! simulated Redis: clients write on every process; processes crash (their
//! leases expire) and are replaced; single processes lose Redis
//! (partitions) and Redis goes away for everyone (outages). Commands run in
//! order per connection with random latency; a link that drops loses its
//! replies and may or may not have run what was in flight (so forwards and
//! publishes get retried and duplicated); stream readers see each stream in
//! order but re-read entries (duplicates) and sometimes lose some (a
//! trimmed stream).
//!
//! Checked after every step: one process publishes per SO and term, publish
//! sequences are contiguous, versions of published changes go up by one,
//! versions seen by every replica never go back, every write gets at most
//! one answer. Once quiet: every replica equals the stored state, the
//! stored state is the fold of what was published, every write of a
//! surviving process got its answer, and every acknowledged write is in the
//! published history exactly once, except those acknowledged by an owner
//! during an outage that crashed before it could publish them (the loss
//! docs/CLUSTER.md states). The same seed gives the same transcript.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use so_cluster::{
    ClusterConfig, Command, Event, InboxMsg, Node, NodeId, Reply, Role, SoId, StreamEntry,
    UpdateBody, WriteRef,
};

use crate::host::{Answer, Host, Model, apply_delta, decode};
use crate::redis_model::Redis;

const PROCS: usize = 3;
const SOS: [&str; 3] = ["chat", "game", "p"];
const KEYS: [&str; 4] = ["a", "b", "c", "ro.x"];

fn config() -> ClusterConfig {
    ClusterConfig {
        lease_ttl_ms: 1_000,
        renew_every_ms: 333,
        takeover_jitter_ms: 150,
        forward_timeout_ms: 3_000,
        max_pending_writes: 64,
        max_early_updates: 16,
        max_backlog_updates: 32,
        max_dedupe_origins: 8,
        max_dedupe_window: 64 + 32,
    }
}

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

struct Proc {
    node: Node,
    alive: bool,
    partitioned: bool,
    link: bool,
    /// Commands on their way to Redis, with the time they run.
    to_redis: VecDeque<(u64, Command)>,
    /// Replies on their way back.
    from_redis: VecDeque<(u64, Reply)>,
    last_exec: u64,
    watches: BTreeMap<SoId, usize>,
    inbox_cursor: usize,
    interest: BTreeSet<SoId>,
    host: Host,
}

impl Proc {
    fn new(id: NodeId, seed: u64) -> Self {
        Self {
            node: Node::new(config(), id, seed),
            alive: true,
            partitioned: false,
            link: true,
            to_redis: VecDeque::new(),
            from_redis: VecDeque::new(),
            last_exec: 0,
            watches: BTreeMap::new(),
            inbox_cursor: 0,
            interest: BTreeSet::new(),
            host: Host::default(),
        }
    }
}

struct World {
    rng: Rng,
    now: u64,
    redis: Redis,
    procs: Vec<Proc>,
    /// Crashed processes, kept for the final accounting.
    dead: Vec<Proc>,
    outage_until: Option<u64>,
    respawn_at: BTreeMap<usize, u64>,
    next_node: u64,
    transcript: Vec<String>,
    /// Publish-log check: writes in the published history, with counts.
    sos: Vec<SoId>,
}

impl World {
    fn new(seed: u64) -> Self {
        let mut world = Self {
            rng: Rng::new(seed),
            now: 0,
            redis: Redis::default(),
            procs: Vec::new(),
            dead: Vec::new(),
            outage_until: None,
            respawn_at: BTreeMap::new(),
            next_node: 1,
            transcript: Vec::new(),
            sos: SOS.iter().map(|n| SoId::new("app/room", n)).collect(),
        };
        for _ in 0..PROCS {
            let p = world.spawn();
            world.procs.push(p);
        }
        for i in 0..PROCS {
            let n = 1 + world.rng.below(SOS.len() as u64) as usize;
            for s in 0..n {
                let so = world.sos[(i + s) % SOS.len()].clone();
                world.set_interest(i, &so, true);
            }
        }
        world
    }

    fn spawn(&mut self) -> Proc {
        let id = NodeId(self.next_node);
        self.next_node += 1;
        let seed = self.rng.next();
        Proc::new(id, seed)
    }

    fn log(&mut self, line: String) {
        self.transcript.push(format!("{:>7} {line}", self.now));
    }

    fn set_interest(&mut self, i: usize, so: &SoId, on: bool) {
        let now = self.now;
        let p = &mut self.procs[i];
        if on == p.interest.contains(so) {
            return;
        }
        if on {
            p.interest.insert(so.clone());
        } else {
            p.interest.remove(so);
            for (seq, _) in p.host.writes.iter().filter(|(_, s)| *s == so) {
                p.host.answers.entry(*seq).or_insert(Answer::Abandoned);
            }
        }
        p.node.handle_interest(now, so, on);
        let id = p.node.id();
        self.log(format!("{id} interest {so} {on}"));
        self.pump(i);
    }

    fn write(&mut self, i: usize) {
        let p = &self.procs[i];
        let Some(so) = p
            .interest
            .iter()
            .nth(self.rng.below(p.interest.len().max(1) as u64) as usize)
            .cloned()
        else {
            return;
        };
        let key = KEYS[self.rng.below(KEYS.len() as u64) as usize];
        let value = match self.rng.below(10) {
            0 => String::new(),
            1..=3 => "same".to_owned(),
            _ => format!("v{}", self.rng.below(1_000_000)),
        };
        let now = self.now;
        let p = &mut self.procs[i];
        let write = p
            .node
            .handle_write(now, &so, Bytes::from(format!("{key}={value}")));
        p.host.writes.insert(write.seq, so.clone());
        self.log(format!(
            "{} write {so} #{} {key}={value}",
            write.node, write.seq
        ));
        self.pump(i);
    }

    /// Drain a process's commands and events.
    fn pump(&mut self, i: usize) {
        loop {
            let mut progressed = false;
            while let Some(command) = self.procs[i].node.poll_command() {
                progressed = true;
                self.send(i, command);
            }
            while let Some(event) = self.procs[i].node.poll_event() {
                progressed = true;
                self.on_event(i, event);
            }
            if !progressed {
                break;
            }
        }
        // A replica the node dropped is gone for the clients too.
        let p = &mut self.procs[i];
        let kept: BTreeSet<SoId> = p.node.replicas().map(|(so, _)| so.clone()).collect();
        p.host.replicas.retain(|so, _| kept.contains(so));
    }

    fn send(&mut self, i: usize, command: Command) {
        let p = &mut self.procs[i];
        let id = p.node.id();
        match command {
            Command::Watch { so, after } => {
                p.watches.insert(so, after.seq as usize);
            }
            Command::Unwatch { so } => {
                p.watches.remove(&so);
            }
            command => {
                let lat = 1 + self.rng.below(4);
                let at = p.last_exec.max(self.now + lat);
                p.last_exec = at;
                let text = describe(&command);
                p.to_redis.push_back((at, command));
                self.log(format!("{id} -> {text}"));
            }
        }
    }

    fn on_event(&mut self, i: usize, event: Event) {
        let now = self.now;
        let p = &mut self.procs[i];
        let id = p.node.id();
        let line = p.host.on_event(&mut p.node, now, event);
        self.log(format!("{id} {line}"));
    }

    fn link_of(&self, i: usize) -> bool {
        self.procs[i].alive && !self.procs[i].partitioned && self.outage_until.is_none()
    }

    /// Bring a process's link state in line with the world.
    fn sync_link(&mut self, i: usize) {
        let up = self.link_of(i);
        if up == self.procs[i].link {
            return;
        }
        let now = self.now;
        if !up {
            // What was in flight may or may not have run; no reply comes.
            let pending: Vec<(u64, Command)> = self.procs[i].to_redis.drain(..).collect();
            for (_, command) in pending {
                if self.rng.chance(500) {
                    self.redis.now = now;
                    self.redis.exec(&command);
                }
            }
            self.procs[i].from_redis.clear();
        }
        let p = &mut self.procs[i];
        p.link = up;
        p.node.handle_link(now, up);
        let id = p.node.id();
        self.log(format!("{id} link {up}"));
        self.pump(i);
    }

    /// One step of simulated time: faults, a client action, deliveries.
    fn step(&mut self, faults: bool, writes: bool) {
        self.now += 1 + self.rng.below(6);
        self.redis.now = self.now;
        if faults {
            self.faults();
        }
        if self.outage_until.is_some_and(|t| t <= self.now) {
            self.outage_until = None;
            self.log("redis back".to_owned());
        }
        let respawn: Vec<usize> = self
            .respawn_at
            .iter()
            .filter(|(_, t)| **t <= self.now)
            .map(|(i, _)| *i)
            .collect();
        for i in respawn {
            self.respawn_at.remove(&i);
            let fresh = self.spawn();
            let old = std::mem::replace(&mut self.procs[i], fresh);
            self.dead.push(old);
            let id = self.procs[i].node.id();
            self.log(format!("{id} started"));
            let so = self.sos[self.rng.below(SOS.len() as u64) as usize].clone();
            self.set_interest(i, &so, true);
        }
        for i in 0..self.procs.len() {
            self.sync_link(i);
        }
        if writes {
            let i = self.rng.below(self.procs.len() as u64) as usize;
            if self.procs[i].alive && self.rng.chance(400) {
                self.write(i);
            }
        }
        for i in 0..self.procs.len() {
            if self.procs[i].alive {
                self.deliver(i, faults);
            }
        }
        self.check_owners();
    }

    fn faults(&mut self) {
        let alive = self.procs.iter().filter(|p| p.alive).count();
        let i = self.rng.below(self.procs.len() as u64) as usize;
        if self.rng.chance(2) && alive >= 2 && self.procs[i].alive {
            self.procs[i].alive = false;
            let id = self.procs[i].node.id();
            self.log(format!("{id} CRASH"));
            let at = self.now + 1_000 + self.rng.below(4_000);
            self.respawn_at.insert(i, at);
        } else if self.rng.chance(2) && self.procs[i].alive {
            self.procs[i].partitioned = !self.procs[i].partitioned;
            let id = self.procs[i].node.id();
            let on = self.procs[i].partitioned;
            self.log(format!("{id} partitioned {on}"));
        } else if self.rng.chance(1) && self.outage_until.is_none() {
            let until = self.now + 200 + self.rng.below(3_000);
            self.outage_until = Some(until);
            self.log("REDIS DOWN".to_owned());
        } else if self.rng.chance(4) && self.procs[i].alive {
            let so = self.sos[self.rng.below(SOS.len() as u64) as usize].clone();
            let on = !self.procs[i].interest.contains(&so);
            // Keep at least one subscriber per process most of the time.
            if on || self.procs[i].interest.len() > 1 {
                self.set_interest(i, &so, on);
            }
        }
    }

    fn deliver(&mut self, i: usize, faults: bool) {
        let now = self.now;
        if self.procs[i].link {
            // Redis runs what arrived, in order; replies go back in order.
            while self.procs[i]
                .to_redis
                .front()
                .is_some_and(|(t, _)| *t <= now)
            {
                let (_, command) = self.procs[i].to_redis.pop_front().unwrap();
                self.redis.now = now;
                if let (Some(outcome), Some(id)) = (self.redis.exec(&command), command.id()) {
                    let lat = 1 + self.rng.below(4);
                    let p = &mut self.procs[i];
                    let back = p.from_redis.back().map_or(0, |(t, _)| *t);
                    p.from_redis.push_back((
                        back.max(now + lat),
                        Reply {
                            id,
                            result: Ok(outcome),
                        },
                    ));
                }
            }
            while self.procs[i]
                .from_redis
                .front()
                .is_some_and(|(t, _)| *t <= now)
            {
                let (_, reply) = self.procs[i].from_redis.pop_front().unwrap();
                let id = self.procs[i].node.id();
                self.log(format!("{id} <- {:?} {}", reply.id, short(&reply)));
                self.procs[i].node.handle_reply(now, reply);
                self.pump(i);
            }
            self.read_streams(i, faults);
            self.read_inbox(i, faults);
        }
        if self.procs[i].node.poll_timeout().is_some_and(|t| t <= now) {
            self.procs[i].node.handle_timeout(now);
            self.pump(i);
        }
    }

    fn read_streams(&mut self, i: usize, faults: bool) {
        let now = self.now;
        let watched: Vec<SoId> = self.procs[i].watches.keys().cloned().collect();
        for so in watched {
            let len = self.redis.streams.get(&so).map_or(0, Vec::len);
            let Some(cursor) = self.procs[i].watches.get(&so).copied() else {
                continue;
            };
            let mut cursor = cursor;
            if faults && self.rng.chance(20) {
                // A re-read: entries seen already come again.
                cursor = cursor.saturating_sub(1 + self.rng.below(3) as usize);
            } else if faults && cursor + 1 < len && self.rng.chance(5) {
                // The stream was trimmed past this reader (trimming keeps
                // the newest entries: one is left to show the gap).
                cursor = (cursor + 1 + self.rng.below(3) as usize).min(len - 1);
            }
            if cursor < len && (!faults || self.rng.chance(600)) {
                let entry = self.redis.streams[&so][cursor].clone();
                cursor += 1;
                self.procs[i].watches.insert(so.clone(), cursor);
                let id = self.procs[i].node.id();
                self.log(format!("{id} entry {so} {}", entry_text(&entry)));
                self.procs[i].node.handle_entry(now, entry);
                self.pump(i);
            } else {
                self.procs[i].watches.insert(so.clone(), cursor);
            }
        }
    }

    fn read_inbox(&mut self, i: usize, faults: bool) {
        let now = self.now;
        let id = self.procs[i].node.id();
        let len = self.redis.inboxes.get(&id).map_or(0, Vec::len);
        let mut cursor = self.procs[i].inbox_cursor;
        if faults && self.rng.chance(20) {
            cursor = cursor.saturating_sub(1);
        }
        while cursor < len && (!faults || self.rng.chance(700)) {
            let msg = self.redis.inboxes[&id][cursor].clone();
            cursor += 1;
            self.procs[i].inbox_cursor = cursor;
            self.log(format!("{id} inbox {}", inbox_text(&msg)));
            self.procs[i].node.handle_inbox(now, msg);
            self.pump(i);
        }
        self.procs[i].inbox_cursor = cursor;
    }

    /// At most one process acts as the owner of an SO per lease term.
    fn check_owners(&self) {
        let mut seen: BTreeMap<(SoId, u64), NodeId> = BTreeMap::new();
        for p in self.procs.iter().filter(|p| p.alive) {
            for so in &self.sos {
                if let Role::Owner {
                    term,
                    degraded: false,
                } = p.node.role(so)
                    && let Some(other) = seen.insert((so.clone(), term), p.node.id())
                {
                    panic!("{so} term {term}: {other} and {} both own it", p.node.id());
                }
            }
        }
    }

    /// Heal everything, stop writing and let the cluster settle.
    fn settle(&mut self) {
        self.outage_until = None;
        let now = self.now;
        self.respawn_at.values_mut().for_each(|t| *t = now);
        for p in &mut self.procs {
            p.partitioned = false;
        }
        self.log("HEAL".to_owned());
        for _ in 0..8_000 {
            self.step(false, false);
        }
    }

    fn check_converged(&mut self) {
        for so in &self.sos.clone() {
            let stored = self.redis.states.get(so).cloned().unwrap_or_default();
            // The stored state is the fold of the published history.
            let mut fold = BTreeMap::new();
            for update in self.redis.published.get(so).into_iter().flatten() {
                match &update.body {
                    UpdateBody::Delta(d) => apply_delta(&mut fold, d),
                    UpdateBody::Reset(data) => fold = decode(data),
                }
            }
            assert_eq!(
                decode(&stored.data),
                fold,
                "{so}: stored state is not the fold"
            );
            for p in self.procs.iter().filter(|p| p.alive) {
                if !p.interest.contains(so) {
                    continue;
                }
                let id = p.node.id();
                let rep = p.host.replicas.get(so).cloned().unwrap_or_default();
                let expected = Model {
                    version: stored.version,
                    data: decode(&stored.data),
                };
                assert_eq!(rep, expected, "{id}: replica of {so} did not converge");
            }
        }
        let mut in_history: BTreeMap<WriteRef, usize> = BTreeMap::new();
        for update in self.redis.published.values().flatten() {
            if let Some(w) = update.write {
                *in_history.entry(w).or_default() += 1;
            }
        }
        for (w, n) in &in_history {
            assert_eq!(*n, 1, "{w:?} applied {n} times");
        }
        for p in self.procs.iter().filter(|p| p.alive) {
            assert_eq!(
                p.node.pending_writes(),
                0,
                "{}: writes left unanswered",
                p.node.id()
            );
            for seq in p.host.writes.keys() {
                assert!(
                    p.host.answers.contains_key(seq),
                    "{} #{seq} never answered",
                    p.node.id()
                );
            }
        }
        // Writes an owner found already in place (applied again after an
        // outage, their value was there) are kept, though not in the
        // history.
        let in_place: BTreeSet<WriteRef> = self
            .procs
            .iter()
            .chain(&self.dead)
            .flat_map(|p| p.host.in_place.iter().copied())
            .collect();
        let no_update: BTreeSet<WriteRef> = self
            .procs
            .iter()
            .chain(&self.dead)
            .flat_map(|p| p.host.no_update.iter().copied())
            .collect();
        let everyone = self.procs.iter().map(|p| (p, true));
        let crashed = self.dead.iter().map(|p| (p, false));
        for (p, survived) in everyone.chain(crashed) {
            for (seq, answer) in &p.host.answers {
                let w = WriteRef {
                    node: p.node.id(),
                    seq: *seq,
                };
                let degraded_owner = match answer {
                    Answer::Ack { degraded_owner } => degraded_owner,
                    Answer::Settled => {
                        // Processed by an owner: published, or answered
                        // without an update (that answer may be lost).
                        assert!(
                            in_history.contains_key(&w) || no_update.contains(&w),
                            "{w:?} settled but never processed by an owner"
                        );
                        continue;
                    }
                    _ => continue,
                };
                let lost_allowed = *degraded_owner && !(survived && p.alive);
                assert!(
                    in_history.contains_key(&w) || in_place.contains(&w) || lost_allowed,
                    "acknowledged {w:?} was lost"
                );
            }
        }
    }
}

fn describe(command: &Command) -> String {
    match command {
        Command::Acquire { so, .. } => format!("acquire {so}"),
        Command::Renew { so, .. } => format!("renew {so}"),
        Command::Release { so, .. } => format!("release {so}"),
        Command::Publish { update, .. } => format!(
            "publish {} s{} v{} {:?}",
            update.so, update.seq, update.version, update.write
        ),
        Command::Append { to, msg, .. } => format!("append {to} {}", inbox_text(msg)),
        Command::Load { so, .. } => format!("load {so}"),
        Command::Watch { so, .. } | Command::Unwatch { so } => format!("watch {so}"),
    }
}

fn short(reply: &Reply) -> String {
    match &reply.result {
        Ok(so_cluster::Outcome::Acquired { term, state, .. }) => {
            format!("acquired t{term} s{}", state.as_ref().map_or(0, |s| s.seq))
        }
        Ok(so_cluster::Outcome::Loaded { state, .. }) => {
            format!("loaded s{}", state.as_ref().map_or(0, |s| s.seq))
        }
        Ok(o) => format!("{o:?}").chars().take(40).collect(),
        Err(e) => format!("{e:?}"),
    }
}

fn entry_text(entry: &StreamEntry) -> String {
    match entry {
        StreamEntry::Update(u) => format!("s{} v{} t{} {:?}", u.seq, u.version, u.term, u.write),
        StreamEntry::Released { .. } => "released".to_owned(),
    }
}

fn inbox_text(msg: &InboxMsg) -> String {
    match msg {
        InboxMsg::Forward { so, write, .. } => format!("forward {so} {write:?}"),
        InboxMsg::Answer { write, answer, .. } => format!("answer {write:?} {answer:?}"),
        InboxMsg::Floor { so, version } => format!("floor {so} v{version}"),
    }
}

/// Run one seed; the transcript.
fn run(seed: u64, steps: usize) -> Vec<String> {
    let mut world = World::new(seed);
    for _ in 0..steps {
        world.step(true, true);
    }
    world.settle();
    if let Ok(path) = std::env::var("SO_CLUSTER_SIM_DUMP") {
        std::fs::write(path, world.transcript.join("\n")).unwrap();
    }
    world.check_converged();
    world.transcript
}

#[test]
fn three_processes_converge_through_crashes_partitions_and_outages() {
    let steps = std::env::var("SO_CLUSTER_SIM_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4_000);
    let seeds: u64 = std::env::var("SO_CLUSTER_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let first: u64 = std::env::var("SO_CLUSTER_SIM_FIRST")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    for seed in first..first + seeds {
        let transcript = std::panic::catch_unwind(|| run(seed, steps));
        if let Err(e) = transcript {
            eprintln!("seed {seed} failed");
            std::panic::resume_unwind(e);
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_transcript() {
    let a = run(7, 1_500);
    let b = run(7, 1_500);
    assert!(a.len() > 1_000, "the run did little: {} lines", a.len());
    assert_eq!(a, b);
    let c = run(8, 1_500);
    assert_ne!(a, c);
}
