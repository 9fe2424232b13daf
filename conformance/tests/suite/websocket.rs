//! The WebSocket transport (`/so`, `rtmp-so.v1`): browsers are clients
//! like any other. The contract and demo scenarios run with WebSocket
//! clients next to RTMP clients in the same scope; bad frames, a wrong
//! subprotocol and oversized frames get their error or close code and
//! nothing else is affected; `/healthz`, `/metrics` and `/admin` answer.

use std::time::{Duration, Instant};

use app_cli::demo;
use rtmp_proto::amf::{Encoding, Value};
use rtmp_proto::message::shared_object::SoEvent;
use serde_json::json;
use so_engine::{ServerApi, status};
use so_web::{ClientMessage, Limits, ServerMessage};
use tungstenite::Message;
use tungstenite::protocol::frame::coding::CloseCode;

use app_cli::demo::ServeDemo;

use crate::adapter::Adapter;
use crate::harness::{TempDir, TestServer};
use crate::wire::{TestClient, change, set, status_error};
use crate::ws_client::{PATIENCE, WsClient, get, http_of};

async fn websocket_and_rtmp_clients_share_one_so<R: Adapter>() {
    let dir = TempDir::new();
    let server = TestServer::<R>::start(dir.path()).await;
    let http = http_of(&server);
    let mut rtmp = TestClient::connect(&server.url("app/room"), Encoding::Amf0);
    let mut ws = WsClient::connect(http, "app/room");
    let mut ws2 = WsClient::connect(http, "app/room");

    let used = rtmp.use_so("doc", false);
    assert_eq!((used.version, used.events.len()), (1, 2));
    rtmp.send_so("doc", false, vec![set("k1", 1.0), set("k2", "two")]);
    assert_eq!(rtmp.next_so().version, 2);

    // USE: the full state at the current version, as RTMP clients get it.
    let used = ws.use_so("doc", false);
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
    ws2.use_so("doc", false);

    // A browser's write: SUCCESS to it, CHANGE to everyone else, one version.
    let when = Value::Date(rtmp_proto::amf::Date {
        millis: 1_700_000_000_000.0,
        timezone: 0,
    });
    ws.send_so(
        "doc",
        false,
        vec![set("k1", 5.0), set("when", when.clone())],
    );
    let mine = ws.next_so();
    assert_eq!(
        (mine.version, mine.events),
        (
            3,
            vec![
                SoEvent::Success { key: "k1".into() },
                SoEvent::Success { key: "when".into() }
            ]
        )
    );
    for theirs in [rtmp.next_so(), ws2.next_so()] {
        assert_eq!(
            (theirs.version, theirs.events),
            (3, vec![change("k1", 5.0), change("when", when.clone())])
        );
    }

    // An RTMP client's write reaches the browsers.
    rtmp.send_so("doc", false, vec![set("k2", Value::Null)]);
    assert_eq!(
        rtmp.next_so().events,
        [SoEvent::Success { key: "k2".into() }]
    );
    for browser in [&mut ws, &mut ws2] {
        let removed = browser.next_so();
        assert_eq!(
            (removed.version, removed.events),
            (4, vec![SoEvent::Remove { key: "k2".into() }])
        );
    }

    // send: to every subscriber, the sender included.
    ws.send_so(
        "doc",
        false,
        vec![SoEvent::SendMessage {
            method: "onMsg".into(),
            args: vec![Value::from("hi")],
        }],
    );
    let message = SoEvent::SendMessage {
        method: "onMsg".into(),
        args: vec![Value::from("hi")],
    };
    for events in [
        ws.next_so().events,
        ws2.next_so().events,
        rtmp.next_so().events,
    ] {
        assert_eq!(events, std::slice::from_ref(&message));
    }

    // Rooms are isolated: the same name elsewhere is another SO.
    let mut other = WsClient::connect(http, "app/other");
    assert_eq!(
        other.use_so("doc", false).events,
        [SoEvent::UseSuccess, SoEvent::Clear]
    );

    // Calls: the demo's echo answers with its arguments.
    assert_eq!(
        ws.call("echo", vec![Value::from(7.0)]),
        Ok(Value::from(7.0))
    );
    assert_eq!(rtmp.sync(), []);
    server.stop().await;
}

async fn websocket_clients_meet_the_same_security_and_demo_rules<R: Adapter>() {
    let dir = TempDir::new();
    let server = TestServer::<R>::start(dir.path()).await;
    let http = http_of(&server);

    // The application's reject.
    let mut rejected = WsClient::open(http);
    rejected.send_connect("reject");
    assert_eq!(
        rejected.next(),
        ServerMessage::Rejected {
            reason: demo::REJECT_REASON.into()
        }
    );
    assert_eq!(rejected.closed_with(), CloseCode::from(4000));

    // The demo's prefixes: creation and read denied, writes rolled back.
    let mut c = WsClient::connect(http, "app");
    assert_eq!(
        c.use_so("forbidden.x", false).events,
        [status_error(status::CREATION_FAILED)]
    );
    assert_eq!(
        c.use_so("private.x", true).events,
        [status_error(status::NO_READ_ACCESS)]
    );
    assert_eq!(
        c.use_so("readonly.news", false).events,
        [SoEvent::UseSuccess, SoEvent::Clear]
    );
    c.send_so("readonly.news", false, vec![set("k", "v")]);
    assert_eq!(
        c.next_so().events,
        [
            status_error(status::NO_WRITE_ACCESS),
            SoEvent::Remove { key: "k".into() }
        ]
    );
    // A message for an SO it has not used gets a status, creates nothing.
    c.send_so("never.used", false, vec![set("k", 1.0)]);
    let refused = c.next_so();
    assert!(
        matches!(refused.events.as_slice(), [SoEvent::Status { level, .. }] if level == "error"),
        "{refused:?}"
    );
    server.stop().await;
}

async fn bad_frames_get_errors_and_nobody_else_notices<R: Adapter>() {
    let dir = TempDir::new();
    let server = TestServer::<R>::start(dir.path()).await;
    let http = http_of(&server);
    let mut rtmp = TestClient::connect(&server.url("app"), Encoding::Amf3);
    rtmp.use_so("doc", false);
    let mut ws = WsClient::connect(http, "app");
    ws.use_so("doc", false);

    // Malformed JSON, an unknown type, a bad value: error frames, the
    // connection carries on.
    for (text, code) in [
        ("{", "bad_json"),
        (r#"{"type":"teleport"}"#, "unknown_type"),
        (
            r#"{"type":"set","so":"doc","key":"k","value":{"$type":"nope"}}"#,
            "bad_value",
        ),
        (r#"{"type":"connect","app":"app"}"#, "already_connected"),
    ] {
        ws.send_text(text);
        match ws.next() {
            ServerMessage::Error { code: got, .. } => assert_eq!(got, code, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    assert_eq!(ws.sync(), []);

    // A wrong subprotocol: refused at the upgrade, with a reason.
    let (status, body) = get(
        http,
        "/so HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: chat",
    );
    assert_eq!(status, 400);
    assert!(body.contains("rtmp-so.v1"), "{body}");
    // A plain GET of /so: 426.
    assert_eq!(get(http, "/so HTTP/1.1").0, 426);

    // A binary frame: closed with 1003.
    let mut binary = WsClient::connect(http, "app");
    binary.ws.send(Message::binary(vec![1, 2, 3])).unwrap();
    assert_eq!(binary.closed_with(), CloseCode::Unsupported);

    // An oversized frame: closed with 1009.
    let mut big = WsClient::connect(http, "app");
    let huge = format!(
        r#"{{"type":"set","so":"doc","key":"k","value":"{}"}}"#,
        "x".repeat(Limits::DEFAULT_MAX_MESSAGE_BYTES + 1)
    );
    // The server may close before the whole frame is written.
    let _ = big.ws.send(Message::text(huge));
    assert_eq!(big.closed_with(), CloseCode::Size);

    // Everybody else carries on.
    rtmp.send_so("doc", false, vec![set("after", true)]);
    assert_eq!(
        rtmp.next_so().events,
        [SoEvent::Success {
            key: "after".into()
        }]
    );
    assert_eq!(ws.next_so().events, [change("after", true)]);
    server.stop().await;
}

async fn health_metrics_and_admin_answer<R: Adapter>() {
    let dir = TempDir::new();
    let server = TestServer::<R>::start(dir.path()).await;
    let http = http_of(&server);
    assert_eq!(get(http, "/healthz HTTP/1.1"), (200, "ok\n".into()));
    assert_eq!(get(http, "/nothing HTTP/1.1").0, 404);

    let mut ws = WsClient::connect(http, "chat/lobby");
    ws.use_so("room", false);
    ws.send_so("room", false, vec![set("topic", "rust")]);
    ws.next_so();
    let mut rtmp = TestClient::connect(&server.url("chat/lobby"), Encoding::Amf0);
    rtmp.use_so("room", false);

    // The engine publishes its state once someone looks: poll until the
    // page shows it.
    let deadline = Instant::now() + PATIENCE;
    let state = loop {
        let (status, body) = get(http, "/admin/state HTTP/1.1");
        assert_eq!(status, 200);
        let state: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        if state["scopes"].as_array().is_some_and(|s| !s.is_empty()) {
            break state;
        }
        assert!(Instant::now() < deadline, "no state published: {body}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(state["writable"], json!(false));
    let lobby = state["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scope"] == "chat/lobby")
        .unwrap_or_else(|| panic!("{state}"));
    let room = &lobby["shared_objects"][0];
    assert_eq!(room["name"], "room");
    assert_eq!(room["version"], 2);
    assert_eq!(room["values"], json!({"topic": "rust"}));
    assert_eq!(room["subscribers"].as_array().map(Vec::len), Some(2));

    let (status, page) = get(http, "/admin HTTP/1.1");
    assert_eq!(status, 200);
    assert!(page.contains("/admin/state"));
    // Read-only without a token.
    assert_eq!(
        get(
            http,
            "/admin/op?op=destroy&scope=chat%2Flobby&so=room&token=x HTTP/1.1"
        )
        .0,
        403
    );

    let (status, metrics) = get(http, "/metrics HTTP/1.1");
    assert_eq!(status, 200);
    for line in [
        "rtmp_so_connections{transport=\"rtmp\"} 1",
        "rtmp_so_connections{transport=\"websocket\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    for name in [
        "rtmp_so_updates_total",
        "rtmp_so_deliveries_total",
        "rtmp_so_shared_objects",
        "rtmp_so_scopes",
        "rtmp_so_queued_bytes",
        "rtmp_so_slow_reader_disconnects_total",
        "rtmp_so_store_flush_seconds_count",
        "rtmp_so_hook_panics_total",
    ] {
        assert!(metrics.contains(name), "{name} in\n{metrics}");
    }
    server.stop().await;
}

async fn the_admin_token_allows_set_remove_and_destroy<R: Adapter>() {
    let server = adapter_core::Server::<R>::builder()
        .bind_addr("127.0.0.1:0")
        .http_addr(Some("127.0.0.1:0".into()))
        .admin_token(Some("s3cret".into()))
        .memory_store()
        .demo()
        .bind()
        .await
        .expect("the server starts");
    let server = TestServer::<R>::run(server);
    let http = http_of(&server);
    let mut ws = WsClient::connect(http, "chat/lobby");
    ws.use_so("room", false);
    let op = |query: &str| get(http, &format!("/admin/op?{query} HTTP/1.1")).0;

    assert_eq!(
        op("op=set&scope=chat%2Flobby&so=room&key=topic&value=%22hi%22&token=wrong"),
        403
    );
    assert_eq!(
        op("op=set&scope=chat%2Flobby&so=room&key=topic&value=%22hi%22&token=s3cret"),
        202
    );
    let changed = ws.next_so();
    assert_eq!(
        (changed.version, changed.events),
        (2, vec![change("topic", "hi")])
    );
    assert_eq!(
        op("op=remove&scope=chat%2Flobby&so=room&key=topic&token=s3cret"),
        202
    );
    assert_eq!(
        ws.next_so().events,
        [SoEvent::Remove {
            key: "topic".into()
        }]
    );
    assert_eq!(
        op("op=set&scope=chat%2Flobby&so=room&key=k&value=%7B&token=s3cret"),
        400
    );
    assert_eq!(
        op("op=destroy&scope=chat%2Flobby&so=room&token=s3cret"),
        202
    );
    let destroyed: Vec<SoEvent> = std::iter::from_fn(|| Some(ws.next_so()))
        .flat_map(|m| m.events)
        .take(2)
        .collect();
    assert_eq!(destroyed[0], SoEvent::Clear);
    assert!(
        matches!(&destroyed[1], SoEvent::Status { code, .. } if code == "SharedObject.ObjectDestroyed"),
        "{destroyed:?}"
    );
    let (_, state) = get(http, "/admin/state HTTP/1.1");
    assert!(state.contains("\"writable\":true"), "{state}");
    server.stop().await;
}

async fn more_of_the_contract_and_the_demo_over_websocket<R: Adapter>() {
    let dir = TempDir::new();
    let server = TestServer::<R>::start(dir.path()).await;
    let http = http_of(&server);
    let mut a = WsClient::connect(http, "app");
    let mut b = WsClient::connect(http, "app");
    a.use_so("doc", false);
    b.use_so("doc", false);
    a.send_so("doc", false, vec![set("k", 1.0)]);
    assert_eq!(a.next_so().version, 2);
    assert_eq!(b.next_so().events, [change("k", 1.0)]);
    // A second USE gets the full answer again.
    let again = b.use_so("doc", false);
    assert_eq!((again.version, again.events.len()), (2, 3));
    // The same value again: SUCCESS only, no version bump, nothing to others.
    a.send_so("doc", false, vec![set("k", 1.0)]);
    let same = a.next_so();
    assert_eq!(
        (same.version, same.events),
        (2, vec![SoEvent::Success { key: "k".into() }])
    );
    assert_eq!(b.sync(), []);
    // Removing a missing key changes nothing.
    a.send_so(
        "doc",
        false,
        vec![SoEvent::RequestRemove {
            key: "missing".into(),
        }],
    );
    assert_eq!(a.sync(), []);
    assert_eq!(b.sync(), []);

    // Every value an SO holds round-trips through a persistent SO and a
    // restart, written by a browser, read by an RTMP client.
    let values = [
        ("s", Value::from("text")),
        ("n", Value::from(1.5)),
        ("t", Value::from(true)),
        ("a", Value::StrictArray(vec![Value::from(1.0), Value::Null])),
        ("o", Value::object([("x", Value::from(2.0))])),
        ("bytes", Value::ByteArray(vec![1, 2, 3])),
    ];
    a.use_so("saved", true);
    a.send_so(
        "saved",
        true,
        values.iter().map(|(k, v)| set(k, v.clone())).collect(),
    );
    a.next_so();
    drop((a, b));
    server.stop().await;
    let server = TestServer::<R>::start(dir.path()).await;
    let mut rtmp = TestClient::connect(&server.url("app"), Encoding::Amf3);
    let used = rtmp.use_so("saved", true);
    let mut sorted = values.to_vec();
    sorted.sort_by(|x, y| x.0.cmp(y.0));
    let mut expected = vec![SoEvent::UseSuccess, SoEvent::Clear];
    expected.extend(sorted.iter().map(|(k, v)| change(k, v.clone())));
    assert_eq!(used.events, expected);
    let mut ws = WsClient::connect(http_of(&server), "app");
    assert_eq!(ws.use_so("saved", true).events, expected);
    assert_eq!(
        ws.use_so("saved", false).events,
        [status_error(status::BAD_PERSISTENCE)]
    );

    // The demo: presence counts browsers too; say sets last first.
    let mut other = WsClient::connect(http_of(&server), "app");
    ws.use_so(demo::PRESENCE, false);
    let second = other.use_so(demo::PRESENCE, false);
    assert_eq!(second.events.last(), Some(&change("count", 2.0)));
    assert_eq!(ws.next_so().events, [change("count", 2.0)]);
    let say = SoEvent::SendMessage {
        method: "say".into(),
        args: vec![Value::from("hello")],
    };
    ws.use_so(demo::ECHO, false);
    ws.send_so(demo::ECHO, false, vec![say.clone()]);
    assert_eq!(ws.next_so().events, [change("last", "hello"), say]);
    // Calls: several arguments come back as an array; unknown methods fail.
    assert_eq!(
        ws.call("echo", vec![Value::from("x"), Value::from(2.0)]),
        Ok(Value::StrictArray(vec![Value::from("x"), Value::from(2.0)]))
    );
    let Err(info) = ws.call("nothing", vec![]) else {
        panic!("an unknown method succeeded");
    };
    assert_eq!(
        info.property("code"),
        Some(&Value::from("NetConnection.Call.Failed"))
    );
    server.stop().await;
}

/// Lets a client in only if its authorization attached a `user`, which
/// the connect hook reads.
struct NeedsUser;

impl so_engine::Application for NeedsUser {
    fn app_connect(
        &mut self,
        cx: &mut so_engine::Context<'_>,
        client: so_engine::ClientId,
        _: &so_engine::ScopePath,
        _: &[Value],
    ) -> Result<(), String> {
        let attributes = cx.view().client_attributes(client);
        match attributes.and_then(|a| a.get("user")) {
            Some(_) => Ok(()),
            None => Err(format!("no user in {attributes:?}")),
        }
    }
}

/// `ServerBuilder::authorize` checks WebSocket connects like RTMP ones: a
/// rejection (or a check past its time) is a `rejected` frame with its
/// description, then close code 4000; an accepted client's attributes
/// reach the connect hook and later hooks (a method), with the connect's
/// scope and arguments as the check saw them.
async fn websocket_connects_are_authorized<R: Adapter>() {
    let server = adapter_core::Server::<R>::builder()
        .bind_addr("127.0.0.1:0")
        .http_addr(Some("127.0.0.1:0".into()))
        .memory_store()
        .application(NeedsUser)
        .setup(|engine| {
            engine.register_method(
                "whoami",
                |cx: &mut so_engine::Context<'_>, call: &so_engine::CallRequest<'_>| {
                    let view = cx.view();
                    let attributes = view.client_attributes(call.client).cloned();
                    let info = view.client_info(call.client);
                    Ok(Value::object([
                        ("attributes", Value::object(attributes.unwrap_or_default())),
                        ("peer", Value::from(info.is_some_and(|i| i.peer.is_some()))),
                    ]))
                },
            );
        })
        .authorize_timeout(Duration::from_millis(300))
        .authorize(|info: so_engine::ConnectInfo| async move {
            match info.args.first().and_then(Value::as_str) {
                Some("token-alice") => {
                    let mut attributes = so_engine::Attributes::new();
                    attributes.insert("user".into(), Value::from("alice"));
                    attributes.insert("scope".into(), Value::from(info.scope.to_string()));
                    Ok(attributes)
                }
                Some("slow") => std::future::pending().await,
                _ => Err(format!("bad token for {}", info.scope)),
            }
        })
        .bind()
        .await
        .expect("the server starts");
    let server = TestServer::<R>::run(server);
    let http = http_of(&server);
    let connect = |token: &str| {
        let mut ws = WsClient::open(http);
        ws.send(&ClientMessage::Connect {
            app: "app".into(),
            room: Some("room".into()),
            args: vec![Value::from(token)],
        });
        ws
    };

    for (token, reason) in [
        ("wrong", "bad token for app/room"),
        ("slow", "authorization timed out"),
    ] {
        let mut refused = connect(token);
        assert_eq!(
            refused.next(),
            ServerMessage::Rejected {
                reason: reason.into()
            },
            "{token}"
        );
        assert_eq!(refused.closed_with(), CloseCode::from(4000), "{token}");
    }

    let mut alice = connect("token-alice");
    assert_eq!(alice.next(), ServerMessage::Connected);
    let Ok(me) = alice.call("whoami", vec![]) else {
        panic!("whoami failed");
    };
    assert_eq!(
        me.property("attributes"),
        Some(&Value::object([
            ("scope", Value::from("app/room")),
            ("user", Value::from("alice")),
        ]))
    );
    assert_eq!(me.property("peer"), Some(&Value::from(true)));
    server.stop().await;
}

suite!(
    websocket_connects_are_authorized,
    more_of_the_contract_and_the_demo_over_websocket,
    the_admin_token_allows_set_remove_and_destroy,
    websocket_and_rtmp_clients_share_one_so,
    websocket_clients_meet_the_same_security_and_demo_rules,
    bad_frames_get_errors_and_nobody_else_notices,
    health_metrics_and_admin_answer,
);
