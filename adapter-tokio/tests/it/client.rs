//! A small test client: `rtmp_proto::connection::Connection` over a tokio
//! `TcpStream`, driven step by step by the test.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtmp_proto::amf::{Encoding, Value};
use rtmp_proto::connection::{CallId, CloseReason, Config, ConnectParams, Connection, Event, Side};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for anything the server should send.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

pub(crate) struct TestClient {
    pub(crate) stream: TcpStream,
    pub(crate) conn: Connection,
    events: VecDeque<Event>,
    read_buf: BytesMut,
    write_buf: BytesMut,
    /// Write in pieces of this many bytes with this pause between them.
    pub(crate) dribble: Option<(usize, Duration)>,
}

impl TestClient {
    /// Handshake and `connect`, without waiting for the answer.
    pub(crate) async fn start(url: &str, encoding: Encoding) -> Self {
        let addr = url
            .strip_prefix("rtmp://")
            .and_then(|rest| rest.split('/').next())
            .expect("rtmp://host:port/...");
        let stream = TcpStream::connect(addr).await.expect("TCP connect");
        Self::start_on(stream, url, encoding).await
    }

    /// Handshake and `connect` over a stream the test opened.
    pub(crate) async fn start_on(stream: TcpStream, url: &str, encoding: Encoding) -> Self {
        Self::start_with(stream, url, encoding, None).await
    }

    /// [`TestClient::start_on`], writing in pieces from the first byte.
    pub(crate) async fn start_with(
        stream: TcpStream,
        url: &str,
        encoding: Encoding,
        dribble: Option<(usize, Duration)>,
    ) -> Self {
        stream.set_nodelay(true).unwrap();
        let now = Instant::now();
        let mut conn = Connection::new(Arc::new(Config::default()), Side::Client, now, [9; 32]);
        let params = ConnectParams::from_url(url, encoding).expect("a valid URL");
        conn.connect(now, params).unwrap();
        let mut client = Self {
            stream,
            conn,
            events: VecDeque::new(),
            read_buf: BytesMut::with_capacity(64 << 10),
            write_buf: BytesMut::new(),
            dribble,
        };
        client.flush().await;
        client
    }

    /// Connects and waits for the accept.
    pub(crate) async fn connect(url: &str, encoding: Encoding) -> Self {
        let mut client = Self::start(url, encoding).await;
        match client.next_event().await {
            Event::Connected { encoding: got, .. } => assert_eq!(got, encoding),
            other => panic!("connect to {url} not accepted: {other:?}"),
        }
        client
    }

    /// Writes what the connection has to send.
    pub(crate) async fn flush(&mut self) {
        self.conn.poll_transmit(&mut self.write_buf);
        // A write error means the server closed: the next read says so.
        if let Some((piece, pause)) = self.dribble {
            for chunk in self.write_buf.chunks(piece) {
                if self.stream.write_all(chunk).await.is_err() {
                    break;
                }
                tokio::time::sleep(pause).await;
            }
        } else if !self.write_buf.is_empty() {
            let _ = self.stream.write_all(&self.write_buf).await;
        }
        self.write_buf.clear();
    }

    /// The next application event (pings and the like are answered
    /// inside); panics after [`PATIENCE`].
    pub(crate) async fn next_event(&mut self) -> Event {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(event) = self.events.pop_front() {
                return event;
            }
            while let Some(event) = self.conn.poll_event() {
                if !matches!(event, Event::HandshakeDone) {
                    self.events.push_back(event);
                }
            }
            if !self.events.is_empty() {
                continue;
            }
            self.flush().await;
            let read = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.read_buf))
                .await
                .expect("the server answered in time");
            // A reset (the server closed with our bytes unread) ends the
            // connection like a close.
            if !matches!(read, Ok(n) if n > 0) {
                return Event::Closed(CloseReason::PeerClosed);
            }
            let _ = self.conn.handle_input(Instant::now(), &self.read_buf);
            self.read_buf.clear();
            self.flush().await;
        }
    }

    /// The next SharedObject message; panics on any other event.
    pub(crate) async fn next_so(&mut self) -> SharedObjectMessage {
        match self.next_event().await {
            Event::SharedObject(message) => message,
            other => panic!("expected a SharedObject message, got {other:?}"),
        }
    }

    /// Sends one SharedObject message.
    pub(crate) async fn send_so(&mut self, name: &str, persistent: bool, events: Vec<SoEvent>) {
        let message = SharedObjectMessage {
            name: name.into(),
            version: 0,
            persistent,
            events,
        };
        self.conn
            .send_shared_object(Instant::now(), &message)
            .unwrap();
        self.flush().await;
    }

    /// USE, and the answer (USE_SUCCESS, CLEAR, CHANGEs).
    pub(crate) async fn use_so(&mut self, name: &str, persistent: bool) -> SharedObjectMessage {
        self.send_so(name, persistent, vec![SoEvent::Use]).await;
        self.next_so().await
    }

    /// Calls `method(args)` and waits for its answer.
    pub(crate) async fn call(
        &mut self,
        method: &str,
        args: Vec<Value>,
    ) -> Result<Vec<Value>, Value> {
        let id: CallId = self.conn.call(Instant::now(), method, args).unwrap();
        self.flush().await;
        match self.next_event().await {
            Event::CallResult { id: got, outcome } if got == id => outcome,
            other => panic!("expected the answer to {method}, got {other:?}"),
        }
    }

    /// A round trip through the engine (an `echo` call), dropping the
    /// SharedObject messages that arrive before its answer: everything the
    /// engine sent this client before is then consumed.
    pub(crate) async fn sync(&mut self) -> Vec<SharedObjectMessage> {
        let id = self.conn.call(Instant::now(), "echo", vec![]).unwrap();
        self.flush().await;
        let mut skipped = Vec::new();
        loop {
            match self.next_event().await {
                Event::CallResult { id: got, .. } if got == id => return skipped,
                Event::SharedObject(message) => skipped.push(message),
                other => panic!("expected the echo, got {other:?}"),
            }
        }
    }
}

/// `SoEvent::RequestChange`.
pub(crate) fn set(key: &str, value: impl Into<Value>) -> SoEvent {
    SoEvent::RequestChange {
        key: key.into(),
        value: value.into(),
    }
}

/// `SoEvent::Change`.
pub(crate) fn change(key: &str, value: impl Into<Value>) -> SoEvent {
    SoEvent::Change {
        key: key.into(),
        value: value.into(),
    }
}

/// A STATUS event at level `error`.
pub(crate) fn status_error(code: &str) -> SoEvent {
    SoEvent::Status {
        code: code.into(),
        level: "error".into(),
    }
}
