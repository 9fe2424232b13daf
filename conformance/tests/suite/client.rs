//! Each adapter's client library over real loopback sockets, against a
//! small in-test server built on `Connection` ([`crate::mini_server`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use adapter_core::client::{Client, ClientError, ClientOptions, RemoteEvent, SharedObject};
use adapter_core::{Received, sleep, until};
use rtmp_proto::amf::{Encoding, Str, Value};

use crate::adapter::{Adapter, next, next_update, received};
use crate::mini_server::{MiniServer, NO_READ_ACCESS, NO_WRITE_ACCESS};

/// Every wait in these tests: generous for a loaded machine, short enough
/// that a hang fails quickly.
const TIMEOUT: Duration = Duration::from_secs(5);

fn options(encoding: Encoding) -> ClientOptions {
    ClientOptions {
        encoding,
        timeout: TIMEOUT,
        ..ClientOptions::default()
    }
}

fn chat_server() -> MiniServer {
    MiniServer::start(&[
        ("chat", "topic", Value::from("hi")),
        ("chat", "locked", Value::from("x")),
    ])
}

async fn connect<R: Adapter>(server: &MiniServer, encoding: Encoding) -> Client<R> {
    Client::<R>::connect(&server.url("app/room"), options(encoding))
        .await
        .expect("connects")
}

fn changed(key: &str, value: impl Into<Value>) -> RemoteEvent {
    RemoteEvent::Changed {
        key: key.into(),
        value: value.into(),
    }
}

fn denied(code: &str) -> impl Fn(&Result<(), ClientError>) -> bool + '_ {
    move |r| matches!(r, Err(ClientError::Denied { code: c }) if c == code)
}

fn state<R: Adapter>(so: &SharedObject<R>) -> Vec<(String, Value)> {
    so.snapshot()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

async fn use_gives_the_state_in_both_encodings<R: Adapter>() {
    for encoding in [Encoding::Amf0, Encoding::Amf3] {
        let server = chat_server();
        let client = connect::<R>(&server, encoding).await;
        assert_eq!(client.encoding(), encoding);
        assert_eq!(
            client
                .server_info()
                .property("code")
                .and_then(Value::as_str),
            Some("NetConnection.Connect.Success")
        );
        let so = client.shared_object("chat", false).await.expect("use");
        assert!(so.is_connected());
        assert_eq!(so.version(), 1);
        assert_eq!(
            state(&so),
            [
                ("locked".to_owned(), Value::from("x")),
                ("topic".to_owned(), Value::from("hi"))
            ]
        );
        let mut events = so.events();
        assert_eq!(
            next_update::<R>(&mut events).await,
            [
                RemoteEvent::Connected,
                RemoteEvent::Cleared,
                changed("locked", "x"),
                changed("topic", "hi"),
                RemoteEvent::Version(1),
            ]
        );
        client.close().await;
    }
}

async fn set_is_confirmed_and_reaches_the_others<R: Adapter>() {
    let server = chat_server();
    let alice = connect::<R>(&server, Encoding::Amf3).await;
    let bob = connect::<R>(&server, Encoding::Amf0).await;
    let a = alice.shared_object("chat", false).await.expect("use");
    let b = bob.shared_object("chat", false).await.expect("use");
    let mut b_events = b.events();
    next_update::<R>(&mut b_events).await; // the USE answer

    a.set("score", 42.0).await.expect("accepted");
    assert_eq!(a.get("score"), Some(Value::Number(42.0)));
    assert_eq!(a.version(), 2);
    assert_eq!(server.value("chat", "score"), Some(Value::Number(42.0)));
    assert_eq!(
        next_update::<R>(&mut b_events).await,
        [changed("score", 42.0), RemoteEvent::Version(2)]
    );
    assert_eq!(b.get("score"), Some(Value::Number(42.0)));

    // Writing the same value again: confirmed, no version bump, nothing to Bob.
    a.set("score", 42.0).await.expect("accepted");
    assert_eq!(a.version(), 2);
    // A null value deletes.
    a.set("score", Value::Null).await.expect("accepted");
    assert_eq!(a.get("score"), None);
    assert_eq!(
        next_update::<R>(&mut b_events).await,
        [
            RemoteEvent::Removed {
                key: "score".into()
            },
            RemoteEvent::Version(3)
        ]
    );
    alice.close().await;
    bob.close().await;
}

async fn denied_write_fails_with_the_code_and_rolls_back<R: Adapter>() {
    let server = chat_server();
    let client = connect::<R>(&server, Encoding::Amf3).await;
    let so = client.shared_object("chat", false).await.expect("use");
    let mut events = so.events();
    next_update::<R>(&mut events).await;

    let outcome = so.set("locked", "mine").await;
    assert!(denied(NO_WRITE_ACCESS)(&outcome), "{outcome:?}");
    assert_eq!(outcome.unwrap_err().code(), Some(NO_WRITE_ACCESS));
    assert_eq!(so.get("locked"), Some(Value::from("x")), "rolled back");
    assert_eq!(
        [
            next::<R>(&mut events).await,
            next::<R>(&mut events).await,
            next::<R>(&mut events).await
        ],
        [
            RemoteEvent::Status {
                code: NO_WRITE_ACCESS.into(),
                level: "error".into()
            },
            changed("locked", "x"),
            RemoteEvent::Rejected {
                key: "locked".into(),
                code: NO_WRITE_ACCESS.into()
            },
        ]
    );

    let outcome = so.remove("locked").await;
    assert!(
        matches!(&outcome, Err(ClientError::Denied { code }) if code == NO_WRITE_ACCESS),
        "{outcome:?}"
    );
    assert_eq!(so.get("locked"), Some(Value::from("x")), "rolled back");
    assert_eq!(server.value("chat", "locked"), Some(Value::from("x")));
    client.close().await;
}

async fn remove_is_confirmed_and_a_missing_key_resolves_at_once<R: Adapter>() {
    let server = chat_server();
    let alice = connect::<R>(&server, Encoding::Amf0).await;
    let bob = connect::<R>(&server, Encoding::Amf3).await;
    let a = alice.shared_object("chat", false).await.expect("use");
    let b = bob.shared_object("chat", false).await.expect("use");
    let mut b_events = b.events();
    next_update::<R>(&mut b_events).await;

    assert!(a.remove("topic").await.expect("removed"));
    assert_eq!(a.get("topic"), None);
    assert_eq!(server.value("chat", "topic"), None);
    assert_eq!(
        next_update::<R>(&mut b_events).await,
        [
            RemoteEvent::Removed {
                key: "topic".into()
            },
            RemoteEvent::Version(2)
        ]
    );
    assert!(!a.remove("topic").await.expect("nothing to do"));
    assert!(!a.remove("never").await.expect("nothing to do"));
    // The connection still answers in order afterwards.
    a.set("after", true).await.expect("accepted");
    assert_eq!(server.value("chat", "after"), Some(Value::Bool(true)));
    alice.close().await;
    bob.close().await;
}

async fn send_reaches_everyone_and_a_denied_send_fails<R: Adapter>() {
    let server = chat_server();
    let alice = connect::<R>(&server, Encoding::Amf3).await;
    let bob = connect::<R>(&server, Encoding::Amf0).await;
    let a = alice.shared_object("chat", false).await.expect("use");
    let b = bob.shared_object("chat", false).await.expect("use");
    let mut a_events = a.events();
    let mut b_events = b.events();
    next_update::<R>(&mut a_events).await;
    next_update::<R>(&mut b_events).await;

    let args = vec![Value::from("hello"), Value::Number(7.0)];
    a.send("newMessage", args.clone()).await.expect("echoed");
    let message = RemoteEvent::Message {
        method: "newMessage".into(),
        args,
    };
    assert_eq!(next::<R>(&mut a_events).await, message);
    assert_eq!(next::<R>(&mut b_events).await, message);
    assert_eq!(a.get("newMessage"), None, "a send creates no attribute");

    let outcome = a.send("forbidden", vec![]).await;
    assert!(denied(NO_WRITE_ACCESS)(&outcome), "{outcome:?}");
    alice.close().await;
    bob.close().await;
}

async fn concurrent_writes_converge<R: Adapter>() {
    let server = MiniServer::start(&[]);
    let mut clients = Vec::new();
    let mut sos = Vec::new();
    for i in 0..3 {
        let encoding = if i % 2 == 0 {
            Encoding::Amf0
        } else {
            Encoding::Amf3
        };
        let client = connect::<R>(&server, encoding).await;
        sos.push(client.shared_object("board", true).await.expect("use"));
        clients.push(client);
    }
    let writes = sos.iter().enumerate().map(|(i, so)| async move {
        for round in 0..20 {
            let value = Value::Number((i * 100 + round) as f64);
            so.set(format!("k{}", round % 4), value)
                .await
                .expect("accepted");
        }
    });
    futures_join_all(writes).await;
    // One more confirmed write from each client: every earlier update has
    // reached every client before the server answered it.
    for so in &sos {
        so.set("fence", true).await.expect("accepted");
    }
    let final_version = server.version("board");
    for so in &sos {
        until::<R, _>(Instant::now() + TIMEOUT, async {
            while so.version() != final_version {
                sleep::<R>(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("every client reaches the final version");
    }
    let expected: BTreeMap<Str, Value> = (0..4)
        .map(|k| format!("k{k}"))
        .chain(["fence".to_owned()])
        .filter_map(|k| server.value("board", &k).map(|v| (Str::from(k), v)))
        .collect();
    assert_eq!(expected.len(), 5);
    for so in &sos {
        assert_eq!(so.snapshot(), expected);
    }
    for client in clients {
        client.close().await;
    }
}

/// `join_all` without a futures dependency: spawn-free, polls all in turn.
async fn futures_join_all<F: Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let mut futures: Vec<_> = futures.map(Box::pin).collect();
    std::future::poll_fn(move |cx| {
        futures.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if futures.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}

async fn calls_return_results_and_errors<R: Adapter>() {
    let server = chat_server();
    let client = connect::<R>(&server, Encoding::Amf3).await;
    assert_eq!(
        client
            .call("echo", vec![Value::Number(42.0)])
            .await
            .expect("result"),
        [Value::Number(42.0)]
    );
    assert_eq!(
        client
            .call("echo", vec![Value::Number(1.0), Value::from("a")])
            .await
            .expect("result"),
        [Value::StrictArray(vec![
            Value::Number(1.0),
            Value::from("a")
        ])]
    );
    let failed = client.call("nope", vec![]).await;
    assert!(
        matches!(&failed, Err(ClientError::CallFailed(_))),
        "{failed:?}"
    );
    assert_eq!(
        failed.unwrap_err().code(),
        Some("NetConnection.Call.Failed")
    );
    client.close().await;
}

async fn server_calls_are_answered_by_the_application<R: Adapter>() {
    let server = chat_server();
    let client = connect::<R>(&server, Encoding::Amf0).await;
    // Nobody takes calls yet: the server's question gets `_error`.
    let unanswered = client.call("askme", vec![Value::Number(21.0)]).await;
    assert_eq!(
        unanswered.unwrap_err().code(),
        Some("NetConnection.Call.Failed")
    );

    let mut calls = client.incoming_calls(4);
    let (done, answered) = std::sync::mpsc::channel();
    R::spawn(async move {
        let call = R::next_call(&mut calls).await.expect("a call");
        assert_eq!(call.method, "question");
        assert!(call.expects_answer());
        let n = call.args.first().and_then(Value::as_f64).unwrap_or(0.0);
        call.reply(Value::Number(n * 2.0));
        // A dropped call is answered with `_error` by itself.
        let dropped = R::next_call(&mut calls).await.expect("a second call");
        drop(dropped);
        let _ = done.send(());
    });
    let answer = client.call("askme", vec![Value::Number(21.0)]).await;
    assert_eq!(answer.expect("result"), [Value::Number(42.0)]);
    let dropped = client.call("askme", vec![]).await;
    assert_eq!(
        dropped.unwrap_err().code(),
        Some("NetConnection.Call.Failed")
    );
    answered.recv_timeout(TIMEOUT).expect("the answering task");
    client.close().await;
}

async fn connect_failures_say_what_went_wrong<R: Adapter>() {
    // Refused: a port nobody listens on any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let refused = Client::<R>::connect(
        &format!("rtmp://127.0.0.1:{port}/app"),
        options(Encoding::Amf0),
    )
    .await;
    assert!(
        matches!(&refused, Err(ClientError::Connect { addr, .. }) if *addr == format!("127.0.0.1:{port}")),
        "{refused:?}"
    );

    // Rejected, with the server's description.
    let server = chat_server();
    let rejected = Client::<R>::connect(&server.url("reject"), options(Encoding::Amf3)).await;
    assert!(
        matches!(&rejected, Err(ClientError::Rejected(d)) if d == "no entry"),
        "{rejected:?}"
    );

    // A server that accepts TCP and says nothing: the handshake times out.
    // (The kernel completes the TCP handshake for the listen backlog.)
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("rtmp://{}/app", silent.local_addr().expect("address"));
    let quick = ClientOptions {
        timeout: Duration::from_millis(300),
        ..ClientOptions::default()
    };
    let timed_out = Client::<R>::connect(&url, quick).await;
    assert!(
        matches!(&timed_out, Err(ClientError::Timeout("the handshake"))),
        "{timed_out:?}"
    );
    drop(silent);

    for url in [
        "http://127.0.0.1/app",
        "rtmp://127.0.0.1/",
        "rtmp://127.0.0.1:x/app",
    ] {
        let invalid = Client::<R>::connect(url, options(Encoding::Amf0)).await;
        assert!(
            matches!(&invalid, Err(ClientError::InvalidUrl(u)) if u == url),
            "{invalid:?}"
        );
    }
}

async fn use_refusal_is_an_error_with_the_code<R: Adapter>() {
    let server = chat_server();
    let client = connect::<R>(&server, Encoding::Amf3).await;
    let refused = client.shared_object("private.notes", false).await;
    assert!(
        matches!(&refused, Err(ClientError::Denied { code }) if code == NO_READ_ACCESS),
        "{refused:?}"
    );
    // The connection carries on.
    let so = client.shared_object("chat", false).await.expect("use");
    assert_eq!(so.get("topic"), Some(Value::from("hi")));
    client.close().await;
}

async fn second_use_shares_the_so_and_release_ends_it<R: Adapter>() {
    let server = chat_server();
    let client = connect::<R>(&server, Encoding::Amf3).await;
    let first = client.shared_object("chat", false).await.expect("use");
    let second = client
        .shared_object("chat", false)
        .await
        .expect("use again");
    let mut second_events = second.events();
    first.set("shared", 1.0).await.expect("accepted");
    assert_eq!(second.get("shared"), Some(Value::Number(1.0)));
    assert_eq!(
        next::<R>(&mut second_events).await,
        RemoteEvent::Accepted {
            key: "shared".into()
        }
    );
    let other_persistence = client.shared_object("chat", true).await;
    assert!(
        matches!(&other_persistence, Err(ClientError::NotInUse(_))),
        "{other_persistence:?}"
    );

    let clone = first.clone();
    first.release().await.expect("released");
    assert!(!clone.is_connected());
    let after = clone.set("x", 1.0).await;
    assert!(
        matches!(&after, Err(ClientError::NotInUse(n)) if n == "chat"),
        "{after:?}"
    );
    assert_eq!(
        next::<R>(&mut second_events).await,
        RemoteEvent::Version(2),
        "the rest of the write's answer"
    );
    assert_eq!(received::<R>(&mut second_events).await, Received::Closed);
    // The state stays readable, and a new USE brings the SO back.
    assert_eq!(clone.get("shared"), Some(Value::Number(1.0)));
    let again = client
        .shared_object("chat", false)
        .await
        .expect("use again");
    assert_eq!(again.get("shared"), Some(Value::Number(1.0)));
    client.close().await;
}

async fn closing_fails_what_waits_and_ends_the_events<R: Adapter>() {
    let server = chat_server();
    let client = connect::<R>(&server, Encoding::Amf0).await;
    let so = client.shared_object("chat", false).await.expect("use");
    let mut events = so.events();
    next_update::<R>(&mut events).await;
    client.close().await;
    assert_eq!(received::<R>(&mut events).await, Received::Closed);
    assert!(!so.is_connected());
    let after = so.set("x", 1.0).await;
    assert!(after.is_err(), "{after:?}");
}

async fn server_closing_is_reported<R: Adapter>() {
    let server = chat_server();
    let client = connect::<R>(&server, Encoding::Amf3).await;
    let so = client.shared_object("chat", false).await.expect("use");
    server.disconnect_all();
    let reason = until::<R, _>(Instant::now() + TIMEOUT, client.closed())
        .await
        .expect("closed in time");
    assert!(matches!(reason, ClientError::Disconnected), "{reason:?}");
    assert!(client.is_closed());
    assert!(!so.is_connected());
    let call = client.call("echo", vec![]).await;
    assert!(matches!(call, Err(ClientError::Disconnected)), "{call:?}");

    // A `close` command from the server says the same.
    let client = connect::<R>(&server, Encoding::Amf3).await;
    let _ = client.call("bye", vec![]).await;
    let reason = until::<R, _>(Instant::now() + TIMEOUT, client.closed())
        .await
        .expect("closed in time");
    assert!(matches!(reason, ClientError::Disconnected), "{reason:?}");
}

/// The handles can move between tasks and threads.
async fn handles_are_send_and_sync<R: Adapter>() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Client<R>>();
    send_sync::<SharedObject<R>>();
    send_sync::<ClientError>();
    send::<adapter_core::client::IncomingCall<R>>();
}

suite!(
    use_gives_the_state_in_both_encodings,
    set_is_confirmed_and_reaches_the_others,
    denied_write_fails_with_the_code_and_rolls_back,
    remove_is_confirmed_and_a_missing_key_resolves_at_once,
    send_reaches_everyone_and_a_denied_send_fails,
    concurrent_writes_converge,
    calls_return_results_and_errors,
    server_calls_are_answered_by_the_application,
    connect_failures_say_what_went_wrong,
    use_refusal_is_an_error_with_the_code,
    second_use_shares_the_so_and_release_ends_it,
    closing_fails_what_waits_and_ends_the_events,
    server_closing_is_reported,
    handles_are_send_and_sync,
);
