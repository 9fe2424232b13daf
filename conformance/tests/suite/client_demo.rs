//! Each adapter's client library against its own server with the demo
//! application, over loopback: every demo behaviour, seen through the
//! client library.

use std::time::{Duration, Instant};

use adapter_core::client::{Client, ClientError, ClientOptions, RemoteEvent, SharedObject};
use adapter_core::{Received, sleep, until};
use app_cli::demo;
use rtmp_proto::amf::{Encoding, Value};

use crate::adapter::{Adapter, PATIENCE, next, next_update, received};
use crate::harness::TestServer;

const NO_WRITE_ACCESS: &str = "SharedObject.NoWriteAccess";

fn options(encoding: Encoding) -> ClientOptions {
    ClientOptions {
        encoding,
        timeout: PATIENCE,
        ..ClientOptions::default()
    }
}

/// A client of `server` at `path`.
async fn client<R: Adapter>(server: &TestServer<R>, path: &str, encoding: Encoding) -> Client<R> {
    Client::<R>::connect(&server.url(path), options(encoding))
        .await
        .expect("connects")
}

/// Waits until `so`'s attribute `key` is `expected`.
async fn until_value<R: Adapter>(so: &SharedObject<R>, key: &str, expected: Value) {
    until::<R, _>(Instant::now() + PATIENCE, async {
        while so.get(key).as_ref() != Some(&expected) {
            sleep::<R>(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|| panic!("{key} never became {expected:?}: {:?}", so.snapshot()));
}

async fn demo_client_created_sos_work_both_ways<R: Adapter>() {
    let server = TestServer::<R>::in_memory().await;
    let alice = client::<R>(&server, "chat/room1", Encoding::Amf3).await;
    let bob = client::<R>(&server, "chat/room1", Encoding::Amf0).await;
    assert_eq!(alice.encoding(), Encoding::Amf3);
    assert_eq!(bob.encoding(), Encoding::Amf0);
    let a = alice.shared_object("board", false).await.expect("use");
    let b = bob.shared_object("board", false).await.expect("use");
    assert!(a.snapshot().is_empty());
    let mut b_events = b.events();
    let first = next_update::<R>(&mut b_events).await;
    assert_eq!(first[..2], [RemoteEvent::Connected, RemoteEvent::Cleared]);

    a.set("topic", "hello").await.expect("accepted");
    let version = a.version();
    assert_eq!(
        next_update::<R>(&mut b_events).await,
        [
            RemoteEvent::Changed {
                key: "topic".into(),
                value: Value::from("hello")
            },
            RemoteEvent::Version(version)
        ]
    );
    // Same value again: confirmed, no new version.
    a.set("topic", "hello").await.expect("accepted");
    assert_eq!(a.version(), version);

    let args = vec![Value::from("hi"), Value::Number(1.0)];
    a.send("newMessage", args.clone()).await.expect("echoed");
    assert_eq!(
        next::<R>(&mut b_events).await,
        RemoteEvent::Message {
            method: "newMessage".into(),
            args
        }
    );

    assert!(a.remove("topic").await.expect("removed"));
    assert_eq!(
        next_update::<R>(&mut b_events).await,
        [
            RemoteEvent::Removed {
                key: "topic".into()
            },
            RemoteEvent::Version(version + 1)
        ]
    );
    assert!(!a.remove("topic").await.expect("nothing to remove"));
    assert_eq!(b.snapshot(), a.snapshot());

    // Rooms are isolated: the same name elsewhere is another SO.
    let carol = client::<R>(&server, "chat/room2", Encoding::Amf3).await;
    a.set("here", true).await.expect("accepted");
    let c = carol.shared_object("board", false).await.expect("use");
    assert_eq!(c.get("here"), None);
    for client in [alice, bob, carol] {
        client.close().await;
    }
}

async fn demo_refusals_reach_the_client_as_errors<R: Adapter>() {
    let server = TestServer::<R>::in_memory().await;
    let rejected =
        Client::<R>::connect(&server.url(demo::REJECTED_APP), options(Encoding::Amf0)).await;
    assert!(
        matches!(&rejected, Err(ClientError::Rejected(d)) if d == demo::REJECT_REASON),
        "{rejected:?}"
    );

    let client = client::<R>(&server, "app", Encoding::Amf3).await;
    for (name, code) in [
        ("forbidden.x", "SharedObject.ObjectCreationFailed"),
        ("private.x", "SharedObject.NoReadAccess"),
    ] {
        let refused = client.shared_object(name, false).await;
        assert!(
            matches!(&refused, Err(ClientError::Denied { code: c }) if c == code),
            "{name}: {refused:?}"
        );
    }

    let so = client
        .shared_object("readonly.news", false)
        .await
        .expect("use");
    let set = so.set("headline", "mine").await;
    assert!(
        matches!(&set, Err(ClientError::Denied { code }) if code == NO_WRITE_ACCESS),
        "{set:?}"
    );
    assert_eq!(so.get("headline"), None, "rolled back");
    let send = so.send("shout", vec![]).await;
    assert!(
        matches!(&send, Err(ClientError::Denied { code }) if code == NO_WRITE_ACCESS),
        "{send:?}"
    );
    // The connection carries on after refusals.
    assert_eq!(
        client
            .call("echo", vec![Value::from("still here")])
            .await
            .expect("result"),
        [Value::from("still here")]
    );
    client.close().await;
}

async fn demo_presence_counts_subscribers<R: Adapter>() {
    let server = TestServer::<R>::in_memory().await;
    let alice = client::<R>(&server, "app", Encoding::Amf0).await;
    let a = alice
        .shared_object(demo::PRESENCE, false)
        .await
        .expect("use");
    until_value::<R>(&a, "count", Value::Number(1.0)).await;
    let bob = client::<R>(&server, "app", Encoding::Amf3).await;
    let b = bob.shared_object(demo::PRESENCE, false).await.expect("use");
    until_value::<R>(&a, "count", Value::Number(2.0)).await;
    until_value::<R>(&b, "count", Value::Number(2.0)).await;
    b.release().await.expect("released");
    until_value::<R>(&a, "count", Value::Number(1.0)).await;
    bob.close().await;
    // After everyone left, the SO is rebuilt and counts again.
    alice.close().await;
    let carol = client::<R>(&server, "app", Encoding::Amf3).await;
    let c = carol
        .shared_object(demo::PRESENCE, false)
        .await
        .expect("use");
    until_value::<R>(&c, "count", Value::Number(1.0)).await;
    carol.close().await;
}

async fn demo_echo_handler_sets_last_before_the_broadcast<R: Adapter>() {
    let server = TestServer::<R>::in_memory().await;
    let client = client::<R>(&server, "app", Encoding::Amf3).await;
    let so = client.shared_object(demo::ECHO, false).await.expect("use");
    let mut events = so.events();
    next_update::<R>(&mut events).await;
    so.send("say", vec![Value::from("hi")])
        .await
        .expect("echoed");
    let mut seen = Vec::new();
    loop {
        let event = next::<R>(&mut events).await;
        let done = matches!(event, RemoteEvent::Message { .. });
        seen.push(event);
        if done {
            break;
        }
    }
    let last = seen
        .iter()
        .position(|e| matches!(e, RemoteEvent::Changed { key, .. } if key == "last"));
    assert!(last.is_some(), "{seen:?}");
    assert_eq!(so.get("last"), Some(Value::from("hi")));
    client.close().await;
}

async fn demo_calls<R: Adapter>() {
    let server = TestServer::<R>::in_memory().await;
    let client = client::<R>(&server, "app", Encoding::Amf0).await;
    assert_eq!(
        client
            .call("echo", vec![Value::Number(1.0)])
            .await
            .expect("result"),
        [Value::Number(1.0)]
    );
    assert_eq!(
        client
            .call("echo", vec![Value::Number(1.0), Value::from("b")])
            .await
            .expect("result"),
        [Value::StrictArray(vec![
            Value::Number(1.0),
            Value::from("b")
        ])]
    );
    let failed = client.call("nothing", vec![]).await.expect_err("_error");
    assert_eq!(failed.code(), Some("NetConnection.Call.Failed"));
    client.close().await;
}

async fn demo_persistent_values_outlive_their_clients<R: Adapter>() {
    let server = TestServer::<R>::in_memory().await;
    let writer = client::<R>(&server, "app", Encoding::Amf3).await;
    let so = writer.shared_object("scores", true).await.expect("use");
    so.set("best", 99.0).await.expect("accepted");
    writer.close().await;
    let reader = client::<R>(&server, "app", Encoding::Amf0).await;
    let so = reader.shared_object("scores", true).await.expect("use");
    assert_eq!(so.get("best"), Some(Value::Number(99.0)));
    let other = reader.shared_object("scores", false).await;
    assert!(matches!(other, Err(ClientError::NotInUse(_))), "{other:?}");
    reader.close().await;
}

async fn demo_server_shutdown_closes_the_client<R: Adapter>() {
    let server = TestServer::<R>::in_memory().await;
    let client = client::<R>(&server, "app", Encoding::Amf3).await;
    let so = client.shared_object("board", false).await.expect("use");
    let mut events = so.events();
    next_update::<R>(&mut events).await;
    drop(server);
    let reason = until::<R, _>(Instant::now() + PATIENCE, client.closed())
        .await
        .expect("closed in time");
    assert!(matches!(reason, ClientError::Disconnected), "{reason:?}");
    assert_eq!(received::<R>(&mut events).await, Received::Closed);
}

suite!(
    demo_client_created_sos_work_both_ways,
    demo_refusals_reach_the_client_as_errors,
    demo_presence_counts_subscribers,
    demo_echo_handler_sets_last_before_the_broadcast,
    demo_calls,
    demo_persistent_values_outlive_their_clients,
    demo_server_shutdown_closes_the_client,
);
