//! Protocol control messages: types 1, 2, 3, 5 and 6 (spec §5.4,
//! docs/PROTOCOL.md §3.1).
//!
//! Each payload is one u32 (type 6 adds a limit byte). Bytes after the fields
//! are ignored, as Red5, librtmp and crtmpserver ignore them: they read what
//! they need and nothing more.

use bytes::{BufMut, BytesMut};
use nom::Parser;
use nom::number::complete::{be_u8, be_u32};

use crate::error::DecodeError;

/// The limit type of a Set Peer Bandwidth message (spec §5.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum BandwidthLimit {
    /// 0: limit the output bandwidth to the window size.
    Hard,
    /// 1: limit it to this window or the one in effect, whichever is smaller.
    Soft,
    /// 2: treat as Hard if the previous limit was Hard, otherwise ignore.
    Dynamic,
}

impl BandwidthLimit {
    /// The limit type byte on the wire.
    pub fn to_byte(self) -> u8 {
        match self {
            Self::Hard => 0,
            Self::Soft => 1,
            Self::Dynamic => 2,
        }
    }
}

impl TryFrom<u8> for BandwidthLimit {
    type Error = DecodeError;

    /// Any byte but 0, 1, 2 is [`DecodeError::Invalid`]: the spec defines no
    /// others and no peer we know of sends one.
    fn try_from(byte: u8) -> Result<Self, DecodeError> {
        match byte {
            0 => Ok(Self::Hard),
            1 => Ok(Self::Soft),
            2 => Ok(Self::Dynamic),
            _ => Err(DecodeError::Invalid {
                what: "bandwidth limit type",
            }),
        }
    }
}

/// Reads the u32 of a type 1, 2, 3 or 5 payload.
pub(crate) fn decode_u32(payload: &[u8]) -> Result<u32, DecodeError> {
    let (_, value) = be_u32(payload)?;
    Ok(value)
}

/// Reads a Set Peer Bandwidth payload (type 6): window size, limit type.
pub(crate) fn decode_peer_bandwidth(payload: &[u8]) -> Result<(u32, BandwidthLimit), DecodeError> {
    let (_, (size, limit)) = (be_u32, be_u8).parse(payload)?;
    Ok((size, BandwidthLimit::try_from(limit)?))
}

/// Writes a Set Peer Bandwidth payload.
pub(crate) fn encode_peer_bandwidth(size: u32, limit: BandwidthLimit, out: &mut BytesMut) {
    out.put_u32(size);
    out.put_u8(limit.to_byte());
}
