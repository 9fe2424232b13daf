//! RTMP messages: the payload of a reassembled chunk-stream message, typed.
//!
//! [`Message::decode`] turns a type id and a payload into a [`Message`];
//! [`Message::encode`] writes the payload back (the chunk layer adds headers).
//! The AMF3 variants (types 15, 16, 17) carry one leading byte, then the same
//! AMF0 layout as their AMF0 twins (18, 19, 20), where any value may switch to
//! AMF3 with `0x11` (docs/PROTOCOL.md §4.2). Audio, video and aggregate
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

/// Message type ids (spec §5.4, §6.2, §7.1; docs/PROTOCOL.md §3, §4, §5).
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

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::*;

    fn decode(type_id: u8, payload: &[u8]) -> Result<Message, DecodeError> {
        Message::decode(type_id, Bytes::copy_from_slice(payload), &Limits::default())
    }

    /// Decodes `payload` to `message` and encodes `message` to exactly `payload`.
    fn both_ways(message: Message, payload: &[u8]) {
        assert_eq!(decode(message.type_id(), payload).as_ref(), Ok(&message));
        let mut out = BytesMut::new();
        assert_eq!(message.encode(&mut out), Ok(()));
        assert_eq!(&out[..], payload, "{message:?}");
    }

    #[test]
    fn control_messages_golden_bytes() {
        both_ways(Message::SetChunkSize(4096), &hex!("00001000"));
        both_ways(Message::Abort { csid: 3 }, &hex!("00000003"));
        both_ways(
            Message::Acknowledgement {
                sequence: 0x0102_0304,
            },
            &hex!("01020304"),
        );
        both_ways(Message::WindowAckSize(2_500_000), &hex!("002625A0"));
        for (limit, byte) in [
            (BandwidthLimit::Hard, 0),
            (BandwidthLimit::Soft, 1),
            (BandwidthLimit::Dynamic, 2),
        ] {
            both_ways(
                Message::SetPeerBandwidth {
                    size: 2_500_000,
                    limit,
                },
                &[0x00, 0x26, 0x25, 0xA0, byte],
            );
        }
        both_ways(
            Message::UserControl(UserControl::StreamBegin(0)),
            &hex!("0000 00000000"),
        );
    }

    #[test]
    fn control_messages_hostile_inputs() {
        for type_id in [
            types::SET_CHUNK_SIZE,
            types::ABORT,
            types::ACKNOWLEDGEMENT,
            types::WINDOW_ACK_SIZE,
            types::SET_PEER_BANDWIDTH,
            types::USER_CONTROL,
        ] {
            let full = hex!("00 00 10 00 02");
            let needed = if type_id == types::SET_PEER_BANDWIDTH {
                5
            } else {
                4
            };
            for len in 0..needed {
                assert_eq!(
                    decode(type_id, &full[..len]),
                    Err(DecodeError::Truncated),
                    "type {type_id} prefix {len}"
                );
            }
        }
        assert_eq!(
            decode(types::SET_PEER_BANDWIDTH, &hex!("002625A0 03")),
            Err(DecodeError::Invalid {
                what: "bandwidth limit type"
            })
        );
        // Bytes after the fields are ignored.
        assert_eq!(
            decode(types::SET_CHUNK_SIZE, &hex!("00001000 FFFF")),
            Ok(Message::SetChunkSize(4096))
        );
        assert_eq!(
            decode(types::SET_PEER_BANDWIDTH, &hex!("002625A0 01 00")),
            Ok(Message::SetPeerBandwidth {
                size: 2_500_000,
                limit: BandwidthLimit::Soft
            })
        );
    }

    #[test]
    fn media_and_unknown_payloads_are_kept_without_copy() {
        let payload = Bytes::from_static(&hex!("AF 01 21 10 04"));
        for type_id in [types::AUDIO, types::VIDEO, types::AGGREGATE, 7, 21, 255] {
            let message = Message::decode(type_id, payload.clone(), &Limits::default());
            let kept = match &message {
                Ok(
                    Message::Audio(bytes)
                    | Message::Video(bytes)
                    | Message::Aggregate(bytes)
                    | Message::Unknown { payload: bytes, .. },
                ) => bytes.clone(),
                other => panic!("type {type_id}: {other:?}"),
            };
            assert_eq!(kept.as_ptr(), payload.as_ptr());
            let message = message.expect("decodes");
            assert_eq!(message.type_id(), type_id);
            let mut out = BytesMut::new();
            assert_eq!(message.encode(&mut out), Ok(()));
            assert_eq!(&out[..], &payload[..]);
        }
    }

    #[test]
    fn data_messages_both_directions() {
        // onMetaData-style notification: a name and an object.
        let values = vec![
            Value::from("onSync"),
            Value::object([("x", Value::Number(1.0))]),
        ];
        let amf0 = hex!("02 0006 6F6E53796E63  03 0001 78 00 3FF0000000000000 000009");
        both_ways(
            Message::Data {
                encoding: Encoding::Amf0,
                values: values.clone(),
            },
            &amf0,
        );
        let mut amf3 = vec![0x00];
        amf3.extend_from_slice(&amf0);
        both_ways(
            Message::Data {
                encoding: Encoding::Amf3,
                values,
            },
            &amf3,
        );
        // Empty bodies: no values, but type 15 needs its leading byte.
        both_ways(
            Message::Data {
                encoding: Encoding::Amf0,
                values: vec![],
            },
            &[],
        );
        assert_eq!(decode(types::DATA_AMF3, &[]), Err(DecodeError::Truncated));
        // A value cut short.
        assert_eq!(
            decode(types::DATA_AMF0, &hex!("02 0006 6F6E53")),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn every_message_type_round_trips() {
        let messages = vec![
            Message::SetChunkSize(0x7FFF_FFFF),
            Message::Abort { csid: 65_599 },
            Message::Acknowledgement { sequence: u32::MAX },
            Message::UserControl(UserControl::SetBufferLength {
                stream_id: 1,
                millis: 100,
            }),
            Message::UserControl(UserControl::Unknown {
                event_type: 31,
                data: Bytes::from_static(&[0, 0, 0, 1]),
            }),
            Message::WindowAckSize(10_000_000),
            Message::SetPeerBandwidth {
                size: 10_000_000,
                limit: BandwidthLimit::Dynamic,
            },
            Message::Audio(Bytes::from_static(b"audio")),
            Message::Video(Bytes::new()),
            Message::Aggregate(Bytes::from_static(b"aggregate")),
            Message::Command {
                encoding: Encoding::Amf0,
                command: Command::connect("chat", "rtmp://h/chat", Encoding::Amf0),
            },
            Message::Command {
                encoding: Encoding::Amf3,
                command: Command::connect_success(1.0, Encoding::Amf3),
            },
            Message::Data {
                encoding: Encoding::Amf0,
                values: vec![Value::from("a"), Value::Bool(true), Value::Null],
            },
            Message::Data {
                encoding: Encoding::Amf3,
                values: vec![Value::Undefined],
            },
            Message::SharedObject {
                encoding: Encoding::Amf0,
                message: SharedObjectMessage {
                    name: "chat".into(),
                    version: 1,
                    persistent: true,
                    events: vec![SoEvent::Use],
                },
            },
            Message::SharedObject {
                encoding: Encoding::Amf3,
                message: SharedObjectMessage {
                    name: "chat".into(),
                    version: 2,
                    persistent: false,
                    events: vec![
                        SoEvent::UseSuccess,
                        SoEvent::Change {
                            key: "n".into(),
                            value: Value::Integer(-3),
                        },
                    ],
                },
            },
            Message::Unknown {
                type_id: 7,
                payload: Bytes::from_static(b"edge"),
            },
        ];
        for message in messages {
            let mut out = BytesMut::new();
            assert_eq!(message.encode(&mut out), Ok(()));
            let decoded = Message::decode(message.type_id(), out.freeze(), &Limits::default());
            assert_eq!(decoded, Ok(message));
        }
    }

    #[test]
    fn type_ids_match_the_variants() {
        let data = |encoding| Message::Data {
            encoding,
            values: vec![],
        };
        assert_eq!(data(Encoding::Amf0).type_id(), 18);
        assert_eq!(data(Encoding::Amf3).type_id(), 15);
        let command = |encoding| Message::Command {
            encoding,
            command: Command::on_status(Value::Null),
        };
        assert_eq!(command(Encoding::Amf0).type_id(), 20);
        assert_eq!(command(Encoding::Amf3).type_id(), 17);
        let so = |encoding| Message::SharedObject {
            encoding,
            message: SharedObjectMessage {
                name: "".into(),
                version: 0,
                persistent: false,
                events: vec![],
            },
        };
        assert_eq!(so(Encoding::Amf0).type_id(), 19);
        assert_eq!(so(Encoding::Amf3).type_id(), 16);
    }

    #[test]
    fn refused_encodings_leave_out_untouched() {
        let command = Message::Command {
            encoding: Encoding::Amf3,
            command: Command::new("x".repeat(70_000), 1.0, Value::Null, vec![]),
        };
        let mut out = BytesMut::from(&b"kept"[..]);
        assert_eq!(
            command.encode(&mut out),
            Err(ApiMisuse::TooLarge("command name"))
        );
        assert_eq!(&out[..], b"kept");
    }
}
