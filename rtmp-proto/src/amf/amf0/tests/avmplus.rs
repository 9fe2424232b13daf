//! The `0x11` switch to AMF3: golden bytes, shared tables, references,
//! limits, and the values AMF0 writes through AMF3.

use bytes::BytesMut;
use hex_literal::hex;

use super::{dec, enc, object, typed};
use crate::amf::amf0::{Encoder, decode, decode_all};
use crate::amf::{Dictionary, Limits, MixedArray, Object, ObjectVector, Str, Value, Vector};
use crate::error::{DecodeError, Limit, LimitExceeded};

fn avmplus(value: &Value) -> Vec<u8> {
    let mut out = BytesMut::new();
    Encoder::new().encode_avmplus(value, &mut out);
    out.to_vec()
}

#[test]
fn golden_amf3_values() {
    assert_eq!(dec(&hex!("11 04 05")), Ok(Value::Integer(5)));
    assert_eq!(dec(&hex!("11 06 05 6869")), Ok(Value::from("hi")));
    assert_eq!(dec(&hex!("11 03")), Ok(Value::Bool(true)));
    assert_eq!(dec(&hex!("11 00")), Ok(Value::Undefined));
    assert_eq!(avmplus(&Value::Integer(5)), hex!("11 04 05"));
    assert_eq!(avmplus(&Value::from("hi")), hex!("11 06 05 6869"));
    assert_eq!(avmplus(&Value::Null), hex!("11 01"));
    assert_eq!(avmplus(&Value::Number(1.5)), hex!("11 05 3FF8000000000000"));
}

#[test]
fn byte_array_is_written_through_amf3() {
    let value = Value::ByteArray(vec![1, 2, 3]);
    assert_eq!(enc(&value), hex!("11 0C 07 010203"));
    assert_eq!(dec(&hex!("11 0C 07 010203")), Ok(value));
}

#[test]
fn amf3_inside_amf0_containers() {
    let value = object([
        ("b", Value::ByteArray(vec![0xAA])),
        ("n", Value::Number(1.0)),
    ]);
    let bytes = hex!("03 0001 62 11 0C 03 AA 0001 6E 00 3FF0000000000000 000009");
    assert_eq!(enc(&value), bytes);
    assert_eq!(dec(&bytes), Ok(value));
}

/// Values only AMF3 expresses: AMF0 writes each as `0x11` + AMF3 and reads
/// it back unchanged.
fn amf3_only() -> Vec<Value> {
    vec![
        Value::ByteArray(vec![]),
        Value::ByteArray((0..=255).collect()),
        Value::Xml("<a><b/></a>".into()),
        Value::VectorInt(Box::new(Vector {
            fixed: true,
            items: vec![i32::MIN, -1, 0, 1, i32::MAX],
        })),
        Value::VectorUint(Box::new(Vector {
            fixed: false,
            items: vec![0, u32::MAX],
        })),
        Value::VectorDouble(Box::new(Vector {
            fixed: false,
            items: vec![-0.5, 1e300],
        })),
        Value::VectorObject(Box::new(ObjectVector {
            fixed: false,
            type_name: "com.example.Item".into(),
            items: vec![object([("x", Value::Integer(1))]), Value::Null],
        })),
        Value::Dictionary(Box::new(Dictionary {
            weak_keys: true,
            entries: vec![
                (Value::Integer(1), Value::from("one")),
                (object([]), Value::Bool(false)),
            ],
        })),
        Value::MixedArray(Box::new(MixedArray {
            dense: vec![Value::Integer(7)],
            assoc: vec![("k".into(), Value::from("v"))],
        })),
        Value::ArrayCollection(vec![Value::from("a"), Value::Integer(2)]),
        Value::ObjectProxy(vec![("p".into(), Value::Null)]),
    ]
}

#[test]
fn amf3_only_values_round_trip() {
    for value in amf3_only() {
        let bytes = enc(&value);
        assert_eq!(bytes.first(), Some(&0x11), "{value:?}");
        assert_eq!(dec(&bytes), Ok(value.clone()), "{value:?}");
        // Nested in AMF0 containers too.
        let nested = Value::StrictArray(vec![object([("v", value.clone())]), value]);
        assert_eq!(dec(&enc(&nested)), Ok(nested));
    }
}

#[test]
fn avmplus_round_trips_every_value() {
    let mut values = amf3_only();
    values.extend([
        Value::Integer(-3),
        Value::from("x"),
        object([("a", Value::Integer(1))]),
        typed("T", [("a", Value::Null)]),
        Value::StrictArray(vec![Value::Bool(true)]),
    ]);
    for value in values {
        assert_eq!(dec(&avmplus(&value)), Ok(value.clone()), "{value:?}");
    }
}

#[test]
fn amf3_tables_span_the_body() {
    // Both encoder and decoder keep one AMF3 string table for the body: the
    // second "hi" is a reference.
    let mut encoder = Encoder::new();
    let mut out = BytesMut::new();
    encoder.encode_avmplus(&Value::from("hi"), &mut out);
    encoder.encode(&Value::Null, &mut out);
    encoder.encode_avmplus(&Value::from("hi"), &mut out);
    assert_eq!(&out[..], hex!("11 06 05 6869 05 11 06 00"));
    assert_eq!(
        decode_all(&out, &Limits::default()),
        Ok(vec![Value::from("hi"), Value::Null, Value::from("hi")])
    );
}

#[test]
fn amf0_references_copy_amf3_values_without_growing_the_amf3_tables() {
    // [ {b: ByteArray[AA]}, ref 1 ], then an AMF3 reference to the
    // ByteArray (AMF3 object 0), then one to AMF3 object 1, which would
    // exist had the AMF0 copy decoded the AMF3 bytes again.
    let body = hex!("0A 00000002 03 0001 62 11 0C 03 AA 000009 07 0001 11 0C 00 11 0C 02");
    let obj = object([("b", Value::ByteArray(vec![0xAA]))]);
    let mut decoder = crate::amf::amf0::Decoder::new(&body, &Limits::default());
    assert_eq!(
        decoder.decode(),
        Ok(Value::StrictArray(vec![obj.clone(), obj]))
    );
    assert_eq!(decoder.decode(), Ok(Value::ByteArray(vec![0xAA])));
    assert_eq!(
        decoder.decode(),
        Err(DecodeError::BadReference {
            table: "object",
            index: 1
        })
    );
}

#[test]
fn amf3_values_count_against_depth_and_values() {
    // An AMF0 object holding an AMF3 array holding null: depth 2.
    let bytes = hex!("03 0001 61 11 09 03 01 01 000009");
    let limits = |max_depth, max_values| Limits {
        max_depth,
        max_values,
        ..Limits::default()
    };
    assert!(decode(&bytes, &limits(2, 3)).is_ok());
    assert_eq!(
        decode(&bytes, &limits(1, 3)),
        Err(DecodeError::Limit(LimitExceeded::new(Limit::AmfDepth, 1)))
    );
    assert_eq!(
        decode(&bytes, &limits(2, 2)),
        Err(DecodeError::Limit(LimitExceeded::new(Limit::AmfValues, 2)))
    );
    // Copies of a container holding AMF3 values are charged in full.
    let bomb = {
        let mut b = hex!("0A 00000400 03 0001 62 11 09 03 01 01 000009").to_vec();
        b.extend(hex!("07 0001").repeat(0x3FF));
        b
    };
    assert!(decode(&bomb, &limits(64, 10_000)).is_ok());
    assert_eq!(
        decode(&bomb, &limits(64, 1_000)),
        Err(DecodeError::Limit(LimitExceeded::new(
            Limit::AmfValues,
            1_000
        )))
    );
}

#[test]
fn every_prefix_of_a_body_with_amf3_is_truncated() {
    let value = object([
        ("b", Value::ByteArray(vec![1, 2])),
        ("s", Value::StrictArray(vec![Value::Xml("<x/>".into())])),
    ]);
    let bytes = enc(&value);
    assert_eq!(dec(&bytes), Ok(value));
    for len in 0..bytes.len() {
        assert_eq!(dec(&bytes[..len]), Err(DecodeError::Truncated), "{len}");
    }
}

#[test]
fn keys_and_class_names_past_16_bits_go_through_amf3() {
    let long = Str::from("k".repeat(0x1_0000));
    let values = [
        Value::Object(Box::new(Object {
            class_name: None,
            sealed_count: 0,
            properties: vec![("a".into(), Value::Null), (long.clone(), Value::Integer(1))],
        })),
        Value::Object(Box::new(Object {
            class_name: Some(long.clone()),
            sealed_count: 1,
            properties: vec![("a".into(), Value::Null)],
        })),
        Value::EcmaArray(vec![(long.clone(), Value::from("v"))]),
    ];
    for value in values {
        let bytes = enc(&value);
        assert_eq!(bytes.first(), Some(&0x11));
        assert_eq!(dec(&bytes), Ok(value));
    }
    // Nested: only the object holding the long key switches.
    let nested = object([("inner", Value::EcmaArray(vec![(long, Value::Null)]))]);
    let bytes = enc(&nested);
    assert_eq!(bytes.get(..9), Some(&hex!("03 0005 696E6E6572 11")[..]));
    assert_eq!(dec(&bytes), Ok(nested));
}

#[test]
fn hostile_amf3_after_the_switch() {
    assert_eq!(
        dec(&hex!("11 12")),
        Err(DecodeError::UnknownMarker { marker: 0x12 })
    );
    assert_eq!(dec(&hex!("11")), Err(DecodeError::Truncated));
    assert_eq!(dec(&hex!("11 06 FF")), Err(DecodeError::Truncated));
}
