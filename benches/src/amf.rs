//! AMF fixtures (performance.md §1.1): `object10` and `string1k`, as each
//! crate represents them, and their encoded bytes.
//!
//! The bytes are written by the `amf` crate, whose objects keep property
//! order (rml_amf0 keeps them in a `HashMap`, so its order changes per
//! process; its encoding has the same length and decodes the same).

use std::collections::HashMap;

use rml_amf0::Amf0Value;
use rtmp_proto::Value;

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
