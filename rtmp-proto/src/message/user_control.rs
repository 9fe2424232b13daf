//! User Control messages: type 4 (spec §6.2, docs/PROTOCOL.md §3.2).
//!
//! Payload: u16 event type, then the event data. Events we do not model (Red5's
//! SWF verification 26/27, buffer empty/full 31/32, and any other) are kept
//! raw in [`UserControl::Unknown`], so a peer's extension never ends the
//! connection. Bytes after a known event's fields are ignored, as every peer
//! we read does.

use bytes::{BufMut, Bytes, BytesMut};
use nom::Parser;
use nom::number::complete::{be_u16, be_u32};

use crate::error::DecodeError;

/// One User Control event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum UserControl {
    /// 0: the stream `id` became functional (sent on stream 0 after `connect`).
    StreamBegin(u32),
    /// 1: playback of stream `id` ended.
    StreamEof(u32),
    /// 2: stream `id` has no more data for now.
    StreamDry(u32),
    /// 3: the client's buffer length for a stream.
    SetBufferLength {
        /// The stream.
        stream_id: u32,
        /// The buffer length in milliseconds.
        millis: u32,
    },
    /// 4: stream `id` is recorded.
    StreamIsRecorded(u32),
    /// 6: a ping carrying the sender's timestamp.
    PingRequest(u32),
    /// 7: the answer to a ping, echoing its timestamp.
    PingResponse(u32),
    /// Any other event type, with its data as received.
    Unknown {
        /// The event type.
        event_type: u16,
        /// The event data.
        #[cfg_attr(feature = "arbitrary", arbitrary(with = arbitrary_bytes))]
        data: Bytes,
    },
}

impl UserControl {
    /// Event type of [`UserControl::StreamBegin`].
    pub const STREAM_BEGIN: u16 = 0;
    /// Event type of [`UserControl::StreamEof`].
    pub const STREAM_EOF: u16 = 1;
    /// Event type of [`UserControl::StreamDry`].
    pub const STREAM_DRY: u16 = 2;
    /// Event type of [`UserControl::SetBufferLength`].
    pub const SET_BUFFER_LENGTH: u16 = 3;
    /// Event type of [`UserControl::StreamIsRecorded`].
    pub const STREAM_IS_RECORDED: u16 = 4;
    /// Event type of [`UserControl::PingRequest`].
    pub const PING_REQUEST: u16 = 6;
    /// Event type of [`UserControl::PingResponse`].
    pub const PING_RESPONSE: u16 = 7;

    /// Decodes a type 4 payload. `payload` is sliced, not copied, for unknown events.
    pub fn decode(payload: &Bytes) -> Result<Self, DecodeError> {
        let (data, event_type) = be_u16(payload.as_ref())?;
        let event = match event_type {
            Self::STREAM_BEGIN => Self::StreamBegin(be_u32(data)?.1),
            Self::STREAM_EOF => Self::StreamEof(be_u32(data)?.1),
            Self::STREAM_DRY => Self::StreamDry(be_u32(data)?.1),
            Self::SET_BUFFER_LENGTH => {
                let (_, (stream_id, millis)) = (be_u32, be_u32).parse(data)?;
                Self::SetBufferLength { stream_id, millis }
            }
            Self::STREAM_IS_RECORDED => Self::StreamIsRecorded(be_u32(data)?.1),
            Self::PING_REQUEST => Self::PingRequest(be_u32(data)?.1),
            Self::PING_RESPONSE => Self::PingResponse(be_u32(data)?.1),
            _ => Self::Unknown {
                event_type,
                data: payload.slice_ref(data),
            },
        };
        Ok(event)
    }

    /// The event type on the wire.
    pub fn event_type(&self) -> u16 {
        match self {
            Self::StreamBegin(_) => Self::STREAM_BEGIN,
            Self::StreamEof(_) => Self::STREAM_EOF,
            Self::StreamDry(_) => Self::STREAM_DRY,
            Self::SetBufferLength { .. } => Self::SET_BUFFER_LENGTH,
            Self::StreamIsRecorded(_) => Self::STREAM_IS_RECORDED,
            Self::PingRequest(_) => Self::PING_REQUEST,
            Self::PingResponse(_) => Self::PING_RESPONSE,
            Self::Unknown { event_type, .. } => *event_type,
        }
    }

    /// Appends the type 4 payload to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u16(self.event_type());
        match self {
            Self::StreamBegin(id)
            | Self::StreamEof(id)
            | Self::StreamDry(id)
            | Self::StreamIsRecorded(id)
            | Self::PingRequest(id)
            | Self::PingResponse(id) => out.put_u32(*id),
            Self::SetBufferLength { stream_id, millis } => {
                out.put_u32(*stream_id);
                out.put_u32(*millis);
            }
            Self::Unknown { data, .. } => out.put_slice(data),
        }
    }
}

#[cfg(feature = "arbitrary")]
fn arbitrary_bytes(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Bytes> {
    Ok(Bytes::copy_from_slice(u.arbitrary::<&[u8]>()?))
}

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::*;

    fn round_trip(event: UserControl, bytes: &[u8]) {
        let mut out = BytesMut::new();
        event.encode(&mut out);
        assert_eq!(&out[..], bytes, "{event:?}");
        assert_eq!(
            UserControl::decode(&Bytes::copy_from_slice(bytes)),
            Ok(event)
        );
    }

    #[test]
    fn golden_events_both_directions() {
        round_trip(UserControl::StreamBegin(0), &hex!("0000 00000000"));
        round_trip(UserControl::StreamEof(1), &hex!("0001 00000001"));
        round_trip(UserControl::StreamDry(2), &hex!("0002 00000002"));
        round_trip(
            UserControl::SetBufferLength {
                stream_id: 1,
                millis: 3000,
            },
            &hex!("0003 00000001 00000BB8"),
        );
        round_trip(UserControl::StreamIsRecorded(5), &hex!("0004 00000005"));
        round_trip(
            UserControl::PingRequest(0xDEAD_BEEF),
            &hex!("0006 DEADBEEF"),
        );
        round_trip(
            UserControl::PingResponse(0xDEAD_BEEF),
            &hex!("0007 DEADBEEF"),
        );
    }

    #[test]
    fn unknown_events_are_kept_raw() {
        // Red5's SWF verification request (26) and an unassigned type (5).
        round_trip(
            UserControl::Unknown {
                event_type: 26,
                data: Bytes::new(),
            },
            &hex!("001A"),
        );
        round_trip(
            UserControl::Unknown {
                event_type: 5,
                data: Bytes::from_static(&hex!("01020304 05")),
            },
            &hex!("0005 01020304 05"),
        );
    }

    #[test]
    fn trailing_bytes_after_known_event_are_ignored() {
        let bytes = Bytes::from_static(&hex!("0006 00000010 FFFF"));
        assert_eq!(
            UserControl::decode(&bytes),
            Ok(UserControl::PingRequest(16))
        );
    }

    #[test]
    fn truncated_events_are_typed_errors() {
        let full = hex!("0003 00000001 00000BB8");
        for len in 0..full.len() {
            let bytes = Bytes::copy_from_slice(&full[..len]);
            assert_eq!(
                UserControl::decode(&bytes),
                Err(DecodeError::Truncated),
                "prefix {len}"
            );
        }
        let ping = Bytes::from_static(&hex!("0006 000000"));
        assert_eq!(UserControl::decode(&ping), Err(DecodeError::Truncated));
    }
}
