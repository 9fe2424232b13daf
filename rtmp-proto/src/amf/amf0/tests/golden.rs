//! Golden bytes for every marker, both ways, and the `object10` fixture.

use bytes::BytesMut;
use hex_literal::hex;

use super::{dec, enc, object, typed};
use crate::amf::amf0::{Decoder, Encoder, decode_all};
use crate::amf::{Date, Limits, Value};
use crate::error::DecodeError;

/// Encodes `value` to exactly `bytes`, and decodes `bytes` back to `value`.
#[track_caller]
fn both(value: Value, bytes: &[u8]) {
    assert_eq!(enc(&value), bytes, "encoding {value:?}");
    assert_eq!(dec(bytes), Ok(value));
}

#[test]
fn number() {
    both(Value::Number(1.5), &hex!("00 3FF8000000000000"));
    both(Value::Number(-0.0), &hex!("00 8000000000000000"));
    both(Value::Number(f64::INFINITY), &hex!("00 7FF0000000000000"));
    let Ok(Value::Number(nan)) = dec(&hex!("00 7FF8000000000000")) else {
        panic!("NaN does not decode to a number");
    };
    assert!(nan.is_nan());
}

#[test]
fn integer_is_written_as_a_number() {
    assert_eq!(enc(&Value::Integer(42)), hex!("00 4045000000000000"));
    assert_eq!(enc(&Value::Integer(-1)), hex!("00 BFF0000000000000"));
}

#[test]
fn boolean() {
    both(Value::Bool(true), &hex!("01 01"));
    both(Value::Bool(false), &hex!("01 00"));
    // AMF0 §2.3: any non-zero byte is true.
    assert_eq!(dec(&hex!("01 FF")), Ok(Value::Bool(true)));
}

#[test]
fn string() {
    both(Value::from("hi"), &hex!("02 0002 6869"));
    both(Value::from(""), &hex!("02 0000"));
    both(Value::from("é€"), &hex!("02 0005 C3A9 E282AC"));
    let max = "x".repeat(0xFFFF);
    let bytes = enc(&Value::from(max.as_str()));
    assert_eq!(bytes.get(..3), Some(&hex!("02 FFFF")[..]));
    assert_eq!(bytes.len(), 3 + 0xFFFF);
    assert_eq!(dec(&bytes), Ok(Value::from(max)));
}

#[test]
fn long_string() {
    let long = "a".repeat(0x1_0000);
    let bytes = enc(&Value::from(long.as_str()));
    assert_eq!(bytes.get(..5), Some(&hex!("0C 00010000")[..]));
    assert_eq!(bytes.len(), 5 + 0x1_0000);
    assert_eq!(dec(&bytes), Ok(Value::from(long)));
    // A short string in the long form decodes too (the encoder picks 0x02).
    assert_eq!(dec(&hex!("0C 00000002 6869")), Ok(Value::from("hi")));
}

#[test]
fn anonymous_object() {
    both(
        object([("a", Value::Number(1.0)), ("bc", Value::Null)]),
        &hex!("03 0001 61 00 3FF0000000000000 0002 6263 05 000009"),
    );
    both(object([]), &hex!("03 000009"));
}

#[test]
fn object_with_an_empty_key() {
    // An empty key followed by a value (not 0x09) is a property named "".
    both(
        object([("", Value::Bool(true))]),
        &hex!("03 0000 01 01 000009"),
    );
}

#[test]
fn null_and_undefined() {
    both(Value::Null, &hex!("05"));
    both(Value::Undefined, &hex!("06"));
}

#[test]
fn reference() {
    // [ {a: null}, ref 1 ]: the strict array is entry 0, the object entry 1.
    let obj = object([("a", Value::Null)]);
    assert_eq!(
        dec(&hex!("0A 00000002 03 0001 61 05 000009 07 0001")),
        Ok(Value::StrictArray(vec![obj.clone(), obj]))
    );
}

#[test]
fn ecma_array() {
    both(
        Value::EcmaArray(vec![
            ("0".into(), Value::from("x")),
            ("k".into(), Value::Bool(false)),
        ]),
        &hex!("08 00000002 0001 30 02 0001 78 0001 6B 01 00 000009"),
    );
    both(Value::EcmaArray(vec![]), &hex!("08 00000000 000009"));
    // The count is a hint only.
    assert_eq!(
        dec(&hex!("08 00000063 0001 6B 05 000009")),
        Ok(Value::EcmaArray(vec![("k".into(), Value::Null)]))
    );
}

#[test]
fn object_end_where_a_value_is_expected() {
    assert_eq!(
        dec(&hex!("09")),
        Err(DecodeError::Invalid {
            what: "object-end marker where a value is expected"
        })
    );
    // A non-empty key followed by 0x09 is the same mistake.
    assert_eq!(
        dec(&hex!("03 0001 61 09")),
        Err(DecodeError::Invalid {
            what: "object-end marker where a value is expected"
        })
    );
}

#[test]
fn strict_array() {
    both(
        Value::StrictArray(vec![Value::Number(1.0), Value::from("a")]),
        &hex!("0A 00000002 00 3FF0000000000000 02 0001 61"),
    );
    both(Value::StrictArray(vec![]), &hex!("0A 00000000"));
}

#[test]
fn date() {
    both(
        Value::Date(Date {
            millis: 1_700_000_000_123.0,
            timezone: -60,
        }),
        &hex!("0B 4278BCFE5687B000 FFC4"),
    );
    both(
        Value::Date(Date {
            millis: 0.0,
            timezone: 0,
        }),
        &hex!("0B 0000000000000000 0000"),
    );
}

#[test]
fn unsupported() {
    both(Value::Unsupported, &hex!("0D"));
}

#[test]
fn reserved_markers() {
    assert_eq!(
        dec(&hex!("04")),
        Err(DecodeError::ReservedMarker { marker: 0x04 })
    );
    assert_eq!(
        dec(&hex!("0E")),
        Err(DecodeError::ReservedMarker { marker: 0x0E })
    );
}

#[test]
fn xml_document() {
    both(
        Value::XmlDocument("<a/>".into()),
        &hex!("0F 00000004 3C612F3E"),
    );
}

#[test]
fn typed_object() {
    both(
        typed("Foo", [("a", Value::Bool(true))]),
        &hex!("10 0003 466F6F 0001 61 01 01 000009"),
    );
    // Typed objects decode with every property sealed; the encoder ignores
    // `sealed_count` (AMF0 has no traits).
    let Value::Object(mut object) = typed("Foo", [("a", Value::Bool(true))]) else {
        unreachable!()
    };
    object.sealed_count = 0;
    assert_eq!(
        enc(&Value::Object(object)),
        hex!("10 0003 466F6F 0001 61 01 01 000009")
    );
}

#[test]
fn unknown_markers() {
    for marker in 0x12..=0xFF {
        assert_eq!(
            dec(&[marker]),
            Err(DecodeError::UnknownMarker { marker }),
            "marker {marker:#04x}"
        );
    }
}

#[test]
fn nested_containers() {
    both(
        object([
            (
                "list",
                Value::StrictArray(vec![object([]), Value::Undefined]),
            ),
            ("map", Value::EcmaArray(vec![("t".into(), typed("T", []))])),
        ]),
        &hex!(
            "03"
            "0004 6C697374 0A 00000002 03 000009 06"
            "0003 6D6170 08 00000001 0001 74 10 0001 54 000009 000009"
            "000009"
        ),
    );
}

/// The `object10` fixture of BENCHMARKS.md, Fixtures.
pub(super) fn object10() -> Value {
    object([
        ("userName", Value::from("alice_w")),
        ("x", Value::Number(1024.5)),
        ("status", Value::from("online")),
        ("y", Value::Number(-77.25)),
        ("room", Value::from("lobby-03")),
        ("score", Value::Number(123_456.0)),
        ("color", Value::from("#ff8800")),
        ("lastSeen", Value::Number(1_700_000_000_123.0)),
        (
            "avatarUrl",
            Value::from("https://example.invalid/a/alice.png"),
        ),
        ("level", Value::Number(42.0)),
    ])
}

#[test]
fn object10_is_199_bytes() {
    let bytes = hex!(
        "030008757365724e616d65020007616c6963655f770001780040900200000000"
        "0000067374617475730200066f6e6c696e6500017900c0535000000000000004"
        "726f6f6d0200086c6f6262792d3033000573636f72650040fe24000000000000"
        "05636f6c6f720200072366663838303000086c6173745365656e004278bcfe56"
        "87b000000961766174617255726c02002368747470733a2f2f6578616d706c65"
        "2e696e76616c69642f612f616c6963652e706e6700056c6576656c0040450000"
        "00000000000009"
    );
    assert_eq!(bytes.len(), 199);
    both(object10(), &bytes);
}

#[test]
fn decoder_reads_a_body_value_by_value() {
    let body = hex!("02 0001 61 00 3FF0000000000000 05");
    let mut decoder = Decoder::new(&body, &Limits::default());
    assert_eq!(decoder.position(), 0);
    assert_eq!(decoder.decode(), Ok(Value::from("a")));
    assert_eq!(decoder.position(), 4);
    assert_eq!(decoder.remaining(), &body[4..]);
    assert_eq!(decoder.decode(), Ok(Value::Number(1.0)));
    assert!(!decoder.is_empty());
    assert_eq!(decoder.decode(), Ok(Value::Null));
    assert!(decoder.is_empty());
    assert_eq!(decoder.position(), body.len());
    assert_eq!(decoder.decode(), Err(DecodeError::Truncated));
    assert_eq!(
        decode_all(&body, &Limits::default()),
        Ok(vec![Value::from("a"), Value::Number(1.0), Value::Null])
    );
    assert_eq!(decode_all(&[], &Limits::default()), Ok(vec![]));
}

#[test]
fn decode_wants_exactly_one_value() {
    assert_eq!(
        dec(&hex!("05 05 06")),
        Err(DecodeError::TrailingBytes { count: 2 })
    );
    assert_eq!(dec(&[]), Err(DecodeError::Truncated));
}

#[test]
fn encoder_appends() {
    let mut out = BytesMut::from(&b"x"[..]);
    let mut encoder = Encoder::new();
    encoder.encode(&Value::Null, &mut out);
    encoder.encode(&Value::Bool(true), &mut out);
    assert_eq!(&out[..], hex!("78 05 0101"));
}
