//! librtmp (rtmpdump's C client library) against our server: handshake,
//! `connect`, calls, and SharedObject messages both ways with our own
//! client (`adapter_tokio::Client`, in AMF3) on the other side.
//!
//! `librtmp_client.py` drives librtmp and answers in JSON; librtmp has no
//! SharedObject support, so the script writes and reads SO bodies itself
//! (from the byte layout in docs/PROTOCOL.md §5, not from our code) and
//! leaves the AMF0 values in them to librtmp's codec.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adapter_tokio::client::{Client, ClientOptions, RemoteEvent};
use app_cli::demo::ServeDemo;
use rtmp_proto::amf::{Encoding, Value};
use serde_json::{Value as Json, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::broadcast;

use crate::harness::{TempDir, TestServer};
use crate::interop;

/// The longest wait for one answer from the script (librtmp itself gives
/// up on a read after 5 s).
const PATIENCE: Duration = Duration::from_secs(15);

/// librtmp's `rtmps://` (its TLS through GnuTLS) against the server's
/// RTMPS listener: handshake, `connect` and a call inside TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librtmp_connects_and_calls_over_rtmps() {
    let Some(python) = interop::python_with_librtmp() else {
        return;
    };
    let dir = TempDir::new();
    std::fs::create_dir_all(dir.path()).unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let server = adapter_tokio::Server::builder()
        .bind_addr("127.0.0.1:0")
        .tls("127.0.0.1:0", &cert, &key)
        .memory_store()
        .demo()
        .bind()
        .await
        .expect("the server starts");
    let tls = server.tls_addr().expect("an RTMPS listener");
    let server = TestServer::run(server);
    let mut lib = Librtmp::start(python).await;
    let connected = lib
        .connect("tls", &format!("rtmps://{tls}/interop"), false)
        .await;
    assert_eq!(connected["connected"], true, "{connected}");
    assert_eq!(
        connected["answer"][3]["code"], "NetConnection.Connect.Success",
        "{connected}"
    );
    assert_eq!(
        lib.call("tls", "echo", json!(["over tls"])).await,
        "over tls"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librtmp_handshakes_connects_and_calls() {
    let Some(python) = interop::python_with_librtmp() else {
        return;
    };
    let dir = TempDir::new();
    let server = TestServer::start(dir.path()).await;
    let url = server.url("interop");
    let mut lib = Librtmp::start(python).await;

    // A rejected connect: `_error` with the code, then the server hangs up.
    let rejected = lib.connect("r", &server.url("reject"), false).await;
    assert_eq!(rejected["answer"][0], "_error", "{rejected}");
    assert_eq!(rejected["answer"][1], 1.0);
    assert_eq!(rejected["answer"][3]["level"], "error");
    assert_eq!(
        rejected["answer"][3]["code"],
        "NetConnection.Connect.Rejected"
    );
    assert_eq!(
        lib.ask(json!({"op": "closed", "id": "r"})).await,
        json!({"closed": true})
    );

    // librtmp's default, the plain handshake, then `connect`: the whole
    // `_result` as librtmp's AMF0 decoder read it.
    let success = json!([
        "_result",
        1.0,
        {"fmsVer": "FMS/3,5,7,7009", "capabilities": 31.0, "mode": 1.0},
        {
            "level": "status",
            "code": "NetConnection.Connect.Success",
            "description": "Connection succeeded.",
            "objectEncoding": 0.0
        }
    ]);
    assert_eq!(
        lib.connect("plain", &url, false).await,
        json!({"answer": success, "connected": true, "handshake": "plain"})
    );
    // The Flash Player 9 digest handshake, which librtmp verifies (our S1
    // digest and S2 signature) before it sends `connect`.
    assert_eq!(
        lib.connect("digest", &url, true).await,
        json!({"answer": success, "connected": true, "handshake": "digest"})
    );

    // Calls through python-librtmp's own call path (`RTMPCall.result`,
    // the first value of the `_result`), after librtmp's createStream
    // (transaction 2), which the demo answers with an `_error`.
    for id in ["plain", "digest"] {
        assert_eq!(
            lib.call(id, "echo", json!(["hello", 2.0])).await,
            json!(["hello", 2.0])
        );
        assert_eq!(lib.call(id, "echo", json!(["one"])).await, "one");
    }
    let failed = lib
        .ask(json!({"op": "call_raw", "id": "plain", "method": "nosuch", "args": []}))
        .await;
    assert_eq!(
        failed["answer"],
        json!([
            "_error",
            5.0,
            null,
            {
                "level": "error",
                "code": "NetConnection.Call.Failed",
                "description": "Method not found (nosuch)"
            }
        ])
    );

    lib.finish().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librtmp_and_our_client_share_objects_both_ways() {
    let Some(python) = interop::python_with_librtmp() else {
        return;
    };
    let dir = TempDir::new();
    let server = TestServer::start(dir.path()).await;
    let url = server.url("interop");

    // Ours first (in AMF3: the server answers it with type 16, librtmp with
    // type 19): it writes a value librtmp must find when it uses the SO.
    let ours = Client::connect(&url, ClientOptions::default())
        .await
        .expect("our client connects");
    assert_eq!(ours.encoding(), Encoding::Amf3);
    let chat = ours.shared_object("chat", false).await.expect("our USE");
    let mut our_events = chat.events();
    assert_eq!(
        next_events(&mut our_events, 3).await,
        [
            RemoteEvent::Connected,
            RemoteEvent::Cleared,
            RemoteEvent::Version(1)
        ]
    );
    chat.set("fromRust", "hello").await.expect("our write");
    assert_eq!(
        next_events(&mut our_events, 2).await,
        [accepted("fromRust"), RemoteEvent::Version(2)]
    );

    let mut lib = Librtmp::start(python).await;
    assert_eq!(lib.connect("a", &url, false).await["answer"][0], "_result");

    // USE: USE_SUCCESS, CLEAR and the state, in one message.
    assert_eq!(
        lib.so("a", "chat", &[json!(["use"])]).await,
        so_message(
            "chat",
            2,
            json!([["use_success"], ["clear"], ["change", "fromRust", "hello"]])
        )
    );

    // librtmp writes (two changes in one message, one update): SUCCESS to
    // it, CHANGE to ours.
    let point = json!({"x": 1.5, "visible": true});
    let written = lib
        .so(
            "a",
            "chat",
            &[
                json!(["request_change", "fromC", "hi from librtmp"]),
                json!(["request_change", "point", point]),
            ],
        )
        .await;
    assert_eq!(
        written,
        so_message(
            "chat",
            3,
            json!([["success", "fromC"], ["success", "point"]])
        )
    );
    assert_eq!(
        next_events(&mut our_events, 3).await,
        [
            changed("fromC", "hi from librtmp"),
            changed(
                "point",
                Value::object([("x", Value::from(1.5)), ("visible", Value::from(true))])
            ),
            RemoteEvent::Version(3),
        ]
    );

    // Ours writes and removes: librtmp reads CHANGE and REMOVE.
    chat.set("fromRust", 42.0).await.expect("our write");
    assert_eq!(
        lib.read_so("a").await,
        so_message("chat", 4, json!([["change", "fromRust", 42.0]]))
    );
    assert_eq!(
        next_events(&mut our_events, 2).await,
        [accepted("fromRust"), RemoteEvent::Version(4)]
    );
    assert!(chat.remove("fromC").await.expect("our removal"));
    assert_eq!(
        lib.read_so("a").await,
        so_message("chat", 5, json!([["remove", "fromC"]]))
    );
    assert_eq!(
        next_events(&mut our_events, 3).await,
        [removed("fromC"), accepted("fromC"), RemoteEvent::Version(5)]
    );

    // SEND_MESSAGE from librtmp reaches everyone, itself included; it
    // changes no attribute, so no version either.
    assert_eq!(
        lib.so("a", "chat", &[json!(["send", "newMessage", "hello", 3.0])])
            .await,
        so_message("chat", 5, json!([["message", "newMessage", "hello", 3.0]]))
    );
    assert_eq!(
        next_events(&mut our_events, 1).await,
        [message(
            "newMessage",
            vec![Value::from("hello"), Value::from(3.0)]
        )]
    );
    // And ours reaches librtmp.
    chat.send("fromRust", vec![Value::from("x")])
        .await
        .expect("our send");
    assert_eq!(
        lib.read_so("a").await,
        so_message("chat", 5, json!([["message", "fromRust", "x"]]))
    );
    assert_eq!(
        next_events(&mut our_events, 1).await,
        [message("fromRust", vec![Value::from("x")])]
    );

    // A refused USE: a STATUS, version 0.
    assert_eq!(
        lib.so("a", "private.x", &[json!(["use"])]).await,
        so_message(
            "private.x",
            0,
            json!([["status", "SharedObject.NoReadAccess", "error"]])
        )
    );

    // A second librtmp connection gets the state both wrote; a removal by
    // the first reaches all three.
    assert_eq!(lib.connect("b", &url, false).await["answer"][0], "_result");
    assert_eq!(
        lib.so("b", "chat", &[json!(["use"])]).await,
        so_message(
            "chat",
            5,
            json!([
                ["use_success"],
                ["clear"],
                ["change", "fromRust", 42.0],
                ["change", "point", point]
            ])
        )
    );
    lib.send_so("a", "chat", &[json!(["request_remove", "point"])])
        .await;
    let removal = so_message("chat", 6, json!([["remove", "point"]]));
    assert_eq!(lib.read_so("a").await, removal);
    assert_eq!(lib.read_so("b").await, removal);
    assert_eq!(
        next_events(&mut our_events, 2).await,
        [removed("point"), RemoteEvent::Version(6)]
    );

    // RELEASE: librtmp's session stops getting updates, ours carries on.
    lib.send_so("a", "chat", &[json!(["release"])]).await;
    // Its call's answer comes after the RELEASE took effect.
    assert_eq!(lib.pending_so("a").await, 0);
    chat.set("last", true).await.expect("our write");
    assert_eq!(
        lib.read_so("b").await,
        so_message("chat", 7, json!([["change", "last", true]]))
    );
    assert_eq!(
        next_events(&mut our_events, 2).await,
        [accepted("last"), RemoteEvent::Version(7)]
    );
    assert_eq!(lib.pending_so("a").await, 0);

    assert_eq!(unread(&mut our_events), []);
    lib.finish().await;
    ours.close().await;
    server.stop().await;
}

/// `librtmp_client.py`, one JSON command and answer at a time.
struct Librtmp {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// The script's stderr (librtmp's warnings), for failure messages.
    stderr: Arc<Mutex<String>>,
}

impl Librtmp {
    async fn start(python: &Path) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/librtmp_client.py");
        let mut child = Command::new(python)
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
        let sink = Arc::clone(&stderr);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut text = sink.lock().unwrap_or_else(|e| e.into_inner());
                text.push_str(&line);
                text.push('\n');
            }
        });
        let mut lib = Self {
            child,
            stdin,
            stdout,
            stderr,
        };
        let ready = lib.answer("start").await;
        assert_eq!(ready["ready"], true, "{ready}");
        lib
    }

    /// Sends `command`, returns the answer; fails the test on an `error`.
    async fn ask(&mut self, command: Json) -> Json {
        let line = format!("{command}\n");
        self.stdin
            .write_all(line.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("the script stopped reading ({e}): {}", self.stderr()));
        self.answer(&command.to_string()).await
    }

    /// Connects session `id` to `url`, with the digest handshake or not.
    async fn connect(&mut self, id: &str, url: &str, digest: bool) -> Json {
        self.ask(json!({"op": "connect", "id": id, "url": url, "digest": digest}))
            .await
    }

    /// `method(args)` through python-librtmp's call path: the result.
    async fn call(&mut self, id: &str, method: &str, args: Json) -> Json {
        let answer = self
            .ask(json!({"op": "call", "id": id, "method": method, "args": args}))
            .await;
        answer["result"].clone()
    }

    /// How many SO messages session `id` has read and the test not, after
    /// a round trip to the server (an `echo` call): the server handles a
    /// connection's messages in order, so whatever session `id` sent
    /// before has taken effect, and whatever the server sent it before
    /// has arrived.
    async fn pending_so(&mut self, id: &str) -> u64 {
        let answer = self.ask(json!({"op": "pending_so", "id": id})).await;
        answer["pending"].as_u64().expect("a count")
    }

    /// One SO message with `events` on `name`, transient, version 0 (the
    /// server ignores clients' versions); the next SO message back.
    async fn so(&mut self, id: &str, name: &str, events: &[Json]) -> Json {
        self.send_so(id, name, events).await;
        self.read_so(id).await
    }

    /// One SO message with `events` on `name`, transient, version 0.
    async fn send_so(&mut self, id: &str, name: &str, events: &[Json]) {
        self.ask(json!({
            "op": "send_so", "id": id, "name": name, "version": 0,
            "persistent": false, "events": events
        }))
        .await;
    }

    async fn read_so(&mut self, id: &str) -> Json {
        let answer = self.ask(json!({"op": "read_so", "id": id})).await;
        answer["so"].clone()
    }

    /// Closes the script's input and waits for it to exit cleanly.
    async fn finish(self) {
        let Self {
            mut child,
            stdin,
            stderr,
            ..
        } = self;
        drop(stdin);
        let status = tokio::time::timeout(PATIENCE, child.wait())
            .await
            .expect("the script exits at the end of its input")
            .expect("the script's status");
        let stderr = stderr.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert!(status.success(), "{status}: {stderr}");
    }

    async fn answer(&mut self, what: &str) -> Json {
        let line = match tokio::time::timeout(PATIENCE, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => panic!(
                "the script ended before answering {what}: {}",
                self.stderr()
            ),
            Ok(Err(e)) => panic!("reading the script's answer to {what}: {e}"),
            Err(_) => panic!("no answer to {what} in {PATIENCE:?}: {}", self.stderr()),
        };
        let answer: Json = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the script answered {line:?} ({e})"));
        if let Some(error) = answer.get("error") {
            panic!(
                "librtmp failed {what}: {error}\nits stderr:\n{}",
                self.stderr()
            );
        }
        answer
    }

    fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A decoded type-19 message for a transient SO, as the script writes it.
fn so_message(name: &str, version: u32, events: Json) -> Json {
    json!({
        "type": 19, "name": name, "version": version, "flags": 0, "reserved": 0,
        "events": events
    })
}

/// The next `count` events of our client's SO, waiting for them.
async fn next_events(
    events: &mut broadcast::Receiver<RemoteEvent>,
    count: usize,
) -> Vec<RemoteEvent> {
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let event = tokio::time::timeout(PATIENCE, events.recv())
            .await
            .unwrap_or_else(|_| panic!("only {out:?} for our client in {PATIENCE:?}"))
            .expect("our client's events are open");
        out.push(event);
    }
    out
}

/// The events our client's SO has received and the test not read yet.
fn unread(events: &mut broadcast::Receiver<RemoteEvent>) -> Vec<RemoteEvent> {
    std::iter::from_fn(|| events.try_recv().ok()).collect()
}

fn accepted(key: &str) -> RemoteEvent {
    RemoteEvent::Accepted { key: key.into() }
}

fn removed(key: &str) -> RemoteEvent {
    RemoteEvent::Removed { key: key.into() }
}

fn message(method: &str, args: Vec<Value>) -> RemoteEvent {
    RemoteEvent::Message {
        method: method.into(),
        args,
    }
}

fn changed(key: &str, value: impl Into<Value>) -> RemoteEvent {
    RemoteEvent::Changed {
        key: key.into(),
        value: value.into(),
    }
}
