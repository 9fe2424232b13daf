//! Every committed seed of every fuzz target runs as an ordinary test, so a
//! crash once found stays fixed.

use std::path::Path;
use std::time::Instant;

use rtmp_proto::fuzzing;

type Target<'a> = (&'a str, &'a dyn Fn(&[u8]));

#[test]
fn seed_corpus_passes_every_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    #[allow(clippy::disallowed_methods)] // the test's clock origin
    let start = Instant::now();
    let server = move |d: &[u8]| fuzzing::connection_server(start, d);
    let client = move |d: &[u8]| fuzzing::connection_client(start, d);
    let targets: [Target<'_>; 8] = [
        ("amf0", &fuzzing::amf0),
        ("amf3", &fuzzing::amf3),
        ("chunk_decoder", &fuzzing::chunk_decoder),
        ("handshake", &fuzzing::handshake),
        ("so_message", &fuzzing::so_message),
        ("message", &fuzzing::message),
        ("connection_server", &server),
        ("connection_client", &client),
    ];
    for (name, body) in targets {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("no seed corpus at {}: {e}", dir.display()));
        let mut ran = 0;
        for entry in entries {
            let path = entry.expect("readable corpus").path();
            let data = std::fs::read(&path).expect("readable seed");
            body(&data);
            ran += 1;
        }
        assert!(ran >= 2, "target {name} has only {ran} seeds");
    }
}

/// Found by the `message` target: an AVM+ integer inside AMF0 data decodes
/// as `Integer` and comes back as an AMF0 number, its canonical form; the
/// body must accept that and still check the re-encoding is stable.
#[test]
fn message_avmplus_integer_in_amf0_data() {
    use bytes::{Bytes, BytesMut};
    use rtmp_proto::amf::{Limits, Value};
    use rtmp_proto::message::Message;

    let data = [0x14, 0x11, 0x04, 0x00, 0, 0, 0, 0, 0, 0, 0x25, 0x01, 0x42];
    fuzzing::message(&data);
    let body = Bytes::copy_from_slice(&data[1..]);
    let first = Message::decode(18, body, &Limits::default()).unwrap();
    let Message::Data { values, .. } = &first else {
        panic!("not data: {first:?}");
    };
    assert_eq!(values[0], Value::Integer(0));
    let mut out = BytesMut::new();
    first.encode(&mut out).unwrap();
    let again = Message::decode(18, out.freeze(), &Limits::default()).unwrap();
    let Message::Data { values, .. } = &again else {
        panic!("not data: {again:?}");
    };
    assert_eq!(values[0], Value::Number(0.0));
}

/// Writes the seed corpus from golden vectors and a recorded session:
/// `cargo test -p rtmp-proto --test fuzz_corpus -- --ignored`.
#[test]
#[ignore = "writes fuzz/corpus; run by hand when the seeds should change"]
fn write_seed_corpus() {
    use bytes::BytesMut;
    use rtmp_proto::amf::{Encoding, Value, amf0, amf3};
    use rtmp_proto::chunk::{Encoder, Header};
    use rtmp_proto::connection::{Config, ConnectParams, Connection, Side};
    use rtmp_proto::handshake::{ClientStyle, Handshake};
    use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
    use std::sync::Arc;

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let values = vec![
        Value::object([
            ("userName", Value::from("alice_w")),
            ("x", Value::Number(1024.5)),
            ("n", Value::Integer(42)),
            (
                "tags",
                Value::StrictArray(vec![Value::from("a"), Value::Null]),
            ),
        ]),
        Value::ByteArray(vec![1, 2, 3]),
        Value::Date(rtmp_proto::amf::Date {
            millis: 1.7e12,
            timezone: 0,
        }),
        Value::EcmaArray(vec![("k".into(), Value::Bool(true))]),
    ];
    let mut a0 = BytesMut::new();
    let mut a3 = BytesMut::new();
    let (mut e0, mut e3) = (amf0::Encoder::new(), amf3::Encoder::new());
    for v in &values {
        e0.encode(v, &mut a0);
        e3.encode(v, &mut a3);
    }
    write("amf0", "values", &a0);
    write("amf0", "string", &[2, 0, 2, b'h', b'i']);
    write("amf3", "values", &a3);
    write("amf3", "string_ref", &[6, 5, b'h', b'i', 6, 0]);

    let chat = |events| SharedObjectMessage {
        name: "chat".into(),
        version: 3,
        persistent: false,
        events,
    };
    let messages = [
        chat(vec![
            SoEvent::Use,
            SoEvent::RequestChange {
                key: "msg".into(),
                value: Value::from("hi"),
            },
        ]),
        chat(vec![SoEvent::SendMessage {
            method: "say".into(),
            args: vec![Value::from("x")],
        }]),
        chat(vec![SoEvent::Status {
            code: "SharedObject.NoWriteAccess".into(),
            level: "error".into(),
        }]),
    ];
    for (i, m) in messages.iter().enumerate() {
        for (tag, encoding) in [(0u8, Encoding::Amf0), (1, Encoding::Amf3)] {
            let mut body = BytesMut::new();
            body.extend_from_slice(&[tag]);
            m.encode(encoding, &mut body).unwrap();
            write("so_message", &format!("m{i}_{tag}"), &body);
        }
    }

    write_message_seeds(&write, &messages);

    let mut stream = vec![7u8, 3];
    let mut encoder = Encoder::new();
    let mut out = BytesMut::new();
    for (i, len) in [10usize, 200, 5000].into_iter().enumerate() {
        let header = Header {
            csid: 3 + i as u32,
            timestamp: 0xFF_FFF0 + i as u32 * 10,
            type_id: 19,
            stream_id: 0,
        };
        encoder.encode(&header, &vec![i as u8; len], &mut out);
    }
    stream.extend_from_slice(&out);
    write("chunk_decoder", "three_csids", &stream);
    write(
        "chunk_decoder",
        "tiny",
        &[0, 0, 3, 0, 0, 0, 0, 0, 1, 19, 0, 0, 0, 0, 9],
    );

    let mut client = Handshake::client([1; 32], ClientStyle::Digest);
    let mut c0c1 = BytesMut::new();
    client.poll_transmit(&mut c0c1);
    write("handshake", "c0c1_digest", &c0c1);
    let mut plain = vec![3u8];
    plain.extend_from_slice(&[0u8; 3072]);
    write("handshake", "plain", &plain);

    // A whole client session as the server sees it, and the server's answers.
    #[allow(clippy::disallowed_methods)] // the test's clock origin
    let start = Instant::now();
    let config = Arc::new(Config {
        client_style: ClientStyle::Plain,
        ..Config::default()
    });
    let mut c = Connection::new(config.clone(), Side::Client, start, [1; 32]);
    let mut s = Connection::new(config, Side::Server, start, [2; 32]);
    let params = ConnectParams::from_url("rtmp://h/app/room", Encoding::Amf3).unwrap();
    c.connect(start, params).unwrap();
    let (mut to_server, mut to_client) = (vec![0u8], vec![0u8]);
    for round in 0..6 {
        let mut buf = BytesMut::new();
        c.poll_transmit(&mut buf);
        to_server.extend_from_slice(&buf);
        s.handle_input(start, &buf).unwrap();
        buf.clear();
        s.poll_transmit(&mut buf);
        to_client.extend_from_slice(&buf);
        c.handle_input(start, &buf).unwrap();
        while let Some(e) = s.poll_event() {
            if let rtmp_proto::connection::Event::ConnectRequest(_) = e {
                s.accept(start).unwrap();
            }
        }
        while c.poll_event().is_some() {}
        if round == 3 {
            for m in &messages {
                c.send_shared_object(start, m).unwrap();
                s.send_shared_object(start, m).unwrap();
            }
            c.call(start, "echo", vec![Value::from(1.0)]).unwrap();
        }
    }
    write("connection_server", "session", &to_server);
    write(
        "connection_server",
        "garbage",
        &[1, 0xFF, 0, 0, 0, 0, 0, 0x10, 0x13],
    );
    write("connection_client", "session", &to_client);
    write("connection_client", "garbage", &[1, 2, 0, 0, 0]);
}

/// One seed per parsed message type, its first byte picking the type.
fn write_message_seeds(
    write: &dyn Fn(&str, &str, &[u8]),
    so_messages: &[rtmp_proto::message::shared_object::SharedObjectMessage],
) {
    use bytes::BytesMut;
    use rtmp_proto::amf::{Encoding, Value};
    use rtmp_proto::message::{Command, Message, UserControl};

    let mut messages = vec![
        Message::SetChunkSize(4096),
        Message::Abort { csid: 3 },
        Message::Acknowledgement { sequence: 1 << 31 },
        Message::UserControl(UserControl::SetBufferLength {
            stream_id: 1,
            millis: 3000,
        }),
        Message::UserControl(UserControl::PingRequest(77)),
        Message::WindowAckSize(2_500_000),
        Message::SetPeerBandwidth {
            size: 2_500_000,
            limit: rtmp_proto::message::BandwidthLimit::Dynamic,
        },
    ];
    for encoding in [Encoding::Amf0, Encoding::Amf3] {
        messages.push(Message::Command {
            encoding,
            command: Command::connect("app/room", "rtmp://h/app/room", encoding),
        });
        messages.push(Message::Data {
            encoding,
            values: vec![Value::from("onMetaData"), Value::Number(-0.0)],
        });
        messages.push(Message::SharedObject {
            encoding,
            message: so_messages[0].clone(),
        });
    }
    for (i, message) in messages.iter().enumerate() {
        let pick = fuzzing::MESSAGE_TYPES
            .iter()
            .position(|t| *t == message.type_id())
            .expect("a parsed type");
        let mut body = BytesMut::new();
        body.extend_from_slice(&[u8::try_from(pick).unwrap()]);
        message.encode(&mut body).unwrap();
        write("message", &format!("m{i}_{}", message.type_id()), &body);
    }
}
