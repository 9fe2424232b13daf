//! Issue item 9: configurable limits. A client over one gets a STATUS error
//! and nothing changes.

use rtmp_proto::amf::Value;
use rtmp_proto::message::shared_object::SoEvent;
use so_engine::{EngineConfig, EngineLimits, Output, status};

use crate::support::*;

fn small() -> World {
    let limits = EngineLimits {
        max_shared_objects_per_scope: 2,
        max_attributes_per_so: 2,
        max_name_bytes: 8,
        max_key_bytes: 4,
        max_value_bytes: 100,
        max_events_per_message: 3,
        max_scope_depth: 2,
        ..EngineLimits::default()
    };
    let mut w = World::new(
        EngineConfig {
            limits,
            ..EngineConfig::default()
        },
        (),
    );
    w.connect(1, "app");
    w.connect(2, "app");
    w.use_so(1, "chat");
    w.use_so(2, "chat");
    w.drain();
    w
}

#[test]
fn over_limit_writes_are_refused_with_a_rollback() {
    let mut w = small();
    let refused = |k: &str| vec![status(status::LIMIT_EXCEEDED), remove(k)];
    w.so(1, "chat", false, vec![request_change("toolong", 1.0)]);
    assert_eq!(w.take(1), vec![msg("chat", 1, false, refused("toolong"))]);
    w.so(
        1,
        "chat",
        false,
        vec![request_change("big", "x".repeat(200))],
    );
    assert_eq!(w.take(1), vec![msg("chat", 1, false, refused("big"))]);
    w.so(
        1,
        "chat",
        false,
        vec![
            request_change("a", 1.0),
            request_change("b", 2.0),
            request_change("c", 3.0),
        ],
    );
    let mut events = vec![success("a"), success("b")];
    events.extend(refused("c"));
    assert_eq!(w.take(1), vec![msg("chat", 2, false, events)]);
    assert_eq!(
        w.take(2),
        vec![msg(
            "chat",
            2,
            false,
            vec![change("a", 1.0), change("b", 2.0)]
        )]
    );
    // Replacing an existing key is fine at the attribute limit.
    w.so(1, "chat", false, vec![request_change("a", 5.0)]);
    assert_eq!(w.take(1), vec![msg("chat", 3, false, vec![success("a")])]);
    assert_eq!(
        w.take(2),
        vec![msg("chat", 3, false, vec![change("a", 5.0)])]
    );
    // A send with oversized arguments.
    w.so(
        1,
        "chat",
        false,
        vec![send("m", vec![Value::from("y".repeat(200))])],
    );
    assert_eq!(
        w.take(1),
        vec![msg("chat", 3, false, vec![status(status::LIMIT_EXCEEDED)])]
    );
    assert!(w.take(2).is_empty());
}

#[test]
fn too_many_events_refuse_the_whole_message() {
    let mut w = small();
    let events = vec![request_change("a", 1.0); 4];
    w.so(1, "chat", false, events);
    assert_eq!(
        w.take(1),
        vec![msg("chat", 0, false, vec![status(status::LIMIT_EXCEEDED)])]
    );
    assert!(w.take(2).is_empty());
    assert_eq!(w.value(&key("app", "chat"), "a"), None);
}

#[test]
fn object_limits_refuse_creation() {
    let mut w = small();
    w.use_so(1, "longname.x");
    assert_eq!(
        w.take(1),
        vec![msg(
            "longname.x",
            0,
            false,
            vec![status(status::CREATION_FAILED)]
        )]
    );
    w.use_so(1, "two");
    w.use_so(1, "three");
    assert_eq!(
        w.take(1).last().unwrap().events,
        vec![status(status::CREATION_FAILED)]
    );
    assert_eq!(w.engine.view().names(&scope("app")).count(), 2);
}

#[test]
fn deep_scopes_are_rejected() {
    let mut w = small();
    w.connect(3, "app/a/b");
    assert!(matches!(
        w.take_other().last(),
        Some(Output::ConnectRejected { .. })
    ));
    let _ = SoEvent::Use;
}

/// The attributes of one SO stay under `max_so_bytes`, for clients and for
/// server code alike, so its full state always fits one message.
#[test]
fn objects_stay_under_their_byte_limit() {
    let limits = EngineLimits {
        max_so_bytes: 100,
        ..EngineLimits::default()
    };
    let mut w = World::new(
        EngineConfig {
            limits,
            ..EngineConfig::default()
        },
        (),
    );
    w.connect(1, "app");
    w.use_so(1, "chat");
    // "a" = 40-byte string: 7 + 1 + 1 + 45 = 54 bytes on the wire.
    let forty = "x".repeat(40);
    w.so(1, "chat", false, vec![request_change("a", forty.as_str())]);
    w.so(1, "chat", false, vec![request_change("b", forty.as_str())]);
    w.drain();
    assert_eq!(w.value(&key("app", "chat"), "b"), None);
    // Replacing "a" by a value of the same size is fine.
    w.so(
        1,
        "chat",
        false,
        vec![request_change("a", "y".repeat(40).as_str())],
    );
    assert_eq!(w.take(1), vec![msg("chat", 3, false, vec![success("a")])]);
    w.so(1, "chat", false, vec![request_change("b", forty.as_str())]);
    assert_eq!(
        w.take(1),
        vec![msg(
            "chat",
            3,
            false,
            vec![status(status::LIMIT_EXCEEDED), remove("b")]
        )]
    );
    let so = key("app", "chat");
    assert!(matches!(
        w.with_server(|s| so_engine::ServerApi::set(s, &so, "b", forty.as_str())),
        Err(so_engine::EngineMisuse::LimitExceeded {
            what: "SO size",
            ..
        })
    ));
    // Removing and adding in one batch is judged by the end result.
    w.with_server(|s| {
        so_engine::ServerApi::set_many(
            s,
            &so,
            [("a", Value::Null), ("b", Value::from(forty.as_str()))],
        )
    })
    .unwrap();
    assert_eq!(w.value(&so, "b"), Some(forty.as_str().into()));
}

/// One small message cannot be amplified into a huge answer: past the
/// per-message budget the rest is refused and the writer gets the full
/// state again (it may have applied the refused writes locally).
#[test]
fn one_message_cannot_amplify() {
    let limits = EngineLimits {
        max_update_bytes: 1000,
        ..EngineLimits::default()
    };
    let mut w = World::new(
        EngineConfig {
            limits,
            ..EngineConfig::default()
        },
        (),
    );
    w.connect(1, "app");
    w.connect(2, "app");
    w.use_so(1, "big");
    w.use_so(2, "big");
    let value = "v".repeat(300);
    w.so(2, "big", false, vec![request_change("k", value.as_str())]);
    w.drain();
    // Each USE answers with ~330 bytes: the fourth does not fit.
    w.so(1, "big", false, vec![SoEvent::Use; 10]);
    let got = w.take(1);
    assert_eq!(got.len(), 2);
    let reply = |k: &str| change(k, value.as_str());
    let mut events = Vec::new();
    for _ in 0..3 {
        events.extend([SoEvent::UseSuccess, SoEvent::Clear, reply("k")]);
    }
    events.push(status(status::LIMIT_EXCEEDED));
    assert_eq!(got[0], msg("big", 2, false, events));
    assert_eq!(
        got[1],
        msg("big", 2, false, vec![SoEvent::Clear, reply("k")])
    );

    // Writes are charged their worst case (a rollback to the writer, the
    // value to the others): 363 bytes each to the writer, so two fit.
    let (a, b) = ("a".repeat(300), "b".repeat(300));
    let writes = [&a, &b, &a, &b, &a]
        .map(|v| request_change("k", v.as_str()))
        .to_vec();
    w.so(1, "big", false, writes);
    assert_eq!(
        w.take(1),
        vec![
            msg(
                "big",
                3,
                false,
                vec![success("k"), success("k"), status(status::LIMIT_EXCEEDED)]
            ),
            msg(
                "big",
                3,
                false,
                vec![SoEvent::Clear, change("k", b.as_str())]
            ),
        ]
    );
    assert_eq!(
        w.take(2),
        vec![msg(
            "big",
            3,
            false,
            vec![change("k", a.as_str()), change("k", b.as_str())]
        )]
    );
}
