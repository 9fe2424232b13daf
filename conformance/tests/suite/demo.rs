//! Every behaviour of the demo application, over the wire.

use app_cli::demo;
use rtmp_proto::amf::{Encoding, Value};
use rtmp_proto::connection::{CloseReason, Event};
use rtmp_proto::message::shared_object::SoEvent;
use so_engine::status;

use crate::adapter::Adapter;
use crate::harness::{TempDir, TestServer};
use crate::wire::{TestClient, change, set, status_error};

async fn the_application_reject_is_rejected_and_any_other_accepted<R: Adapter>() {
    let dir = TempDir::new();
    let server = TestServer::<R>::start(dir.path()).await;
    let mut rejected = TestClient::start(&server.url("reject"), Encoding::Amf0);
    assert_eq!(
        rejected.next_event(),
        Event::Closed(CloseReason::Rejected(demo::REJECT_REASON.into()))
    );
    let mut in_room = TestClient::start(&server.url("reject/room"), Encoding::Amf0);
    assert!(matches!(
        in_room.next_event(),
        Event::Closed(CloseReason::Rejected(_))
    ));
    for app in ["chat", "any/room/deep", "x"] {
        TestClient::connect(&server.url(app), Encoding::Amf3);
    }
    server.stop().await;
}

async fn prefixes_deny_creation_use_and_writes_with_rollback<R: Adapter>() {
    let dir = TempDir::new();
    let server = TestServer::<R>::start(dir.path()).await;
    let mut c = TestClient::connect(&server.url("app"), Encoding::Amf0);

    let denied = c.use_so("forbidden.x", false);
    assert_eq!(denied.events, [status_error(status::CREATION_FAILED)]);
    let denied = c.use_so("private.x", true);
    assert_eq!(denied.events, [status_error(status::NO_READ_ACCESS)]);

    // readonly.*: USE works, writes are refused and rolled back.
    let used = c.use_so("readonly.news", false);
    assert_eq!(used.events, [SoEvent::UseSuccess, SoEvent::Clear]);
    c.send_so("readonly.news", false, vec![set("k", "v")]);
    let refused = c.next_so();
    assert_eq!(
        refused.events,
        [
            status_error(status::NO_WRITE_ACCESS),
            SoEvent::Remove { key: "k".into() }
        ]
    );
    // Removing a key that is not there is still a delete the security
    // check is asked about: refused, with REMOVE as the authoritative state.
    c.send_so(
        "readonly.news",
        false,
        vec![SoEvent::RequestRemove { key: "k".into() }],
    );
    let refused = c.next_so();
    assert_eq!(
        refused.events,
        [
            status_error(status::NO_WRITE_ACCESS),
            SoEvent::Remove { key: "k".into() }
        ]
    );
    let say = SoEvent::SendMessage {
        method: "m".into(),
        args: vec![Value::from("x")],
    };
    c.send_so("readonly.news", false, vec![say]);
    let refused = c.next_so();
    assert_eq!(refused.events, [status_error(status::NO_WRITE_ACCESS)]);
    // Nothing else arrives: an echo proves the order.
    assert_eq!(
        c.call("echo", vec![Value::from(1.0)]),
        Ok(vec![Value::from(1.0)])
    );
    server.stop().await;
}

async fn presence_counts_subscribers_across_recreations<R: Adapter>() {
    let dir = TempDir::new();
    let server = TestServer::<R>::start(dir.path()).await;
    for round in 0..3 {
        // The last round's clients left by closing their sockets; the
        // server notices in its own time.
        let mut a = TestClient::connect(&server.url("app/lobby"), Encoding::Amf0);
        alone_in_presence(&mut a);
        let mut b = TestClient::connect(&server.url("app/lobby"), Encoding::Amf3);
        let second = b.use_so(demo::PRESENCE, false);
        assert_eq!(
            second.events.last(),
            Some(&change("count", 2.0)),
            "round {round}"
        );
        assert_eq!(a.next_so().events, [change("count", 2.0)]);
        b.send_so(demo::PRESENCE, false, vec![SoEvent::Release]);
        assert_eq!(a.next_so().events, [change("count", 1.0)]);
        // Every client leaves: the SO is destroyed, the room stops.
        drop((a, b));
    }
    server.stop().await;
}

/// USEs the presence SO until this client is its only subscriber (clients
/// of an earlier round may still be leaving).
fn alone_in_presence(client: &mut TestClient) {
    for _ in 0..100 {
        let used = client.use_so(demo::PRESENCE, false);
        let count = used.events.last().cloned();
        if count == Some(change("count", 1.0)) {
            return;
        }
        client.send_so(demo::PRESENCE, false, vec![SoEvent::Release]);
        client.sync();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("the presence count never came down to 1");
}

async fn say_sets_last_before_the_broadcast<R: Adapter>() {
    let dir = TempDir::new();
    let server = TestServer::<R>::start(dir.path()).await;
    let mut a = TestClient::connect(&server.url("app"), Encoding::Amf0);
    let mut b = TestClient::connect(&server.url("app"), Encoding::Amf3);
    a.use_so(demo::ECHO, false);
    b.use_so(demo::ECHO, false);
    let say = SoEvent::SendMessage {
        method: "say".into(),
        args: vec![Value::from("hello")],
    };
    a.send_so(demo::ECHO, false, vec![say.clone()]);
    for client in [&mut a, &mut b] {
        let got = client.next_so();
        assert_eq!(got.events, [change("last", "hello"), say.clone()]);
        assert_eq!(got.version, 2);
    }
    // A late subscriber finds `last` in the state.
    let mut c = TestClient::connect(&server.url("app"), Encoding::Amf0);
    let used = c.use_so(demo::ECHO, false);
    assert_eq!(
        used.events,
        [SoEvent::UseSuccess, SoEvent::Clear, change("last", "hello")]
    );
    server.stop().await;
}

async fn echo_returns_its_arguments_and_other_calls_fail<R: Adapter>() {
    let dir = TempDir::new();
    let server = TestServer::<R>::start(dir.path()).await;
    for encoding in [Encoding::Amf0, Encoding::Amf3] {
        let mut c = TestClient::connect(&server.url("app"), encoding);
        let object = Value::object([("a", Value::from(1.0)), ("b", Value::from("x"))]);
        assert_eq!(
            c.call("echo", vec![object.clone()]),
            Ok(vec![object.clone()])
        );
        assert_eq!(
            c.call("echo", vec![Value::from("x"), Value::from(2.0)]),
            Ok(vec![Value::StrictArray(vec![
                Value::from("x"),
                Value::from(2.0)
            ])])
        );
        assert_eq!(c.call("echo", vec![]), Ok(vec![Value::Null]));
        let Err(info) = c.call("nothing", vec![Value::from(1.0)]) else {
            panic!("an unknown method succeeded");
        };
        assert_eq!(
            info.property("code"),
            Some(&Value::from("NetConnection.Call.Failed"))
        );
        assert_eq!(info.property("level"), Some(&Value::from("error")));
    }
    server.stop().await;
}

suite!(
    the_application_reject_is_rejected_and_any_other_accepted,
    prefixes_deny_creation_use_and_writes_with_rollback,
    presence_counts_subscribers_across_recreations,
    say_sets_last_before_the_broadcast,
    echo_returns_its_arguments_and_other_calls_fail,
);
