//! A WebSocket test client speaking `rtmp-so.v1`, and plain HTTP GETs,
//! for the tests of the server's HTTP side.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rtmp_proto::amf::Value;
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use so_web::{ClientMessage, Limits, ServerMessage};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

use crate::harness::TestServer;

/// How long a test waits for any one answer.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// A WebSocket client speaking `rtmp-so.v1`, with the same calls as the
/// RTMP [`TestClient`]: SharedObject messages in and out as
/// `SharedObjectMessage`s, so the same scenarios read the same.
pub(crate) struct WsClient {
    pub(crate) ws: WebSocket<TcpStream>,
    next_call: f64,
}

impl WsClient {
    /// Opens the WebSocket with the subprotocol, without `connect`.
    pub(crate) fn open(http: SocketAddr) -> Self {
        let stream = TcpStream::connect(http).expect("TCP connect");
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut request = format!("ws://{http}/so").into_client_request().unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            so_web::SUBPROTOCOL.parse().unwrap(),
        );
        let (ws, response) = tungstenite::client(request, stream).expect("the upgrade");
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            so_web::SUBPROTOCOL
        );
        Self { ws, next_call: 0.0 }
    }

    /// Opens and connects to `path` (`app` or `app/room`), expecting the accept.
    pub(crate) fn connect(http: SocketAddr, path: &str) -> Self {
        let mut client = Self::open(http);
        client.send_connect(path);
        assert_eq!(client.next(), ServerMessage::Connected, "connect to {path}");
        client
    }

    pub(crate) fn send_connect(&mut self, path: &str) {
        let (app, room) = match path.split_once('/') {
            Some((app, room)) => (app, Some(room.to_owned())),
            None => (path, None),
        };
        self.send(&ClientMessage::Connect {
            app: app.into(),
            room,
            args: vec![],
        });
    }

    pub(crate) fn send(&mut self, message: &ClientMessage) {
        self.send_text(&message.to_json().to_string());
    }

    pub(crate) fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).expect("send");
    }

    /// The next frame from the server (pings answered inside).
    pub(crate) fn next(&mut self) -> ServerMessage {
        loop {
            match self.ws.read().expect("a frame in time") {
                Message::Text(text) => {
                    return ServerMessage::decode(text.as_str(), &Limits::default())
                        .unwrap_or_else(|e| panic!("{text}: {e}"));
                }
                Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => {}
            }
        }
    }

    /// The close frame's code, reading past anything else.
    pub(crate) fn closed_with(&mut self) -> CloseCode {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(Message::Close(Some(frame))) => return frame.code,
                Ok(Message::Close(None)) => return CloseCode::Status,
                Ok(_) => {}
                Err(e) => panic!("no close frame: {e}"),
            }
        }
        panic!("no close frame in time")
    }

    pub(crate) fn next_so(&mut self) -> SharedObjectMessage {
        match self.next() {
            ServerMessage::SharedObject(message) => message,
            other => panic!("expected a SharedObject frame, got {other:?}"),
        }
    }

    /// Sends the events an RTMP client would, as the matching frame.
    pub(crate) fn send_so(&mut self, name: &str, persistent: bool, events: Vec<SoEvent>) {
        let so = name.into();
        let message = match events.as_slice() {
            [SoEvent::Use] => ClientMessage::Use { so, persistent },
            [SoEvent::Release] => ClientMessage::Release { so },
            [SoEvent::SendMessage { method, args }] => ClientMessage::Send {
                so,
                method: method.clone(),
                args: args.clone(),
            },
            [SoEvent::RequestRemove { .. }, ..] => ClientMessage::Remove {
                so,
                keys: events
                    .iter()
                    .map(|e| match e {
                        SoEvent::RequestRemove { key } => key.clone(),
                        other => panic!("mixed events {other:?}"),
                    })
                    .collect(),
            },
            _ => ClientMessage::Set {
                so,
                values: events
                    .into_iter()
                    .map(|e| match e {
                        SoEvent::RequestChange { key, value } => (key, value),
                        other => panic!("no frame for {other:?}"),
                    })
                    .collect(),
            },
        };
        self.send(&message);
    }

    pub(crate) fn use_so(&mut self, name: &str, persistent: bool) -> SharedObjectMessage {
        self.send_so(name, persistent, vec![SoEvent::Use]);
        self.next_so()
    }

    pub(crate) fn call(&mut self, method: &str, args: Vec<Value>) -> Result<Value, Value> {
        self.next_call += 1.0;
        let id = self.next_call;
        self.send(&ClientMessage::Call {
            id,
            method: method.into(),
            args,
        });
        match self.next() {
            ServerMessage::Result { id: got, outcome } if got == id => outcome,
            other => panic!("expected the answer to {method}, got {other:?}"),
        }
    }

    /// A round trip through the engine (`echo`), returning the SharedObject
    /// frames that came before its answer.
    pub(crate) fn sync(&mut self) -> Vec<SharedObjectMessage> {
        self.next_call += 1.0;
        let id = self.next_call;
        self.send(&ClientMessage::Call {
            id,
            method: "echo".into(),
            args: vec![],
        });
        let mut skipped = Vec::new();
        loop {
            match self.next() {
                ServerMessage::Result { id: got, .. } if got == id => return skipped,
                ServerMessage::SharedObject(message) => skipped.push(message),
                other => panic!("expected the echo, got {other:?}"),
            }
        }
    }
}

pub(crate) fn http_of<R>(server: &TestServer<R>) -> SocketAddr {
    server.http.expect("the test server serves HTTP")
}

/// One plain HTTP GET: the status and the body.
pub(crate) fn get(http: SocketAddr, path_and_headers: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(http).expect("TCP connect");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(stream, "GET {path_and_headers}\r\nHost: test\r\n\r\n").unwrap();
    let mut response = Vec::new();
    loop {
        let mut buf = [0; 8192];
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("reading the response: {e}"),
        }
    }
    let text = String::from_utf8(response).expect("a UTF-8 response");
    let status = text[9..12].parse().expect("a status line");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
