//! The `Connection` state machine, server and client, driven over the
//! virtual network of `rtmp_proto::sim` on virtual time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use rtmp_proto::amf::{Encoding, Str, Value};
use rtmp_proto::chunk::{Decoder, DecoderLimits};
use rtmp_proto::connection::{
    Call, CloseReason, Config, ConnectParams, Connection, Event, Side, call_failed,
};
use rtmp_proto::error::{ApiMisuse, Error, ProtocolError};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use rtmp_proto::message::{BandwidthLimit, Message, UserControl};
use rtmp_proto::sim::{Network, Pair, XorShift};

#[allow(clippy::disallowed_methods)] // the test's clock origin; the connection never reads one
fn start() -> Instant {
    Instant::now()
}

fn so(name: &str, version: u32, events: Vec<SoEvent>) -> SharedObjectMessage {
    SharedObjectMessage {
        name: name.into(),
        version,
        persistent: false,
        events,
    }
}

fn change(key: &str, value: Value) -> SoEvent {
    SoEvent::RequestChange {
        key: Str::from(key),
        value,
    }
}

/// Decodes a whole server→client byte stream after the handshake into messages.
fn messages_after_handshake(bytes: &[u8]) -> Vec<Message> {
    let mut decoder = Decoder::new(DecoderLimits::default());
    decoder.push(bytes);
    let mut out = Vec::new();
    while let Some(raw) = decoder.next_message().expect("valid chunk stream") {
        let limits = rtmp_proto::amf::Limits::default();
        out.push(Message::decode(raw.header.type_id, raw.payload, &limits).expect("valid message"));
    }
    out
}

#[test]
fn connect_flow_amf0_and_amf3() {
    for encoding in [Encoding::Amf0, Encoding::Amf3] {
        let mut pair = Pair::with_defaults(start(), 1);
        pair.establish("chat/room1", encoding);
        let events = pair.take_server_events();
        let request = events
            .iter()
            .find_map(|e| match e {
                Event::ConnectRequest(r) => Some(r.clone()),
                _ => None,
            })
            .expect("connect request");
        assert_eq!(request.app, "chat/room1");
        assert_eq!(request.encoding, encoding);
        assert_eq!(
            request.tc_url.as_deref(),
            Some("rtmp://sim.invalid/chat/room1")
        );
        assert!(matches!(events[0], Event::HandshakeDone));
        let client = pair.take_client_events();
        assert!(
            client
                .iter()
                .any(|e| matches!(e, Event::Connected { encoding: e2, .. } if *e2 == encoding)),
            "{client:?}"
        );
        assert_eq!(pair.server.encoding(), encoding);
        assert_eq!(pair.client.encoding(), encoding);
    }
}

#[test]
fn accept_sends_window_bandwidth_chunk_size_stream_begin_then_result() {
    let now = start();
    let config = Arc::new(Config::default());
    let mut client = Connection::new(config.clone(), Side::Client, now, [1; 32]);
    let mut server = Connection::new(config, Side::Server, now, [2; 32]);
    let params = ConnectParams::from_url("rtmp://h/app", Encoding::Amf3).unwrap();
    client.connect(now, params).unwrap();
    let mut c2s = BytesMut::new();
    let mut s2c = BytesMut::new();
    // Run the handshake by hand so that the server's bytes after it can be inspected.
    for _ in 0..4 {
        client.poll_transmit(&mut c2s);
        server.handle_input(now, &c2s).unwrap();
        c2s.clear();
        server.poll_transmit(&mut s2c);
        client.handle_input(now, &s2c).unwrap();
        s2c.clear();
    }
    assert!(matches!(server.poll_event(), Some(Event::HandshakeDone)));
    assert!(matches!(
        server.poll_event(),
        Some(Event::ConnectRequest(_))
    ));
    server.accept(now).unwrap();
    server.poll_transmit(&mut s2c);
    let messages = messages_after_handshake(&s2c);
    assert_eq!(
        messages[0],
        Message::WindowAckSize(Config::DEFAULT_WINDOW_ACK_SIZE)
    );
    assert!(matches!(
        messages[1],
        Message::SetPeerBandwidth {
            limit: BandwidthLimit::Dynamic,
            ..
        }
    ));
    assert_eq!(
        messages[2],
        Message::SetChunkSize(Config::DEFAULT_CHUNK_SIZE)
    );
    assert_eq!(
        messages[3],
        Message::UserControl(UserControl::StreamBegin(0))
    );
    let Message::Command { encoding, command } = &messages[4] else {
        panic!("expected _result, got {:?}", messages[4]);
    };
    // The connect answer is AMF0 even for an AMF3 client.
    assert_eq!(*encoding, Encoding::Amf0);
    assert_eq!(command.name, "_result");
    assert_eq!(command.transaction_id, 1.0);
    let info = &command.args[0];
    assert_eq!(
        info.property("code").and_then(Value::as_str),
        Some("NetConnection.Connect.Success")
    );
    assert_eq!(
        info.property("objectEncoding").and_then(Value::as_f64),
        Some(3.0)
    );
    assert_eq!(messages.len(), 5);
}

#[test]
fn reject_answers_error_and_closes() {
    let mut pair = Pair::with_defaults(start(), 2);
    let params = ConnectParams::from_url("rtmp://h/reject", Encoding::Amf0).unwrap();
    pair.client.connect(pair.now, params).unwrap();
    pair.collect();
    pair.drive();
    pair.server.reject(pair.now, "go away").unwrap();
    pair.collect();
    pair.drive();
    assert!(pair.server.is_closed());
    assert!(pair.client.is_closed());
    let client = pair.take_client_events();
    assert!(
        client.contains(&Event::Closed(CloseReason::Rejected("go away".into()))),
        "{client:?}"
    );
    let server = pair.take_server_events();
    assert_eq!(
        server.last(),
        Some(&Event::Closed(CloseReason::Rejected("go away".into())))
    );
}

#[test]
fn shared_object_messages_both_ways_in_both_encodings() {
    for encoding in [Encoding::Amf0, Encoding::Amf3] {
        let mut pair = Pair::with_defaults(start(), 3);
        pair.establish("app", encoding);
        pair.take_server_events();
        pair.take_client_events();
        let up = so(
            "chat",
            0,
            vec![SoEvent::Use, change("msg", Value::from("hi"))],
        );
        pair.client.send_shared_object(pair.now, &up).unwrap();
        pair.collect();
        pair.drive();
        assert_eq!(pair.take_server_events(), vec![Event::SharedObject(up)]);
        let down = so(
            "chat",
            2,
            vec![
                SoEvent::UseSuccess,
                SoEvent::Clear,
                SoEvent::Change {
                    key: "msg".into(),
                    value: Value::from("hi"),
                },
            ],
        );
        pair.server.send_shared_object(pair.now, &down).unwrap();
        pair.collect();
        pair.drive();
        let got = pair.take_client_events();
        assert_eq!(got, vec![Event::SharedObject(down)]);
    }
}

#[test]
fn pre_encoded_bodies_go_out_as_the_connection_encoding() {
    let mut pair = Pair::with_defaults(start(), 4);
    pair.establish("app", Encoding::Amf3);
    let message = so("s", 7, vec![SoEvent::Clear]);
    let mut body = BytesMut::new();
    message.encode(Encoding::Amf3, &mut body).unwrap();
    pair.server
        .send_shared_object_encoded(pair.now, &body)
        .unwrap();
    pair.collect();
    pair.drive();
    let events: Vec<_> = pair
        .take_client_events()
        .into_iter()
        .filter(|e| matches!(e, Event::SharedObject(_)))
        .collect();
    assert_eq!(events, vec![Event::SharedObject(message)]);
}

#[test]
fn calls_both_ways_with_results_and_errors() {
    let mut pair = Pair::with_defaults(start(), 5);
    pair.establish("app", Encoding::Amf0);
    pair.take_server_events();
    pair.take_client_events();
    // Client → server, answered with _result and with _error.
    let ok = pair
        .client
        .call(pair.now, "echo", vec![Value::from(1.0)])
        .unwrap();
    let bad = pair.client.call(pair.now, "nope", vec![]).unwrap();
    pair.collect();
    pair.drive();
    let calls: Vec<Call> = pair
        .take_server_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Call(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].method, "echo");
    assert_eq!(calls[0].args, vec![Value::from(1.0)]);
    pair.server
        .reply(pair.now, calls[0].transaction_id, Value::from(1.0))
        .unwrap();
    pair.server
        .reply_error(
            pair.now,
            calls[1].transaction_id,
            call_failed("no such method"),
        )
        .unwrap();
    pair.collect();
    pair.drive();
    let results = pair.take_client_events();
    assert_eq!(
        results[0],
        Event::CallResult {
            id: ok,
            outcome: Ok(vec![Value::from(1.0)])
        }
    );
    let Event::CallResult {
        id,
        outcome: Err(info),
    } = &results[1]
    else {
        panic!("{results:?}");
    };
    assert_eq!(*id, bad);
    assert_eq!(
        info.property("code").and_then(Value::as_str),
        Some("NetConnection.Call.Failed")
    );
    // Server → client.
    let id = pair
        .server
        .call(pair.now, "ping", vec![Value::from("x")])
        .unwrap();
    pair.collect();
    pair.drive();
    let Some(Event::Call(call)) = pair.take_client_events().pop() else {
        panic!("no call reached the client");
    };
    assert_eq!(call.method, "ping");
    pair.client
        .reply(pair.now, call.transaction_id, Value::from("pong"))
        .unwrap();
    pair.collect();
    pair.drive();
    assert_eq!(
        pair.take_server_events(),
        vec![Event::CallResult {
            id,
            outcome: Ok(vec![Value::from("pong")])
        }]
    );
}

#[test]
fn stream_commands_get_a_clean_error() {
    let mut pair = Pair::with_defaults(start(), 6);
    pair.establish("app", Encoding::Amf0);
    pair.take_client_events();
    pair.take_server_events();
    let id = pair.client.call(pair.now, "createStream", vec![]).unwrap();
    pair.collect();
    pair.drive();
    let events = pair.take_client_events();
    assert!(
        matches!(&events[..], [Event::CallResult { id: got, outcome: Err(_) }] if *got == id),
        "{events:?}"
    );
    assert!(pair.take_server_events().is_empty());
    assert!(pair.server.is_connected());
}

#[test]
fn acknowledgements_follow_the_window_under_sustained_traffic() {
    let config = Arc::new(Config {
        window_ack_size: 10_000,
        peer_bandwidth: 10_000,
        ..Config::default()
    });
    let mut pair = Pair::new(start(), 7, Network::default(), config.clone(), config);
    pair.establish("app", Encoding::Amf0);
    let big = Value::from("x".repeat(1000).as_str());
    for i in 0..100 {
        let m = so("s", i, vec![change("k", big.clone())]);
        pair.client.send_shared_object(pair.now, &m).unwrap();
        pair.collect();
        pair.drive();
    }
    // The client sent ~100 kB. It answered the server's Set Peer Bandwidth
    // with a 10 kB window, so the server acknowledged about every 10 kB.
    let acked = pair.server.bytes_acknowledged();
    assert!(acked >= 90_000, "server acknowledged up to {acked}");
    assert!(pair.server.bytes_received() - acked < 10_000);
    let n = pair
        .take_server_events()
        .iter()
        .filter(|e| matches!(e, Event::SharedObject(_)))
        .count();
    assert_eq!(n, 100);
}

#[test]
fn chunk_size_change_mid_stream() {
    let mut pair = Pair::with_defaults(start(), 8);
    pair.establish("app", Encoding::Amf0);
    pair.take_client_events();
    let value = Value::from("y".repeat(5000).as_str());
    for size in [128, 1, 77, 65536, 4096] {
        pair.server.set_chunk_size(pair.now, size).unwrap();
        let m = so(
            "s",
            size,
            vec![SoEvent::Change {
                key: "k".into(),
                value: value.clone(),
            }],
        );
        pair.server.send_shared_object(pair.now, &m).unwrap();
        pair.collect();
        pair.drive();
        assert_eq!(pair.take_client_events(), vec![Event::SharedObject(m)]);
    }
}

#[test]
fn timestamps_cross_the_extended_boundary() {
    let mut pair = Pair::with_defaults(start(), 9);
    pair.establish("app", Encoding::Amf3);
    pair.take_client_events();
    pair.take_server_events();
    // 0xFFFFFF ms is 4 h 39 min 37 s; pings keep both sides alive meanwhile.
    for sent in 0..12 {
        pair.advance(Duration::from_secs(30 * 60));
        let m = so("s", sent, vec![change("t", Value::from(f64::from(sent)))]);
        pair.client.send_shared_object(pair.now, &m).unwrap();
        let back = so("s", sent, vec![SoEvent::Success { key: "t".into() }]);
        pair.server.send_shared_object(pair.now, &back).unwrap();
        pair.collect();
        pair.drive();
    }
    assert!(pair.client.is_connected() && pair.server.is_connected());
    let up = pair
        .take_server_events()
        .into_iter()
        .filter(|e| matches!(e, Event::SharedObject(_)))
        .count();
    let down = pair
        .take_client_events()
        .into_iter()
        .filter(|e| matches!(e, Event::SharedObject(_)))
        .count();
    assert_eq!((up, down), (12, 12));
}

#[test]
fn handshake_timeout_closes() {
    let now = start();
    let mut server = Connection::new(Config::default().into(), Side::Server, now, [0; 32]);
    server.handle_input(now, &[3; 100]).unwrap();
    let at = server.poll_timeout().unwrap();
    assert_eq!(at, now + Config::DEFAULT_HANDSHAKE_TIMEOUT);
    server.handle_timeout(at - Duration::from_millis(1));
    assert!(!server.is_closed());
    server.handle_timeout(at);
    assert!(server.is_closed());
    assert_eq!(
        server.poll_event(),
        Some(Event::Closed(CloseReason::Error(
            ProtocolError::Timeout("the handshake").into()
        )))
    );
    assert_eq!(server.handle_input(at, &[0]), Err(Error::Closed));
}

#[test]
fn connect_timeout_closes() {
    let mut pair = Pair::with_defaults(start(), 10);
    // The client never calls connect.
    pair.drive();
    assert!(pair.take_server_events().contains(&Event::HandshakeDone));
    pair.advance(Config::DEFAULT_CONNECT_TIMEOUT + Duration::from_millis(10));
    assert!(pair.server.is_closed());
    assert_eq!(
        pair.take_server_events(),
        vec![Event::Closed(CloseReason::Error(
            ProtocolError::Timeout("connect").into()
        ))]
    );
}

#[test]
fn garbage_instead_of_a_handshake_closes_with_an_error() {
    let now = start();
    let mut server = Connection::new(Config::default().into(), Side::Server, now, [0; 32]);
    let result = server.handle_input(now, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(result, Err(ProtocolError::UnsupportedVersion(b'G').into()));
    assert!(server.is_closed());
    let mut out = BytesMut::new();
    assert_eq!(server.poll_transmit(&mut out), 0);
}

#[test]
fn garbage_after_the_handshake_closes_with_an_error() {
    let mut pair = Pair::with_defaults(start(), 11);
    pair.drive();
    let mut rng = XorShift::new(99);
    let garbage: Vec<u8> = (0..4000).map(|_| rng.next() as u8).collect();
    assert!(pair.take_server_events().contains(&Event::HandshakeDone));
    assert!(pair.server.handle_input(pair.now, &garbage).is_err());
    assert!(pair.server.is_closed());
    assert!(matches!(
        pair.server.poll_event(),
        Some(Event::Closed(CloseReason::Error(_)))
    ));
}

#[test]
fn ping_requests_are_answered_and_silence_times_out() {
    let config = Arc::new(Config {
        ping_interval: Some(Duration::from_secs(1)),
        idle_timeout: Some(Duration::from_secs(3)),
        ..Config::default()
    });
    let mut pair = Pair::new(start(), 12, Network::default(), config.clone(), config);
    pair.establish("app", Encoding::Amf0);
    // Both sides ping when the other is silent and answer pings: a minute
    // of silence keeps the connection up.
    pair.advance(Duration::from_secs(60));
    assert!(pair.client.is_connected() && pair.server.is_connected());
    // A client that stops answering is dropped after the idle timeout.
    let now = pair.now;
    pair.server.handle_timeout(now + Duration::from_secs(4));
    assert!(pair.server.is_closed());
}

#[test]
fn a_message_whose_chunks_stop_arriving_times_out() {
    let config = Arc::new(Config {
        ping_interval: Some(Duration::from_secs(1)),
        idle_timeout: Some(Duration::from_secs(10)),
        partial_message_timeout: Some(Duration::from_secs(2)),
        ..Config::default()
    });
    let mut pair = Pair::new(start(), 13, Network::default(), config.clone(), config);
    pair.establish("app", Encoding::Amf0);
    // The first 4096-byte chunk (the client's chunk size) of a 100 kB data
    // message on chunk stream 20, then more chunks of it (fmt 3).
    let mut first = vec![0x14, 0, 0, 0, 0x01, 0x86, 0xA0, 18, 0, 0, 0, 0];
    first.extend_from_slice(&[5; 4096]);
    let mut next = vec![0xC0 | 20];
    next.extend_from_slice(&[5; 4096]);
    let now = pair.now;
    pair.server.handle_input(now, &first).unwrap();
    assert_eq!(
        pair.server.poll_timeout(),
        Some(now + Duration::from_secs(1))
    );
    // A chunk a second: it progresses, no timeout.
    for _ in 0..3 {
        pair.advance(Duration::from_secs(1));
        let now = pair.now;
        pair.server.handle_input(now, &next).unwrap();
    }
    let stalled_at = pair.now;
    // Then nothing more of it; pings and their answers go on meanwhile.
    pair.advance(Duration::from_millis(1500));
    assert!(pair.server.is_connected());
    assert!(pair.server.poll_timeout() <= Some(stalled_at + Duration::from_secs(2)));
    pair.advance(Duration::from_secs(1));
    assert!(pair.server.is_closed());
    assert!(pair.take_server_events().iter().any(|e| matches!(
        e,
        Event::Closed(CloseReason::Error(error)) if error.to_string().contains("the rest of a message")
    )));
}

/// The scenario behind the split-invariance test: connect, SO traffic both
/// ways and calls, with the transcript of everything both sides reported.
fn scenario(seed: u64, max_segment: usize) -> Vec<String> {
    let network = Network {
        latency: Duration::from_millis(3),
        max_segment,
    };
    let config = Arc::new(Config::default());
    let base = start();
    let mut pair = Pair::new(base, seed, network, config.clone(), config);
    pair.establish("app/room", Encoding::Amf3);
    for i in 0..20u32 {
        let m = so(
            "s",
            i,
            vec![change(
                "k",
                Value::from("v".repeat(i as usize * 50).as_str()),
            )],
        );
        pair.client.send_shared_object(pair.now, &m).unwrap();
        pair.server.send_shared_object(pair.now, &m).unwrap();
        pair.client
            .call(pair.now, "f", vec![Value::Integer(i as i32)])
            .unwrap();
        pair.collect();
        pair.drive();
    }
    pair.transcript
}

#[test]
fn transcripts_are_identical_for_every_split_of_the_stream() {
    let reference = scenario(1, 100_000);
    assert!(reference.len() > 40, "{reference:#?}");
    for (seed, max_segment) in [(2, 1), (3, 2), (4, 7), (5, 128), (6, 1500), (7, 64 * 1024)] {
        assert_eq!(
            scenario(seed, max_segment),
            reference,
            "seed {seed}, segments ≤ {max_segment}"
        );
    }
}

#[test]
fn a_body_over_the_wire_maximum_is_refused_not_a_panic() {
    let mut pair = Pair::with_defaults(start(), 13);
    pair.establish("app", Encoding::Amf0);
    let body = vec![0u8; 0x100_0000];
    assert_eq!(
        pair.server.send_shared_object_encoded(pair.now, &body),
        Err(ApiMisuse::TooLarge("a message over 16,777,215 bytes"))
    );
    assert!(pair.server.is_connected());
}
