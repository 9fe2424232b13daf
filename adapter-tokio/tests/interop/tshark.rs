//! Wireshark's RTMP dissector (`tshark`) reads a capture of a test run:
//! our server and our client in both encodings, a rejected connect,
//! SharedObject traffic including a message of many chunks, calls.
//!
//! It must frame every message both sides wrote: per TCP stream and
//! direction, the list of messages tshark dissects (type, length) is
//! exactly the list our chunk decoder reads from the same captured bytes,
//! with no malformed packet and no dissector warning. And it must decode
//! `connect`, its `_result` (`NetConnection.Connect.Success`) and the
//! rejection's `_error`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use adapter_tokio::client::{Client, ClientError, ClientOptions};
use rtmp_proto::amf::{Encoding, Value};
use rtmp_proto::chunk::{Decoder, DecoderLimits};
use serde_json::Value as Json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UdpSocket;
use tokio::process::Child;
use tokio::sync::mpsc;

use crate::harness::{TempDir, TestServer};
use crate::interop;

/// The longest wait for tshark to start or stop capturing.
const PATIENCE: Duration = Duration::from_secs(15);
/// The big value's length: past the server's 4096-byte chunks and past
/// the dissector's default reassembly limit (`rtmpt.max_packet_size`,
/// 32768), which the test raises.
const BIG: usize = 40_000;
/// The dissector's reassembly limit the test sets: room for `BIG`.
const MAX_PACKET_SIZE: usize = 65_536;
/// Handshake bytes before the chunk stream: C0+C1+C2 from the client,
/// S0+S1+S2 from the server.
const HANDSHAKE_LEN: usize = 1 + 2 * 1536;

/// Message type ids (docs/PROTOCOL.md §3, §4, §5).
const SET_CHUNK_SIZE: u8 = 0x01;
const USER_CONTROL: u8 = 0x04;
const WINDOW_ACK_SIZE: u8 = 0x05;
const SET_PEER_BANDWIDTH: u8 = 0x06;
const SO_AMF3: u8 = 0x10;
const COMMAND_AMF3: u8 = 0x11;
const SO_AMF0: u8 = 0x13;
const COMMAND_AMF0: u8 = 0x14;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tshark_frames_every_message_and_decodes_connect() {
    let Some(tshark) = interop::tshark() else {
        return;
    };
    let data = TempDir::new();
    let server = TestServer::start(data.path()).await;
    let port = server.addr.port();
    let work = TempDir::new();
    std::fs::create_dir_all(work.path()).expect("a directory for the capture");
    let file = work.path().join("run.pcapng");

    let capture = Capture::start(tshark, port, &file).await;
    run_clients(&server).await;
    capture.stop().await;
    server.stop().await;

    let streams = dissect(tshark, port, &file);
    // The rejected connect, then our AMF0 and AMF3 clients.
    assert_eq!(streams.len(), 3, "TCP streams: {:?}", streams.keys());
    for (id, stream) in &streams {
        for (side, pdus) in [("client", &stream.client), ("server", &stream.server)] {
            let ours = our_framing(&stream.bytes(side));
            let theirs: Vec<(u8, usize)> = pdus
                .iter()
                .filter_map(|pdu| pdu.message.as_ref().map(|m| (m.type_id, m.length)))
                .collect();
            assert_eq!(
                theirs, ours,
                "stream {id}, {side} side: tshark's messages (left) against ours (right)"
            );
            let handshake: Vec<&str> = pdus.iter().filter_map(|p| p.handshake.as_deref()).collect();
            let expected = match side {
                "client" => ["Handshake C0+C1", "Handshake C2"].as_slice(),
                _ => ["Handshake S0+S1+S2"].as_slice(),
            };
            assert_eq!(handshake, expected, "stream {id}, {side} side");
        }
        assert_eq!(stream.problems, Vec::<String>::new(), "stream {id}");
    }

    let mut streams = streams.into_values();
    let (Some(rejected), Some(amf0), Some(amf3)) = (streams.next(), streams.next(), streams.next())
    else {
        unreachable!("three streams, counted above")
    };

    // The rejected connect: `connect`, then only the `_error`.
    let (connect, rest) = rejected.client_commands();
    assert_eq!(connect.strings[..3], ["connect", "app", "reject"]);
    assert_eq!(rest, []);
    let refusal = rejected.server_messages();
    assert_eq!(refusal.len(), 1, "{refusal:?}");
    assert_eq!(refusal[0].type_id, COMMAND_AMF0);
    assert_eq!(refusal[0].strings[0], "_error");
    assert!(
        has(refusal[0], "NetConnection.Connect.Rejected"),
        "{refusal:?}"
    );

    // Both accepted connects: `connect` (AMF0 whatever the encoding), and
    // the server's answer as docs/PROTOCOL.md §3.3 has it: Window Ack Size, Set Peer
    // Bandwidth, Set Chunk Size, StreamBegin, then the `_result`.
    for stream in [&amf0, &amf3] {
        let (connect, _) = stream.client_commands();
        assert_eq!(connect.strings[..3], ["connect", "app", "interop"]);
        let server = stream.server_messages();
        let prelude: Vec<u8> = server.iter().take(5).map(|m| m.type_id).collect();
        assert_eq!(
            prelude,
            [
                WINDOW_ACK_SIZE,
                SET_PEER_BANDWIDTH,
                SET_CHUNK_SIZE,
                USER_CONTROL,
                COMMAND_AMF0
            ]
        );
        assert_eq!(server[4].strings[0], "_result");
        assert!(
            has(server[4], "NetConnection.Connect.Success"),
            "{server:?}"
        );
        assert_eq!(stream.server_commands()[0].strings[0], "_result");
    }

    // The SO messages and calls after `connect`, each a whole message of
    // the connection's encoding (type 19 for AMF0, 16 for AMF3; lengths
    // from docs/PROTOCOL.md §5 layout for the SO "chat").
    let (_, amf0_requests) = amf0.client_commands();
    assert_eq!(
        amf0_requests,
        [
            (SO_AMF0, 23),       // USE
            (SO_AMF0, BIG + 31), // REQUEST_CHANGE big = AMF0 string
            (SO_AMF0, 44),       // SEND_MESSAGE newMessage("hello")
        ]
    );
    assert_eq!(
        amf0.server_commands()[1..]
            .iter()
            .map(|m| (m.type_id, m.length))
            .collect::<Vec<_>>(),
        [
            (SO_AMF0, 28), // USE_SUCCESS, CLEAR
            (SO_AMF0, 28), // SUCCESS big
            (SO_AMF0, 44), // SEND_MESSAGE, echoed to the sender
        ]
    );
    let (_, amf3_requests) = amf3.client_commands();
    assert_eq!(
        amf3_requests,
        [
            (SO_AMF3, 24),      // USE
            (COMMAND_AMF3, 26), // echo("hello")
        ]
    );
    let amf3_answers = amf3.server_commands();
    assert_eq!(
        amf3_answers[1..]
            .iter()
            .map(|m| (m.type_id, m.length))
            .collect::<Vec<_>>(),
        [
            (SO_AMF3, 29),       // USE_SUCCESS, CLEAR
            (SO_AMF3, BIG + 34), // CHANGE big = 0x11, AMF3 string
            (SO_AMF3, 45),       // SEND_MESSAGE newMessage("hello")
            (COMMAND_AMF3, 29),  // _result("hello")
        ]
    );
    // AMF3 commands (type 17) decoded too.
    let echo = amf3
        .client_messages()
        .into_iter()
        .find(|m| m.type_id == COMMAND_AMF3)
        .expect("the echo call");
    assert_eq!(echo.strings, ["echo", "hello"]);
    assert_eq!(amf3_answers[4].strings, ["_result", "hello"]);
}

/// What the capture holds: a rejected connect, then two clients on one SO.
async fn run_clients(server: &TestServer) {
    let url = server.url("interop");
    let options = |encoding| ClientOptions {
        encoding,
        ..ClientOptions::default()
    };
    let refused = Client::connect(&server.url("reject"), options(Encoding::Amf0)).await;
    assert!(
        matches!(refused, Err(ClientError::Rejected(_))),
        "{refused:?}"
    );
    let amf0 = Client::connect(&url, options(Encoding::Amf0))
        .await
        .expect("connects");
    let amf3 = Client::connect(&url, options(Encoding::Amf3))
        .await
        .expect("connects");
    let writer = amf0.shared_object("chat", false).await.expect("USE");
    let reader = amf3.shared_object("chat", false).await.expect("USE");
    writer.set("big", "x".repeat(BIG)).await.expect("written");
    writer
        .send("newMessage", vec![Value::from("hello")])
        .await
        .expect("sent");
    // Both were answered, so the server has queued the CHANGE and the
    // message for the reader: they reach it before the answer to its call.
    let echoed = amf3.call("echo", vec![Value::from("hello")]).await;
    assert_eq!(echoed.expect("echo answers"), [Value::from("hello")]);
    assert_eq!(reader.get("big"), Some(Value::from("x".repeat(BIG))));
    amf0.close().await;
    amf3.close().await;
}

/// A running `tshark -i lo` writing a capture file; killed if dropped.
///
/// tshark says "Capturing on" a little before it captures, and holds the
/// last packets a while before they reach the file; so the test marks both
/// ends with a UDP datagram to a port of its own, also in the capture
/// filter, and waits until tshark has seen it (`-P -l` prints each packet
/// at once while writing the file).
struct Capture {
    child: Child,
    printed: mpsc::UnboundedReceiver<String>,
    probe: UdpSocket,
    probe_to: SocketAddr,
    /// Probes sent so far.
    probes: usize,
}

impl Capture {
    /// Starts capturing TCP port `port` on loopback, and returns once
    /// tshark captures.
    async fn start(tshark: &str, port: u16, file: &Path) -> Self {
        // The probes' destination: bound, so that no ICMP error answers them.
        let sink = UdpSocket::bind("127.0.0.1:0").await.expect("a UDP port");
        let probe_to = sink.local_addr().expect("its address");
        let probe = UdpSocket::bind("127.0.0.1:0").await.expect("a UDP port");
        let filter = format!("tcp port {port} or udp port {}", probe_to.port());
        // Ephemeral ports can be registered to a dissector (tshark then
        // names that protocol instead of UDP and prints no `Len=`): the
        // probes' ports are decoded as plain data.
        let from = probe.local_addr().expect("its address").port();
        let as_data = |port: u16| format!("udp.port=={port},data");
        let mut child = tokio::process::Command::new(tshark)
            .args(["-i", "lo", "-f", &filter])
            .args(["-d", &as_data(probe_to.port()), "-d", &as_data(from)])
            .args(["-P", "-l", "-w"])
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tshark: {e}"));
        let (lines, printed) = mpsc::unbounded_channel();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
        tokio::spawn(async move {
            let _sink = sink;
            while let Ok(Some(line)) = stdout.next_line().await {
                let _ = lines.send(line);
            }
        });
        let mut stderr = BufReader::new(child.stderr.take().expect("piped")).lines();
        let mut said = String::new();
        let started = tokio::time::timeout(PATIENCE, async {
            while let Ok(Some(line)) = stderr.next_line().await {
                said.push_str(&line);
                said.push('\n');
                if line.starts_with("Capturing on") {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(
            started,
            Ok(true),
            "tshark did not start capturing on lo (it needs the right to capture):\n{said}"
        );
        // Keep reading its stderr so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
        let mut capture = Self {
            child,
            printed,
            probe,
            probe_to,
            probes: 0,
        };
        capture.sync().await;
        capture
    }

    /// Returns once tshark has captured a probe sent now, and so
    /// everything sent before it. Each call's probe has its own length,
    /// which tshark prints (`Len=`), so a late line for an earlier probe
    /// does not count.
    async fn sync(&mut self) {
        self.probes += 1;
        let probe = vec![0; 100 + self.probes];
        let mark = format!(" Len={}", probe.len());
        let seen = tokio::time::timeout(PATIENCE, async {
            loop {
                self.probe
                    .send_to(&probe, self.probe_to)
                    .await
                    .expect("a probe goes out");
                let wait = tokio::time::sleep(Duration::from_millis(100));
                tokio::pin!(wait);
                loop {
                    tokio::select! {
                        line = self.printed.recv() => match line {
                            Some(line) if line.contains(" UDP ") && line.ends_with(&mark) => return,
                            Some(_) => {}
                            None => panic!("tshark stopped"),
                        },
                        () = &mut wait => break,
                    }
                }
            }
        })
        .await;
        assert!(seen.is_ok(), "tshark captured no probe in {PATIENCE:?}");
    }

    /// Stops the capture once it holds everything sent so far (SIGINT:
    /// tshark writes out what it has and exits).
    async fn stop(mut self) {
        self.sync().await;
        let pid = self.child.id().expect("tshark runs");
        let sent = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -INT {pid}");
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("tshark stops on SIGINT")
            .expect("tshark's status");
        assert!(status.success(), "tshark exited with {status}");
    }
}

impl Drop for Capture {
    /// A test that failed half-way: ends tshark and its capture child,
    /// dumpcap, which would otherwise outlive it until a packet matches its
    /// filter. Nothing to do after [`Capture::stop`].
    fn drop(&mut self) {
        let Some(pid) = self.child.id() else {
            return;
        };
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .args(children.split_whitespace())
            .status();
    }
}

/// One TCP connection as tshark dissected it.
#[derive(Debug, Default)]
struct Stream {
    client: Vec<Pdu>,
    server: Vec<Pdu>,
    /// The TCP payload each way, by relative sequence number: a segment
    /// sent again (a retransmission, seen under load) counts once.
    client_segments: BTreeMap<u64, Vec<u8>>,
    server_segments: BTreeMap<u64, Vec<u8>>,
    /// Per chunk stream, the last type and length each way.
    client_headers: BTreeMap<String, (u8, usize)>,
    server_headers: BTreeMap<String, (u8, usize)>,
    /// Malformed packets and dissector warnings or errors.
    problems: Vec<String>,
}

impl Stream {
    /// The bytes one side sent, put together from the TCP segments.
    fn bytes(&self, side: &str) -> Vec<u8> {
        let segments = match side {
            "client" => &self.client_segments,
            _ => &self.server_segments,
        };
        let mut bytes = Vec::new();
        for (&seq, data) in segments {
            // Relative sequence numbers: the SYN is 0, the first byte 1.
            let start = usize::try_from(seq - 1).expect("a small stream");
            assert!(
                start <= bytes.len(),
                "{side} side: the capture lacks bytes {}..{start}",
                bytes.len()
            );
            let known = (bytes.len() - start).min(data.len());
            assert_eq!(
                bytes[start..start + known],
                data[..known],
                "{side} side: a segment sent again differs at {start}"
            );
            bytes.extend_from_slice(&data[known..]);
        }
        bytes
    }

    /// The client's `connect`, then the type and length of each SO message
    /// and command after it.
    fn client_commands(&self) -> (&Message, Vec<(u8, usize)>) {
        let mut commands = self
            .client_messages()
            .into_iter()
            .filter(|m| is_command_or_so(m.type_id));
        let connect = commands.next().expect("a connect");
        assert_eq!(connect.type_id, COMMAND_AMF0, "connect is AMF0, always");
        (connect, commands.map(|m| (m.type_id, m.length)).collect())
    }

    /// The server's SO messages and commands.
    fn server_commands(&self) -> Vec<&Message> {
        self.server_messages()
            .into_iter()
            .filter(|m| is_command_or_so(m.type_id))
            .collect()
    }

    fn client_messages(&self) -> Vec<&Message> {
        self.client
            .iter()
            .filter_map(|p| p.message.as_ref())
            .collect()
    }

    fn server_messages(&self) -> Vec<&Message> {
        self.server
            .iter()
            .filter_map(|p| p.message.as_ref())
            .collect()
    }
}

/// One RTMP PDU: a handshake part or a whole message.
#[derive(Debug)]
struct Pdu {
    handshake: Option<String>,
    message: Option<Message>,
}

/// A message as tshark decoded it.
#[derive(Debug)]
struct Message {
    type_id: u8,
    length: usize,
    strings: Vec<String>,
}

fn is_command_or_so(type_id: u8) -> bool {
    matches!(type_id, SO_AMF3 | COMMAND_AMF3 | SO_AMF0 | COMMAND_AMF0)
}

fn has(message: &Message, text: &str) -> bool {
    message.strings.iter().any(|s| s == text)
}

/// Reads the capture with the RTMP dissector on `port`: per TCP stream
/// (in order), its PDUs and payload bytes each way.
fn dissect(tshark: &str, port: u16, file: &Path) -> BTreeMap<u64, Stream> {
    let output = run(Command::new(tshark).args([
        "-r",
        &file.display().to_string(),
        "-d",
        &format!("tcp.port=={port},rtmpt"),
        "-o",
        &format!("rtmpt.max_packet_size:{MAX_PACKET_SIZE}"),
        "-T",
        "json",
        "--no-duplicate-keys",
    ]));
    let frames: Json = serde_json::from_slice(&output.stdout).expect("tshark's JSON");
    let mut streams: BTreeMap<u64, Stream> = BTreeMap::new();
    for frame in frames.as_array().expect("an array of frames") {
        let layers = &frame["_source"]["layers"];
        // The capture's UDP probes.
        let Some(tcp) = layers.get("tcp") else {
            continue;
        };
        let id = field(tcp, "tcp.stream").parse().expect("a stream number");
        let from_client = field(tcp, "tcp.dstport") == port.to_string();
        let stream = streams.entry(id).or_default();
        if let Some(payload) = tcp.get("tcp.payload").and_then(Json::as_str) {
            let seq: u64 = field(tcp, "tcp.seq").parse().expect("a sequence number");
            let segments = match from_client {
                true => &mut stream.client_segments,
                false => &mut stream.server_segments,
            };
            let data = unhex(payload);
            let kept = segments.entry(seq).or_default();
            if data.len() > kept.len() {
                *kept = data;
            }
        }
        let number = field(&layers["frame"], "frame.number");
        // TCP's own warnings are left out: a loaded machine retransmits
        // even on loopback (D-SACK, spurious retransmissions), which the
        // dissectors above TCP handle, as `bytes` does.
        for (layer, tree) in layers.as_object().into_iter().flatten() {
            if layer == "tcp" {
                continue;
            }
            problems(tree, &mut |what| {
                stream
                    .problems
                    .push(format!("frame {number}, {layer}: {what}"));
            });
        }
        let pdus = match layers.get("rtmpt") {
            None => continue,
            Some(Json::Array(pdus)) => pdus.clone(),
            Some(pdu) => vec![pdu.clone()],
        };
        for pdu in pdus {
            match from_client {
                true => stream
                    .client
                    .push(parse_pdu(&pdu, &mut stream.client_headers)),
                false => stream
                    .server
                    .push(parse_pdu(&pdu, &mut stream.server_headers)),
            }
        }
    }
    streams
}

/// A handshake part or a message, from one `rtmpt` tree. `last` holds,
/// per chunk stream of this direction, the type and length of the last
/// header that carried them: tshark shows only the fields a header has,
/// and a fmt-2 or fmt-3 header has neither (RTMP §5.3.1.2).
fn parse_pdu(pdu: &Json, last: &mut BTreeMap<String, (u8, usize)>) -> Pdu {
    let handshake = pdu
        .as_object()
        .and_then(|fields| fields.keys().find(|k| k.starts_with("Handshake")))
        .cloned();
    let message = pdu.get("RTMP Header").map(|header| {
        let csid = field(header, "rtmpt.header.csid").to_owned();
        let (type_id, length) = match header.get("rtmpt.header.typeid") {
            Some(_) => {
                let type_id = field(header, "rtmpt.header.typeid");
                let type_id = u8::from_str_radix(type_id.trim_start_matches("0x"), 16)
                    .unwrap_or_else(|_| panic!("a type id, not {type_id:?}"));
                let length = field(header, "rtmpt.header.bodysize")
                    .parse()
                    .expect("a body size");
                last.insert(csid, (type_id, length));
                (type_id, length)
            }
            None => *last
                .get(&csid)
                .unwrap_or_else(|| panic!("a short header first on its chunk stream: {header}")),
        };
        let mut strings = Vec::new();
        collect_strings(&pdu["RTMP Body"], &mut strings);
        Message {
            type_id,
            length,
            strings,
        }
    });
    Pdu { handshake, message }
}

/// Every AMF string of a body, depth first (command names, property names
/// and string values, in wire order).
fn collect_strings(tree: &Json, out: &mut Vec<String>) {
    match tree {
        Json::Object(fields) => {
            for (key, value) in fields {
                match (key.as_str(), value) {
                    ("amf.string", Json::String(text)) => out.push(text.clone()),
                    ("amf.string", Json::Array(texts)) => {
                        out.extend(texts.iter().filter_map(Json::as_str).map(str::to_owned))
                    }
                    _ => collect_strings(value, out),
                }
            }
        }
        Json::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        _ => {}
    }
}

/// Calls `report` for every malformed-packet mark and every expert item of
/// severity warning or error in a protocol tree.
fn problems(tree: &Json, report: &mut impl FnMut(String)) {
    // Wireshark's severities: chat 0x200000, note 0x400000, warn 0x600000,
    // error 0x800000.
    const WARN: u64 = 0x60_0000;
    match tree {
        Json::Object(fields) => {
            for (key, value) in fields {
                if key.starts_with("_ws.malformed") {
                    report(format!("malformed: {value}"));
                } else if key == "_ws.expert" {
                    let severity = value
                        .get("_ws.expert.severity")
                        .and_then(Json::as_str)
                        .and_then(|s| s.parse::<u64>().ok())
                        .unwrap_or(u64::MAX);
                    if severity >= WARN {
                        report(format!("expert: {value}"));
                    }
                }
                problems(value, report);
            }
        }
        Json::Array(items) => items.iter().for_each(|item| problems(item, report)),
        _ => {}
    }
}

/// The messages our chunk decoder reads from one direction's bytes
/// (handshake skipped): type id and length of each.
fn our_framing(bytes: &[u8]) -> Vec<(u8, usize)> {
    let chunks = bytes.get(HANDSHAKE_LEN..).unwrap_or_else(|| {
        panic!(
            "{} bytes, fewer than a handshake ({HANDSHAKE_LEN})",
            bytes.len()
        )
    });
    let mut decoder = Decoder::new(DecoderLimits::default());
    decoder.push(chunks);
    let mut messages = Vec::new();
    while let Some(message) = decoder.next_message().expect("our decoder reads it") {
        messages.push((message.header.type_id, message.payload.len()));
    }
    assert_eq!(decoder.buffered(), 0, "a message cut short");
    messages
}

/// A string field of a tshark JSON tree.
fn field<'a>(tree: &'a Json, name: &str) -> &'a str {
    tree.get(name)
        .and_then(Json::as_str)
        .unwrap_or_else(|| panic!("no {name} in {tree}"))
}

/// `aa:bb:..` to bytes.
fn unhex(text: &str) -> Vec<u8> {
    text.split(':')
        .map(|pair| u8::from_str_radix(pair, 16).unwrap_or_else(|_| panic!("hex, not {pair:?}")))
        .collect()
}

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
