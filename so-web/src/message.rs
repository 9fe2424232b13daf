//! The JSON text frames of subprotocol `rtmp-so.v1`, both ways.
//!
//! Every frame is one JSON object whose `"type"` says what it is.
//! [`ClientMessage`] is what a browser sends, [`ServerMessage`] what the
//! server sends; each side has `decode` (checked against [`Limits`]) and
//! `to_json`. Values inside use the [value mapping](crate::value).

use rtmp_proto::amf::{Str, Value};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use serde_json::{Map, Value as Json};

use crate::Limits;
use crate::value::{ValueError, from_json, to_json};

/// A frame from the client.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    /// `{"type":"connect","app":"chat","room":"lobby/1","args":[…]}`: the
    /// first frame; joins scope `app/room` (`room` is optional).
    Connect {
        /// The application.
        app: String,
        /// The room path below it, if any (`a` or `a/b`).
        room: Option<String>,
        /// Arguments for the application's connect hook.
        args: Vec<Value>,
    },
    /// `{"type":"use","so":"chat","persistent":false}`: subscribe (and
    /// create if allowed).
    Use {
        /// The SO's name.
        so: Str,
        /// Whether the SO is persistent.
        persistent: bool,
    },
    /// `{"type":"release","so":"chat"}`: unsubscribe.
    Release {
        /// The SO's name.
        so: Str,
    },
    /// `{"type":"set","so":"chat","key":"k","value":1}`, or several keys
    /// as one update: `{"type":"set","so":"chat","values":{"a":1,"b":2}}`.
    /// A `null` value deletes the key.
    Set {
        /// The SO's name.
        so: Str,
        /// The keys and their new values, in order.
        values: Vec<(Str, Value)>,
    },
    /// `{"type":"remove","so":"chat","key":"k"}` (or `"keys":["a","b"]`).
    Remove {
        /// The SO's name.
        so: Str,
        /// The keys to delete, in order.
        keys: Vec<Str>,
    },
    /// `{"type":"send","so":"chat","method":"onMsg","args":[…]}`: invoke a
    /// handler on every subscriber.
    Send {
        /// The SO's name.
        so: Str,
        /// The handler name.
        method: Str,
        /// Its arguments.
        args: Vec<Value>,
    },
    /// `{"type":"call","id":1,"method":"echo","args":[…]}`: call a server
    /// method; without `id` (or with 0) no answer comes.
    Call {
        /// The caller's id for the answer; 0 for none.
        id: f64,
        /// The method.
        method: Str,
        /// Its arguments.
        args: Vec<Value>,
    },
    /// `{"type":"result","id":3,"value":…}` or `{"type":"result","id":3,"error":…}`:
    /// the answer to a server's [`ServerMessage::Call`].
    Result {
        /// The server's id of the call.
        id: u32,
        /// The value, or the error.
        outcome: Result<Value, Value>,
    },
}

/// A frame from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// `{"type":"connected"}`: the connect was accepted.
    Connected,
    /// `{"type":"rejected","reason":"…"}`: the connect was refused; the
    /// socket closes with [`CloseCode::REJECTED`](crate::CloseCode::REJECTED).
    Rejected {
        /// The application's reason.
        reason: String,
    },
    /// `{"type":"so","so":"chat","version":4,"persistent":false,"events":[…]}`:
    /// one SharedObject update, as RTMP clients get it. Events:
    /// `{"type":"use_success"}`, `{"type":"clear"}`,
    /// `{"type":"change","key":"k","value":…}`, `{"type":"success","key":"k"}`,
    /// `{"type":"remove","key":"k"}`,
    /// `{"type":"message","method":"m","args":[…]}`,
    /// `{"type":"status","code":"SharedObject.NoWriteAccess","level":"error"}`.
    SharedObject(SharedObjectMessage),
    /// `{"type":"result","id":1,"value":…}` or `{"type":"result","id":1,"error":…}`:
    /// the answer to the client's call.
    Result {
        /// The client's id of the call.
        id: f64,
        /// The value, or the error (a status object).
        outcome: Result<Value, Value>,
    },
    /// `{"type":"call","id":3,"method":"m","args":[…]}`: the server calls a
    /// client method; answer with [`ClientMessage::Result`].
    Call {
        /// The server's id for the answer.
        id: u32,
        /// The method.
        method: Str,
        /// Its arguments.
        args: Vec<Value>,
    },
    /// `{"type":"error","code":"bad_json","message":"…"}`: a frame was
    /// refused; the connection carries on.
    Error {
        /// What kind of error ([`MessageError::code`] and a few more).
        code: String,
        /// For people.
        message: String,
    },
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The frame is larger than [`Limits::max_message_bytes`].
    #[error("message of {size} bytes is over the limit of {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not JSON.
    #[error("not JSON: {0}")]
    Json(String),
    /// JSON, but not an object with a string `"type"`.
    #[error("a message is a JSON object with a string \"type\"")]
    NotAMessage,
    /// A `"type"` this protocol does not have.
    #[error("unknown message type \"{0}\"")]
    UnknownType(String),
    /// A member missing or of the wrong kind.
    #[error("{kind}: {problem}")]
    BadField {
        /// The message type.
        kind: String,
        /// What is wrong.
        problem: String,
    },
    /// A value with no AMF meaning.
    #[error("bad value: {0}")]
    Value(#[from] ValueError),
}

impl MessageError {
    /// The `code` of the [`ServerMessage::Error`] that answers it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::Json(_) => "bad_json",
            Self::NotAMessage | Self::BadField { .. } => "bad_message",
            Self::UnknownType(_) => "unknown_type",
            Self::Value(_) => "bad_value",
        }
    }
}

/// Reads a frame's members, naming the frame in every complaint.
struct Fields<'a> {
    kind: &'a str,
    map: &'a Map<String, Json>,
    limits: &'a Limits,
}

impl<'a> Fields<'a> {
    fn bad(&self, problem: impl Into<String>) -> MessageError {
        MessageError::BadField {
            kind: self.kind.to_owned(),
            problem: problem.into(),
        }
    }

    fn get(&self, name: &str) -> Result<&'a Json, MessageError> {
        self.map
            .get(name)
            .ok_or_else(|| self.bad(format!("\"{name}\" is missing")))
    }

    fn string(&self, name: &str) -> Result<&'a str, MessageError> {
        self.get(name)?
            .as_str()
            .ok_or_else(|| self.bad(format!("\"{name}\" is not a string")))
    }

    /// A name that goes into a 16-bit wire field (SO name, key, method).
    fn name(&self, name: &str) -> Result<Str, MessageError> {
        let text = self.string(name)?;
        self.checked_name(name, text)
    }

    fn checked_name(&self, name: &str, text: &str) -> Result<Str, MessageError> {
        if text.len() > self.limits.max_name_bytes {
            return Err(self.bad(format!(
                "\"{name}\" is longer than {} bytes",
                self.limits.max_name_bytes
            )));
        }
        Ok(text.into())
    }

    fn optional_bool(&self, name: &str) -> Result<bool, MessageError> {
        match self.map.get(name) {
            None | Some(Json::Null) => Ok(false),
            Some(Json::Bool(b)) => Ok(*b),
            Some(_) => Err(self.bad(format!("\"{name}\" is not a boolean"))),
        }
    }

    fn value(&self, json: &Json) -> Result<Value, MessageError> {
        Ok(from_json(json, self.limits)?)
    }

    fn args(&self) -> Result<Vec<Value>, MessageError> {
        match self.map.get("args") {
            None | Some(Json::Null) => Ok(Vec::new()),
            Some(Json::Array(items)) => {
                if items.len() > self.limits.max_container_len {
                    return Err(ValueError::TooLong(self.limits.max_container_len).into());
                }
                items.iter().map(|item| self.value(item)).collect()
            }
            Some(_) => Err(self.bad("\"args\" is not an array")),
        }
    }

    fn outcome(&self) -> Result<Result<Value, Value>, MessageError> {
        match (self.map.get("value"), self.map.get("error")) {
            (_, Some(error)) => Ok(Err(self.value(error)?)),
            (Some(value), None) => Ok(Ok(self.value(value)?)),
            (None, None) => Ok(Ok(Value::Undefined)),
        }
    }

    fn keyed_list<T>(
        &self,
        one: &str,
        many: &str,
        mut read: impl FnMut(&str, &'a Json) -> Result<T, MessageError>,
    ) -> Result<Vec<T>, MessageError> {
        match (self.map.get(one), self.map.get(many)) {
            (Some(_), Some(_)) | (None, None) => {
                Err(self.bad(format!("give either \"{one}\" or \"{many}\"")))
            }
            (Some(_), None) => Ok(vec![read(
                self.string(one)?,
                self.map.get("value").unwrap_or(&Json::Null),
            )?]),
            (None, Some(Json::Object(map))) => {
                self.check_len(map.len())?;
                map.iter().map(|(k, v)| read(k, v)).collect()
            }
            (None, Some(Json::Array(keys))) => {
                self.check_len(keys.len())?;
                keys.iter()
                    .map(|k| match k.as_str() {
                        Some(k) => read(k, &Json::Null),
                        None => Err(self.bad(format!("\"{many}\" holds a non-string"))),
                    })
                    .collect()
            }
            (None, Some(_)) => Err(self.bad(format!("\"{many}\" has the wrong type"))),
        }
    }

    fn check_len(&self, len: usize) -> Result<(), MessageError> {
        if len > self.limits.max_container_len {
            return Err(ValueError::TooLong(self.limits.max_container_len).into());
        }
        Ok(())
    }
}

/// Parses `text` as a JSON object with a string `"type"`, within the size limit.
fn parse(text: &str, limits: &Limits) -> Result<(String, Map<String, Json>), MessageError> {
    if text.len() > limits.max_message_bytes {
        return Err(MessageError::TooLarge {
            size: text.len(),
            limit: limits.max_message_bytes,
        });
    }
    // serde_json refuses nesting past 128 levels itself, so parsing cannot
    // exhaust the stack; `Limits::max_depth` is checked on the values.
    let json: Json = serde_json::from_str(text).map_err(|e| MessageError::Json(e.to_string()))?;
    let Json::Object(mut map) = json else {
        return Err(MessageError::NotAMessage);
    };
    let Some(Json::String(kind)) = map.shift_remove("type") else {
        return Err(MessageError::NotAMessage);
    };
    Ok((kind, map))
}

impl ClientMessage {
    /// Reads one client frame.
    pub fn decode(text: &str, limits: &Limits) -> Result<Self, MessageError> {
        let (kind, map) = parse(text, limits)?;
        let f = Fields {
            kind: &kind,
            map: &map,
            limits,
        };
        Ok(match kind.as_str() {
            "connect" => Self::Connect {
                app: f.string("app")?.to_owned(),
                room: match map.get("room") {
                    None | Some(Json::Null) => None,
                    Some(Json::String(room)) => Some(room.clone()),
                    Some(_) => return Err(f.bad("\"room\" is not a string")),
                },
                args: f.args()?,
            },
            "use" => Self::Use {
                so: f.name("so")?,
                persistent: f.optional_bool("persistent")?,
            },
            "release" => Self::Release { so: f.name("so")? },
            "set" => Self::Set {
                so: f.name("so")?,
                values: f.keyed_list("key", "values", |key, value| {
                    Ok((f.checked_name("key", key)?, f.value(value)?))
                })?,
            },
            "remove" => Self::Remove {
                so: f.name("so")?,
                keys: f.keyed_list("key", "keys", |key, _| f.checked_name("key", key))?,
            },
            "send" => Self::Send {
                so: f.name("so")?,
                method: f.name("method")?,
                args: f.args()?,
            },
            "call" => Self::Call {
                id: match map.get("id") {
                    None | Some(Json::Null) => 0.0,
                    Some(id) => id
                        .as_f64()
                        .filter(|id| id.is_finite() && *id >= 0.0)
                        .ok_or_else(|| f.bad("\"id\" is not a number of 0 or more"))?,
                },
                method: f.name("method")?,
                args: f.args()?,
            },
            "result" => Self::Result {
                id: f
                    .get("id")?
                    .as_u64()
                    .and_then(|id| u32::try_from(id).ok())
                    .ok_or_else(|| f.bad("\"id\" is not a call id"))?,
                outcome: f.outcome()?,
            },
            _ => return Err(MessageError::UnknownType(kind)),
        })
    }

    /// The frame as JSON.
    pub fn to_json(&self) -> Json {
        let mut map = Map::new();
        match self {
            Self::Connect { app, room, args } => {
                put(&mut map, "type", "connect");
                put(&mut map, "app", app.as_str());
                if let Some(room) = room {
                    put(&mut map, "room", room.as_str());
                }
                map.insert("args".into(), values(args));
            }
            Self::Use { so, persistent } => {
                put(&mut map, "type", "use");
                put(&mut map, "so", so.as_str());
                map.insert("persistent".into(), Json::Bool(*persistent));
            }
            Self::Release { so } => {
                put(&mut map, "type", "release");
                put(&mut map, "so", so.as_str());
            }
            Self::Set { so, values } => {
                put(&mut map, "type", "set");
                put(&mut map, "so", so.as_str());
                map.insert(
                    "values".into(),
                    Json::Object(
                        values
                            .iter()
                            .map(|(k, v)| (k.to_string(), to_json(v)))
                            .collect(),
                    ),
                );
            }
            Self::Remove { so, keys } => {
                put(&mut map, "type", "remove");
                put(&mut map, "so", so.as_str());
                map.insert(
                    "keys".into(),
                    Json::Array(keys.iter().map(|k| Json::String(k.to_string())).collect()),
                );
            }
            Self::Send { so, method, args } => {
                put(&mut map, "type", "send");
                put(&mut map, "so", so.as_str());
                put(&mut map, "method", method.as_str());
                map.insert("args".into(), values(args));
            }
            Self::Call { id, method, args } => {
                put(&mut map, "type", "call");
                map.insert("id".into(), to_json(&Value::Number(*id)));
                put(&mut map, "method", method.as_str());
                map.insert("args".into(), values(args));
            }
            Self::Result { id, outcome } => {
                put(&mut map, "type", "result");
                map.insert("id".into(), Json::from(*id));
                put_outcome(&mut map, outcome);
            }
        }
        Json::Object(map)
    }
}

impl ServerMessage {
    /// Reads one server frame (for clients and tests).
    pub fn decode(text: &str, limits: &Limits) -> Result<Self, MessageError> {
        let (kind, map) = parse(text, limits)?;
        let f = Fields {
            kind: &kind,
            map: &map,
            limits,
        };
        Ok(match kind.as_str() {
            "connected" => Self::Connected,
            "rejected" => Self::Rejected {
                reason: f.string("reason")?.to_owned(),
            },
            "so" => {
                let events = f
                    .get("events")?
                    .as_array()
                    .ok_or_else(|| f.bad("\"events\" is not an array"))?;
                f.check_len(events.len())?;
                Self::SharedObject(SharedObjectMessage {
                    name: f.name("so")?,
                    version: f
                        .get("version")?
                        .as_u64()
                        .and_then(|v| u32::try_from(v).ok())
                        .ok_or_else(|| f.bad("\"version\" is not a 32-bit count"))?,
                    persistent: f.optional_bool("persistent")?,
                    events: events
                        .iter()
                        .map(|event| decode_event(event, limits))
                        .collect::<Result<_, _>>()?,
                })
            }
            "result" => Self::Result {
                id: f
                    .get("id")?
                    .as_f64()
                    .ok_or_else(|| f.bad("\"id\" is not a number"))?,
                outcome: f.outcome()?,
            },
            "call" => Self::Call {
                id: f
                    .get("id")?
                    .as_u64()
                    .and_then(|id| u32::try_from(id).ok())
                    .ok_or_else(|| f.bad("\"id\" is not a call id"))?,
                method: f.name("method")?,
                args: f.args()?,
            },
            "error" => Self::Error {
                code: f.string("code")?.to_owned(),
                message: f.string("message")?.to_owned(),
            },
            _ => return Err(MessageError::UnknownType(kind)),
        })
    }

    /// The frame as JSON.
    pub fn to_json(&self) -> Json {
        let mut map = Map::new();
        match self {
            Self::Connected => put(&mut map, "type", "connected"),
            Self::Rejected { reason } => {
                put(&mut map, "type", "rejected");
                put(&mut map, "reason", reason.as_str());
            }
            Self::SharedObject(message) => {
                put(&mut map, "type", "so");
                put(&mut map, "so", message.name.as_str());
                map.insert("version".into(), Json::from(message.version));
                map.insert("persistent".into(), Json::Bool(message.persistent));
                map.insert(
                    "events".into(),
                    Json::Array(message.events.iter().filter_map(event_to_json).collect()),
                );
            }
            Self::Result { id, outcome } => {
                put(&mut map, "type", "result");
                map.insert("id".into(), to_json(&Value::Number(*id)));
                put_outcome(&mut map, outcome);
            }
            Self::Call { id, method, args } => {
                put(&mut map, "type", "call");
                map.insert("id".into(), Json::from(*id));
                put(&mut map, "method", method.as_str());
                map.insert("args".into(), values(args));
            }
            Self::Error { code, message } => {
                put(&mut map, "type", "error");
                put(&mut map, "code", code.as_str());
                put(&mut map, "message", message.as_str());
            }
        }
        Json::Object(map)
    }

    /// The frame as text.
    pub fn to_text(&self) -> String {
        self.to_json().to_string()
    }
}

/// The JSON of one SharedObject event sent to a client; `None` for the
/// events only clients send (and unknown ones), which have no JSON form.
fn event_to_json(event: &SoEvent) -> Option<Json> {
    let mut map = Map::new();
    match event {
        SoEvent::UseSuccess => put(&mut map, "type", "use_success"),
        SoEvent::Clear => put(&mut map, "type", "clear"),
        SoEvent::Change { key, value } => {
            put(&mut map, "type", "change");
            put(&mut map, "key", key.as_str());
            map.insert("value".into(), to_json(value));
        }
        SoEvent::Success { key } => {
            put(&mut map, "type", "success");
            put(&mut map, "key", key.as_str());
        }
        SoEvent::Remove { key } => {
            put(&mut map, "type", "remove");
            put(&mut map, "key", key.as_str());
        }
        SoEvent::SendMessage { method, args } => {
            put(&mut map, "type", "message");
            put(&mut map, "method", method.as_str());
            map.insert("args".into(), values(args));
        }
        SoEvent::Status { code, level } => {
            put(&mut map, "type", "status");
            put(&mut map, "code", code.as_str());
            put(&mut map, "level", level.as_str());
        }
        SoEvent::Use
        | SoEvent::Release
        | SoEvent::RequestChange { .. }
        | SoEvent::RequestRemove { .. }
        | SoEvent::Unknown { .. } => return None,
    }
    Some(Json::Object(map))
}

fn decode_event(json: &Json, limits: &Limits) -> Result<SoEvent, MessageError> {
    let Some(map) = json.as_object() else {
        return Err(MessageError::NotAMessage);
    };
    let Some(kind) = map.get("type").and_then(Json::as_str) else {
        return Err(MessageError::NotAMessage);
    };
    let f = Fields { kind, map, limits };
    Ok(match kind {
        "use_success" => SoEvent::UseSuccess,
        "clear" => SoEvent::Clear,
        "change" => SoEvent::Change {
            key: f.name("key")?,
            value: f.value(f.get("value")?)?,
        },
        "success" => SoEvent::Success {
            key: f.name("key")?,
        },
        "remove" => SoEvent::Remove {
            key: f.name("key")?,
        },
        "message" => SoEvent::SendMessage {
            method: f.name("method")?,
            args: f.args()?,
        },
        "status" => SoEvent::Status {
            code: f.name("code")?,
            level: f.name("level")?,
        },
        other => return Err(MessageError::UnknownType(other.to_owned())),
    })
}

fn put(map: &mut Map<String, Json>, key: &str, value: &str) {
    map.insert(key.into(), Json::String(value.into()));
}

fn values(args: &[Value]) -> Json {
    Json::Array(args.iter().map(to_json).collect())
}

fn put_outcome(map: &mut Map<String, Json>, outcome: &Result<Value, Value>) {
    match outcome {
        Ok(value) => map.insert("value".into(), to_json(value)),
        Err(error) => map.insert("error".into(), to_json(error)),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
