//! Reading frames: [`ClientMessage::decode`], [`ServerMessage::decode`],
//! every field checked against [`Limits`].

use rtmp_proto::amf::{Str, Value};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use serde_json::{Map, Value as Json};

use super::{ClientMessage, MessageError, ServerMessage};
use crate::Limits;
use crate::value::{ValueError, from_json};

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
