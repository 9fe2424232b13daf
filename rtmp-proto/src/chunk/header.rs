//! Chunk headers (spec §5.3.1): nom streaming parsers, which answer
//! `Incomplete` when the input stops inside a header, and the writer.
//!
//! All fields are big-endian except the message stream id (little-endian)
//! and the 16-bit field of the 3-byte basic header (little-endian too).

use nom::IResult;
use nom::number::streaming::{be_u8, be_u24, be_u32, le_u16, le_u32};

use crate::error::DecodeError;

/// The 24-bit timestamp value announcing a 4-byte extended timestamp (spec §5.3.1.3).
pub(crate) const EXTENDED_TIMESTAMP: u32 = 0xFF_FFFF;

/// The longest chunk header: 3-byte basic header, 11-byte fmt-0 message
/// header, 4-byte extended timestamp.
pub(crate) const MAX_HEADER_LEN: usize = 18;

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
    let (input, first) = be_u8(input)?;
    let fmt = first >> 6;
    match first & 0x3F {
        0 => {
            let (input, id) = be_u8(input)?;
            Ok((input, (fmt, u32::from(id) + 64)))
        }
        1 => {
            // byte 1 is the low byte: `byte2 * 256 + byte1 + 64`.
            let (input, id) = le_u16(input)?;
            Ok((input, (fmt, u32::from(id) + 64)))
        }
        id => Ok((input, (fmt, u32::from(id)))),
    }
}

/// The 11-byte fmt-0 message header.
#[inline]
pub(crate) fn fmt0(input: &[u8]) -> Parsed<'_, Fields> {
    let (input, timestamp) = be_u24(input)?;
    let (input, length) = be_u24(input)?;
    let (input, type_id) = be_u8(input)?;
    let (input, stream_id) = le_u32(input)?;
    Ok((
        input,
        Fields {
            timestamp,
            length,
            type_id,
            stream_id,
        },
    ))
}

/// The 7-byte fmt-1 message header (no message stream id).
#[inline]
pub(crate) fn fmt1(input: &[u8]) -> Parsed<'_, Fields> {
    let (input, timestamp) = be_u24(input)?;
    let (input, length) = be_u24(input)?;
    let (input, type_id) = be_u8(input)?;
    Ok((
        input,
        Fields {
            timestamp,
            length,
            type_id,
            stream_id: 0,
        },
    ))
}

/// The 3-byte fmt-2 message header: the timestamp delta.
#[inline]
pub(crate) fn fmt2(input: &[u8]) -> Parsed<'_, u32> {
    be_u24(input)
}

/// The 4-byte extended timestamp.
#[inline]
pub(crate) fn extended_timestamp(input: &[u8]) -> Parsed<'_, u32> {
    be_u32(input)
}

/// A chunk header assembled on the stack, then copied out in one piece.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeaderBuf {
    bytes: [u8; MAX_HEADER_LEN],
    len: usize,
}

impl HeaderBuf {
    /// The header of a message's first chunk. `time` is the absolute
    /// timestamp for fmt 0 and the delta otherwise; from `0xFFFFFF` on it
    /// goes into an extended timestamp. `csid` must be 2..=65,599.
    #[inline]
    pub(crate) fn first(fmt: u8, csid: u32, time: u32, fields: &Fields) -> Self {
        let mut header = Self::basic(fmt, csid);
        if fmt < 3 {
            header.put(&be24(time.min(EXTENDED_TIMESTAMP)));
        }
        if fmt < 2 {
            header.put(&be24(fields.length));
            header.put(&[fields.type_id]);
        }
        if fmt == 0 {
            header.put(&fields.stream_id.to_le_bytes());
        }
        if time >= EXTENDED_TIMESTAMP {
            header.put(&time.to_be_bytes());
        }
        header
    }

    /// The header of a continuation chunk: fmt 3, plus the extended
    /// timestamp of the message's first chunk when it had one.
    #[inline]
    pub(crate) fn continuation(csid: u32, extended: Option<u32>) -> Self {
        let mut header = Self::basic(3, csid);
        if let Some(time) = extended {
            header.put(&time.to_be_bytes());
        }
        header
    }

    /// The header bytes.
    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    /// The basic header, in the shortest form that holds `csid`.
    #[inline]
    fn basic(fmt: u8, csid: u32) -> Self {
        let mut header = Self {
            bytes: [0; MAX_HEADER_LEN],
            len: 0,
        };
        let fmt = fmt << 6;
        let [low, ..] = csid.to_le_bytes();
        let [wide_low, wide_high, ..] = csid.wrapping_sub(64).to_le_bytes();
        match csid {
            0..=63 => header.put(&[fmt | low]),
            64..=319 => header.put(&[fmt, wide_low]),
            _ => header.put(&[fmt | 1, wide_low, wide_high]),
        }
        header
    }

    #[inline]
    fn put(&mut self, src: &[u8]) {
        let end = self.len + src.len();
        if let Some(dst) = self.bytes.get_mut(self.len..end) {
            dst.copy_from_slice(src);
            self.len = end;
        }
    }
}

/// The low 24 bits of `value`, big-endian.
#[inline]
fn be24(value: u32) -> [u8; 3] {
    let [_, a, b, c] = value.to_be_bytes();
    [a, b, c]
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
            assert_eq!(HeaderBuf::first(3, csid, 0, &fields).as_bytes(), bytes);
            assert_eq!(HeaderBuf::continuation(csid, None).as_bytes(), bytes);
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
            HeaderBuf::first(0, 3, 0x0A0B0C, &fields).as_bytes(),
            hex!("03 0A 0B 0C 00 00 17 13 04 03 02 01")
        );
        assert_eq!(
            HeaderBuf::first(1, 320, 5, &fields).as_bytes(),
            hex!("41 00 01 00 00 05 00 00 17 13")
        );
        assert_eq!(
            HeaderBuf::first(2, 3, 5, &fields).as_bytes(),
            hex!("83 00 00 05")
        );
        // The longest header: 3-byte basic, fmt 0, extended timestamp.
        assert_eq!(
            HeaderBuf::first(0, 65_599, 0xFF_FFFF, &fields).as_bytes(),
            hex!("01 FF FF FF FF FF 00 00 17 13 04 03 02 01 00 FF FF FF")
        );
        assert_eq!(
            HeaderBuf::first(2, 4, 0x3EDF_4888, &fields).as_bytes(),
            hex!("84 FF FF FF 3E DF 48 88")
        );
        assert_eq!(
            HeaderBuf::continuation(4, Some(0x3EDF_4888)).as_bytes(),
            hex!("C4 3E DF 48 88")
        );
    }
}
