//! Each adapter's `so-client` CLI as a process: against the small
//! in-test server and against the demo server.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use adapter_core::client::{Client, ClientOptions};
use rtmp_proto::amf::Value;

use crate::adapter::{Adapter, PATIENCE};
use crate::harness::TestServer;
use crate::mini_server::MiniServer;

const NO_WRITE_ACCESS: &str = "SharedObject.NoWriteAccess";

fn chat_server() -> MiniServer {
    MiniServer::start(&[
        ("chat", "topic", Value::from("hi")),
        ("chat", "locked", Value::from("x")),
    ])
}

/// Runs `so-client` at `binary` with `args`: (exit code, stdout).
fn so_client(binary: &str, args: &[&str]) -> (i32, String) {
    let mut child = Command::new(binary)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("so-client runs");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
        out
    });
    let status = wait(&mut child).expect("so-client finishes in time");
    let stdout = reader.join().expect("stdout read");
    (status.code().unwrap_or(-1), stdout)
}

/// The child's exit status, if it exits within [`PATIENCE`] (else it is
/// killed).
fn wait(child: &mut Child) -> Option<ExitStatus> {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("status") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    None
}

async fn cli_end_to_end<R: Adapter>() {
    let binary = R::client_binary();
    let server = chat_server();
    let url = server.url("app");
    let run = |args: &[&str]| {
        let mut all = vec![url.as_str()];
        all.extend_from_slice(args);
        so_client(binary, &all)
    };
    assert_eq!(
        run(&["--so", "chat", "dump"]),
        (0, "locked=\"x\"\ntopic=\"hi\"\n".to_owned())
    );
    assert_eq!(
        run(&["--so", "chat", "--amf0", "set", "score=42"]),
        (0, "success score\n".to_owned())
    );
    assert_eq!(server.value("chat", "score"), Some(Value::Number(42.0)));
    assert_eq!(
        run(&["--so", "chat", "set", "locked={\"b\":1,\"a\":[true]}"]),
        (3, "reject locked SharedObject.NoWriteAccess\n".to_owned())
    );
    assert_eq!(
        run(&["--so", "chat", "remove", "score"]),
        (0, "remove score\n".to_owned())
    );
    assert_eq!(
        run(&["--so", "chat", "send", "say", "\"hi\"", "-1"]),
        (0, "sent say\n".to_owned())
    );
    assert_eq!(
        run(&["--so", "chat", "send", "forbidden"]),
        (
            3,
            "reject-send forbidden SharedObject.NoWriteAccess\n".to_owned()
        )
    );
    assert_eq!(
        run(&["call", "echo", "1", "\"a\""]),
        (0, "result [[1,\"a\"]]\n".to_owned())
    );
    assert_eq!(run(&["--so", "private.x", "dump"]), (3, String::new()));
    assert_eq!(run(&["dump"]).0, 2, "--so is missing");
    let rejected = so_client(binary, &[&server.url("reject"), "--so", "chat", "dump"]);
    assert_eq!(rejected, (3, String::new()));
}

async fn cli_watch_prints_events_until_the_connection_closes<R: Adapter>() {
    let server = chat_server();
    let mut watcher = Command::new(R::client_binary())
        .args([&server.url("app"), "--so", "chat", "watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("so-client starts");
    let stdout = watcher.stdout.take().expect("piped stdout");
    let (line_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = line_tx.send(line);
        }
    });
    let next_line = || lines.recv_timeout(PATIENCE).expect("a line in time");
    for expected in [
        "connected",
        "clear",
        "change locked=\"x\"",
        "change topic=\"hi\"",
        "version 1",
    ] {
        assert_eq!(next_line(), expected);
    }
    let writer = Client::<R>::connect(&server.url("app/room"), ClientOptions::default())
        .await
        .expect("connects");
    let so = writer.shared_object("chat", false).await.expect("use");
    so.set("live", 1.0).await.expect("accepted");
    so.send("say", vec![Value::from("hi there")])
        .await
        .expect("echoed");
    assert_eq!(next_line(), "change live=1");
    assert_eq!(next_line(), "version 2");
    assert_eq!(next_line(), "message say [\"hi there\"]");
    writer.close().await;

    server.disconnect_all();
    assert_eq!(next_line(), "closed \"the server closed the connection\"");
    let status = wait(&mut watcher).expect("so-client exits in time");
    assert_eq!(status.code(), Some(1));
}

async fn demo_cli_end_to_end<R: Adapter>() {
    let binary = R::client_binary();
    let server = TestServer::<R>::in_memory().await;
    let url = server.url("app");
    assert_eq!(
        so_client(
            binary,
            &[&url, "--so", "board", "--persistent", "set", "n=1"]
        ),
        (0, "success n\n".to_owned())
    );
    assert_eq!(
        so_client(
            binary,
            &[
                &url,
                "--so",
                "board",
                "--persistent",
                "set",
                r#"who={"b":"x","a":[1,2]}"#
            ]
        ),
        (0, "success who\n".to_owned())
    );
    assert_eq!(
        so_client(
            binary,
            &[&url, "--so", "board", "--persistent", "--amf0", "dump"]
        ),
        (0, "n=1\nwho={\"b\":\"x\",\"a\":[1,2]}\n".to_owned())
    );
    assert_eq!(
        so_client(binary, &[&url, "--so", "readonly.x", "set", "n=1"]),
        (3, format!("reject n {NO_WRITE_ACCESS}\n"))
    );
    assert_eq!(
        so_client(binary, &[&url, "--so", "forbidden.x", "dump"]).0,
        3
    );
    assert_eq!(
        so_client(binary, &[&url, "call", "echo", "7"]),
        (0, "result [7]\n".to_owned())
    );
}

suite!(
    cli_end_to_end,
    cli_watch_prints_events_until_the_connection_closes,
    demo_cli_end_to_end,
);
