//! Chunk stream encoder: messages in, chunks with compressed headers out.

use bytes::{BufMut, BytesMut};

use super::header::{self, EXTENDED_TIMESTAMP, Fields};
use super::streams::Streams;
use super::{DEFAULT_CHUNK_SIZE, Header, MAX_CHUNK_SIZE, MAX_CSID, MAX_MESSAGE_SIZE};

/// Cuts messages into chunks for one direction of a connection.
///
/// Headers are as short as the receiver allows (spec §5.3.1.2): fmt 0 for a
/// chunk stream's first message, a new message stream id or a timestamp that
/// went backwards; fmt 1 when the length or type changed; fmt 2 when only the
/// delta changed; fmt 3 when nothing did. Continuation chunks are fmt 3 and
/// repeat the extended timestamp of the first chunk when it had one.
#[derive(Debug)]
pub struct Encoder {
    chunk_size: u32,
    streams: Streams<Sent>,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    /// An encoder at the default chunk size of 128, with no chunk stream state.
    pub fn new() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: Streams::new(),
        }
    }

    /// Sets the size of the chunks written from now on, clamped to 1..=2^31 − 1.
    /// The caller also sends the Set Chunk Size message, just before.
    pub fn set_chunk_size(&mut self, size: u32) {
        self.chunk_size = size.clamp(1, MAX_CHUNK_SIZE);
    }

    /// The size of the chunks written.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Appends `payload` as the message `header` describes, cut into chunks, to `out`.
    ///
    /// # Panics
    ///
    /// If `header.csid` is outside 2..=65,599 or `payload` is longer than
    /// 16,777,215 bytes: neither fits the chunk header, and both are the
    /// caller's bug (the message layer never builds such messages).
    pub fn encode(&mut self, header: &Header, payload: &[u8], out: &mut BytesMut) {
        // Unreachable from peer bytes: the encoder only writes what this side
        // sends, and `Connection` refuses an oversized body with
        // `ApiMisuse::TooLarge` and picks csids itself before calling here.
        let length = u32::try_from(payload.len())
            .ok()
            .filter(|&length| length <= MAX_MESSAGE_SIZE);
        let Some(length) = length else {
            panic!("an RTMP message holds at most 16,777,215 bytes")
        };
        // Unreachable from peer bytes too: csids are chosen by this side.
        assert!(
            (2..=MAX_CSID).contains(&header.csid),
            "chunk stream id {} is outside 2..=65599",
            header.csid
        );
        let Header {
            csid,
            timestamp,
            type_id,
            stream_id,
        } = *header;
        let mut sent = Sent {
            timestamp,
            // Spec §5.3.1.2.4: after a fmt 0 the receiver's delta is its timestamp.
            delta: timestamp,
            length,
            type_id,
            stream_id,
        };
        let fmt = match self.streams.get_mut(csid) {
            Some(last) => {
                let fmt = if last.stream_id != stream_id || timestamp < last.timestamp {
                    0
                } else {
                    sent.delta = timestamp - last.timestamp;
                    if length != last.length || type_id != last.type_id {
                        1
                    } else if sent.delta != last.delta {
                        2
                    } else {
                        3
                    }
                };
                *last = sent;
                fmt
            }
            None => {
                self.streams.insert(csid, sent);
                0
            }
        };

        let fields = Fields {
            timestamp: sent.delta,
            length,
            type_id,
            stream_id,
        };
        let chunk_size = usize::try_from(self.chunk_size).unwrap_or(usize::MAX);
        let (head, mut tail) = payload.split_at(payload.len().min(chunk_size));
        if tail.is_empty() {
            out.reserve(header::first_len(fmt, csid, sent.delta) + head.len());
            header::put_first(out, fmt, csid, sent.delta, &fields);
            out.put_slice(head);
            return;
        }
        let extended = sent.extended();
        let continuations = tail.len().div_ceil(chunk_size);
        out.reserve(
            header::first_len(fmt, csid, sent.delta)
                + payload.len()
                + continuations * header::continuation_len(csid, extended),
        );
        header::put_first(out, fmt, csid, sent.delta, &fields);
        out.put_slice(head);
        while !tail.is_empty() {
            let (chunk, rest) = tail.split_at(tail.len().min(chunk_size));
            header::put_continuation(out, csid, extended);
            out.put_slice(chunk);
            tail = rest;
        }
    }
}

/// The last message written on a chunk stream, which the next header is
/// compressed against.
#[derive(Debug, Clone, Copy)]
struct Sent {
    timestamp: u32,
    /// The delta the receiver now holds: the timestamp itself after a fmt 0.
    delta: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
}

impl Sent {
    /// The extended timestamp fmt-3 chunks repeat. Every header on this
    /// chunk stream carried `delta` in its timestamp field (the absolute time
    /// for fmt 0, which is then also the delta), so it is `delta` when that
    /// needed extending.
    fn extended(&self) -> Option<u32> {
        (self.delta >= EXTENDED_TIMESTAMP).then_some(self.delta)
    }
}

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::*;

    fn header(csid: u32, timestamp: u32, type_id: u8, stream_id: u32) -> Header {
        Header {
            csid,
            timestamp,
            type_id,
            stream_id,
        }
    }

    fn body(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 1) as u8).collect()
    }

    fn encode(encoder: &mut Encoder, header: Header, payload: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        encoder.encode(&header, payload, &mut out);
        out.to_vec()
    }

    #[test]
    fn so_message_over_two_chunks() {
        // docs/PROTOCOL.md §2.4: 12-byte header, 128 bytes, C3, 54 bytes.
        let payload = body(182);
        let mut expected = hex!("03 00 00 00 00 00 B6 13 00 00 00 00").to_vec();
        expected.extend_from_slice(&payload[..128]);
        expected.push(0xC3);
        expected.extend_from_slice(&payload[128..]);
        let wire = encode(&mut Encoder::new(), header(3, 0, 19, 0), &payload);
        assert_eq!(wire.len(), 195);
        assert_eq!(wire, expected);
    }

    #[test]
    fn use_example() {
        // docs/PROTOCOL.md §5.6 A.
        let payload = hex!("00 04 63 68 61 74 00 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00");
        let wire = encode(&mut Encoder::new(), header(3, 0, 19, 0), &payload);
        assert_eq!(wire[..12], hex!("03 00 00 00 00 00 17 13 00 00 00 00"));
        assert_eq!(wire[12..], payload);
    }

    #[test]
    fn ams_extended_timestamp() {
        // docs/PROTOCOL.md §5.5: fmt 0, csid 4, FF FF FF + 3E DF 48 88, 54 bytes, type 0x13.
        let payload = body(54);
        let wire = encode(
            &mut Encoder::new(),
            header(4, 0x3EDF_4888, 0x13, 0),
            &payload,
        );
        assert_eq!(
            wire[..16],
            hex!("04 FF FF FF 00 00 36 13 00 00 00 00 3E DF 48 88")
        );
        assert_eq!(wire[16..], payload);
    }

    #[test]
    fn compresses_headers() {
        let mut encoder = Encoder::new();
        let mut wire = |h: Header, payload: &[u8]| encode(&mut encoder, h, payload);
        assert_eq!(
            wire(header(3, 1000, 20, 5), &[1]),
            hex!("03 00 03 E8 00 00 01 14 05 00 00 00 01")
        );
        // Same length, type and stream; delta 1000 equals the fmt-0 timestamp.
        assert_eq!(wire(header(3, 2000, 20, 5), &[2]), hex!("C3 02"));
        assert_eq!(wire(header(3, 2005, 20, 5), &[3]), hex!("83 00 00 05 03"));
        assert_eq!(wire(header(3, 2010, 20, 5), &[4]), hex!("C3 04"));
        assert_eq!(
            wire(header(3, 2017, 18, 5), &[5, 6]),
            hex!("43 00 00 07 00 00 02 12 05 06")
        );
        assert_eq!(wire(header(3, 2024, 18, 5), &[7, 8]), hex!("C3 07 08"));
        // Same delta but another type: fmt 1.
        assert_eq!(
            wire(header(3, 2031, 8, 5), &[9, 10]),
            hex!("43 00 00 07 00 00 02 08 09 0A")
        );
        // Time going backwards and a new stream id both need fmt 0.
        assert_eq!(
            wire(header(3, 2000, 8, 5), &[9, 10]),
            hex!("03 00 07 D0 00 00 02 08 05 00 00 00 09 0A")
        );
        assert_eq!(
            wire(header(3, 2000, 8, 6), &[9, 10]),
            hex!("03 00 07 D0 00 00 02 08 06 00 00 00 09 0A")
        );
        // Other chunk streams keep their own state.
        assert_eq!(
            wire(header(64, 0, 8, 6), &[]),
            hex!("00 00 00 00 00 00 00 00 08 06 00 00 00")
        );
        assert_eq!(wire(header(64, 0, 8, 6), &[]), hex!("C0 00"));
    }

    #[test]
    fn wide_chunk_stream_ids() {
        let mut encoder = Encoder::new();
        for (csid, basic) in [
            (63, &hex!("3F")[..]),
            (64, &hex!("00 00")),
            (319, &hex!("00 FF")),
            (320, &hex!("01 00 01")),
            (65_599, &hex!("01 FF FF")),
        ] {
            let wire = encode(&mut encoder, header(csid, 0, 8, 1), &[0xAA]);
            let mut expected = basic.to_vec();
            expected.extend_from_slice(&hex!("00 00 00 00 00 01 08 01 00 00 00 AA"));
            assert_eq!(wire, expected, "csid {csid}");
        }
        encoder.set_chunk_size(1);
        let wire = encode(&mut encoder, header(320, 10, 8, 1), &[0xAA, 0xBB]);
        assert_eq!(wire, hex!("41 00 01 00 00 0A 00 00 02 08 AA C1 00 01 BB"));
    }

    #[test]
    fn extended_timestamp_repeats_on_every_fmt3_chunk() {
        let mut encoder = Encoder::new();
        encoder.set_chunk_size(2);
        let mut wire = |h: Header, payload: &[u8]| encode(&mut encoder, h, payload);
        assert_eq!(
            wire(header(3, 0x0100_0000, 9, 0), &[1, 2, 3, 4, 5]),
            hex!(
                "03 FF FF FF 00 00 05 09 00 00 00 00 01 00 00 00 01 02 C3 01 00 00 00 03 04 C3 01 00 00 00 05"
            )
        );
        // A fmt-3 new message re-applies the delta, which is the same value.
        assert_eq!(
            wire(header(3, 0x0200_0000, 9, 0), &[1, 2, 3]),
            hex!("43 FF FF FF 00 00 03 09 01 00 00 00 01 02 C3 01 00 00 00 03")
        );
        assert_eq!(
            wire(header(3, 0x0300_0000, 9, 0), &[1, 2, 3]),
            hex!("C3 01 00 00 00 01 02 C3 01 00 00 00 03")
        );
        // Exactly 0xFFFFFF is extended too; a small delta afterwards is not.
        assert_eq!(
            wire(header(3, 0x03FF_FFFF, 9, 0), &[1, 2, 3]),
            hex!("83 FF FF FF 00 FF FF FF 01 02 C3 00 FF FF FF 03")
        );
        assert_eq!(
            wire(header(3, 0x0400_0009, 9, 0), &[1, 2, 3]),
            hex!("83 00 00 0A 01 02 C3 03")
        );
    }

    #[test]
    fn chunk_size_is_clamped() {
        let mut encoder = Encoder::new();
        assert_eq!(encoder.chunk_size(), 128);
        encoder.set_chunk_size(0);
        assert_eq!(encoder.chunk_size(), 1);
        encoder.set_chunk_size(u32::MAX);
        assert_eq!(encoder.chunk_size(), 0x7FFF_FFFF);
        let wire = encode(&mut encoder, header(3, 0, 8, 0), &body(300));
        assert_eq!(wire.len(), 12 + 300);
    }

    #[test]
    fn appends_without_touching_what_is_there() {
        let mut out = BytesMut::from(&b"xy"[..]);
        Encoder::new().encode(&header(2, 0, 1, 0), &hex!("00 00 10 00"), &mut out);
        assert_eq!(
            out[..],
            hex!("78 79 02 00 00 00 00 00 04 01 00 00 00 00 00 00 10 00")
        );
    }

    #[test]
    #[should_panic(expected = "outside 2..=65599")]
    fn refuses_csid_out_of_range() {
        Encoder::new().encode(&header(1, 0, 8, 0), &[], &mut BytesMut::new());
    }
}
