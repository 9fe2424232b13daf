//! The tokio client over real loopback sockets: against a small in-test
//! server built on `Connection` (this file), and against the real server
//! with the demo application (`client_support/demo.rs`).

#[path = "client_support/demo.rs"]
mod demo;
#[path = "client_support/server.rs"]
mod server;

use std::collections::BTreeMap;
use std::time::Duration;

use adapter_tokio::client::{Client, ClientError, ClientOptions, RemoteEvent, SharedObject};
use rtmp_proto::amf::{Encoding, Str, Value};
use server::{NO_READ_ACCESS, NO_WRITE_ACCESS, TestServer};
use tokio::sync::broadcast;

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

async fn chat_server() -> TestServer {
    TestServer::start(&[
        ("chat", "topic", Value::from("hi")),
        ("chat", "locked", Value::from("x")),
    ])
    .await
}

async fn connect(server: &TestServer, encoding: Encoding) -> Client {
    Client::connect(&server.url("app/room"), options(encoding))
        .await
        .expect("connects")
}

/// The next event, failing the test if none comes in time.
async fn next(events: &mut broadcast::Receiver<RemoteEvent>) -> RemoteEvent {
    tokio::time::timeout(TIMEOUT, events.recv())
        .await
        .expect("an event in time")
        .expect("the channel is open")
}

/// The next events until (and including) a `Version` event.
async fn next_update(events: &mut broadcast::Receiver<RemoteEvent>) -> Vec<RemoteEvent> {
    let mut out = Vec::new();
    loop {
        let event = next(events).await;
        let done = matches!(event, RemoteEvent::Version(_));
        out.push(event);
        if done {
            return out;
        }
    }
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

fn state(so: &SharedObject) -> Vec<(String, Value)> {
    so.snapshot()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

#[tokio::test]
async fn use_gives_the_state_in_both_encodings() {
    for encoding in [Encoding::Amf0, Encoding::Amf3] {
        let server = chat_server().await;
        let client = connect(&server, encoding).await;
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
            next_update(&mut events).await,
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

#[tokio::test]
async fn set_is_confirmed_and_reaches_the_others() {
    let server = chat_server().await;
    let alice = connect(&server, Encoding::Amf3).await;
    let bob = connect(&server, Encoding::Amf0).await;
    let a = alice.shared_object("chat", false).await.expect("use");
    let b = bob.shared_object("chat", false).await.expect("use");
    let mut b_events = b.events();
    next_update(&mut b_events).await; // the USE answer

    a.set("score", 42.0).await.expect("accepted");
    assert_eq!(a.get("score"), Some(Value::Number(42.0)));
    assert_eq!(a.version(), 2);
    assert_eq!(server.value("chat", "score"), Some(Value::Number(42.0)));
    assert_eq!(
        next_update(&mut b_events).await,
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
        next_update(&mut b_events).await,
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

#[tokio::test]
async fn denied_write_fails_with_the_code_and_rolls_back() {
    let server = chat_server().await;
    let client = connect(&server, Encoding::Amf3).await;
    let so = client.shared_object("chat", false).await.expect("use");
    let mut events = so.events();
    next_update(&mut events).await;

    let outcome = so.set("locked", "mine").await;
    assert!(denied(NO_WRITE_ACCESS)(&outcome), "{outcome:?}");
    assert_eq!(outcome.unwrap_err().code(), Some(NO_WRITE_ACCESS));
    assert_eq!(so.get("locked"), Some(Value::from("x")), "rolled back");
    assert_eq!(
        [
            next(&mut events).await,
            next(&mut events).await,
            next(&mut events).await
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

#[tokio::test]
async fn remove_is_confirmed_and_a_missing_key_resolves_at_once() {
    let server = chat_server().await;
    let alice = connect(&server, Encoding::Amf0).await;
    let bob = connect(&server, Encoding::Amf3).await;
    let a = alice.shared_object("chat", false).await.expect("use");
    let b = bob.shared_object("chat", false).await.expect("use");
    let mut b_events = b.events();
    next_update(&mut b_events).await;

    assert!(a.remove("topic").await.expect("removed"));
    assert_eq!(a.get("topic"), None);
    assert_eq!(server.value("chat", "topic"), None);
    assert_eq!(
        next_update(&mut b_events).await,
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

#[tokio::test]
async fn send_reaches_everyone_and_a_denied_send_fails() {
    let server = chat_server().await;
    let alice = connect(&server, Encoding::Amf3).await;
    let bob = connect(&server, Encoding::Amf0).await;
    let a = alice.shared_object("chat", false).await.expect("use");
    let b = bob.shared_object("chat", false).await.expect("use");
    let mut a_events = a.events();
    let mut b_events = b.events();
    next_update(&mut a_events).await;
    next_update(&mut b_events).await;

    let args = vec![Value::from("hello"), Value::Number(7.0)];
    a.send("newMessage", args.clone()).await.expect("echoed");
    let message = RemoteEvent::Message {
        method: "newMessage".into(),
        args,
    };
    assert_eq!(next(&mut a_events).await, message);
    assert_eq!(next(&mut b_events).await, message);
    assert_eq!(a.get("newMessage"), None, "a send creates no attribute");

    let outcome = a.send("forbidden", vec![]).await;
    assert!(denied(NO_WRITE_ACCESS)(&outcome), "{outcome:?}");
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn concurrent_writes_converge() {
    let server = TestServer::start(&[]).await;
    let mut clients = Vec::new();
    let mut sos = Vec::new();
    for i in 0..3 {
        let encoding = if i % 2 == 0 {
            Encoding::Amf0
        } else {
            Encoding::Amf3
        };
        let client = connect(&server, encoding).await;
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
        tokio::time::timeout(TIMEOUT, async {
            while so.version() != final_version {
                tokio::time::sleep(Duration::from_millis(5)).await;
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

#[tokio::test]
async fn calls_return_results_and_errors() {
    let server = chat_server().await;
    let client = connect(&server, Encoding::Amf3).await;
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

#[tokio::test]
async fn server_calls_are_answered_by_the_application() {
    let server = chat_server().await;
    let client = connect(&server, Encoding::Amf0).await;
    // Nobody takes calls yet: the server's question gets `_error`.
    let unanswered = client.call("askme", vec![Value::Number(21.0)]).await;
    assert_eq!(
        unanswered.unwrap_err().code(),
        Some("NetConnection.Call.Failed")
    );

    let mut calls = client.incoming_calls(4);
    let answering = tokio::spawn(async move {
        let call = calls.recv().await.expect("a call");
        assert_eq!(call.method, "question");
        assert!(call.expects_answer());
        let n = call.args.first().and_then(Value::as_f64).unwrap_or(0.0);
        call.reply(Value::Number(n * 2.0));
        // A dropped call is answered with `_error` by itself.
        let dropped = calls.recv().await.expect("a second call");
        drop(dropped);
    });
    let answer = client.call("askme", vec![Value::Number(21.0)]).await;
    assert_eq!(answer.expect("result"), [Value::Number(42.0)]);
    let dropped = client.call("askme", vec![]).await;
    assert_eq!(
        dropped.unwrap_err().code(),
        Some("NetConnection.Call.Failed")
    );
    answering.await.expect("the answering task");
    client.close().await;
}

#[tokio::test]
async fn connect_failures_say_what_went_wrong() {
    // Refused: a port nobody listens on any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let refused = Client::connect(
        &format!("rtmp://127.0.0.1:{port}/app"),
        options(Encoding::Amf0),
    )
    .await;
    assert!(
        matches!(&refused, Err(ClientError::Connect { addr, .. }) if *addr == format!("127.0.0.1:{port}")),
        "{refused:?}"
    );

    // Rejected, with the server's description.
    let server = chat_server().await;
    let rejected = Client::connect(&server.url("reject"), options(Encoding::Amf3)).await;
    assert!(
        matches!(&rejected, Err(ClientError::Rejected(d)) if d == "no entry"),
        "{rejected:?}"
    );

    // A server that accepts TCP and says nothing: the handshake times out.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("rtmp://{}/app", silent.local_addr().expect("address"));
    let held = tokio::spawn(async move { silent.accept().await });
    let quick = ClientOptions {
        timeout: Duration::from_millis(300),
        ..ClientOptions::default()
    };
    let timed_out = Client::connect(&url, quick).await;
    assert!(
        matches!(&timed_out, Err(ClientError::Timeout("the handshake"))),
        "{timed_out:?}"
    );
    held.abort();

    for url in [
        "http://127.0.0.1/app",
        "rtmp://127.0.0.1/",
        "rtmp://127.0.0.1:x/app",
    ] {
        let invalid = Client::connect(url, options(Encoding::Amf0)).await;
        assert!(
            matches!(&invalid, Err(ClientError::InvalidUrl(u)) if u == url),
            "{invalid:?}"
        );
    }
}

#[tokio::test]
async fn use_refusal_is_an_error_with_the_code() {
    let server = chat_server().await;
    let client = connect(&server, Encoding::Amf3).await;
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

#[tokio::test]
async fn second_use_shares_the_so_and_release_ends_it() {
    let server = chat_server().await;
    let client = connect(&server, Encoding::Amf3).await;
    let first = client.shared_object("chat", false).await.expect("use");
    let second = client
        .shared_object("chat", false)
        .await
        .expect("use again");
    let mut second_events = second.events();
    first.set("shared", 1.0).await.expect("accepted");
    assert_eq!(second.get("shared"), Some(Value::Number(1.0)));
    assert_eq!(
        next(&mut second_events).await,
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
        next(&mut second_events).await,
        RemoteEvent::Version(2),
        "the rest of the write's answer"
    );
    assert!(matches!(
        second_events.recv().await,
        Err(broadcast::error::RecvError::Closed)
    ));
    // The state stays readable, and a new USE brings the SO back.
    assert_eq!(clone.get("shared"), Some(Value::Number(1.0)));
    let again = client
        .shared_object("chat", false)
        .await
        .expect("use again");
    assert_eq!(again.get("shared"), Some(Value::Number(1.0)));
    client.close().await;
}

#[tokio::test]
async fn closing_fails_what_waits_and_ends_the_events() {
    let server = chat_server().await;
    let client = connect(&server, Encoding::Amf0).await;
    let so = client.shared_object("chat", false).await.expect("use");
    let mut events = so.events();
    next_update(&mut events).await;
    client.close().await;
    assert!(matches!(
        events.recv().await,
        Err(broadcast::error::RecvError::Closed)
    ));
    assert!(!so.is_connected());
    let after = so.set("x", 1.0).await;
    assert!(after.is_err(), "{after:?}");
}

#[tokio::test]
async fn server_closing_is_reported() {
    let server = chat_server().await;
    let client = connect(&server, Encoding::Amf3).await;
    let so = client.shared_object("chat", false).await.expect("use");
    server.disconnect_all();
    let reason = tokio::time::timeout(TIMEOUT, client.closed())
        .await
        .expect("closed in time");
    assert!(matches!(reason, ClientError::Disconnected), "{reason:?}");
    assert!(client.is_closed());
    assert!(!so.is_connected());
    let call = client.call("echo", vec![]).await;
    assert!(matches!(call, Err(ClientError::Disconnected)), "{call:?}");

    // A `close` command from the server says the same.
    let client = connect(&server, Encoding::Amf3).await;
    let _ = client.call("bye", vec![]).await;
    let reason = tokio::time::timeout(TIMEOUT, client.closed())
        .await
        .expect("closed in time");
    assert!(matches!(reason, ClientError::Disconnected), "{reason:?}");
}

/// The `so-client` example binary beside this test binary, if cargo built
/// it (`cargo test -p adapter-tokio` builds examples; `--test client` alone
/// does not, and may find an older build).
fn so_client_binary() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let binary = exe
        .parent()?
        .parent()?
        .join("examples")
        .join(format!("so-client{}", std::env::consts::EXE_SUFFIX));
    binary.exists().then_some(binary)
}

/// Runs `so-client` with `args`: (exit code, stdout).
async fn so_client(binary: &std::path::Path, args: &[&str]) -> (i32, String) {
    let output = tokio::time::timeout(
        TIMEOUT,
        tokio::process::Command::new(binary).args(args).output(),
    )
    .await
    .expect("so-client finishes in time")
    .expect("so-client runs");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    (output.status.code().unwrap_or(-1), stdout)
}

#[tokio::test]
async fn cli_end_to_end() {
    let Some(binary) = so_client_binary() else {
        eprintln!("so-client example not built: run `cargo test -p adapter-tokio`");
        return;
    };
    let server = chat_server().await;
    let url = server.url("app");
    let run = |args: &'static [&'static str]| {
        let binary = binary.clone();
        let url = url.clone();
        async move {
            let mut all = vec![url.as_str()];
            all.extend_from_slice(args);
            so_client(&binary, &all).await
        }
    };
    assert_eq!(
        run(&["--so", "chat", "dump"]).await,
        (0, "locked=\"x\"\ntopic=\"hi\"\n".to_owned())
    );
    assert_eq!(
        run(&["--so", "chat", "--amf0", "set", "score=42"]).await,
        (0, "success score\n".to_owned())
    );
    assert_eq!(server.value("chat", "score"), Some(Value::Number(42.0)));
    assert_eq!(
        run(&["--so", "chat", "set", "locked={\"b\":1,\"a\":[true]}"]).await,
        (3, "reject locked SharedObject.NoWriteAccess\n".to_owned())
    );
    assert_eq!(
        run(&["--so", "chat", "remove", "score"]).await,
        (0, "remove score\n".to_owned())
    );
    assert_eq!(
        run(&["--so", "chat", "send", "say", "\"hi\"", "-1"]).await,
        (0, "sent say\n".to_owned())
    );
    assert_eq!(
        run(&["--so", "chat", "send", "forbidden"]).await,
        (
            3,
            "reject-send forbidden SharedObject.NoWriteAccess\n".to_owned()
        )
    );
    assert_eq!(
        run(&["call", "echo", "1", "\"a\""]).await,
        (0, "result [[1,\"a\"]]\n".to_owned())
    );
    assert_eq!(
        run(&["--so", "private.x", "dump"]).await,
        (3, String::new())
    );
    assert_eq!(run(&["dump"]).await.0, 2, "--so is missing");
    let rejected = so_client(&binary, &[&server.url("reject"), "--so", "chat", "dump"]).await;
    assert_eq!(rejected, (3, String::new()));
}

#[tokio::test]
async fn cli_watch_prints_events_until_the_connection_closes() {
    use tokio::io::AsyncBufReadExt;

    let Some(binary) = so_client_binary() else {
        eprintln!("so-client example not built: run `cargo test -p adapter-tokio`");
        return;
    };
    let server = chat_server().await;
    let mut watcher = tokio::process::Command::new(&binary)
        .args([&server.url("app"), "--so", "chat", "watch"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("so-client starts");
    let stdout = watcher.stdout.take().expect("piped stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut next_line = async || {
        tokio::time::timeout(TIMEOUT, lines.next_line())
            .await
            .expect("a line in time")
            .expect("readable")
            .expect("a line before the end")
    };
    for expected in [
        "connected",
        "clear",
        "change locked=\"x\"",
        "change topic=\"hi\"",
        "version 1",
    ] {
        assert_eq!(next_line().await, expected);
    }
    let writer = connect(&server, Encoding::Amf0).await;
    let so = writer.shared_object("chat", false).await.expect("use");
    so.set("live", 1.0).await.expect("accepted");
    so.send("say", vec![Value::from("hi there")])
        .await
        .expect("echoed");
    assert_eq!(next_line().await, "change live=1");
    assert_eq!(next_line().await, "version 2");
    assert_eq!(next_line().await, "message say [\"hi there\"]");
    writer.close().await;

    server.disconnect_all();
    assert_eq!(
        next_line().await,
        "closed \"the server closed the connection\""
    );
    let status = tokio::time::timeout(TIMEOUT, watcher.wait())
        .await
        .expect("so-client exits in time")
        .expect("exit status");
    assert_eq!(status.code(), Some(1));
}

#[test]
fn handles_can_move_between_tasks() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Client>();
    send_sync::<SharedObject>();
    send_sync::<ClientError>();
    send::<adapter_tokio::client::IncomingCall>();
}
