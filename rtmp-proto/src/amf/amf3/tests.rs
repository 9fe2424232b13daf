use bytes::BytesMut;

use super::*;
use crate::amf::{Limits, Value};

#[test]
fn round_trip_smoke() {
    let v = Value::object([("a", Value::from(1)), ("b", Value::from("x"))]);
    let mut out = BytesMut::new();
    encode(&v, &mut out);
    assert_eq!(decode(&out, &Limits::default()), Ok(v));
}
