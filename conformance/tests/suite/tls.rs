//! RTMPS: RTMP inside TLS on its own listener, through `rustls`. A client
//! of the project (the sans-IO `Connection`) over a TLS stream shares an
//! SO with a plain RTMP client; a client that speaks plain RTMP to the TLS
//! port is closed without disturbing anyone.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtmp_proto::amf::{Encoding, Value};
use rtmp_proto::connection::{Config, ConnectParams, Connection, Event, Side};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use app_cli::demo::ServeDemo;

use crate::adapter::Adapter;
use crate::harness::{TempDir, TestServer};
use crate::wire::{TestClient, change, set, until_closed};

const PATIENCE: Duration = Duration::from_secs(10);

/// An RTMP client `Connection` over a rustls client stream.
struct TlsClient {
    stream: StreamOwned<ClientConnection, TcpStream>,
    conn: Connection,
}

impl TlsClient {
    fn connect(addr: std::net::SocketAddr, cert: CertificateDer<'static>, path: &str) -> Self {
        let mut roots = RootCertStore::empty();
        roots.add(cert).expect("the test certificate");
        #[expect(deprecated, reason = "the server's provider: ring")]
        let provider = rustls::crypto::ring::default_provider();
        let config = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from("localhost").unwrap();
        let tls = ClientConnection::new(Arc::new(config), name).unwrap();
        let tcp = TcpStream::connect(addr).expect("TCP connect");
        tcp.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let now = Instant::now();
        let mut conn = Connection::new(Arc::new(Config::default()), Side::Client, now, [7; 32]);
        let url = format!("rtmps://localhost:{}/{path}", addr.port());
        let params = ConnectParams::from_url(&url.replacen("rtmps", "rtmp", 1), Encoding::Amf3)
            .expect("a valid URL");
        conn.connect(now, params).unwrap();
        let mut client = Self {
            stream: StreamOwned::new(tls, tcp),
            conn,
        };
        match client.next_event() {
            Event::Connected { .. } => client,
            other => panic!("not connected: {other:?}"),
        }
    }

    fn next_event(&mut self) -> Event {
        let deadline = Instant::now() + PATIENCE;
        let mut buf = vec![0; 64 << 10];
        loop {
            while let Some(event) = self.conn.poll_event() {
                if !matches!(event, Event::HandshakeDone) {
                    return event;
                }
            }
            let mut out = bytes::BytesMut::new();
            self.conn.poll_transmit(&mut out);
            if !out.is_empty() {
                self.stream.write_all(&out).expect("TLS write");
                self.stream.flush().unwrap();
            }
            assert!(Instant::now() < deadline, "no answer over TLS in time");
            match self.stream.read(&mut buf) {
                Ok(0) => panic!("the server closed the TLS stream"),
                Ok(n) => {
                    let _ = self.conn.handle_input(Instant::now(), &buf[..n]);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("TLS read: {e}"),
            }
        }
    }

    fn send_so(&mut self, name: &str, events: Vec<SoEvent>) -> SharedObjectMessage {
        let message = SharedObjectMessage {
            name: name.into(),
            version: 0,
            persistent: false,
            events,
        };
        self.conn
            .send_shared_object(Instant::now(), &message)
            .unwrap();
        match self.next_event() {
            Event::SharedObject(message) => message,
            other => panic!("expected a SharedObject message, got {other:?}"),
        }
    }
}

async fn rtmps_clients_share_sos_with_rtmp_clients<R: Adapter>() {
    let dir = TempDir::new();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::create_dir_all(dir.path()).unwrap();
    std::fs::write(&cert_path, certified.cert.pem()).unwrap();
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).unwrap();
    let server = adapter_core::Server::<R>::builder()
        .bind_addr("127.0.0.1:0")
        .tls("127.0.0.1:0", &cert_path, &key_path)
        .memory_store()
        .demo()
        .bind()
        .await
        .expect("the server starts");
    let tls_addr = server.tls_addr().expect("an RTMPS listener");
    let server = TestServer::<R>::run(server);

    let mut plain = TestClient::connect(&server.url("app"), Encoding::Amf0);
    plain.use_so("doc", false);
    let mut secure = TlsClient::connect(tls_addr, certified.cert.der().clone(), "app");
    let used = secure.send_so("doc", vec![SoEvent::Use]);
    assert_eq!(used.events, [SoEvent::UseSuccess, SoEvent::Clear]);
    let answer = secure.send_so("doc", vec![set("k", "over tls")]);
    assert_eq!(answer.events, [SoEvent::Success { key: "k".into() }]);
    assert_eq!(plain.next_so().events, [change("k", "over tls")]);
    plain.send_so("doc", false, vec![set("n", Value::from(2.0))]);
    plain.next_so();
    match secure.next_event() {
        Event::SharedObject(message) => assert_eq!(message.events, [change("n", 2.0)]),
        other => panic!("{other:?}"),
    }

    // Plain RTMP on the TLS port: closed, nobody else affected.
    let mut wrong = TcpStream::connect(tls_addr).unwrap();
    wrong.write_all(&[3; 1537]).unwrap();
    until_closed(&mut wrong);
    plain.send_so("doc", false, vec![set("after", true)]);
    assert_eq!(
        plain.next_so().events,
        [SoEvent::Success {
            key: "after".into()
        }]
    );
    server.stop().await;
}

suite!(rtmps_clients_share_sos_with_rtmp_clients);
