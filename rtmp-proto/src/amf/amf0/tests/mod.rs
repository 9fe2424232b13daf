//! Tests of the AMF0 codec: golden bytes, round trips, hostile input.

mod avmplus;
mod golden;
mod hostile;
mod round_trip;

use bytes::BytesMut;

use crate::amf::amf0::{decode, encode};
use crate::amf::{Limits, Object, Str, Value};
use crate::error::DecodeError;

fn enc(value: &Value) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(value, &mut out);
    out.to_vec()
}

fn dec(bytes: &[u8]) -> Result<Value, DecodeError> {
    decode(bytes, &Limits::default())
}

fn object<const N: usize>(properties: [(&str, Value); N]) -> Value {
    Value::object(properties)
}

/// A typed object as the decoder builds it: every property sealed.
fn typed<const N: usize>(class: &str, properties: [(&str, Value); N]) -> Value {
    Value::Object(Box::new(Object {
        class_name: Some(Str::from(class)),
        sealed_count: N,
        properties: properties.into_iter().map(|(k, v)| (k.into(), v)).collect(),
    }))
}
