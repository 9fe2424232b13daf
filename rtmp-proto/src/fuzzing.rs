//! The bodies of the fuzz targets in `fuzz/`, kept here so that the seed
//! corpus and every crash found also run as ordinary unit tests.
//!
//! Each function takes the fuzzer's bytes (or an `arbitrary` input) and
//! panics only when an invariant breaks: a decoder that accepted input must
//! re-encode it to something that decodes to the same thing, and memory held
//! must stay under the configured limits. Panics here are the point: they
//! are how a fuzzer learns that an invariant broke. None of its `expect`s
//! and asserts is reachable from a server's or client's peer: the module
//! is built only for tests and with the `fuzzing` feature, which the
//! server and client crates never turn on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::amf::{Encoding, Limits, Value, amf0, amf3};
use crate::chunk::{Decoder, DecoderLimits};
use crate::connection::{Config, ConnectParams, Connection, Side};
use crate::handshake::{ClientStyle, Handshake};
use crate::message::Message;
use crate::message::shared_object::SharedObjectMessage;

/// The message types [`message`] parses, picked by its first byte: control
/// 1–6, then command, data and SharedObject in AMF0 and AMF3.
pub const MESSAGE_TYPES: [u8; 12] = [1, 2, 3, 4, 5, 6, 20, 17, 18, 15, 19, 16];

/// AMF0: whatever decodes re-encodes to bytes that decode and re-encode identically.
pub fn amf0(data: &[u8]) {
    let limits = Limits::default();
    let Ok(values) = amf0::decode_all(data, &limits) else {
        return;
    };
    let first = encode_amf0(&values);
    let again = amf0::decode_all(&first, &limits).expect("our AMF0 output decodes");
    assert_eq!(encode_amf0(&again), first, "AMF0 re-encoding is not stable");
}

/// AMF3: whatever decodes re-encodes to bytes that decode and re-encode identically.
pub fn amf3(data: &[u8]) {
    let limits = Limits::default();
    let Some(values) = decode_amf3_all(data, &limits) else {
        return;
    };
    let first = encode_amf3(&values);
    let again = decode_amf3_all(&first, &limits).expect("our AMF3 output decodes");
    assert_eq!(encode_amf3(&again), first, "AMF3 re-encoding is not stable");
}

/// The chunk decoder, fed in arbitrary splits after an arbitrary chunk size,
/// yields the same messages as when fed whole, and holds bounded memory.
pub fn chunk_decoder(data: &[u8]) {
    let Some((&size_byte, rest)) = data.split_first() else {
        return;
    };
    let Some((&split_seed, stream)) = rest.split_first() else {
        return;
    };
    let chunk_size = match size_byte {
        0 => 1,
        1 => 0x7FFF_FFFF,
        n => u32::from(n) * 37,
    };
    let limits = DecoderLimits {
        max_message_size: 64 * 1024,
        max_chunk_streams: 8,
    };
    let whole = run_chunks(limits, chunk_size, &[stream]);
    let mut pieces = Vec::new();
    let mut left = stream;
    let mut step = usize::from(split_seed % 17) + 1;
    while !left.is_empty() {
        let (a, b) = left.split_at(step.min(left.len()));
        pieces.push(a);
        left = b;
        step = step * 7 % 23 + 1;
    }
    assert_eq!(
        run_chunks(limits, chunk_size, &pieces),
        whole,
        "split changed the messages"
    );
}

/// Both handshake sides survive any bytes, in any split.
pub fn handshake(data: &[u8]) {
    for mut hs in [
        Handshake::server([1; 32]),
        Handshake::client([2; 32], ClientStyle::Digest),
        Handshake::client([3; 32], ClientStyle::Plain),
    ] {
        let mut out = BytesMut::new();
        let mut left = data;
        let mut step = 1;
        while !left.is_empty() {
            let (piece, rest) = left.split_at(step.min(left.len()));
            match hs.handle_input(0, piece) {
                Ok(n) => assert!(n <= piece.len(), "consumed more than given"),
                Err(_) => break,
            }
            hs.poll_transmit(&mut out);
            left = rest;
            step = step * 3 % 1601 + 1;
        }
        assert!(out.len() <= 1 + 2 * 1536 + 1536, "handshake wrote too much");
    }
}

/// SharedObject bodies of either type: whatever decodes round-trips.
pub fn so_message(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let encoding = if kind & 1 == 0 {
        Encoding::Amf0
    } else {
        Encoding::Amf3
    };
    let limits = Limits::default();
    let Ok(message) = SharedObjectMessage::decode(body, encoding, &limits) else {
        return;
    };
    let mut first = BytesMut::new();
    message
        .encode(encoding, &mut first)
        .expect("a decoded message re-encodes");
    let again = SharedObjectMessage::decode(&first, encoding, &limits).expect("our output decodes");
    let mut second = BytesMut::new();
    again.encode(encoding, &mut second).expect("re-encodes");
    assert_eq!(first, second, "SharedObject re-encoding is not stable");
}

/// An RTMP message body of the type the first byte picks (see
/// [`MESSAGE_TYPES`]): whatever decodes re-encodes to bytes that decode to
/// a message that re-encodes identically (the same message, for control
/// messages; AMF values may take their canonical form once).
pub fn message(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let type_id = MESSAGE_TYPES[usize::from(pick) % MESSAGE_TYPES.len()];
    let limits = Limits::default();
    let Ok(first) = Message::decode(type_id, Bytes::copy_from_slice(body), &limits) else {
        return;
    };
    assert_eq!(first.type_id(), type_id, "decoded as another type");
    let mut encoded = BytesMut::new();
    first
        .encode(&mut encoded)
        .expect("a decoded message re-encodes");
    let again =
        Message::decode(type_id, encoded.clone().freeze(), &limits).expect("our output decodes");
    let mut twice = BytesMut::new();
    again.encode(&mut twice).expect("re-encodes");
    // AMF values have canonical forms (an AVM+ integer inside AMF0 comes
    // back as an AMF0 number): they must encode the same. Control messages
    // have none: they must come back as they were.
    if type_id <= 6 {
        assert_eq!(again, first, "the control message changed on the way round");
    }
    assert_eq!(twice, encoded, "message re-encoding is not stable");
}

/// A server `Connection` fed arbitrary bytes (after a valid handshake when
/// the first byte is odd) from virtual time `start`: never panics, and holds
/// bounded memory.
pub fn connection_server(start: Instant, data: &[u8]) {
    drive_connection(Side::Server, start, data);
}

/// A client `Connection` fed arbitrary bytes: never panics, bounded memory.
pub fn connection_client(start: Instant, data: &[u8]) {
    drive_connection(Side::Client, start, data);
}

fn drive_connection(side: Side, start: Instant, data: &[u8]) {
    let config = Arc::new(Config {
        chunk_limits: DecoderLimits {
            max_message_size: 64 * 1024,
            max_chunk_streams: 8,
        },
        ..Config::default()
    });
    let mut conn = Connection::new(config.clone(), side, start, [9; 32]);
    if side == Side::Client {
        let params = ConnectParams::from_url("rtmp://fuzz.invalid/app", Encoding::Amf3);
        let _ = conn.connect(start, params.expect("a valid URL"));
    }
    let mut out = BytesMut::new();
    let mut now = start;
    let (prefix, data) = match data.split_first() {
        // Odd first byte: a valid plain handshake first, so the fuzzer reaches the chunk stream.
        Some((&b, rest)) if b & 1 == 1 => (plain_handshake_prefix(side), rest),
        _ => (Vec::new(), data),
    };
    for piece in std::iter::once(&prefix[..]).chain(data.chunks(97)) {
        now += Duration::from_millis(10);
        if conn.handle_input(now, piece).is_err() {
            break;
        }
        out.clear();
        conn.poll_transmit(&mut out);
        while let Some(event) = conn.poll_event() {
            if let crate::connection::Event::ConnectRequest(_) = event {
                let _ = conn.accept(now);
            }
        }
        let cap = 2
            * config.chunk_limits.max_message_size as usize
            * config.chunk_limits.max_chunk_streams
            + 64 * 1024;
        assert!(
            conn.buffered_input() <= cap,
            "input buffer grew past the limits"
        );
    }
    conn.handle_timeout(now + Duration::from_secs(3600));
}

fn plain_handshake_prefix(side: Side) -> Vec<u8> {
    // Server side: C0 C1 C2. Client side: S0 S1 S2. Both are 1 + 2 × 1536 bytes.
    let _ = side;
    let mut bytes = vec![3u8];
    bytes.extend_from_slice(&[0u8; 2 * 1536]);
    bytes
}

fn run_chunks(limits: DecoderLimits, chunk_size: u32, pieces: &[&[u8]]) -> Vec<(u32, u8, usize)> {
    let mut decoder = Decoder::new(limits);
    if decoder.set_chunk_size(chunk_size).is_err() {
        return Vec::new();
    }
    let mut got = Vec::new();
    'feed: for piece in pieces {
        decoder.push(piece);
        loop {
            match decoder.next_message() {
                Ok(Some(m)) => got.push((m.header.csid, m.header.type_id, m.payload.len())),
                Ok(None) => break,
                Err(_) => break 'feed,
            }
            let cap = 2 * limits.max_message_size as usize * limits.max_chunk_streams + 64 * 1024;
            assert!(
                decoder.buffered() <= cap + piece.len(),
                "decoder holds too much"
            );
        }
    }
    got
}

fn encode_amf0(values: &[Value]) -> BytesMut {
    let mut out = BytesMut::new();
    let mut encoder = amf0::Encoder::new();
    for v in values {
        encoder.encode(v, &mut out);
    }
    out
}

fn encode_amf3(values: &[Value]) -> BytesMut {
    let mut out = BytesMut::new();
    let mut encoder = amf3::Encoder::new();
    for v in values {
        encoder.encode(v, &mut out);
    }
    out
}

fn decode_amf3_all(data: &[u8], limits: &Limits) -> Option<Vec<Value>> {
    let mut decoder = amf3::Decoder::new(data, limits);
    let mut values = Vec::new();
    while !decoder.is_empty() {
        values.push(decoder.decode().ok()?);
    }
    Some(values)
}
