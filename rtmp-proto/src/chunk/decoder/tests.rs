//! Decoder tests: golden bytes from docs/PROTOCOL.md, timestamp and
//! extended-timestamp rules, control messages, and hostile input.

use bytes::Bytes;
use hex_literal::hex;

use super::*;

fn decoder() -> Decoder {
    Decoder::new(DecoderLimits::default())
}

fn drain(decoder: &mut Decoder) -> Result<Vec<RawMessage>, Error> {
    let mut messages = Vec::new();
    while let Some(message) = decoder.next_message()? {
        messages.push(message);
    }
    Ok(messages)
}

fn decode(input: &[u8]) -> Result<Vec<RawMessage>, Error> {
    let mut decoder = decoder();
    decoder.push(input);
    drain(&mut decoder)
}

fn message(csid: u32, timestamp: u32, type_id: u8, stream_id: u32, payload: &[u8]) -> RawMessage {
    RawMessage {
        header: Header {
            csid,
            timestamp,
            type_id,
            stream_id,
        },
        payload: Bytes::copy_from_slice(payload),
    }
}

fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 1) as u8).collect()
}

/// docs/PROTOCOL.md §5.5: the AMS STATUS body.
const AMS_BODY: [u8; 54] = hex!(
    "00 00 00 00 00 00 00 00 00 00 00 00 00 00 07 00 00 00 23 00 1A"
    "53 68 61 72 65 64 4F 62 6A 65 63 74 2E 4E 6F 4F 62 6A 65 63 74 46 6F 75 6E 64"
    "00 05 65 72 72 6F 72"
);

/// docs/PROTOCOL.md §5.6 A: the USE body.
const USE_BODY: [u8; 23] =
    hex!("00 04 63 68 61 74 00 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00");

#[test]
fn so_message_over_two_chunks() {
    // docs/PROTOCOL.md §2.4: 182 bytes at chunk size 128 on csid 3 = 195 wire bytes.
    let payload = body(182);
    let mut wire = hex!("03 00 00 00 00 00 B6 13 00 00 00 00").to_vec();
    wire.extend_from_slice(&payload[..128]);
    wire.push(0xC3);
    wire.extend_from_slice(&payload[128..]);
    assert_eq!(wire.len(), 195);
    let mut decoder = decoder();
    decoder.push(&wire);
    assert_eq!(
        drain(&mut decoder),
        Ok(vec![message(3, 0, 0x13, 0, &payload)])
    );
    assert_eq!(decoder.bytes_received(), 195);
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn use_example() {
    let mut wire = hex!("03 00 00 00 00 00 17 13 00 00 00 00").to_vec();
    wire.extend_from_slice(&USE_BODY);
    assert_eq!(decode(&wire), Ok(vec![message(3, 0, 19, 0, &USE_BODY)]));
}

#[test]
fn ams_extended_timestamp() {
    let mut wire = hex!("04 FF FF FF 00 00 36 13 00 00 00 00 3E DF 48 88").to_vec();
    wire.extend_from_slice(&AMS_BODY);
    assert_eq!(
        decode(&wire),
        Ok(vec![message(4, 0x3EDF_4888, 0x13, 0, &AMS_BODY)])
    );
}

#[test]
fn wide_chunk_stream_ids() {
    let wire = hex!(
        "00 00  00 00 01 00 00 01 08 01 00 00 00  AA"       // csid 64, 2-byte form
        "01 00 00  00 00 02 00 00 01 08 01 00 00 00  BB"    // csid 64, 3-byte form
        "00 FF  00 00 03 00 00 01 08 01 00 00 00  CC"       // csid 319
        "01 00 01  00 00 04 00 00 01 08 01 00 00 00  DD"    // csid 320
        "01 FF FF  00 00 05 00 00 01 08 01 00 00 00  EE"    // csid 65,599
        "C1 FF FF  FF"                                      // fmt 3 on 65,599
    );
    assert_eq!(
        decode(&wire),
        Ok(vec![
            message(64, 1, 8, 1, &[0xAA]),
            message(64, 2, 8, 1, &[0xBB]),
            message(319, 3, 8, 1, &[0xCC]),
            message(320, 4, 8, 1, &[0xDD]),
            message(65_599, 5, 8, 1, &[0xEE]),
            message(65_599, 10, 8, 1, &[0xFF]),
        ])
    );
}

#[test]
fn timestamps_follow_fmt() {
    let wire = hex!(
        "03 00 03 E8 00 00 01 14 05 00 00 00  01"   // fmt 0: ts 1000, stream 5
        "C3  02"                                    // fmt 3 new: delta 1000 again → 2000
        "83 00 00 05  03"                           // fmt 2: +5 → 2005
        "C3  04"                                    // fmt 3: +5 → 2010
        "43 00 00 07 00 00 02 12  05 06"            // fmt 1: +7, length 2, type 18 → 2017
        "C3  07 08"                                 // fmt 3: +7 → 2024, length 2
        "04 00 00 0A 00 00 01 08 00 00 00 00  09"   // csid 4 has its own state
        "C4  0A"                                    // → 20
    );
    assert_eq!(
        decode(&wire),
        Ok(vec![
            message(3, 1000, 20, 5, &[1]),
            message(3, 2000, 20, 5, &[2]),
            message(3, 2005, 20, 5, &[3]),
            message(3, 2010, 20, 5, &[4]),
            message(3, 2017, 18, 5, &[5, 6]),
            message(3, 2024, 18, 5, &[7, 8]),
            message(4, 10, 8, 0, &[9]),
            message(4, 20, 8, 0, &[10]),
        ])
    );
}

#[test]
fn extended_timestamp_repeats_on_fmt3() {
    let payload = body(200);
    let mut wire = hex!("03 FF FF FF 00 00 C8 13 00 00 00 00 01 00 00 00").to_vec();
    wire.extend_from_slice(&payload[..128]);
    wire.extend_from_slice(&hex!("C3 01 00 00 00"));
    wire.extend_from_slice(&payload[128..]);
    // A fmt-3 new message applies the fmt-0 time again and still carries the 4 bytes.
    wire.extend_from_slice(&hex!("C3 01 00 00 00"));
    wire.extend_from_slice(&payload[..128]);
    wire.extend_from_slice(&hex!("C3 01 00 00 00"));
    wire.extend_from_slice(&payload[128..]);
    // fmt 2 with an extended delta, then a small one resets the flag.
    wire.extend_from_slice(&hex!("83 FF FF FF FF 00 00 00"));
    wire.extend_from_slice(&payload[..128]);
    wire.extend_from_slice(&hex!("C3 FF 00 00 00"));
    wire.extend_from_slice(&payload[128..]);
    wire.extend_from_slice(&hex!("83 00 00 0A"));
    wire.extend_from_slice(&payload[..128]);
    wire.extend_from_slice(&hex!("C3"));
    wire.extend_from_slice(&payload[128..]);
    assert_eq!(
        decode(&wire),
        Ok(vec![
            message(3, 0x0100_0000, 19, 0, &payload),
            message(3, 0x0200_0000, 19, 0, &payload),
            message(
                3,
                0xFF00_0000_u32.wrapping_add(0x0200_0000),
                19,
                0,
                &payload
            ),
            message(3, 0x0100_000A, 19, 0, &payload),
        ])
    );
}

#[test]
fn timestamps_wrap() {
    let wire = hex!(
        "03 FF FF FF 00 00 01 08 00 00 00 00 FF FF FF F0  01"
        "83 00 00 20  02"
    );
    assert_eq!(
        decode(&wire),
        Ok(vec![
            message(3, 0xFFFF_FFF0, 8, 0, &[1]),
            message(3, 0x10, 8, 0, &[2]),
        ])
    );
}

#[test]
fn interleaved_chunk_streams() {
    let a = body(300);
    let b: Vec<u8> = body(130).iter().map(|x| !x).collect();
    let mut wire = hex!("03 00 00 01 00 01 2C 09 01 00 00 00").to_vec();
    wire.extend_from_slice(&a[..128]);
    wire.extend_from_slice(&hex!("05 00 00 02 00 00 82 08 01 00 00 00"));
    wire.extend_from_slice(&b[..128]);
    wire.push(0xC3);
    wire.extend_from_slice(&a[128..256]);
    wire.extend_from_slice(&hex!("02 00 00 00 00 00 04 05 00 00 00 00 00 26 25 A0"));
    wire.push(0xC5);
    wire.extend_from_slice(&b[128..]);
    wire.push(0xC3);
    wire.extend_from_slice(&a[256..]);
    let mut decoder = decoder();
    decoder.push(&wire);
    assert_eq!(
        drain(&mut decoder),
        Ok(vec![
            message(2, 0, 5, 0, &hex!("00 26 25 A0")),
            message(5, 2, 8, 1, &b),
            message(3, 1, 9, 1, &a),
        ])
    );
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn set_chunk_size_applies_to_the_next_chunk() {
    let payload = body(300);
    let mut wire = hex!("02 00 00 00 00 00 04 01 00 00 00 00 00 00 10 00").to_vec();
    wire.extend_from_slice(&hex!("03 00 00 00 00 01 2C 13 00 00 00 00"));
    wire.extend_from_slice(&payload);
    let mut decoder = decoder();
    decoder.push(&wire);
    assert_eq!(
        drain(&mut decoder),
        Ok(vec![
            message(2, 0, 1, 0, &hex!("00 00 10 00")),
            message(3, 0, 19, 0, &payload),
        ])
    );
    assert_eq!(decoder.chunk_size(), 4096);
}

#[test]
fn control_messages_elsewhere_are_only_returned() {
    // Type 1 on csid 3 or on stream 1 is not a Set Chunk Size for us.
    let wire = hex!(
        "03 00 00 00 00 00 04 01 00 00 00 00 00 00 00 01"
        "02 00 00 00 00 00 04 01 01 00 00 00 00 00 00 01"
        "02 00 00 00 00 00 02 01 00 00 00 00 00 01"
    );
    let mut decoder = decoder();
    decoder.push(&wire);
    assert_eq!(drain(&mut decoder).map(|m| m.len()), Ok(3));
    assert_eq!(decoder.chunk_size(), 128);
}

#[test]
fn set_chunk_size_bounds() {
    let mut decoder = decoder();
    assert_eq!(
        decoder.set_chunk_size(0),
        Err(ProtocolError::InvalidChunkSize(0))
    );
    assert_eq!(
        decoder.set_chunk_size(0x8000_0000),
        Err(ProtocolError::InvalidChunkSize(0x8000_0000))
    );
    assert_eq!(decoder.set_chunk_size(1), Ok(()));
    assert_eq!(decoder.set_chunk_size(0x7FFF_FFFF), Ok(()));
    assert_eq!(decoder.chunk_size(), 0x7FFF_FFFF);
}

#[test]
fn hostile_chunk_size_zero() {
    let wire = hex!("02 00 00 00 00 00 04 01 00 00 00 00 00 00 00 00");
    assert_eq!(
        decode(&wire),
        Err(ProtocolError::InvalidChunkSize(0).into())
    );
    let wire = hex!("02 00 00 00 00 00 04 01 00 00 00 00 FF FF FF FF");
    assert_eq!(
        decode(&wire),
        Err(ProtocolError::InvalidChunkSize(u32::MAX).into())
    );
}

#[test]
fn hostile_continuation_without_header() {
    for first in [0xC3, 0x83, 0x43] {
        assert_eq!(
            decode(&[first]),
            Err(ProtocolError::MissingHeader { csid: 3 }.into())
        );
    }
    assert_eq!(
        decode(&hex!("C1 00 01")),
        Err(ProtocolError::MissingHeader { csid: 320 }.into())
    );
}

#[test]
fn hostile_message_length_refused_from_its_header() {
    let mut decoder = Decoder::new(DecoderLimits {
        max_message_size: 1000,
        max_chunk_streams: 8,
    });
    decoder.set_chunk_size(4096).unwrap();
    decoder.push(&hex!("04 00 00 00 00 03 E8 13 00 00 00 00"));
    assert_eq!(decoder.next_message(), Ok(None));
    decoder.push(&body(1000));
    assert_eq!(decoder.next_message().map(|m| m.is_some()), Ok(true));
    // fmt 1 is checked too, with no payload byte sent.
    decoder.push(&hex!("44 00 00 00 00 03 E9 13"));
    assert_eq!(
        decoder.next_message(),
        Err(LimitExceeded::new(Limit::MessageSize, 1000).into())
    );
    // The default refuses a 16 MB message and accepts 1 MB.
    let mut wire = hex!("03 00 00 00 FF FF FF 13 00 00 00 00").to_vec();
    assert_eq!(
        decode(&wire),
        Err(LimitExceeded::new(Limit::MessageSize, DecoderLimits::DEFAULT_MAX_MESSAGE_SIZE).into())
    );
    wire = hex!("03 00 00 00 10 00 00 13 00 00 00 00").to_vec();
    assert_eq!(decode(&wire), Ok(vec![]));
}

#[test]
fn hostile_too_many_chunk_streams() {
    let mut decoder = Decoder::new(DecoderLimits {
        max_message_size: 1000,
        max_chunk_streams: 3,
    });
    decoder.push(&hex!(
        "03 00 00 00 00 00 00 08 00 00 00 00"
        "04 00 00 00 00 00 00 08 00 00 00 00"
        "00 00  00 00 00 00 00 00 08 00 00 00 00"
        "04 00 00 00 00 00 00 08 00 00 00 00"
        "05"
    ));
    assert_eq!(
        drain(&mut decoder).map(|m| m.len()),
        Err(LimitExceeded::new(Limit::ChunkStreams, 3).into())
    );
}

#[test]
fn abort_discards_the_partial_message() {
    let payload = body(300);
    let mut wire = hex!("03 00 00 00 00 01 2C 13 00 00 00 00").to_vec();
    wire.extend_from_slice(&payload[..128]);
    let mut decoder = decoder();
    decoder.push(&wire);
    assert_eq!(decoder.next_message(), Ok(None));
    assert_eq!(decoder.buffered(), 128);
    decoder.push(&hex!("02 00 00 00 00 00 04 02 00 00 00 00 00 00 00 03"));
    assert_eq!(
        decoder.next_message(),
        Ok(Some(message(2, 0, 2, 0, &hex!("00 00 00 03"))))
    );
    assert_eq!(decoder.buffered(), 0);
    // The next fmt-3 chunk starts a new message with the same header.
    let mut wire = vec![0xC3];
    wire.extend_from_slice(&payload[..128]);
    wire.push(0xC3);
    wire.extend_from_slice(&payload[128..256]);
    wire.push(0xC3);
    wire.extend_from_slice(&payload[256..]);
    decoder.push(&wire);
    assert_eq!(
        drain(&mut decoder),
        Ok(vec![message(3, 0, 19, 0, &payload)])
    );
}

#[test]
fn new_header_mid_message_is_an_implicit_abort() {
    let payload = body(300);
    let mut wire = hex!("03 00 00 00 00 01 2C 13 00 00 00 00").to_vec();
    wire.extend_from_slice(&payload[..128]);
    wire.extend_from_slice(&hex!("43 00 00 05 00 00 02 14 AA BB"));
    let mut decoder = decoder();
    decoder.push(&wire);
    assert_eq!(
        drain(&mut decoder),
        Ok(vec![message(3, 5, 20, 0, &hex!("AA BB"))])
    );
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn partial_input_is_not_an_error() {
    let mut wire = hex!("04 FF FF FF 00 00 36 13 00 00 00 00 3E DF 48 88").to_vec();
    wire.extend_from_slice(&AMS_BODY);
    let mut decoder = decoder();
    for (i, byte) in wire.iter().enumerate() {
        assert_eq!(decoder.next_message(), Ok(None));
        assert_eq!(decoder.buffered(), i);
        decoder.push(&[*byte]);
    }
    assert_eq!(
        decoder.next_message(),
        Ok(Some(message(4, 0x3EDF_4888, 0x13, 0, &AMS_BODY)))
    );
    assert_eq!(decoder.bytes_received(), 70);
}

#[test]
fn hostile_endless_one_byte_chunks_stay_bounded() {
    let mut decoder = Decoder::new(DecoderLimits {
        max_message_size: 1000,
        max_chunk_streams: 8,
    });
    decoder.push(&hex!("02 00 00 00 00 00 04 01 00 00 00 00 00 00 00 01"));
    decoder.push(&hex!("03 00 00 00 00 03 E8 13 00 00 00 00 00"));
    let mut messages = drain(&mut decoder).unwrap().len();
    let mut most = 0;
    for _ in 0..20_000 {
        decoder.push(&hex!("C3 00"));
        messages += drain(&mut decoder).unwrap().len();
        most = most.max(decoder.buffered());
    }
    assert_eq!(messages, 1 + 20_001 / 1000);
    assert!(most < 1000, "held {most} bytes");
    // And a peer that never completes a header holds only what it sent.
    decoder.push(&hex!("03 00 00"));
    assert_eq!(decoder.next_message(), Ok(None));
}

#[test]
fn empty_messages() {
    let wire = hex!("03 00 00 01 00 00 00 08 00 00 00 00  C3 C3");
    assert_eq!(
        decode(&wire),
        Ok(vec![
            message(3, 1, 8, 0, &[]),
            message(3, 2, 8, 0, &[]),
            message(3, 3, 8, 0, &[]),
        ])
    );
}

#[test]
fn set_chunk_size_mid_message() {
    // The rest of a partial message is cut at the new size.
    let payload = body(300);
    let mut wire = hex!("03 00 00 00 00 01 2C 13 00 00 00 00").to_vec();
    wire.extend_from_slice(&payload[..128]);
    wire.extend_from_slice(&hex!("02 00 00 00 00 00 04 01 00 00 00 00 00 00 00 C8"));
    wire.push(0xC3);
    wire.extend_from_slice(&payload[128..]);
    assert_eq!(
        decode(&wire),
        Ok(vec![
            message(2, 0, 1, 0, &hex!("00 00 00 C8")),
            message(3, 0, 19, 0, &payload),
        ])
    );
}

#[test]
fn short_or_unknown_control_messages_change_nothing() {
    let wire = hex!(
        "02 00 00 00 00 00 03 01 00 00 00 00 00 00 01"    // Set Chunk Size, 3 bytes
        "02 00 00 00 00 00 04 02 00 00 00 00 00 00 00 09" // Abort of a csid with no state
        "02 00 00 00 00 00 04 03 00 00 00 00 00 00 00 01" // Acknowledgement
    );
    let mut decoder = decoder();
    decoder.push(&wire);
    assert_eq!(drain(&mut decoder).map(|m| m.len()), Ok(3));
    assert_eq!(decoder.chunk_size(), 128);
}
