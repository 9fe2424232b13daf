//! The memory store, and the whole path: engine outputs → write-behind →
//! store → restart → restored engine.

use std::time::Duration;

use rtmp_proto::amf::{Encoding, Str, Value, Vector};

use super::*;
use crate::types::{ClientId, ScopePath, Tick};
use crate::{Engine, EngineConfig, Output, ServerOp};

fn key(scope: &str, name: &str) -> SoKey {
    SoKey::new(ScopePath::new(scope).unwrap(), name)
}

fn snap(version: u32, values: &[(&str, Value)]) -> Snapshot {
    Snapshot {
        version,
        values: values
            .iter()
            .map(|(k, v)| (Str::from(*k), v.clone()))
            .collect(),
    }
}

#[test]
fn memory_store_round_trips_through_the_format() {
    let mut store = MemoryStore::new();
    assert!(store.is_empty());
    let a = key("app", "a");
    let b = key("app/room", "b");
    store.save(&b, &snap(2, &[("x", 1.into())])).unwrap();
    store.save(&a, &snap(1, &[("y", "z".into())])).unwrap();
    store.delete(&key("app", "missing")).unwrap();
    assert_eq!(store.len(), 2);
    assert_eq!(
        decode_snapshot(store.raw(&a).unwrap()).unwrap(),
        (a.clone(), snap(1, &[("y", "z".into())]))
    );
    let report = store.load_all().unwrap();
    assert_eq!(
        report.snapshots,
        vec![
            (a.clone(), snap(1, &[("y", "z".into())])),
            (b.clone(), snap(2, &[("x", 1.into())])),
        ]
    );
    store.delete(&a).unwrap();
    assert_eq!(store.load_all().unwrap().snapshots.len(), 1);
}

#[test]
fn memory_store_sets_aside_what_it_cannot_use() {
    let mut store = MemoryStore::new();
    let a = key("app", "a");
    let b = key("app", "b");
    store.save(&a, &snap(1, &[])).unwrap();
    store.insert_raw(key("app", "broken"), b"junk".to_vec());
    // An entry holding another SO's data: `a` is home already, `b` is not.
    store.insert_raw(key("app", "copy of a"), encode_snapshot(&a, &snap(0, &[])));
    store.insert_raw(key("app", "holds b"), encode_snapshot(&b, &snap(5, &[])));
    let report = store.load_all().unwrap();
    assert_eq!(
        report.snapshots,
        vec![(a.clone(), snap(1, &[])), (b.clone(), snap(5, &[]))]
    );
    let lines: Vec<String> = report.set_aside.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "app:broken: unreadable snapshot: not a snapshot (bad magic) (moved to set-aside #0)",
            "app:copy of a: duplicate of app:a, which is stored elsewhere too (moved to set-aside #1)",
        ]
    );
    assert_eq!(store.set_aside().len(), 2);
    // `b` now sits where it belongs.
    assert!(store.raw(&b).is_some());
    assert_eq!(store.len(), 2);
}

#[test]
fn restore_inputs_take_the_snapshots() {
    let so = key("app", "a");
    let mut report = LoadReport {
        snapshots: vec![(so.clone(), snap(1, &[]))],
        ..LoadReport::default()
    };
    assert_eq!(
        report.take_restore_inputs(),
        vec![Input::Restored {
            so,
            snapshot: snap(1, &[])
        }]
    );
    assert!(report.snapshots.is_empty());
}

/// Runs `ops` on a fresh engine with a client in `app`, then shuts it down;
/// every persist/delete output goes through a write-behind into `store`.
fn run_engine(store: &mut dyn Store, ops: Vec<ServerOp>) -> Engine {
    let mut engine = Engine::new(EngineConfig::default(), ());
    let mut out = Vec::new();
    let mut report = store.load_all().unwrap();
    assert!(report.set_aside.is_empty());
    for input in report.take_restore_inputs() {
        engine.handle_input(Tick::ZERO, input, &mut out).unwrap();
    }
    engine
        .handle_input(
            Tick::ZERO,
            Input::ClientConnected {
                client: ClientId(1),
                scope: ScopePath::new("app").unwrap(),
                encoding: Encoding::Amf3,
                args: vec![],
            },
            &mut out,
        )
        .unwrap();
    let mut write_behind = WriteBehind::new(Duration::from_millis(100));
    for (i, op) in ops.into_iter().enumerate() {
        let now = Tick(i as u64 * 10);
        engine
            .handle_input(now, Input::Server(op), &mut out)
            .unwrap();
        for output in out.drain(..) {
            write_behind.offer(output, now);
        }
        for op in write_behind.due(now) {
            op.apply(store).unwrap();
        }
    }
    let end = Tick(100_000);
    engine.handle_input(end, Input::Shutdown, &mut out).unwrap();
    for output in out.drain(..) {
        write_behind.offer(output, end);
    }
    for op in write_behind.drain_all() {
        op.apply(store).unwrap();
    }
    engine
}

/// What a restarted engine holds for `so`.
fn restored(store: &mut dyn Store, so: &SoKey) -> Option<Snapshot> {
    run_engine(store, vec![]).snapshot(so)
}

fn engine_round_trip(store: &mut dyn Store) {
    let so = key("app", "scores");
    let values: Vec<(Str, Value)> = vec![
        ("bytes".into(), Value::ByteArray(vec![1, 2, 3])),
        (
            "ints".into(),
            Value::VectorInt(Box::new(Vector {
                fixed: false,
                items: vec![1, -2],
            })),
        ),
        ("n".into(), Value::Number(-0.0)),
        ("name".into(), "bob".into()),
    ];
    let ops = vec![
        ServerOp::Create {
            so: so.clone(),
            persistent: true,
        },
        ServerOp::SetMany {
            so: so.clone(),
            values: values.clone(),
        },
        ServerOp::Set {
            so: so.clone(),
            key: "late".into(),
            value: Value::Integer(5),
        },
    ];
    let first = run_engine(store, ops);
    drop(first);
    let back = restored(store, &so).expect("restored");
    let mut expected = values;
    expected.push(("late".into(), Value::Integer(5)));
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(back.values, expected);
    assert!(back.version >= 2, "{}", back.version);
    // A cleared SO stays cleared after a restart.
    run_engine(
        store,
        vec![
            ServerOp::Create {
                so: so.clone(),
                persistent: true,
            },
            ServerOp::Clear { so: so.clone() },
        ],
    );
    let after = restored(store, &so).map(|s| s.values).unwrap_or_default();
    assert_eq!(after, vec![]);
}

#[test]
fn engine_state_survives_a_restart_in_memory() {
    engine_round_trip(&mut MemoryStore::new());
}

/// `Output` values other than persist/delete pass through untouched.
#[test]
fn offer_passes_other_outputs_back() {
    let mut wb = WriteBehind::default();
    let output = Output::SoCreated {
        so: key("app", "x"),
    };
    assert_eq!(wb.offer(output.clone(), Tick::ZERO), Some(output));
}
