//! Encoder and decoder together: round trips, and "the same stream split at
//! any points gives the same messages".

use std::collections::{BTreeMap, VecDeque};

use bytes::{Bytes, BytesMut};

use super::*;
use crate::error::Error;

/// xorshift64: deterministic test randomness without a rand crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Decodes `wire` fed in pieces of the given lengths (the rest in one piece),
/// draining messages after every piece.
fn decode_split(
    wire: &[u8],
    mut pieces: impl Iterator<Item = usize>,
) -> Result<Vec<RawMessage>, Error> {
    let mut decoder = Decoder::new(DecoderLimits::default());
    let mut messages = Vec::new();
    let mut rest = wire;
    while !rest.is_empty() {
        let n = pieces.next().unwrap_or(rest.len()).clamp(1, rest.len());
        let (piece, tail) = rest.split_at(n);
        decoder.push(piece);
        rest = tail;
        while let Some(message) = decoder.next_message()? {
            messages.push(message);
        }
    }
    assert_eq!(decoder.buffered(), 0);
    assert_eq!(decoder.bytes_received(), wire.len() as u64);
    Ok(messages)
}

/// A chunk stream and the messages it holds, in the order they complete.
struct Script {
    wire: Vec<u8>,
    messages: Vec<RawMessage>,
    fmts: [usize; 4],
    extended: usize,
}

/// Tracks what the encoder last sent per chunk stream, to know where its
/// chunks end (a continuation header is longer when extended).
#[derive(Default)]
struct Chunker {
    encoder: Encoder,
    last: BTreeMap<u32, (u32, u32)>,
    /// Messages written per first-chunk fmt, and with an extended timestamp.
    fmts: [usize; 4],
    extended: usize,
}

impl Chunker {
    /// Encodes a message and returns its chunks, the message with the last.
    fn chunks(&mut self, header: Header, payload: Vec<u8>) -> Vec<(Vec<u8>, Option<RawMessage>)> {
        let mut out = BytesMut::new();
        self.encoder.encode(&header, &payload, &mut out);
        let time = match self.last.get(&header.csid) {
            Some(&(timestamp, stream_id))
                if stream_id == header.stream_id && header.timestamp >= timestamp =>
            {
                header.timestamp - timestamp
            }
            _ => header.timestamp,
        };
        self.last
            .insert(header.csid, (header.timestamp, header.stream_id));
        let basic = match header.csid {
            0..=63 => 1,
            64..=319 => 2,
            _ => 3,
        };
        let continuation = basic + if time >= 0xFF_FFFF { 4 } else { 0 };
        self.fmts[usize::from(out[0] >> 6)] += 1;
        self.extended += usize::from(time >= 0xFF_FFFF);
        let size = self.encoder.chunk_size() as usize;
        let tail = payload.len() - payload.len().min(size);
        let first = out.len() - tail - tail.div_ceil(size) * continuation;
        let mut chunks = vec![out.split_to(first).to_vec()];
        while !out.is_empty() {
            let n = out.len().min(continuation + size);
            chunks.push(out.split_to(n).to_vec());
        }
        let message = RawMessage {
            header,
            payload: Bytes::from(payload),
        };
        let mut chunks: Vec<_> = chunks.into_iter().map(|c| (c, None)).collect();
        if let Some(last) = chunks.last_mut() {
            last.1 = Some(message);
        }
        chunks
    }
}

/// Many messages on several interleaved chunk streams: every fmt, extended
/// timestamps (absolute and delta), wide chunk stream ids, empty messages,
/// and Set Chunk Size messages between segments.
fn script(seed: u64) -> Script {
    const CSIDS: [u32; 7] = [3, 4, 5, 64, 319, 320, 65_599];
    let mut rng = XorShift(seed);
    let mut chunker = Chunker::default();
    let mut wire = Vec::new();
    let mut messages = Vec::new();
    let mut clock: BTreeMap<u32, (u32, u32, u8, usize)> = BTreeMap::new();
    for (segment, chunk_size) in [128_u32, 1, 4096, 50, 65_536].into_iter().enumerate() {
        if segment > 0 {
            let header = Header {
                csid: CONTROL_CSID,
                timestamp: 0,
                type_id: 1,
                stream_id: 0,
            };
            for (chunk, message) in chunker.chunks(header, chunk_size.to_be_bytes().to_vec()) {
                wire.extend_from_slice(&chunk);
                messages.extend(message);
            }
            chunker.encoder.set_chunk_size(chunk_size);
        }
        let mut queues: Vec<VecDeque<_>> = vec![VecDeque::new(); CSIDS.len()];
        for _ in 0..60 {
            let which = rng.below(CSIDS.len());
            let csid = CSIDS[which];
            let start = [0, 0xFF_FF00, 0xFFFF_FF00, 0x00FF_FFFF][which % 4];
            let (mut timestamp, mut delta, mut type_id, mut length) =
                *clock.entry(csid).or_insert((start, 10, 20, 64));
            // Keep the last delta, type and length often, so fmt 2 and 3 show up.
            match rng.below(8) {
                0 => delta = rng.pick(&[0, 1, 33, 0xFF_FFFE, 0xFF_FFFF, 0x0100_0000]),
                1 => type_id = rng.pick(&[8, 9, 18, 19, 20]),
                2 => length = rng.pick(&[0, 1, 49, 50, 51, 127, 128, 129, 700]),
                3 => timestamp = timestamp.wrapping_sub(5),
                _ => {}
            }
            timestamp = timestamp.wrapping_add(delta);
            let stream_id = if rng.below(10) == 0 { 7 } else { 1 };
            clock.insert(csid, (timestamp, delta, type_id, length));
            let header = Header {
                csid,
                timestamp,
                type_id,
                stream_id,
            };
            queues[which].extend(chunker.chunks(header, rng.bytes(length)));
        }
        // Interleave the chunk streams' chunks; each keeps its own order.
        while queues.iter().any(|q| !q.is_empty()) {
            let which = rng.below(queues.len());
            if let Some((chunk, message)) = queues[which].pop_front() {
                wire.extend_from_slice(&chunk);
                messages.extend(message);
            }
        }
    }
    Script {
        wire,
        messages,
        fmts: chunker.fmts,
        extended: chunker.extended,
    }
}

#[test]
fn same_stream_any_split() {
    for seed in [1, 0x9E37_79B9_7F4A_7C15, 42] {
        let script = script(seed);
        assert!(script.fmts.iter().all(|&n| n >= 10), "{:?}", script.fmts);
        assert!(script.extended >= 10, "{}", script.extended);
        let whole = decode_split(&script.wire, std::iter::empty()).unwrap();
        assert_eq!(whole.len(), script.messages.len());
        assert_eq!(whole, script.messages);
        let byte_by_byte = decode_split(&script.wire, std::iter::repeat(1)).unwrap();
        assert_eq!(byte_by_byte, script.messages);
        for (split_seed, most) in [(7, 16), (8, 300), (9, 5000)] {
            let mut rng = XorShift(seed ^ split_seed);
            let pieces = std::iter::from_fn(move || Some(1 + rng.below(most)));
            assert_eq!(
                decode_split(&script.wire, pieces).unwrap(),
                script.messages,
                "seed {seed:#x}, splits {split_seed}"
            );
        }
    }
}

#[test]
fn round_trips_across_chunk_sizes() {
    let timestamps = [
        0,
        0xFF_FF00,
        0xFF_FFF0,
        0xFF_FFFE,
        0xFF_FFFF,
        0x0100_0000,
        0x01FF_FFFF,
        0x02FF_FFFE,
        0x03FF_FFFD,
        0x03FF_FFFD,
        0x0400_0000,
        0xFFFF_FFFF,
        5,
    ];
    let mut rng = XorShift(3);
    for chunk_size in [1_u32, 128, 4096, 65_536] {
        let size = chunk_size as usize;
        let mut lengths = vec![0, 1, size - 1, size, size + 1, 2 * size + 3];
        lengths.retain(|&n| n <= 300 || chunk_size > 1);
        let mut encoder = Encoder::new();
        encoder.set_chunk_size(chunk_size);
        let mut wire = BytesMut::new();
        let mut expected = Vec::new();
        for (i, &length) in lengths.iter().enumerate() {
            for (j, &timestamp) in timestamps.iter().enumerate() {
                let header = Header {
                    csid: [3, 320, 65_599][(i + j) % 3],
                    timestamp,
                    type_id: [19, 19, 16][j % 3],
                    stream_id: (j / 5) as u32,
                };
                let payload = rng.bytes(length);
                encoder.encode(&header, &payload, &mut wire);
                expected.push(RawMessage {
                    header,
                    payload: payload.into(),
                });
            }
        }
        let mut decoder = Decoder::new(DecoderLimits::default());
        decoder.set_chunk_size(chunk_size).unwrap();
        decoder.push(&wire);
        let mut decoded = Vec::new();
        while let Some(message) = decoder.next_message().unwrap() {
            decoded.push(message);
        }
        assert_eq!(decoded, expected, "chunk size {chunk_size}");
        assert_eq!(decoder.buffered(), 0);
    }
}
