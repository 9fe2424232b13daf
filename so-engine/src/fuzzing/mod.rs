//! The bodies of so-engine's fuzz targets in `fuzz/`, kept here so that the
//! seed corpus, every crash found and a seeded batch of inputs also run as
//! ordinary tests (`tests/it/fuzz.rs`).
//!
//! [`engine_ops`] reads a sequence of client and server operations from the
//! fuzzer's bytes and drives an [`Engine`] through its public API. After
//! every step: each subscriber's mirror of each SO, rebuilt only from the
//! bytes the engine sent it (decoded as a Flash client would, applied with
//! [`rtmp_proto::mirror::RemoteSharedObject`]), holds
//! the engine's attributes and version; versions never go back; nothing is
//! sent to a client about an SO it does not hold; no idle SO outlives its
//! retention; after a flush the persist outputs describe every persistent
//! SO. A restart restores from those outputs through the snapshot format.
//! The same operations on a fresh engine give the same outputs, byte for
//! byte. Hooks panic at every hook point now and then (the engine catches
//! them and fails their requests); the invariants are the same.
//!
//! [`snapshot`] feeds bytes to the snapshot decoder: anything it accepts
//! re-encodes to bytes that decode to the same snapshot.

pub mod chaos;
mod model;
mod ops;

use rtmp_proto::amf::{Encoding, Value};
use rtmp_proto::message::shared_object::SoEvent;
use rtmp_proto::mirror::RemoteSharedObject;

use self::chaos::{ChaosRooms, ChaosSecurity, Curse, Presence, ReadOnly};
use self::model::{Peer, World};
use self::ops::{
    Client, Edit, KEYS, MAX_EDITS, METHODS, NAMES, Name, Op, ServerAction, client_id,
    is_persistent, scope_path, so_key,
};
use crate::config::{EngineConfig, EngineLimits};
use crate::context::{Context, ServerApi};
use crate::engine::Engine;
use crate::hooks::{CallRequest, Retention, SharedObjectListener, SoSetup};
use crate::interface::{Input, ServerOp};
use crate::store::{decode_snapshot, encode_snapshot};
use crate::types::{ClientId, Origin, ScopePath, SoKey};

/// How long an SO a client created lingers once idle, in the fuzz world.
pub const LINGER_MS: u64 = 40;
/// How long after a change a persistent SO is saved, in the fuzz world.
pub const PERSIST_INTERVAL_MS: u64 = 100;

/// The limits of the fuzz world: small, so that every refusal is reachable
/// with the operations' small values.
pub fn limits() -> EngineLimits {
    EngineLimits {
        max_shared_objects_per_scope: 2,
        max_attributes_per_so: 5,
        max_value_bytes: 256,
        max_so_bytes: 1024,
        max_update_bytes: 4096,
        max_events_per_message: 8,
        max_pending_calls_per_client: 2,
        ..EngineLimits::default()
    }
}

/// Runs the operations `data` encodes twice, checking every invariant after
/// every step, and that both runs said the same.
pub fn engine_ops(data: &[u8]) {
    let_deliberate_panics_unwind();
    let ops = ops::parse(data);
    let first = run(&ops);
    let second = run(&ops);
    assert!(
        first == second,
        "the same operations gave different outputs"
    );
}

/// The fuzz world's hooks panic on purpose (their messages end in
/// "boom"), and the engine catches them. libFuzzer's panic hook aborts on
/// every panic before any unwinding, so one that lets these unwind, quietly,
/// goes in front of it, once; every other panic still reaches it.
fn let_deliberate_panics_unwind() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // The message is the end of the info's text, whatever its payload type.
            if !info.to_string().ends_with("boom") {
                previous(info);
            }
        }));
    });
}

/// One checked run of the operations `data` encodes: every output, one per
/// line (for tests that look at what a corpus reaches).
pub fn transcript(data: &[u8]) -> String {
    let_deliberate_panics_unwind();
    run(&ops::parse(data))
}

/// The operations `data` encodes, one per line (for reading a crash).
pub fn describe(data: &[u8]) -> String {
    ops::parse(data)
        .iter()
        .map(|op| format!("{op:?}\n"))
        .collect()
}

/// Snapshot bytes: a typed error, or a snapshot that re-encodes to bytes
/// that decode to the same snapshot. An odd first byte appends the right
/// checksum to the rest, so the fuzzer gets past it.
pub fn snapshot(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if mode & 1 == 1 {
        bytes.extend_from_slice(&crc32fast::hash(rest).to_be_bytes());
    }
    let Ok((so, first)) = decode_snapshot(&bytes) else {
        return;
    };
    let encoded = encode_snapshot(&so, &first);
    let (so_again, again) = decode_snapshot(&encoded).expect("our encoding decodes");
    assert_eq!(so_again, so, "the key changed");
    assert_eq!(
        encode_snapshot(&so_again, &again),
        encoded,
        "re-encoding is not stable"
    );
    assert_eq!(again.version, first.version);
    assert_eq!(again.values.len(), first.values.len());
    for ((k1, v1), (k2, v2)) in first.values.iter().zip(&again.values) {
        assert!(
            k1 == k2 && v1.identical(v2),
            "{k1:?}: {v1:?} came back as {k2:?}: {v2:?}"
        );
    }
}

/// One run: every step, then the checks; returns the transcript.
fn run(ops: &[Op]) -> String {
    let mut world = World::new(engine());
    for op in ops {
        step(&mut world, op);
        world.check();
    }
    world.apply(Input::Flush).expect("flush");
    world.check_store(&scopes());
    world.transcript
}

fn scopes() -> Vec<ScopePath> {
    (0..3).map(|s| scope_path(ops::Scope::new(s))).collect()
}

fn step(world: &mut World, op: &Op) {
    match op {
        Op::Connect {
            client,
            scope,
            amf3,
        } => {
            if world.peers.contains_key(&client.0) {
                return;
            }
            let encoding = if *amf3 {
                Encoding::Amf3
            } else {
                Encoding::Amf0
            };
            let scope = scope_path(*scope);
            world.peers.insert(
                client.0,
                Peer {
                    scope: scope.clone(),
                    encoding,
                    mirrors: Default::default(),
                },
            );
            world
                .apply(Input::ClientConnected {
                    client: client_id(*client),
                    scope,
                    encoding,
                    args: Vec::new(),
                })
                .expect("a new client connects");
        }
        Op::Leave { client } => {
            if world.peers.remove(&client.0).is_some() {
                world
                    .apply(Input::ClientLeft {
                        client: client_id(*client),
                    })
                    .expect("a connected client leaves");
            }
        }
        Op::Use {
            client,
            name,
            times,
            wrong_persistence,
        } => {
            let Some(mirror) = mirror(world, *client, *name) else {
                return;
            };
            let mut message = mirror.use_message();
            message.persistent ^= *wrong_persistence;
            message.events = vec![SoEvent::Use; times.get() + 1];
            world.send(*client, message);
        }
        Op::Release { client, name } => {
            let Some(peer) = world.peers.get_mut(&client.0) else {
                return;
            };
            let message = match peer.mirrors.remove(&name.get()) {
                Some(mut mirror) => mirror.release_message(),
                // Releasing what one does not hold is ignored.
                None => RemoteSharedObject::new(NAMES[name.get()], is_persistent(*name))
                    .release_message(),
            };
            world.send(*client, message);
        }
        Op::Write {
            client,
            name,
            edits,
        } => write(world, *client, *name, edits),
        Op::Call { client, method } => {
            if world.peers.contains_key(&client.0) {
                world
                    .apply(Input::Call {
                        client: client_id(*client),
                        transaction_id: 2.0,
                        method: METHODS[method.get()].into(),
                        args: vec![Value::Null],
                    })
                    .expect("a connected client's call is accepted");
            }
        }
        Op::Server {
            scope,
            name,
            action,
        } => server(world, *scope, *name, action),
        Op::Tick { ms } => {
            world.now = world.now.plus_millis(u64::from(*ms));
            world.apply(Input::Tick).expect("time goes forward");
        }
        Op::ToDeadline => {
            if let Some(due) = world.engine.poll_timeout() {
                world.now = world.now.max(due);
                world.apply(Input::Tick).expect("time goes forward");
            }
        }
        Op::Flush => {
            world.apply(Input::Flush).expect("flush");
            world.check_store(&scopes());
        }
        Op::Restart => {
            world.apply(Input::Shutdown).expect("shutdown");
            world.peers.clear();
            world.check_store(&scopes());
            let restored = world.restore_inputs();
            world.engine = engine();
            for input in restored {
                world.apply(input).expect("restoring into a fresh engine");
            }
        }
    }
}

/// The client's mirror of `name`, made on first use (`None`: not connected).
fn mirror(world: &mut World, client: Client, name: Name) -> Option<&mut RemoteSharedObject> {
    let peer = world.peers.get_mut(&client.0)?;
    Some(
        peer.mirrors
            .entry(name.get())
            .or_insert_with(|| RemoteSharedObject::new(NAMES[name.get()], is_persistent(name))),
    )
}

/// One client message of writes, removals and sends. A message the engine
/// refuses as a whole (the SO not in use, too many events) changes nothing
/// there, so it is built on a copy of the mirror: a client library that
/// knows the refusal takes its optimistic writes back.
fn write(world: &mut World, client: Client, name: Name, edits: &[Edit]) {
    let events_limit = world.engine.config().limits.max_events_per_message;
    let Some(mirror) = mirror(world, client, name) else {
        return;
    };
    let edits = &edits[..edits.len().min(MAX_EDITS)];
    let mut scratch;
    let target = if !mirror.is_connected() || edits.len() > events_limit {
        scratch = mirror.clone();
        &mut scratch
    } else {
        mirror
    };
    let mut message = target.use_message();
    message.events.clear();
    for edit in edits {
        let part = match *edit {
            Edit::Set { key, value } => target.set_message(KEYS[key.get()], value.value()),
            Edit::Remove { key } => target.remove_message(KEYS[key.get()]),
            Edit::Send { method, arg } => {
                target.send_message(METHODS[method.get()], vec![arg.value()])
            }
        };
        message.events.extend(part.events);
    }
    world.send(client, message);
}

fn server(world: &mut World, scope: ops::Scope, name: Name, action: &ServerAction) {
    // Server code may ask for the impossible (an SO that does not exist, a
    // value over a limit): that is an `Err`, never a panic or a change.
    if let Some(op) = action.op(scope, name) {
        let _ = world.apply(Input::Server(op));
        return;
    }
    let ServerAction::Batch { edits } = action else {
        return;
    };
    let so = so_key(scope, name);
    if world
        .apply(Input::Server(ServerOp::BeginUpdate { so: so.clone() }))
        .is_err()
    {
        return;
    }
    for edit in edits.iter().take(MAX_EDITS) {
        let _ = world.apply(Input::Server(edit.op(&so)));
    }
    world
        .apply(Input::Server(ServerOp::EndUpdate { so }))
        .expect("a batch that began ends");
}

/// Where the fuzz world's security checks panic.
const CURSE: Curse = Curse {
    every: 3,
    key: "b",
    creation: "p",
    connection: (2, "s1"),
};

/// The fuzz world's engine: linger and persistence timers, small limits,
/// an application that sets up `s0` in every room, a factory for `s1`
/// (a listener counting subscribers, a send handler, no linger) and a
/// security check that keeps `ro` read-only for clients; and hooks that
/// panic at every hook point ([`chaos`], [`Chaos`]).
fn engine() -> Engine {
    let config = EngineConfig {
        default_linger_ms: LINGER_MS,
        persist_interval_ms: PERSIST_INTERVAL_MS,
        limits: limits(),
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(config, ChaosRooms::new(5, "s0", "c"));
    engine.register_security(ReadOnly("ro"));
    engine.register_security(ChaosSecurity(CURSE));
    engine.register_factory("s1", |so: &SoKey, setup: &mut SoSetup| {
        assert!(so.scope.as_str() != "app/r0/d", "factory boom");
        setup
            .listener(Presence)
            .listener(Chaos)
            .retention(Retention::Linger(0))
            .send_handler(
                "",
                "say",
                |cx: &mut Context<'_>, so: &SoKey, _: ClientId, _: &str, args: &[Value]| {
                    let last = args.first().cloned().unwrap_or(Value::Null);
                    assert!(matches!(last, Value::Number(_)), "send handler boom");
                    let _ = cx.set(so, "last", last);
                },
            );
    });
    engine.register_method("ro", |_: &mut Context<'_>, _: &CallRequest<'_>| {
        panic!("method boom")
    });
    engine
}

/// A listener whose hooks panic, each tied to something deterministic (a
/// key, a client).
struct Chaos;

impl SharedObjectListener for Chaos {
    fn on_update(&mut self, cx: &mut Context<'_>, so: &SoKey, _: Origin, key: &str, _: &Value) {
        if key == "c" {
            let _ = cx.set(so, "dropped", 1.0);
            panic!("on_update boom");
        }
    }
    fn on_disconnect(&mut self, _: &mut Context<'_>, _: &SoKey, client: ClientId) {
        assert!(client.0 != 4, "on_disconnect boom");
    }
    fn on_connect(&mut self, _: &mut Context<'_>, _: &SoKey, client: ClientId) {
        assert!(client.0 != 5, "on_connect boom");
    }
    fn on_destroy(&mut self, _: &mut Context<'_>, _: &SoKey) {
        panic!("on_destroy boom");
    }
}
