//! The encoder's string references against a model of the peer's table (a
//! plain list of every non-empty string read, AMF 3 §3.8): every reference
//! must carry the index the decoder assigned, and every repeat must be a
//! reference (the so-engine snapshot format relies on strings written once).

use bytes::BytesMut;

use super::{Decoder, Encoder, decoded, encoded, hex};
use crate::amf::{Limits, Str, Value};

/// The bytes the AMF3 spec gives for `values`, each an array whose members
/// are strings: a strict array of strings, or an ECMA array whose keys and
/// values are strings. `table` is the peer's string table, carried across
/// values as one body carries it.
fn model(values: &[Value], table: &mut Vec<String>) -> Vec<u8> {
    let mut out = Vec::new();
    for value in values {
        out.push(0x09);
        match value {
            Value::StrictArray(items) => {
                u29(&mut out, (items.len() as u32) << 1 | 1);
                out.push(0x01);
                for item in items {
                    let Value::String(s) = item else {
                        panic!("model: {item:?}")
                    };
                    out.push(0x06);
                    model_string(&mut out, s, table);
                }
            }
            Value::EcmaArray(members) => {
                out.push(0x01);
                for (key, value) in members {
                    let Value::String(s) = value else {
                        panic!("model: {value:?}")
                    };
                    model_string(&mut out, key, table);
                    out.push(0x06);
                    model_string(&mut out, s, table);
                }
                out.push(0x01);
            }
            _ => panic!("model: {value:?}"),
        }
    }
    out
}

fn model_string(out: &mut Vec<u8>, s: &Str, table: &mut Vec<String>) {
    if s.is_empty() {
        return out.push(0x01);
    }
    match table.iter().position(|t| t == s) {
        Some(index) => u29(out, (index as u32) << 1),
        None => {
            u29(out, (s.len() as u32) << 1 | 1);
            out.extend_from_slice(s.as_bytes());
            table.push(s.to_string());
        }
    }
}

/// AMF 3 §1.3.1, written out again for the model.
fn u29(out: &mut Vec<u8>, v: u32) {
    match v {
        0..0x80 => out.push(v as u8),
        0x80..0x4000 => out.extend([(v >> 7) as u8 | 0x80, v as u8 & 0x7F]),
        0x4000..0x20_0000 => out.extend([
            (v >> 14) as u8 | 0x80,
            (v >> 7) as u8 | 0x80,
            v as u8 & 0x7F,
        ]),
        _ => panic!("model: u29 {v}"),
    }
}

/// Strings that stress the table: short and long (past the one-byte
/// header), equal length and equal first and last bytes, prefixes of each
/// other, and the empty string.
fn pool(n: usize) -> Vec<String> {
    let mut pool = vec![String::new(), "a".into(), "b".into(), "ab".into()];
    for i in 0..n {
        pool.push(match i % 5 {
            0 => format!("a{i}z"),
            1 => format!("a{}z", i + 1000),
            2 => format!("key{i}"),
            3 => format!("{}{i}", "x".repeat(60 + i % 8)),
            _ => format!("{i}{}", "é".repeat(i % 40)),
        });
    }
    pool
}

/// A reproducible pick of `count` strings of `pool` (an LCG: no RNG crate
/// needed, and the same sequence on every run).
fn picks(pool: &[String], count: usize, seed: u64) -> Vec<Value> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            Value::from(pool[(state >> 33) as usize % pool.len()].as_str())
        })
        .collect()
}

#[track_caller]
fn matches_model(values: &[Value]) {
    let mut encoder = Encoder::new();
    let mut out = BytesMut::new();
    for value in values {
        encoder.encode(value, &mut out);
    }
    let want = model(values, &mut Vec::new());
    assert_eq!(hex(&out), hex(&want));
    let mut decoder = Decoder::new(&out, &Limits::default());
    for value in values {
        assert_eq!(decoder.decode().as_ref(), Ok(value));
    }
    assert!(decoder.is_empty());
}

#[test]
fn references_carry_the_peers_index() {
    // Pools from under the list's 32 strings to well past it, where the
    // hash index takes over mid-body.
    for (pool_size, count, seed) in [(6, 40, 1), (24, 80, 2), (40, 120, 3), (150, 600, 4)] {
        let items = picks(&pool(pool_size), count, seed);
        matches_model(&[Value::StrictArray(items)]);
    }
}

#[test]
fn references_carry_the_peers_index_across_calls() {
    // One body of several values: later values refer to earlier ones,
    // whose strings the encoder copied out of the output it was given.
    for (pool_size, seed) in [(10, 5), (30, 6), (80, 7)] {
        let pool = pool(pool_size);
        let values: Vec<Value> = (0..5)
            .map(|i| Value::StrictArray(picks(&pool, 10 + 7 * i, seed + i as u64)))
            .collect();
        matches_model(&values);
    }
}

#[test]
fn keys_and_values_share_the_table() {
    // Keys (no marker, via the member loop) and string values refer to
    // each other. Keys are distinct within an array; values repeat them.
    let pool = pool(60);
    let keys: Vec<&String> = pool.iter().filter(|s| !s.is_empty()).collect();
    let values = picks(&pool, 3 * keys.len(), 8);
    let arrays: Vec<Value> = values
        .chunks(keys.len() / 2)
        .map(|chunk| {
            let members = keys.iter().zip(chunk);
            Value::EcmaArray(
                members
                    .map(|(k, v)| (Str::from(k.as_str()), v.clone()))
                    .collect(),
            )
        })
        .collect();
    matches_model(&arrays);
}

#[test]
fn a_repeat_at_every_position_of_the_list() {
    // 40 distinct strings, then each one again: references to index 0..39,
    // whether the string was first written short or long, before or after
    // the list filled up.
    for long in [false, true] {
        let strings: Vec<Value> = (0..40)
            .map(|i| {
                let tail = if long { "y".repeat(70) } else { String::new() };
                Value::from(format!("s{i}{tail}"))
            })
            .collect();
        for repeat in 0..40 {
            let mut items = strings.clone();
            items.insert(20, strings[repeat].clone());
            items.push(strings[repeat].clone());
            let value = Value::StrictArray(items);
            assert_eq!(
                hex(&encoded(&value)),
                hex(&model(std::slice::from_ref(&value), &mut Vec::new()))
            );
            assert_eq!(decoded(&encoded(&value)), Ok(value));
        }
    }
}
