//! AMF fixtures (BENCHMARKS.md, Fixtures): `object10` and `string1k`, as each
//! crate represents them, and their encoded bytes.
//!
//! The bytes are written by the `amf` crate, whose objects keep property
//! order (rml_amf0 keeps them in a `HashMap`, so its order changes per
//! process; its encoding has the same length and decodes the same).

use std::collections::HashMap;

use bytes::BytesMut;
use rml_amf0::Amf0Value;
use rtmp_proto::Value;
use rtmp_proto::amf::{Limits, amf0, amf3};

/// The properties of `object10`, in order, before any crate sees them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field {
    /// A string property.
    Str(&'static str),
    /// A number property (AMF0 number, AMF3 double).
    Num(f64),
}

/// `object10`: an anonymous object of 10 properties, in this order.
pub const OBJECT10: [(&str, Field); 10] = [
    ("userName", Field::Str("alice_w")),
    ("x", Field::Num(1024.5)),
    ("status", Field::Str("online")),
    ("y", Field::Num(-77.25)),
    ("room", Field::Str("lobby-03")),
    ("score", Field::Num(123_456.0)),
    ("color", Field::Str("#ff8800")),
    ("lastSeen", Field::Num(1_700_000_000_123.0)),
    (
        "avatarUrl",
        Field::Str("https://example.invalid/a/alice.png"),
    ),
    ("level", Field::Num(42.0)),
];

/// Encoded size of `object10` in AMF0.
pub const OBJECT10_AMF0_LEN: usize = 199;
/// Encoded size of `object10` in AMF3 (dynamic, no sealed members, doubles).
pub const OBJECT10_AMF3_LEN: usize = 184;
/// Encoded size of `string1k` in AMF0 and in AMF3.
pub const STRING1K_LEN: usize = 1027;

/// `string1k`: 1,024 ASCII bytes, `a..z` repeated.
pub fn string1k() -> String {
    (b'a'..=b'z').cycle().take(1024).map(char::from).collect()
}

/// `object10` as our [`Value`].
pub fn object10() -> Value {
    Value::object(OBJECT10.iter().map(|&(key, field)| {
        let value = match field {
            Field::Str(s) => Value::from(s),
            Field::Num(n) => Value::Number(n),
        };
        (key, value)
    }))
}

/// `object10` as rml_amf0's value.
pub fn object10_rml() -> Amf0Value {
    let properties: HashMap<String, Amf0Value> = OBJECT10
        .iter()
        .map(|&(key, field)| {
            let value = match field {
                Field::Str(s) => Amf0Value::Utf8String(s.to_owned()),
                Field::Num(n) => Amf0Value::Number(n),
            };
            (key.to_owned(), value)
        })
        .collect();
    Amf0Value::Object(properties)
}

/// `object10` as the `amf` crate's AMF0 value.
pub fn object10_amf0() -> amf::amf0::Value {
    use amf::amf0::Value as V;
    V::Object {
        class_name: None,
        entries: OBJECT10
            .iter()
            .map(|&(key, field)| amf::Pair {
                key: key.to_owned(),
                value: match field {
                    Field::Str(s) => V::String(s.to_owned()),
                    Field::Num(n) => V::Number(n),
                },
            })
            .collect(),
    }
}

/// `object10` as the `amf` crate's AMF3 value.
pub fn object10_amf3() -> amf::amf3::Value {
    use amf::amf3::Value as V;
    V::Object {
        class_name: None,
        sealed_count: 0,
        entries: OBJECT10
            .iter()
            .map(|&(key, field)| amf::Pair {
                key: key.to_owned(),
                value: match field {
                    Field::Str(s) => V::String(s.to_owned()),
                    Field::Num(n) => V::Double(n),
                },
            })
            .collect(),
    }
}

/// The AMF0 bytes of `object10`.
pub fn object10_amf0_bytes() -> Vec<u8> {
    let mut out = Vec::new();
    object10_amf0()
        .write_to(&mut out)
        .expect("writing to a Vec");
    out
}

/// The AMF3 bytes of `object10`.
pub fn object10_amf3_bytes() -> Vec<u8> {
    let mut out = Vec::new();
    object10_amf3()
        .write_to(&mut out)
        .expect("writing to a Vec");
    out
}

/// The AMF0 bytes of `string1k`.
pub fn string1k_amf0_bytes() -> Vec<u8> {
    let mut out = Vec::new();
    amf::amf0::Value::String(string1k())
        .write_to(&mut out)
        .expect("writing to a Vec");
    out
}

/// The AMF3 bytes of `string1k`.
pub fn string1k_amf3_bytes() -> Vec<u8> {
    let mut out = Vec::new();
    amf::amf3::Value::String(string1k())
        .write_to(&mut out)
        .expect("writing to a Vec");
    out
}

/// A3 inputs for one value (`object10` or `string1k`): its bytes and every
/// crate's tree, built once outside the timed loops.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Benchmark name: `object10` or `string1k`.
    pub name: &'static str,
    /// AMF0 bytes.
    pub amf0: Vec<u8>,
    /// AMF3 bytes.
    pub amf3: Vec<u8>,
    /// Our value.
    pub ours: Value,
    /// rml_amf0's value, wrapped in the `Vec` its serializer takes.
    pub rml: Vec<Amf0Value>,
    /// The `amf` crate's AMF0 value.
    pub amf_amf0: amf::amf0::Value,
    /// The `amf` crate's AMF3 value.
    pub amf_amf3: amf::amf3::Value,
}

/// The two A3 fixtures: `object10` and `string1k`.
pub fn fixtures() -> [Fixture; 2] {
    let s = string1k();
    [
        Fixture {
            name: "object10",
            amf0: object10_amf0_bytes(),
            amf3: object10_amf3_bytes(),
            ours: object10(),
            rml: vec![object10_rml()],
            amf_amf0: object10_amf0(),
            amf_amf3: object10_amf3(),
        },
        Fixture {
            name: "string1k",
            amf0: string1k_amf0_bytes(),
            amf3: string1k_amf3_bytes(),
            ours: Value::from(s.as_str()),
            rml: vec![Amf0Value::Utf8String(s.clone())],
            amf_amf0: amf::amf0::Value::String(s.clone()),
            amf_amf3: amf::amf3::Value::String(s),
        },
    ]
}

/// AMF0 decode, ours: an owned [`Value`] tree from a slice, default limits.
pub fn amf0_decode_ours(bytes: &[u8]) -> Value {
    amf0::decode(bytes, &Limits::default()).expect("fixture decodes")
}

/// AMF0 decode, rml_amf0 (reads through `std::io::Read`).
pub fn amf0_decode_rml(bytes: &[u8]) -> Vec<Amf0Value> {
    rml_amf0::deserialize(&mut &bytes[..]).expect("fixture decodes")
}

/// AMF0 decode, the `amf` crate (reads through `std::io::Read`).
pub fn amf0_decode_amf(bytes: &[u8]) -> amf::amf0::Value {
    amf::amf0::Value::read_from(bytes).expect("fixture decodes")
}

/// AMF3 decode, ours.
pub fn amf3_decode_ours(bytes: &[u8]) -> Value {
    amf3::decode(bytes, &Limits::default()).expect("fixture decodes")
}

/// AMF3 decode, the `amf` crate.
pub fn amf3_decode_amf(bytes: &[u8]) -> amf::amf3::Value {
    amf::amf3::Value::read_from(bytes).expect("fixture decodes")
}

/// AMF0 encode, ours, into a fresh buffer (as the anchors return a fresh `Vec`).
pub fn amf0_encode_ours(value: &Value) -> BytesMut {
    let mut out = BytesMut::new();
    amf0::encode(value, &mut out);
    out
}

/// AMF0 encode, ours, appending to a buffer the caller reuses (cleared here).
pub fn amf0_encode_ours_reused(value: &Value, out: &mut BytesMut) -> usize {
    out.clear();
    amf0::encode(value, out);
    out.len()
}

/// AMF0 encode, rml_amf0.
pub fn amf0_encode_rml(values: &Vec<Amf0Value>) -> Vec<u8> {
    rml_amf0::serialize(values).expect("fixture encodes")
}

/// AMF0 encode, the `amf` crate, into a fresh `Vec`.
pub fn amf0_encode_amf(value: &amf::amf0::Value) -> Vec<u8> {
    let mut out = Vec::new();
    value.write_to(&mut out).expect("writing to a Vec");
    out
}

/// AMF3 encode, ours, into a fresh buffer.
pub fn amf3_encode_ours(value: &Value) -> BytesMut {
    let mut out = BytesMut::new();
    amf3::encode(value, &mut out);
    out
}

/// AMF3 encode, ours, appending to a buffer the caller reuses (cleared here).
pub fn amf3_encode_ours_reused(value: &Value, out: &mut BytesMut) -> usize {
    out.clear();
    amf3::encode(value, out);
    out.len()
}

/// AMF3 encode, the `amf` crate, into a fresh `Vec`.
pub fn amf3_encode_amf(value: &amf::amf3::Value) -> Vec<u8> {
    let mut out = Vec::new();
    value.write_to(&mut out).expect("writing to a Vec");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_published_ones() {
        assert_eq!(object10_amf0_bytes().len(), OBJECT10_AMF0_LEN);
        assert_eq!(object10_amf3_bytes().len(), OBJECT10_AMF3_LEN);
        assert_eq!(string1k_amf0_bytes().len(), STRING1K_LEN);
        assert_eq!(string1k_amf3_bytes().len(), STRING1K_LEN);
        assert_eq!(&string1k()[..3], "abc");
        assert_eq!(&string1k()[26..28], "ab");
    }

    #[test]
    fn rml_amf0_reads_and_writes_the_same_object() {
        let bytes = object10_amf0_bytes();
        let decoded = rml_amf0::deserialize(&mut &bytes[..]).unwrap();
        assert_eq!(decoded, vec![object10_rml()]);
        let written = rml_amf0::serialize(&vec![object10_rml()]).unwrap();
        assert_eq!(written.len(), OBJECT10_AMF0_LEN);
    }

    #[test]
    fn amf_decodes_its_own_bytes() {
        let bytes = object10_amf0_bytes();
        let decoded = amf::amf0::Value::read_from(&mut &bytes[..]).unwrap();
        assert_eq!(decoded, object10_amf0());
        let bytes = object10_amf3_bytes();
        let decoded = amf::amf3::Value::read_from(&mut &bytes[..]).unwrap();
        assert_eq!(decoded, object10_amf3());
    }

    #[test]
    fn ours_writes_the_same_bytes_as_amf() {
        for fixture in fixtures() {
            assert_eq!(&amf0_encode_ours(&fixture.ours)[..], &fixture.amf0[..]);
            assert_eq!(&amf3_encode_ours(&fixture.ours)[..], &fixture.amf3[..]);
            let mut out = BytesMut::new();
            assert_eq!(
                amf0_encode_ours_reused(&fixture.ours, &mut out),
                fixture.amf0.len()
            );
            assert_eq!(
                amf3_encode_ours_reused(&fixture.ours, &mut out),
                fixture.amf3.len()
            );
        }
    }

    #[test]
    fn every_decoder_reads_every_fixture() {
        for fixture in fixtures() {
            assert_eq!(amf0_decode_ours(&fixture.amf0), fixture.ours);
            assert_eq!(amf3_decode_ours(&fixture.amf3), fixture.ours);
            assert_eq!(amf0_decode_rml(&fixture.amf0), fixture.rml);
            assert_eq!(amf0_decode_amf(&fixture.amf0), fixture.amf_amf0);
            assert_eq!(amf3_decode_amf(&fixture.amf3), fixture.amf_amf3);
            assert_eq!(amf0_encode_rml(&fixture.rml).len(), fixture.amf0.len());
            assert_eq!(amf0_encode_amf(&fixture.amf_amf0), fixture.amf0);
            assert_eq!(amf3_encode_amf(&fixture.amf_amf3), fixture.amf3);
        }
    }

    #[test]
    fn our_object_keeps_the_order() {
        let value = object10();
        let keys: Vec<&str> = value
            .properties()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        let expected: Vec<&str> = OBJECT10.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, expected);
        assert_eq!(value.property("level"), Some(&Value::Number(42.0)));
    }
}
