//! Writing frames: `to_json` of [`ClientMessage`] and [`ServerMessage`].

use rtmp_proto::amf::Value;
use rtmp_proto::message::shared_object::SoEvent;
use serde_json::{Map, Value as Json};

use super::{ClientMessage, ServerMessage};
use crate::value::to_json;

impl ClientMessage {
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
