use hex_literal::hex;
use rtmp_proto::amf::{
    Date, Dictionary, MixedArray, Object, ObjectVector, Properties, Str, Value, Vector,
};

use super::*;

fn key(scope: &str, name: &str) -> SoKey {
    SoKey::new(ScopePath::new(scope).unwrap(), name)
}

fn snapshot(version: u32, values: Vec<(&str, Value)>) -> Snapshot {
    Snapshot {
        version,
        values: values.into_iter().map(|(k, v)| (Str::from(k), v)).collect(),
    }
}

fn props(entries: &[(&str, Value)]) -> Properties {
    entries
        .iter()
        .map(|(k, v)| (Str::from(*k), v.clone()))
        .collect()
}

/// A quiet NaN with a payload, to check doubles are kept bit for bit.
const ODD_NAN: u64 = 0x7FF8_0000_DEAD_BEEF;

/// Every `Value` variant in the form AMF3 gives back (see the module docs),
/// nested where a variant holds values. No NaN here, so `==` can check.
fn every_variant() -> Vec<(&'static str, Value)> {
    let point = Value::Object(Box::new(Object {
        class_name: Some("com.example.Point".into()),
        sealed_count: 2,
        properties: props(&[
            ("x", Value::Integer(3)),
            ("y", Value::Number(-4.5)),
            ("label", "extra dynamic member".into()),
        ]),
    }));
    let sealed_only = Value::Object(Box::new(Object {
        class_name: Some("com.example.Sealed".into()),
        sealed_count: 1,
        properties: props(&[("only", Value::Bool(true))]),
    }));
    vec![
        ("undefined", Value::Undefined),
        ("null", Value::Null),
        ("false", Value::Bool(false)),
        ("true", Value::Bool(true)),
        ("number", Value::Number(1.5)),
        ("integral number", Value::Number(7.0)),
        ("negative zero", Value::Number(-0.0)),
        ("infinity", Value::Number(f64::INFINITY)),
        ("max", Value::Number(f64::MAX)),
        ("integer", Value::Integer(-(1 << 28))),
        ("integer max", Value::Integer((1 << 28) - 1)),
        ("string", "héllo wörld ✓".into()),
        ("", "the empty key".into()),
        ("empty string", "".into()),
        (
            "date",
            Value::Date(Date {
                millis: 1_700_000_000_123.0,
                timezone: 0,
            }),
        ),
        (
            "object",
            Value::object([
                (
                    "nested",
                    Value::object([("deeper", Value::object([("n", 1.into())]))]),
                ),
                ("point", point.clone()),
            ]),
        ),
        ("typed", point),
        ("sealed only", sealed_only),
        (
            "ecma",
            Value::EcmaArray(props(&[("a", 1.into()), ("b", "two".into())])),
        ),
        (
            "strict",
            Value::StrictArray(vec![1.into(), "two".into(), Value::Null]),
        ),
        ("empty strict", Value::StrictArray(vec![])),
        (
            "mixed",
            Value::MixedArray(Box::new(MixedArray {
                dense: vec![Value::Bool(true), 2.5.into()],
                assoc: props(&[("k", "v".into())]),
            })),
        ),
        ("xml document", Value::XmlDocument("<a><b/></a>".into())),
        ("xml", Value::Xml("<e4x attr=\"1\"/>".into())),
        ("bytes", Value::ByteArray(vec![0, 1, 2, 0xFF, 0x80])),
        ("empty bytes", Value::ByteArray(vec![])),
        (
            "ints",
            Value::VectorInt(Box::new(Vector {
                fixed: true,
                items: vec![i32::MIN, -1, 0, i32::MAX],
            })),
        ),
        (
            "uints",
            Value::VectorUint(Box::new(Vector {
                fixed: false,
                items: vec![0, 1, u32::MAX],
            })),
        ),
        (
            "doubles",
            Value::VectorDouble(Box::new(Vector {
                fixed: false,
                items: vec![-0.0, 1e300, f64::NEG_INFINITY],
            })),
        ),
        (
            "objects",
            Value::VectorObject(Box::new(ObjectVector {
                fixed: true,
                type_name: "com.example.Point".into(),
                items: vec![Value::object([("a", 1.into())]), Value::Null],
            })),
        ),
        (
            "dictionary",
            Value::Dictionary(Box::new(Dictionary {
                weak_keys: true,
                entries: vec![
                    ("key".into(), 1.into()),
                    (Value::Integer(2), "int key".into()),
                    (Value::object([("o", Value::Null)]), Value::Bool(false)),
                ],
            })),
        ),
        (
            "collection",
            Value::ArrayCollection(vec!["a".into(), Value::object([("b", 2.into())])]),
        ),
        (
            "proxy",
            Value::ObjectProxy(props(&[("p", 1.into()), ("q", "r".into())])),
        ),
    ]
}

#[test]
fn every_variant_round_trips() {
    let so = key("app/room", "all types");
    let original = snapshot(42, every_variant());
    let bytes = encode_snapshot(&so, &original);
    let (decoded_key, decoded) = decode_snapshot(&bytes).unwrap();
    assert_eq!(decoded_key, so);
    assert_eq!(decoded, original);
    assert_eq!(encode_snapshot(&so, &decoded), bytes, "stable re-encoding");
}

#[test]
fn doubles_round_trip_bit_for_bit() {
    let odd_nan = f64::from_bits(ODD_NAN);
    let original = snapshot(
        1,
        vec![
            ("nan", Value::Number(odd_nan)),
            ("negative zero", Value::Number(-0.0)),
            (
                "in a vector",
                Value::VectorDouble(Box::new(Vector {
                    fixed: false,
                    items: vec![odd_nan, -0.0],
                })),
            ),
            (
                "date",
                Value::Date(Date {
                    millis: odd_nan,
                    timezone: 0,
                }),
            ),
        ],
    );
    let so = key("app", "doubles");
    let bytes = encode_snapshot(&so, &original);
    let (_, decoded) = decode_snapshot(&bytes).unwrap();
    let bits: Vec<u64> = decoded
        .values
        .iter()
        .flat_map(|(_, value)| match value {
            Value::Number(n) => vec![n.to_bits()],
            Value::VectorDouble(v) => v.items.iter().map(|n| n.to_bits()).collect(),
            Value::Date(d) => vec![d.millis.to_bits()],
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        bits,
        [
            ODD_NAN,
            (-0.0f64).to_bits(),
            ODD_NAN,
            (-0.0f64).to_bits(),
            ODD_NAN
        ]
    );
    assert_eq!(encode_snapshot(&so, &decoded), bytes);
}

/// The forms AMF3 has no room for come back canonical, as documented.
#[test]
fn values_without_an_amf3_form_come_back_canonical() {
    let cases = [
        (Value::Integer(1 << 28), Value::Number(268_435_456.0)),
        (Value::Integer(i32::MIN), Value::Number(-2_147_483_648.0)),
        (
            Value::Date(Date {
                millis: 5.0,
                timezone: -120,
            }),
            Value::Date(Date {
                millis: 5.0,
                timezone: 0,
            }),
        ),
        (Value::EcmaArray(vec![]), Value::StrictArray(vec![])),
        (
            Value::MixedArray(Box::new(MixedArray {
                dense: vec![],
                assoc: props(&[("a", 1.into())]),
            })),
            Value::EcmaArray(props(&[("a", 1.into())])),
        ),
        (
            Value::MixedArray(Box::new(MixedArray {
                dense: vec![1.into()],
                assoc: vec![],
            })),
            Value::StrictArray(vec![1.into()]),
        ),
        (Value::Unsupported, Value::Undefined),
        (
            Value::Object(Box::new(Object {
                class_name: Some("".into()),
                sealed_count: 0,
                properties: props(&[("a", 1.into())]),
            })),
            Value::object([("a", 1.into())]),
        ),
        (
            Value::Object(Box::new(Object {
                class_name: Some("T".into()),
                sealed_count: 9,
                properties: props(&[("a", 1.into())]),
            })),
            Value::Object(Box::new(Object {
                class_name: Some("T".into()),
                sealed_count: 1,
                properties: props(&[("a", 1.into())]),
            })),
        ),
        (
            Value::object([("", 1.into()), ("b", 2.into())]),
            Value::object([("b", 2.into())]),
        ),
    ];
    for (given, expected) in cases {
        let so = key("app", "canonical");
        let bytes = encode_snapshot(&so, &snapshot(1, vec![("v", given.clone())]));
        let (_, decoded) = decode_snapshot(&bytes).unwrap();
        assert_eq!(decoded.values, vec![("v".into(), expected)], "{given:?}");
    }
}

#[test]
fn empty_snapshot_round_trips() {
    let so = key("app", "cleared");
    let bytes = encode_snapshot(&so, &Snapshot::default());
    assert_eq!(decode_snapshot(&bytes).unwrap(), (so, Snapshot::default()));
}

/// Repeated strings are written once: the tables span the whole snapshot.
#[test]
fn repeated_strings_are_stored_once() {
    let long = "x".repeat(1000);
    let values = (0..10)
        .map(|i| (format!("k{i}"), Value::from(long.as_str())))
        .collect::<Vec<_>>();
    let original = Snapshot {
        version: 1,
        values: values.into_iter().map(|(k, v)| (k.into(), v)).collect(),
    };
    let bytes = encode_snapshot(&key("app", "s"), &original);
    assert!(bytes.len() < 1200, "{}", bytes.len());
    assert_eq!(decode_snapshot(&bytes).unwrap().1, original);
}

/// `app` / `chat` version 7: `n` = integer 1, `s` = "hi", `""` = "n" (a
/// string reference to the key `n`).
const GOLDEN: [u8; 49] = hex!(
    "52534f31 0001"
    "00000003 617070"
    "00000004 63686174"
    "00000007"
    "00000003"
    "06036e 0401"
    "060373 06056869"
    "0601 0600"
    "bc8b7c13"
);

fn golden_snapshot() -> (SoKey, Snapshot) {
    (
        key("app", "chat"),
        snapshot(
            7,
            vec![
                ("n", Value::Integer(1)),
                ("s", "hi".into()),
                ("", "n".into()),
            ],
        ),
    )
}

#[test]
fn golden_bytes() {
    let (so, snap) = golden_snapshot();
    assert_eq!(encode_snapshot(&so, &snap), GOLDEN);
    assert_eq!(decode_snapshot(&GOLDEN).unwrap(), (so, snap));
}

/// A flipped byte is caught: in the magic as "not a snapshot", anywhere
/// else by the checksum.
#[test]
fn every_flipped_byte_is_detected() {
    for at in 0..GOLDEN.len() {
        for bit in 0..8 {
            let mut bytes = GOLDEN;
            bytes[at] ^= 1 << bit;
            let error = decode_snapshot(&bytes).unwrap_err();
            if at < MAGIC.len() {
                assert_eq!(error, SnapshotError::BadMagic, "byte {at}");
            } else {
                assert!(
                    matches!(error, SnapshotError::ChecksumMismatch { .. }),
                    "byte {at} bit {bit}: {error:?}"
                );
            }
        }
    }
}

#[test]
fn every_truncation_is_a_typed_error() {
    let bytes = encode_snapshot(&key("app/room", "all types"), &snapshot(3, every_variant()));
    for len in 0..bytes.len() {
        let error = decode_snapshot(&bytes[..len]).unwrap_err();
        if len < 10 {
            assert_eq!(error, SnapshotError::Truncated, "length {len}");
        } else {
            assert!(
                matches!(error, SnapshotError::ChecksumMismatch { .. }),
                "length {len}: {error:?}"
            );
        }
    }
}

#[test]
fn not_a_snapshot() {
    assert_eq!(
        decode_snapshot(b"{\"json\": true}"),
        Err(SnapshotError::BadMagic)
    );
    assert_eq!(decode_snapshot(b"RSO"), Err(SnapshotError::Truncated));
    assert_eq!(decode_snapshot(b""), Err(SnapshotError::Truncated));
}

/// Appends the checksum, so the contents checks can be reached.
fn seal(mut body: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&body);
    body.extend_from_slice(&crc.to_be_bytes());
    body
}

/// A header for `scope` / `name`, version 1, `count` attributes.
fn header(scope: &[u8], name: &[u8], count: u32) -> Vec<u8> {
    let mut out = b"RSO1\x00\x01".to_vec();
    out.extend_from_slice(&(scope.len() as u32).to_be_bytes());
    out.extend_from_slice(scope);
    out.extend_from_slice(&(name.len() as u32).to_be_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out
}

#[test]
fn hostile_contents_with_a_valid_checksum() {
    let with = |mut head: Vec<u8>, tail: &[u8]| {
        head.extend_from_slice(tail);
        decode_snapshot(&seal(head))
    };
    let newer = seal(b"RSO1\x00\x02 whatever a newer version holds".to_vec());
    assert_eq!(
        decode_snapshot(&newer),
        Err(SnapshotError::UnknownFormatVersion(2))
    );
    assert_eq!(
        with(header(b"app/../etc", b"x", 0), b""),
        Err(SnapshotError::BadScope("app/../etc".into()))
    );
    assert_eq!(
        with(header(b"/app/", b"x", 0), b""),
        Err(SnapshotError::BadScope("/app/".into()))
    );
    assert_eq!(
        with(header(b"app", b"\xFF", 0), b""),
        Err(SnapshotError::BadUtf8)
    );
    // A length past the end, and a count past the attributes.
    assert_eq!(
        decode_snapshot(&seal(b"RSO1\x00\x01\xFF\xFF\xFF\xFFapp".to_vec())),
        Err(SnapshotError::Truncated)
    );
    assert_eq!(
        with(header(b"app", b"x", u32::MAX), &hex!("060361 0401")),
        Err(SnapshotError::Truncated)
    );
    assert_eq!(
        with(header(b"app", b"x", 1), &hex!("0401 0401")),
        Err(SnapshotError::KeyNotString)
    );
    assert_eq!(
        with(header(b"app", b"x", 1), &hex!("060361 ff")),
        Err(SnapshotError::BadAmf(DecodeError::UnknownMarker {
            marker: 0xFF
        }))
    );
    assert_eq!(
        with(header(b"app", b"x", 1), &hex!("060361 0401 00")),
        Err(SnapshotError::TrailingBytes(1))
    );
    // A string reference that copies a large string many times is charged
    // against the limits.
    let limits = Limits {
        max_values: 1000,
        ..SNAPSHOT_LIMITS
    };
    let mut body = header(b"app", b"x", 100);
    let big = "y".repeat(4096);
    body.extend_from_slice(&hex!("0601 06"));
    body.extend_from_slice(&[0xC0, 0x01]); // U29 length 4096, inline
    body.extend_from_slice(big.as_bytes());
    for _ in 1..100 {
        body.extend_from_slice(&hex!("0601 0600"));
    }
    assert!(matches!(
        decode_snapshot_with(&seal(body), &limits),
        Err(SnapshotError::BadAmf(DecodeError::Limit(_)))
    ));
}
