//! `so-client`: watch and change RTMP Remote SharedObjects from a shell,
//! on any [`Runtime`]. Each adapter's `so-client` example is
//! [`main`] on its runtime.
//!
//! ```text
//! cargo run -p adapter-tokio --example so-client -- rtmp://127.0.0.1/chat --so messages watch
//! cargo run -p adapter-smol --example smol-so-client -- rtmp://127.0.0.1/chat --so messages set 'topic="hi"'
//! ```
//!
//! Output is one line per event or outcome, `word arguments...`, readable by
//! people and easy to split in scripts: keys and method names are printed
//! bare when they are plain (letters, digits, `_-.:/@$`), else as JSON
//! strings; values are JSON. Diagnostics go to stderr (`RUST_LOG` for more).

mod format;

use std::future::poll_fn;
use std::pin::pin;
use std::process::ExitCode;
use std::task::Poll;
use std::time::Duration;

use adapter_core::client::{Client, ClientError, ClientOptions, SharedObject};
use adapter_core::{Received, Runtime};
use clap::{Parser, Subcommand};
use rtmp_proto::amf::{Encoding, Value};

use self::format::{
    dump_lines, event_line, json_array, json_string, name, parse_assignment, parse_json,
    value_to_json,
};

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
pub struct Args {
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

/// The whole program: parses the command line, runs it on `R`, and says
/// how it went as the exit code (see `--help`).
pub async fn main<R: Runtime>() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match run::<R>(args).await {
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

/// What to do, checked: the URL, the client's options, the SO to use, the
/// command.
struct Plan {
    url: String,
    options: ClientOptions,
    so: Option<(String, bool)>,
    command: Command,
}

/// Checks what clap cannot: `--so` where the command needs it, a usable
/// timeout.
fn plan(args: Args) -> Result<Plan, Failure> {
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
    Ok(Plan {
        url: args.url,
        options,
        so: so_name.map(|name| (name, args.persistent)),
        command,
    })
}

async fn run<R: Runtime>(args: Args) -> Result<(), Failure> {
    let Plan {
        url,
        options,
        so,
        command,
    } = plan(args)?;
    let client = Client::<R>::connect(&url, options).await?;
    let so = match so {
        Some((name, persistent)) => Some(client.shared_object(name, persistent).await?),
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
async fn watch<R: Runtime>(client: &Client<R>, so: &SharedObject<R>) -> Result<(), Failure> {
    let mut events = so.events();
    let mut interrupted = pin!(R::termination());
    loop {
        let received = {
            let mut next = pin!(R::next_event(&mut events));
            poll_fn(|cx| {
                if interrupted.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                next.as_mut().poll(cx).map(Some)
            })
            .await
        };
        match received {
            None => return Ok(()),
            Some(Received::Item(event)) => println!("{}", event_line(&event)),
            Some(Received::Lagged(missed)) => println!("lagged {missed}"),
            Some(Received::Closed) => {
                let reason = client.closed().await;
                println!("closed {}", json_string(&reason.to_string()));
                return Err(reason.into());
            }
        }
    }
}

/// Exit code for a client failure: 3 when the server refused, else 1.
fn exit_code(error: &ClientError) -> u8 {
    if error.is_denial() { 3 } else { 1 }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn missing_so_and_bad_timeout_are_usage_errors() {
        let args = parse(&["rtmp://127.0.0.1:1/app", "dump"]).expect("parses");
        assert!(matches!(plan(args), Err(Failure::Usage(m)) if m.contains("--so")));
        let args =
            parse(&["rtmp://127.0.0.1:1/app", "--timeout", "0", "call", "x"]).expect("parses");
        assert!(matches!(plan(args), Err(Failure::Usage(m)) if m.contains("--timeout")));
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
