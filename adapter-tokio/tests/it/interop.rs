//! Interop with software we did not write: librtmp (the C library, driven
//! from Python through python-librtmp) as a client of our server, and
//! tshark's RTMP dissector reading a capture of the whole exchange.
//!
//! Python comes from the workspace's `target/interop-venv` (which `.ci/run`
//! prepares); when python-librtmp is missing there, the test installs it
//! with pip (it builds against the system's `librtmp-dev`). tshark must be
//! installed and able to capture on the loopback interface (`.ci/run`
//! installs it; capturing needs root or the `wireshark` group). The test
//! never skips: a missing tool is a failure that says what to install.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use rtmp_proto::amf::{Encoding, Value};
use rtmp_proto::message::shared_object::SoEvent;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::client::{PATIENCE, TestClient, change, set};
use crate::harness::{TempDir, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librtmp_talks_to_the_server_and_tshark_reads_every_message() {
    let python = python();
    let dir = TempDir::new();
    let server = TestServer::start(dir.path()).await;
    let port = server.addr.port();
    let capture_dir = TempDir::new();
    std::fs::create_dir_all(capture_dir.path()).unwrap();
    let capture_file = capture_dir.path().join("capture.pcapng");
    let capture = Capture::start(port, &capture_file).await;

    let mut ours = TestClient::connect(&server.url("app"), Encoding::Amf3).await;
    ours.use_so("interop", false).await;

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/librtmp_interop.py");
    let mut librtmp = tokio::process::Command::new(python)
        .arg(&script)
        .arg(server.url("app"))
        .arg("interop")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python starts");
    let mut lines = BufReader::new(librtmp.stdout.take().unwrap()).lines();
    let mut next = async || -> (String, serde_json::Value) {
        let line = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .expect("librtmp answers in time")
            .unwrap()
            .expect("a line before the script ends");
        let (tag, value) = line.split_once('\t').unwrap_or((&line, "null"));
        (tag.to_owned(), serde_json::from_str(value).unwrap())
    };

    // librtmp's handshake and connect, then its USE, answered in AMF0.
    assert_eq!(next().await, ("connected".into(), json!(true)));
    assert_eq!(
        next().await,
        (
            "use".into(),
            json!(["interop", 1, [["use_success"], ["clear"]]])
        )
    );
    // librtmp writes: SUCCESS to it, CHANGE to us (AMF3).
    assert_eq!(
        next().await,
        (
            "write".into(),
            json!(["interop", 2, [["success", "from_librtmp"]]])
        )
    );
    assert_eq!(
        ours.next_so().await.events,
        [change("from_librtmp", "hello from C")]
    );
    assert_eq!(next().await.0, "ready");
    // We write: librtmp gets the CHANGE.
    ours.send_so("interop", false, vec![set("from_rust", 42.0)])
        .await;
    assert_eq!(
        ours.next_so().await.events,
        [SoEvent::Success {
            key: "from_rust".into()
        }]
    );
    assert_eq!(
        next().await,
        (
            "change".into(),
            json!(["interop", 3, [["change", "from_rust", 42.0]]])
        )
    );
    // A call through librtmp's own invoke path.
    assert_eq!(next().await, ("echo".into(), json!(["ping", 7.0])));
    let status = tokio::time::timeout(PATIENCE, librtmp.wait())
        .await
        .expect("the script ends")
        .unwrap();
    assert!(status.success(), "librtmp script: {status:?}");
    assert_eq!(
        ours.call("echo", vec![Value::from("still here")]).await,
        Ok(vec![Value::from("still here")])
    );

    capture.stop().await;
    let dissected = tshark(&[
        "-r",
        &capture_file.to_string_lossy(),
        "-d",
        &format!("tcp.port=={port},rtmpt"),
        "-Y",
        "rtmpt",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "tcp.srcport",
        "-e",
        "rtmpt.header.typeid",
        "-e",
        "amf.string",
    ]);
    let server_prefix = format!("{port}|");
    let (server_rows, client_rows): (Vec<&str>, Vec<&str>) = dissected
        .lines()
        .partition(|row| row.starts_with(&server_prefix));
    // connect and its _result, decoded field by field.
    assert!(
        client_rows
            .iter()
            .any(|r| r.contains("0x14") && r.contains("connect,app,app,tcUrl")),
        "{dissected}"
    );
    assert!(
        server_rows.iter().any(|r| r.contains("_result")
            && r.contains("NetConnection.Connect.Success")
            && r.contains("objectEncoding")),
        "{dissected}"
    );
    // SharedObject messages both ways, and the echo's answer.
    assert!(
        client_rows.iter().any(|r| r.contains("0x13")),
        "{dissected}"
    );
    assert!(
        server_rows.iter().any(|r| r.contains("0x13")),
        "{dissected}"
    );
    assert!(
        server_rows
            .iter()
            .any(|r| r.contains("_result") && r.contains("ping")),
        "{dissected}"
    );
    // Every RTMP message framed: nothing malformed, no dissector errors.
    let problems = tshark(&[
        "-r",
        &capture_file.to_string_lossy(),
        "-d",
        &format!("tcp.port=={port},rtmpt"),
        "-Y",
        "_ws.malformed || _ws.expert.severity >= error",
    ]);
    assert_eq!(problems.trim(), "", "tshark found problems:\n{problems}");
    server.stop().await;
}

/// A tshark capture of one port on the loopback interface.
struct Capture {
    child: tokio::process::Child,
}

impl Capture {
    async fn start(port: u16, file: &Path) -> Self {
        let mut child = tokio::process::Command::new("tshark")
            .args(["-i", "lo", "-f", &format!("tcp port {port}"), "-q", "-w"])
            .arg(file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("tshark is installed (see .ci/run)");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let started = tokio::time::timeout(PATIENCE, async {
            let mut said = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("Capturing on") {
                    return Ok(());
                }
                said.push_str(&line);
                said.push('\n');
            }
            Err(said)
        })
        .await;
        match started {
            Ok(Ok(())) => {}
            Ok(Err(said)) => {
                panic!("tshark cannot capture on lo (root or the wireshark group needed):\n{said}")
            }
            Err(_) => panic!("tshark did not start capturing"),
        }
        // Keep reading its stderr so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child }
    }

    /// Stops the capture (SIGINT, so that the file is complete).
    async fn stop(mut self) {
        // Packets of the last exchange may still be in the capture buffer.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let pid = self.child.id().expect("tshark runs");
        let _ = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status();
        let _ = tokio::time::timeout(PATIENCE, self.child.wait()).await;
    }
}

fn tshark(args: &[&str]) -> String {
    let output = Command::new("tshark")
        .args(args)
        .output()
        .expect("tshark runs");
    assert!(
        output.status.success(),
        "tshark {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The venv's Python with python-librtmp importable, set up once per run.
fn python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(set_up_python) {
        Ok(python) => python,
        Err(e) => {
            panic!("cannot set up Python with python-librtmp (needs librtmp-dev, see .ci/run): {e}")
        }
    }
}

fn set_up_python() -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/interop-venv");
    let python = venv.join("bin/python");
    if imports_librtmp(&python) {
        return Ok(python);
    }
    if !python.exists() {
        check(
            Command::new("python3")
                .arg("-m")
                .arg("venv")
                .arg(&venv)
                .output(),
            "python3 -m venv target/interop-venv",
        )?;
    }
    check(
        Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "python-librtmp",
            ])
            .output(),
        "pip install python-librtmp",
    )?;
    if imports_librtmp(&python) {
        Ok(python)
    } else {
        Err(format!(
            "{} cannot import librtmp after installing it",
            python.display()
        ))
    }
}

fn imports_librtmp(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import librtmp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn check(output: std::io::Result<Output>, what: &str) -> Result<(), String> {
    match output {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )),
        Err(e) => Err(format!("{what}: {e}")),
    }
}
