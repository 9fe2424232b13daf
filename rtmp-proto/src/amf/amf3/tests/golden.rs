//! One vector per marker, both directions, written from the specification.

use hex_literal::hex;

use super::{both_ways, decoded, encoded};
use crate::amf::amf3::{Decoder, Encoder};
use crate::amf::{Date, Dictionary, Limits, MixedArray, Object, ObjectVector, Str, Value, Vector};

fn typed(class_name: &str, sealed_count: usize, properties: &[(&str, Value)]) -> Value {
    Value::Object(Box::new(Object {
        class_name: Some(class_name.into()),
        sealed_count,
        properties: properties
            .iter()
            .map(|(k, v)| (Str::from(*k), v.clone()))
            .collect(),
    }))
}

#[test]
fn undefined_null_booleans() {
    both_ways(Value::Undefined, &hex!("00"));
    both_ways(Value::Null, &hex!("01"));
    both_ways(Value::Bool(false), &hex!("02"));
    both_ways(Value::Bool(true), &hex!("03"));
}

#[test]
fn integers_at_every_u29_boundary() {
    let cases: &[(i32, &[u8])] = &[
        (0, &hex!("04 00")),
        (127, &hex!("04 7f")),
        (128, &hex!("04 81 00")),
        (16_383, &hex!("04 ff 7f")),
        (16_384, &hex!("04 81 80 00")),
        ((1 << 21) - 1, &hex!("04 ff ff 7f")),
        (1 << 21, &hex!("04 80 c0 80 00")),
        ((1 << 28) - 1, &hex!("04 bf ff ff ff")),
        (-1, &hex!("04 ff ff ff ff")),
        (-(1 << 28), &hex!("04 c0 80 80 00")),
    ];
    for &(n, bytes) in cases {
        both_ways(Value::Integer(n), bytes);
    }
}

#[test]
fn integers_outside_29_bits_are_doubles() {
    assert_eq!(
        encoded(&Value::Integer(1 << 28)),
        hex!("05 41 b0 00 00 00 00 00 00")
    );
    assert_eq!(
        encoded(&Value::Integer(i32::MIN)),
        hex!("05 c1 e0 00 00 00 00 00 00")
    );
}

#[test]
fn double() {
    both_ways(Value::Number(1.5), &hex!("05 3f f8 00 00 00 00 00 00"));
}

#[test]
fn strings() {
    both_ways(Value::from("hello"), &hex!("06 0b 68 65 6c 6c 6f"));
    both_ways(Value::from(""), &hex!("06 01"));
    both_ways(Value::from("é"), &hex!("06 05 c3 a9"));
}

#[test]
fn string_reference() {
    both_ways(
        Value::StrictArray(vec!["hi".into(), "hi".into()]),
        &hex!("09 05 01 06 05 68 69 06 00"),
    );
}

#[test]
fn empty_string_never_enters_the_table() {
    // "", "a", then a reference to index 0, which must be "a".
    both_ways(
        Value::StrictArray(vec!["".into(), "a".into(), "a".into()]),
        &hex!("09 07 01 06 01 06 03 61 06 00"),
    );
}

#[test]
fn xml_document_and_xml() {
    both_ways(
        Value::XmlDocument("<a/>".into()),
        &hex!("07 09 3c 61 2f 3e"),
    );
    both_ways(Value::Xml("<a/>".into()), &hex!("0b 09 3c 61 2f 3e"));
}

#[test]
fn date() {
    let date = Value::Date(Date {
        millis: 1_700_000_000_123.0,
        timezone: 0,
    });
    both_ways(date, &hex!("08 01 42 78 bc fe 56 87 b0 00"));
}

#[test]
fn date_drops_the_timezone() {
    let date = Value::Date(Date {
        millis: 1.0,
        timezone: -60,
    });
    assert_eq!(encoded(&date), hex!("08 01 3f f0 00 00 00 00 00 00"));
}

#[test]
fn arrays() {
    both_ways(
        Value::StrictArray(vec![1.into(), 2.into()]),
        &hex!("09 05 01 04 01 04 02"),
    );
    both_ways(Value::StrictArray(vec![]), &hex!("09 01 01"));
    both_ways(
        Value::EcmaArray(vec![("a".into(), 1.into())]),
        &hex!("09 01 03 61 04 01 01"),
    );
    both_ways(
        Value::MixedArray(Box::new(MixedArray {
            dense: vec![2.into()],
            assoc: vec![("a".into(), 1.into())],
        })),
        &hex!("09 03 03 61 04 01 01 04 02"),
    );
}

#[test]
fn anonymous_object() {
    both_ways(
        Value::object([("a", Value::from(1))]),
        &hex!("0a 0b 01 03 61 04 01 01"),
    );
}

#[test]
fn typed_object_with_sealed_and_dynamic_members() {
    // 0x23: 2 sealed members, not dynamic, traits inline, value.
    both_ways(
        typed("Pt", 2, &[("x", 1.into()), ("y", 2.into())]),
        &hex!("0a 23 05 50 74 03 78 03 79 04 01 04 02"),
    );
    // 0x1b: 1 sealed member, dynamic.
    both_ways(
        typed("Pt", 1, &[("x", 1.into()), ("z", 3.into())]),
        &hex!("0a 1b 05 50 74 03 78 04 01 03 7a 04 03 01"),
    );
}

#[test]
fn trait_reference() {
    // The second object reuses traits 0 (0x01) and the strings by reference.
    both_ways(
        Value::StrictArray(vec![
            typed("Pt", 2, &[("x", 1.into()), ("y", 2.into())]),
            typed("Pt", 2, &[("x", 3.into()), ("y", 4.into())]),
        ]),
        &hex!("09 05 01  0a 23 05 50 74 03 78 03 79 04 01 04 02  0a 01 04 03 04 04"),
    );
    both_ways(
        Value::StrictArray(vec![
            Value::object([("a", Value::from(1))]),
            Value::object([("a", Value::from(2))]),
        ]),
        &hex!("09 05 01  0a 0b 01 03 61 04 01 01  0a 01 00 04 02 01"),
    );
}

#[test]
fn object_reference_copies_the_value() {
    // Index 0 is the outer array, index 1 the object.
    let bytes = hex!("09 05 01  0a 0b 01 03 61 04 01 01  0a 02");
    let object = Value::object([("a", Value::from(1))]);
    assert_eq!(
        decoded(&bytes),
        Ok(Value::StrictArray(vec![object.clone(), object]))
    );
}

#[test]
fn a_copied_reference_adds_nothing_to_the_tables() {
    // [pair, <ref pair>, date, <ref date>, "t", <ref "t">, P{x}, <P by traits ref>]
    // Copying `pair` decodes its bytes again; had that added "s", `pair` and
    // its anonymous traits to the tables again, the three later references
    // (object 3, string 1, traits 1) would point at the wrong entries.
    let bytes = hex!(
        "09 11 01"
        "09 05 01 06 03 73 0a 0b 01 00 06 00 01"
        "09 02"
        "08 01 3f f0 00 00 00 00 00 00  08 06"
        "06 03 74  06 02"
        "0a 13 03 50 03 78 04 01  0a 05 04 02"
    );
    let pair = Value::StrictArray(vec!["s".into(), Value::object([("s", Value::from("s"))])]);
    let date = Value::Date(Date {
        millis: 1.0,
        timezone: 0,
    });
    assert_eq!(
        decoded(&bytes),
        Ok(Value::StrictArray(vec![
            pair.clone(),
            pair,
            date.clone(),
            date,
            "t".into(),
            "t".into(),
            typed("P", 1, &[("x", 1.into())]),
            typed("P", 1, &[("x", 2.into())]),
        ]))
    );
}

#[test]
fn date_by_reference() {
    let bytes = hex!("09 05 01 08 01 3f f0 00 00 00 00 00 00 08 02");
    let date = Value::Date(Date {
        millis: 1.0,
        timezone: 0,
    });
    assert_eq!(
        decoded(&bytes),
        Ok(Value::StrictArray(vec![date.clone(), date]))
    );
}

#[test]
fn byte_array() {
    both_ways(Value::ByteArray(vec![1, 2, 3]), &hex!("0c 07 01 02 03"));
}

#[test]
fn vectors() {
    both_ways(
        Value::VectorInt(Box::new(Vector {
            fixed: false,
            items: vec![1, -1],
        })),
        &hex!("0d 05 00 00 00 00 01 ff ff ff ff"),
    );
    both_ways(
        Value::VectorUint(Box::new(Vector {
            fixed: true,
            items: vec![u32::MAX],
        })),
        &hex!("0e 03 01 ff ff ff ff"),
    );
    both_ways(
        Value::VectorDouble(Box::new(Vector {
            fixed: false,
            items: vec![0.25],
        })),
        &hex!("0f 03 00 3f d0 00 00 00 00 00 00"),
    );
    both_ways(
        Value::VectorObject(Box::new(ObjectVector {
            fixed: false,
            type_name: "*".into(),
            items: vec![1.into(), Value::Null],
        })),
        &hex!("10 05 00 03 2a 04 01 01"),
    );
}

#[test]
fn dictionary() {
    both_ways(
        Value::Dictionary(Box::new(Dictionary {
            weak_keys: true,
            entries: vec![("k".into(), 1.into()), (Value::Integer(2), Value::Null)],
        })),
        &hex!("11 05 01 06 03 6b 04 01 04 02 01"),
    );
}

#[test]
fn array_collection_as_flex_sends_it() {
    let bytes = [
        &hex!("0a 07 43")[..],
        b"flex.messaging.io.ArrayCollection",
        &hex!("09 05 01 04 01 06 03 61"),
    ]
    .concat();
    both_ways(Value::ArrayCollection(vec![1.into(), "a".into()]), &bytes);
}

#[test]
fn second_array_collection_reuses_its_traits() {
    let bytes = [
        &hex!("09 05 01 0a 07 43")[..],
        b"flex.messaging.io.ArrayCollection",
        &hex!("09 01 01  0a 01 09 01 01"),
    ]
    .concat();
    let empty = Value::ArrayCollection(vec![]);
    both_ways(Value::StrictArray(vec![empty.clone(), empty]), &bytes);
}

#[test]
fn object_proxy() {
    let bytes = [
        &hex!("0a 07 3b")[..],
        b"flex.messaging.io.ObjectProxy",
        &hex!("0a 0b 01 03 61 04 01 01"),
    ]
    .concat();
    both_ways(Value::ObjectProxy(vec![("a".into(), 1.into())]), &bytes);
}

#[test]
fn unsupported_is_written_as_undefined() {
    assert_eq!(encoded(&Value::Unsupported), hex!("00"));
}

#[test]
fn empty_keys_are_skipped() {
    let v = Value::object([("", Value::from(1)), ("a", Value::from(2))]);
    assert_eq!(encoded(&v), hex!("0a 0b 01 03 61 04 02 01"));
    let v = Value::EcmaArray(vec![("".into(), 1.into())]);
    assert_eq!(encoded(&v), hex!("09 01 01"));
}

#[test]
fn sealed_count_past_the_properties_is_clamped() {
    let v = typed("P", 5, &[("x", 1.into())]);
    assert_eq!(encoded(&v), hex!("0a 13 03 50 03 78 04 01"));
}

/// BENCHMARKS.md, Fixtures: the `object10` fixture, 184 bytes in AMF3.
#[test]
fn object10_is_184_bytes() {
    let v = object10();
    let bytes = encoded(&v);
    assert_eq!(bytes.len(), 184);
    assert_eq!(
        bytes[..14],
        hex!("0a 0b 01 11 75 73 65 72 4e 61 6d 65 06 0f")
    );
    assert_eq!(
        bytes[bytes.len() - 10..],
        hex!("05 40 45 00 00 00 00 00 00 01")
    );
    assert_eq!(decoded(&bytes), Ok(v));
}

pub(super) fn object10() -> Value {
    Value::object([
        ("userName", Value::from("alice_w")),
        ("x", 1024.5.into()),
        ("status", "online".into()),
        ("y", (-77.25).into()),
        ("room", "lobby-03".into()),
        ("score", 123_456.0.into()),
        ("color", "#ff8800".into()),
        ("lastSeen", 1_700_000_000_123.0.into()),
        ("avatarUrl", "https://example.invalid/a/alice.png".into()),
        ("level", 42.0.into()),
    ])
}

#[test]
fn one_body_shares_the_tables_across_values() {
    let mut encoder = Encoder::new();
    let mut out = bytes::BytesMut::new();
    encoder.encode(&Value::object([("a", Value::from("b"))]), &mut out);
    encoder.encode(&Value::object([("b", Value::from("a"))]), &mut out);
    let bytes = hex!("0a 0b 01 03 61 06 03 62 01  0a 01 02 06 00 01");
    assert_eq!(out[..], bytes);

    let mut decoder = Decoder::new(&bytes, &Limits::default());
    assert_eq!(
        decoder.decode(),
        Ok(Value::object([("a", Value::from("b"))]))
    );
    assert!(!decoder.is_empty());
    assert_eq!(decoder.remaining(), &bytes[9..]);
    assert_eq!(
        decoder.decode(),
        Ok(Value::object([("b", Value::from("a"))]))
    );
    assert!(decoder.is_empty());
    assert_eq!(decoder.decode(), Err(crate::error::DecodeError::Truncated));
}

#[test]
fn embedded_values_share_the_tables_and_count() {
    let body = hex!("06 03 61 ff 06 00 ee");
    let mut decoder = Decoder::new(&[], &Limits::default());
    let mut values = 5;
    let (first, rest) = decoder.decode_embedded(&body, 0, &mut values).unwrap();
    assert_eq!((first, rest), (Value::from("a"), &body[3..]));
    let (second, rest) = decoder.decode_embedded(&rest[1..], 0, &mut values).unwrap();
    assert_eq!((second, rest), (Value::from("a"), &body[6..]));
    assert_eq!(values, 7);
}

#[test]
fn embedded_values_respect_depth_and_count() {
    let limits = Limits {
        max_depth: 3,
        max_values: 10,
        ..Limits::default()
    };
    let nested = hex!("09 03 01 09 01 01");
    let mut decoder = Decoder::new(&[], &limits);
    let mut values = 0;
    assert!(decoder.decode_embedded(&nested, 1, &mut values).is_ok());
    assert!(matches!(
        decoder.decode_embedded(&nested, 2, &mut values),
        Err(crate::error::DecodeError::Limit(_))
    ));
    let mut values = 9;
    assert!(matches!(
        decoder.decode_embedded(&nested, 0, &mut values),
        Err(crate::error::DecodeError::Limit(_))
    ));
}
