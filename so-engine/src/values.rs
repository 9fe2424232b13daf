//! What the engine needs to know about values: whether a write changes
//! anything, and how big a value is.

use rtmp_proto::amf::{Properties, Value};

/// Whether `a` and `b` would encode to the same bytes, so that writing `b`
/// over `a` changes nothing (no CHANGE to others, no version bump).
///
/// Numbers compare by bits: `-0.0` replaces `0.0` and `NaN` equals itself,
/// unlike `==`, because a client sees the difference in the first case and
/// none in the second. Different variants are different values
/// (`Integer(1)` is not `Number(1.0)`: AMF3 encodes them differently).
pub(crate) fn identical(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.to_bits() == y.to_bits(),
        (Value::Date(x), Value::Date(y)) => {
            x.millis.to_bits() == y.millis.to_bits() && x.timezone == y.timezone
        }
        (Value::Object(x), Value::Object(y)) => {
            x.class_name == y.class_name
                && x.sealed_count == y.sealed_count
                && same_properties(&x.properties, &y.properties)
        }
        (Value::EcmaArray(x), Value::EcmaArray(y))
        | (Value::ObjectProxy(x), Value::ObjectProxy(y)) => same_properties(x, y),
        (Value::StrictArray(x), Value::StrictArray(y))
        | (Value::ArrayCollection(x), Value::ArrayCollection(y)) => same_list(x, y),
        (Value::MixedArray(x), Value::MixedArray(y)) => {
            same_list(&x.dense, &y.dense) && same_properties(&x.assoc, &y.assoc)
        }
        (Value::VectorDouble(x), Value::VectorDouble(y)) => {
            x.fixed == y.fixed
                && x.items.len() == y.items.len()
                && x.items
                    .iter()
                    .zip(&y.items)
                    .all(|(p, q)| p.to_bits() == q.to_bits())
        }
        (Value::VectorObject(x), Value::VectorObject(y)) => {
            x.fixed == y.fixed && x.type_name == y.type_name && same_list(&x.items, &y.items)
        }
        (Value::Dictionary(x), Value::Dictionary(y)) => {
            x.weak_keys == y.weak_keys
                && x.entries.len() == y.entries.len()
                && x.entries
                    .iter()
                    .zip(&y.entries)
                    .all(|((k1, v1), (k2, v2))| identical(k1, k2) && identical(v1, v2))
        }
        // The remaining variants hold no floats: derived equality is exact.
        _ => a == b,
    }
}

fn same_list(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| identical(x, y))
}

fn same_properties(a: &Properties, b: &Properties) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((k1, v1), (k2, v2))| k1 == k2 && identical(v1, v2))
}

/// At least how many bytes `value` takes on the wire in either encoding:
/// AMF0, or `0x11` + AMF3 (references, which only shrink AMF3, are ignored).
/// Saturates instead of overflowing.
pub(crate) fn wire_size(value: &Value) -> usize {
    // The 0x11 switch before a top-level AMF3 value.
    estimated_size(value).saturating_add(1)
}

/// The bytes of the CHANGE event that carries `key = value` (type, length,
/// key, value): what one attribute adds to an SO's full state.
pub(crate) fn attribute_size(key: &str, value: &Value) -> usize {
    wire_size(value).saturating_add(key.len()).saturating_add(7)
}

/// An upper bound of `value`'s encoding without the top-level switch.
fn estimated_size(value: &Value) -> usize {
    // Per layout, the larger of AMF0 (marker, u16/u32 lengths, 3-byte object
    // end) and AMF3 (marker, U29 lengths of up to 4 bytes, traits).
    match value {
        Value::Undefined | Value::Null | Value::Unsupported => 1,
        Value::Bool(_) => 2,
        Value::Number(_) | Value::Integer(_) => 9,
        Value::Date(_) => 11,
        Value::String(s) | Value::XmlDocument(s) | Value::Xml(s) => s.len().saturating_add(5),
        Value::ByteArray(b) => b.len().saturating_add(5),
        Value::Object(o) => properties_size(&o.properties)
            .saturating_add(o.class_name.as_ref().map_or(0, |c| c.len()))
            .saturating_add(10),
        Value::EcmaArray(p) | Value::ObjectProxy(p) => properties_size(p).saturating_add(10),
        Value::StrictArray(items) | Value::ArrayCollection(items) => {
            list_size(items).saturating_add(10)
        }
        Value::MixedArray(m) => list_size(&m.dense)
            .saturating_add(properties_size(&m.assoc))
            .saturating_add(10),
        Value::VectorInt(v) => v.items.len().saturating_mul(4).saturating_add(6),
        Value::VectorUint(v) => v.items.len().saturating_mul(4).saturating_add(6),
        Value::VectorDouble(v) => v.items.len().saturating_mul(8).saturating_add(6),
        Value::VectorObject(v) => list_size(&v.items)
            .saturating_add(v.type_name.len())
            .saturating_add(10),
        Value::Dictionary(d) => d.entries.iter().fold(6usize, |n, (k, v)| {
            n.saturating_add(estimated_size(k))
                .saturating_add(estimated_size(v))
        }),
    }
}

fn list_size(items: &[Value]) -> usize {
    items
        .iter()
        .fold(0usize, |n, v| n.saturating_add(estimated_size(v)))
}

fn properties_size(props: &Properties) -> usize {
    props.iter().fold(0usize, |n, (k, v)| {
        n.saturating_add(k.len())
            .saturating_add(4)
            .saturating_add(estimated_size(v))
    })
}

#[cfg(test)]
mod tests {
    use rtmp_proto::amf::{Date, Vector};

    use super::*;

    #[test]
    fn numbers_compare_by_bits() {
        assert!(identical(
            &Value::Number(f64::NAN),
            &Value::Number(f64::NAN)
        ));
        assert!(!identical(&Value::Number(0.0), &Value::Number(-0.0)));
        assert!(identical(&Value::Number(1.5), &Value::Number(1.5)));
        assert!(!identical(&Value::Integer(1), &Value::Number(1.0)));
        let nested = |x: f64| Value::object([("a", Value::StrictArray(vec![Value::Number(x)]))]);
        assert!(identical(&nested(f64::NAN), &nested(f64::NAN)));
        assert!(!identical(&nested(0.0), &nested(-0.0)));
        let date = |m: f64| {
            Value::Date(Date {
                millis: m,
                timezone: 0,
            })
        };
        assert!(!identical(&date(0.0), &date(-0.0)));
        let v = |x: f64| {
            Value::VectorDouble(Box::new(Vector {
                fixed: false,
                items: vec![x],
            }))
        };
        assert!(identical(&v(f64::NAN), &v(f64::NAN)));
        assert!(!identical(&v(1.0), &v(2.0)));
    }

    #[test]
    fn property_order_matters() {
        let a = Value::object([("x", Value::from(1.0)), ("y", Value::from(2.0))]);
        let b = Value::object([("y", Value::from(2.0)), ("x", Value::from(1.0))]);
        assert!(!identical(&a, &b));
        assert!(identical(&a, &a.clone()));
    }

    #[test]
    fn sizes_bound_both_encodings() {
        assert_eq!(wire_size(&Value::Null), 2);
        assert_eq!(wire_size(&Value::from(1.0)), 10);
        assert_eq!(wire_size(&Value::from("hello")), 11);
        assert_eq!(wire_size(&Value::ByteArray(vec![0; 1000])), 1006);
        // {a: 1.0}: 0x11 + 10 + (1 + 4 + 9)
        assert_eq!(wire_size(&Value::object([("a", Value::from(1.0))])), 25);
        let huge = Value::StrictArray(vec![Value::ByteArray(vec![0; 10]); 3]);
        assert_eq!(wire_size(&huge), 1 + 10 + 3 * 15);
    }
}
