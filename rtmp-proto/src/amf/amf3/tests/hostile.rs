//! Hostile input: every one gives a typed error, quickly and in bounded memory.

use hex_literal::hex;

use super::round_trip::every_variant;
use super::{decoded, encoded};
use crate::amf::amf3::{MAX_DEPTH, decode};
use crate::amf::{Limits, Value};
use crate::error::{DecodeError, Limit, LimitExceeded};

fn limit(limit: Limit, max: usize) -> Result<Value, DecodeError> {
    Err(DecodeError::Limit(LimitExceeded::new(limit, max)))
}

fn generous() -> Limits {
    Limits {
        max_depth: usize::MAX,
        max_container_len: usize::MAX,
        max_string_bytes: usize::MAX,
        max_values: usize::MAX,
    }
}

fn invalid(what: &'static str) -> Result<Value, DecodeError> {
    Err(DecodeError::Invalid { what })
}

#[test]
fn every_prefix_is_truncated() {
    let bytes = encoded(&Value::StrictArray(every_variant()));
    for end in 0..bytes.len() {
        assert_eq!(
            decoded(&bytes[..end]),
            Err(DecodeError::Truncated),
            "prefix of {end}"
        );
    }
}

#[test]
fn trailing_bytes() {
    assert_eq!(
        decoded(&hex!("04 01 00 00")),
        Err(DecodeError::TrailingBytes { count: 2 })
    );
}

#[test]
fn unknown_markers() {
    for marker in 0x12..=0xFF {
        assert_eq!(
            decoded(&[marker, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::UnknownMarker { marker })
        );
    }
    assert_eq!(
        decoded(&hex!("09 03 01 12")),
        Err(DecodeError::UnknownMarker { marker: 0x12 })
    );
}

#[test]
fn references_past_the_tables() {
    let bad = |table, index| Err(DecodeError::BadReference { table, index });
    assert_eq!(decoded(&hex!("06 02")), bad("string", 1));
    assert_eq!(decoded(&hex!("06 00")), bad("string", 0));
    assert_eq!(decoded(&hex!("0a 0b 01 02 01 01")), bad("string", 1));
    assert_eq!(decoded(&hex!("0a 00")), bad("object", 0));
    assert_eq!(decoded(&hex!("09 05 01 01 09 04")), bad("object", 2));
    assert_eq!(decoded(&hex!("0c ff ff ff fe")), bad("object", 0x0FFF_FFFF));
    assert_eq!(decoded(&hex!("0a 01")), bad("trait", 0));
    assert_eq!(
        decoded(&hex!("09 05 01 0a 0b 01 01 0a 05")),
        bad("trait", 1)
    );
}

#[test]
fn cycles_are_errors() {
    let cycle = invalid("reference cycle (an object refers to itself or an enclosing object)");
    // An array holding itself.
    assert_eq!(decoded(&hex!("09 03 01 09 00")), cycle);
    // An object whose member is itself.
    assert_eq!(decoded(&hex!("0a 0b 01 03 61 0a 00 01")), cycle);
    // An object inside an array, referring to the array.
    assert_eq!(decoded(&hex!("09 03 01 0a 0b 01 03 61 09 00 01")), cycle);
    // A dictionary keyed by itself; a vector holding itself.
    assert_eq!(decoded(&hex!("11 03 00 11 00 01")), cycle);
    assert_eq!(decoded(&hex!("10 03 00 01 10 00")), cycle);
    // An ArrayCollection whose source array holds the collection.
    let bytes = [
        &hex!("0a 07 43")[..],
        b"flex.messaging.io.ArrayCollection",
        &hex!("09 03 01 0a 00"),
    ]
    .concat();
    assert_eq!(decoded(&bytes), cycle);
}

#[test]
fn depth_bombs() {
    let arrays = hex!("09 03 01").repeat(100_000);
    assert_eq!(decoded(&arrays), limit(Limit::AmfDepth, 64));
    assert_eq!(
        decode(&arrays, &generous()),
        limit(Limit::AmfDepth, MAX_DEPTH)
    );

    // Objects {a: {a: ...}} with traits and key by reference.
    let objects = [
        &hex!("0a 0b 01 03 61")[..],
        &hex!("0a 01 00").repeat(100_000),
    ]
    .concat();
    assert_eq!(decoded(&objects), limit(Limit::AmfDepth, 64));
    assert_eq!(
        decode(&objects, &generous()),
        limit(Limit::AmfDepth, MAX_DEPTH)
    );

    let dictionaries = hex!("11 03 00 01").repeat(100_000);
    assert_eq!(decoded(&dictionaries), limit(Limit::AmfDepth, 64));
    let vectors = hex!("10 03 00 01").repeat(100_000);
    assert_eq!(decoded(&vectors), limit(Limit::AmfDepth, 64));
    let limits = Limits {
        max_depth: 3,
        ..Limits::default()
    };
    assert_eq!(
        decode(&hex!("09 03 01 09 03 01 09 03 01 09 01 01"), &limits),
        limit(Limit::AmfDepth, 3)
    );
    assert!(decode(&hex!("09 03 01 09 03 01 09 01 01"), &limits).is_ok());
}

#[test]
fn nesting_at_the_depth_cap_fits_the_stack() {
    // MAX_DEPTH - 3 objects {a: ...}, then a dictionary {null: ...}, a
    // vector [...] and an array [null]: MAX_DEPTH containers.
    let mut bytes = [
        &hex!("0a 0b 01 03 61")[..],
        &hex!("0a 01 00").repeat(MAX_DEPTH - 4),
    ]
    .concat();
    bytes.extend(hex!("11 03 00 01  10 03 00 01  09 03 01 01"));
    bytes.extend(hex!("01").repeat(MAX_DEPTH - 3));
    let mut deeper = bytes.clone();
    deeper.splice(0..0, hex!("09 03 01"));
    // Run in a thread with the default 2 MiB stack of a spawned thread.
    let results = std::thread::spawn(move || {
        (
            decode(&bytes, &generous()).map(|_| ()),
            decode(&deeper, &generous()).map(|_| ()),
        )
    })
    .join()
    .unwrap();
    assert_eq!(
        results,
        (Ok(()), limit(Limit::AmfDepth, MAX_DEPTH).map(|_| ()))
    );
}

#[test]
fn huge_counts_with_no_bytes() {
    let container = limit(Limit::AmfContainerLength, Limits::DEFAULT_MAX_CONTAINER_LEN);
    let string = limit(Limit::AmfStringBytes, Limits::DEFAULT_MAX_STRING_BYTES);
    let cases: &[(&[u8], &Result<Value, DecodeError>)] = &[
        (&hex!("09 ff ff ff ff"), &container),
        (&hex!("0d ff ff ff ff 00"), &container),
        (&hex!("0e ff ff ff ff 00"), &container),
        (&hex!("0f ff ff ff ff 00"), &container),
        (&hex!("10 ff ff ff ff 00 01"), &container),
        (&hex!("11 ff ff ff ff 00"), &container),
        // Traits with 2^25 - 1 sealed members.
        (&hex!("0a ff ff ff f3 01"), &container),
        (&hex!("06 ff ff ff ff"), &string),
        (&hex!("07 ff ff ff ff"), &string),
        (&hex!("0b ff ff ff ff"), &string),
        (&hex!("0c ff ff ff ff"), &string),
    ];
    for &(bytes, expected) in cases {
        assert_eq!(&decoded(bytes), expected, "{bytes:02x?}");
        // Past the limits, the input runs out before anything large is allocated.
        assert_eq!(
            decode(bytes, &generous()),
            Err(DecodeError::Truncated),
            "{bytes:02x?}"
        );
    }
}

#[test]
fn long_dynamic_member_lists_hit_the_container_limit() {
    let limits = Limits {
        max_container_len: 2,
        ..Limits::default()
    };
    let two = hex!("0a 0b 01 03 61 01 03 62 01 01");
    assert!(decode(&two, &limits).is_ok());
    let three = hex!("0a 0b 01 03 61 01 03 62 01 03 63 01 01");
    assert_eq!(decode(&three, &limits), limit(Limit::AmfContainerLength, 2));
    // Dense and associative parts of one array count together.
    let mixed = hex!("09 05 03 61 01 01 01 01");
    assert_eq!(decode(&mixed, &limits), limit(Limit::AmfContainerLength, 2));
}

#[test]
fn invalid_utf8() {
    let cases: &[&[u8]] = &[
        &hex!("06 03 ff"),
        &hex!("06 05 c3 28"),
        &hex!("0a 0b 01 03 80 01 01"),
        &hex!("0a 0b 03 ff 01"),
        &hex!("07 03 ff"),
        &hex!("0b 03 ff"),
        &hex!("10 03 00 03 ff 01"),
    ];
    for &bytes in cases {
        assert_eq!(
            decoded(bytes),
            Err(DecodeError::InvalidUtf8),
            "{bytes:02x?}"
        );
    }
}

#[test]
fn externalizable_bodies() {
    assert_eq!(
        decoded(&hex!("0a 07 07 66 6f 6f 01")),
        invalid("externalizable class (its body format is unknown)")
    );
    let collection = |body: &[u8]| {
        decoded(
            &[
                &hex!("0a 07 43")[..],
                b"flex.messaging.io.ArrayCollection",
                body,
            ]
            .concat(),
        )
    };
    let not_dense = invalid("ArrayCollection source (not a dense array)");
    assert_eq!(collection(&hex!("01")), not_dense);
    assert_eq!(collection(&hex!("09 01 03 61 01 01")), not_dense);
    assert_eq!(collection(&hex!("09 03 03 61 01 01 01")), not_dense);
    let proxy = |body: &[u8]| {
        decoded(
            &[
                &hex!("0a 07 3b")[..],
                b"flex.messaging.io.ObjectProxy",
                body,
            ]
            .concat(),
        )
    };
    assert_eq!(
        proxy(&hex!("09 01 01")),
        invalid("ObjectProxy body (not an object)")
    );
}

#[test]
fn value_count_is_exact() {
    let three = hex!("09 05 01 01 01");
    let limits = |max_values| Limits {
        max_values,
        ..Limits::default()
    };
    assert!(decode(&three, &limits(3)).is_ok());
    assert_eq!(decode(&three, &limits(2)), limit(Limit::AmfValues, 2));
}

#[test]
fn reference_bombs_are_charged_at_full_size() {
    // [level 0, ..., level 20]: level 0 is an array of 1,000 nulls (U29
    // 0x7d1), level n is [ref level n-1, ref level n-1], level k having
    // object index k + 1: 2^n x 1,000 values from 7 bytes each.
    let mut bytes = hex!("09 2b 01  09 8f 51 01").to_vec();
    bytes.extend([0x01; 1000]);
    for level in 1..=20u8 {
        bytes.extend([0x09, 0x05, 0x01, 0x09, level << 1, 0x09, level << 1]);
    }
    assert_eq!(
        decoded(&bytes),
        limit(Limit::AmfValues, Limits::DEFAULT_MAX_VALUES)
    );

    // [1 MiB string, 100,000 references to it]: 100,001 elements is U29
    // 0x30d43, the length 2^20 is U29 0x200001.
    let mut bytes = hex!("09 8c 9a 43 01  06 80 c0 80 01").to_vec();
    bytes.resize(bytes.len() + (1 << 20), b'a');
    bytes.extend(hex!("06 00").repeat(100_000));
    assert_eq!(
        decoded(&bytes),
        limit(Limit::AmfValues, Limits::DEFAULT_MAX_VALUES)
    );
}

#[test]
fn truncated_u29_and_fixed_fields() {
    for bytes in [
        &hex!("04 80")[..],
        &hex!("04 ff ff ff"),
        &hex!("05 00 00"),
        &hex!("08 01 00"),
        &hex!("0d 03"),
        &hex!("0d 03 00 00 00 00"),
        &[],
    ] {
        assert_eq!(decoded(bytes), Err(DecodeError::Truncated), "{bytes:02x?}");
    }
}

#[test]
fn any_non_zero_fixed_byte_is_fixed() {
    let fixed = decoded(&hex!("0d 01 07")).unwrap();
    assert!(matches!(fixed, Value::VectorInt(v) if v.fixed && v.items.is_empty()));
}

/// Dynamic members are checked as UTF-8 a run at a time: references (to
/// keys and values) inside a run, the empty value, a bad byte and a bad
/// reference in a run all read as one string at a time would.
#[test]
fn runs_of_short_strings() {
    assert_eq!(
        decoded(&hex!("0a 0b 01 03 61 06 03 62 03 63 06 02 00 06 01 01")),
        Ok(Value::object([
            ("a", Value::from("b")),
            ("c", Value::from("b")),
            ("a", Value::from("")),
        ]))
    );
    assert_eq!(
        decoded(&hex!("0a 0b 01 03 61 06 03 ff 01")),
        Err(DecodeError::InvalidUtf8)
    );
    assert_eq!(
        decoded(&hex!("0a 0b 01 03 61 06 08 01")),
        Err(DecodeError::BadReference {
            table: "string",
            index: 4
        })
    );
    let limits = Limits {
        max_string_bytes: 1,
        ..Limits::default()
    };
    assert_eq!(
        decode(&hex!("0a 0b 01 03 61 06 05 62 62 01"), &limits),
        limit(Limit::AmfStringBytes, 1)
    );
}
