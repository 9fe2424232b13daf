//! Decoding what peers send: truncated and malformed bodies, the leniency
//! Red5 and Flash rely on, and limits against hostile ones.

use hex_literal::hex;

use super::*;

#[test]
fn truncated_at_every_prefix() {
    let mut cases = goldens();
    for encoding in [Encoding::Amf0, Encoding::Amf3] {
        let message = every_event(encoding);
        let body = encode(&message, encoding);
        cases.push((Vec::leak(body), encoding, message));
    }
    for (body, encoding, message) in cases {
        // A prefix that ends between two events is a shorter valid message.
        let boundaries: Vec<(usize, SharedObjectMessage)> = (0..=message.events.len())
            .map(|count| {
                let mut shorter = message.clone();
                shorter.events.truncate(count);
                (encode(&shorter, encoding).len(), shorter)
            })
            .collect();
        for len in 0..body.len() {
            let prefix = body.get(..len).unwrap_or_default();
            let expected = match boundaries.iter().find(|(at, _)| *at == len) {
                Some((_, shorter)) => Ok(shorter.clone()),
                None => Err(DecodeError::Truncated),
            };
            assert_eq!(
                decode(prefix, encoding),
                expected,
                "prefix {len} of {body:02x?}"
            );
        }
    }
}

#[test]
fn event_length_past_the_end_is_truncated() {
    let body = hex!(
        "0004 63686174 00000003 00000000 00000000"
        "05 00000006 0003 6D7367"
    );
    assert_eq!(decode(&body, Encoding::Amf0), Err(DecodeError::Truncated));
    let huge = hex!(
        "0004 63686174 00000003 00000000 00000000"
        "01 00000000  04 FFFFFFFF 0003 6D7367"
    );
    assert_eq!(decode(&huge, Encoding::Amf0), Err(DecodeError::Truncated));
    // A header cut short after a complete event.
    let short = hex!("0004 63686174 00000003 00000000 00000000  01 00000000  01 0000");
    assert_eq!(decode(&short, Encoding::Amf0), Err(DecodeError::Truncated));
}

#[test]
fn value_running_past_its_event_is_truncated() {
    // The event says 8 bytes; the AMF0 number needs 9 after the key.
    let body = hex!(
        "0004 63686174 00000003 00000000 00000000"
        "04 00000008 0003 6D7367 00 4045  00 00 00 00 00 00"
    );
    assert_eq!(decode(&body, Encoding::Amf0), Err(DecodeError::Truncated));
}

#[test]
fn unknown_event_types_are_skipped_by_length() {
    let body = hex!(
        "0004 63686174 00000003 00000000 00000000"
        "00 00000003 616263"
        "0C 00000007 0001 6B 00000007"
        "C8 00000000"
        "04 0000000A 0003 6D7367 02 0002 6869"
        "FF 00000001 09"
        "0B 00000000"
    );
    let expected = message(
        3,
        false,
        vec![
            SoEvent::Unknown {
                kind: 0,
                payload: Bytes::from_static(b"abc"),
            },
            SoEvent::Unknown {
                kind: 12,
                payload: Bytes::from_static(&hex!("0001 6B 00000007")),
            },
            SoEvent::Unknown {
                kind: 200,
                payload: Bytes::new(),
            },
            change("msg", "hi"),
            SoEvent::Unknown {
                kind: 255,
                payload: Bytes::from_static(&[9]),
            },
            SoEvent::UseSuccess,
        ],
    );
    both_ways(&body, Encoding::Amf0, &expected);
}

#[test]
fn several_pairs_in_one_event_become_several_events() {
    // crtmpserver writes every changed key of an update into one event. Only
    // the last key of a REQUEST_CHANGE may lack its value.
    let body = hex!(
        "0004 63686174 00000007 00000000 00000000"
        "04 00000016 0003 6D7367 02 0002 6869  0001 6E 00 4045000000000000"
        "09 00000006 0001 61 0001 62"
        "05 00000003 0001 63"
        "03 00000007 0001 78 05  0001 79"
    );
    let expected = message(
        7,
        false,
        vec![
            change("msg", "hi"),
            change("n", 42.0),
            SoEvent::Remove { key: "a".into() },
            SoEvent::Remove { key: "b".into() },
            SoEvent::Success { key: "c".into() },
            SoEvent::RequestChange {
                key: "x".into(),
                value: Value::Null,
            },
            SoEvent::RequestChange {
                key: "y".into(),
                value: Value::Null,
            },
        ],
    );
    assert_eq!(decode(&body, Encoding::Amf0), Ok(expected));
    // A key without value before another key: the next key's bytes are read
    // as a value (here a cut AMF0 number) and fail inside the event.
    let missing = hex!(
        "0004 63686174 00000007 00000000 00000000"
        "03 00000006 0001 78  0001 7A"
    );
    assert_eq!(
        decode(&missing, Encoding::Amf0),
        Err(DecodeError::Truncated)
    );
    // A key cut short inside a multi-key event.
    let cut = hex!("0004 63686174 00000007 00000000 00000000  0A 00000004 0001 61 00");
    assert_eq!(decode(&cut, Encoding::Amf0), Err(DecodeError::Truncated));
}

#[test]
fn stray_bytes_in_empty_events_are_ignored() {
    let body = hex!(
        "0004 63686174 00000000 00000000 00000000"
        "01 00000002 0000"
        "0B 00000003 000178"
        "07 0000000A 0001 61 0001 62 DEADBEEF"
    );
    let expected = message(
        0,
        false,
        vec![
            SoEvent::Use,
            SoEvent::UseSuccess,
            SoEvent::Status {
                code: "a".into(),
                level: "b".into(),
            },
        ],
    );
    assert_eq!(decode(&body, Encoding::Amf0), Ok(expected));
}

#[test]
fn any_leading_byte_in_type_16() {
    for leading in [0x00, 0x03, 0x11, 0xFF] {
        let mut body = vec![leading];
        body.extend_from_slice(A);
        assert_eq!(
            decode(&body, Encoding::Amf3),
            Ok(message(0, false, vec![SoEvent::Use]))
        );
    }
    assert_eq!(decode(&[], Encoding::Amf3), Err(DecodeError::Truncated));
}

#[test]
fn flags_bit_one_means_persistent_and_reserved_is_ignored() {
    for (flags, persistent) in [
        (0_u32, false),
        (2, true),
        (3, true),
        (0x10, false),
        (0x20, false),
        (0x30, false),
        (0x0100_0000, false),
        (u32::MAX, true),
    ] {
        let mut body = hex!("0004 63686174 00000001 00000000 12345678").to_vec();
        body.splice(10..14, flags.to_be_bytes());
        let decoded = decode(&body, Encoding::Amf0);
        assert_eq!(decoded, Ok(message(1, persistent, vec![])), "{flags:#x}");
        // We write 2 or 0, and 0 for the reserved word.
        let mut written = hex!("0004 63686174 00000001 00000000 00000000").to_vec();
        written.splice(10..14, [0, 0, 0, if persistent { 2 } else { 0 }]);
        assert_eq!(decoded.map(|m| encode(&m, Encoding::Amf0)), Ok(written));
    }
}

#[test]
fn send_message_handler_name_may_be_any_string_form() {
    // 0x11 + AMF3 string "newMessage", then an AMF3 string argument.
    let body = hex!(
        "0004 63686174 00000003 00000000 00000000"
        "06 00000015 11 06 15 6E65774D657373616765 11 06 0B 68656C6C6F"
    );
    let expected = message(
        3,
        false,
        vec![SoEvent::SendMessage {
            method: "newMessage".into(),
            args: vec![Value::from("hello")],
        }],
    );
    assert_eq!(decode(&body, Encoding::Amf0), Ok(expected));
}

#[test]
fn send_message_handler_name_must_be_a_string() {
    let body = hex!(
        "0004 63686174 00000003 00000000 00000000"
        "06 00000009 00 3FF0000000000000"
    );
    assert_eq!(
        decode(&body, Encoding::Amf0),
        Err(DecodeError::Invalid {
            what: "SharedObject handler name"
        })
    );
    // A long string (0x0C) is read, but not one over 65,535 bytes: it could
    // not be written back.
    for (len, ok) in [(65_535_usize, true), (65_536, false)] {
        let mut body = hex!("0000 00000000 00000000 00000000  06").to_vec();
        let payload_len = u32::try_from(len + 5).expect("fits");
        body.extend_from_slice(&payload_len.to_be_bytes());
        body.push(0x0C);
        body.extend_from_slice(&u32::try_from(len).expect("fits").to_be_bytes());
        body.resize(body.len() + len, b'm');
        let decoded = decode(&body, Encoding::Amf0).map(|m| m.events);
        let expected = if ok {
            Ok(vec![SoEvent::SendMessage {
                method: "m".repeat(len).into(),
                args: vec![],
            }])
        } else {
            Err(DecodeError::Invalid {
                what: "SharedObject handler name",
            })
        };
        assert_eq!(decoded, expected, "{len}");
    }
    let empty = hex!("0004 63686174 00000003 00000000 00000000  06 00000000");
    assert_eq!(decode(&empty, Encoding::Amf0), Err(DecodeError::Truncated));
}

#[test]
fn amf3_references_span_the_whole_body() {
    // Red5 writes one AMF3 output per message: the second "hi" is a
    // reference (06 00) to the string table entry of the first event.
    let two = message(4, false, vec![change("a", "hi"), change("b", "hi")]);
    let body = hex!(
        "00 0004 63686174 00000004 00000000 00000000"
        "04 00000008 0001 61 11 06 05 6869"
        "04 00000006 0001 62 11 06 00"
    );
    both_ways(&body, Encoding::Amf3, &two);
}

#[test]
fn invalid_utf8_is_a_typed_error() {
    let name = hex!("0002 C328 00000000 00000000 00000000");
    assert_eq!(decode(&name, Encoding::Amf0), Err(DecodeError::InvalidUtf8));
    let key = hex!("0000 00000000 00000000 00000000  09 00000004 0002 FFFE");
    assert_eq!(decode(&key, Encoding::Amf0), Err(DecodeError::InvalidUtf8));
}

#[test]
fn limits_are_enforced() {
    let limits = Limits {
        max_string_bytes: 3,
        ..Limits::default()
    };
    let long_name = SharedObjectMessage::decode(A, Encoding::Amf0, &limits);
    assert_eq!(
        long_name,
        Err(LimitExceeded::new(Limit::AmfStringBytes, 3_usize).into())
    );

    let limits = Limits {
        max_container_len: 2,
        ..Limits::default()
    };
    let three_uses = hex!(
        "0000 00000000 00000000 00000000"
        "01 00000000 01 00000000 01 00000000"
    );
    let too_many = Err(LimitExceeded::new(Limit::SharedObjectEvents, 2_usize).into());
    let decoded = SharedObjectMessage::decode(&three_uses, Encoding::Amf0, &limits);
    assert_eq!(decoded, too_many);
    // Three keys in one event also make three events.
    let three_keys = hex!(
        "0000 00000000 00000000 00000000"
        "09 00000009 0001 61 0001 62 0001 63"
    );
    let decoded = SharedObjectMessage::decode(&three_keys, Encoding::Amf0, &limits);
    assert_eq!(decoded, too_many);
}

#[test]
fn oversized_strings_are_refused_and_leave_out_untouched() {
    let long: Str = "x".repeat(65_536).into();
    let fits: Str = "x".repeat(65_535).into();
    let cases = [
        (
            SharedObjectMessage {
                name: long.clone(),
                ..message(0, false, vec![])
            },
            "SharedObject name",
        ),
        (
            message(0, false, vec![change(&long, 1.0)]),
            "SharedObject key",
        ),
        (
            message(
                0,
                false,
                vec![SoEvent::Use, SoEvent::RequestRemove { key: long.clone() }],
            ),
            "SharedObject key",
        ),
        (
            message(
                0,
                false,
                vec![SoEvent::SendMessage {
                    method: long.clone(),
                    args: vec![],
                }],
            ),
            "SharedObject handler name",
        ),
        (
            message(
                0,
                false,
                vec![SoEvent::Status {
                    code: long.clone(),
                    level: "error".into(),
                }],
            ),
            "SharedObject status code",
        ),
    ];
    for (message, what) in cases {
        for encoding in [Encoding::Amf0, Encoding::Amf3] {
            let mut out = BytesMut::from(&b"earlier"[..]);
            assert_eq!(
                message.encode(encoding, &mut out),
                Err(ApiMisuse::TooLarge(what))
            );
            assert_eq!(&out[..], b"earlier");
        }
    }
    // 65,535 bytes is the largest that fits.
    let largest = message(0, false, vec![SoEvent::Success { key: fits }]);
    let body = encode(&largest, Encoding::Amf0);
    assert_eq!(body.get(18..25), Some(&hex!("05 00010001 FFFF")[..]));
    assert_eq!(decode(&body, Encoding::Amf0), Ok(largest));
}
