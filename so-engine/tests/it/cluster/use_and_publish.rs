//! What the clients of a process see, and when: the first USE answer
//! waits for the cluster's state, and the owner's clients see only what
//! was published.

use super::*;

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
