//! RTMP messages: the payload of a reassembled chunk-stream message, typed.
//!
//! [`Message::decode`] turns a type id and a payload into a [`Message`];
//! [`Message::encode`] writes the payload back (the chunk layer adds headers).
//! The AMF3 variants (types 15, 16, 17) carry one leading byte, then the same
//! AMF0 layout as their AMF0 twins (18, 19, 20), where any value may switch to
//! AMF3 with `0x11` (reference/protocol.md §4.2). Audio, video and aggregate
//! payloads stay opaque [`Bytes`], sliced from the input without a copy.
//!
//! Every AMF value of one message body is read by one [`amf0::Decoder`] (and
//! written by one [`amf0::Encoder`]), so AMF3 reference tables span the whole
//! body, as Red5 writes them.
//!
//! [`amf0::Decoder`]: crate::amf::amf0::Decoder
//! [`amf0::Encoder`]: crate::amf::amf0::Encoder

mod command;
mod control;
mod data;
pub mod shared_object;
mod user_control;
mod wire;

use bytes::{BufMut, Bytes, BytesMut};

pub use command::{Command, StatusLevel, status_object};
pub use control::BandwidthLimit;
pub use shared_object::{SharedObjectMessage, SoEvent};
pub use user_control::UserControl;

use crate::amf::{Encoding, Limits, Value};
use crate::error::{ApiMisuse, DecodeError};

/// Message type ids (spec §5.4, §6.2, §7.1; reference/protocol.md §3, §4, §5).
pub mod types {
    /// Set Chunk Size.
    pub const SET_CHUNK_SIZE: u8 = 1;
    /// Abort Message.
    pub const ABORT: u8 = 2;
    /// Acknowledgement.
    pub const ACKNOWLEDGEMENT: u8 = 3;
    /// User Control Message.
    pub const USER_CONTROL: u8 = 4;
    /// Window Acknowledgement Size.
    pub const WINDOW_ACK_SIZE: u8 = 5;
    /// Set Peer Bandwidth.
    pub const SET_PEER_BANDWIDTH: u8 = 6;
    /// Audio data.
    pub const AUDIO: u8 = 8;
    /// Video data.
    pub const VIDEO: u8 = 9;
    /// Data message, AMF3 variant.
    pub const DATA_AMF3: u8 = 15;
    /// SharedObject message, AMF3 variant.
    pub const SHARED_OBJECT_AMF3: u8 = 16;
    /// Command message, AMF3 variant.
    pub const COMMAND_AMF3: u8 = 17;
    /// Data message, AMF0.
    pub const DATA_AMF0: u8 = 18;
    /// SharedObject message, AMF0.
    pub const SHARED_OBJECT_AMF0: u8 = 19;
    /// Command message, AMF0.
    pub const COMMAND_AMF0: u8 = 20;
    /// Aggregate message (several audio/video/data messages in one).
    pub const AGGREGATE: u8 = 22;
}

/// One RTMP message, its payload decoded.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Message {
    /// 1: the sender's chunk size from now on.
    SetChunkSize(u32),
    /// 2: discard the partial message on chunk stream `csid`.
    Abort {
        /// The chunk stream id.
        csid: u32,
    },
    /// 3: the bytes received so far.
    Acknowledgement {
        /// Total bytes received (wrapping at 2³²).
        sequence: u32,
    },
    /// 4: a User Control event.
    UserControl(UserControl),
    /// 5: send an Acknowledgement after this many bytes.
    WindowAckSize(u32),
    /// 6: limit the peer's output bandwidth.
    SetPeerBandwidth {
        /// The window size in bytes.
        size: u32,
        /// How to apply it.
        limit: BandwidthLimit,
    },
    /// 8: audio data, not parsed.
    Audio(#[cfg_attr(feature = "arbitrary", arbitrary(with = arbitrary_bytes))] Bytes),
    /// 9: video data, not parsed.
    Video(#[cfg_attr(feature = "arbitrary", arbitrary(with = arbitrary_bytes))] Bytes),
    /// 22: an aggregate of media messages, not parsed.
    Aggregate(#[cfg_attr(feature = "arbitrary", arbitrary(with = arbitrary_bytes))] Bytes),
    /// 20 (`Amf0`) or 17 (`Amf3`): a command.
    Command {
        /// Which of the two message types.
        encoding: Encoding,
        /// The command.
        command: Command,
    },
    /// 18 (`Amf0`) or 15 (`Amf3`): data values.
    Data {
        /// Which of the two message types.
        encoding: Encoding,
        /// The values, in order.
        values: Vec<Value>,
    },
    /// 19 (`Amf0`) or 16 (`Amf3`): a SharedObject message.
    SharedObject {
        /// Which of the two message types.
        encoding: Encoding,
        /// The message.
        message: SharedObjectMessage,
    },
    /// Any other type id (7, Red5's edge/origin; 10–14; 21; 23+), payload as received.
    Unknown {
        /// The type id.
        type_id: u8,
        /// The payload.
        #[cfg_attr(feature = "arbitrary", arbitrary(with = arbitrary_bytes))]
        payload: Bytes,
    },
}

impl Message {
    /// Decodes the payload of a message of type `type_id`.
    ///
    /// Control messages need only their fields; bytes after them are ignored,
    /// as every peer we read ignores them.
    pub fn decode(type_id: u8, payload: Bytes, limits: &Limits) -> Result<Self, DecodeError> {
        let message = match type_id {
            types::SET_CHUNK_SIZE => Self::SetChunkSize(control::decode_u32(&payload)?),
            types::ABORT => Self::Abort {
                csid: control::decode_u32(&payload)?,
            },
            types::ACKNOWLEDGEMENT => Self::Acknowledgement {
                sequence: control::decode_u32(&payload)?,
            },
            types::USER_CONTROL => Self::UserControl(UserControl::decode(&payload)?),
            types::WINDOW_ACK_SIZE => Self::WindowAckSize(control::decode_u32(&payload)?),
            types::SET_PEER_BANDWIDTH => {
                let (size, limit) = control::decode_peer_bandwidth(&payload)?;
                Self::SetPeerBandwidth { size, limit }
            }
            types::AUDIO => Self::Audio(payload),
            types::VIDEO => Self::Video(payload),
            types::AGGREGATE => Self::Aggregate(payload),
            types::COMMAND_AMF0 | types::COMMAND_AMF3 => {
                let encoding = encoding_of(type_id, types::COMMAND_AMF3);
                Self::Command {
                    encoding,
                    command: Command::decode(&payload, encoding, limits)?,
                }
            }
            types::DATA_AMF0 | types::DATA_AMF3 => {
                let encoding = encoding_of(type_id, types::DATA_AMF3);
                Self::Data {
                    encoding,
                    values: data::decode_values(&payload, encoding, limits)?,
                }
            }
            types::SHARED_OBJECT_AMF0 | types::SHARED_OBJECT_AMF3 => {
                let encoding = encoding_of(type_id, types::SHARED_OBJECT_AMF3);
                Self::SharedObject {
                    encoding,
                    message: SharedObjectMessage::decode(&payload, encoding, limits)?,
                }
            }
            _ => Self::Unknown { type_id, payload },
        };
        Ok(message)
    }

    /// The message type id.
    pub fn type_id(&self) -> u8 {
        match self {
            Self::SetChunkSize(_) => types::SET_CHUNK_SIZE,
            Self::Abort { .. } => types::ABORT,
            Self::Acknowledgement { .. } => types::ACKNOWLEDGEMENT,
            Self::UserControl(_) => types::USER_CONTROL,
            Self::WindowAckSize(_) => types::WINDOW_ACK_SIZE,
            Self::SetPeerBandwidth { .. } => types::SET_PEER_BANDWIDTH,
            Self::Audio(_) => types::AUDIO,
            Self::Video(_) => types::VIDEO,
            Self::Aggregate(_) => types::AGGREGATE,
            Self::Command { encoding, .. } => match encoding {
                Encoding::Amf0 => types::COMMAND_AMF0,
                Encoding::Amf3 => types::COMMAND_AMF3,
            },
            Self::Data { encoding, .. } => match encoding {
                Encoding::Amf0 => types::DATA_AMF0,
                Encoding::Amf3 => types::DATA_AMF3,
            },
            Self::SharedObject { encoding, .. } => match encoding {
                Encoding::Amf0 => types::SHARED_OBJECT_AMF0,
                Encoding::Amf3 => types::SHARED_OBJECT_AMF3,
            },
            Self::Unknown { type_id, .. } => *type_id,
        }
    }

    /// Appends the payload (no chunk header) to `out`.
    ///
    /// Fails only for a string that does not fit its u16 length field (a
    /// command name, an SO name, key or status string over 65,535 bytes) or
    /// an SO event over 4 GiB; `out` is then left as it was.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), ApiMisuse> {
        match self {
            Self::SetChunkSize(value)
            | Self::Abort { csid: value }
            | Self::Acknowledgement { sequence: value }
            | Self::WindowAckSize(value) => out.put_u32(*value),
            Self::UserControl(event) => event.encode(out),
            Self::SetPeerBandwidth { size, limit } => {
                control::encode_peer_bandwidth(*size, *limit, out);
            }
            Self::Audio(payload)
            | Self::Video(payload)
            | Self::Aggregate(payload)
            | Self::Unknown { payload, .. } => out.put_slice(payload),
            Self::Command { encoding, command } => command.encode(*encoding, out)?,
            Self::Data { encoding, values } => data::encode_values(values, *encoding, out),
            Self::SharedObject { encoding, message } => message.encode(*encoding, out)?,
        }
        Ok(())
    }
}

/// `Amf3` for the AMF3 variant's type id, `Amf0` for its twin.
fn encoding_of(type_id: u8, amf3_type_id: u8) -> Encoding {
    if type_id == amf3_type_id {
        Encoding::Amf3
    } else {
        Encoding::Amf0
    }
}

#[cfg(feature = "arbitrary")]
fn arbitrary_bytes(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Bytes> {
    Ok(Bytes::copy_from_slice(u.arbitrary::<&[u8]>()?))
}
