//! The simulation's checks: at quiescent points every client's view
//! equals the engine's, no idle SO outlives its retention; and the tests
//! that run seeds and replay one.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rtmp_proto::amf::{Str, Value};
use rtmp_proto::message::shared_object::SoEvent;
use so_engine::{ClientId, Input, Output, Retention, ScopePath, ServerApi, SoKey, status};

use super::model::State;
use super::{CLIENTS, NAMES, Sim};
use crate::support::decode;

impl Sim {
    /// No transient SO is alive past its retention.
    pub(super) fn check_retention(&self) {
        let view = self.engine.view();
        for scope in view.scopes() {
            for name in view.names(scope) {
                let so = view
                    .shared_object(&SoKey::new(scope.clone(), name))
                    .unwrap();
                let idle =
                    !so.is_persistent() && so.subscriber_count() == 0 && so.acquire_count() == 0;
                match (idle, so.retention()) {
                    (true, Retention::Linger(ms)) => {
                        let due = so.expires_at().expect("an idle SO has its linger armed");
                        assert!(ms > 0 && due > self.now && due <= self.now.plus_millis(ms));
                    }
                    _ => assert_eq!(so.expires_at(), None),
                }
            }
        }
    }

    /// Deliver everything, close batches, then compare every view.
    pub(super) fn quiesce_and_check(&mut self) {
        let mut out = Vec::new();
        let mut server = self.engine.server(self.now, &mut out);
        for so in self.batches.drain(..) {
            let _ = server.end_update(&so);
        }
        // Unlocking replays the held client messages.
        for so in self.locked.drain(..) {
            let _ = server.unlock(&so);
        }
        self.held.clear();
        self.absorb(out);
        for client in 1..=CLIENTS {
            while let Some(message) = self.clients.get_mut(&client).unwrap().inflight.pop_front() {
                self.apply(Input::SharedObject {
                    client: ClientId(client),
                    message,
                })
                .unwrap();
            }
        }
        let view = self.engine.view();
        for (client, model) in &self.clients {
            let Some(scope) = model.scope else {
                continue;
            };
            for name in NAMES {
                let so = view.shared_object(&SoKey::new(ScopePath::new(scope).unwrap(), name));
                let subscribed = so.is_some_and(|s| s.subscribers().any(|c| c.0 == *client));
                match model.links.get(name) {
                    Some(link) if link.state == State::Open => {
                        let so = so.unwrap_or_else(|| panic!("{client} holds a dead {name}"));
                        assert!(subscribed, "client {client} thinks it holds {scope}:{name}");
                        let engine_attrs: BTreeMap<Str, Value> = so
                            .attributes()
                            .map(|(k, v)| (k.into(), v.clone()))
                            .collect();
                        if link.attrs != engine_attrs {
                            for h in &model.history {
                                if h.contains(name) {
                                    eprintln!("{h}");
                                }
                            }
                        }
                        assert_eq!(link.attrs, engine_attrs, "client {client} {scope}:{name}");
                        assert_eq!(link.version, so.version(), "client {client} {scope}:{name}");
                        assert!(link.pending.values().all(VecDeque::is_empty));
                    }
                    Some(_) => panic!("client {client}: USE unanswered"),
                    None => {
                        if subscribed {
                            for h in &model.history {
                                if h.contains(name) {
                                    eprintln!("{h}");
                                }
                            }
                        }
                        assert!(!subscribed, "client {client} unaware of {scope}:{name}");
                    }
                }
            }
        }
        self.checks += 1;
    }
}

#[test]
fn simulation_keeps_every_view_in_sync() {
    let mut seen = BTreeMap::<&str, usize>::new();
    let mut panicked = BTreeSet::new();
    let mut held = 0;
    for seed in 1..=12 {
        let sim = Sim::run(seed, 3000);
        assert!(sim.checks >= 20);
        assert!(sim.locks >= 10, "locks: {}", sim.locks);
        held += sim.held_messages;
        assert!(sim.engine.hook_panics() >= sim.panicked.len() as u64);
        panicked.extend(sim.panicked.iter().copied());
        for o in &sim.transcript {
            let what = match o {
                Output::SharedObject { body, encoding, .. } => {
                    let m = decode(body, *encoding);
                    let status = m
                        .events
                        .iter()
                        .find(|e| matches!(e, SoEvent::Status { .. }));
                    match status.or_else(|| m.events.first()) {
                        Some(SoEvent::Status { code, .. }) => match code.as_str() {
                            status::NO_WRITE_ACCESS => "refused write",
                            status::OBJECT_DESTROYED => "destroyed with subscribers",
                            status::NO_OBJECT_FOUND => "late message",
                            _ => "other status",
                        },
                        Some(SoEvent::UseSuccess) => "use",
                        _ => "update",
                    }
                }
                Output::Persist { .. } => "persist",
                Output::DeletePersisted { .. } => "delete persisted",
                Output::SoDestroyed { .. } => "so destroyed",
                Output::ScopeStopped { .. } => "scope stopped",
                Output::LockExpired { .. } => "lock expired",
                _ => "other",
            };
            *seen.entry(what).or_default() += 1;
        }
    }
    assert!(held >= 100, "client messages held by locks: {held}");
    // The random walk reaches every interesting path, often.
    for what in [
        "refused write",
        "destroyed with subscribers",
        "late message",
        "use",
        "update",
        "persist",
        "delete persisted",
        "so destroyed",
        "scope stopped",
        "lock expired",
    ] {
        assert!(
            seen.get(what).copied().unwrap_or(0) >= 10,
            "{what}: {seen:?}"
        );
    }
    // A panic at every hook point, and the views stayed in sync.
    let every: BTreeSet<&str> = [
        "app_connect",
        "app_join",
        "room_start",
        "room_leave",
        "room_stop",
        "app_stop",
        "factory",
        "on_update",
        "on_connect",
        "on_destroy",
        "is_creation_allowed",
        "is_connection_allowed",
        "is_write_allowed",
        "is_delete_allowed",
        "is_send_allowed",
        "send_handler",
        "method",
    ]
    .into();
    let missing: Vec<_> = every.difference(&panicked).collect();
    assert!(missing.is_empty(), "no panic seen in {missing:?}");
}

#[test]
fn replaying_a_seed_gives_the_same_outputs() {
    let a = Sim::run(77, 2000).transcript;
    let b = Sim::run(77, 2000).transcript;
    assert_eq!(a.len(), b.len());
    assert!(a == b, "replay diverged");
    let c = Sim::run(78, 2000).transcript;
    assert!(a != c, "different seeds should differ");
}
