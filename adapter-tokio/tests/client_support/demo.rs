//! The client against the real server (`adapter_tokio::Server` with the
//! demo application), over loopback: every demo behaviour, seen through
//! the client library and the CLI.

use std::time::Duration;

use adapter_tokio::client::{Client, ClientError, RemoteEvent};
use adapter_tokio::{Server, ShutdownHandle};
use rtmp_proto::amf::{Encoding, Value};
use so_engine::demo;
use tokio::sync::broadcast;

use super::{TIMEOUT, next, next_update, options, so_client, so_client_binary};

const NO_WRITE_ACCESS: &str = "SharedObject.NoWriteAccess";

/// The demo server on 127.0.0.1:0 with an in-memory store; stops on drop.
struct Demo {
    url: String,
    shutdown: ShutdownHandle,
}

impl Demo {
    async fn start() -> Self {
        let server = Server::builder()
            .bind_addr("127.0.0.1:0")
            .memory_store()
            .demo()
            .bind()
            .await
            .expect("the demo server starts");
        let url = format!("rtmp://{}", server.local_addr());
        let shutdown = server.shutdown_handle();
        tokio::spawn(server.run_until(std::future::pending()));
        Self { url, shutdown }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.url)
    }

    async fn client(&self, path: &str, encoding: Encoding) -> Client {
        Client::connect(&self.url(path), options(encoding))
            .await
            .expect("connects")
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.shutdown.shutdown();
    }
}

/// Waits until `so`'s attribute `key` is `expected`.
async fn until_value(so: &adapter_tokio::client::SharedObject, key: &str, expected: Value) {
    tokio::time::timeout(TIMEOUT, async {
        while so.get(key).as_ref() != Some(&expected) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{key} never became {expected:?}: {:?}", so.snapshot()));
}

#[tokio::test]
async fn demo_client_created_sos_work_both_ways() {
    let server = Demo::start().await;
    let alice = server.client("chat/room1", Encoding::Amf3).await;
    let bob = server.client("chat/room1", Encoding::Amf0).await;
    assert_eq!(alice.encoding(), Encoding::Amf3);
    assert_eq!(bob.encoding(), Encoding::Amf0);
    let a = alice.shared_object("board", false).await.expect("use");
    let b = bob.shared_object("board", false).await.expect("use");
    assert!(a.snapshot().is_empty());
    let mut b_events = b.events();
    let first = next_update(&mut b_events).await;
    assert_eq!(first[..2], [RemoteEvent::Connected, RemoteEvent::Cleared]);

    a.set("topic", "hello").await.expect("accepted");
    let version = a.version();
    assert_eq!(
        next_update(&mut b_events).await,
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
        next(&mut b_events).await,
        RemoteEvent::Message {
            method: "newMessage".into(),
            args
        }
    );

    assert!(a.remove("topic").await.expect("removed"));
    assert_eq!(
        next_update(&mut b_events).await,
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
    let carol = server.client("chat/room2", Encoding::Amf3).await;
    a.set("here", true).await.expect("accepted");
    let c = carol.shared_object("board", false).await.expect("use");
    assert_eq!(c.get("here"), None);
    for client in [alice, bob, carol] {
        client.close().await;
    }
}

#[tokio::test]
async fn demo_refusals_reach_the_client_as_errors() {
    let server = Demo::start().await;
    let rejected = Client::connect(&server.url(demo::REJECTED_APP), options(Encoding::Amf0)).await;
    assert!(
        matches!(&rejected, Err(ClientError::Rejected(d)) if d == demo::REJECT_REASON),
        "{rejected:?}"
    );

    let client = server.client("app", Encoding::Amf3).await;
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

#[tokio::test]
async fn demo_presence_counts_subscribers() {
    let server = Demo::start().await;
    let alice = server.client("app", Encoding::Amf0).await;
    let a = alice
        .shared_object(demo::PRESENCE, false)
        .await
        .expect("use");
    until_value(&a, "count", Value::Number(1.0)).await;
    let bob = server.client("app", Encoding::Amf3).await;
    let b = bob.shared_object(demo::PRESENCE, false).await.expect("use");
    until_value(&a, "count", Value::Number(2.0)).await;
    until_value(&b, "count", Value::Number(2.0)).await;
    b.release().await.expect("released");
    until_value(&a, "count", Value::Number(1.0)).await;
    bob.close().await;
    // After everyone left, the SO is rebuilt and counts again.
    alice.close().await;
    let carol = server.client("app", Encoding::Amf3).await;
    let c = carol
        .shared_object(demo::PRESENCE, false)
        .await
        .expect("use");
    until_value(&c, "count", Value::Number(1.0)).await;
    carol.close().await;
}

#[tokio::test]
async fn demo_echo_handler_sets_last_before_the_broadcast() {
    let server = Demo::start().await;
    let client = server.client("app", Encoding::Amf3).await;
    let so = client.shared_object(demo::ECHO, false).await.expect("use");
    let mut events = so.events();
    next_update(&mut events).await;
    so.send("say", vec![Value::from("hi")])
        .await
        .expect("echoed");
    let mut seen = Vec::new();
    loop {
        let event = next(&mut events).await;
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

#[tokio::test]
async fn demo_calls() {
    let server = Demo::start().await;
    let client = server.client("app", Encoding::Amf0).await;
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

#[tokio::test]
async fn demo_persistent_values_outlive_their_clients() {
    let server = Demo::start().await;
    let writer = server.client("app", Encoding::Amf3).await;
    let so = writer.shared_object("scores", true).await.expect("use");
    so.set("best", 99.0).await.expect("accepted");
    writer.close().await;
    let reader = server.client("app", Encoding::Amf0).await;
    let so = reader.shared_object("scores", true).await.expect("use");
    assert_eq!(so.get("best"), Some(Value::Number(99.0)));
    let other = reader.shared_object("scores", false).await;
    assert!(matches!(other, Err(ClientError::NotInUse(_))), "{other:?}");
    reader.close().await;
}

#[tokio::test]
async fn demo_server_shutdown_closes_the_client() {
    let server = Demo::start().await;
    let client = server.client("app", Encoding::Amf3).await;
    let so = client.shared_object("board", false).await.expect("use");
    let mut events = so.events();
    next_update(&mut events).await;
    drop(server);
    let reason = tokio::time::timeout(TIMEOUT, client.closed())
        .await
        .expect("closed in time");
    assert!(matches!(reason, ClientError::Disconnected), "{reason:?}");
    assert!(matches!(
        events.recv().await,
        Err(broadcast::error::RecvError::Closed)
    ));
}

#[tokio::test]
async fn demo_cli_end_to_end() {
    let Some(binary) = so_client_binary() else {
        eprintln!("so-client example not built: run `cargo test -p adapter-tokio`");
        return;
    };
    let server = Demo::start().await;
    let url = server.url("app");
    assert_eq!(
        so_client(
            &binary,
            &[&url, "--so", "board", "--persistent", "set", "n=1"]
        )
        .await,
        (0, "success n\n".to_owned())
    );
    assert_eq!(
        so_client(
            &binary,
            &[
                &url,
                "--so",
                "board",
                "--persistent",
                "set",
                r#"who={"b":"x","a":[1,2]}"#
            ]
        )
        .await,
        (0, "success who\n".to_owned())
    );
    assert_eq!(
        so_client(
            &binary,
            &[&url, "--so", "board", "--persistent", "--amf0", "dump"]
        )
        .await,
        (0, "n=1\nwho={\"b\":\"x\",\"a\":[1,2]}\n".to_owned())
    );
    assert_eq!(
        so_client(&binary, &[&url, "--so", "readonly.x", "set", "n=1"]).await,
        (3, format!("reject n {NO_WRITE_ACCESS}\n"))
    );
    assert_eq!(
        so_client(&binary, &[&url, "--so", "forbidden.x", "dump"])
            .await
            .0,
        3
    );
    assert_eq!(
        so_client(&binary, &[&url, "call", "echo", "7"]).await,
        (0, "result [7]\n".to_owned())
    );
}
