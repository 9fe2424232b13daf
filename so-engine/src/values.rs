//! What the engine needs to know about values beyond
//! [`Value::identical`](rtmp_proto::amf::Value::identical): how big a value is.

use rtmp_proto::amf::{Properties, Value};

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

    /// What the engine asks of a write: does it change anything.
    fn identical(a: &Value, b: &Value) -> bool {
        a.identical(b)
    }

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
