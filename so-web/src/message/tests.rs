use rtmp_proto::amf::Value;
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use serde_json::{Value as Json, json};

use super::*;
use crate::Limits;

fn decode(json: Json) -> Result<ClientMessage, MessageError> {
    ClientMessage::decode(&json.to_string(), &Limits::default())
}

#[test]
fn client_messages_decode() {
    assert_eq!(
        decode(json!({"type": "connect", "app": "chat", "room": "lobby/1", "args": ["me"]})),
        Ok(ClientMessage::Connect {
            app: "chat".into(),
            room: Some("lobby/1".into()),
            args: vec![Value::from("me")],
        })
    );
    assert_eq!(
        decode(json!({"type": "use", "so": "s"})),
        Ok(ClientMessage::Use {
            so: "s".into(),
            persistent: false
        })
    );
    assert_eq!(
        decode(json!({"type": "set", "so": "s", "key": "k", "value": 1})),
        Ok(ClientMessage::Set {
            so: "s".into(),
            values: vec![("k".into(), Value::Number(1.0))],
        })
    );
    assert_eq!(
        decode(json!({"type": "set", "so": "s", "values": {"b": null, "a": "x"}})),
        Ok(ClientMessage::Set {
            so: "s".into(),
            values: vec![("b".into(), Value::Null), ("a".into(), Value::from("x"))],
        })
    );
    assert_eq!(
        decode(json!({"type": "remove", "so": "s", "keys": ["a", "b"]})),
        Ok(ClientMessage::Remove {
            so: "s".into(),
            keys: vec!["a".into(), "b".into()],
        })
    );
    assert_eq!(
        decode(json!({"type": "call", "method": "m"})),
        Ok(ClientMessage::Call {
            id: 0.0,
            method: "m".into(),
            args: vec![],
        })
    );
    assert_eq!(
        decode(json!({"type": "result", "id": 3, "error": "no"})),
        Ok(ClientMessage::Result {
            id: 3,
            outcome: Err(Value::from("no")),
        })
    );
}

#[test]
fn client_messages_round_trip_through_json() {
    let messages = [
        ClientMessage::Connect {
            app: "a".into(),
            room: None,
            args: vec![Value::Bool(true)],
        },
        ClientMessage::Use {
            so: "s".into(),
            persistent: true,
        },
        ClientMessage::Release { so: "s".into() },
        ClientMessage::Set {
            so: "s".into(),
            values: vec![("k".into(), Value::Undefined)],
        },
        ClientMessage::Remove {
            so: "s".into(),
            keys: vec!["k".into()],
        },
        ClientMessage::Send {
            so: "s".into(),
            method: "m".into(),
            args: vec![Value::from("x")],
        },
        ClientMessage::Call {
            id: 9.0,
            method: "m".into(),
            args: vec![],
        },
        ClientMessage::Result {
            id: 1,
            outcome: Ok(Value::Null),
        },
    ];
    for message in messages {
        assert_eq!(decode(message.to_json()), Ok(message));
    }
}

#[test]
fn server_messages_round_trip_through_json() {
    let messages = [
        ServerMessage::Connected,
        ServerMessage::Rejected {
            reason: "no".into(),
        },
        ServerMessage::SharedObject(SharedObjectMessage {
            name: "s".into(),
            version: 4,
            persistent: true,
            events: vec![
                SoEvent::UseSuccess,
                SoEvent::Clear,
                SoEvent::Change {
                    key: "k".into(),
                    value: Value::from("v"),
                },
                SoEvent::Success { key: "k".into() },
                SoEvent::Remove { key: "k".into() },
                SoEvent::SendMessage {
                    method: "m".into(),
                    args: vec![Value::Null],
                },
                SoEvent::Status {
                    code: "SharedObject.NoWriteAccess".into(),
                    level: "error".into(),
                },
            ],
        }),
        ServerMessage::Result {
            id: 2.0,
            outcome: Err(Value::from("failed")),
        },
        ServerMessage::Call {
            id: 1,
            method: "ping".into(),
            args: vec![],
        },
        ServerMessage::Error {
            code: "bad_json".into(),
            message: "x".into(),
        },
    ];
    for message in messages {
        let text = message.to_text();
        assert_eq!(
            ServerMessage::decode(&text, &Limits::default()),
            Ok(message),
            "{text}"
        );
    }
}

#[test]
fn bad_frames_get_their_code() {
    let limits = Limits {
        max_message_bytes: 64,
        max_name_bytes: 4,
        ..Limits::default()
    };
    let cases = [
        ("{", "bad_json"),
        ("[]", "bad_message"),
        (r#"{"type": 1}"#, "bad_message"),
        (r#"{"type": "dance"}"#, "unknown_type"),
        (r#"{"type": "use"}"#, "bad_message"),
        (r#"{"type": "use", "so": "toolong"}"#, "bad_message"),
        (r#"{"type": "set", "so": "s"}"#, "bad_message"),
        (
            r#"{"type": "set", "so": "s", "key": "k", "value": {"$type": "?"}}"#,
            "bad_value",
        ),
        (
            r#"{"type": "call", "id": -1, "method": "m"}"#,
            "bad_message",
        ),
        (
            &format!(r#"{{"type": "use", "so": "{}"}}"#, "x".repeat(64)),
            "too_large",
        ),
    ];
    for (text, code) in cases {
        let error = ClientMessage::decode(text, &limits).expect_err(text);
        assert_eq!(error.code(), code, "{text}: {error}");
    }
}

#[test]
fn deep_json_is_refused_without_overflowing() {
    let text = format!(
        r#"{{"type":"set","so":"s","key":"k","value":{}1{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let limits = Limits {
        max_message_bytes: 1 << 20,
        ..Limits::default()
    };
    assert_eq!(
        ClientMessage::decode(&text, &limits).map_err(|e| e.code()),
        Err("bad_json")
    );
    let text = format!(
        r#"{{"type":"set","so":"s","key":"k","value":{}1{}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    assert_eq!(
        ClientMessage::decode(&text, &limits).map_err(|e| e.code()),
        Err("bad_value")
    );
}
