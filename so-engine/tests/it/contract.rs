//! The behaviour contract (docs/PROTOCOL.md §6), points 2–6 and 8, one test
//! each (or a few).

use rtmp_proto::amf::{Encoding, Value};
use rtmp_proto::message::shared_object::SoEvent;
use so_engine::{Input, Output, Snapshot, status};

use crate::support::*;

/// Point 2: USE gets one message: USE_SUCCESS, CLEAR, one CHANGE per
/// attribute (sorted by key), carrying the current version.
#[test]
fn use_answers_with_full_state_in_one_message() {
    let mut w = World::default_app();
    w.connect(1, "app/room");
    w.use_so(1, "chat");
    assert_eq!(w.take(1), vec![use_reply("chat", 1, &[])]);

    w.so(
        1,
        "chat",
        false,
        vec![request_change("b", 2.0), request_change("a", "x")],
    );
    w.drain();
    w.connect(2, "app/room");
    w.use_so(2, "chat");
    assert_eq!(
        w.take(2),
        vec![use_reply(
            "chat",
            2,
            &[("a", "x".into()), ("b", 2.0.into())]
        )]
    );
    // Nobody else hears about a USE.
    assert!(w.take(1).is_empty());
}

/// Point 2: a second USE on the same connection gets the same full answer
/// (Red5 answers nothing and the client waits forever).
#[test]
fn repeated_use_is_answered_again() {
    let mut w = World::default_app();
    w.connect(1, "app");
    w.use_so(1, "chat");
    w.so(1, "chat", false, vec![request_change("k", 1.0)]);
    w.drain();
    w.use_so(1, "chat");
    assert_eq!(w.take(1), vec![use_reply("chat", 2, &[("k", 1.0.into())])]);
    assert_eq!(
        w.engine
            .view()
            .shared_object(&key("app", "chat"))
            .unwrap()
            .subscriber_count(),
        1
    );
}

/// Point 2: persistent SOs get CLEAR too, and the restored version.
#[test]
fn persistent_use_sends_clear_and_restored_version() {
    let mut w = World::default_app();
    w.apply(Input::Restored {
        so: key("app", "scores"),
        snapshot: Snapshot {
            version: 7,
            values: vec![("top".into(), 99.0.into())],
        },
    });
    w.connect(1, "app");
    w.so(1, "scores", true, vec![SoEvent::Use]);
    assert_eq!(
        w.take(1),
        vec![msg(
            "scores",
            7,
            true,
            vec![SoEvent::UseSuccess, SoEvent::Clear, change("top", 99.0)]
        )]
    );
}

/// Point 3: the writer gets SUCCESS, every other subscriber CHANGE, all at
/// the new version.
#[test]
fn request_change_answers_writer_and_others() {
    let mut w = World::default_app();
    for c in 1..=3 {
        w.connect(c, "app");
        w.use_so(c, "chat");
    }
    w.drain();
    w.so(2, "chat", false, vec![request_change("msg", 42.0)]);
    assert_eq!(w.take(2), vec![msg("chat", 2, false, vec![success("msg")])]);
    for c in [1, 3] {
        assert_eq!(
            w.take(c),
            vec![msg("chat", 2, false, vec![change("msg", 42.0)])]
        );
    }
    assert_eq!(w.value(&key("app", "chat"), "msg"), Some(42.0.into()));
}

/// Point 3: setting the value a key already has: SUCCESS to the writer,
/// nothing to the others, no version bump.
#[test]
fn same_value_set_is_acknowledged_only() {
    let mut w = World::default_app();
    for c in 1..=2 {
        w.connect(c, "app");
        w.use_so(c, "chat");
    }
    w.so(1, "chat", false, vec![request_change("k", "v")]);
    w.drain();
    w.so(2, "chat", false, vec![request_change("k", "v")]);
    assert_eq!(w.take(2), vec![msg("chat", 2, false, vec![success("k")])]);
    assert!(w.take(1).is_empty());
    assert_eq!(w.version(&key("app", "chat")), Some(2));
}

/// Point 3: a null, undefined or missing value deletes the key: SUCCESS to
/// the writer, REMOVE to the others.
#[test]
fn null_value_deletes() {
    let mut w = World::default_app();
    for c in 1..=2 {
        w.connect(c, "app");
        w.use_so(c, "chat");
    }
    w.so(
        1,
        "chat",
        false,
        vec![request_change("a", 1.0), request_change("b", 2.0)],
    );
    w.drain();
    w.so(1, "chat", false, vec![request_change("a", Value::Null)]);
    assert_eq!(w.take(1), vec![msg("chat", 3, false, vec![success("a")])]);
    assert_eq!(w.take(2), vec![msg("chat", 3, false, vec![remove("a")])]);
    w.so(
        2,
        "chat",
        false,
        vec![request_change("b", Value::Undefined)],
    );
    assert_eq!(w.take(2), vec![msg("chat", 4, false, vec![success("b")])]);
    assert_eq!(w.take(1), vec![msg("chat", 4, false, vec![remove("b")])]);
    // Deleting what does not exist: SUCCESS only, no bump.
    w.so(2, "chat", false, vec![request_change("zz", Value::Null)]);
    assert_eq!(w.take(2), vec![msg("chat", 4, false, vec![success("zz")])]);
    assert!(w.take(1).is_empty());
}

/// Point 3: several events in one message are one update: one message per
/// recipient, version +1 once.
#[test]
fn several_events_are_one_update() {
    let mut w = World::default_app();
    for c in 1..=2 {
        w.connect(c, "app");
        w.use_so(c, "chat");
    }
    w.drain();
    w.so(
        1,
        "chat",
        false,
        vec![
            request_change("a", 1.0),
            request_change("b", 2.0),
            request_change("a", 3.0),
            request_remove("b"),
            send("ping", vec![]),
        ],
    );
    assert_eq!(
        w.take(1),
        vec![msg(
            "chat",
            2,
            false,
            vec![
                success("a"),
                success("b"),
                success("a"),
                remove("b"),
                send("ping", vec![])
            ]
        )]
    );
    assert_eq!(
        w.take(2),
        vec![msg(
            "chat",
            2,
            false,
            vec![
                change("a", 1.0),
                change("b", 2.0),
                change("a", 3.0),
                remove("b"),
                send("ping", vec![])
            ]
        )]
    );
}

/// Point 4: REQUEST_REMOVE of an existing key: REMOVE to every subscriber,
/// writer included; of a missing key: nothing at all.
#[test]
fn request_remove_goes_to_everyone_if_the_key_existed() {
    let mut w = World::default_app();
    for c in 1..=2 {
        w.connect(c, "app");
        w.use_so(c, "chat");
    }
    w.so(1, "chat", false, vec![request_change("k", 1.0)]);
    w.drain();
    w.so(2, "chat", false, vec![request_remove("k")]);
    for c in 1..=2 {
        assert_eq!(w.take(c), vec![msg("chat", 3, false, vec![remove("k")])]);
    }
    w.so(2, "chat", false, vec![request_remove("k")]);
    assert!(w.take(1).is_empty());
    assert!(w.take(2).is_empty());
    assert_eq!(w.version(&key("app", "chat")), Some(3));
}

/// Point 5: SEND_MESSAGE reaches every subscriber, the sender included; it
/// creates no attribute and changes no version.
#[test]
fn send_message_reaches_everyone_including_sender() {
    let mut w = World::default_app();
    for c in 1..=3 {
        w.connect(c, "app");
        w.use_so(c, "chat");
    }
    w.drain();
    let event = send("newMessage", vec!["hello".into()]);
    w.so(2, "chat", false, vec![event.clone()]);
    for c in 1..=3 {
        assert_eq!(w.take(c), vec![msg("chat", 1, false, vec![event.clone()])]);
    }
    let so = key("app", "chat");
    assert!(w.engine.view().shared_object(&so).unwrap().is_empty());
}

/// Point 6: the same update carries the same version to AMF0 and AMF3
/// subscribers; each encoding is encoded once and shared.
#[test]
fn versions_agree_across_encodings() {
    let mut w = World::default_app();
    w.connect_with(1, "app", Encoding::Amf0);
    w.connect_with(2, "app", Encoding::Amf3);
    w.connect_with(3, "app", Encoding::Amf3);
    w.connect_with(4, "app", Encoding::Amf0);
    for c in 1..=4 {
        w.use_so(c, "chat");
    }
    w.drain();
    w.log.clear();
    w.so(1, "chat", false, vec![request_change("k", 1.0)]);
    let bodies: Vec<_> = w
        .log
        .iter()
        .filter_map(|o| match o {
            Output::SharedObject {
                to, encoding, body, ..
            } => {
                let to: Vec<_> = to.iter().map(|c| c.0).collect();
                Some((to, *encoding, body.clone()))
            }
            _ => None,
        })
        .collect();
    // The writer's SUCCESS, then the others' CHANGE once per encoding:
    // clients 2 and 3 (AMF3) get one body, client 4 (AMF0) its own.
    let sent: Vec<_> = bodies.iter().map(|(to, e, _)| (to.clone(), *e)).collect();
    assert_eq!(
        sent,
        [
            (vec![1], Encoding::Amf0),
            (vec![4], Encoding::Amf0),
            (vec![2, 3], Encoding::Amf3),
        ]
    );
    assert_eq!(bodies[2].2[0], 0, "type 16 starts with its format byte");
    for c in 2..=4 {
        assert_eq!(
            w.take(c),
            vec![msg("chat", 2, false, vec![change("k", 1.0)])]
        );
    }
}

/// Point 6: versions never go backwards, one per changing update.
#[test]
fn versions_count_changing_updates() {
    let mut w = World::default_app();
    w.connect(1, "app");
    w.use_so(1, "chat");
    let so = key("app", "chat");
    let mut last = w.version(&so).unwrap();
    for i in 0..20u32 {
        // Every value is written twice: the second write changes nothing.
        w.so(
            1,
            "chat",
            false,
            vec![request_change("k", f64::from(i / 2))],
        );
        let v = w.version(&so).unwrap();
        assert_eq!(v, if i % 2 == 0 { last + 1 } else { last });
        last = v;
    }
    assert_eq!(last, 1 + 10);
}

/// Point 8: messages for an SO the connection has not used never create it
/// and are answered with STATUS `SharedObject.NoObjectFound` (version 0,
/// the request's name and flag).
#[test]
fn messages_for_unused_objects_do_not_create_them() {
    let mut w = World::default_app();
    w.connect(1, "app");
    for event in [
        request_change("k", 1.0),
        request_remove("k"),
        send("m", vec![]),
    ] {
        w.so(1, "ghost", true, vec![event]);
        assert_eq!(
            w.take(1),
            vec![msg("ghost", 0, true, vec![status(status::NO_OBJECT_FOUND)])]
        );
    }
    // RELEASE of something not held is already done: no answer.
    w.so(1, "ghost", false, vec![SoEvent::Release]);
    assert!(w.take(1).is_empty());
    assert!(!w.engine.view().has(&key("app", "ghost")));

    // An SO that exists but that this client never used: same answer,
    // nothing changes.
    w.connect(2, "app");
    w.use_so(2, "real");
    w.drain();
    w.so(1, "real", false, vec![request_change("k", 1.0)]);
    assert_eq!(
        w.take(1),
        vec![msg("real", 0, false, vec![status(status::NO_OBJECT_FOUND)])]
    );
    assert!(w.take(2).is_empty());
    assert_eq!(w.value(&key("app", "real"), "k"), None);
}

/// Point 8: events a client has no business sending (server-to-client
/// types, unknown types) are skipped; the rest of the message applies.
#[test]
fn unexpected_events_are_skipped() {
    let mut w = World::default_app();
    w.connect(1, "app");
    w.use_so(1, "chat");
    w.drain();
    w.so(
        1,
        "chat",
        false,
        vec![
            SoEvent::Clear,
            change("x", 1.0),
            SoEvent::Unknown {
                kind: 42,
                payload: bytes::Bytes::from_static(b"junk"),
            },
            request_change("k", 1.0),
        ],
    );
    assert_eq!(w.take(1), vec![msg("chat", 2, false, vec![success("k")])]);
    assert_eq!(w.value(&key("app", "chat"), "x"), None);
}

/// Point 11: the same name in two rooms is two SOs.
#[test]
fn rooms_are_isolated() {
    let mut w = World::default_app();
    w.connect(1, "app/a");
    w.connect(2, "app/b");
    w.use_so(1, "chat");
    w.use_so(2, "chat");
    w.drain();
    w.so(1, "chat", false, vec![request_change("k", 1.0)]);
    assert!(w.take(2).is_empty());
    assert_eq!(w.value(&key("app/a", "chat"), "k"), Some(1.0.into()));
    assert_eq!(w.value(&key("app/b", "chat"), "k"), None);
}
