//! The behaviour contract (docs/PROTOCOL.md §6), over the wire, with AMF0
//! and AMF3 clients.

use std::collections::BTreeMap;

use bytes::Bytes;
use rtmp_proto::amf::{Encoding, Value};
use rtmp_proto::message::shared_object::SoEvent;
use so_engine::status;

use crate::adapter::Adapter;
use crate::harness::{TempDir, TestServer};
use crate::wire::{TestClient, change, set, status_error};

fn success(key: &str) -> SoEvent {
    SoEvent::Success { key: key.into() }
}

fn remove(key: &str) -> SoEvent {
    SoEvent::Remove { key: key.into() }
}

async fn use_change_success_remove_send_and_versions<R: Adapter>() {
    let dir = TempDir::new();
    let server = TestServer::<R>::start(dir.path()).await;
    let mut a = TestClient::connect(&server.url("app"), Encoding::Amf0);
    let mut b = TestClient::connect(&server.url("app"), Encoding::Amf3);
    let used = a.use_so("doc", false);
    assert_eq!(
        (used.version, used.events.as_slice()),
        (1, &[SoEvent::UseSuccess, SoEvent::Clear][..])
    );
    a.send_so("doc", false, vec![set("k1", 1.0), set("k2", "two")]);
    let answer = a.next_so();
    assert_eq!(
        (answer.version, answer.events),
        (2, vec![success("k1"), success("k2")])
    );

    // USE: the full state in one message, at the current version; again
    // on a second USE.
    for _ in 0..2 {
        let used = b.use_so("doc", false);
        assert_eq!(used.version, 2);
        assert_eq!(
            used.events,
            [
                SoEvent::UseSuccess,
                SoEvent::Clear,
                change("k1", 1.0),
                change("k2", "two")
            ]
        );
    }

    // A write: SUCCESS to the writer, CHANGE to the others, one version.
    b.send_so("doc", false, vec![set("k1", 5.0)]);
    let (to_b, to_a) = (b.next_so(), a.next_so());
    assert_eq!((to_b.version, to_b.events), (3, vec![success("k1")]));
    assert_eq!((to_a.version, to_a.events), (3, vec![change("k1", 5.0)]));

    // The same value again: SUCCESS only, no version bump, nothing to others.
    b.send_so("doc", false, vec![set("k1", 5.0)]);
    let again = b.next_so();
    assert_eq!((again.version, again.events), (3, vec![success("k1")]));
    assert_eq!(a.sync(), []);

    // Null deletes: SUCCESS to the writer, REMOVE to the others.
    a.send_so("doc", false, vec![set("k2", Value::Null)]);
    assert_eq!(a.next_so().events, [success("k2")]);
    let removed = b.next_so();
    assert_eq!((removed.version, removed.events), (4, vec![remove("k2")]));

    // REQUEST_REMOVE: REMOVE to everyone, writer included; a missing key
    // changes nothing.
    a.send_so(
        "doc",
        false,
        vec![SoEvent::RequestRemove { key: "k1".into() }],
    );
    for client in [&mut a, &mut b] {
        let got = client.next_so();
        assert_eq!((got.version, got.events), (5, vec![remove("k1")]));
    }
    a.send_so(
        "doc",
        false,
        vec![SoEvent::RequestRemove { key: "k1".into() }],
    );
    assert_eq!(a.sync(), []);
    assert_eq!(b.sync(), []);

    // SEND_MESSAGE: to every subscriber, the sender included; no attribute.
    let send = SoEvent::SendMessage {
        method: "newMessage".into(),
        args: vec![Value::from("hi"), Value::from(3.0)],
    };
    b.send_so("doc", false, vec![send.clone()]);
    for client in [&mut a, &mut b] {
        assert_eq!(client.next_so().events, std::slice::from_ref(&send));
    }
    let used = b.use_so("doc", false);
    assert_eq!(
        (used.version, used.events),
        (5, vec![SoEvent::UseSuccess, SoEvent::Clear])
    );

    // Unknown event types are skipped by their length.
    let unknown = SoEvent::Unknown {
        kind: 12,
        payload: Bytes::from_static(b"\x01\x02\x03"),
    };
    a.send_so("doc", false, vec![unknown, set("k3", true)]);
    assert_eq!(a.next_so().events, [success("k3")]);
    assert_eq!(b.next_so().events, [change("k3", true)]);
    server.stop().await;
}

async fn versions_never_go_backwards_and_agree<R: Adapter>() {
    let dir = TempDir::new();
    let server = TestServer::<R>::start(dir.path()).await;
    let mut a = TestClient::connect(&server.url("app"), Encoding::Amf0);
    let mut b = TestClient::connect(&server.url("app"), Encoding::Amf3);
    a.use_so("race", false);
    b.use_so("race", false);
    for i in 0..50 {
        a.send_so("race", false, vec![set("x", f64::from(i))]);
        b.send_so("race", false, vec![set("x", f64::from(-i))]);
    }
    // What each client saw: version -> value of x. A SUCCESS stands for
    // the client's own write (one per write, in order); CHANGEs a slow
    // client had not read yet may have been coalesced to the latest.
    // b's round trip follows all of b's writes; a's then follows every
    // write of both; b's second one catches up with a's.
    let mut received = [Vec::new(), b.sync()];
    received[0] = a.sync();
    received[1].extend(b.sync());
    let mut seen = [BTreeMap::new(), BTreeMap::new()];
    for (n, messages) in received.into_iter().enumerate() {
        let sign = if n == 0 { 1.0 } else { -1.0 };
        let mut own_writes = (0..50).map(|i| Value::from(sign * f64::from(i)));
        let mut last = 1;
        for message in messages {
            assert!(message.version >= last, "{} after {last}", message.version);
            last = message.version;
            let [event] = message.events.as_slice() else {
                panic!("{message:?}")
            };
            let value = match event {
                SoEvent::Change { value, .. } => value.clone(),
                SoEvent::Success { .. } => own_writes.next().unwrap(),
                other => panic!("{other:?}"),
            };
            seen[n].insert(message.version, value);
        }
        assert_eq!(own_writes.next(), None, "a write went unanswered");
    }
    // Every update has one version, the same for everyone who saw it.
    for (version, value) in &seen[0] {
        if let Some(other) = seen[1].get(version) {
            assert_eq!(value, other, "version {version}");
        }
    }
    let last = |n: usize| seen[n].last_key_value().map(|(v, x)| (*v, x.clone()));
    assert_eq!(last(0), last(1));
    server.stop().await;
}

async fn messages_for_an_unused_object_never_create_it<R: Adapter>() {
    let dir = TempDir::new();
    let server = TestServer::<R>::start(dir.path()).await;
    let mut a = TestClient::connect(&server.url("app"), Encoding::Amf0);
    a.send_so("ghost", false, vec![set("k", 1.0)]);
    let refused = a.next_so();
    assert_eq!(refused.events, [status_error(status::NO_OBJECT_FOUND)]);
    let mut b = TestClient::connect(&server.url("app"), Encoding::Amf0);
    let used = b.use_so("ghost", false);
    assert_eq!(
        (used.version, used.events),
        (1, vec![SoEvent::UseSuccess, SoEvent::Clear])
    );
    server.stop().await;
}

async fn rooms_are_isolated<R: Adapter>() {
    let dir = TempDir::new();
    let server = TestServer::<R>::start(dir.path()).await;
    let mut r1 = TestClient::connect(&server.url("app/r1"), Encoding::Amf0);
    let mut r2 = TestClient::connect(&server.url("app/r2"), Encoding::Amf0);
    let mut app = TestClient::connect(&server.url("app"), Encoding::Amf0);
    for c in [&mut r1, &mut r2, &mut app] {
        c.use_so("chat", false);
    }
    r1.send_so("chat", false, vec![set("topic", "one")]);
    assert_eq!(r1.next_so().events, [success("topic")]);
    assert_eq!(r2.sync(), []);
    assert_eq!(app.sync(), []);
    let fresh = TestClient::connect(&server.url("app/r2"), Encoding::Amf0).use_so("chat", false);
    assert_eq!(fresh.events, [SoEvent::UseSuccess, SoEvent::Clear]);
    server.stop().await;
}

async fn amf0_and_amf3_clients_share_one_object<R: Adapter>() {
    let dir = TempDir::new();
    let server = TestServer::<R>::start(dir.path()).await;
    let mut amf0 = TestClient::connect(&server.url("app"), Encoding::Amf0);
    let mut amf3 = TestClient::connect(&server.url("app"), Encoding::Amf3);
    amf0.use_so("mixed", true);
    amf3.use_so("mixed", true);
    let object = Value::object([("name", Value::from("ann")), ("age", Value::from(7.0))]);
    amf0.send_so("mixed", true, vec![set("o", object.clone())]);
    assert_eq!(amf0.next_so().events, [success("o")]);
    assert_eq!(amf3.next_so().events, [change("o", object)]);
    // AMF3-only values reach the AMF0 client too (as 0x11 + AMF3).
    let bytes = Value::ByteArray(vec![0, 1, 2, 255]);
    amf3.send_so(
        "mixed",
        true,
        vec![set("b", bytes.clone()), set("i", Value::Integer(-3))],
    );
    assert_eq!(amf3.next_so().events, [success("b"), success("i")]);
    let got = amf0.next_so();
    assert_eq!(got.events[0], change("b", bytes));
    server.stop().await;
}

async fn persistent_objects_survive_a_restart<R: Adapter>() {
    let dir = TempDir::new();
    let values = [
        ("s", Value::from("text")),
        ("n", Value::from(1.5)),
        ("t", Value::from(true)),
        ("a", Value::StrictArray(vec![Value::from(1.0), Value::Null])),
        ("o", Value::object([("x", Value::from(2.0))])),
        ("bytes", Value::ByteArray(vec![1, 2, 3])),
    ];
    let server = TestServer::<R>::start(dir.path()).await;
    let mut c = TestClient::connect(&server.url("app/room"), Encoding::Amf3);
    c.use_so("saved", true);
    c.use_so("cleared", true);
    let events = values.iter().map(|(k, v)| set(k, v.clone())).collect();
    c.send_so("saved", true, events);
    c.next_so();
    c.send_so("cleared", true, vec![set("gone", 1.0)]);
    c.next_so();
    c.send_so(
        "cleared",
        true,
        vec![SoEvent::RequestRemove { key: "gone".into() }],
    );
    c.next_so();
    server.stop().await;

    let server = TestServer::<R>::start(dir.path()).await;
    let mut c = TestClient::connect(&server.url("app/room"), Encoding::Amf0);
    let used = c.use_so("saved", true);
    assert_eq!(used.version, 2);
    let mut expected = vec![SoEvent::UseSuccess, SoEvent::Clear];
    let mut sorted = values.to_vec();
    sorted.sort_by(|x, y| x.0.cmp(y.0));
    expected.extend(sorted.iter().map(|(k, v)| change(k, v.clone())));
    assert_eq!(used.events, expected);
    let cleared = c.use_so("cleared", true);
    assert_eq!(cleared.events, [SoEvent::UseSuccess, SoEvent::Clear]);
    // Persistence is part of the SO: a transient USE is refused.
    let bad = c.use_so("saved", false);
    assert_eq!(bad.events, [status_error(status::BAD_PERSISTENCE)]);
    server.stop().await;
}

suite!(
    use_change_success_remove_send_and_versions,
    versions_never_go_backwards_and_agree,
    messages_for_an_unused_object_never_create_it,
    rooms_are_isolated,
    amf0_and_amf3_clients_share_one_object,
    persistent_objects_survive_a_restart,
);
