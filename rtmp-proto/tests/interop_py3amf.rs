//! Interop with an AMF codec we did not write: py3amf (Python, imported as
//! `pyamf`), driven by `tests/py3amf_interop.py`.
//!
//! - py3amf encodes a corpus in AMF0 and AMF3; our decoders must read every
//!   body to the values listed here.
//! - We encode our corpus in AMF0 and AMF3; py3amf must decode every body to
//!   the Python values the script lists.
//!
//! Python comes from the virtual environment `target/interop-venv` of the
//! workspace; when it is missing, the test creates it (`python3 -m venv`,
//! then `pip install py3amf` from PyPI). Where that cannot work (Debian
//! without `python3-venv`, no network) the tests skip with one line saying
//! why, or fail under `RTMP_SO_REQUIRE_INTEROP=1` (`common/interop.rs`).
//!
//! py3amf does not implement AMF3 vectors (`0x0D`–`0x10`) or writing
//! dictionaries, so vectors are left out and dictionaries go one way only.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use bytes::BytesMut;
use rtmp_proto::amf::{Date, Dictionary, Limits, MixedArray, Object, Value, amf0, amf3};

#[allow(dead_code)]
#[path = "common/interop.rs"]
mod interop;

#[test]
fn we_decode_what_py3amf_encodes() {
    let Some(python) = interop::python_with_py3amf() else {
        return;
    };
    let output = run_script(python, "encode", None);
    let mut seen = BTreeSet::new();
    for line in output.lines() {
        let [name, encoding, body] = fields(line);
        let body = unhex(body);
        let got = match encoding {
            "amf0" => amf0::decode_all(&body, &Limits::default()),
            "amf3" => decode_all_amf3(&body),
            _ => panic!("unknown encoding in {line:?}"),
        };
        let want = py3amf_case(name, encoding == "amf3")
            .unwrap_or_else(|| panic!("no expected values for case {name}"));
        assert_eq!(got.as_ref(), Ok(&want), "case {name} ({encoding})");
        assert!(
            seen.insert((name.to_owned(), encoding.to_owned())),
            "{line}"
        );
    }
    // Every case of the script, in both encodings.
    assert_eq!(seen.len(), 2 * PY3AMF_CASES.len());
    for name in PY3AMF_CASES {
        assert!(
            seen.contains(&(name.to_string(), "amf0".to_owned())),
            "{name}"
        );
        assert!(
            seen.contains(&(name.to_string(), "amf3".to_owned())),
            "{name}"
        );
    }
}

#[test]
fn py3amf_decodes_what_we_encode() {
    let Some(python) = interop::python_with_py3amf() else {
        return;
    };
    let cases = our_cases();
    assert_eq!(cases.len(), 26);
    let mut input = String::new();
    for (name, values) in &cases {
        let mut amf0_body = BytesMut::new();
        let mut amf0_encoder = amf0::Encoder::new();
        let mut amf3_body = BytesMut::new();
        let mut amf3_encoder = amf3::Encoder::new();
        for value in values {
            if *name == "shared_amf3_strings" {
                amf0_encoder.encode_avmplus(value, &mut amf0_body);
            } else {
                amf0_encoder.encode(value, &mut amf0_body);
            }
            amf3_encoder.encode(value, &mut amf3_body);
        }
        input.push_str(&format!("{name}\tamf0\t{}\n", hex(&amf0_body)));
        input.push_str(&format!("{name}\tamf3\t{}\n", hex(&amf3_body)));
    }
    let output = run_script(python, "decode", Some(&input));
    let mut passed = 0;
    let mut failures = Vec::new();
    let mut done = None;
    for line in output.lines() {
        match line.split('\t').collect::<Vec<_>>().as_slice() {
            ["ok", _, _] => passed += 1,
            ["done", count] => done = count.parse::<usize>().ok(),
            _ => failures.push(line.to_owned()),
        }
    }
    assert!(
        failures.is_empty(),
        "py3amf disagrees:\n{}",
        failures.join("\n")
    );
    assert_eq!(done, Some(2 * cases.len()), "{output}");
    assert_eq!(passed, 2 * cases.len());
}

/// The cases `py3amf_interop.py encode` writes.
const PY3AMF_CASES: [&str; 29] = [
    "number",
    "big_number",
    "int",
    "negative_int",
    "int_past_29_bits",
    "true",
    "false",
    "null",
    "undefined",
    "empty_string",
    "string",
    "unicode",
    "long_string",
    "date",
    "object",
    "empty_object",
    "nested",
    "typed_object",
    "array",
    "empty_array",
    "mixed_array",
    "ecma_array",
    "byte_array",
    "xml",
    "array_collection",
    "object_proxy",
    "reference",
    "repeated_strings",
    "many_values",
];

const UNICODE: &str = "ünïcødé ✓ 😀";
const POINT: &str = "com.example.Point";
/// 2023-11-14T22:13:20.123Z.
const MILLIS: f64 = 1_700_000_000_123.0;

/// What py3amf's encoding of case `name` decodes to. AMF0 has only
/// numbers where AMF3 has integers, and py3amf writes typed objects as
/// dynamic traits in AMF3.
fn py3amf_case(name: &str, amf3: bool) -> Option<Vec<Value>> {
    let int = |i: i32| {
        if amf3 {
            Value::Integer(i)
        } else {
            Value::Number(f64::from(i))
        }
    };
    let one = match name {
        "number" => Value::Number(1.5),
        "big_number" => Value::Number(1e300),
        "int" => int(42),
        "negative_int" => int(-5),
        "int_past_29_bits" => Value::Number(2f64.powi(40)),
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        "undefined" => Value::Undefined,
        "empty_string" => Value::from(""),
        "string" => Value::from("hello"),
        "unicode" => Value::from(UNICODE),
        "long_string" => Value::from("x".repeat(70_000)),
        "date" => Value::Date(Date {
            millis: MILLIS,
            timezone: 0,
        }),
        "object" => Value::object([("a", int(1)), ("b", Value::from("x"))]),
        "empty_object" => Value::object::<&str>([]),
        "nested" => Value::object([
            (
                "list",
                Value::StrictArray(vec![int(1), Value::object([("k", Value::Null)])]),
            ),
            (
                "map",
                Value::EcmaArray(vec![("k".into(), Value::from("v"))]),
            ),
        ]),
        "typed_object" => Value::Object(Box::new(Object {
            class_name: Some(POINT.into()),
            sealed_count: if amf3 { 0 } else { 2 },
            properties: vec![("x".into(), int(1)), ("y".into(), int(2))],
        })),
        "array" => Value::StrictArray(vec![int(1), Value::from("a"), Value::Null]),
        "empty_array" => Value::StrictArray(vec![]),
        "mixed_array" if amf3 => Value::MixedArray(Box::new(MixedArray {
            dense: vec![Value::from("x")],
            assoc: vec![("k".into(), int(2))],
        })),
        "mixed_array" => {
            Value::EcmaArray(vec![("0".into(), Value::from("x")), ("k".into(), int(2))])
        }
        "ecma_array" => Value::EcmaArray(vec![("a".into(), int(1))]),
        "byte_array" => Value::ByteArray(vec![1, 2, 0xFF]),
        "xml" if amf3 => Value::Xml("<a b=\"1\"><c /></a>".into()),
        "xml" => Value::XmlDocument("<a b=\"1\"><c /></a>".into()),
        // Externalizable Flex classes are AMF3 only: py3amf switches to AMF3
        // inside AMF0, as we do.
        "array_collection" => Value::ArrayCollection(vec![Value::Integer(1), Value::from("two")]),
        "object_proxy" => Value::ObjectProxy(vec![("a".into(), Value::Integer(1))]),
        "reference" => {
            let shared = Value::object([("a", int(1))]);
            Value::StrictArray(vec![shared.clone(), shared])
        }
        "repeated_strings" => Value::StrictArray(vec![Value::from("hi"), Value::from("hi")]),
        "many_values" => {
            return Some(vec![
                Value::from("one"),
                int(2),
                Value::StrictArray(vec![int(3)]),
            ]);
        }
        _ => return None,
    };
    Some(vec![one])
}

/// Our corpus, each a body of values; `py3amf_interop.py` holds what
/// py3amf must decode each to.
fn our_cases() -> Vec<(&'static str, Vec<Value>)> {
    let xml = "<a><b /></a>";
    vec![
        ("number", vec![Value::Number(1.5)]),
        ("integer", vec![Value::Integer(7)]),
        ("big_number", vec![Value::Number(1e300)]),
        ("true", vec![Value::Bool(true)]),
        ("false", vec![Value::Bool(false)]),
        ("null", vec![Value::Null]),
        ("undefined", vec![Value::Undefined]),
        ("empty_string", vec![Value::from("")]),
        ("unicode", vec![Value::from(UNICODE)]),
        ("long_string", vec![Value::from("x".repeat(70_000))]),
        (
            "date",
            vec![Value::Date(Date {
                millis: MILLIS,
                timezone: 0,
            })],
        ),
        (
            "object",
            vec![Value::object([
                ("a", Value::Number(1.0)),
                ("b", Value::from("x")),
                (
                    "nested",
                    Value::object([(
                        "c",
                        Value::StrictArray(vec![Value::Integer(1), Value::Integer(2)]),
                    )]),
                ),
            ])],
        ),
        (
            "typed_object",
            vec![Value::Object(Box::new(Object {
                class_name: Some(POINT.into()),
                sealed_count: 2,
                properties: vec![
                    ("x".into(), Value::Number(1.0)),
                    ("y".into(), Value::Number(2.0)),
                ],
            }))],
        ),
        (
            "ecma_array",
            vec![Value::EcmaArray(vec![
                ("k".into(), Value::from("v")),
                ("0".into(), Value::Integer(1)),
            ])],
        ),
        (
            "strict_array",
            vec![Value::StrictArray(vec![
                Value::Integer(1),
                Value::from("a"),
                Value::Null,
            ])],
        ),
        (
            "mixed_array",
            vec![Value::MixedArray(Box::new(MixedArray {
                dense: vec![Value::from("x")],
                assoc: vec![("k".into(), Value::Integer(2))],
            }))],
        ),
        ("xml_document", vec![Value::XmlDocument(xml.into())]),
        ("xml", vec![Value::Xml(xml.into())]),
        ("byte_array", vec![Value::ByteArray(vec![1, 2, 3, 0xFF])]),
        (
            "dictionary",
            vec![Value::Dictionary(Box::new(Dictionary {
                weak_keys: false,
                entries: vec![
                    (Value::Integer(1), Value::from("one")),
                    (Value::from("two"), Value::Integer(2)),
                ],
            }))],
        ),
        (
            "array_collection",
            vec![Value::ArrayCollection(vec![
                Value::Integer(1),
                Value::from("a"),
            ])],
        ),
        (
            "object_proxy",
            vec![Value::ObjectProxy(vec![("a".into(), Value::Integer(1))])],
        ),
        ("unsupported", vec![Value::Unsupported]),
        (
            // A key AMF0 cannot write: the object goes through AMF3.
            "long_key",
            vec![Value::object([("k".repeat(70_000), Value::Integer(1))])],
        ),
        // Written with `encode_avmplus` in AMF0: one AMF3 string table spans
        // the body, so the second "hi" is a reference py3amf must resolve.
        (
            "shared_amf3_strings",
            vec![Value::from("hi"), Value::from("hi")],
        ),
        (
            "many_values",
            vec![
                Value::from("one"),
                Value::Integer(2),
                Value::StrictArray(vec![Value::Integer(3)]),
            ],
        ),
    ]
}

fn decode_all_amf3(body: &[u8]) -> Result<Vec<Value>, rtmp_proto::DecodeError> {
    let mut decoder = amf3::Decoder::new(body, &Limits::default());
    let mut values = Vec::new();
    while !decoder.is_empty() {
        values.push(decoder.decode()?);
    }
    Ok(values)
}

/// Runs the script with `python` in `mode`, feeding it `input`; its stdout.
fn run_script(python: &Path, mode: &str, input: Option<&str>) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py3amf_interop.py");
    let mut child = Command::new(python)
        .arg(&script)
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.unwrap_or_default().to_owned();
    // Written from a thread: the script's output could fill its pipe first.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("the script runs");
    writer
        .join()
        .expect("the writer thread ends")
        .expect("the script reads its input");
    assert!(
        output.status.success(),
        "py3amf_interop.py {mode} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the script prints UTF-8")
}

fn fields(line: &str) -> [&str; 3] {
    let mut parts = line.split('\t');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), Some(c), None) => [a, b, c],
        _ => panic!("malformed line from the script: {line:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .unwrap_or_else(|| panic!("bad hex from the script at {i}"))
        })
        .collect()
}
