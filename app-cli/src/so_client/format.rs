//! The CLI's output and input formats: one line per event, `KEY=JSON`
//! dumps, and JSON to AMF and back.

use std::collections::BTreeMap;

use adapter_core::client::RemoteEvent;
use rtmp_proto::amf::{Str, Value};
use serde_json::Value as Json;

/// One output line for an event.
pub(crate) fn event_line(event: &RemoteEvent) -> String {
    match event {
        RemoteEvent::Connected => "connected".into(),
        RemoteEvent::Cleared => "clear".into(),
        RemoteEvent::Changed { key, value } => {
            format!("change {}={}", name(key), value_to_json(value))
        }
        RemoteEvent::Removed { key } => format!("remove {}", name(key)),
        RemoteEvent::Accepted { key } => format!("success {}", name(key)),
        RemoteEvent::Rejected { key, code } => format!("reject {} {}", name(key), name(code)),
        RemoteEvent::Message { method, args } => {
            format!("message {} {}", name(method), json_array(args))
        }
        RemoteEvent::SendRejected { method, code } => {
            format!("reject-send {} {}", name(method), name(code))
        }
        RemoteEvent::Status { code, level } => format!("status {} {}", name(code), name(level)),
        RemoteEvent::Version(version) => format!("version {version}"),
        other => format!("event {}", json_string(&format!("{other:?}"))),
    }
}

/// `KEY=JSON` lines, sorted by key.
pub(crate) fn dump_lines(values: &BTreeMap<Str, Value>) -> Vec<String> {
    values
        .iter()
        .map(|(key, value)| format!("{}={}", name(key), value_to_json(value)))
        .collect()
}

/// A key, method or code as printed: bare when plain, else a JSON string,
/// so a line always splits at its first spaces (and a change at its first `=`).
pub(crate) fn name(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:/@$".contains(c));
    if plain {
        text.to_owned()
    } else {
        json_string(text)
    }
}

pub(crate) fn json_string(text: &str) -> String {
    Json::from(text).to_string()
}

pub(crate) fn json_array(values: &[Value]) -> String {
    Json::Array(values.iter().map(value_to_json).collect()).to_string()
}

/// `KEY=JSON` from the command line.
pub(crate) fn parse_assignment(text: &str) -> Result<(String, Value), String> {
    let (key, json) = text
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=JSON, got {text:?}"))?;
    if key.is_empty() {
        return Err("the key is empty".into());
    }
    Ok((key.to_owned(), parse_json(json)?))
}

/// One JSON value from the command line.
pub(crate) fn parse_json(text: &str) -> Result<Value, String> {
    let json: Json =
        serde_json::from_str(text).map_err(|e| format!("invalid JSON {text:?}: {e}"))?;
    Ok(json_to_value(&json))
}

/// JSON to AMF: null → Null, numbers → Number, arrays → StrictArray,
/// objects → anonymous Object with the keys in their written order.
pub(crate) fn json_to_value(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => Value::StrictArray(items.iter().map(json_to_value).collect()),
        Json::Object(members) => Value::object(
            members
                .iter()
                .map(|(k, v)| (Str::from(k.as_str()), json_to_value(v))),
        ),
    }
}

/// AMF to JSON, for display. Whole numbers print without a fraction;
/// what JSON has no form for is written as an object with a `$` key:
/// `{"$date": ms}`, `{"$bytes": "hex"}`, `{"$class": name, ...}` for typed
/// objects, `{"$dictionary": [[key, value], ...]}`; NaN and infinities as
/// strings; undefined and "unsupported" as null; XML as its text.
pub(crate) fn value_to_json(value: &Value) -> Json {
    match value {
        Value::Undefined | Value::Null | Value::Unsupported => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => number(*n),
        Value::Integer(i) => Json::from(*i),
        Value::String(s) | Value::XmlDocument(s) | Value::Xml(s) => Json::from(s.as_str()),
        Value::Date(date) => tagged("$date", number(date.millis)),
        Value::Object(object) => {
            let mut members = serde_json::Map::new();
            if let Some(class) = &object.class_name {
                members.insert("$class".into(), Json::from(class.as_str()));
            }
            for (key, value) in &object.properties {
                members.insert(key.to_string(), value_to_json(value));
            }
            Json::Object(members)
        }
        Value::EcmaArray(properties) | Value::ObjectProxy(properties) => Json::Object(
            properties
                .iter()
                .map(|(k, v)| (k.to_string(), value_to_json(v)))
                .collect(),
        ),
        Value::StrictArray(items) | Value::ArrayCollection(items) => {
            Json::Array(items.iter().map(value_to_json).collect())
        }
        Value::MixedArray(mixed) => {
            let dense = mixed
                .dense
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), value_to_json(v)));
            let assoc = mixed
                .assoc
                .iter()
                .map(|(k, v)| (k.to_string(), value_to_json(v)));
            Json::Object(dense.chain(assoc).collect())
        }
        Value::ByteArray(bytes) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            tagged("$bytes", Json::from(hex))
        }
        Value::VectorInt(v) => Json::Array(v.items.iter().map(|&i| Json::from(i)).collect()),
        Value::VectorUint(v) => Json::Array(v.items.iter().map(|&i| Json::from(i)).collect()),
        Value::VectorDouble(v) => Json::Array(v.items.iter().map(|&n| number(n)).collect()),
        Value::VectorObject(v) => Json::Array(v.items.iter().map(value_to_json).collect()),
        Value::Dictionary(dictionary) => {
            let entries = dictionary
                .entries
                .iter()
                .map(|(k, v)| Json::Array(vec![value_to_json(k), value_to_json(v)]))
                .collect();
            tagged("$dictionary", Json::Array(entries))
        }
    }
}

/// A JSON number; whole numbers within ±2⁵³ without a fraction.
fn number(n: f64) -> Json {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if n.fract() == 0.0 && n.abs() <= EXACT && !(n == 0.0 && n.is_sign_negative()) {
        return Json::from(n as i64);
    }
    match serde_json::Number::from_f64(n) {
        Some(number) => Json::Number(number),
        None if n.is_nan() => Json::from("NaN"),
        None if n > 0.0 => Json::from("Infinity"),
        None => Json::from("-Infinity"),
    }
}

fn tagged(tag: &str, value: Json) -> Json {
    let mut members = serde_json::Map::new();
    members.insert(tag.into(), value);
    Json::Object(members)
}

#[cfg(test)]
mod tests {
    use rtmp_proto::amf::{Date, Dictionary, MixedArray, Object, Vector};

    use super::*;

    #[test]
    fn json_to_amf_keeps_order_and_types() {
        let value = parse_json(r#"{"z": 1, "a": [true, null, "s"], "m": {"y": 2.5, "b": {}}}"#)
            .expect("valid");
        assert_eq!(
            value,
            Value::object([
                ("z", Value::Number(1.0)),
                (
                    "a",
                    Value::StrictArray(vec![Value::Bool(true), Value::Null, Value::from("s")])
                ),
                (
                    "m",
                    Value::object([
                        ("y", Value::Number(2.5)),
                        ("b", Value::object(Vec::<(Str, Value)>::new())),
                    ])
                ),
            ])
        );
        assert_eq!(parse_json("null"), Ok(Value::Null));
        assert_eq!(
            parse_json("12345678901"),
            Ok(Value::Number(12_345_678_901.0))
        );
        assert!(parse_json("").is_err());
        assert!(parse_json("1 2").is_err());
    }

    #[test]
    fn amf_to_json_round_trips_json_values() {
        for text in [
            r#"{"z":1,"a":[true,null,"s"],"m":{"y":2.5,"b":{}}}"#,
            "[-3,0,1e300]",
            r#""é \"quoted\"""#,
        ] {
            let json: Json = serde_json::from_str(text).expect("valid");
            assert_eq!(value_to_json(&json_to_value(&json)), json, "{text}");
        }
    }

    #[test]
    fn amf_only_values_have_a_json_form() {
        let typed = Value::Object(Box::new(Object {
            class_name: Some("Point".into()),
            sealed_count: 2,
            properties: vec![
                ("x".into(), Value::Integer(1)),
                ("y".into(), Value::Number(0.5)),
            ],
        }));
        let cases = [
            (typed, r#"{"$class":"Point","x":1,"y":0.5}"#),
            (
                Value::Date(Date {
                    millis: 1_700_000_000_000.0,
                    timezone: 0,
                }),
                r#"{"$date":1700000000000}"#,
            ),
            (Value::ByteArray(vec![0, 0xAB]), r#"{"$bytes":"00ab"}"#),
            (
                Value::MixedArray(Box::new(MixedArray {
                    dense: vec![Value::from("a")],
                    assoc: vec![("k".into(), Value::Bool(false))],
                })),
                r#"{"0":"a","k":false}"#,
            ),
            (
                Value::VectorInt(Box::new(Vector {
                    fixed: false,
                    items: vec![-1, 2],
                })),
                "[-1,2]",
            ),
            (
                Value::Dictionary(Box::new(Dictionary {
                    weak_keys: false,
                    entries: vec![(Value::Integer(1), Value::from("one"))],
                })),
                r#"{"$dictionary":[[1,"one"]]}"#,
            ),
            (
                Value::EcmaArray(vec![("b".into(), Value::Null)]),
                r#"{"b":null}"#,
            ),
            (Value::Undefined, "null"),
            (Value::Xml("<a/>".into()), r#""<a/>""#),
            (Value::Number(f64::NAN), r#""NaN""#),
            (Value::Number(f64::NEG_INFINITY), r#""-Infinity""#),
            (Value::Number(-0.0), "-0.0"),
            (Value::Number(42.0), "42"),
            (Value::Number(0.1), "0.1"),
        ];
        for (value, expected) in cases {
            assert_eq!(value_to_json(&value).to_string(), expected, "{value:?}");
        }
    }

    #[test]
    fn event_lines() {
        let cases = [
            (RemoteEvent::Connected, "connected"),
            (RemoteEvent::Cleared, "clear"),
            (
                RemoteEvent::Changed {
                    key: "score".into(),
                    value: Value::Number(42.0),
                },
                "change score=42",
            ),
            (
                RemoteEvent::Changed {
                    key: "two words".into(),
                    value: Value::from("a b"),
                },
                r#"change "two words"="a b""#,
            ),
            (RemoteEvent::Removed { key: "k".into() }, "remove k"),
            (RemoteEvent::Accepted { key: "k".into() }, "success k"),
            (
                RemoteEvent::Rejected {
                    key: "locked".into(),
                    code: "SharedObject.NoWriteAccess".into(),
                },
                "reject locked SharedObject.NoWriteAccess",
            ),
            (
                RemoteEvent::Message {
                    method: "say".into(),
                    args: vec![Value::from("hi"), Value::Integer(3)],
                },
                r#"message say ["hi",3]"#,
            ),
            (
                RemoteEvent::SendRejected {
                    method: "shout".into(),
                    code: "SharedObject.NoWriteAccess".into(),
                },
                "reject-send shout SharedObject.NoWriteAccess",
            ),
            (
                RemoteEvent::Status {
                    code: "SharedObject.NoReadAccess".into(),
                    level: "error".into(),
                },
                "status SharedObject.NoReadAccess error",
            ),
            (RemoteEvent::Version(7), "version 7"),
        ];
        for (event, line) in cases {
            assert_eq!(event_line(&event), line);
        }
    }

    #[test]
    fn names_are_bare_only_when_plain() {
        assert_eq!(name("a.b-c_d:e/f@g$h9"), "a.b-c_d:e/f@g$h9");
        assert_eq!(name("a=b"), r#""a=b""#);
        assert_eq!(name(""), r#""""#);
        assert_eq!(name("é"), r#""é""#);
        assert_eq!(name("tab\there"), r#""tab\there""#);
    }

    #[test]
    fn dump_is_sorted_key_json_lines() {
        let values: BTreeMap<Str, Value> = [
            ("topic", Value::from("hi")),
            ("a b", Value::Bool(true)),
            ("n", Value::Number(1.5)),
        ]
        .into_iter()
        .map(|(k, v)| (Str::from(k), v))
        .collect();
        assert_eq!(
            dump_lines(&values),
            [r#""a b"=true"#, "n=1.5", r#"topic="hi""#]
        );
    }
}
