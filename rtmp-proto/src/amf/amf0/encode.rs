//! The AMF0 encoder: [`Value`] trees to wire bytes (the module docs list
//! every choice it makes).

use bytes::{BufMut, BytesMut};

use super::marker;
use crate::amf::{Object, Str, Value, amf3};

/// Encodes the values of one message body; values that AMF0 cannot express
/// go through one AMF3 encoder, whose reference tables span the body.
#[derive(Debug, Default)]
pub struct Encoder {
    /// Made at the first value that needs it: most bodies have none.
    amf3: Option<Box<amf3::Encoder>>,
}

impl Encoder {
    /// An encoder with empty reference tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Plain AMF0. Values AMF0 cannot express are written as 0x11 + AMF3
    /// (ByteArray, Vectors, Dictionary, E4X Xml, ArrayCollection, ObjectProxy,
    /// MixedArray); Integer is written as an AMF0 number.
    pub fn encode(&mut self, value: &Value, out: &mut BytesMut) {
        match value {
            Value::Undefined => out.put_u8(marker::UNDEFINED),
            Value::Null => out.put_u8(marker::NULL),
            Value::Bool(b) => out.put_slice(&[marker::BOOLEAN, u8::from(*b)]),
            Value::Number(n) => put_number(out, *n),
            Value::Integer(i) => put_number(out, f64::from(*i)),
            Value::String(s) => put_string(out, s),
            Value::Date(date) => {
                out.reserve(11);
                out.put_u8(marker::DATE);
                out.put_f64(date.millis);
                out.put_i16(date.timezone);
            }
            Value::Object(object) => self.object(object, value, out),
            Value::EcmaArray(properties) => match shallow_size(properties) {
                Some(size) => {
                    out.reserve(size.saturating_add(5));
                    out.put_u8(marker::ECMA_ARRAY);
                    // A hint only (see the module docs).
                    out.put_u32(u32::try_from(properties.len()).unwrap_or(u32::MAX));
                    self.properties(properties, out);
                }
                None => self.encode_avmplus(value, out),
            },
            Value::StrictArray(items) => match u32::try_from(items.len()) {
                Ok(len) => {
                    out.reserve(5);
                    out.put_u8(marker::STRICT_ARRAY);
                    out.put_u32(len);
                    for item in items {
                        self.encode(item, out);
                    }
                }
                Err(_) => out.put_u8(marker::UNSUPPORTED),
            },
            Value::XmlDocument(s) => match u32::try_from(s.len()) {
                Ok(len) => {
                    out.reserve(s.len().saturating_add(5));
                    out.put_u8(marker::XML_DOCUMENT);
                    out.put_u32(len);
                    out.put_slice(s.as_bytes());
                }
                Err(_) => out.put_u8(marker::UNSUPPORTED),
            },
            Value::Unsupported => out.put_u8(marker::UNSUPPORTED),
            Value::MixedArray(_)
            | Value::Xml(_)
            | Value::ByteArray(_)
            | Value::VectorInt(_)
            | Value::VectorUint(_)
            | Value::VectorDouble(_)
            | Value::VectorObject(_)
            | Value::Dictionary(_)
            | Value::ArrayCollection(_)
            | Value::ObjectProxy(_) => self.encode_avmplus(value, out),
        }
    }

    /// 0x11 + AMF3, the form Red5 writes in AMF3 messages (type 16/17/15 values).
    pub fn encode_avmplus(&mut self, value: &Value, out: &mut BytesMut) {
        out.put_u8(marker::AVMPLUS);
        self.amf3
            .get_or_insert_with(Box::default)
            .encode(value, out);
    }

    /// An anonymous object (`0x03`) or a typed object (`0x10`); as AMF3 when
    /// its class name or a key does not fit AMF0's 16-bit length.
    fn object(&mut self, object: &Object, value: &Value, out: &mut BytesMut) {
        let Some(size) = shallow_size(&object.properties) else {
            return self.encode_avmplus(value, out);
        };
        match &object.class_name {
            None => {
                out.reserve(size.saturating_add(1));
                out.put_u8(marker::OBJECT);
            }
            Some(name) => {
                let Ok(len) = u16::try_from(name.len()) else {
                    return self.encode_avmplus(value, out);
                };
                out.reserve(size.saturating_add(name.len()).saturating_add(3));
                out.put_u8(marker::TYPED_OBJECT);
                out.put_u16(len);
                out.put_slice(name.as_bytes());
            }
        }
        self.properties(&object.properties, out);
    }

    /// `(key value)*`, the empty key and `0x09`. Every key fits 16 bits
    /// ([`shallow_size`] checked).
    fn properties(&mut self, properties: &[(Str, Value)], out: &mut BytesMut) {
        for (key, value) in properties {
            let key = key.as_bytes();
            out.put_u16(u16::try_from(key.len()).unwrap_or(u16::MAX));
            out.put_slice(key);
            // The common leaves inline, saving a call per property.
            match value {
                Value::Number(n) => put_number(out, *n),
                Value::String(s) => put_string(out, s),
                _ => self.encode(value, out),
            }
        }
        out.put_slice(&[0x00, 0x00, marker::OBJECT_END]);
    }
}

/// Encodes one AMF0 value with a fresh encoder.
pub fn encode(value: &Value, out: &mut BytesMut) {
    Encoder::new().encode(value, out);
}

fn put_number(out: &mut BytesMut, n: f64) {
    let mut bytes = [marker::NUMBER; 9];
    let (_, tail) = bytes.split_at_mut(1);
    tail.copy_from_slice(&n.to_be_bytes());
    out.put_slice(&bytes);
}

/// A string (`0x02`), a long string (`0x0C`) past 65,535 bytes, or
/// "unsupported" past 4 GiB, which no RTMP message can carry.
fn put_string(out: &mut BytesMut, s: &str) {
    let bytes = s.as_bytes();
    if let Ok(len) = u16::try_from(bytes.len()) {
        out.reserve(bytes.len().saturating_add(3));
        let [high, low] = len.to_be_bytes();
        out.put_slice(&[marker::STRING, high, low]);
    } else if let Ok(len) = u32::try_from(bytes.len()) {
        out.reserve(bytes.len().saturating_add(5));
        out.put_u8(marker::LONG_STRING);
        out.put_u32(len);
    } else {
        return out.put_u8(marker::UNSUPPORTED);
    }
    out.put_slice(bytes);
}

/// An estimate of the encoded size of `properties` and their end marker
/// (the keys, and [`VALUE_ESTIMATE`] bytes per value: a number, a short
/// string), or `None` when a key does not fit AMF0's 16-bit length.
///
/// Values are not looked at: that would cost as much as the writes it
/// saves. Longer values reserve for themselves.
fn shallow_size(properties: &[(Str, Value)]) -> Option<usize> {
    // Plain additions: the lengths are of strings in memory, whose sum
    // cannot come near `usize::MAX`.
    let mut size = 3;
    for (key, _) in properties {
        let key = key.len();
        if key > usize::from(u16::MAX) {
            return None;
        }
        size += 2 + key + VALUE_ESTIMATE;
    }
    Some(size)
}

/// Bytes reserved per property value: a number takes 9, a string of up to
/// 13 bytes 16.
const VALUE_ESTIMATE: usize = 16;
