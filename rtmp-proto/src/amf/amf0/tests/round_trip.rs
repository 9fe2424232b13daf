//! `decode(encode(v)) == v` for every value AMF0 expresses.

use bytes::BytesMut;

use super::golden::object10;
use super::{dec, enc, object, typed};
use crate::amf::amf0::{Encoder, decode_all};
use crate::amf::{Date, Limits, Value};

/// Values AMF0 writes natively, each decoding back to itself.
fn corpus() -> Vec<Value> {
    vec![
        Value::Undefined,
        Value::Null,
        Value::Bool(false),
        Value::Bool(true),
        Value::Number(0.0),
        Value::Number(-1.5e300),
        Value::Number(f64::MIN_POSITIVE),
        Value::Number(f64::NEG_INFINITY),
        Value::from(""),
        Value::from("hello"),
        Value::from("ünïcødé ✓ 😀"),
        Value::from("z".repeat(0xFFFF)),
        Value::from("y".repeat(0x1_0001)),
        Value::Date(Date {
            millis: -8.64e15,
            timezone: i16::MIN,
        }),
        Value::Date(Date {
            millis: 1.5,
            timezone: i16::MAX,
        }),
        object([]),
        object10(),
        // Short string values (one UTF-8 pass with their key), one just
        // under and one past the 128 bytes of that path, multi-byte keys.
        object([
            ("ünï", Value::from("✓ 😀")),
            ("a", Value::from("b".repeat(127))),
            ("é", Value::from("c".repeat(128))),
            ("", Value::from("")),
        ]),
        typed(
            "com.example.Point",
            [("x", Value::Number(1.0)), ("y", Value::Number(2.0))],
        ),
        typed("", []),
        Value::EcmaArray(vec![]),
        Value::EcmaArray(vec![
            ("0".into(), Value::from("a")),
            ("name".into(), Value::Null),
        ]),
        Value::StrictArray(vec![]),
        Value::StrictArray(vec![Value::Undefined, Value::from("x"), object([])]),
        Value::XmlDocument("".into()),
        Value::XmlDocument("<root a=\"1\"><c/></root>".into()),
        Value::Unsupported,
        object([
            (
                "deep",
                Value::StrictArray(vec![Value::EcmaArray(vec![(
                    "k".into(),
                    typed("T", [("inner", object([("", Value::Bool(true))]))]),
                )])]),
            ),
            ("after", Value::Number(7.0)),
        ]),
    ]
}

#[test]
fn every_value_round_trips() {
    for value in corpus() {
        assert_eq!(dec(&enc(&value)), Ok(value.clone()), "{value:?}");
    }
}

#[test]
fn a_body_of_many_values_round_trips() {
    let values = corpus();
    let mut encoder = Encoder::new();
    let mut out = BytesMut::new();
    for value in &values {
        encoder.encode(value, &mut out);
    }
    assert_eq!(decode_all(&out, &Limits::default()), Ok(values));
}

#[test]
fn integer_comes_back_as_a_number() {
    for i in [0, 1, -1, i32::MIN, i32::MAX] {
        assert_eq!(
            dec(&enc(&Value::Integer(i))),
            Ok(Value::Number(f64::from(i)))
        );
    }
}

#[test]
fn re_encoding_is_byte_stable() {
    for value in corpus() {
        let bytes = enc(&value);
        let again = dec(&bytes).map(|v| enc(&v));
        assert_eq!(again.as_deref(), Ok(&bytes[..]), "{value:?}");
    }
}
