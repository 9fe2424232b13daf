//! Commands: type 20 (AMF0) and type 17 (AMF3), spec §7.1.1 and
//! reference/protocol.md §4; plus builders for the commands a SharedObject
//! server and client exchange (`connect`, `_result`, `_error`, `onStatus`).
//!
//! Layout: `name · transaction id · command object · args…`, each an AMF0
//! value, any of which may switch to AMF3 with `0x11`. Type 17 has one leading
//! byte first (see [`Command::decode`]).
//!
//! Writing type 17 we put `0x00`, then the name and transaction id as plain
//! AMF0, then the command object and args with [`amf0::Encoder::encode`]:
//! plain AMF0 that switches to AMF3 (`0x11`) only for values AMF0 cannot
//! express. Every type-17 reader (Flash Player, Red5, crtmpserver) reads
//! plain AMF0 there, nothing is lost, and type 17 is type 20 plus one byte.

use bytes::{BufMut, BytesMut};

use super::wire::{put_amf0_number, put_amf0_str, skip_format_byte};
use crate::amf::{Encoding, Limits, Str, Value, amf0};
use crate::error::{ApiMisuse, DecodeError};

/// A command: a remote procedure call, its result, or a status.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Command {
    /// The procedure name (`connect`, `_result`, `onStatus`, a user method…).
    pub name: Str,
    /// The transaction id: 0 when no answer is expected; the answer repeats it.
    pub transaction_id: f64,
    /// The command object: connect properties, or usually `null`.
    pub command_object: Value,
    /// The arguments after the command object.
    pub args: Vec<Value>,
}

/// The level of a status object (`onStatus`, `_result`, `_error` info).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusLevel {
    /// `"status"`: something succeeded or happened.
    Status,
    /// `"warning"`.
    Warning,
    /// `"error"`: something failed.
    Error,
}

impl Command {
    /// The name of the command that opens a NetConnection.
    pub const CONNECT: &'static str = "connect";
    /// The name of a successful answer.
    pub const RESULT: &'static str = "_result";
    /// The name of a failed answer.
    pub const ERROR: &'static str = "_error";
    /// The name of a status notification.
    pub const ON_STATUS: &'static str = "onStatus";
    /// The status code of an accepted `connect`.
    pub const CONNECT_SUCCESS: &'static str = "NetConnection.Connect.Success";
    /// The status code of a rejected `connect`.
    pub const CONNECT_REJECTED: &'static str = "NetConnection.Connect.Rejected";

    /// A command with these fields.
    pub fn new(
        name: impl Into<Str>,
        transaction_id: f64,
        command_object: Value,
        args: Vec<Value>,
    ) -> Self {
        Self {
            name: name.into(),
            transaction_id,
            command_object,
            args,
        }
    }

    /// Decodes a type 20 (`Amf0`) or type 17 (`Amf3`) body.
    ///
    /// Type 17's leading byte is skipped whatever its value, as Red5 does.
    /// The name must be a string and the transaction id a number; a body that
    /// ends after the transaction id has a `null` command object.
    pub fn decode(body: &[u8], encoding: Encoding, limits: &Limits) -> Result<Self, DecodeError> {
        let body = match encoding {
            Encoding::Amf0 => body,
            Encoding::Amf3 => skip_format_byte(body)?,
        };
        let mut values = amf0::Decoder::new(body, limits);
        let Value::String(name) = values.decode()? else {
            return Err(DecodeError::Invalid {
                what: "command name",
            });
        };
        let transaction_id = values.decode()?.as_f64().ok_or(DecodeError::Invalid {
            what: "command transaction id",
        })?;
        let command_object = if values.is_empty() {
            Value::Null
        } else {
            values.decode()?
        };
        let mut args = Vec::new();
        while !values.is_empty() {
            args.push(values.decode()?);
        }
        Ok(Self {
            name,
            transaction_id,
            command_object,
            args,
        })
    }

    /// Appends the body of a type 20 (`Amf0`) or type 17 (`Amf3`) message.
    ///
    /// Fails only for a name over 65,535 bytes, which no peer reads; `out` is
    /// then left as it was.
    pub fn encode(&self, encoding: Encoding, out: &mut BytesMut) -> Result<(), ApiMisuse> {
        let start = out.len();
        if encoding == Encoding::Amf3 {
            out.put_u8(0);
        }
        if let Err(e) = put_amf0_str(out, &self.name, "command name") {
            out.truncate(start);
            return Err(e);
        }
        put_amf0_number(out, self.transaction_id);
        let mut values = amf0::Encoder::new();
        values.encode(&self.command_object, out);
        for arg in &self.args {
            values.encode(arg, out);
        }
        Ok(())
    }

    /// A `connect` (transaction id 1) with the properties Flash Player sends,
    /// its `flashVer`, capabilities and codec masks as FFmpeg's client sends them.
    pub fn connect(app: &str, tc_url: &str, encoding: Encoding) -> Self {
        let object_encoding = match encoding {
            Encoding::Amf0 => 0.0,
            Encoding::Amf3 => 3.0,
        };
        let command_object = Value::object([
            ("app", Value::from(app)),
            ("flashVer", Value::from("LNX 9,0,124,2")),
            ("tcUrl", Value::from(tc_url)),
            ("fpad", Value::Bool(false)),
            ("capabilities", Value::Number(15.0)),
            ("audioCodecs", Value::Number(4071.0)),
            ("videoCodecs", Value::Number(252.0)),
            ("videoFunction", Value::Number(1.0)),
            ("objectEncoding", Value::Number(object_encoding)),
        ]);
        Self::new(Self::CONNECT, 1.0, command_object, Vec::new())
    }

    /// A `_result` answering `transaction_id`, with one info value.
    pub fn result(transaction_id: f64, command_object: Value, info: Value) -> Self {
        Self::new(Self::RESULT, transaction_id, command_object, vec![info])
    }

    /// An `_error` answering `transaction_id`, with one info value.
    pub fn error(transaction_id: f64, command_object: Value, info: Value) -> Self {
        Self::new(Self::ERROR, transaction_id, command_object, vec![info])
    }

    /// An `onStatus` notification (transaction id 0, `null` command object).
    pub fn on_status(info: Value) -> Self {
        Self::new(Self::ON_STATUS, 0.0, Value::Null, vec![info])
    }

    /// The FMS-style answer to an accepted `connect` (reference/protocol.md
    /// §4.4): server properties, then the status with `objectEncoding`.
    pub fn connect_success(transaction_id: f64, encoding: Encoding) -> Self {
        let properties = Value::object([
            ("fmsVer", Value::from("FMS/3,5,7,7009")),
            ("capabilities", Value::Number(31.0)),
            ("mode", Value::Number(1.0)),
        ]);
        let mut info = status_object(
            StatusLevel::Status,
            Self::CONNECT_SUCCESS,
            "Connection succeeded.",
        );
        if let Value::Object(object) = &mut info {
            let object_encoding = match encoding {
                Encoding::Amf0 => 0.0,
                Encoding::Amf3 => 3.0,
            };
            object
                .properties
                .push(("objectEncoding".into(), Value::Number(object_encoding)));
        }
        Self::result(transaction_id, properties, info)
    }

    /// The answer to a rejected `connect`: `_error` with
    /// `NetConnection.Connect.Rejected` and `description`.
    pub fn connect_rejected(transaction_id: f64, description: &str) -> Self {
        let info = status_object(StatusLevel::Error, Self::CONNECT_REJECTED, description);
        Self::error(transaction_id, Value::Null, info)
    }

    /// The encoding a `connect` asks for: AMF3 iff its `objectEncoding` is 3,
    /// as Red5 decides.
    pub fn object_encoding(&self) -> Encoding {
        let requested = self
            .command_object
            .property("objectEncoding")
            .and_then(Value::as_f64);
        if requested == Some(3.0) {
            Encoding::Amf3
        } else {
            Encoding::Amf0
        }
    }
}

impl StatusLevel {
    /// The level string on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// A status object `{level, code, description}`, in that order.
pub fn status_object(level: StatusLevel, code: &str, description: &str) -> Value {
    Value::object([
        ("level", Value::from(level.as_str())),
        ("code", Value::from(code)),
        ("description", Value::from(description)),
    ])
}
