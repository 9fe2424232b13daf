//! A blocking wire-level test client: `rtmp_proto::connection::Connection`
//! over a `std::net::TcpStream`, driven step by step by the test. It runs
//! on the test's own thread, beside any runtime.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtmp_proto::amf::{Encoding, Value};
use rtmp_proto::chunk::{Decoder, DecoderLimits};
use rtmp_proto::connection::{CallId, CloseReason, Config, ConnectParams, Connection, Event, Side};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use rtmp_proto::message::types::{SHARED_OBJECT_AMF0, SHARED_OBJECT_AMF3};

use crate::adapter::PATIENCE;

pub(crate) struct TestClient {
    pub(crate) stream: TcpStream,
    pub(crate) conn: Connection,
    events: VecDeque<Event>,
    read_buf: Vec<u8>,
    write_buf: BytesMut,
    /// Write in pieces of this many bytes with this pause between them.
    dribble: Option<(usize, Duration)>,
    /// A second decoder of what arrives, if [`TestClient::tap`] was called.
    tap: Option<Tap>,
}

/// The handshake's bytes from the server (S0, S1, S2) before the first
/// chunk.
const SERVER_HANDSHAKE: usize = 1 + 1536 + 1536;

/// A second chunk decoder over the bytes a [`TestClient`] receives, which
/// records the chunk stream each message came on: the `Connection` hides
/// it.
struct Tap {
    /// Handshake bytes still to skip.
    skip: usize,
    decoder: Decoder,
    /// Chunk stream and message type of every message, in order.
    seen: Vec<(u32, u8)>,
}

impl Tap {
    fn push(&mut self, mut bytes: &[u8]) {
        let skipped = self.skip.min(bytes.len());
        self.skip -= skipped;
        bytes = &bytes[skipped..];
        self.decoder.push(bytes);
        // The Connection reports a protocol error itself; the tap stops.
        while let Ok(Some(message)) = self.decoder.next_message() {
            self.seen
                .push((message.header.csid, message.header.type_id));
        }
    }
}

impl TestClient {
    /// Handshake and `connect`, without waiting for the answer.
    pub(crate) fn start(url: &str, encoding: Encoding) -> Self {
        let addr = url
            .strip_prefix("rtmp://")
            .and_then(|rest| rest.split('/').next())
            .expect("rtmp://host:port/...");
        let stream = TcpStream::connect(addr).expect("TCP connect");
        Self::start_on(stream, url, encoding)
    }

    /// Handshake and `connect` over a stream the test opened.
    pub(crate) fn start_on(stream: TcpStream, url: &str, encoding: Encoding) -> Self {
        Self::start_with(stream, url, encoding, None)
    }

    /// [`TestClient::start_on`], writing in pieces from the first byte.
    pub(crate) fn start_with(
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
            read_buf: vec![0; 64 << 10],
            write_buf: BytesMut::new(),
            dribble,
            tap: None,
        };
        client.flush();
        client
    }

    /// Connects and waits for the accept.
    pub(crate) fn connect(url: &str, encoding: Encoding) -> Self {
        let mut client = Self::start(url, encoding);
        match client.next_event() {
            Event::Connected { encoding: got, .. } => assert_eq!(got, encoding),
            other => panic!("connect to {url} not accepted: {other:?}"),
        }
        client
    }

    /// Records the chunk stream of every message from now on (see
    /// [`TestClient::so_chunk_streams`]); call it before anything is read
    /// (right after [`TestClient::start_on`]).
    pub(crate) fn tap(&mut self) {
        self.tap = Some(Tap {
            skip: SERVER_HANDSHAKE,
            decoder: Decoder::new(DecoderLimits::default()),
            seen: Vec::new(),
        });
    }

    /// The chunk streams the SharedObject messages came on so far, in
    /// order (empty without [`TestClient::tap`]).
    pub(crate) fn so_chunk_streams(&self) -> Vec<u32> {
        self.tap
            .iter()
            .flat_map(|tap| &tap.seen)
            .filter(|(_, ty)| matches!(*ty, SHARED_OBJECT_AMF0 | SHARED_OBJECT_AMF3))
            .map(|(csid, _)| *csid)
            .collect()
    }

    /// Hands the first `n` bytes of the read buffer to the connection (and
    /// the tap).
    fn input(&mut self, n: usize) {
        let bytes = &self.read_buf[..n];
        if let Some(tap) = &mut self.tap {
            tap.push(bytes);
        }
        let _ = self.conn.handle_input(Instant::now(), bytes);
    }

    /// Writes what the connection has to send.
    pub(crate) fn flush(&mut self) {
        self.conn.poll_transmit(&mut self.write_buf);
        // A write error means the server closed: the next read says so.
        if let Some((piece, pause)) = self.dribble {
            for chunk in self.write_buf.chunks(piece) {
                if self.stream.write_all(chunk).is_err() {
                    break;
                }
                std::thread::sleep(pause);
            }
        } else if !self.write_buf.is_empty() {
            let _ = self.stream.write_all(&self.write_buf);
        }
        self.write_buf.clear();
    }

    /// Reads what arrives within `wait` and lets the connection answer it
    /// (pings and the like); events are kept for later.
    pub(crate) fn answer_for(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        if let Some(n) = read_until(&mut self.stream, &mut self.read_buf, deadline)
            && n > 0
        {
            self.input(n);
            while let Some(event) = self.conn.poll_event() {
                if !matches!(event, Event::HandshakeDone) {
                    self.events.push_back(event);
                }
            }
        }
        self.flush();
    }

    /// The next application event (pings and the like are answered
    /// inside); panics after [`PATIENCE`].
    pub(crate) fn next_event(&mut self) -> Event {
        let deadline = Instant::now() + PATIENCE;
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
            self.flush();
            let Some(n) = read_until(&mut self.stream, &mut self.read_buf, deadline) else {
                panic!("the server did not answer in time");
            };
            // A reset (the server closed with our bytes unread) ends the
            // connection like a close.
            if n == 0 {
                return Event::Closed(CloseReason::PeerClosed);
            }
            self.input(n);
            self.flush();
        }
    }

    /// The next SharedObject message; panics on any other event.
    pub(crate) fn next_so(&mut self) -> SharedObjectMessage {
        match self.next_event() {
            Event::SharedObject(message) => message,
            other => panic!("expected a SharedObject message, got {other:?}"),
        }
    }

    /// The next SharedObject message already received, if that is what
    /// comes next (nothing is read).
    pub(crate) fn take_so(&mut self) -> Option<SharedObjectMessage> {
        if !matches!(self.events.front(), Some(Event::SharedObject(_))) {
            return None;
        }
        match self.events.pop_front() {
            Some(Event::SharedObject(message)) => Some(message),
            _ => None,
        }
    }

    /// Sends one SharedObject message.
    pub(crate) fn send_so(&mut self, name: &str, persistent: bool, events: Vec<SoEvent>) {
        let message = SharedObjectMessage {
            name: name.into(),
            version: 0,
            persistent,
            events,
        };
        self.conn
            .send_shared_object(Instant::now(), &message)
            .unwrap();
        self.flush();
    }

    /// USE, and the answer (USE_SUCCESS, CLEAR, CHANGEs).
    pub(crate) fn use_so(&mut self, name: &str, persistent: bool) -> SharedObjectMessage {
        self.send_so(name, persistent, vec![SoEvent::Use]);
        self.next_so()
    }

    /// Calls `method(args)` and waits for its answer.
    pub(crate) fn call(&mut self, method: &str, args: Vec<Value>) -> Result<Vec<Value>, Value> {
        let id: CallId = self.conn.call(Instant::now(), method, args).unwrap();
        self.flush();
        match self.next_event() {
            Event::CallResult { id: got, outcome } if got == id => outcome,
            other => panic!("expected the answer to {method}, got {other:?}"),
        }
    }

    /// A round trip through the engine (an `echo` call), dropping the
    /// SharedObject messages that arrive before its answer: everything the
    /// engine sent this client before is then consumed.
    pub(crate) fn sync(&mut self) -> Vec<SharedObjectMessage> {
        let id = self.conn.call(Instant::now(), "echo", vec![]).unwrap();
        self.flush();
        let mut skipped = Vec::new();
        loop {
            match self.next_event() {
                Event::CallResult { id: got, .. } if got == id => return skipped,
                Event::SharedObject(message) => skipped.push(message),
                other => panic!("expected the echo, got {other:?}"),
            }
        }
    }
}

/// One read by `deadline`: `Some(0)` at the end (or a reset), `None` if
/// nothing came in time.
fn read_until(stream: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> Option<usize> {
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match stream.read(buf) {
            Ok(n) => return Some(n),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Some(0),
        }
    }
}

/// Reads until the server closes the socket (EOF or reset), and how many
/// bytes came; panics if it does not within [`PATIENCE`].
pub(crate) fn until_closed(stream: &mut TcpStream) -> usize {
    let mut buf = vec![0; 64 << 10];
    let deadline = Instant::now() + PATIENCE;
    let mut total = 0;
    loop {
        match read_until(stream, &mut buf, deadline) {
            None => panic!("the server kept the connection open"),
            Some(0) => return total,
            Some(n) => total += n,
        }
    }
}

/// A TCP connection to `addr` whose receive buffer is small, so that the
/// kernel holds little on behalf of a reader that stops reading.
pub(crate) fn small_window(addr: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    socket.into()
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
