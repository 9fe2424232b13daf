//! Chunk headers (spec §5.3.1): streaming parsers in nom's convention,
//! which answer `Incomplete` when the input stops inside a header, and the
//! writers.
//!
//! All fields are big-endian except the message stream id (little-endian)
//! and the 16-bit field of the 3-byte basic header (little-endian too).
//! Every header part has a fixed size, so each parser takes its bytes as one
//! array: one length check per part instead of one per field.

use bytes::{BufMut, BytesMut};
use nom::{IResult, Needed};

use crate::error::DecodeError;

/// The 24-bit timestamp value announcing a 4-byte extended timestamp (spec §5.3.1.3).
pub(crate) const EXTENDED_TIMESTAMP: u32 = 0xFF_FFFF;

/// What a streaming header parser returns.
pub(crate) type Parsed<'a, T> = IResult<&'a [u8], T, DecodeError>;

/// The fields of a fmt-0 message header; fmt 1 leaves `stream_id` at 0 and
/// fmt 2 fills only `timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fields {
    /// The 24-bit timestamp (fmt 0) or delta (fmt 1, 2) field, before any extension.
    pub(crate) timestamp: u32,
    /// Message length.
    pub(crate) length: u32,
    /// Message type id.
    pub(crate) type_id: u8,
    /// Message stream id.
    pub(crate) stream_id: u32,
}

/// The basic header: `(fmt, csid)`, in its 1-, 2- or 3-byte form (spec §5.3.1.1).
#[inline]
pub(crate) fn basic_header(input: &[u8]) -> Parsed<'_, (u8, u32)> {
    let (input, &[first]) = array::<1>(input)?;
    let fmt = first >> 6;
    match first & 0x3F {
        0 => {
            let (input, &[id]) = array::<1>(input)?;
            Ok((input, (fmt, u32::from(id) + 64)))
        }
        1 => {
            // byte 1 is the low byte: `byte2 * 256 + byte1 + 64`.
            let (input, &id) = array::<2>(input)?;
            Ok((input, (fmt, u32::from(u16::from_le_bytes(id)) + 64)))
        }
        id => Ok((input, (fmt, u32::from(id)))),
    }
}

/// The 11-byte fmt-0 message header.
#[inline]
pub(crate) fn fmt0(input: &[u8]) -> Parsed<'_, Fields> {
    let (input, &[t0, t1, t2, l0, l1, l2, type_id, s0, s1, s2, s3]) = array::<11>(input)?;
    let fields = Fields {
        timestamp: u32::from_be_bytes([0, t0, t1, t2]),
        length: u32::from_be_bytes([0, l0, l1, l2]),
        type_id,
        stream_id: u32::from_le_bytes([s0, s1, s2, s3]),
    };
    Ok((input, fields))
}

/// The 7-byte fmt-1 message header (no message stream id).
#[inline]
pub(crate) fn fmt1(input: &[u8]) -> Parsed<'_, Fields> {
    let (input, &[t0, t1, t2, l0, l1, l2, type_id]) = array::<7>(input)?;
    let fields = Fields {
        timestamp: u32::from_be_bytes([0, t0, t1, t2]),
        length: u32::from_be_bytes([0, l0, l1, l2]),
        type_id,
        stream_id: 0,
    };
    Ok((input, fields))
}

/// The 3-byte fmt-2 message header: the timestamp delta.
#[inline]
pub(crate) fn fmt2(input: &[u8]) -> Parsed<'_, u32> {
    let (input, &[t0, t1, t2]) = array::<3>(input)?;
    Ok((input, u32::from_be_bytes([0, t0, t1, t2])))
}

/// The 4-byte extended timestamp.
#[inline]
pub(crate) fn extended_timestamp(input: &[u8]) -> Parsed<'_, u32> {
    let (input, &bytes) = array::<4>(input)?;
    Ok((input, u32::from_be_bytes(bytes)))
}

/// Length of the header of a message's first chunk (see [`put_first`]).
#[inline]
pub(crate) fn first_len(fmt: u8, csid: u32, time: u32) -> usize {
    let message = match fmt {
        0 => 11,
        1 => 7,
        2 => 3,
        _ => 0,
    };
    basic_len(csid) + message + extended_len(time >= EXTENDED_TIMESTAMP)
}

/// Length of a continuation chunk's header (see [`put_continuation`]).
#[inline]
pub(crate) fn continuation_len(csid: u32, extended: Option<u32>) -> usize {
    basic_len(csid) + extended_len(extended.is_some())
}

/// Writes the header of a message's first chunk. `time` is the absolute
/// timestamp for fmt 0 and the delta otherwise; from `0xFFFFFF` on it goes
/// into an extended timestamp. `csid` must be 2..=65,599.
#[inline]
pub(crate) fn put_first(out: &mut BytesMut, fmt: u8, csid: u32, time: u32, fields: &Fields) {
    put_basic(out, fmt, csid);
    let [_, t0, t1, t2] = time.min(EXTENDED_TIMESTAMP).to_be_bytes();
    let [_, l0, l1, l2] = fields.length.to_be_bytes();
    let type_id = fields.type_id;
    match fmt {
        0 => {
            let [s0, s1, s2, s3] = fields.stream_id.to_le_bytes();
            out.put_slice(&[t0, t1, t2, l0, l1, l2, type_id, s0, s1, s2, s3]);
        }
        1 => out.put_slice(&[t0, t1, t2, l0, l1, l2, type_id]),
        2 => out.put_slice(&[t0, t1, t2]),
        _ => {}
    }
    if time >= EXTENDED_TIMESTAMP {
        out.put_u32(time);
    }
}

/// Writes a continuation chunk's header: fmt 3, plus the extended timestamp
/// of the message's first chunk when it had one.
#[inline]
pub(crate) fn put_continuation(out: &mut BytesMut, csid: u32, extended: Option<u32>) {
    put_basic(out, 3, csid);
    if let Some(time) = extended {
        out.put_u32(time);
    }
}

/// The basic header, in the shortest form that holds `csid`.
#[inline]
fn put_basic(out: &mut BytesMut, fmt: u8, csid: u32) {
    let fmt = fmt << 6;
    let [low, ..] = csid.to_le_bytes();
    let [wide_low, wide_high, ..] = csid.wrapping_sub(64).to_le_bytes();
    match csid {
        0..=63 => out.put_u8(fmt | low),
        64..=319 => out.put_slice(&[fmt, wide_low]),
        _ => out.put_slice(&[fmt | 1, wide_low, wide_high]),
    }
}

#[inline]
fn basic_len(csid: u32) -> usize {
    match csid {
        0..=63 => 1,
        64..=319 => 2,
        _ => 3,
    }
}

#[inline]
fn extended_len(extended: bool) -> usize {
    if extended { 4 } else { 0 }
}

/// The first `N` bytes as an array: nom's streaming `take`, sized at compile time.
#[inline]
fn array<const N: usize>(input: &[u8]) -> Parsed<'_, &[u8; N]> {
    match input.split_first_chunk::<N>() {
        Some((head, rest)) => Ok((rest, head)),
        None => Err(nom::Err::Incomplete(Needed::new(
            N.saturating_sub(input.len()),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::*;

    fn basic(input: &[u8]) -> (u8, u32, usize) {
        let (rest, (fmt, csid)) = basic_header(input).unwrap();
        (fmt, csid, input.len() - rest.len())
    }

    #[test]
    fn basic_header_forms() {
        assert_eq!(basic(&hex!("03")), (0, 3, 1));
        assert_eq!(basic(&hex!("C3")), (3, 3, 1));
        assert_eq!(basic(&hex!("7F")), (1, 63, 1));
        assert_eq!(basic(&hex!("00 00")), (0, 64, 2));
        assert_eq!(basic(&hex!("80 FF")), (2, 319, 2));
        assert_eq!(basic(&hex!("01 00 01")), (0, 320, 3));
        assert_eq!(basic(&hex!("C1 FF FF")), (3, 65_599, 3));
        // The 3-byte form may also name 64..=319; byte 1 is the low byte.
        assert_eq!(basic(&hex!("41 00 00")), (1, 64, 3));
        assert_eq!(basic(&hex!("01 34 12")), (0, 0x1234 + 64, 3));
    }

    #[test]
    fn partial_headers_are_incomplete() {
        for input in [&hex!("")[..], &hex!("00"), &hex!("01 00")] {
            assert!(matches!(basic_header(input), Err(nom::Err::Incomplete(_))));
        }
        let fmt0_header = hex!("00 00 00 00 00 17 13 00 00 00 00");
        for end in 0..fmt0_header.len() {
            assert!(matches!(
                fmt0(&fmt0_header[..end]),
                Err(nom::Err::Incomplete(_))
            ));
        }
        assert!(matches!(
            fmt1(&hex!("00 00 01 00 00")),
            Err(nom::Err::Incomplete(_))
        ));
        assert!(matches!(fmt2(&hex!("00 00")), Err(nom::Err::Incomplete(_))));
        assert!(matches!(
            extended_timestamp(&hex!("3E DF 48")),
            Err(nom::Err::Incomplete(_))
        ));
    }

    #[test]
    fn message_headers() {
        let (rest, fields) = fmt0(&hex!("FF FF FF 00 00 36 13 01 00 00 00 3E")).unwrap();
        assert_eq!(
            fields,
            Fields {
                timestamp: 0xFF_FFFF,
                length: 54,
                type_id: 0x13,
                stream_id: 1,
            }
        );
        assert_eq!(rest, hex!("3E"));
        let (_, fields) = fmt1(&hex!("00 00 0A 00 01 00 14")).unwrap();
        assert_eq!(
            (fields.timestamp, fields.length, fields.type_id),
            (10, 256, 20)
        );
        assert_eq!(fmt2(&hex!("01 02 03")).unwrap().1, 0x01_0203);
        assert_eq!(
            extended_timestamp(&hex!("3E DF 48 88")).unwrap().1,
            0x3EDF_4888
        );
    }

    fn first(fmt: u8, csid: u32, time: u32, fields: &Fields) -> Vec<u8> {
        let mut out = BytesMut::new();
        put_first(&mut out, fmt, csid, time, fields);
        assert_eq!(out.len(), first_len(fmt, csid, time));
        out.to_vec()
    }

    fn continuation(csid: u32, extended: Option<u32>) -> Vec<u8> {
        let mut out = BytesMut::new();
        put_continuation(&mut out, csid, extended);
        assert_eq!(out.len(), continuation_len(csid, extended));
        out.to_vec()
    }

    #[test]
    fn writes_shortest_basic_header() {
        let fields = Fields {
            timestamp: 0,
            length: 0,
            type_id: 0,
            stream_id: 0,
        };
        let cases: [(u32, &[u8]); 6] = [
            (2, &hex!("C2")),
            (63, &hex!("FF")),
            (64, &hex!("C0 00")),
            (319, &hex!("C0 FF")),
            (320, &hex!("C1 00 01")),
            (65_599, &hex!("C1 FF FF")),
        ];
        for (csid, bytes) in cases {
            assert_eq!(first(3, csid, 0, &fields), bytes);
            assert_eq!(continuation(csid, None), bytes);
        }
    }

    #[test]
    fn writes_message_headers() {
        let fields = Fields {
            timestamp: 0,
            length: 0x17,
            type_id: 0x13,
            stream_id: 0x0102_0304,
        };
        assert_eq!(
            first(0, 3, 0x0A0B0C, &fields),
            hex!("03 0A 0B 0C 00 00 17 13 04 03 02 01")
        );
        assert_eq!(
            first(1, 320, 5, &fields),
            hex!("41 00 01 00 00 05 00 00 17 13")
        );
        assert_eq!(first(2, 3, 5, &fields), hex!("83 00 00 05"));
        // The longest header: 3-byte basic, fmt 0, extended timestamp.
        assert_eq!(
            first(0, 65_599, 0xFF_FFFF, &fields),
            hex!("01 FF FF FF FF FF 00 00 17 13 04 03 02 01 00 FF FF FF")
        );
        assert_eq!(
            first(2, 4, 0x3EDF_4888, &fields),
            hex!("84 FF FF FF 3E DF 48 88")
        );
        assert_eq!(continuation(4, Some(0x3EDF_4888)), hex!("C4 3E DF 48 88"));
    }
}
