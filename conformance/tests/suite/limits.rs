//! Limits and hostile or slow clients, against the server in process.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use adapter_core::client::{Client, ClientError, ClientOptions};
use adapter_core::{Config, Server, sleep};
use rtmp_proto::amf::{Encoding, Value};
use rtmp_proto::connection::Event;
use rtmp_proto::message::shared_object::SoEvent;
use so_engine::{CallRequest, Context};

use crate::adapter::{Adapter, PATIENCE};
use crate::harness::{TempDir, TestServer};
use crate::wire::{TestClient, change, set, small_window, until_closed};

async fn connections_past_the_cap_are_refused<R: Adapter>() {
    let dir = TempDir::new();
    let config = Config {
        max_connections: 2,
        ..Config::default()
    };
    let server = TestServer::<R>::with_config(dir.path(), config).await;
    let options = ClientOptions::default;
    let a = Client::<R>::connect(&server.url("app"), options())
        .await
        .unwrap();
    let b = Client::<R>::connect(&server.url("app"), options())
        .await
        .unwrap();
    let refused = Client::<R>::connect(&server.url("app"), options()).await;
    assert!(refused.is_err(), "a third connection was served");
    // A slot frees up when a connection closes.
    a.close().await;
    let mut attempts = 0;
    let c = loop {
        match Client::<R>::connect(&server.url("app"), options()).await {
            Ok(c) => break c,
            Err(_) if attempts < 100 => {
                attempts += 1;
                sleep::<R>(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("never accepted again: {e}"),
        }
    };
    assert_eq!(
        c.call("echo", vec![Value::from(1.0)]).await.unwrap(),
        [Value::from(1.0)]
    );
    drop(b);
    server.stop().await;
}

async fn a_silent_client_is_dropped_after_the_handshake_timeout<R: Adapter>() {
    let dir = TempDir::new();
    let mut config = Config::default();
    config.connection.handshake_timeout = Duration::from_millis(300);
    let server = TestServer::<R>::with_config(dir.path(), config).await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(server.addr).unwrap();
    // Garbage instead of a handshake is dropped at once.
    let mut garbage = TcpStream::connect(server.addr).unwrap();
    std::io::Write::write_all(&mut garbage, &[0xFF; 2000]).unwrap();
    until_closed(&mut garbage);
    until_closed(&mut silent);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    // Others are served meanwhile and after.
    let mut c = TestClient::connect(&server.url("app"), Encoding::Amf0);
    assert_eq!(
        c.call("echo", vec![Value::from(1.0)]),
        Ok(vec![Value::from(1.0)])
    );
    server.stop().await;
}

/// Sockets that never finish a handshake count against their own limit:
/// a hundred of them neither use the connection cap nor keep a real
/// client waiting; past that limit the oldest give way.
async fn idle_sockets_do_not_keep_a_real_client_out<R: Adapter>() {
    let dir = TempDir::new();
    let config = Config {
        max_connections: 2,
        max_handshaking: 8,
        ..Config::default()
    };
    let server = TestServer::<R>::with_config(dir.path(), config).await;
    let mut idle: Vec<_> = (0..100)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    let started = Instant::now();
    let mut a = TestClient::connect(&server.url("app"), Encoding::Amf0);
    let mut b = TestClient::connect(&server.url("app"), Encoding::Amf0);
    for c in [&mut a, &mut b] {
        assert_eq!(
            c.call("echo", vec![Value::from(1.0)]),
            Ok(vec![Value::from(1.0)])
        );
    }
    // Well before the handshake timeout (5 s) would free anything.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // The oldest idle sockets were dropped for the newer ones.
    until_closed(&mut idle[0]);
    // The cap holds for admitted connections: a third is refused.
    let refused = Client::<R>::connect(&server.url("app"), ClientOptions::default()).await;
    assert!(refused.is_err(), "a third connection was admitted");
    drop(idle);
    server.stop().await;
}

/// A message whose chunks stop arriving is dropped with its connection
/// after the partial message timeout, although the client keeps sending
/// other (complete) messages, which keep it from being idle.
async fn a_stalled_message_is_dropped_with_its_connection<R: Adapter>() {
    use std::io::{Read, Write};

    let dir = TempDir::new();
    let mut config = Config::default();
    config.connection.partial_message_timeout = Some(Duration::from_millis(400));
    let server = TestServer::<R>::with_config(dir.path(), config).await;
    let mut c = TestClient::connect(&server.url("app"), Encoding::Amf0);
    // The first 4096-byte chunk (the client's chunk size) of a 100 kB
    // data message on chunk stream 20, then nothing more of it.
    let mut first = vec![0x14, 0, 0, 0, 0x01, 0x86, 0xA0, 18, 0, 0, 0, 0];
    first.extend_from_slice(&[0x05; 4096]);
    // Taken before the write: the server cannot see the chunk earlier.
    let started = Instant::now();
    c.stream.write_all(&first).unwrap();
    // An Acknowledgement (complete, on chunk stream 2) every 100 ms.
    let ack = [0x02, 0, 0, 0, 0, 0, 4, 3, 0, 0, 0, 0, 0, 0, 0x10, 0];
    c.stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = vec![0; 8192];
    let closed_after = loop {
        assert!(started.elapsed() < Duration::from_secs(5), "never closed");
        if c.stream.write_all(&ack).is_err() {
            break started.elapsed();
        }
        match c.stream.read(&mut buf) {
            Ok(0) => break started.elapsed(),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break started.elapsed(),
        }
    };
    assert!(
        closed_after >= Duration::from_millis(400),
        "{closed_after:?}"
    );
    // Others are served meanwhile.
    let mut other = TestClient::connect(&server.url("app"), Encoding::Amf0);
    assert_eq!(
        other.call("echo", vec![Value::from(1.0)]),
        Ok(vec![Value::from(1.0)])
    );
    server.stop().await;
}

/// A client that stops answering is pinged, then closed once nothing came
/// back in time; one that answers stays.
async fn a_client_that_does_not_answer_pings_is_closed<R: Adapter>() {
    use std::io::Read;

    let dir = TempDir::new();
    let mut config = Config::default();
    config.connection.ping_interval = Some(Duration::from_millis(100));
    config.connection.idle_timeout = Some(Duration::from_millis(500));
    let server = TestServer::<R>::with_config(dir.path(), config).await;
    // This one answers: its connection (the test's `Connection`) replies
    // to every PingRequest while it reads.
    let mut live = TestClient::connect(&server.url("app"), Encoding::Amf0);
    // This one never reads nor writes after its connect. The time is
    // taken before: its last byte cannot reach the server earlier.
    let started = Instant::now();
    let mut mute = TestClient::connect(&server.url("app"), Encoding::Amf0);
    let mut buf = vec![0; 8192];
    mute.stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    // Nothing but pings goes to a client that asked for nothing.
    let mut pinged = 0;
    let closed_after = loop {
        assert!(started.elapsed() < Duration::from_secs(5), "never closed");
        // Keep the answering client answering.
        live.answer_for(Duration::from_millis(20));
        match mute.stream.read(&mut buf) {
            Ok(0) => break started.elapsed(),
            Ok(n) => pinged += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break started.elapsed(),
        }
    };
    assert!(pinged > 0, "no PingRequest came before the close");
    assert!(
        closed_after >= Duration::from_millis(500),
        "{closed_after:?}"
    );
    // The answering client is still served.
    assert_eq!(
        live.call("echo", vec![Value::from(2.0)]),
        Ok(vec![Value::from(2.0)])
    );
    server.stop().await;
}

/// After the handshake, the connect deadline replaces the handshake's:
/// the connection outlives the handshake timeout and is dropped at the
/// connect timeout (the connection task moves one timer from deadline to
/// deadline).
async fn the_connect_timeout_follows_the_handshake_timeout<R: Adapter>() {
    use std::io::{Read, Write};

    use rtmp_proto::handshake::{ClientStyle, Handshake};

    let dir = TempDir::new();
    let mut config = Config::default();
    config.connection.handshake_timeout = Duration::from_millis(200);
    config.connection.connect_timeout = Duration::from_millis(1200);
    let server = TestServer::<R>::with_config(dir.path(), config).await;
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut handshake = Handshake::client([9; 32], ClientStyle::Plain);
    let mut out = bytes::BytesMut::new();
    let mut buf = vec![0; 8192];
    while !handshake.is_done() {
        handshake.poll_transmit(&mut out);
        stream.write_all(&out).unwrap();
        out.clear();
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed during the handshake");
        handshake.handle_input(0, &buf[..n]).unwrap();
    }
    handshake.poll_transmit(&mut out);
    stream.write_all(&out).unwrap();
    let done = Instant::now();
    // Past the handshake timeout: still open (nothing to read, no EOF).
    stream
        .set_read_timeout(Some(Duration::from_millis(600)))
        .unwrap();
    let early = stream.read(&mut buf);
    assert!(
        early.as_ref().is_err_and(|e| matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )),
        "closed before the connect timeout: {early:?}"
    );
    until_closed(&mut stream);
    let waited = done.elapsed();
    assert!(waited >= Duration::from_millis(1200), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    server.stop().await;
}

/// A subscriber that never reads is disconnected once its queue passes
/// the cap, while the writer and another reader go on being served.
async fn a_reader_that_never_reads_is_disconnected<R: Adapter>() {
    let dir = TempDir::new();
    let mut config = Config::default();
    config.queue.max_queued_bytes = 256 << 10;
    config.max_unsent_bytes = 64 << 10;
    let server = TestServer::<R>::with_config(dir.path(), config).await;

    let stream = small_window(server.addr);
    let mut stalled = TestClient::start_on(stream, &server.url("app"), Encoding::Amf0);
    assert!(matches!(stalled.next_event(), Event::Connected { .. }));
    stalled.use_so("flood", false);

    let mut writer = TestClient::connect(&server.url("app"), Encoding::Amf0);
    let mut reader = TestClient::connect(&server.url("app"), Encoding::Amf3);
    writer.use_so("flood", false);
    reader.use_so("flood", false);
    // Sends are never coalesced: 64 KiB each, far past every buffer.
    let payload = Value::from("x".repeat(64 << 10));
    for i in 0..200 {
        let send = SoEvent::SendMessage {
            method: "chunk".into(),
            args: vec![Value::from(f64::from(i)), payload.clone()],
        };
        writer.send_so("flood", false, vec![send]);
        for client in [&mut writer, &mut reader] {
            let got = client.next_so();
            let SoEvent::SendMessage { args, .. } = &got.events[0] else {
                panic!("{got:?}")
            };
            assert_eq!(args[0], Value::from(f64::from(i)));
        }
    }
    // The stalled reader was cut off: what it can still read ends.
    let read = until_closed(&mut stalled.stream);
    assert!(read < 8 << 20, "{read} bytes reached the stalled reader");
    // The others are still served.
    writer.send_so("flood", false, vec![set("k", 1.0)]);
    assert_eq!(reader.next_so().events, [change("k", 1.0)]);
    server.stop().await;
}

/// A bug in server code (a hook that panics) fails the request that ran
/// into it, and the server serves on.
async fn a_panic_in_server_code_fails_its_request_only<R: Adapter>() {
    let dir = TempDir::new();
    let server = Server::<R>::builder()
        .bind_addr("127.0.0.1:0")
        .data_dir(dir.path())
        .setup(|engine| {
            engine.register_method(
                "boom",
                |_: &mut Context<'_>, _: &CallRequest<'_>| -> Result<Value, Value> {
                    panic!("a bug in a method handler")
                },
            );
        })
        .bind()
        .await
        .unwrap();
    let url = format!("rtmp://{}/app", server.local_addr());
    let running = TestServer::<R>::run(server);
    let client = Client::<R>::connect(&url, ClientOptions::default())
        .await
        .unwrap();
    assert!(matches!(
        client.call("boom", vec![]).await,
        Err(ClientError::CallFailed(_))
    ));
    assert!(matches!(
        client.call("boom", vec![]).await,
        Err(ClientError::CallFailed(_))
    ));
    let so = client.shared_object("still", false).await.unwrap();
    so.set("up", true).await.unwrap();
    running.stop().await;
}

/// While updates keep coming, each client gets what one delivery tick
/// gathered in one hand-over, coalesced; after a quiet spell an update
/// goes out at once.
async fn updates_within_a_delivery_tick_reach_readers_coalesced<R: Adapter>() {
    let dir = TempDir::new();
    let tick = Duration::from_secs(2);
    let config = Config {
        delivery_tick: tick,
        ..Config::default()
    };
    let server = TestServer::<R>::with_config(dir.path(), config).await;
    let mut a = TestClient::connect(&server.url("app"), Encoding::Amf0);
    let mut b = TestClient::connect(&server.url("app"), Encoding::Amf0);
    a.use_so("tick", false);
    b.use_so("tick", false);
    sleep::<R>(tick + Duration::from_millis(100)).await;
    let sent = Instant::now();
    a.send_so("tick", false, vec![set("x", 1.0)]);
    let first = b.next_so();
    assert!(sent.elapsed() < tick, "waited {:?}", sent.elapsed());
    assert_eq!(first.events, [change("x", 1.0)]);
    // Within a tick of that hand-over: held, then coalesced to the last
    // (each in its own engine turn: without the tick, each would go out).
    for x in [2.0, 3.0, 4.0] {
        a.send_so("tick", false, vec![set("x", x)]);
        sleep::<R>(Duration::from_millis(100)).await;
    }
    let next = b.next_so();
    assert_eq!(
        (next.version, next.events),
        (first.version + 3, vec![change("x", 4.0)])
    );
    assert_eq!(b.sync(), []);
    // The writer's answers are never coalesced.
    let answers: Vec<_> = a.sync().into_iter().map(|m| m.events).collect();
    let success = vec![SoEvent::Success { key: "x".into() }];
    assert_eq!(answers, vec![success; 4]);
    server.stop().await;
}

suite!(
    connections_past_the_cap_are_refused,
    a_silent_client_is_dropped_after_the_handshake_timeout,
    idle_sockets_do_not_keep_a_real_client_out,
    a_stalled_message_is_dropped_with_its_connection,
    a_client_that_does_not_answer_pings_is_closed,
    the_connect_timeout_follows_the_handshake_timeout,
    a_reader_that_never_reads_is_disconnected,
    a_panic_in_server_code_fails_its_request_only,
    updates_within_a_delivery_tick_reach_readers_coalesced,
);
