//! Chunk stream fixtures (BENCHMARKS.md, Fixtures) and the A1/A2 loops, ours and rml_rtmp's.
//!
//! A stream is `count` messages of type 19 (SharedObject, AMF0) on chunk
//! stream 3, message stream 0. Timestamps start at 0 and grow by
//! `10 + (i mod 3)`, so the delta changes every message and both encoders
//! write one fmt-0 header, then a fmt-2 header per message and fmt-3 headers
//! on continuation chunks. Bodies are xorshift32 bytes seeded per message.

use bytes::{Bytes, BytesMut};
use rml_rtmp::chunk_io::{ChunkDeserializer, ChunkSerializer};
use rml_rtmp::messages::MessagePayload;
use rml_rtmp::time::RtmpTimestamp;
use rtmp_proto::chunk::{Decoder, DecoderLimits, Encoder, Header, RawMessage};

/// Message type of every fixture message: SharedObject, AMF0.
pub const TYPE_ID: u8 = 19;
/// Chunk stream of every fixture message (rml_rtmp maps types 18/19 to 3).
pub const CSID: u32 = 3;
/// Decoders are fed this many bytes at a time, like a socket read loop.
pub const READ_SIZE: usize = 4096;
/// The two chunk sizes every shape is measured at.
pub const CHUNK_SIZES: [u32; 2] = [128, 4096];

/// One message shape: `count` bodies of `body_len` bytes, about 256 KiB in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Benchmark name, e.g. `body64_x4096`.
    pub name: &'static str,
    /// Bytes per message body.
    pub body_len: usize,
    /// Messages in the stream.
    pub count: usize,
}

/// The three shapes of the fixtures (BENCHMARKS.md, Fixtures).
pub const SHAPES: [Shape; 3] = [
    Shape {
        name: "body64_x4096",
        body_len: 64,
        count: 4096,
    },
    Shape {
        name: "body512_x512",
        body_len: 512,
        count: 512,
    },
    Shape {
        name: "body4096_x64",
        body_len: 4096,
        count: 64,
    },
];

/// Looks a shape up by name.
pub fn shape(name: &str) -> Option<Shape> {
    SHAPES.iter().copied().find(|shape| shape.name == name)
}

/// The benchmark name of a chunk size, e.g. `cs128`.
pub fn chunk_size_name(chunk_size: u32) -> String {
    format!("cs{chunk_size}")
}

/// The timestamp of message `i`: 0, then `t(i-1) + 10 + (i mod 3)`.
pub fn timestamps(count: usize) -> Vec<u32> {
    let mut out = Vec::with_capacity(count);
    let mut t = 0u32;
    for i in 0..count {
        if i > 0 {
            t += 10 + (i % 3) as u32;
        }
        out.push(t);
    }
    out
}

/// The body of message `i`: xorshift32 seeded with `i ^ 0x9E3779B9`, one low
/// byte emitted after each step.
pub fn body(i: usize, len: usize) -> Vec<u8> {
    let mut x = (i as u32) ^ 0x9E37_79B9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// The messages of `shape`, in our representation.
pub fn messages(shape: Shape) -> Vec<RawMessage> {
    timestamps(shape.count)
        .into_iter()
        .enumerate()
        .map(|(i, timestamp)| RawMessage {
            header: Header {
                csid: CSID,
                timestamp,
                type_id: TYPE_ID,
                stream_id: 0,
            },
            payload: Bytes::from(body(i, shape.body_len)),
        })
        .collect()
}

/// The same messages as rml_rtmp's `MessagePayload`s (sharing the bodies).
pub fn rml_payloads(messages: &[RawMessage]) -> Vec<MessagePayload> {
    messages
        .iter()
        .map(|message| MessagePayload {
            timestamp: RtmpTimestamp::new(message.header.timestamp),
            type_id: message.header.type_id,
            message_stream_id: message.header.stream_id,
            data: message.payload.clone(),
        })
        .collect()
}

/// The reference wire bytes: rml_rtmp's serializer, which made the published fixtures.
pub fn wire(shape: Shape, chunk_size: u32) -> Vec<u8> {
    let payloads = rml_payloads(&messages(shape));
    let mut out = Vec::new();
    let mut serializer = rml_serializer(chunk_size);
    for payload in &payloads {
        let packet = serializer
            .serialize(payload, false, false)
            .expect("fixture messages fit");
        out.extend_from_slice(&packet.bytes);
    }
    out
}

/// What a decode or encode pass produced, so nothing can be optimised away
/// and each pass can be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    /// Messages surfaced (decode) or written (encode).
    pub messages: usize,
    /// Payload bytes surfaced (decode) or wire bytes written (encode).
    pub bytes: usize,
}

impl Tally {
    fn add(&mut self, bytes: usize) {
        self.messages += 1;
        self.bytes += bytes;
    }
}

/// A1, ours: a fresh decoder, `wire` pushed in 4096-byte slices, every
/// message surfaced as an owned [`RawMessage`] (its payload a `Bytes` that
/// shares the decoder's buffer when the message came in one chunk).
pub fn decode_ours(wire: &[u8], chunk_size: u32) -> Tally {
    let mut decoder = Decoder::new(DecoderLimits::default());
    decoder
        .set_chunk_size(chunk_size)
        .expect("valid chunk size");
    let mut tally = Tally::default();
    for slice in wire.chunks(READ_SIZE) {
        decoder.push(slice);
        while let Some(message) = decoder.next_message().expect("fixture decodes") {
            tally.add(message.payload.len());
        }
    }
    tally
}

/// A1, rml_rtmp: a fresh `ChunkDeserializer`, `wire` given in 4096-byte
/// slices, every message surfaced as an owned `MessagePayload`.
pub fn decode_rml(wire: &[u8], chunk_size: u32) -> Tally {
    let mut deserializer = ChunkDeserializer::new();
    deserializer
        .set_max_chunk_size(chunk_size as usize)
        .expect("valid chunk size");
    let mut tally = Tally::default();
    for slice in wire.chunks(READ_SIZE) {
        let mut input = slice;
        while let Some(message) = deserializer
            .get_next_message(input)
            .expect("fixture decodes")
        {
            tally.add(message.data.len());
            input = &[];
        }
    }
    tally
}

/// A2, ours: a fresh encoder appending every message to `out`, a buffer the
/// caller reuses (cleared here).
pub fn encode_ours(messages: &[RawMessage], chunk_size: u32, out: &mut BytesMut) -> Tally {
    out.clear();
    let mut encoder = Encoder::new();
    encoder.set_chunk_size(chunk_size);
    for message in messages {
        encoder.encode(&message.header, &message.payload, out);
    }
    Tally {
        messages: messages.len(),
        bytes: out.len(),
    }
}

/// A2, ours, like for like with rml_rtmp: a fresh buffer per message,
/// dropped after use.
pub fn encode_ours_owned(messages: &[RawMessage], chunk_size: u32) -> Tally {
    let mut encoder = Encoder::new();
    encoder.set_chunk_size(chunk_size);
    let mut tally = Tally::default();
    for message in messages {
        let mut out = BytesMut::new();
        encoder.encode(&message.header, &message.payload, &mut out);
        tally.add(out.len());
    }
    tally
}

/// A2, rml_rtmp: a fresh `ChunkSerializer`, one owned `Packet` per message.
pub fn encode_rml(payloads: &[MessagePayload], chunk_size: u32) -> Tally {
    let mut serializer = rml_serializer(chunk_size);
    let mut tally = Tally::default();
    for payload in payloads {
        let packet = serializer
            .serialize(payload, false, false)
            .expect("fixture messages fit");
        tally.add(packet.bytes.len());
    }
    tally
}

/// An rml_rtmp serializer at `chunk_size`. Its Set Chunk Size packet is
/// dropped: the fixtures tell the decoder the chunk size out of band.
fn rml_serializer(chunk_size: u32) -> ChunkSerializer {
    let mut serializer = ChunkSerializer::new();
    serializer
        .set_max_chunk_size(chunk_size, RtmpTimestamp::new(0))
        .expect("valid chunk size");
    serializer
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    /// BENCHMARKS.md, Fixtures: shape, chunk size, wire bytes, sha256 prefix.
    const PUBLISHED: [(&str, u32, usize, &str); 6] = [
        ("body64_x4096", 128, 278_536, "7c6b2a795e357911"),
        ("body64_x4096", 4096, 278_536, "7c6b2a795e357911"),
        ("body512_x512", 128, 265_736, "8a61ba35aac51f14"),
        ("body512_x512", 4096, 264_200, "80c746cf01b2b09e"),
        ("body4096_x64", 128, 264_392, "618f269448471eb6"),
        ("body4096_x64", 4096, 262_408, "3940d2f29eb55363"),
    ];

    fn sha256_prefix(bytes: &[u8]) -> String {
        Sha256::digest(bytes)[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn wire_matches_the_published_hashes() {
        for (name, chunk_size, len, prefix) in PUBLISHED {
            let wire = wire(shape(name).unwrap(), chunk_size);
            assert_eq!(wire.len(), len, "{name} cs{chunk_size}");
            assert_eq!(sha256_prefix(&wire), prefix, "{name} cs{chunk_size}");
        }
    }

    #[test]
    fn our_encoder_writes_the_same_bytes_as_rml() {
        for shape in SHAPES {
            let messages = messages(shape);
            for chunk_size in CHUNK_SIZES {
                let mut out = BytesMut::new();
                let tally = encode_ours(&messages, chunk_size, &mut out);
                let wire = wire(shape, chunk_size);
                assert_eq!(&out[..], &wire[..], "{} cs{chunk_size}", shape.name);
                assert_eq!(tally.messages, shape.count);
                assert_eq!(encode_ours_owned(&messages, chunk_size), tally);
                let rml = encode_rml(&rml_payloads(&messages), chunk_size);
                assert_eq!(rml, tally, "{} cs{chunk_size}", shape.name);
            }
        }
    }

    #[test]
    fn both_decoders_surface_every_message() {
        for shape in SHAPES {
            let expected = Tally {
                messages: shape.count,
                bytes: shape.count * shape.body_len,
            };
            for chunk_size in CHUNK_SIZES {
                let wire = wire(shape, chunk_size);
                assert_eq!(decode_ours(&wire, chunk_size), expected, "{}", shape.name);
                assert_eq!(decode_rml(&wire, chunk_size), expected, "{}", shape.name);
            }
        }
    }

    #[test]
    fn our_decoder_gives_back_the_messages() {
        let shape = shape("body512_x512").unwrap();
        let messages = messages(shape);
        let wire = wire(shape, 128);
        let mut decoder = Decoder::new(DecoderLimits::default());
        let mut decoded = Vec::new();
        for slice in wire.chunks(READ_SIZE) {
            decoder.push(slice);
            while let Some(message) = decoder.next_message().unwrap() {
                decoded.push(message);
            }
        }
        assert_eq!(decoded, messages);
    }

    #[test]
    fn timestamps_and_bodies_follow_the_rule() {
        assert_eq!(timestamps(5), [0, 11, 23, 33, 44]);
        let first = body(0, 4);
        let mut x = 0x9E37_79B9u32;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        assert_eq!(first[0], x as u8);
        assert_ne!(body(1, 4), first);
    }
}
