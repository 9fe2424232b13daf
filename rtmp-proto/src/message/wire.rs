//! Field readers and writers shared by the message codecs.
//!
//! Readers are nom *complete* parsers: message bodies arrive reassembled, so
//! running out of bytes is [`DecodeError::Truncated`], never "need more".

use bytes::{BufMut, BytesMut};
use nom::IResult;

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
/// strings; docs/PROTOCOL.md §5.3), checked against the string limit.
#[inline]
pub(crate) fn short_str<'a>(input: &'a [u8], limits: &Limits) -> Parsed<'a, Str> {
    let (input, len) = u16_be(input)?;
    let len = usize::from(len);
    if len > limits.max_string_bytes {
        return Err(nom::Err::Failure(
            LimitExceeded::new(Limit::AmfStringBytes, limits.max_string_bytes).into(),
        ));
    }
    let (rest, utf8) = bytes(input, len)?;
    let s = Str::from_utf8(utf8).map_err(|_| nom::Err::Failure(DecodeError::InvalidUtf8))?;
    Ok((rest, s))
}

/// A big-endian u16: nom's `be_u16` without its generic byte loop, for the
/// SharedObject decoder's hot path (keys, names).
#[inline]
pub(crate) fn u16_be(input: &[u8]) -> Parsed<'_, u16> {
    let (bytes, rest) = input.split_first_chunk::<2>().ok_or(TRUNCATED)?;
    Ok((rest, u16::from_be_bytes(*bytes)))
}

/// A big-endian u32: nom's `be_u32` without its generic byte loop, for the
/// SharedObject decoder's hot path (envelope, event lengths).
#[inline]
pub(crate) fn u32_be(input: &[u8]) -> Parsed<'_, u32> {
    let (bytes, rest) = input.split_first_chunk::<4>().ok_or(TRUNCATED)?;
    Ok((rest, u32::from_be_bytes(*bytes)))
}

/// `len` bytes.
#[inline]
pub(crate) fn bytes(input: &[u8], len: usize) -> Parsed<'_, &[u8]> {
    let (taken, rest) = input.split_at_checked(len).ok_or(TRUNCATED)?;
    Ok((rest, taken))
}

/// Running out of bytes inside a complete body.
pub(crate) const TRUNCATED: nom::Err<DecodeError> = nom::Err::Error(DecodeError::Truncated);

/// Drops the leading byte of an AMF3-variant body (types 15, 16, 17).
///
/// Red5 and crtmpserver write `0x00`; Red5 reads commands and data past any
/// value ("Unknown byte, probably encoding as with Flex SOs?"), and so do we
/// for all three types (docs/PROTOCOL.md §4.2, §5.1).
pub(crate) fn skip_format_byte(body: &[u8]) -> Result<&[u8], DecodeError> {
    body.split_first()
        .map(|(_, rest)| rest)
        .ok_or(DecodeError::Truncated)
}

/// Writes a u16-length string without a marker, or refuses one that does not fit.
#[inline]
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
#[inline]
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
#[inline]
pub(crate) fn put_amf0_number(out: &mut BytesMut, n: f64) {
    out.put_u8(AMF0_NUMBER);
    out.put_f64(n);
}
