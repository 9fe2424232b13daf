//! `decode(encode(v)) == v` for every variant, and the documented exceptions.

use super::golden::object10;
use super::{decoded, encoded};
use crate::amf::{
    Date, Dictionary, MixedArray, Object, ObjectVector, Properties, Str, Value, Vector,
};

fn props(pairs: &[(&str, Value)]) -> Properties {
    pairs
        .iter()
        .map(|(k, v)| (Str::from(*k), v.clone()))
        .collect()
}

pub(super) fn every_variant() -> Vec<Value> {
    let long = "a long string that does not fit inline in a CompactString";
    let typed = Value::Object(Box::new(Object {
        class_name: Some("com.example.Point".into()),
        sealed_count: 2,
        properties: props(&[("x", 1.into()), ("y", 2.5.into()), ("tag", long.into())]),
    }));
    let anonymous_sealed = Value::Object(Box::new(Object {
        class_name: None,
        sealed_count: 1,
        properties: props(&[("s", 1.into()), ("d", 2.into())]),
    }));
    vec![
        Value::Undefined,
        Value::Null,
        Value::Bool(false),
        Value::Bool(true),
        Value::Number(-0.5),
        Value::Number(f64::INFINITY),
        Value::Integer(0),
        Value::Integer(-(1 << 28)),
        Value::Integer((1 << 28) - 1),
        Value::from(""),
        Value::from(long),
        Value::from("ünïcödé ✓"),
        Value::Date(Date {
            millis: -1.5,
            timezone: 0,
        }),
        object10(),
        typed.clone(),
        anonymous_sealed,
        Value::object([(
            "nested",
            Value::object([("deeper", Value::object::<&str>([]))]),
        )]),
        Value::EcmaArray(props(&[("a", 1.into()), ("b", long.into())])),
        Value::StrictArray(vec![]),
        Value::StrictArray(vec![typed.clone(), typed.clone(), long.into(), long.into()]),
        Value::MixedArray(Box::new(MixedArray {
            dense: vec![Value::Null, long.into()],
            assoc: props(&[(long, 1.into())]),
        })),
        Value::XmlDocument("<doc/>".into()),
        Value::Xml("<x>é</x>".into()),
        Value::ByteArray(vec![]),
        Value::ByteArray((0..=255).collect()),
        Value::VectorInt(Box::new(Vector {
            fixed: true,
            items: vec![i32::MIN, 0, i32::MAX],
        })),
        Value::VectorUint(Box::new(Vector {
            fixed: false,
            items: vec![0, u32::MAX],
        })),
        Value::VectorDouble(Box::new(Vector {
            fixed: true,
            items: vec![f64::MIN, 0.1],
        })),
        Value::VectorObject(Box::new(ObjectVector {
            fixed: false,
            type_name: "com.example.Point".into(),
            items: vec![typed.clone(), Value::Null, typed],
        })),
        Value::VectorObject(Box::default()),
        Value::Dictionary(Box::new(Dictionary {
            weak_keys: false,
            entries: vec![
                (object10(), Value::ByteArray(vec![1])),
                (Value::Number(1.0), Value::from(long)),
            ],
        })),
        Value::ArrayCollection(vec![object10(), object10()]),
        Value::ArrayCollection(vec![]),
        Value::ObjectProxy(props(&[
            ("a", 1.into()),
            ("b", Value::ArrayCollection(vec![])),
        ])),
        Value::ObjectProxy(vec![]),
    ]
}

#[test]
fn every_variant_round_trips() {
    for value in every_variant() {
        assert_eq!(decoded(&encoded(&value)), Ok(value));
    }
}

#[test]
fn all_variants_in_one_value_round_trip() {
    // One tree, so that later values use references to earlier strings and traits.
    let all = Value::StrictArray(every_variant());
    let bytes = encoded(&all);
    assert_eq!(decoded(&bytes), Ok(all));
    // And the encoding of the decoded value is byte-identical.
    assert_eq!(encoded(&decoded(&bytes).unwrap()), bytes);
}

#[test]
fn documented_exceptions() {
    let cases = [
        (Value::Unsupported, Value::Undefined),
        (Value::Integer(i32::MAX), Value::Number(f64::from(i32::MAX))),
        (
            Value::Date(Date {
                millis: 5.0,
                timezone: 120,
            }),
            Value::Date(Date {
                millis: 5.0,
                timezone: 0,
            }),
        ),
        (Value::EcmaArray(vec![]), Value::StrictArray(vec![])),
        (
            Value::MixedArray(Box::new(MixedArray {
                dense: vec![1.into()],
                assoc: vec![],
            })),
            Value::StrictArray(vec![1.into()]),
        ),
        (
            Value::MixedArray(Box::new(MixedArray {
                dense: vec![],
                assoc: props(&[("a", 1.into())]),
            })),
            Value::EcmaArray(props(&[("a", 1.into())])),
        ),
        (
            Value::Object(Box::new(Object {
                class_name: Some("".into()),
                sealed_count: 0,
                properties: props(&[("a", 1.into())]),
            })),
            Value::object([("a", Value::from(1))]),
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(decoded(&encoded(&value)), Ok(expected));
    }
}

#[test]
fn many_strings_are_found_again_in_and_across_calls() {
    // 200 distinct strings (past the linear list, through several index
    // growths), then all of them again: the second time every one is a
    // one- or two-byte reference.
    let strings: Vec<Value> = (0..200)
        .map(|i| format!("string number {i}").into())
        .collect();
    let once = Value::StrictArray(strings.clone());
    let twice = Value::StrictArray([strings.clone(), strings].concat());
    let once_len = encoded(&once).len();
    let bytes = encoded(&twice);
    // 0x06 and a U29 reference per string: 1 byte below index 64, else 2.
    assert_eq!(bytes.len(), once_len + 64 * 2 + 136 * 3);
    assert_eq!(decoded(&bytes), Ok(twice));

    // The same across two calls of one encoder, read by one decoder.
    let mut encoder = crate::amf::amf3::Encoder::new();
    let mut out = bytes::BytesMut::new();
    encoder.encode(&once, &mut out);
    let first_len = out.len();
    encoder.encode(&once, &mut out);
    assert_eq!(out.len() - first_len, 4 + 64 * 2 + 136 * 3);
    let mut decoder = crate::amf::amf3::Decoder::new(&out, &crate::amf::Limits::default());
    assert_eq!(decoder.decode(), Ok(once.clone()));
    assert_eq!(decoder.decode(), Ok(once));
    assert!(decoder.is_empty());
}

#[test]
fn strings_that_look_alike_stay_apart() {
    // Same length and same first and last four bytes (same fingerprint).
    let items: Vec<Value> = (0..100u32)
        .flat_map(|i| {
            let s = format!("abcd{i:04}wxyz");
            [Value::from(s.as_str()), Value::from(s)]
        })
        .collect();
    let value = Value::StrictArray(items);
    assert_eq!(decoded(&encoded(&value)), Ok(value));
}
