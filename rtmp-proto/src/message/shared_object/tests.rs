use hex_literal::hex;

use super::*;

const A: &[u8] = &hex!("0004 63686174 00000000 00000000 00000000  01 00000000");
const B: &[u8] = &hex!(
    "0004 63686174 00000002 00000000 00000000"
    "0B 00000000"
    "08 00000000"
    "04 0000000A 0003 6D7367 02 0002 6869"
);
const C_REQUEST: &[u8] = &hex!(
    "0004 63686174 00000002 00000000 00000000"
    "03 0000000E 0003 6D7367 00 4045000000000000"
);
const C_SUCCESS: &[u8] = &hex!(
    "0004 63686174 00000003 00000000 00000000"
    "05 00000005 0003 6D7367"
);
const C_CHANGE: &[u8] = &hex!(
    "0004 63686174 00000003 00000000 00000000"
    "04 0000000E 0003 6D7367 00 4045000000000000"
);
const D: &[u8] = &hex!(
    "0004 63686174 00000003 00000000 00000000"
    "06 00000015 02 000A 6E65774D657373616765 02 0005 68656C6C6F"
);
const E: &[u8] = &hex!(
    "0004 63686174 00000000 00000002 00000000"
    "07 00000024 001B 5368617265644F626A6563742E42616450657273697374656E6365 0005 6572726F72"
);
const F_REQUEST: &[u8] = &hex!(
    "0004 63686174 00000003 00000000 00000000"
    "0A 00000005 0003 6D7367"
);
const F_REMOVE: &[u8] = &hex!(
    "0004 63686174 00000003 00000000 00000000"
    "09 00000005 0003 6D7367"
);
const G: &[u8] = &hex!(
    "00"
    "0004 63686174 00000004 00000000 00000000"
    "04 0000000A 0003 6D7367 11 06 05 6869"
    "04 00000006 0001 6E 11 04 2A"
);
/// AMS's answer to a USE of an SO that does not exist (docs/PROTOCOL.md §5.5).
const AMS: &[u8] = &hex!(
    "0000 00000000 00000000 00000000"
    "07 00000023 001A 5368617265644F626A6563742E4E6F4F626A656374466F756E64 0005 6572726F72"
);

fn message(version: u32, persistent: bool, events: Vec<SoEvent>) -> SharedObjectMessage {
    SharedObjectMessage {
        name: "chat".into(),
        version,
        persistent,
        events,
    }
}

fn change(key: &str, value: impl Into<Value>) -> SoEvent {
    SoEvent::Change {
        key: key.into(),
        value: value.into(),
    }
}

fn decode(body: &[u8], encoding: Encoding) -> Result<SharedObjectMessage, DecodeError> {
    SharedObjectMessage::decode(body, encoding, &Limits::default())
}

fn encode(message: &SharedObjectMessage, encoding: Encoding) -> Vec<u8> {
    let mut out = BytesMut::new();
    message.encode(encoding, &mut out).expect("encodes");
    out.to_vec()
}

/// Decodes `body` to `expected` and encodes `expected` to exactly `body`.
fn both_ways(body: &[u8], encoding: Encoding, expected: &SharedObjectMessage) {
    assert_eq!(decode(body, encoding).as_ref(), Ok(expected));
    assert_eq!(encode(expected, encoding), body, "{expected:?}");
}

fn goldens() -> Vec<(&'static [u8], Encoding, SharedObjectMessage)> {
    let key = |k: &str| Str::from(k);
    vec![
        (A, Encoding::Amf0, message(0, false, vec![SoEvent::Use])),
        (
            B,
            Encoding::Amf0,
            message(
                2,
                false,
                vec![SoEvent::UseSuccess, SoEvent::Clear, change("msg", "hi")],
            ),
        ),
        (
            C_REQUEST,
            Encoding::Amf0,
            message(
                2,
                false,
                vec![SoEvent::RequestChange {
                    key: key("msg"),
                    value: Value::Number(42.0),
                }],
            ),
        ),
        (
            C_SUCCESS,
            Encoding::Amf0,
            message(3, false, vec![SoEvent::Success { key: key("msg") }]),
        ),
        (
            C_CHANGE,
            Encoding::Amf0,
            message(3, false, vec![change("msg", 42.0)]),
        ),
        (
            D,
            Encoding::Amf0,
            message(
                3,
                false,
                vec![SoEvent::SendMessage {
                    method: key("newMessage"),
                    args: vec![Value::from("hello")],
                }],
            ),
        ),
        (
            E,
            Encoding::Amf0,
            message(
                0,
                true,
                vec![SoEvent::Status {
                    code: key("SharedObject.BadPersistence"),
                    level: key("error"),
                }],
            ),
        ),
        (
            F_REQUEST,
            Encoding::Amf0,
            message(3, false, vec![SoEvent::RequestRemove { key: key("msg") }]),
        ),
        (
            F_REMOVE,
            Encoding::Amf0,
            message(3, false, vec![SoEvent::Remove { key: key("msg") }]),
        ),
        (
            G,
            Encoding::Amf3,
            message(
                4,
                false,
                vec![change("msg", "hi"), change("n", Value::Integer(42))],
            ),
        ),
        (
            AMS,
            Encoding::Amf0,
            SharedObjectMessage {
                name: key(""),
                version: 0,
                persistent: false,
                events: vec![SoEvent::Status {
                    code: key("SharedObject.NoObjectFound"),
                    level: key("error"),
                }],
            },
        ),
    ]
}

#[test]
fn golden_examples_both_directions() {
    for (body, encoding, expected) in goldens() {
        both_ways(body, encoding, &expected);
    }
}

#[test]
fn golden_examples_through_message() {
    use crate::message::{Message, types};
    for (body, encoding, expected) in goldens() {
        let type_id = match encoding {
            Encoding::Amf0 => types::SHARED_OBJECT_AMF0,
            Encoding::Amf3 => types::SHARED_OBJECT_AMF3,
        };
        let message = Message::SharedObject {
            encoding,
            message: expected,
        };
        let decoded = Message::decode(type_id, Bytes::from_static(body), &Limits::default());
        assert_eq!(decoded.as_ref(), Ok(&message));
        assert_eq!(message.type_id(), type_id);
        let mut out = BytesMut::new();
        assert_eq!(message.encode(&mut out), Ok(()));
        assert_eq!(&out[..], body);
    }
}

#[test]
fn status_lengths_are_byte_counts() {
    // 0x24 = 2 + 27 + 2 + 5 in E; 0x23 = 2 + 26 + 2 + 5 in the AMS capture.
    assert_eq!(E.get(18..23), Some(&hex!("07 00000024")[..]));
    assert_eq!(AMS.get(14..19), Some(&hex!("07 00000023")[..]));
    // Non-ASCII: "Ошибка" is 6 chars but 12 bytes (Red5 would write 6).
    let status = message(
        1,
        false,
        vec![SoEvent::Status {
            code: "Ошибка".into(),
            level: "error".into(),
        }],
    );
    let body = encode(&status, Encoding::Amf0);
    let expected = [
        &hex!("0004 63686174 00000001 00000000 00000000 07 00000015 000C")[..],
        "Ошибка".as_bytes(),
        &hex!("0005 6572726F72"),
    ]
    .concat();
    assert_eq!(body, expected);
    assert_eq!(decode(&body, Encoding::Amf0), Ok(status));
}

#[test]
fn non_ascii_key_lengths_are_byte_counts() {
    // "ключ" is 4 chars, 8 bytes. REQUEST_CHANGE without value, then a USE:
    // a char-count reader would take the USE header as the value.
    let body = hex!(
        "0004 63686174 00000001 00000000 00000000"
        "03 0000000A 0008 D0BAD0BBD18ED187"
        "01 00000000"
    );
    let expected = message(
        1,
        false,
        vec![
            SoEvent::RequestChange {
                key: "ключ".into(),
                value: Value::Null,
            },
            SoEvent::Use,
        ],
    );
    assert_eq!(decode(&body, Encoding::Amf0), Ok(expected.clone()));
    // We always write the value: key (2 + 8) + AMF0 null (1) = 11.
    let written = encode(&expected, Encoding::Amf0);
    assert_eq!(
        written.get(18..),
        Some(&hex!("03 0000000B 0008 D0BAD0BBD18ED187 05  01 00000000")[..])
    );
    let removal = message(
        1,
        false,
        vec![SoEvent::Remove {
            key: "ключ".into()
        }],
    );
    assert_eq!(
        encode(&removal, Encoding::Amf0).get(18..),
        Some(&hex!("09 0000000A 0008 D0BAD0BBD18ED187")[..])
    );
}

#[test]
fn keys_of_every_short_length_are_written_whole() {
    // Keys up to 16 bytes are staged in a fixed-size array (copied by their
    // two ends); longer ones are appended directly. Every length on both
    // sides of each copy size, behind existing bytes in `out`.
    let letters = "abcdefghijklmnopqrstuvwxyz";
    for len in 0..=20 {
        let key = &letters[..len];
        let events = vec![
            change(key, 2.5),
            SoEvent::Remove { key: key.into() },
            change(key, "v"),
        ];
        let mut expected = Vec::from(&b"\x01\x02\x03"[..]);
        expected.extend_from_slice(&hex!("0004 63686174 00000001 00000000 00000000"));
        let key_len = u8::try_from(len).expect("short");
        for (kind, value) in [
            (4, &hex!("00 4004000000000000")[..]),
            (9, &[]),
            (4, &hex!("02 0001 76")),
        ] {
            let length = key_len + 2 + u8::try_from(value.len()).expect("short");
            expected.extend_from_slice(&[kind, 0, 0, 0, length, 0, key_len]);
            expected.extend_from_slice(key.as_bytes());
            expected.extend_from_slice(value);
        }
        let mut out = BytesMut::from(&b"\x01\x02\x03"[..]);
        message(1, false, events.clone())
            .encode(Encoding::Amf0, &mut out)
            .expect("encodes");
        assert_eq!(&out[..], &expected[..], "key length {len}");
        let decoded = decode(expected.get(3..).expect("body"), Encoding::Amf0);
        assert_eq!(decoded.map(|m| m.events), Ok(events), "key length {len}");
    }
}

#[test]
fn request_change_without_value_is_null() {
    let body = hex!(
        "0004 63686174 00000005 00000000 00000000"
        "03 00000005 0003 6D7367"
    );
    let decoded = decode(&body, Encoding::Amf0);
    assert_eq!(
        decoded,
        Ok(message(
            5,
            false,
            vec![SoEvent::RequestChange {
                key: "msg".into(),
                value: Value::Null
            }]
        ))
    );
    // The same in a type 16 body.
    let mut amf3 = vec![0];
    amf3.extend_from_slice(&body);
    assert_eq!(decode(&amf3, Encoding::Amf3), decoded);
}

/// Every event type, in a message of each encoding.
fn every_event(encoding: Encoding) -> SharedObjectMessage {
    let number = match encoding {
        // AMF0 has no integer: Integer comes back as a Number.
        Encoding::Amf0 => Value::Number(-1.5),
        Encoding::Amf3 => Value::Integer(-7),
    };
    let object = Value::object([("a", Value::from("b")), ("c", Value::Bool(true))]);
    SharedObjectMessage {
        name: "room/ключ".into(),
        version: u32::MAX,
        persistent: true,
        events: vec![
            SoEvent::Use,
            SoEvent::Release,
            SoEvent::RequestChange {
                key: "k".into(),
                value: object.clone(),
            },
            SoEvent::RequestChange {
                key: "gone".into(),
                value: Value::Null,
            },
            SoEvent::Change {
                key: "n".into(),
                value: number.clone(),
            },
            SoEvent::Change {
                key: "u".into(),
                value: Value::Undefined,
            },
            SoEvent::Success { key: "k".into() },
            SoEvent::SendMessage {
                method: "chat.say".into(),
                args: vec![Value::from("hi"), number, object, Value::Bool(false)],
            },
            SoEvent::SendMessage {
                method: "ping".into(),
                args: vec![],
            },
            SoEvent::Status {
                code: "SharedObject.NoWriteAccess".into(),
                level: "error".into(),
            },
            SoEvent::Clear,
            SoEvent::Remove { key: "k".into() },
            SoEvent::RequestRemove { key: "k".into() },
            SoEvent::UseSuccess,
            SoEvent::Unknown {
                kind: 13,
                payload: Bytes::from_static(b"\x00\x01k"),
            },
            SoEvent::Unknown {
                kind: 0,
                payload: Bytes::new(),
            },
        ],
    }
}

#[test]
fn every_event_round_trips_in_both_encodings() {
    for encoding in [Encoding::Amf0, Encoding::Amf3] {
        let message = every_event(encoding);
        let body = encode(&message, encoding);
        assert_eq!(decode(&body, encoding), Ok(message.clone()), "{encoding:?}");
        // Decoding is lossless, so re-encoding gives the same bytes.
        let again = decode(&body, encoding).map(|m| encode(&m, encoding));
        assert_eq!(again, Ok(body));
    }
}

#[test]
fn each_event_round_trips_alone() {
    for encoding in [Encoding::Amf0, Encoding::Amf3] {
        for event in every_event(encoding).events {
            let message = message(9, false, vec![event]);
            let body = encode(&message, encoding);
            assert_eq!(decode(&body, encoding), Ok(message), "{encoding:?}");
        }
    }
}

#[test]
fn empty_message_round_trips() {
    let empty = message(0, false, vec![]);
    both_ways(
        &hex!("0004 63686174 00000000 00000000 00000000"),
        Encoding::Amf0,
        &empty,
    );
    both_ways(
        &hex!("00 0004 63686174 00000000 00000000 00000000"),
        Encoding::Amf3,
        &empty,
    );
}

/// What peers send that is truncated, malformed, lenient or hostile.
mod peer_input;
