//! Cluster mode (`so_engine::cluster`): two engines, an owner and a
//! replica, with the caller's relaying done by hand. A client's write on
//! the replica's process is forwarded, applied by the owner through its
//! hooks, and comes back as a replica update: the writer gets SUCCESS, the
//! others CHANGE, all at the owner's version, exactly as on one server.

use rtmp_proto::amf::Value;
use rtmp_proto::message::shared_object::SoEvent;
use so_engine::cluster::{ForwardedWrite, ReplicaDelta, WriteOutcome, WriterAnswer};
use so_engine::{
    ClientId, Engine, EngineConfig, Input, Output, ServerApi, SharedObjectSecurity, Snapshot,
    SoKey, View, status,
};

use crate::support::*;

/// Denies writes to `locked`, as an application's security check would.
struct LockedKey;

impl SharedObjectSecurity for LockedKey {
    fn is_write_allowed(
        &mut self,
        _: &View<'_>,
        _: &SoKey,
        _: ClientId,
        k: &str,
        _: &Value,
    ) -> bool {
        k != "locked"
    }
}

fn cluster_world() -> World {
    let mut engine = Engine::new(
        EngineConfig {
            cluster: true,
            ..EngineConfig::default()
        },
        (),
    );
    engine.register_security(LockedKey);
    World::with(engine)
}

/// Owner A with client 1, replica B with clients 1001 and 1002, all using
/// `app/room` `chat`; A owns it.
fn two_processes() -> (World, World, SoKey) {
    let so = key("app/room", "chat");
    let mut a = cluster_world();
    let mut b = cluster_world();
    a.connect(1, "app/room");
    a.use_so(1, "chat");
    a.apply(Input::Owned {
        so: so.clone(),
        owned: true,
    });
    for c in [1001, 1002] {
        b.connect(c, "app/room");
        b.use_so(c, "chat");
    }
    // A new SO: nothing stored in the cluster.
    b.apply(Input::ReplicaLoaded { so: so.clone() });
    a.drain();
    b.drain();
    (a, b, so)
}

/// The writes B's engine handed out for the owner.
fn forwarded(w: &mut World) -> Vec<(Option<ClientId>, SoKey, ForwardedWrite)> {
    w.take_other()
        .into_iter()
        .filter_map(|o| match o {
            Output::ClusterWrite { so, write } => Some((write.writer, so, write)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_write_on_a_replica_is_applied_by_the_owner_and_answered_like_one_server() {
    let (mut a, mut b, so) = two_processes();
    b.so(1001, "chat", false, vec![request_change("k", "v")]);
    assert!(
        b.take(1001).is_empty(),
        "nothing is applied where the writer is"
    );
    assert_eq!(b.value(&so, "k"), None);
    let [(client, target, write)] = forwarded(&mut b).try_into().unwrap();
    assert_eq!((client, &target), (Some(ClientId(1001)), &so));

    let WriteOutcome::Update {
        version,
        delta,
        state,
    } = a.forwarded(&so, write)
    else {
        panic!("a change publishes an update");
    };
    assert_eq!(version, 2);
    assert_eq!(state.version, 2);
    assert_eq!(state.values, vec![("k".into(), Value::from("v"))]);
    assert_eq!(delta.writer_events, vec![success("k")]);
    assert_eq!(delta.events, vec![change("k", "v")]);
    // The owner's own subscriber sees it once it is published, like
    // everybody's.
    assert!(a.take(1).is_empty());
    a.apply(Input::ReplicaUpdate {
        so: so.clone(),
        version,
        delta: delta.clone(),
        writer: None,
    });
    assert_eq!(
        a.take(1),
        vec![msg("chat", 2, false, vec![change("k", "v")])]
    );

    b.apply(Input::ReplicaUpdate {
        so: so.clone(),
        version,
        delta: delta.clone(),
        writer: Some(ClientId(1001)),
    });
    assert_eq!(
        b.take(1001),
        vec![msg("chat", 2, false, vec![success("k")])]
    );
    assert_eq!(
        b.take(1002),
        vec![msg("chat", 2, false, vec![change("k", "v")])]
    );
    assert_eq!(b.value(&so, "k"), Some(Value::from("v")));
    assert_eq!(b.version(&so), Some(2));

    // The same update again (a retried read) changes nothing.
    b.apply(Input::ReplicaUpdate {
        so: so.clone(),
        version,
        delta,
        writer: None,
    });
    assert!(b.take(1002).is_empty());
    // On the owner, a published update is only shown: its state is the
    // authoritative copy.
    a.apply(Input::ReplicaUpdate {
        so: so.clone(),
        version: 3,
        delta: ReplicaDelta {
            writer_events: vec![],
            events: vec![change("k", "other")],
        },
        writer: None,
    });
    assert_eq!(
        a.take(1),
        vec![msg("chat", 3, false, vec![change("k", "other")])]
    );
    assert_eq!(a.version(&so), Some(2));
    assert_eq!(a.value(&so, "k"), Some(Value::from("v")));
}

#[test]
fn the_owners_own_client_writes_through_the_same_path() {
    let (mut a, _b, so) = two_processes();
    a.so(1, "chat", false, vec![request_change("k", 1.0)]);
    assert!(a.take(1).is_empty());
    let [(_, _, write)] = forwarded(&mut a).try_into().unwrap();
    let WriteOutcome::Update { version, delta, .. } = a.forwarded(&so, write) else {
        panic!("an update");
    };
    assert_eq!(version, 2);
    // Not acknowledged before it is published.
    assert!(a.take(1).is_empty());
    a.apply(Input::ReplicaUpdate {
        so: so.clone(),
        version,
        delta,
        writer: Some(ClientId(1)),
    });
    assert_eq!(a.take(1), vec![msg("chat", 2, false, vec![success("k")])]);
}

#[test]
fn a_refused_or_unchanged_write_publishes_nothing_and_answers_the_writer() {
    let (mut a, mut b, so) = two_processes();
    b.so(1001, "chat", false, vec![request_change("locked", true)]);
    let [(_, _, write)] = forwarded(&mut b).try_into().unwrap();
    let WriteOutcome::NoUpdate { answer } = a.forwarded(&so, write) else {
        panic!("a denied write publishes nothing");
    };
    assert_eq!(
        answer,
        vec![status(status::NO_WRITE_ACCESS), remove("locked")]
    );
    assert!(a.take(1).is_empty());
    b.apply(Input::WriteAnswered {
        client: ClientId(1001),
        so: so.clone(),
        answer: WriterAnswer::Events(answer),
    });
    assert_eq!(
        b.take(1001),
        vec![msg(
            "chat",
            1,
            false,
            vec![status(status::NO_WRITE_ACCESS), remove("locked")]
        )]
    );
    assert!(b.take(1002).is_empty());

    // Writing the value a key has: SUCCESS only, no version.
    a.so(1, "chat", false, vec![request_change("k", 1.0)]);
    let [(_, _, write)] = forwarded(&mut a).try_into().unwrap();
    a.forwarded(&so, write);
    a.drain();
    let same = ForwardedWrite {
        writer: Some(ClientId(1001)),
        persistent: false,
        events: vec![request_change("k", 1.0)],
    };
    assert_eq!(
        a.forwarded(&so, same),
        WriteOutcome::NoUpdate {
            answer: vec![success("k")]
        }
    );
}

#[test]
fn a_send_is_relayed_at_the_same_version() {
    let (mut a, mut b, so) = two_processes();
    b.so(
        1001,
        "chat",
        false,
        vec![send("hello", vec![Value::from("x")])],
    );
    let [(_, _, write)] = forwarded(&mut b).try_into().unwrap();
    let WriteOutcome::Update { version, delta, .. } = a.forwarded(&so, write) else {
        panic!("a send is published");
    };
    assert_eq!(version, 1);
    let sent = send("hello", vec![Value::from("x")]);
    assert!(a.take(1).is_empty());
    a.apply(Input::ReplicaUpdate {
        so: so.clone(),
        version,
        delta: delta.clone(),
        writer: None,
    });
    assert_eq!(a.take(1), vec![msg("chat", 1, false, vec![sent.clone()])]);
    b.apply(Input::ReplicaUpdate {
        so: so.clone(),
        version,
        delta,
        writer: Some(ClientId(1001)),
    });
    assert_eq!(
        b.take(1001),
        vec![msg("chat", 1, false, vec![sent.clone()])]
    );
    assert_eq!(b.take(1002), vec![msg("chat", 1, false, vec![sent])]);
    assert_eq!(b.version(&so), Some(1));
}

#[test]
fn versions_never_go_back_and_a_newer_state_resets_subscribers() {
    let (_a, mut b, so) = two_processes();
    let delta = ReplicaDelta {
        writer_events: vec![],
        events: vec![change("k", 5.0)],
    };
    b.apply(Input::ReplicaUpdate {
        so: so.clone(),
        version: 7,
        delta,
        writer: None,
    });
    assert_eq!(
        b.take(1002),
        vec![msg("chat", 7, false, vec![change("k", 5.0)])]
    );
    b.take(1001);
    // Older: ignored.
    let old = ReplicaDelta {
        writer_events: vec![],
        events: vec![change("k", 1.0)],
    };
    b.apply(Input::ReplicaUpdate {
        so: so.clone(),
        version: 6,
        delta: old,
        writer: None,
    });
    b.apply(Input::ReplicaReset {
        so: so.clone(),
        snapshot: Snapshot {
            version: 7,
            values: vec![],
        },
    });
    assert!(b.take(1002).is_empty());
    assert_eq!(b.value(&so, "k"), Some(Value::Number(5.0)));
    // Newer: CLEAR and the whole state, to everyone.
    b.apply(Input::ReplicaReset {
        so: so.clone(),
        snapshot: Snapshot {
            version: 9,
            values: vec![("a".into(), Value::Bool(true))],
        },
    });
    let full = msg(
        "chat",
        9,
        false,
        vec![SoEvent::Clear, change("a", Value::Bool(true))],
    );
    assert_eq!(b.take(1001), vec![full.clone()]);
    assert_eq!(b.take(1002), vec![full]);
    assert_eq!(b.value(&so, "k"), None);
}

#[test]
fn refused_and_settled_writes_answer_their_writer() {
    let (_a, mut b, so) = two_processes();
    b.apply(Input::ReplicaReset {
        so: so.clone(),
        snapshot: Snapshot {
            version: 3,
            values: vec![("k".into(), Value::Number(1.0))],
        },
    });
    b.drain();
    let write = ForwardedWrite {
        writer: Some(ClientId(1001)),
        persistent: false,
        events: vec![
            request_change("k", 2.0),
            request_remove("gone"),
            send("m", vec![]),
        ],
    };
    b.apply(Input::WriteAnswered {
        client: ClientId(1001),
        so: so.clone(),
        answer: WriterAnswer::Refused(write.clone()),
    });
    let denied = status(status::NO_WRITE_ACCESS);
    assert_eq!(
        b.take(1001),
        vec![msg(
            "chat",
            3,
            false,
            vec![
                denied.clone(),
                change("k", 1.0),
                denied.clone(),
                remove("gone"),
                denied
            ]
        )]
    );
    b.apply(Input::WriteAnswered {
        client: ClientId(1001),
        so,
        answer: WriterAnswer::Settled(write),
    });
    assert_eq!(
        b.take(1001),
        vec![msg("chat", 3, false, vec![success("k")])]
    );
    assert!(b.take(1002).is_empty());
}

#[test]
fn an_owned_so_keeps_its_state_when_it_goes_idle_here() {
    let (mut a, _b, so) = two_processes();
    a.so(1, "chat", false, vec![request_change("k", 1.0)]);
    let [(_, _, write)] = forwarded(&mut a).try_into().unwrap();
    let WriteOutcome::Update { version, delta, .. } = a.forwarded(&so, write) else {
        panic!("an update");
    };
    a.leave(1);
    assert_eq!(a.version(&so), None, "destroyed here (linger 0)");
    a.apply(Input::ReplicaUpdate {
        so: so.clone(),
        version,
        delta,
        writer: None,
    });
    a.connect(2, "app/room");
    a.use_so(2, "chat");
    assert_eq!(
        a.take(2),
        vec![use_reply("chat", 2, &[("k", Value::Number(1.0))])]
    );
    // Once no longer owned, an idle SO goes as on one server.
    a.apply(Input::Owned {
        so: so.clone(),
        owned: false,
    });
    a.leave(2);
    a.connect(3, "app/room");
    a.use_so(3, "chat");
    assert!(
        a.take(3).is_empty(),
        "the USE waits for the cluster's state"
    );
    a.apply(Input::ReplicaLoaded { so });
    assert_eq!(a.take(3), vec![use_reply("chat", 1, &[])]);
}

#[test]
fn a_raise_lifts_the_version_above_a_floor() {
    let (mut a, _b, so) = two_processes();
    let WriteOutcome::Update { version, state, .. } = a.raise(&so, 10) else {
        panic!("a raise publishes");
    };
    assert_eq!((version, state.version), (10, 10));
    assert!(a.take(1).is_empty(), "shown once published");
    a.apply(Input::ReplicaReset {
        so: so.clone(),
        snapshot: state.clone(),
    });
    assert_eq!(
        a.take(1),
        vec![msg("chat", 10, false, vec![SoEvent::Clear])]
    );
    a.apply(Input::ReplicaReset {
        so: so.clone(),
        snapshot: state,
    });
    assert!(a.take(1).is_empty(), "shown once");
    let WriteOutcome::Update { version, .. } = a.raise(&so, 4) else {
        panic!("a raise publishes");
    };
    assert_eq!(version, 11, "never back, always up");
}

#[test]
fn without_cluster_mode_writes_apply_locally() {
    let mut w = World::default_app();
    w.connect(1, "app");
    w.use_so(1, "chat");
    w.drain();
    w.so(1, "chat", false, vec![request_change("k", 1.0)]);
    assert_eq!(w.take(1), vec![msg("chat", 2, false, vec![success("k")])]);
    assert!(
        !w.take_other()
            .iter()
            .any(|o| matches!(o, Output::ClusterWrite { .. }))
    );
}

#[test]
fn server_code_changes_go_to_the_owner_unless_they_join_its_update() {
    let (mut a, mut b, so) = two_processes();
    // Server code on the replica's process: forwarded, not applied there.
    b.set(&so, "server", 1.0);
    assert!(b.take(1001).is_empty());
    let [(writer, _, write)] = forwarded(&mut b).try_into().unwrap();
    assert_eq!(writer, None);
    let WriteOutcome::Update { version, delta, .. } = a.forwarded(&so, write) else {
        panic!("server code's change is published");
    };
    assert_eq!(version, 2);
    assert!(delta.writer_events.is_empty());
    assert_eq!(delta.events, vec![change("server", 1.0)]);
    assert!(a.take(1).is_empty());
    a.apply(Input::ReplicaUpdate {
        so: so.clone(),
        version,
        delta: delta.clone(),
        writer: None,
    });
    assert_eq!(
        a.take(1),
        vec![msg("chat", 2, false, vec![change("server", 1.0)])]
    );
    b.apply(Input::ReplicaUpdate {
        so: so.clone(),
        version,
        delta,
        writer: None,
    });
    assert_eq!(
        b.take(1001),
        vec![msg("chat", 2, false, vec![change("server", 1.0)])]
    );

    // On the owner too, outside a forwarded write: through the owner's
    // node like everything else (so that it is published).
    a.with_server(|s| s.clear(&so)).unwrap();
    let [(writer, _, clear)] = forwarded(&mut a).try_into().unwrap();
    assert_eq!(writer, None);
    assert_eq!(clear.events, vec![SoEvent::Clear]);
    let WriteOutcome::Update { version, delta, .. } = a.forwarded(&so, clear) else {
        panic!("a clear is published");
    };
    assert_eq!(version, 3);
    a.apply(Input::ReplicaUpdate {
        so: so.clone(),
        version,
        delta,
        writer: None,
    });
    assert_eq!(a.take(1), vec![msg("chat", 3, false, vec![SoEvent::Clear])]);
}

#[test]
fn a_send_handlers_change_joins_the_owners_update() {
    let so = key("app/room", "echo");
    let mut a = cluster_world();
    a.engine
        .register_factory("echo", |_: &SoKey, setup: &mut so_engine::SoSetup| {
            setup.send_handler(
                "",
                "say",
                |cx: &mut so_engine::Context<'_>,
                 so: &SoKey,
                 _: ClientId,
                 _: &str,
                 args: &[Value]| {
                    let _ = cx.set(so, "last", args[0].clone());
                },
            );
        });
    a.connect(1, "app/room");
    a.use_so(1, "echo");
    a.apply(Input::Owned {
        so: so.clone(),
        owned: true,
    });
    a.drain();
    let write = ForwardedWrite {
        writer: Some(ClientId(1001)),
        persistent: false,
        events: vec![send("say", vec![Value::from("hi")])],
    };
    let WriteOutcome::Update { version, delta, .. } = a.forwarded(&so, write) else {
        panic!("an update");
    };
    assert_eq!(version, 2, "the handler's change counts");
    let said = send("say", vec![Value::from("hi")]);
    assert_eq!(delta.events, vec![change("last", "hi"), said.clone()]);
    assert_eq!(delta.writer_events, vec![change("last", "hi"), said]);
    assert!(forwarded(&mut a).is_empty(), "nothing forwarded again");
}

/// What a Flash client makes of the messages it gets: its own writes
/// applied at once, SUCCESS re-applying what it wrote, everything else as
/// it comes. Versions never go back.
#[derive(Default)]
struct ClientView {
    view: std::collections::BTreeMap<String, Value>,
    written: std::collections::BTreeMap<String, std::collections::VecDeque<Value>>,
    version: u32,
}

impl ClientView {
    fn wrote(&mut self, key: &str, value: &Value) {
        if value.is_null_or_undefined() {
            self.view.remove(key);
        } else {
            self.view.insert(key.into(), value.clone());
        }
        self.written
            .entry(key.into())
            .or_default()
            .push_back(value.clone());
    }

    fn receive(
        &mut self,
        who: u64,
        messages: Vec<rtmp_proto::message::shared_object::SharedObjectMessage>,
    ) {
        for m in messages {
            assert!(m.version >= self.version, "client {who}: version went back");
            self.version = m.version;
            for event in m.events {
                match event {
                    SoEvent::Clear => self.view.clear(),
                    SoEvent::Change { key, value } => {
                        self.view.insert(key.to_string(), value);
                    }
                    SoEvent::Remove { key } => {
                        self.view.remove(key.as_ref() as &str);
                    }
                    SoEvent::Success { key } => {
                        let written = self
                            .written
                            .get_mut(key.as_ref() as &str)
                            .and_then(|q| q.pop_front())
                            .expect("a SUCCESS answers a write");
                        if written.is_null_or_undefined() {
                            self.view.remove(key.as_ref() as &str);
                        } else {
                            self.view.insert(key.to_string(), written);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The owner `a` applies a write made on `a` (`from_a`) or on the replica
/// `b`, and both get the published update (the writer's process with its
/// writer), or the writer the answer, as the node would carry them.
fn deliver(a: &mut World, b: &mut World, so: &SoKey, from_a: bool, write: ForwardedWrite) {
    let writer = write.writer;
    match a.forwarded(so, write) {
        WriteOutcome::Update { version, delta, .. } => {
            for (w, here) in [(&mut *a, from_a), (&mut *b, !from_a)] {
                w.apply(Input::ReplicaUpdate {
                    so: so.clone(),
                    version,
                    delta: delta.clone(),
                    writer: writer.filter(|_| here),
                });
            }
        }
        WriteOutcome::NoUpdate { answer } => {
            if let Some(client) = writer {
                let w = if from_a { &mut *a } else { &mut *b };
                w.apply(Input::WriteAnswered {
                    client,
                    so: so.clone(),
                    answer: WriterAnswer::Events(answer),
                });
            }
        }
    }
}

/// Seeded rounds of writes, removes, sends and server changes from
/// clients on the owner's process and a replica's, with the forwarding
/// done in order: at the end every client's view, the replica's state and
/// its version are the owner's.
#[test]
fn seeded_writes_from_both_processes_converge() {
    for seed in 1..=20u64 {
        let (mut a, mut b, so) = two_processes();
        a.connect(2, "app/room");
        a.use_so(2, "chat");
        a.drain();
        let mut rng = Rng::new(seed);
        let mut views: std::collections::BTreeMap<u64, ClientView> = [1, 2, 1001, 1002]
            .into_iter()
            .map(|c| {
                (
                    c,
                    ClientView {
                        version: 1,
                        ..ClientView::default()
                    },
                )
            })
            .collect();
        // Writes on their way to the owner, in order.
        let mut queue = std::collections::VecDeque::new();
        for _ in 0..200 {
            let client = *rng.pick(&[1u64, 2, 1001, 1002]);
            let on_a = client < 1000;
            let w = if on_a { &mut a } else { &mut b };
            let key = *rng.pick(&["x", "y", "z"]);
            match rng.below(10) {
                0..=5 => {
                    let value = match rng.below(4) {
                        0 => Value::Null,
                        n => Value::Number(n as f64),
                    };
                    views.get_mut(&client).unwrap().wrote(key, &value);
                    w.so(client, "chat", false, vec![request_change(key, value)]);
                }
                6 => w.so(client, "chat", false, vec![request_remove(key)]),
                7 => w.so(client, "chat", false, vec![send("ping", vec![])]),
                _ => w.set(&so, key, Value::Number(9.0)),
            }
            for (_, _, write) in forwarded(&mut a) {
                queue.push_back((true, write));
            }
            for (_, _, write) in forwarded(&mut b) {
                queue.push_back((false, write));
            }
            let due = if rng.chance(30) {
                queue.len()
            } else {
                rng.below(2)
            };
            for _ in 0..due {
                let Some((from_a, write)) = queue.pop_front() else {
                    break;
                };
                deliver(&mut a, &mut b, &so, from_a, write);
            }
            for (c, view) in views.iter_mut() {
                let messages = if *c < 1000 { a.take(*c) } else { b.take(*c) };
                view.receive(*c, messages);
            }
        }
        while let Some((from_a, write)) = queue.pop_front() {
            deliver(&mut a, &mut b, &so, from_a, write);
        }
        let owner: std::collections::BTreeMap<String, Value> = a
            .engine
            .view()
            .shared_object(&so)
            .unwrap()
            .attributes()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        assert_eq!(b.version(&so), a.version(&so), "seed {seed}");
        for (c, view) in views.iter_mut() {
            let messages = if *c < 1000 { a.take(*c) } else { b.take(*c) };
            view.receive(*c, messages);
            assert_eq!(view.view, owner, "seed {seed}, client {c}");
            assert_eq!(
                Some(view.version),
                a.version(&so),
                "seed {seed}, client {c}"
            );
        }
        for k in ["x", "y", "z"] {
            assert_eq!(b.value(&so, k), a.value(&so, k), "seed {seed}");
        }
    }
}

/// A process's first subscriber of an SO gets the cluster's state in its
/// USE answer, as on one server: the answer waits for it (a second
/// subscriber arriving meanwhile too), and nothing comes before it.
#[test]
fn the_first_use_answer_waits_for_the_clusters_state() {
    let so = key("app/room", "chat");
    let mut c = cluster_world();
    for client in [1, 2] {
        c.connect(client, "app/room");
        c.use_so(client, "chat");
        assert!(c.take(client).is_empty(), "no answer before the state");
    }
    c.apply(Input::ReplicaReset {
        so,
        snapshot: Snapshot {
            version: 5,
            values: vec![("a".into(), Value::Number(1.0))],
        },
    });
    for client in [1, 2] {
        assert_eq!(
            c.take(client),
            vec![use_reply("chat", 5, &[("a", Value::Number(1.0))])]
        );
    }
    // Later subscribers are answered at once.
    c.connect(3, "app/room");
    c.use_so(3, "chat");
    assert_eq!(
        c.take(3),
        vec![use_reply("chat", 5, &[("a", Value::Number(1.0))])]
    );

    // On the process that becomes the owner: answered when it owns it,
    // from the state it was rebuilt from.
    let other = key("app/room", "other");
    c.use_so(1, "other");
    assert!(c.take(1).is_empty());
    c.apply(Input::Owned {
        so: other,
        owned: true,
    });
    assert_eq!(c.take(1), vec![use_reply("other", 1, &[])]);
}

/// Without the cluster's state in time (Redis out of reach), the USE is
/// answered with what this process has after `cluster_load_wait_ms`, and
/// the state follows when it comes, as CLEAR and every attribute.
#[test]
fn a_use_answer_waits_no_longer_than_configured() {
    let so = key("app/room", "chat");
    let mut c = cluster_world();
    let wait = c.engine.config().cluster_load_wait_ms;
    assert_eq!(wait, EngineConfig::DEFAULT_CLUSTER_LOAD_WAIT_MS);
    c.connect(1, "app/room");
    c.use_so(1, "chat");
    assert!(c.engine.poll_timeout().is_some());
    c.advance(wait - 1);
    assert!(c.take(1).is_empty());
    c.advance(1);
    assert_eq!(c.take(1), vec![use_reply("chat", 1, &[])]);
    assert_eq!(c.engine.poll_timeout(), None);
    c.apply(Input::ReplicaReset {
        so,
        snapshot: Snapshot {
            version: 4,
            values: vec![("a".into(), Value::Bool(true))],
        },
    });
    assert_eq!(
        c.take(1),
        vec![msg(
            "chat",
            4,
            false,
            vec![SoEvent::Clear, change("a", Value::Bool(true))]
        )]
    );
}

/// The owner's own writer is answered through the cluster like any other:
/// SUCCESS with the published update, a refusal with the owner's answer
/// at the version its clients were shown.
#[test]
fn the_owners_writer_waits_for_the_publish_or_the_answer() {
    let (mut a, _b, so) = two_processes();
    a.connect(2, "app/room");
    a.use_so(2, "chat");
    a.drain();
    a.so(1, "chat", false, vec![request_change("k", 1.0)]);
    let [(_, _, write)] = forwarded(&mut a).try_into().unwrap();
    let WriteOutcome::Update { version, delta, .. } = a.forwarded(&so, write) else {
        panic!("an update");
    };
    // Applied (the owner's copy is authoritative), not yet shown.
    assert_eq!(a.version(&so), Some(2));
    a.so(1, "chat", false, vec![request_change("locked", 1.0)]);
    let [(_, _, denied)] = forwarded(&mut a).try_into().unwrap();
    let WriteOutcome::NoUpdate { answer } = a.forwarded(&so, denied) else {
        panic!("a denied write publishes nothing");
    };
    assert!(a.take(1).is_empty() && a.take(2).is_empty());
    a.apply(Input::ReplicaUpdate {
        so: so.clone(),
        version,
        delta,
        writer: Some(ClientId(1)),
    });
    a.apply(Input::WriteAnswered {
        client: ClientId(1),
        so: so.clone(),
        answer: WriterAnswer::Events(answer),
    });
    assert_eq!(
        a.take(1),
        vec![
            msg("chat", 2, false, vec![success("k")]),
            msg(
                "chat",
                2,
                false,
                vec![status(status::NO_WRITE_ACCESS), remove("locked")]
            ),
        ]
    );
    assert_eq!(
        a.take(2),
        vec![msg("chat", 2, false, vec![change("k", 1.0)])]
    );
}

/// On the owner, a USE shows what was published, and when the process
/// stops owning the SO its copy goes back to that: what it applied but
/// never published is void, and the new owner's updates apply on top.
#[test]
fn the_owners_clients_see_only_what_was_published() {
    let (mut a, _b, so) = two_processes();
    a.so(1, "chat", false, vec![request_change("k", 1.0)]);
    let [(_, _, write)] = forwarded(&mut a).try_into().unwrap();
    let WriteOutcome::Update { version, delta, .. } = a.forwarded(&so, write) else {
        panic!("an update");
    };
    a.apply(Input::ReplicaUpdate {
        so: so.clone(),
        version,
        delta,
        writer: Some(ClientId(1)),
    });
    // Applied, never published.
    a.so(1, "chat", false, vec![request_change("k", 2.0)]);
    let [(_, _, write)] = forwarded(&mut a).try_into().unwrap();
    a.forwarded(&so, write);
    assert_eq!(a.version(&so), Some(3));
    a.connect(2, "app/room");
    a.use_so(2, "chat");
    assert_eq!(
        a.take(2),
        vec![use_reply("chat", 2, &[("k", Value::Number(1.0))])]
    );
    a.apply(Input::Owned {
        so: so.clone(),
        owned: false,
    });
    assert_eq!(a.version(&so), Some(2));
    assert_eq!(a.value(&so, "k"), Some(Value::Number(1.0)));
    // The new owner's next update (version 3) is not taken for a repeat.
    a.apply(Input::ReplicaUpdate {
        so: so.clone(),
        version: 3,
        delta: ReplicaDelta {
            writer_events: vec![],
            events: vec![change("other", true)],
        },
        writer: None,
    });
    assert_eq!(
        a.take(2),
        vec![msg("chat", 3, false, vec![change("other", true)])]
    );
    assert_eq!(a.value(&so, "k"), Some(Value::Number(1.0)));
}

/// Taking an SO over, the owner's authoritative copy is the stored state,
/// whatever its copy held; its clients are shown it only if it is newer
/// than what they saw, and a USE of an SO not live here gets it at once.
#[test]
fn a_rebuild_starts_from_the_stored_state() {
    let (_a, mut b, so) = two_processes();
    b.apply(Input::ReplicaUpdate {
        so: so.clone(),
        version: 5,
        delta: ReplicaDelta {
            writer_events: vec![],
            events: vec![change("seen", 1.0)],
        },
        writer: None,
    });
    b.drain();
    b.apply(Input::Rebuild {
        so: so.clone(),
        snapshot: Some(Snapshot {
            version: 3,
            values: vec![("stored".into(), Value::Bool(true))],
        }),
    });
    assert!(b.take(1001).is_empty(), "older than what they saw");
    assert_eq!(b.version(&so), Some(3));
    assert_eq!(b.value(&so, "seen"), None);
    assert_eq!(b.value(&so, "stored"), Some(Value::Bool(true)));
    b.connect(1003, "app/room");
    b.use_so(1003, "chat");
    assert_eq!(
        b.take(1003),
        vec![use_reply("chat", 5, &[("seen", Value::Number(1.0))])],
        "a USE shows what this process's clients saw"
    );
    b.apply(Input::Rebuild {
        so,
        snapshot: Some(Snapshot {
            version: 8,
            values: vec![("new".into(), Value::Bool(true))],
        }),
    });
    assert_eq!(
        b.take(1001),
        vec![msg(
            "chat",
            8,
            false,
            vec![SoEvent::Clear, change("new", Value::Bool(true))]
        )]
    );

    let idle = key("app/room", "idle");
    b.apply(Input::Rebuild {
        so: idle,
        snapshot: Some(Snapshot {
            version: 4,
            values: vec![("x".into(), Value::Number(2.0))],
        }),
    });
    b.use_so(1001, "idle");
    assert_eq!(
        b.take(1001),
        vec![use_reply("idle", 4, &[("x", Value::Number(2.0))])]
    );
}
