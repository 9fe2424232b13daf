//! `so-client`: watch and change RTMP Remote SharedObjects from a shell.
//!
//! ```text
//! cargo run -p adapter-tokio --example so-client -- rtmp://127.0.0.1/chat --so messages watch
//! cargo run -p adapter-tokio --example so-client -- rtmp://127.0.0.1/chat --so messages set 'topic="hi"'
//! ```
//!
//! Output is one line per event or outcome, `word arguments...`, readable by
//! people and easy to split in scripts: keys and method names are printed
//! bare when they are plain (letters, digits, `_-.:/@$`), else as JSON
//! strings; values are JSON. Diagnostics go to stderr (`RUST_LOG` for more).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use adapter_tokio::client::{Client, ClientError, ClientOptions, RemoteEvent};
use clap::{Parser, Subcommand};
use rtmp_proto::amf::{Encoding, Str, Value};
use serde_json::Value as Json;
use tokio::sync::broadcast::error::RecvError;

/// What `--help` says about exit codes (and what [`exit_code`] implements).
const EXIT_CODES: &str = "\
Output: one line per event: `connected`, `clear`, `change KEY=JSON`, `remove KEY`,
`success KEY`, `reject KEY CODE`, `message METHOD JSON-ARRAY`, `reject-send METHOD CODE`,
`status CODE LEVEL`, `version N`, `lagged N` (events missed by a slow reader), `closed REASON`.
`dump` prints `KEY=JSON` lines sorted by key; `call` prints `result JSON-ARRAY` or `error JSON`.

Exit codes:
  0  success (watch: interrupted with Ctrl-C)
  1  connection failure: refused, timed out, protocol error, connection lost
  2  usage error: bad arguments or JSON
  3  refused by the server: connect rejected, USE denied, write/remove/send denied,
     call answered with _error";

/// Watch and change RTMP Remote SharedObjects (Red5 / AMS style).
#[derive(Debug, Parser, PartialEq)]
#[command(name = "so-client", version, after_help = EXIT_CODES)]
struct Args {
    /// The server and scope: rtmp://host[:port]/app[/room...]
    url: String,
    /// The SharedObject's name (every command but `call` needs it)
    #[arg(long = "so", value_name = "NAME")]
    so: Option<String>,
    /// Use the SharedObject as persistent
    #[arg(long)]
    persistent: bool,
    /// Ask for AMF0 encoding (Flash 6-8) instead of AMF3
    #[arg(long)]
    amf0: bool,
    /// Seconds to wait for the server at each step
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    timeout: f64,
    /// What to do (default: watch)
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand, PartialEq)]
enum Command {
    /// Print every event until the connection closes or Ctrl-C
    Watch,
    /// Print the state after USE as sorted KEY=JSON lines, then exit
    Dump,
    /// Set KEY to a JSON value (null deletes) and wait for the server's answer
    Set {
        /// KEY=JSON, for example score=42 or 'name="Ann"'
        #[arg(value_name = "KEY=JSON", value_parser = parse_assignment, allow_hyphen_values = true)]
        assignment: (String, Value),
    },
    /// Delete KEY and wait for the server's answer
    Remove {
        /// The attribute name
        key: String,
    },
    /// Send METHOD(ARGS...) to every subscriber, this client included
    Send {
        /// The handler name
        method: String,
        /// Arguments, one JSON value each
        #[arg(value_name = "JSON", value_parser = parse_json, allow_hyphen_values = true)]
        args: Vec<Value>,
    },
    /// Call METHOD(ARGS...) on the server (NetConnection.call)
    Call {
        /// The method name
        method: String,
        /// Arguments, one JSON value each
        #[arg(value_name = "JSON", value_parser = parse_json, allow_hyphen_values = true)]
        args: Vec<Value>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Client(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(exit_code(&e))
        }
        Err(Failure::Refused) => ExitCode::from(3),
    }
}

/// Why the program stops early.
#[derive(Debug)]
enum Failure {
    /// The arguments do not make sense together.
    Usage(String),
    /// The client failed; [`exit_code`] maps it.
    Client(ClientError),
    /// The server refused and the outcome line already said so.
    Refused,
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Self::Client(e)
    }
}

async fn run(args: Args) -> Result<(), Failure> {
    let command = args.command.unwrap_or(Command::Watch);
    let so_name = match (&command, args.so) {
        (Command::Call { .. }, name) => name,
        (_, Some(name)) => Some(name),
        (_, None) => return Err(Failure::Usage("--so NAME is required".into())),
    };
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return Err(Failure::Usage("--timeout must be a positive number".into()));
    }
    let options = ClientOptions {
        encoding: if args.amf0 {
            Encoding::Amf0
        } else {
            Encoding::Amf3
        },
        timeout: Duration::from_secs_f64(args.timeout),
        ..ClientOptions::default()
    };
    let client = Client::connect(&args.url, options).await?;
    let so = match so_name {
        Some(name) => Some(client.shared_object(name, args.persistent).await?),
        None => None,
    };
    let outcome = match (command, so) {
        (Command::Call { method, args }, _) => match client.call(method, args).await {
            Ok(values) => {
                println!("result {}", json_array(&values));
                Ok(())
            }
            Err(ClientError::CallFailed(info)) => {
                println!("error {}", value_to_json(&info));
                Err(Failure::Refused)
            }
            Err(e) => Err(e.into()),
        },
        (_, None) => Ok(()),
        (Command::Watch, Some(so)) => watch(&client, &so).await,
        (Command::Dump, Some(so)) => {
            for line in dump_lines(&so.snapshot()) {
                println!("{line}");
            }
            Ok(())
        }
        (Command::Set { assignment }, Some(so)) => {
            let (key, value) = assignment;
            outcome(
                so.set(key.as_str(), value).await,
                || format!("success {}", name(&key)),
                &key,
            )
        }
        (Command::Remove { key }, Some(so)) => match so.remove(key.as_str()).await {
            Ok(true) => outcome(Ok(()), || format!("remove {}", name(&key)), &key),
            Ok(false) => outcome(Ok(()), || format!("absent {}", name(&key)), &key),
            Err(e) => outcome(Err(e), String::new, &key),
        },
        (Command::Send { method, args }, Some(so)) => match so.send(method.as_str(), args).await {
            Ok(()) => {
                println!("sent {}", name(&method));
                Ok(())
            }
            Err(ClientError::Denied { code }) => {
                println!("reject-send {} {code}", name(&method));
                Err(Failure::Refused)
            }
            Err(e) => Err(e.into()),
        },
    };
    client.close().await;
    outcome
}

/// Prints the line of a write's outcome: `ok_line()` or `reject KEY CODE`.
fn outcome(
    result: Result<(), ClientError>,
    ok_line: impl FnOnce() -> String,
    key: &str,
) -> Result<(), Failure> {
    match result {
        Ok(()) => {
            println!("{}", ok_line());
            Ok(())
        }
        Err(ClientError::Denied { code }) => {
            println!("reject {} {code}", name(key));
            Err(Failure::Refused)
        }
        Err(e) => Err(e.into()),
    }
}

/// Prints events until the connection closes (exit 1) or Ctrl-C (exit 0).
async fn watch(client: &Client, so: &adapter_tokio::client::SharedObject) -> Result<(), Failure> {
    let mut events = so.events();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => println!("{}", event_line(&event)),
                Err(RecvError::Lagged(missed)) => println!("lagged {missed}"),
                Err(RecvError::Closed) => {
                    let reason = client.closed().await;
                    println!("closed {}", json_string(&reason.to_string()));
                    return Err(reason.into());
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// Exit code for a client failure: 3 when the server refused, else 1.
fn exit_code(error: &ClientError) -> u8 {
    if error.is_denial() { 3 } else { 1 }
}

/// One output line for an event.
fn event_line(event: &RemoteEvent) -> String {
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
fn dump_lines(values: &BTreeMap<Str, Value>) -> Vec<String> {
    values
        .iter()
        .map(|(key, value)| format!("{}={}", name(key), value_to_json(value)))
        .collect()
}

/// A key, method or code as printed: bare when plain, else a JSON string,
/// so a line always splits at its first spaces (and a change at its first `=`).
fn name(text: &str) -> String {
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

fn json_string(text: &str) -> String {
    Json::from(text).to_string()
}

fn json_array(values: &[Value]) -> String {
    Json::Array(values.iter().map(value_to_json).collect()).to_string()
}

/// `KEY=JSON` from the command line.
fn parse_assignment(text: &str) -> Result<(String, Value), String> {
    let (key, json) = text
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=JSON, got {text:?}"))?;
    if key.is_empty() {
        return Err("the key is empty".into());
    }
    Ok((key.to_owned(), parse_json(json)?))
}

/// One JSON value from the command line.
fn parse_json(text: &str) -> Result<Value, String> {
    let json: Json =
        serde_json::from_str(text).map_err(|e| format!("invalid JSON {text:?}: {e}"))?;
    Ok(json_to_value(&json))
}

/// JSON to AMF: null → Null, numbers → Number, arrays → StrictArray,
/// objects → anonymous Object with the keys in their written order.
fn json_to_value(json: &Json) -> Value {
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
fn value_to_json(value: &Value) -> Json {
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

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(["so-client"].iter().chain(args))
    }

    #[test]
    fn arguments_parse() {
        let args =
            parse(&["rtmp://h/app", "--so", "chat", "--persistent", "--amf0"]).expect("valid");
        assert_eq!(
            args,
            Args {
                url: "rtmp://h/app".into(),
                so: Some("chat".into()),
                persistent: true,
                amf0: true,
                timeout: 10.0,
                command: None,
            }
        );
        let args = parse(&["rtmp://h/app", "--so", "c", "set", "score=-1.5"]).expect("valid");
        assert_eq!(
            args.command,
            Some(Command::Set {
                assignment: ("score".into(), Value::Number(-1.5))
            })
        );
        let args = parse(&[
            "rtmp://h/app",
            "--so",
            "c",
            "send",
            "say",
            "\"hi\"",
            "-3",
            "[1]",
        ])
        .expect("valid");
        assert_eq!(
            args.command,
            Some(Command::Send {
                method: "say".into(),
                args: vec![
                    Value::from("hi"),
                    Value::Number(-3.0),
                    Value::StrictArray(vec![Value::Number(1.0)])
                ],
            })
        );
        let args = parse(&["rtmp://h/app", "--timeout", "0.5", "call", "echo"]).expect("valid");
        assert_eq!(args.timeout, 0.5);
        assert_eq!(
            args.command,
            Some(Command::Call {
                method: "echo".into(),
                args: vec![]
            })
        );
        let args = parse(&["rtmp://h/app", "--so", "c", "remove", "k"]).expect("valid");
        assert_eq!(args.command, Some(Command::Remove { key: "k".into() }));
        assert_eq!(
            parse(&["rtmp://h/app", "--so", "c", "dump"])
                .expect("valid")
                .command,
            Some(Command::Dump)
        );
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        for args in [
            &["rtmp://h/app", "--so", "c", "set", "novalue"][..],
            &["rtmp://h/app", "--so", "c", "set", "=1"],
            &["rtmp://h/app", "--so", "c", "set", "k={bad"],
            &["rtmp://h/app", "--so", "c", "send", "m", "nope"],
            &["rtmp://h/app", "--so", "c", "frobnicate"],
            &[],
        ] {
            let error = parse(args).expect_err("invalid");
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
    }

    #[tokio::test]
    async fn missing_so_and_bad_timeout_are_usage_errors() {
        let args = parse(&["rtmp://127.0.0.1:1/app", "dump"]).expect("parses");
        assert!(matches!(run(args).await, Err(Failure::Usage(m)) if m.contains("--so")));
        let args =
            parse(&["rtmp://127.0.0.1:1/app", "--timeout", "0", "call", "x"]).expect("parses");
        assert!(matches!(run(args).await, Err(Failure::Usage(m)) if m.contains("--timeout")));
    }

    #[test]
    fn help_documents_exit_codes() {
        let help = parse(&["--help"]).expect_err("help").to_string();
        for line in [
            "Exit codes:",
            "0  success",
            "1  connection failure",
            "2  usage",
            "3  refused",
        ] {
            assert!(help.contains(line), "{line:?} in {help}");
        }
    }

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

    #[test]
    fn exit_codes_follow_who_failed() {
        let denied = ClientError::Denied {
            code: "SharedObject.NoWriteAccess".into(),
        };
        assert_eq!(exit_code(&denied), 3);
        assert_eq!(exit_code(&ClientError::Rejected("no".into())), 3);
        assert_eq!(exit_code(&ClientError::CallFailed(Value::Null)), 3);
        assert_eq!(exit_code(&ClientError::Timeout("the handshake")), 1);
        assert_eq!(exit_code(&ClientError::Disconnected), 1);
    }
}
