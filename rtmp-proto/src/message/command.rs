//! Commands: type 20 (AMF0) and type 17 (AMF3), spec §7.1.1 and
//! docs/PROTOCOL.md §4; plus builders for the commands a SharedObject
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
    /// The name must be a string of at most 65,535 bytes and the transaction
    /// id a number; a body that ends after the transaction id has a `null`
    /// command object.
    pub fn decode(body: &[u8], encoding: Encoding, limits: &Limits) -> Result<Self, DecodeError> {
        let body = match encoding {
            Encoding::Amf0 => body,
            Encoding::Amf3 => skip_format_byte(body)?,
        };
        let mut values = amf0::Decoder::new(body, limits);
        // Any string form is read; one over 65,535 bytes could not be written
        // back in the 0x02 form every peer reads, so it is refused.
        let name = match values.decode()? {
            Value::String(name) if u16::try_from(name.len()).is_ok() => name,
            _ => {
                return Err(DecodeError::Invalid {
                    what: "command name",
                });
            }
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

    /// The FMS-style answer to an accepted `connect` (docs/PROTOCOL.md
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

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::*;

    /// `connect` as Flash Player sends it (type 20, AMF0), asking for AMF3.
    const FLASH_CONNECT: &[u8] = &hex!(
        "020007636F6E6E656374"
        "003FF0000000000000"
        "03"
        "000361707002000463686174"
        "0008666C61736856657202000E57494E2033322C302C302C343635"
        "000673776655726C02001B687474703A2F2F6578616D706C652E636F6D2F636861742E737766"
        "0005746355726C02001572746D703A2F2F6C6F63616C686F73742F63686174"
        "0004667061640100"
        "000C6361706162696C697469657300406DE00000000000"
        "000B617564696F436F646563730040ABEE0000000000"
        "000B766964656F436F6465637300406F800000000000"
        "000D766964656F46756E6374696F6E003FF0000000000000"
        "00077061676555726C02001C687474703A2F2F6578616D706C652E636F6D2F636861742E68746D6C"
        "000E6F626A656374456E636F64696E67004008000000000000"
        "000009"
    );

    fn flash_connect() -> Command {
        Command::new(
            "connect",
            1.0,
            Value::object([
                ("app", Value::from("chat")),
                ("flashVer", Value::from("WIN 32,0,0,465")),
                ("swfUrl", Value::from("http://example.com/chat.swf")),
                ("tcUrl", Value::from("rtmp://localhost/chat")),
                ("fpad", Value::Bool(false)),
                ("capabilities", Value::Number(239.0)),
                ("audioCodecs", Value::Number(3575.0)),
                ("videoCodecs", Value::Number(252.0)),
                ("videoFunction", Value::Number(1.0)),
                ("pageUrl", Value::from("http://example.com/chat.html")),
                ("objectEncoding", Value::Number(3.0)),
            ]),
            vec![],
        )
    }

    fn decode(body: &[u8], encoding: Encoding) -> Result<Command, DecodeError> {
        Command::decode(body, encoding, &Limits::default())
    }

    fn encode(command: &Command, encoding: Encoding) -> Vec<u8> {
        let mut out = BytesMut::new();
        command.encode(encoding, &mut out).expect("encodes");
        out.to_vec()
    }

    #[test]
    fn flash_connect_decodes() {
        let command = decode(FLASH_CONNECT, Encoding::Amf0).expect("decodes");
        assert_eq!(command, flash_connect());
        assert_eq!(command.object_encoding(), Encoding::Amf3);
        assert_eq!(
            command
                .command_object
                .property("tcUrl")
                .and_then(Value::as_str),
            Some("rtmp://localhost/chat")
        );
        assert_eq!(encode(&command, Encoding::Amf0), FLASH_CONNECT);
    }

    #[test]
    fn type_17_has_a_leading_byte() {
        let mut body = vec![0x00];
        body.extend_from_slice(FLASH_CONNECT);
        assert_eq!(decode(&body, Encoding::Amf3), Ok(flash_connect()));
        assert_eq!(encode(&flash_connect(), Encoding::Amf3), body);
        // Red5 skips the byte whatever it holds.
        body[0] = 0x03;
        assert_eq!(decode(&body, Encoding::Amf3), Ok(flash_connect()));
        assert_eq!(decode(&[], Encoding::Amf3), Err(DecodeError::Truncated));
    }

    #[test]
    fn type_17_values_may_switch_to_amf3() {
        // "_result", transaction id as AMF3 integer 5, null, AMF3 string "hi".
        let body = hex!("00 02 0007 5F726573756C74  11 04 05  05  11 06 05 6869");
        assert_eq!(
            decode(&body, Encoding::Amf3),
            Ok(Command::result(5.0, Value::Null, Value::from("hi")))
        );
    }

    #[test]
    fn missing_command_object_is_null() {
        let body = hex!("02 0004 70696E67  00 0000000000000000");
        assert_eq!(
            decode(&body, Encoding::Amf0),
            Ok(Command::new("ping", 0.0, Value::Null, vec![]))
        );
    }

    #[test]
    fn name_and_transaction_id_are_checked() {
        let number_name = hex!("00 3FF0000000000000  00 3FF0000000000000");
        assert_eq!(
            decode(&number_name, Encoding::Amf0),
            Err(DecodeError::Invalid {
                what: "command name"
            })
        );
        let string_id = hex!("02 0004 70696E67  02 0001 31");
        assert_eq!(
            decode(&string_id, Encoding::Amf0),
            Err(DecodeError::Invalid {
                what: "command transaction id"
            })
        );
    }

    #[test]
    fn long_string_names_are_read_up_to_65535_bytes() {
        for (len, ok) in [(65_535_usize, true), (65_536, false)] {
            let mut body = vec![0x0C];
            body.extend_from_slice(&u32::try_from(len).expect("fits").to_be_bytes());
            body.resize(body.len() + len, b'n');
            body.extend_from_slice(&hex!("00 0000000000000000"));
            let expected = if ok {
                Ok(Command::new("n".repeat(len), 0.0, Value::Null, vec![]))
            } else {
                Err(DecodeError::Invalid {
                    what: "command name",
                })
            };
            assert_eq!(decode(&body, Encoding::Amf0), expected, "{len}");
        }
    }

    #[test]
    fn truncated_at_every_prefix() {
        let after_transaction_id = 10 + 9;
        for len in 0..FLASH_CONNECT.len() {
            let prefix = FLASH_CONNECT.get(..len).unwrap_or_default();
            let expected = if len == after_transaction_id {
                Ok(Command::new("connect", 1.0, Value::Null, vec![]))
            } else {
                Err(DecodeError::Truncated)
            };
            assert_eq!(decode(prefix, Encoding::Amf0), expected, "prefix {len}");
        }
    }

    #[test]
    fn builders_round_trip_in_both_encodings() {
        let commands = [
            Command::connect("chat/room1", "rtmp://localhost/chat/room1", Encoding::Amf3),
            Command::connect_success(1.0, Encoding::Amf3),
            Command::connect_rejected(1.0, "No scope 'x' on this server."),
            Command::on_status(status_object(
                StatusLevel::Warning,
                "NetStream.Play.Failed",
                "Media streams are not supported.",
            )),
            Command::error(4.0, Value::Null, Value::Null),
            Command::new("chat.say", 0.0, Value::Null, vec!["hi".into(), 2.5.into()]),
        ];
        for command in commands {
            for encoding in [Encoding::Amf0, Encoding::Amf3] {
                let body = encode(&command, encoding);
                assert_eq!(decode(&body, encoding).as_ref(), Ok(&command));
            }
        }
    }

    #[test]
    fn builders_have_the_expected_shape() {
        let connect = Command::connect("chat", "rtmp://h/chat", Encoding::Amf3);
        assert_eq!(
            (connect.name.as_str(), connect.transaction_id),
            ("connect", 1.0)
        );
        assert_eq!(connect.object_encoding(), Encoding::Amf3);
        let amf0 = Command::connect("chat", "rtmp://h/chat", Encoding::Amf0);
        assert_eq!(amf0.object_encoding(), Encoding::Amf0);

        let success = Command::connect_success(1.0, Encoding::Amf3);
        assert_eq!(success.name, "_result");
        assert_eq!(
            success
                .command_object
                .property("fmsVer")
                .and_then(Value::as_str),
            Some("FMS/3,5,7,7009")
        );
        let info = Value::object([
            ("level", Value::from("status")),
            ("code", Value::from("NetConnection.Connect.Success")),
            ("description", Value::from("Connection succeeded.")),
            ("objectEncoding", Value::Number(3.0)),
        ]);
        assert_eq!(success.args, vec![info]);

        let rejected = Command::connect_rejected(1.0, "go away");
        let info = status_object(
            StatusLevel::Error,
            "NetConnection.Connect.Rejected",
            "go away",
        );
        assert_eq!(
            rejected,
            Command::new("_error", 1.0, Value::Null, vec![info])
        );

        let status = Command::on_status(Value::Null);
        assert_eq!(
            (status.name.as_str(), status.transaction_id),
            ("onStatus", 0.0)
        );
    }

    #[test]
    fn status_object_bytes() {
        let mut out = BytesMut::new();
        amf0::encode(&status_object(StatusLevel::Status, "c", "d"), &mut out);
        assert_eq!(
            &out[..],
            hex!(
                "03 0005 6C6576656C 02 0006 737461747573"
                "0004 636F6465 02 0001 63"
                "000B 6465736372697074696F6E 02 0001 64"
                "000009"
            )
        );
    }

    #[test]
    fn oversized_name_is_refused() {
        let command = Command::new("x".repeat(65_536), 0.0, Value::Null, vec![]);
        for encoding in [Encoding::Amf0, Encoding::Amf3] {
            let mut out = BytesMut::from(&b"earlier"[..]);
            assert_eq!(
                command.encode(encoding, &mut out),
                Err(ApiMisuse::TooLarge("command name"))
            );
            assert_eq!(&out[..], b"earlier");
        }
    }
}
