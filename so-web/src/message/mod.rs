//! The JSON text frames of subprotocol `rtmp-so.v1`, both ways.
//!
//! Every frame is one JSON object whose `"type"` says what it is.
//! [`ClientMessage`] is what a browser sends, [`ServerMessage`] what the
//! server sends; each side has `decode` (checked against [`Limits`]) and
//! `to_json`. Values inside use the [value mapping](crate::value).

mod decode;
mod encode;
#[cfg(test)]
mod tests;

use rtmp_proto::amf::{Str, Value};
use rtmp_proto::message::shared_object::SharedObjectMessage;

#[cfg(doc)]
use crate::Limits;
use crate::value::ValueError;

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
