//! AMF values to JSON and back.
//!
//! JSON's own types carry what they can: `null`, booleans, finite numbers,
//! strings, arrays (AMF dense arrays) and objects (anonymous AMF objects).
//! Everything else is a *tagged object*, a JSON object with a `"$type"`
//! member; a typed AMF object keeps its class name in `"$class"`:
//!
//! | AMF | JSON |
//! |---|---|
//! | `undefined` | `{"$type":"undefined"}` |
//! | number (NaN, ±infinity) | `{"$type":"number","value":"NaN"}` (`"Infinity"`, `"-Infinity"`) |
//! | AMF3 integer | a number (`{"$type":"int","value":5}` asks for one) |
//! | date | `{"$type":"date","value":<ms since 1970>}` (+ `"tz"` minutes if not 0) |
//! | ByteArray | `{"$type":"bytes","base64":"AAEC"}` |
//! | typed object | `{"$class":"com.example.Point","x":1,"y":2}` (+ `"$sealed"`) |
//! | object with a `$type`, `$class` or `$sealed` key | `{"$type":"object","value":{…}}` |
//! | ECMA array `0..n` | an array |
//! | other ECMA array | `{"$type":"ecma","value":{…}}` |
//! | AMF3 array with both parts | `{"$type":"array","dense":[…],"assoc":{…}}` |
//! | `Vector.<int/uint/Number/T>` | `{"$type":"vector","of":"int"\|"uint"\|"number"\|"object","class":"T","fixed":false,"items":[…]}` |
//! | Dictionary | `{"$type":"dictionary","weak":false,"entries":[[k,v],…]}` |
//! | XML, XMLDocument | `{"$type":"xml","value":"…"}`, `{"$type":"xmldocument","value":"…"}` |
//! | ArrayCollection, ObjectProxy | `{"$type":"arraycollection","items":[…]}`, `{"$type":"objectproxy","value":{…}}` |
//! | unsupported | `{"$type":"unsupported"}` |
//!
//! What does not round-trip: an AMF3 integer comes back as a number, a
//! dense ECMA array as a strict array; shared references and cycles
//! (JSON has neither) arrive as copies.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rtmp_proto::amf::{
    Date, Dictionary, MixedArray, Object, ObjectVector, Properties, Str, Value, Vector,
};
use serde_json::{Map, Number, Value as Json};

use crate::Limits;

/// The member that marks a tagged object.
pub const TYPE_KEY: &str = "$type";
/// The member holding a typed object's class name.
pub const CLASS_KEY: &str = "$class";
/// The member holding how many of a typed object's members are sealed,
/// when not all of them are.
pub const SEALED_KEY: &str = "$sealed";

/// Why a JSON value has no AMF meaning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// Nested deeper than [`Limits::max_depth`].
    #[error("value nested deeper than {0} levels")]
    TooDeep(usize),
    /// An array, object or vector longer than [`Limits::max_container_len`].
    #[error("container longer than {0} items")]
    TooLong(usize),
    /// A tagged object this mapping does not define, or one missing a member.
    #[error("bad tagged value: {0}")]
    BadTag(String),
}

/// The JSON form of `value`.
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::Undefined => tag("undefined"),
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => number(*n),
        Value::Integer(i) => Json::from(*i),
        Value::String(s) => Json::String(s.to_string()),
        Value::Date(date) => {
            let mut map = tag_map("date");
            map.insert("value".into(), number(date.millis));
            if date.timezone != 0 {
                map.insert("tz".into(), Json::from(date.timezone));
            }
            Json::Object(map)
        }
        Value::Object(object) => object_to_json(object),
        Value::EcmaArray(props) => {
            let dense = props.iter().enumerate().all(|(i, (k, _))| {
                k.parse::<usize>().ok() == Some(i) && k.as_str() == i.to_string()
            });
            if dense {
                Json::Array(props.iter().map(|(_, v)| to_json(v)).collect())
            } else {
                tagged("ecma", [("value", properties(props))])
            }
        }
        Value::StrictArray(items) => array(items),
        Value::MixedArray(mixed) => tagged(
            "array",
            [
                ("dense", array(&mixed.dense)),
                ("assoc", properties(&mixed.assoc)),
            ],
        ),
        Value::XmlDocument(s) => tagged("xmldocument", [("value", Json::String(s.to_string()))]),
        Value::Xml(s) => tagged("xml", [("value", Json::String(s.to_string()))]),
        Value::ByteArray(bytes) => {
            tagged("bytes", [("base64", Json::String(BASE64.encode(bytes)))])
        }
        Value::VectorInt(v) => vector("int", None, v.fixed, v.items.iter().map(|&i| Json::from(i))),
        Value::VectorUint(v) => vector(
            "uint",
            None,
            v.fixed,
            v.items.iter().map(|&u| Json::from(u)),
        ),
        Value::VectorDouble(v) => {
            vector("number", None, v.fixed, v.items.iter().map(|&n| number(n)))
        }
        Value::VectorObject(v) => vector(
            "object",
            Some(&v.type_name),
            v.fixed,
            v.items.iter().map(to_json),
        ),
        Value::Dictionary(d) => tagged(
            "dictionary",
            [
                ("weak", Json::Bool(d.weak_keys)),
                (
                    "entries",
                    Json::Array(
                        d.entries
                            .iter()
                            .map(|(k, v)| Json::Array(vec![to_json(k), to_json(v)]))
                            .collect(),
                    ),
                ),
            ],
        ),
        Value::ArrayCollection(items) => tagged("arraycollection", [("items", array(items))]),
        Value::ObjectProxy(props) => tagged("objectproxy", [("value", properties(props))]),
        Value::Unsupported => tag("unsupported"),
    }
}

/// The AMF value `json` means, within `limits`.
pub fn from_json(json: &Json, limits: &Limits) -> Result<Value, ValueError> {
    from_json_at(json, limits, 0)
}

fn from_json_at(json: &Json, limits: &Limits, depth: usize) -> Result<Value, ValueError> {
    Ok(match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        // Every JSON number is a float to JavaScript: an AMF Number.
        Json::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Value::String(s.as_str().into()),
        Json::Array(items) => Value::StrictArray(list(items, limits, depth)?),
        Json::Object(map) => {
            if map.contains_key(TYPE_KEY) {
                tagged_from_json(map, limits, depth)?
            } else if let Some(class) = map.get(CLASS_KEY) {
                let class = class
                    .as_str()
                    .ok_or_else(|| bad("$class is not a string"))?;
                let properties = members(
                    map.iter()
                        .filter(|(k, _)| k.as_str() != CLASS_KEY && k.as_str() != SEALED_KEY),
                    map.len(),
                    limits,
                    depth,
                )?;
                let sealed_count = match map.get(SEALED_KEY) {
                    None => properties.len(),
                    Some(n) => n
                        .as_u64()
                        .and_then(|n| usize::try_from(n).ok())
                        .filter(|&n| n <= properties.len())
                        .ok_or_else(|| bad("$sealed is not a count of the members"))?,
                };
                Value::Object(Box::new(Object {
                    class_name: Some(class.into()),
                    sealed_count,
                    properties,
                }))
            } else {
                anonymous(map, limits, depth)?
            }
        }
    })
}

fn tagged_from_json(
    map: &Map<String, Json>,
    limits: &Limits,
    depth: usize,
) -> Result<Value, ValueError> {
    let kind = map
        .get(TYPE_KEY)
        .and_then(Json::as_str)
        .ok_or_else(|| bad("$type is not a string"))?;
    let field = |name: &str| {
        map.get(name)
            .ok_or_else(|| bad(&format!("{kind} without \"{name}\"")))
    };
    let text = |name: &str| -> Result<Str, ValueError> {
        field(name)?
            .as_str()
            .map(Str::from)
            .ok_or_else(|| bad(&format!("{kind}'s \"{name}\" is not a string")))
    };
    let object_field = |name: &str| -> Result<&Map<String, Json>, ValueError> {
        field(name)?
            .as_object()
            .ok_or_else(|| bad(&format!("{kind}'s \"{name}\" is not an object")))
    };
    let array_field = |name: &str| -> Result<&Vec<Json>, ValueError> {
        field(name)?
            .as_array()
            .ok_or_else(|| bad(&format!("{kind}'s \"{name}\" is not an array")))
    };
    let flag = |name: &str| -> Result<bool, ValueError> {
        match map.get(name) {
            None => Ok(false),
            Some(Json::Bool(b)) => Ok(*b),
            Some(_) => Err(bad(&format!("{kind}'s \"{name}\" is not a boolean"))),
        }
    };
    let inner = depth + 1;
    Ok(match kind {
        "undefined" => Value::Undefined,
        "unsupported" => Value::Unsupported,
        "number" => Value::Number(match field("value")? {
            Json::Number(n) => n.as_f64().unwrap_or(f64::NAN),
            Json::String(s) => match s.as_str() {
                "NaN" => f64::NAN,
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                _ => return Err(bad("number's \"value\" is not NaN, Infinity or -Infinity")),
            },
            _ => return Err(bad("number's \"value\" is not a number")),
        }),
        "int" => Value::Integer(
            field("value")?
                .as_i64()
                .and_then(|i| i32::try_from(i).ok())
                .ok_or_else(|| bad("int's \"value\" is not a 32-bit integer"))?,
        ),
        "date" => Value::Date(Date {
            millis: field("value")?
                .as_f64()
                .ok_or_else(|| bad("date's \"value\" is not a number"))?,
            timezone: match map.get("tz") {
                None => 0,
                Some(tz) => tz
                    .as_i64()
                    .and_then(|tz| i16::try_from(tz).ok())
                    .ok_or_else(|| bad("date's \"tz\" is not a 16-bit integer"))?,
            },
        }),
        "bytes" => {
            let text = text("base64")?;
            if text.len() / 4 * 3 > limits.max_string_bytes {
                return Err(ValueError::TooLong(limits.max_string_bytes));
            }
            Value::ByteArray(
                BASE64
                    .decode(text.as_bytes())
                    .map_err(|_| bad("bytes' \"base64\" is not standard base64"))?,
            )
        }
        "object" => {
            let value = object_field("value")?;
            let properties = members(value.iter(), value.len(), limits, inner)?;
            let class_name = match map.get("class") {
                None | Some(Json::Null) => None,
                Some(Json::String(s)) => Some(Str::from(s.as_str())),
                Some(_) => return Err(bad("object's \"class\" is not a string")),
            };
            let sealed_count = if class_name.is_some() {
                properties.len()
            } else {
                0
            };
            Value::Object(Box::new(Object {
                class_name,
                sealed_count,
                properties,
            }))
        }
        "ecma" => {
            let value = object_field("value")?;
            Value::EcmaArray(members(value.iter(), value.len(), limits, inner)?)
        }
        "array" => {
            let assoc = object_field("assoc")?;
            Value::MixedArray(Box::new(MixedArray {
                dense: list(array_field("dense")?, limits, inner)?,
                assoc: members(assoc.iter(), assoc.len(), limits, inner)?,
            }))
        }
        "xml" => Value::Xml(text("value")?),
        "xmldocument" => Value::XmlDocument(text("value")?),
        "vector" => {
            let items = array_field("items")?;
            check_len(items.len(), limits)?;
            let fixed = flag("fixed")?;
            let of = text("of")?;
            let numbers = || items.iter().map(Json::as_f64);
            match of.as_str() {
                "int" => Value::VectorInt(Box::new(Vector {
                    fixed,
                    items: items
                        .iter()
                        .map(|j| j.as_i64().and_then(|i| i32::try_from(i).ok()))
                        .collect::<Option<_>>()
                        .ok_or_else(|| bad("a Vector.<int> item is not a 32-bit integer"))?,
                })),
                "uint" => Value::VectorUint(Box::new(Vector {
                    fixed,
                    items: items
                        .iter()
                        .map(|j| j.as_u64().and_then(|u| u32::try_from(u).ok()))
                        .collect::<Option<_>>()
                        .ok_or_else(|| {
                            bad("a Vector.<uint> item is not a 32-bit unsigned integer")
                        })?,
                })),
                "number" => Value::VectorDouble(Box::new(Vector {
                    fixed,
                    items: numbers()
                        .collect::<Option<_>>()
                        .ok_or_else(|| bad("a Vector.<Number> item is not a number"))?,
                })),
                "object" => Value::VectorObject(Box::new(ObjectVector {
                    fixed,
                    type_name: match map.get("class") {
                        None => Str::from("*"),
                        Some(_) => text("class")?,
                    },
                    items: list(items, limits, inner)?,
                })),
                _ => return Err(bad("vector's \"of\" is not int, uint, number or object")),
            }
        }
        "dictionary" => {
            let entries = array_field("entries")?;
            check_len(entries.len(), limits)?;
            let entries = entries
                .iter()
                .map(|entry| match entry.as_array().map(Vec::as_slice) {
                    Some([k, v]) => Ok((
                        from_json_at(k, limits, inner + 1)?,
                        from_json_at(v, limits, inner + 1)?,
                    )),
                    _ => Err(bad("a dictionary entry is not a [key, value] pair")),
                })
                .collect::<Result<_, _>>()?;
            Value::Dictionary(Box::new(Dictionary {
                weak_keys: flag("weak")?,
                entries,
            }))
        }
        "arraycollection" => Value::ArrayCollection(list(array_field("items")?, limits, inner)?),
        "objectproxy" => {
            let value = object_field("value")?;
            Value::ObjectProxy(members(value.iter(), value.len(), limits, inner)?)
        }
        other => return Err(bad(&format!("unknown $type \"{other}\""))),
    })
}

fn anonymous(map: &Map<String, Json>, limits: &Limits, depth: usize) -> Result<Value, ValueError> {
    Ok(Value::Object(Box::new(Object {
        class_name: None,
        sealed_count: 0,
        properties: members(map.iter(), map.len(), limits, depth)?,
    })))
}

fn list(items: &[Json], limits: &Limits, depth: usize) -> Result<Vec<Value>, ValueError> {
    enter(depth, limits)?;
    check_len(items.len(), limits)?;
    items
        .iter()
        .map(|item| from_json_at(item, limits, depth + 1))
        .collect()
}

fn members<'a>(
    entries: impl Iterator<Item = (&'a String, &'a Json)>,
    len: usize,
    limits: &Limits,
    depth: usize,
) -> Result<Properties, ValueError> {
    enter(depth, limits)?;
    check_len(len, limits)?;
    entries
        .map(|(k, v)| Ok((Str::from(k.as_str()), from_json_at(v, limits, depth + 1)?)))
        .collect()
}

fn enter(depth: usize, limits: &Limits) -> Result<(), ValueError> {
    if depth >= limits.max_depth {
        return Err(ValueError::TooDeep(limits.max_depth));
    }
    Ok(())
}

fn check_len(len: usize, limits: &Limits) -> Result<(), ValueError> {
    if len > limits.max_container_len {
        return Err(ValueError::TooLong(limits.max_container_len));
    }
    Ok(())
}

fn bad(what: &str) -> ValueError {
    ValueError::BadTag(what.to_owned())
}

fn object_to_json(object: &Object) -> Json {
    let reserved = |k: &Str| matches!(k.as_str(), TYPE_KEY | CLASS_KEY | SEALED_KEY);
    match &object.class_name {
        // A class name that cannot live beside the members, or a member that
        // would be read as a tag: the explicit form.
        Some(class) if !object.properties.iter().any(|(k, _)| reserved(k)) => {
            let mut map = Map::with_capacity(object.properties.len() + 2);
            map.insert(CLASS_KEY.into(), Json::String(class.to_string()));
            if object.sealed_count != object.properties.len() {
                map.insert(SEALED_KEY.into(), Json::from(object.sealed_count));
            }
            extend(&mut map, &object.properties);
            Json::Object(map)
        }
        None if !object.properties.iter().any(|(k, _)| reserved(k)) => {
            properties(&object.properties)
        }
        class => {
            let mut map = tag_map("object");
            if let Some(class) = class {
                map.insert("class".into(), Json::String(class.to_string()));
            }
            map.insert("value".into(), properties(&object.properties));
            Json::Object(map)
        }
    }
}

fn number(n: f64) -> Json {
    // Whole numbers print without a fraction (`3`, not `3.0`); JavaScript
    // reads both as the same double.
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if n.fract() == 0.0 && n.abs() < EXACT && !(n == 0.0 && n.is_sign_negative()) {
        #[expect(clippy::cast_possible_truncation, reason = "whole and below 2^53")]
        return Json::from(n as i64);
    }
    match Number::from_f64(n) {
        Some(n) => Json::Number(n),
        None => {
            let text = if n.is_nan() {
                "NaN"
            } else if n > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            };
            tagged("number", [("value", Json::String(text.into()))])
        }
    }
}

fn array(items: &[Value]) -> Json {
    Json::Array(items.iter().map(to_json).collect())
}

fn properties(props: &Properties) -> Json {
    let mut map = Map::with_capacity(props.len());
    extend(&mut map, props);
    Json::Object(map)
}

fn extend(map: &mut Map<String, Json>, props: &Properties) {
    for (k, v) in props {
        map.insert(k.to_string(), to_json(v));
    }
}

fn vector(of: &str, class: Option<&Str>, fixed: bool, items: impl Iterator<Item = Json>) -> Json {
    let mut map = tag_map("vector");
    map.insert("of".into(), Json::String(of.into()));
    if let Some(class) = class {
        map.insert("class".into(), Json::String(class.to_string()));
    }
    map.insert("fixed".into(), Json::Bool(fixed));
    map.insert("items".into(), Json::Array(items.collect()));
    Json::Object(map)
}

fn tag_map(kind: &str) -> Map<String, Json> {
    let mut map = Map::new();
    map.insert(TYPE_KEY.into(), Json::String(kind.into()));
    map
}

fn tag(kind: &str) -> Json {
    Json::Object(tag_map(kind))
}

fn tagged<const N: usize>(kind: &str, members: [(&str, Json); N]) -> Json {
    let mut map = tag_map(kind);
    for (k, v) in members {
        map.insert(k.into(), v);
    }
    Json::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn limits() -> Limits {
        Limits::default()
    }

    fn round_trip(value: Value) {
        let json = to_json(&value);
        let back = from_json(&json, &limits()).unwrap_or_else(|e| panic!("{json}: {e}"));
        // NaN is not equal to itself: compare the JSON forms then.
        assert_eq!(to_json(&back), json, "{value:?}");
        if !matches!(value, Value::Number(n) if n.is_nan()) {
            assert_eq!(back, value, "{json}");
        }
    }

    #[test]
    fn plain_values_are_plain_json() {
        let cases = [
            (Value::Null, json!(null)),
            (Value::Bool(true), json!(true)),
            (Value::Number(3.0), json!(3)),
            (Value::Number(0.5), json!(0.5)),
            (Value::Integer(-7), json!(-7)),
            (Value::from("hé"), json!("hé")),
            (
                Value::StrictArray(vec![Value::from(1.0), Value::Null]),
                json!([1, null]),
            ),
            (
                Value::object([("b", Value::from(1.0)), ("a", Value::from("x"))]),
                json!({"b": 1, "a": "x"}),
            ),
        ];
        for (value, expected) in cases {
            let got = to_json(&value);
            assert_eq!(got, expected);
            // Key order is kept.
            assert_eq!(got.to_string(), expected.to_string());
        }
    }

    #[test]
    fn every_amf_type_round_trips_but_the_documented_ones() {
        let typed = Value::Object(Box::new(Object {
            class_name: Some("com.example.Point".into()),
            sealed_count: 1,
            properties: vec![
                ("x".into(), Value::from(1.0)),
                ("y".into(), Value::from(2.0)),
            ],
        }));
        let values = [
            Value::Undefined,
            Value::Unsupported,
            Value::Number(f64::NAN),
            Value::Number(f64::INFINITY),
            Value::Number(f64::NEG_INFINITY),
            Value::Number(-0.0),
            Value::Number(1e300),
            Value::Date(Date {
                millis: 1_700_000_000_123.0,
                timezone: 0,
            }),
            Value::Date(Date {
                millis: 1.5,
                timezone: -120,
            }),
            Value::ByteArray(vec![0, 1, 2, 255]),
            typed,
            Value::object([("$type", Value::from("not a tag"))]),
            Value::Object(Box::new(Object {
                class_name: Some("C".into()),
                sealed_count: 1,
                properties: vec![("$class".into(), Value::Null)],
            })),
            Value::EcmaArray(vec![("name".into(), Value::Null)]),
            Value::MixedArray(Box::new(MixedArray {
                dense: vec![Value::Bool(false)],
                assoc: vec![("k".into(), Value::from("v"))],
            })),
            Value::XmlDocument("<a/>".into()),
            Value::Xml("<b/>".into()),
            Value::VectorInt(Box::new(Vector {
                fixed: true,
                items: vec![i32::MIN, 0, i32::MAX],
            })),
            Value::VectorUint(Box::new(Vector {
                fixed: false,
                items: vec![0, u32::MAX],
            })),
            Value::VectorDouble(Box::new(Vector {
                fixed: false,
                items: vec![0.25, 1.0],
            })),
            Value::VectorObject(Box::new(ObjectVector {
                fixed: false,
                type_name: "com.example.Point".into(),
                items: vec![Value::Null],
            })),
            Value::Dictionary(Box::new(Dictionary {
                weak_keys: true,
                entries: vec![
                    (Value::from(1.0), Value::from("one")),
                    (Value::Null, Value::Undefined),
                ],
            })),
            Value::ArrayCollection(vec![Value::from("a")]),
            Value::ObjectProxy(vec![("p".into(), Value::Bool(true))]),
        ];
        for value in values {
            round_trip(value);
        }
    }

    #[test]
    fn the_lossy_cases_are_the_documented_ones() {
        let limits = limits();
        // An AMF3 integer comes back as a number.
        assert_eq!(
            from_json(&to_json(&Value::Integer(5)), &limits),
            Ok(Value::Number(5.0))
        );
        // A dense ECMA array comes back as a strict array.
        let ecma = Value::EcmaArray(vec![("0".into(), Value::Null), ("1".into(), Value::Null)]);
        assert_eq!(to_json(&ecma), json!([null, null]));
        // But an int can be asked for.
        assert_eq!(
            from_json(&json!({"$type": "int", "value": 5}), &limits),
            Ok(Value::Integer(5))
        );
    }

    #[test]
    fn bad_tags_are_errors_not_guesses() {
        let limits = limits();
        for bad in [
            json!({"$type": "nope"}),
            json!({"$type": 3}),
            json!({"$type": "bytes", "base64": "!!"}),
            json!({"$type": "int", "value": 1e10}),
            json!({"$type": "vector", "of": "int", "items": [1.5]}),
            json!({"$type": "dictionary", "entries": [[1]]}),
            json!({"$type": "date"}),
            json!({"$class": 1}),
            json!({"$class": "C", "$sealed": 5, "a": 1}),
        ] {
            assert!(
                matches!(from_json(&bad, &limits), Err(ValueError::BadTag(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn depth_and_length_are_bounded() {
        let limits = Limits {
            max_depth: 4,
            max_container_len: 3,
            ..Limits::default()
        };
        assert!(from_json(&json!([[[1]]]), &limits).is_ok());
        assert_eq!(
            from_json(&json!([[[[[1]]]]]), &limits),
            Err(ValueError::TooDeep(4))
        );
        assert_eq!(
            from_json(&json!({"a": {"b": {"c": {"d": {}}}}}), &limits),
            Err(ValueError::TooDeep(4))
        );
        assert_eq!(
            from_json(&json!([1, 2, 3, 4]), &limits),
            Err(ValueError::TooLong(3))
        );
    }
}
