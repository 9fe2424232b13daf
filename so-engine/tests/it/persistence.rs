//! Issue item 7: persistence as effects. The engine says what to store and
//! when; a cleared SO stays cleared.

use rtmp_proto::amf::Value;
use rtmp_proto::message::shared_object::SoEvent;
use so_engine::{EngineConfig, EngineMisuse, Input, Output, ServerApi, Snapshot, SoKey};

use crate::support::*;

fn persists(w: &mut World) -> Vec<Output> {
    w.take_other()
        .into_iter()
        .filter(|o| matches!(o, Output::Persist { .. } | Output::DeletePersisted { .. }))
        .collect()
}

fn persist(so: &SoKey, version: u32, values: &[(&str, Value)]) -> Output {
    Output::Persist {
        so: so.clone(),
        snapshot: Box::new(Snapshot {
            version,
            values: values
                .iter()
                .map(|(k, v)| ((*k).into(), v.clone()))
                .collect(),
        }),
    }
}

fn world() -> (World, SoKey) {
    let mut w = World::default_app();
    w.connect(1, "app");
    w.so(1, "scores", true, vec![SoEvent::Use]);
    w.drain();
    (w, key("app", "scores"))
}

/// Changes within the interval are coalesced into one snapshot, emitted
/// when the interval after the first change ends.
#[test]
fn changes_are_persisted_after_the_interval() {
    let (mut w, so) = world();
    assert_eq!(w.engine.poll_timeout(), None, "nothing to save yet");
    w.so(1, "scores", true, vec![request_change("a", 1.0)]);
    assert_eq!(w.engine.poll_timeout(), Some(w.now.plus_millis(500)));
    w.advance(300);
    w.so(1, "scores", true, vec![request_change("b", 2.0)]);
    w.advance(199);
    assert_eq!(persists(&mut w), vec![]);
    w.advance(1);
    assert_eq!(
        persists(&mut w),
        vec![persist(&so, 3, &[("a", 1.0.into()), ("b", 2.0.into())])]
    );
    assert_eq!(w.engine.poll_timeout(), None);
    // Same-value writes change nothing and save nothing.
    w.so(1, "scores", true, vec![request_change("a", 1.0)]);
    w.advance(1000);
    assert_eq!(persists(&mut w), vec![]);
}

/// A persistent SO cleared to nothing is stored empty, with its version,
/// and stays cleared: the old data does not come back when the scope
/// restarts, and the version does not go back.
#[test]
fn cleared_objects_are_stored_empty_and_keep_their_version() {
    let (mut w, so) = world();
    w.so(1, "scores", true, vec![request_change("a", 1.0)]);
    w.apply(Input::Flush);
    assert_eq!(
        persists(&mut w),
        vec![persist(&so, 2, &[("a", 1.0.into())])]
    );
    w.with_server(|s| s.clear(&so)).unwrap();
    w.apply(Input::Flush);
    assert_eq!(persists(&mut w), vec![persist(&so, 3, &[])]);
    w.leave(1);
    w.connect(2, "app");
    w.so(2, "scores", true, vec![SoEvent::Use]);
    assert_eq!(
        w.take(2),
        vec![msg(
            "scores",
            3,
            true,
            vec![SoEvent::UseSuccess, SoEvent::Clear]
        )]
    );
}

/// When the scope stops, unsaved changes are saved at once and the data
/// stays in the engine: the next USE gets it back with its version.
#[test]
fn scope_stop_saves_and_unloads() {
    let (mut w, so) = world();
    w.so(1, "scores", true, vec![request_change("a", 1.0)]);
    w.leave(1);
    assert_eq!(
        persists(&mut w),
        vec![persist(&so, 2, &[("a", 1.0.into())])]
    );
    assert!(!w.engine.view().has(&so));
    assert_eq!(
        w.engine.snapshot(&so),
        Some(Snapshot {
            version: 2,
            values: vec![("a".into(), 1.0.into())]
        })
    );
    w.connect(2, "app");
    w.so(2, "scores", true, vec![SoEvent::Use]);
    assert_eq!(
        w.take(2),
        vec![msg(
            "scores",
            2,
            true,
            vec![SoEvent::UseSuccess, SoEvent::Clear, change("a", 1.0)]
        )]
    );
}

/// Destroying a persistent SO deletes its stored data.
#[test]
fn destroy_deletes_stored_data() {
    let (mut w, so) = world();
    w.so(1, "scores", true, vec![request_change("a", 1.0)]);
    w.take_other();
    w.with_server(|s| s.destroy(&so)).unwrap();
    assert_eq!(
        persists(&mut w),
        vec![Output::DeletePersisted { so: so.clone() }]
    );
    assert_eq!(w.engine.snapshot(&so), None);
    w.advance(10_000);
    assert_eq!(persists(&mut w), vec![], "no late save of a destroyed SO");
}

/// Restored data is served; restoring over a live SO is a misuse.
#[test]
fn restore_before_serving() {
    let (mut w, so) = world();
    assert_eq!(
        w.try_apply(Input::Restored {
            so: so.clone(),
            snapshot: Snapshot::default()
        }),
        Err(EngineMisuse::AlreadyLive(so))
    );
    let other = key("app", "saved");
    w.apply(Input::Restored {
        so: other.clone(),
        snapshot: Snapshot {
            version: 41,
            values: vec![("x".into(), Value::ByteArray(vec![1, 2, 3]))],
        },
    });
    assert_eq!(w.engine.view().stored(&other).map(|s| s.version), Some(41));
    // A transient USE of the same name does not touch the stored data.
    w.use_so(1, "saved");
    assert_eq!(w.take(1), vec![use_reply("saved", 1, &[])]);
    w.so(1, "saved", false, vec![SoEvent::Release]);
    w.so(1, "saved", true, vec![SoEvent::Use]);
    assert_eq!(w.take(1)[0].version, 41);
    w.so(1, "saved", true, vec![request_change("y", 1.0)]);
    assert_eq!(w.version(&other), Some(42));
}

/// A restored empty snapshot keeps its version: an SO written to version
/// 7 and emptied comes back at 7 after a restart, and goes on from there.
#[test]
fn an_empty_restored_object_keeps_its_version() {
    let mut w = World::default_app();
    let so = key("app", "emptied");
    w.apply(Input::Restored {
        so: so.clone(),
        snapshot: Snapshot {
            version: 7,
            values: vec![],
        },
    });
    w.connect(1, "app");
    w.so(1, "emptied", true, vec![SoEvent::Use]);
    assert_eq!(
        w.take(1),
        vec![msg(
            "emptied",
            7,
            true,
            vec![SoEvent::UseSuccess, SoEvent::Clear]
        )]
    );
    w.so(1, "emptied", true, vec![request_change("a", 1.0)]);
    assert_eq!(w.version(&so), Some(8));
}

/// With interval 0 every changing input is saved at its end; transient SOs
/// are never saved.
#[test]
fn zero_interval_and_transient_objects() {
    let config = EngineConfig {
        persist_interval_ms: 0,
        ..EngineConfig::default()
    };
    let mut w = World::new(config, ());
    w.connect(1, "app");
    w.so(1, "p", true, vec![SoEvent::Use, request_change("a", 1.0)]);
    w.use_so(1, "t");
    w.so(1, "t", false, vec![request_change("a", 1.0)]);
    assert_eq!(
        persists(&mut w),
        vec![persist(&key("app", "p"), 2, &[("a", 1.0.into())])]
    );
}

/// Shutdown disconnects everyone, stops every scope and saves everything.
#[test]
fn shutdown_saves_everything() {
    let (mut w, so) = world();
    w.connect(2, "app/room");
    w.so(
        2,
        "notes",
        true,
        vec![SoEvent::Use, request_change("n", 1.0)],
    );
    w.so(1, "scores", true, vec![request_change("a", 1.0)]);
    w.take_other();
    w.apply(Input::Shutdown);
    let out = w.take_other();
    assert!(out.contains(&Output::Disconnect {
        client: so_engine::ClientId(1),
        reason: "the server is shutting down".into()
    }));
    assert!(out.contains(&persist(&so, 2, &[("a", 1.0.into())])));
    assert!(out.contains(&persist(&key("app/room", "notes"), 2, &[("n", 1.0.into())])));
    assert_eq!(w.engine.view().scopes().count(), 0);
    // The adapter still reports the connections closing.
    w.leave(1);
    w.leave(2);
}

/// A scope that stops while a server batch on a persistent SO is open still
/// saves the batch's changes, as one more version (found by the simulation
/// once hooks panicked in it: a stored snapshot held changes its version did
/// not count, and the store never got them).
#[test]
fn an_open_batch_is_saved_when_its_scope_stops() {
    let (mut w, so) = world();
    w.with_server(|s| s.begin_update(&so)).unwrap();
    w.set(&so, "a", 1.0);
    w.leave(1);
    assert_eq!(persists(&mut w), [persist(&so, 2, &[("a", 1.0.into())])]);
    assert_eq!(
        w.engine.snapshot(&so),
        Some(Snapshot {
            version: 2,
            values: vec![("a".into(), 1.0.into())]
        })
    );
}
