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
