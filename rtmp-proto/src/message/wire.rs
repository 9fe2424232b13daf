//! Field readers and writers shared by the message codecs.
//!
//! Readers are nom *complete* parsers: message bodies arrive reassembled, so
//! running out of bytes is [`DecodeError::Truncated`], never "need more".

use bytes::{BufMut, BytesMut};
use nom::IResult;
use nom::number::complete::be_u16;

use crate::amf::{Limits, Str};
use crate::error::{ApiMisuse, DecodeError, Limit, LimitExceeded};

/// A nom result over a message body, failing with our own error type.
pub(crate) type Parsed<'a, T> = IResult<&'a [u8], T, DecodeError>;

/// AMF0 string marker, written before the command name and the
/// SharedObject SEND_MESSAGE handler name.
const AMF0_STRING: u8 = 0x02;
/// AMF0 number marker, written before the command transaction id.
const AMF0_NUMBER: u8 = 0x00;

/// A u16-length UTF-8 string without a type marker (SO names, keys, status
/// strings; reference/protocol.md §5.3), checked against the string limit.
pub(crate) fn short_str<'a>(input: &'a [u8], limits: &Limits) -> Parsed<'a, Str> {
    let (input, len) = be_u16(input)?;
    let len = usize::from(len);
    if len > limits.max_string_bytes {
        return Err(nom::Err::Failure(
            LimitExceeded::new(Limit::AmfStringBytes, limits.max_string_bytes).into(),
        ));
    }
    let (bytes, rest) = input
        .split_at_checked(len)
        .ok_or(nom::Err::Error(DecodeError::Truncated))?;
    let s = Str::from_utf8(bytes).map_err(|_| nom::Err::Failure(DecodeError::InvalidUtf8))?;
    Ok((rest, s))
}

/// Drops the leading byte of an AMF3-variant body (types 15, 16, 17).
///
/// Red5 and crtmpserver write `0x00`; Red5 reads commands and data past any
/// value ("Unknown byte, probably encoding as with Flex SOs?"), and so do we
/// for all three types (reference/protocol.md §4.2, §5.1).
pub(crate) fn skip_format_byte(body: &[u8]) -> Result<&[u8], DecodeError> {
    body.split_first()
        .map(|(_, rest)| rest)
        .ok_or(DecodeError::Truncated)
}

/// Writes a u16-length string without a marker, or refuses one that does not fit.
pub(crate) fn put_short_str(
    out: &mut BytesMut,
    s: &str,
    what: &'static str,
) -> Result<(), ApiMisuse> {
    let len = u16::try_from(s.len()).map_err(|_| ApiMisuse::TooLarge(what))?;
    out.put_u16(len);
    out.put_slice(s.as_bytes());
    Ok(())
}

/// Writes an AMF0 string (marker `0x02`). Only the short form: every peer
/// reads it for names, and a name over 65,535 bytes is a caller bug.
pub(crate) fn put_amf0_str(
    out: &mut BytesMut,
    s: &str,
    what: &'static str,
) -> Result<(), ApiMisuse> {
    let len = u16::try_from(s.len()).map_err(|_| ApiMisuse::TooLarge(what))?;
    out.put_u8(AMF0_STRING);
    out.put_u16(len);
    out.put_slice(s.as_bytes());
    Ok(())
}

/// Writes an AMF0 number (marker `0x00`).
pub(crate) fn put_amf0_number(out: &mut BytesMut, n: f64) {
    out.put_u8(AMF0_NUMBER);
    out.put_f64(n);
}
