//! Hostile input: every failure is a typed error, with bounded memory.

use hex_literal::hex;

use super::golden::object10;
use super::{dec, enc, object, typed};
use crate::amf::amf0::{MAX_DEPTH, decode, decode_all};
use crate::amf::{Date, Limits, Value};
use crate::error::{DecodeError, Limit, LimitExceeded};

fn limit(limit: Limit, max: usize) -> Result<Value, DecodeError> {
    Err(DecodeError::Limit(LimitExceeded::new(limit, max)))
}

/// Limits that never stop anything, to reach the checks behind them.
fn unlimited() -> Limits {
    Limits {
        max_depth: usize::MAX,
        max_container_len: usize::MAX,
        max_string_bytes: usize::MAX,
        max_values: usize::MAX,
    }
}

#[test]
fn every_prefix_of_a_complex_value_is_truncated() {
    let values = [
        object10(),
        typed("a.B", [("k", Value::from("v")), ("d", Value::Null)]),
        Value::EcmaArray(vec![(
            "k".into(),
            Value::StrictArray(vec![Value::Bool(true)]),
        )]),
        Value::StrictArray(vec![Value::Number(1.0), object([("", Value::Undefined)])]),
        Value::Date(Date {
            millis: 3.0,
            timezone: 1,
        }),
        Value::from("x".repeat(0x1_0000)),
        Value::XmlDocument("<x/>".into()),
    ];
    for value in values {
        let bytes = enc(&value);
        assert_eq!(dec(&bytes), Ok(value));
        for len in 0..bytes.len() {
            assert_eq!(
                dec(&bytes[..len]),
                Err(DecodeError::Truncated),
                "prefix of {len} bytes of {bytes:02x?}"
            );
        }
    }
    // A body with a reference, cut anywhere.
    let bytes = hex!("0A 00000002 03 0001 61 05 000009 07 0001");
    assert!(dec(&bytes).is_ok());
    for len in 0..bytes.len() {
        assert_eq!(dec(&bytes[..len]), Err(DecodeError::Truncated), "{len}");
    }
}

#[test]
fn lengths_past_the_end() {
    for bytes in [
        &hex!("02 FFFF 61")[..],
        &hex!("0C 00100000 6162")[..],
        &hex!("0F 00000005 3C61")[..],
        &hex!("03 FFFF 61")[..],
        &hex!("10 0100 41")[..],
        &hex!("08 FFFFFFFF 0001 61 05")[..],
    ] {
        assert_eq!(dec(bytes), Err(DecodeError::Truncated), "{bytes:02x?}");
    }
}

#[test]
fn string_limit_holds_before_reading() {
    let limits = Limits {
        max_string_bytes: 3,
        ..Limits::default()
    };
    let over = limit(Limit::AmfStringBytes, 3);
    assert_eq!(
        decode(&hex!("02 0003 616263"), &limits),
        Ok(Value::from("abc"))
    );
    for bytes in [
        &hex!("02 0004 61626364")[..],
        &hex!("0C FFFFFFFF")[..],
        &hex!("0F 00000004")[..],
        &hex!("03 0004 61626364 05 000009")[..],
        &hex!("10 0004 41424344 000009")[..],
    ] {
        assert_eq!(decode(bytes, &limits), over, "{bytes:02x?}");
    }
    // The default limit (16 MiB) stops a 4 GiB long string before the
    // length is compared with the bytes present.
    assert_eq!(
        dec(&hex!("0C FFFFFFFF 61")),
        limit(Limit::AmfStringBytes, Limits::DEFAULT_MAX_STRING_BYTES)
    );
}

#[test]
fn huge_strict_array_count() {
    let bytes = hex!("0A FFFFFFFF 05 05 05 05 05");
    assert_eq!(
        dec(&bytes),
        limit(Limit::AmfContainerLength, Limits::DEFAULT_MAX_CONTAINER_LEN)
    );
    // Without a limit, capacity is capped by the bytes left: five nulls,
    // then the body ends.
    assert_eq!(decode(&bytes, &unlimited()), Err(DecodeError::Truncated));
}

#[test]
fn container_length_limit() {
    let limits = Limits {
        max_container_len: 2,
        ..Limits::default()
    };
    let over = limit(Limit::AmfContainerLength, 2);
    let two = hex!("03 0001 61 05 0001 62 05 000009");
    assert!(decode(&two, &limits).is_ok());
    for bytes in [
        &hex!("03 0001 61 05 0001 62 05 0001 63 05 000009")[..],
        &hex!("08 00000000 0001 61 05 0001 62 05 0001 63 05 000009")[..],
        &hex!("10 0001 41 0001 61 05 0001 62 05 0001 63 05 000009")[..],
        &hex!("0A 00000003 05 05 05")[..],
    ] {
        assert_eq!(decode(bytes, &limits), over, "{bytes:02x?}");
    }
}

/// `count` nested containers, each opened by `open` and closed by `close`.
fn nested(open: &[u8], leaf: &[u8], close: &[u8], count: usize) -> Vec<u8> {
    let mut bytes = open.repeat(count);
    bytes.extend_from_slice(leaf);
    bytes.extend(close.repeat(count));
    bytes
}

#[test]
fn depth_bombs() {
    let bombs = [
        nested(&hex!("03 0001 61"), &hex!("05"), &hex!("000009"), 100_000),
        nested(&hex!("0A 00000001"), &hex!("05"), &[], 100_000),
        nested(
            &hex!("08 00000001 0001 61"),
            &hex!("05"),
            &hex!("000009"),
            100_000,
        ),
        nested(
            &hex!("10 0001 41 0001 61"),
            &hex!("05"),
            &hex!("000009"),
            100_000,
        ),
    ];
    for bomb in &bombs {
        assert_eq!(dec(bomb), limit(Limit::AmfDepth, Limits::DEFAULT_MAX_DEPTH));
        // Whatever the limits say, recursion stops at MAX_DEPTH.
        assert_eq!(
            decode(bomb, &unlimited()),
            limit(Limit::AmfDepth, MAX_DEPTH)
        );
    }
}

#[test]
fn nesting_up_to_the_depth_limit_decodes() {
    let limits = Limits {
        max_depth: 3,
        ..Limits::default()
    };
    let three = nested(&hex!("0A 00000001"), &hex!("05"), &[], 3);
    assert!(decode(&three, &limits).is_ok());
    let four = nested(&hex!("0A 00000001"), &hex!("05"), &[], 4);
    assert_eq!(decode(&four, &limits), limit(Limit::AmfDepth, 3));
}

#[test]
fn nesting_at_the_depth_cap_fits_the_stack() {
    let bytes = nested(&hex!("03 0001 61"), &hex!("05"), &hex!("000009"), MAX_DEPTH);
    let value = decode(&bytes, &unlimited()).unwrap_or(Value::Undefined);
    assert_eq!(enc(&value), bytes);
}

#[test]
fn invalid_utf8() {
    for bytes in [
        &hex!("02 0001 FF")[..],
        &hex!("02 0002 C328")[..],
        &hex!("0C 00000001 80")[..],
        &hex!("0F 00000001 FE")[..],
        &hex!("03 0001 FF 05 000009")[..],
        &hex!("10 0001 FF 000009")[..],
        &hex!("08 00000000 0002 EDA080 05 000009")[..],
    ] {
        assert_eq!(dec(bytes), Err(DecodeError::InvalidUtf8), "{bytes:02x?}");
    }
}

#[test]
fn bad_markers_inside_containers() {
    assert_eq!(
        dec(&hex!("03 0001 61 04 000009")),
        Err(DecodeError::ReservedMarker { marker: 0x04 })
    );
    assert_eq!(
        dec(&hex!("0A 00000001 0E")),
        Err(DecodeError::ReservedMarker { marker: 0x0E })
    );
    assert_eq!(
        dec(&hex!("08 00000001 0001 61 12 000009")),
        Err(DecodeError::UnknownMarker { marker: 0x12 })
    );
    assert_eq!(
        dec(&hex!("0A 00000001 09")),
        Err(DecodeError::Invalid {
            what: "object-end marker where a value is expected"
        })
    );
}

#[test]
fn references_past_the_table() {
    assert_eq!(
        dec(&hex!("07 0000")),
        Err(DecodeError::BadReference {
            table: "object",
            index: 0
        })
    );
    assert_eq!(
        dec(&hex!("0A 00000002 03 000009 07 0002")),
        Err(DecodeError::BadReference {
            table: "object",
            index: 2
        })
    );
}

#[test]
fn reference_cycles_are_errors() {
    let cycle = Err(DecodeError::Invalid {
        what: "reference cycle (an object refers to itself or an enclosing object)",
    });
    // An object holding itself.
    assert_eq!(dec(&hex!("03 0001 61 07 0000 000009")), cycle);
    // An array holding its parent.
    assert_eq!(
        dec(&hex!("0A 00000001 08 00000000 0001 61 07 0000 000009")),
        cycle
    );
}

#[test]
fn nested_references() {
    let leaf = object([("a", Value::Null)]);
    let pair = Value::StrictArray(vec![leaf.clone(), leaf.clone()]);
    // entry 0: outer array; 1: leaf; 2: pair (leaf, ref 1); then ref 2.
    assert_eq!(
        dec(&hex!(
            "0A 00000003"
            "03 0001 61 05 000009"
            "0A 00000002 07 0001 07 0001"
            "07 0002"
        )),
        Ok(Value::StrictArray(vec![leaf, pair.clone(), pair]))
    );
    // References span the values of one body, and containers opened inside
    // a copied value do not enter the table again.
    assert_eq!(
        decode_all(
            &hex!("03 0001 62 0A 00000000 000009 07 0000 07 0001 0A 00000000 07 0002"),
            &Limits::default()
        ),
        Ok(vec![
            object([("b", Value::StrictArray(vec![]))]),
            object([("b", Value::StrictArray(vec![]))]),
            Value::StrictArray(vec![]),
            Value::StrictArray(vec![]),
            Value::StrictArray(vec![]),
        ])
    );
}

#[test]
fn reference_bombs_hit_the_value_limit() {
    let limits = Limits {
        max_values: 100_000,
        ..Limits::default()
    };
    let over = limit(Limit::AmfValues, 100_000);
    // Doubling: each array holds two references to the one before, so 30
    // levels of 11 bytes would copy 2^30 values.
    let mut bytes = hex!("0A 0000001F 03 000009").to_vec();
    for level in 1u16..31 {
        bytes.extend_from_slice(&hex!("0A 00000002 07"));
        bytes.extend_from_slice(&level.to_be_bytes());
        bytes.extend_from_slice(&hex!("07"));
        bytes.extend_from_slice(&level.to_be_bytes());
    }
    assert_eq!(bytes.len(), 9 + 30 * 11);
    assert_eq!(decode(&bytes, &limits), over);
    // Many references to one large string: each copy is charged by size.
    let mut bytes = hex!("0A 00001000 03 0001 73 02 FFFF").to_vec();
    bytes.extend(std::iter::repeat_n(b'a', 0xFFFF));
    bytes.extend_from_slice(&hex!("000009"));
    bytes.extend(hex!("07 0001").repeat(0xFFF));
    assert_eq!(decode(&bytes, &limits), over);
    // The same with default limits: the doubling bomb stops at the default.
    let mut bytes = hex!("0A 0000001F 03 000009").to_vec();
    for level in 1u16..31 {
        bytes.extend_from_slice(&hex!("0A 00000002 07"));
        bytes.extend_from_slice(&level.to_be_bytes());
        bytes.extend_from_slice(&hex!("07"));
        bytes.extend_from_slice(&level.to_be_bytes());
    }
    assert_eq!(
        dec(&bytes),
        limit(Limit::AmfValues, Limits::DEFAULT_MAX_VALUES)
    );
}

#[test]
fn value_limit_counts_plain_values() {
    let limits = Limits {
        max_values: 3,
        ..Limits::default()
    };
    assert!(decode(&hex!("0A 00000002 05 05"), &limits).is_ok());
    assert_eq!(
        decode(&hex!("0A 00000003 05 05 05"), &limits),
        limit(Limit::AmfValues, 3)
    );
    assert_eq!(
        decode_all(&hex!("05 05 05 05"), &limits),
        Err(DecodeError::Limit(LimitExceeded::new(Limit::AmfValues, 3)))
    );
}

/// Keys and short string values are checked as UTF-8 a run at a time: a
/// bad byte anywhere in a run, a string over the limit inside one, and the
/// forms that end a run (an empty key, an empty value) all still read right.
#[test]
fn runs_of_short_strings() {
    assert_eq!(
        dec(&hex!(
            "03 0001 61 02 0000 0000 02 0001 62 0001 63 00 3FF0000000000000 000009"
        )),
        Ok(object([
            ("a", Value::from("")),
            ("", Value::from("b")),
            ("c", Value::Number(1.0)),
        ]))
    );
    for bytes in [
        &hex!("03 0001 61 02 0001 FF 000009")[..],
        &hex!("03 0001 61 02 0001 62 0001 FF 05 000009")[..],
        &hex!("03 0001 61 02 0002 62 C3 000009")[..],
    ] {
        assert_eq!(dec(bytes), Err(DecodeError::InvalidUtf8), "{bytes:02x?}");
    }
    let limits = Limits {
        max_string_bytes: 3,
        ..Limits::default()
    };
    for bytes in [
        &hex!("03 0001 61 02 0004 61626364 000009")[..],
        &hex!("03 0001 61 02 0001 62 0004 61626364 05 000009")[..],
    ] {
        assert_eq!(
            decode(bytes, &limits),
            limit(Limit::AmfStringBytes, 3),
            "{bytes:02x?}"
        );
    }
}
