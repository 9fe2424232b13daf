//! Golden vectors (written by hand from the AMF 3 specification), round
//! trips and hostile inputs.

use bytes::BytesMut;

use super::*;
use crate::amf::{Limits, Value};
use crate::error::DecodeError;

mod golden;
mod hostile;
mod round_trip;
mod string_table;

fn encoded(value: &Value) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(value, &mut out);
    out.to_vec()
}

fn decoded(bytes: &[u8]) -> Result<Value, DecodeError> {
    decode(bytes, &Limits::default())
}

/// `value` encodes to exactly `bytes`, and `bytes` decode to exactly `value`.
#[track_caller]
fn both_ways(value: Value, bytes: &[u8]) {
    assert_eq!(hex(&encoded(&value)), hex(bytes), "encoding {value:?}");
    assert_eq!(decoded(bytes), Ok(value));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x} ")).collect()
}
