//! Limits and hostile or slow clients.

use std::time::Duration;

use adapter_tokio::client::{Client, ClientOptions};
use adapter_tokio::{Config, Server};
use rtmp_proto::amf::{Encoding, Value};
use rtmp_proto::message::shared_object::SoEvent;
use so_engine::{CallRequest, Context};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};

use crate::client::{PATIENCE, TestClient};
use crate::harness::{TempDir, TestServer};

/// Reads until the server closes the socket (EOF or reset); panics if it
/// does not within [`PATIENCE`].
pub(crate) async fn until_closed(stream: &mut TcpStream) -> usize {
    let mut buf = vec![0; 64 << 10];
    let mut total = 0;
    loop {
        match tokio::time::timeout(PATIENCE, stream.read(&mut buf)).await {
            Err(_) => panic!("the server kept the connection open"),
            Ok(Ok(0) | Err(_)) => return total,
            Ok(Ok(n)) => total += n,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_refused() {
    let dir = TempDir::new();
    let config = Config {
        max_connections: 2,
        ..Config::default()
    };
    let server = TestServer::with_config(dir.path(), config).await;
    let options = ClientOptions::default;
    let a = Client::connect(&server.url("app"), options())
        .await
        .unwrap();
    let b = Client::connect(&server.url("app"), options())
        .await
        .unwrap();
    let refused = Client::connect(&server.url("app"), options()).await;
    assert!(refused.is_err(), "a third connection was served");
    // A slot frees up when a connection closes.
    a.close().await;
    let mut attempts = 0;
    let c = loop {
        match Client::connect(&server.url("app"), options()).await {
            Ok(c) => break c,
            Err(e) if attempts < 100 => {
                attempts += 1;
                let _ = e;
                tokio::time::sleep(Duration::from_millis(20)).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_dropped_after_the_handshake_timeout() {
    let dir = TempDir::new();
    let mut config = Config::default();
    config.connection.handshake_timeout = Duration::from_millis(300);
    let server = TestServer::with_config(dir.path(), config).await;
    let started = tokio::time::Instant::now();
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    // Garbage instead of a handshake is dropped at once.
    let mut garbage = TcpStream::connect(server.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut garbage, &[0xFF; 2000])
        .await
        .unwrap();
    until_closed(&mut garbage).await;
    until_closed(&mut silent).await;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    // Others are served meanwhile and after.
    let mut c = TestClient::connect(&server.url("app"), Encoding::Amf0).await;
    assert_eq!(
        c.call("echo", vec![Value::from(1.0)]).await,
        Ok(vec![Value::from(1.0)])
    );
    server.stop().await;
}

/// After the handshake, the connect deadline replaces the handshake's:
/// the connection outlives the handshake timeout and is dropped at the
/// connect timeout (the connection task moves one timer from deadline to
/// deadline).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connect_timeout_follows_the_handshake_timeout() {
    use rtmp_proto::handshake::{ClientStyle, Handshake};
    use tokio::io::AsyncWriteExt;

    let dir = TempDir::new();
    let mut config = Config::default();
    config.connection.handshake_timeout = Duration::from_millis(200);
    config.connection.connect_timeout = Duration::from_millis(1200);
    let server = TestServer::with_config(dir.path(), config).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut handshake = Handshake::client([9; 32], ClientStyle::Plain);
    let mut out = bytes::BytesMut::new();
    let mut buf = vec![0; 8192];
    while !handshake.is_done() {
        handshake.poll_transmit(&mut out);
        stream.write_all(&out).await.unwrap();
        out.clear();
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed during the handshake");
        handshake.handle_input(0, &buf[..n]).unwrap();
    }
    handshake.poll_transmit(&mut out);
    stream.write_all(&out).await.unwrap();
    let done = tokio::time::Instant::now();
    // Past the handshake timeout: still open (nothing to read, no EOF).
    let early = tokio::time::timeout(Duration::from_millis(600), stream.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "closed before the connect timeout: {early:?}"
    );
    until_closed(&mut stream).await;
    let waited = done.elapsed();
    assert!(waited >= Duration::from_millis(1200), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    server.stop().await;
}

/// A subscriber that never reads is disconnected once its queue passes
/// the cap, while the writer and another reader go on being served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_never_reads_is_disconnected() {
    let dir = TempDir::new();
    let mut config = Config::default();
    config.queue.max_queued_bytes = 256 << 10;
    config.max_unsent_bytes = 64 << 10;
    let server = TestServer::with_config(dir.path(), config).await;

    // The stalled reader: a small receive buffer, so that the kernel holds
    // little on its behalf.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    let mut stalled = TestClient::start_on(stream, &server.url("app"), Encoding::Amf0).await;
    assert!(matches!(
        stalled.next_event().await,
        rtmp_proto::connection::Event::Connected { .. }
    ));
    stalled.use_so("flood", false).await;

    let mut writer = TestClient::connect(&server.url("app"), Encoding::Amf0).await;
    let mut reader = TestClient::connect(&server.url("app"), Encoding::Amf3).await;
    writer.use_so("flood", false).await;
    reader.use_so("flood", false).await;
    // Sends are never coalesced: 64 KiB each, far past every buffer.
    let payload = Value::from("x".repeat(64 << 10));
    for i in 0..200 {
        let send = SoEvent::SendMessage {
            method: "chunk".into(),
            args: vec![Value::from(f64::from(i)), payload.clone()],
        };
        writer.send_so("flood", false, vec![send]).await;
        for client in [&mut writer, &mut reader] {
            let got = client.next_so().await;
            let SoEvent::SendMessage { args, .. } = &got.events[0] else {
                panic!("{got:?}")
            };
            assert_eq!(args[0], Value::from(f64::from(i)));
        }
    }
    // The stalled reader was cut off: what it can still read ends.
    let read = until_closed(&mut stalled.stream).await;
    assert!(read < 8 << 20, "{read} bytes reached the stalled reader");
    // The others are still served.
    writer
        .send_so("flood", false, vec![crate::client::set("k", 1.0)])
        .await;
    assert_eq!(
        reader.next_so().await.events,
        [crate::client::change("k", 1.0)]
    );
    server.stop().await;
}

/// A bug in server code (a hook that panics) stops the server with an
/// error instead of leaving it up without an engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_server_code_stops_the_server() {
    let dir = TempDir::new();
    let server = Server::builder()
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
    let running = tokio::spawn(server.run_until(std::future::pending()));
    let client = Client::connect(&url, ClientOptions::default())
        .await
        .unwrap();
    assert!(client.call("boom", vec![]).await.is_err());
    let stopped = tokio::time::timeout(PATIENCE, running)
        .await
        .expect("the server stops")
        .unwrap();
    assert!(
        matches!(stopped, Err(adapter_tokio::Error::EngineGone)),
        "{stopped:?}"
    );
}
