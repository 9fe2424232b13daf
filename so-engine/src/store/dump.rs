//! A store's contents as text, for people (the "print a store" command).

use std::fmt::{self, Write as _};

use rtmp_proto::amf::{Date, Properties, Value};

use super::LoadReport;

/// Renders what a load found: one block per SO (scope, name, version, then
/// `key = value` lines), then the entries that could not be read.
///
/// ```text
/// [app/room] chat  version 7
///   n = 1
///   s = "hi"
///   "" = "the empty key"
/// ```
///
/// Values are written as [`ValueText`] shows them. Names and keys are bare
/// when they are plain words, else quoted like JSON strings.
pub fn dump(report: &LoadReport) -> String {
    let mut out = String::new();
    for (i, (so, snapshot)) in report.snapshots.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        // Writing into a `String` cannot fail.
        let _ = write!(out, "[{}] ", so.scope);
        write_name(&mut out, &so.name);
        let _ = writeln!(out, "  version {}", snapshot.version);
        for (key, value) in &snapshot.values {
            out.push_str("  ");
            write_name(&mut out, key);
            let _ = writeln!(out, " = {}", ValueText(value));
        }
    }
    if report.snapshots.is_empty() {
        out.push_str("(no shared objects)\n");
    }
    for entry in &report.set_aside {
        let _ = writeln!(out, "unreadable: {entry}");
    }
    out
}

/// Shows a [`Value`] JSON-like: JSON for what JSON has (`null`, `true`,
/// numbers, strings, `[..]`, `{..}`), and a type name in front of the rest
/// (`Date(2023-11-14T22:13:20.123Z)`, `ByteArray(01 ff)`,
/// `Vector.<int>[1, 2]`, `com.example.Point {"x": 1}`, ...). Integers are
/// written without a fraction, numbers with one (`1` versus `1.0`).
#[derive(Debug, Clone, Copy)]
pub struct ValueText<'a>(pub &'a Value);

impl fmt::Display for ValueText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_value(f, self.0)
    }
}

/// Bytes of a ByteArray shown before the rest is elided.
const BYTES_SHOWN: usize = 32;

fn write_value(f: &mut fmt::Formatter<'_>, value: &Value) -> fmt::Result {
    match value {
        Value::Undefined => f.write_str("undefined"),
        Value::Null => f.write_str("null"),
        Value::Unsupported => f.write_str("unsupported"),
        Value::Bool(b) => write!(f, "{b}"),
        Value::Number(n) => write_number(f, *n),
        Value::Integer(i) => write!(f, "{i}"),
        Value::String(s) => write_quoted(f, s),
        Value::Date(date) => write_date(f, *date),
        Value::Object(object) => {
            if let Some(class) = &object.class_name {
                write!(f, "{class} ")?;
            }
            write_properties(f, &object.properties)
        }
        Value::EcmaArray(properties) => {
            f.write_str("Array")?;
            write_properties(f, properties)
        }
        Value::StrictArray(items) => write_items(f, items),
        Value::MixedArray(array) => {
            f.write_str("Array[")?;
            write_list(f, &array.dense)?;
            f.write_str("; ")?;
            write_pairs(f, &array.assoc)?;
            f.write_str("]")
        }
        Value::XmlDocument(s) => {
            f.write_str("XMLDocument(")?;
            write_quoted(f, s)?;
            f.write_str(")")
        }
        Value::Xml(s) => {
            f.write_str("XML(")?;
            write_quoted(f, s)?;
            f.write_str(")")
        }
        Value::ByteArray(bytes) => {
            f.write_str("ByteArray(")?;
            for (i, byte) in bytes.iter().take(BYTES_SHOWN).enumerate() {
                let sep = if i > 0 { " " } else { "" };
                write!(f, "{sep}{byte:02x}")?;
            }
            if bytes.len() > BYTES_SHOWN {
                write!(f, " … {} bytes", bytes.len())?;
            }
            f.write_str(")")
        }
        Value::VectorInt(v) => {
            write_vector_head(f, "int", v.fixed)?;
            write_numbers(f, v.items.iter().map(|i| f64::from(*i)))
        }
        Value::VectorUint(v) => {
            write_vector_head(f, "uint", v.fixed)?;
            write_numbers(f, v.items.iter().map(|i| f64::from(*i)))
        }
        Value::VectorDouble(v) => {
            write_vector_head(f, "Number", v.fixed)?;
            f.write_str("[")?;
            for (i, n) in v.items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_number(f, *n)?;
            }
            f.write_str("]")
        }
        Value::VectorObject(v) => {
            let type_name = if v.type_name.is_empty() {
                "*"
            } else {
                &v.type_name
            };
            write_vector_head(f, type_name, v.fixed)?;
            write_items(f, &v.items)
        }
        Value::Dictionary(d) => {
            f.write_str(if d.weak_keys {
                "Dictionary(weak){"
            } else {
                "Dictionary{"
            })?;
            for (i, (key, value)) in d.entries.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_value(f, key)?;
                f.write_str(": ")?;
                write_value(f, value)?;
            }
            f.write_str("}")
        }
        Value::ArrayCollection(items) => {
            f.write_str("ArrayCollection")?;
            write_items(f, items)
        }
        Value::ObjectProxy(properties) => {
            f.write_str("ObjectProxy")?;
            write_properties(f, properties)
        }
    }
}

/// `1.0`, `-0.0`, `1e300`, `NaN`, `Infinity`: always visibly a double.
fn write_number(f: &mut fmt::Formatter<'_>, n: f64) -> fmt::Result {
    if n.is_nan() {
        f.write_str("NaN")
    } else if n.is_infinite() {
        f.write_str(if n > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        write!(f, "{n:?}")
    }
}

/// Vector items are integers: written without a fraction.
fn write_numbers(f: &mut fmt::Formatter<'_>, items: impl Iterator<Item = f64>) -> fmt::Result {
    f.write_str("[")?;
    for (i, n) in items.enumerate() {
        let sep = if i > 0 { ", " } else { "" };
        write!(f, "{sep}{n}")?;
    }
    f.write_str("]")
}

fn write_vector_head(f: &mut fmt::Formatter<'_>, type_name: &str, fixed: bool) -> fmt::Result {
    write!(f, "Vector.<{type_name}>")?;
    if fixed {
        f.write_str("(fixed)")?;
    }
    Ok(())
}

fn write_items(f: &mut fmt::Formatter<'_>, items: &[Value]) -> fmt::Result {
    f.write_str("[")?;
    write_list(f, items)?;
    f.write_str("]")
}

fn write_list(f: &mut fmt::Formatter<'_>, items: &[Value]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_value(f, item)?;
    }
    Ok(())
}

fn write_properties(f: &mut fmt::Formatter<'_>, properties: &Properties) -> fmt::Result {
    f.write_str("{")?;
    write_pairs(f, properties)?;
    f.write_str("}")
}

fn write_pairs(f: &mut fmt::Formatter<'_>, properties: &Properties) -> fmt::Result {
    for (i, (key, value)) in properties.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_quoted(f, key)?;
        f.write_str(": ")?;
        write_value(f, value)?;
    }
    Ok(())
}

/// A JSON string literal.
fn write_quoted(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() => write!(f, "\\u{:04x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// A name or key, bare when that cannot be misread.
fn write_name(out: &mut String, name: &str) {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"\"=[]{}".contains(c));
    if plain {
        out.push_str(name);
    } else {
        let _ = write_quoted(out, name);
    }
}

/// ISO 8601 in UTC for dates JavaScript can hold, the raw number otherwise.
fn write_date(f: &mut fmt::Formatter<'_>, date: Date) -> fmt::Result {
    // ECMA-262 §21.4.1.1: a Date holds ±8.64e15 ms around the epoch.
    const MAX_MILLIS: f64 = 8.64e15;
    if date.millis.is_nan() || date.millis.abs() > MAX_MILLIS {
        f.write_str("Date(")?;
        write_number(f, date.millis)?;
        return f.write_str(")");
    }
    // In range, so the cast is exact after `floor`.
    let millis = date.millis.floor() as i64;
    let days = millis.div_euclid(86_400_000);
    let of_day = millis.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    write!(
        f,
        "Date({year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z)",
        of_day / 3_600_000,
        of_day / 60_000 % 60,
        of_day / 1000 % 60,
        of_day % 1000
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use rtmp_proto::amf::{Dictionary, MixedArray, Object, ObjectVector, Vector};

    use super::*;
    use crate::io::Snapshot;
    use crate::store::{SetAside, SnapshotError, StoreError};
    use crate::types::{ScopePath, SoKey};

    fn text(value: Value) -> String {
        ValueText(&value).to_string()
    }

    #[test]
    fn values_render_readably() {
        let cases: Vec<(Value, &str)> = vec![
            (Value::Undefined, "undefined"),
            (Value::Null, "null"),
            (Value::Unsupported, "unsupported"),
            (Value::Bool(true), "true"),
            (Value::Number(1.0), "1.0"),
            (Value::Number(-0.0), "-0.0"),
            (Value::Number(0.1), "0.1"),
            (Value::Number(1e300), "1e300"),
            (Value::Number(f64::NAN), "NaN"),
            (Value::Number(f64::NEG_INFINITY), "-Infinity"),
            (Value::Integer(-7), "-7"),
            ("a \"q\" \\ \n\u{1}é".into(), r#""a \"q\" \\ \n\u0001é""#),
            (
                Value::Date(Date {
                    millis: 1_700_000_000_123.0,
                    timezone: 0,
                }),
                "Date(2023-11-14T22:13:20.123Z)",
            ),
            (
                Value::Date(Date {
                    millis: -1.0,
                    timezone: 0,
                }),
                "Date(1969-12-31T23:59:59.999Z)",
            ),
            (
                Value::Date(Date {
                    millis: 951_782_400_000.0,
                    timezone: 0,
                }),
                "Date(2000-02-29T00:00:00.000Z)",
            ),
            (
                Value::Date(Date {
                    millis: f64::NAN,
                    timezone: 0,
                }),
                "Date(NaN)",
            ),
            (
                Value::object([("a", 1.into()), ("b", Value::object([("c", Value::Null)]))]),
                r#"{"a": 1, "b": {"c": null}}"#,
            ),
            (
                Value::Object(Box::new(Object {
                    class_name: Some("com.example.Point".into()),
                    sealed_count: 1,
                    properties: vec![("x".into(), 1.5.into())],
                })),
                r#"com.example.Point {"x": 1.5}"#,
            ),
            (
                Value::EcmaArray(vec![("k".into(), "v".into())]),
                r#"Array{"k": "v"}"#,
            ),
            (
                Value::StrictArray(vec![1.into(), "x".into()]),
                r#"[1, "x"]"#,
            ),
            (
                Value::MixedArray(Box::new(MixedArray {
                    dense: vec![1.into()],
                    assoc: vec![("k".into(), 2.into())],
                })),
                r#"Array[1; "k": 2]"#,
            ),
            (Value::XmlDocument("<a/>".into()), r#"XMLDocument("<a/>")"#),
            (Value::Xml("<b/>".into()), r#"XML("<b/>")"#),
            (Value::ByteArray(vec![0, 0xAB]), "ByteArray(00 ab)"),
            (
                Value::VectorInt(Box::new(Vector {
                    fixed: true,
                    items: vec![-1, 2],
                })),
                "Vector.<int>(fixed)[-1, 2]",
            ),
            (
                Value::VectorUint(Box::new(Vector {
                    fixed: false,
                    items: vec![u32::MAX],
                })),
                "Vector.<uint>[4294967295]",
            ),
            (
                Value::VectorDouble(Box::new(Vector {
                    fixed: false,
                    items: vec![0.5, 2.0],
                })),
                "Vector.<Number>[0.5, 2.0]",
            ),
            (
                Value::VectorObject(Box::new(ObjectVector {
                    fixed: false,
                    type_name: "".into(),
                    items: vec![Value::Null],
                })),
                "Vector.<*>[null]",
            ),
            (
                Value::Dictionary(Box::new(Dictionary {
                    weak_keys: true,
                    entries: vec![(1.into(), "one".into())],
                })),
                r#"Dictionary(weak){1: "one"}"#,
            ),
            (
                Value::ArrayCollection(vec![true.into()]),
                "ArrayCollection[true]",
            ),
            (
                Value::ObjectProxy(vec![("p".into(), Value::Null)]),
                r#"ObjectProxy{"p": null}"#,
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(text(value), expected);
        }
        let long = text(Value::ByteArray(vec![1; 40]));
        assert!(long.ends_with("01 01 … 40 bytes)"), "{long}");
    }

    #[test]
    fn a_report_renders_one_block_per_object() {
        let scope = ScopePath::new("app/room").unwrap();
        let report = LoadReport {
            snapshots: vec![
                (
                    SoKey::new(scope.clone(), "chat"),
                    Snapshot {
                        version: 7,
                        values: vec![
                            ("".into(), "empty key".into()),
                            ("n".into(), 1.into()),
                            ("two words".into(), Value::Null),
                        ],
                    },
                ),
                (SoKey::new(scope, "a b"), Snapshot::default()),
            ],
            set_aside: vec![SetAside {
                location: "scope \"app\", SO \"x\"".into(),
                moved_to: Some("table unreadable_shared_objects".into()),
                reason: StoreError::Corrupt(SnapshotError::BadMagic),
            }],
        };
        assert_eq!(
            dump(&report),
            "[app/room] chat  version 7\n  \"\" = \"empty key\"\n  n = 1\n  \
             \"two words\" = null\n\n[app/room] \"a b\"  version 0\n\
             unreadable: scope \"app\", SO \"x\": unreadable snapshot: not a snapshot (bad magic) \
             (moved to table unreadable_shared_objects)\n"
        );
        assert_eq!(dump(&LoadReport::default()), "(no shared objects)\n");
    }
}
