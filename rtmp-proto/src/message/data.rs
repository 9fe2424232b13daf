//! Data messages: type 18 (AMF0) and type 15 (AMF3), spec §7.1.2.
//!
//! The body is a sequence of AMF0 values (`@setDataFrame`, `onMetaData`, user
//! notifications), any of which may switch to AMF3 with `0x11`. Type 15 has
//! one leading byte first, skipped on read whatever its value (as for type
//! 17) and written as `0x00`. Values are written like command arguments: plain
//! AMF0, switching to AMF3 only for what AMF0 cannot express.

use bytes::{BufMut, BytesMut};

use super::wire::skip_format_byte;
use crate::amf::{Encoding, Limits, Value, amf0};
use crate::error::DecodeError;

/// Decodes every value of a type 18 (`Amf0`) or type 15 (`Amf3`) body.
pub(crate) fn decode_values(
    body: &[u8],
    encoding: Encoding,
    limits: &Limits,
) -> Result<Vec<Value>, DecodeError> {
    let body = match encoding {
        Encoding::Amf0 => body,
        Encoding::Amf3 => skip_format_byte(body)?,
    };
    let mut decoder = amf0::Decoder::new(body, limits);
    let mut values = Vec::new();
    while !decoder.is_empty() {
        values.push(decoder.decode()?);
    }
    Ok(values)
}

/// Appends the body of a type 18 (`Amf0`) or type 15 (`Amf3`) message.
pub(crate) fn encode_values(values: &[Value], encoding: Encoding, out: &mut BytesMut) {
    if encoding == Encoding::Amf3 {
        out.put_u8(0);
    }
    let mut encoder = amf0::Encoder::new();
    for value in values {
        encoder.encode(value, out);
    }
}
