//! The hub: the engine, the store write-behind and the client links, as adapters run them.

use rtmp_proto::amf::Value;
use rtmp_proto::connection::Event;
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use rtmp_proto::sim::Pair;

use std::time::{Duration, Instant};

use rtmp_proto::amf::Encoding;
use so_engine::server::*;
use so_engine::store::{FailedBatch, MemoryStore, RetryBackoff, Store, StoreError, StoreOp};
use so_engine::{
    CallId, ClientId, Engine, EngineConfig, EngineMisuse, Input, Output, ScopePath, Snapshot,
    SoKey, Tick,
};

// The tests' clock origin: any instant works, time moves by addition.
#[allow(clippy::disallowed_methods)] // the test's clock origin, not the engine's
fn epoch() -> Instant {
    Instant::now()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn hub(epoch: Instant) -> Hub {
    Hub::new(
        Engine::new(EngineConfig::default(), ()),
        HubConfig::default(),
        epoch,
    )
}

fn connected(client: u64, scope: &str, encoding: Encoding) -> Input {
    Input::ClientConnected {
        client: ClientId(client),
        scope: ScopePath::new(scope).unwrap(),
        encoding,
        args: vec![],
    }
}

fn so(client: u64, name: &str, persistent: bool, events: Vec<SoEvent>) -> Input {
    Input::SharedObject {
        client: ClientId(client),
        message: SharedObjectMessage {
            name: name.into(),
            version: 0,
            persistent,
            events,
        },
    }
}

fn set(key: &str, value: f64) -> SoEvent {
    SoEvent::RequestChange {
        key: key.into(),
        value: Value::Number(value),
    }
}

fn key(name: &str) -> SoKey {
    SoKey::new(ScopePath::new("app").unwrap(), name)
}

fn saved(ops: &[StoreOp]) -> Vec<(String, u32)> {
    ops.iter()
        .map(|op| match op {
            StoreOp::Save { so, snapshot } => (so.name.to_string(), snapshot.version),
            StoreOp::Delete { so } => (format!("-{}", so.name), 0),
        })
        .collect()
}

#[test]
fn deliveries_keep_an_updates_recipients_together_with_its_key() {
    let t0 = epoch();
    let mut hub = hub(t0);
    let mut fx = Effects::default();
    hub.handle_input(t0, connected(1, "app", Encoding::Amf3), &mut fx);
    hub.handle_input(t0, connected(2, "app", Encoding::Amf0), &mut fx);
    hub.handle_input(t0, connected(3, "app", Encoding::Amf0), &mut fx);
    assert_eq!(
        fx.deliveries,
        (1..=3)
            .map(|c| Delivery {
                to: ClientId(c).into(),
                command: ClientCommand::Accept,
                key: None,
            })
            .collect::<Vec<_>>()
    );
    assert!(matches!(
        fx.events.as_slice(),
        [HubEvent::Engine(Output::ScopeStarted { .. })]
    ));
    fx = Effects::default();
    for c in 1..=3 {
        hub.handle_input(t0, so(c, "chat", false, vec![SoEvent::Use]), &mut fx);
    }
    hub.handle_input(t0, so(1, "chat", false, vec![set("k", 1.0)]), &mut fx);
    let encoding = |c: &ClientId| {
        if c.0 == 1 {
            Encoding::Amf3
        } else {
            Encoding::Amf0
        }
    };
    let got: Vec<_> = fx
        .deliveries
        .iter()
        .map(|d| {
            let ClientCommand::SharedObject(body) = &d.command else {
                panic!("{d:?}")
            };
            let to: Vec<u64> = d.to.iter().map(|c| c.0).collect();
            let first = d.to.iter().next().unwrap();
            let m =
                SharedObjectMessage::decode(body, encoding(first), &Default::default()).unwrap();
            let key = d.key.map(|k| {
                let (name, key) = k.slices(body);
                (name.to_vec(), key.to_vec())
            });
            (to, m.version, m.events.len(), key)
        })
        .collect();
    // USE answers (USE_SUCCESS + CLEAR), then SUCCESS to the writer and
    // one CHANGE to both others, with the SO name and key it changes,
    // each decoded in its recipients' encoding.
    let chat_k = Some((b"chat".to_vec(), b"k".to_vec()));
    assert_eq!(
        got,
        [
            (vec![1], 1, 2, None),
            (vec![2], 1, 2, None),
            (vec![3], 1, 2, None),
            (vec![1], 2, 1, None),
            (vec![2, 3], 2, 1, chat_k),
        ]
    );
    assert!(matches!(
        fx.events.as_slice(),
        [HubEvent::Engine(Output::SoCreated { .. })]
    ));
}

#[test]
fn a_rejected_or_unknown_client_is_logged_not_fatal() {
    let t0 = epoch();
    let mut hub = hub(t0);
    let mut fx = Effects::default();
    hub.handle_input(
        t0,
        Input::ClientLeft {
            client: ClientId(9),
        },
        &mut fx,
    );
    assert!(matches!(
        fx.events.as_slice(),
        [HubEvent::Misuse(EngineMisuse::UnknownClient(ClientId(9)))]
    ));
}

#[test]
fn time_is_converted_and_never_goes_backwards() {
    let t0 = epoch();
    let mut hub = hub(t0);
    assert_eq!(hub.tick(t0 + ms(1500)), Tick(1500));
    assert_eq!(hub.tick(t0 + ms(200)), Tick(1500));
    assert_eq!(hub.tick(t0 + Duration::from_micros(1_600_999)), Tick(1600));
    assert_eq!(hub.instant(Tick(250)), t0 + ms(250));
    assert_eq!(hub.poll_timeout(), None);
}

#[test]
fn persists_go_out_one_batch_at_a_time() {
    let t0 = epoch();
    let mut hub = hub(t0);
    let mut fx = Effects::default();
    hub.handle_input(t0, connected(1, "app", Encoding::Amf0), &mut fx);
    hub.handle_input(t0, so(1, "p", true, vec![SoEvent::Use]), &mut fx);
    hub.handle_input(t0 + ms(10), so(1, "p", true, vec![set("a", 1.0)]), &mut fx);
    assert!(fx.store_batch.is_empty());
    // The engine snapshots once per persist interval after the first change.
    let due = t0 + ms(10 + EngineConfig::DEFAULT_PERSIST_INTERVAL_MS);
    assert_eq!(hub.poll_timeout(), Some(due));
    hub.handle_timeout(due - ms(1), &mut fx);
    assert!(fx.store_batch.is_empty());
    hub.handle_timeout(due, &mut fx);
    assert_eq!(saved(&fx.store_batch), [("p".to_string(), 2)]);
    assert!(hub.is_batch_out());
    fx.store_batch.clear();

    // While the batch is out, newer snapshots wait, coalesced.
    hub.handle_input(due, so(1, "p", true, vec![set("a", 2.0)]), &mut fx);
    hub.handle_input(due, so(1, "p", true, vec![set("a", 3.0)]), &mut fx);
    let later = due + ms(EngineConfig::DEFAULT_PERSIST_INTERVAL_MS);
    hub.handle_timeout(later, &mut fx);
    assert!(fx.store_batch.is_empty());
    assert_eq!(hub.pending_store_ops(), 1);
    assert_eq!(hub.poll_timeout(), None);
    hub.handle_store_done(later, Ok(()), &mut fx);
    assert_eq!(saved(&fx.store_batch), [("p".to_string(), 4)]);
}

#[test]
fn failed_ops_are_logged_and_retried() {
    let t0 = epoch();
    let mut hub = Hub::new(
        Engine::new(EngineConfig::default(), ()),
        HubConfig {
            flush_interval: ms(100),
            ..HubConfig::default()
        },
        t0,
    );
    let mut fx = Effects::default();
    hub.handle_input(t0, connected(1, "app", Encoding::Amf0), &mut fx);
    hub.handle_input(
        t0,
        so(1, "p", true, vec![SoEvent::Use, set("a", 1.0)]),
        &mut fx,
    );
    hub.handle_input(t0 + ms(500), Input::Flush, &mut fx);
    assert!(fx.store_batch.is_empty(), "waits the flush interval");
    assert_eq!(hub.poll_timeout(), Some(t0 + ms(600)));
    hub.handle_timeout(t0 + ms(600), &mut fx);
    let batch = std::mem::take(&mut fx.store_batch);
    assert_eq!(saved(&batch), [("p".to_string(), 2)]);
    let failed = |ops| FailedBatch {
        ops,
        error: StoreError::Backend("disk on fire".into()),
    };
    hub.handle_store_done(t0 + ms(650), Err(failed(batch)), &mut fx);
    assert!(matches!(
        fx.events.last(),
        Some(HubEvent::StoreFailed { ops: 1, failures: 1, retry_in, .. })
            if *retry_in == RetryBackoff::DEFAULT_FIRST
    ));
    assert!(fx.store_batch.is_empty());
    // The first backoff step (250 ms), not the flush interval (100 ms).
    assert_eq!(hub.poll_timeout(), Some(t0 + ms(900)));
    hub.handle_timeout(t0 + ms(899), &mut fx);
    assert!(fx.store_batch.is_empty());
    hub.handle_timeout(t0 + ms(900), &mut fx);
    let batch = std::mem::take(&mut fx.store_batch);
    assert_eq!(saved(&batch), [("p".to_string(), 2)]);
    // The second failure waits twice as long; a success ends it.
    hub.handle_store_done(t0 + ms(900), Err(failed(batch)), &mut fx);
    assert_eq!(hub.poll_timeout(), Some(t0 + ms(1400)));
    hub.handle_timeout(t0 + ms(1400), &mut fx);
    assert_eq!(hub.store_failures(), 2);
    hub.handle_store_done(t0 + ms(1400), Ok(()), &mut fx);
    assert!(matches!(
        fx.events.last(),
        Some(HubEvent::StoreRecovered { failures: 2 })
    ));
}

#[test]
fn restored_data_is_served_and_problems_are_logged() {
    let t0 = epoch();
    let mut store = MemoryStore::new();
    let snapshot = Snapshot {
        version: 7,
        values: vec![("a".into(), Value::from("kept"))],
    };
    store.save(&key("p"), &snapshot).unwrap();
    store.insert_raw(key("broken"), b"not a snapshot".to_vec());
    let report = store.load_all().unwrap();

    let mut hub = hub(t0);
    let mut fx = Effects::default();
    hub.handle_restore(t0, report, &mut fx);
    assert!(matches!(
        fx.events.as_slice(),
        [HubEvent::SetAside(_), HubEvent::Restored(1)]
    ));
    hub.handle_input(t0, connected(1, "app", Encoding::Amf0), &mut fx);
    hub.handle_input(t0, so(1, "p", true, vec![SoEvent::Use]), &mut fx);
    let view = hub.engine().view();
    let p = view.shared_object(&key("p")).unwrap();
    assert_eq!((p.version(), p.get("a")), (7, Some(&Value::from("kept"))));
}

#[test]
fn shutdown_disconnects_everyone_and_drains_every_store_op() {
    let t0 = epoch();
    let mut hub = Hub::new(
        Engine::new(EngineConfig::default(), ()),
        HubConfig {
            flush_interval: Duration::from_secs(60),
            ..HubConfig::default()
        },
        t0,
    );
    let mut fx = Effects::default();
    hub.handle_input(t0, connected(1, "app", Encoding::Amf0), &mut fx);
    hub.handle_input(
        t0,
        so(1, "p", true, vec![SoEvent::Use, set("a", 1.0)]),
        &mut fx,
    );
    hub.handle_input(
        t0,
        so(1, "q", true, vec![SoEvent::Use, set("a", 1.0)]),
        &mut fx,
    );
    hub.handle_input(t0 + ms(600), Input::Tick, &mut fx);
    assert!(fx.store_batch.is_empty());
    hub.handle_input(t0 + ms(700), so(1, "p", true, vec![set("a", 2.0)]), &mut fx);
    fx = Effects::default();
    hub.shutdown(t0 + ms(800), &mut fx);
    assert!(fx.deliveries.iter().any(|d| d
        == &Delivery {
            to: ClientId(1).into(),
            command: ClientCommand::Disconnect("the server is shutting down".into()),
            key: None,
        }));
    assert_eq!(
        saved(&fx.store_batch),
        [("p".to_string(), 3), ("q".to_string(), 2)]
    );
    assert_eq!(hub.pending_store_ops(), 0);
}

/// The link's half: connection events become inputs, commands reach the
/// connection, and a server call's id survives the round trip.
#[test]
fn the_link_routes_events_and_maps_call_ids() {
    let t0 = epoch();
    let mut pair = Pair::with_defaults(t0, 5);
    let url = "rtmp://sim.invalid/app/room";
    let params = rtmp_proto::connection::ConnectParams::from_url(url, Encoding::Amf3).unwrap();
    pair.client.connect(pair.now, params).unwrap();
    pair.collect();
    pair.drive();
    let mut link = ClientLink::new(ClientId(3));
    let mut inputs: Vec<Input> = Vec::new();
    for event in pair.take_server_events() {
        inputs.extend(link.handle_event(&mut pair.server, pair.now, event));
    }
    assert_eq!(
        inputs,
        [Input::ClientConnected {
            client: ClientId(3),
            scope: ScopePath::new("app/room").unwrap(),
            encoding: Encoding::Amf3,
            args: vec![],
        }]
    );
    link.handle_command(&mut pair.server, pair.now, ClientCommand::Accept)
        .unwrap();
    let call = ClientCommand::Call {
        call: CallId(42),
        method: "hello".into(),
        args: vec![Value::from("you")],
    };
    link.handle_command(&mut pair.server, pair.now, call)
        .unwrap();
    pair.collect();
    pair.drive();
    let transaction_id = pair
        .take_client_events()
        .into_iter()
        .find_map(|e| match e {
            Event::Call(call) if call.method == "hello" => Some(call.transaction_id),
            _ => None,
        })
        .expect("the call reached the client");
    pair.client
        .reply(pair.now, transaction_id, Value::from("hi"))
        .unwrap();
    // A client SO message and then the close, in order.
    let message = SharedObjectMessage {
        name: "s".into(),
        version: 0,
        persistent: false,
        events: vec![SoEvent::Use],
    };
    pair.client.send_shared_object(pair.now, &message).unwrap();
    pair.collect();
    pair.drive();
    let mut inputs: Vec<Input> = Vec::new();
    for event in pair.take_server_events() {
        inputs.extend(link.handle_event(&mut pair.server, pair.now, event));
    }
    pair.server.close(pair.now);
    while let Some(event) = pair.server.poll_event() {
        inputs.extend(link.handle_event(&mut pair.server, pair.now, event));
    }
    assert_eq!(
        inputs,
        [
            Input::CallResult {
                client: ClientId(3),
                call: CallId(42),
                outcome: Ok(vec![Value::from("hi")]),
            },
            Input::SharedObject {
                client: ClientId(3),
                message
            },
            Input::ClientLeft {
                client: ClientId(3)
            },
        ]
    );
}

#[test]
fn a_connect_to_no_scope_is_rejected_by_the_link() {
    let t0 = epoch();
    let mut pair = Pair::with_defaults(t0, 6);
    let params =
        rtmp_proto::connection::ConnectParams::from_url("rtmp://sim.invalid/..", Encoding::Amf0)
            .unwrap();
    pair.client.connect(pair.now, params).unwrap();
    pair.collect();
    pair.drive();
    let mut link = ClientLink::new(ClientId(1));
    let mut inputs: Vec<Input> = Vec::new();
    for event in pair.take_server_events() {
        inputs.extend(link.handle_event(&mut pair.server, pair.now, event));
    }
    // The rejection closes the connection; the engine never heard of it.
    while let Some(event) = pair.server.poll_event() {
        inputs.extend(link.handle_event(&mut pair.server, pair.now, event));
    }
    assert_eq!(inputs, []);
    assert!(pair.server.is_closed());
}
