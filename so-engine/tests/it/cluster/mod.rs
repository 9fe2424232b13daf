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

mod convergence;
mod use_and_publish;
