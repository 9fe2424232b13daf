//! The HTTP listener: the WebSocket endpoint `/so` (subprotocol
//! `rtmp-so.v1`, see `docs/WEBSOCKET.md`), `/healthz`, `/metrics` and
//! `/admin`.
//!
//! A [`WebConnection`] is the sans-IO state of one HTTP socket, driven by
//! the same connection loop as an RTMP socket ([`Wire`]): it reads one
//! request head (`httparse`), answers a plain request and closes, or
//! upgrades `/so` to a WebSocket (`tungstenite` over in-memory buffers, so
//! no runtime is involved) carrying an [`so_web::Session`]. The session
//! answers the engine's commands like an RTMP `Connection` ([`Peer`]), so
//! a browser is one more client of the engine: same hooks, limits, queue
//! and SharedObjects.

mod admin;
mod metrics;

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use rtmp_proto::amf::Value;
use rtmp_proto::connection::{CallId, CloseReason, Event};
use rtmp_proto::error::{ApiMisuse, Error as ProtoError, ProtocolError};
use so_engine::server::Peer;
use so_engine::{Body, Input};
use so_web::{CloseCode, Frame, SUBPROTOCOL, Session};
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tungstenite::{Message, Utf8Bytes, WebSocket};

pub(crate) use self::admin::AdminView;
pub(crate) use self::metrics::{Stats, Transport};
use super::connection::Wire;
use super::engine::{EngineSender, ToEngine};

/// Largest HTTP request head; a longer one gets `431`.
pub(crate) const MAX_REQUEST_HEAD: usize = 16 << 10;
/// Most request headers; more get `431`.
pub(crate) const MAX_HEADERS: usize = 48;
/// How long a client may take to send its request head.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The WebSocket layer's read buffer per connection (small: the server
/// hands it what the socket read, it does not read ahead).
const WS_READ_BUFFER: usize = 4 << 10;

/// What every HTTP connection of one server shares.
pub(crate) struct WebShared {
    /// The WebSocket sessions' configuration.
    pub(crate) session: so_web::Config,
    /// The counters `/metrics` shows.
    pub(crate) stats: Arc<Stats>,
    /// The state `/admin` shows, published by the engine thread.
    pub(crate) admin: Arc<AdminView>,
    /// Whether `/admin` may change things (it may with this token).
    pub(crate) admin_token: Option<String>,
    /// The engine, for the admin page's operations and wake-ups.
    pub(crate) engine: EngineSender,
}

impl WebShared {
    /// Someone looks at the state: the engine publishes it for a while,
    /// starting with a wake-up now.
    fn look(&self) {
        self.admin.watch();
        self.engine.send(ToEngine::Input(Input::Tick));
    }
}

/// One HTTP socket: a request head being read, a WebSocket, or done.
pub(crate) struct WebConnection {
    shared: Arc<WebShared>,
    state: State,
    /// An HTTP response (or the 101) still to be sent.
    out: BytesMut,
    events: VecDeque<Event>,
    head_by: Instant,
}

enum State {
    Head(BytesMut),
    Ws(Box<Ws>),
    Done,
}

struct Ws {
    socket: WebSocket<Pipe>,
    session: Session,
    /// Counts this socket as a WebSocket while it is one.
    stats: Arc<Stats>,
}

impl Drop for Ws {
    fn drop(&mut self) {
        self.stats.downgraded();
    }
}

/// The WebSocket layer's "socket": the bytes read so far, and the bytes
/// to write. Reading an empty pipe would block, as a non-blocking socket.
#[derive(Default)]
struct Pipe {
    input: BytesMut,
    output: BytesMut,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input.advance(n);
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl WebConnection {
    /// A connection whose socket was accepted at `now`.
    pub(crate) fn new(shared: Arc<WebShared>, now: Instant) -> Self {
        Self {
            shared,
            state: State::Head(BytesMut::new()),
            out: BytesMut::new(),
            events: VecDeque::new(),
            head_by: now + REQUEST_TIMEOUT,
        }
    }

    fn head(&mut self, now: Instant) {
        let State::Head(buf) = &mut self.state else {
            return;
        };
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let parsed = request.parse(buf);
        let rest_at = match parsed {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if buf.len() > MAX_REQUEST_HEAD => {
                return self.respond(431, "text/plain", "request head too large\n".into());
            }
            Ok(httparse::Status::Partial) => return,
            Err(httparse::Error::TooManyHeaders) => {
                return self.respond(431, "text/plain", "too many headers\n".into());
            }
            Err(e) => return self.respond(400, "text/plain", format!("bad request: {e}\n")),
        };
        let method = request.method.unwrap_or("");
        let target = request.path.unwrap_or("/");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .and_then(|h| std::str::from_utf8(h.value).ok())
        };
        if path == "/so" {
            return match upgrade(method, &header) {
                Ok(key) => {
                    let rest = buf.split_off(rest_at);
                    self.upgraded(now, &key, &rest);
                }
                Err((status, why)) => self.respond(status, "text/plain", format!("{why}\n")),
            };
        }
        if method != "GET" {
            return self.respond(405, "text/plain", "only GET here\n".into());
        }
        let shared = self.shared.clone();
        match path {
            "/healthz" => self.respond(200, "text/plain", "ok\n".into()),
            "/metrics" => {
                shared.look();
                self.respond(
                    200,
                    "text/plain; version=0.0.4",
                    shared.stats.render(&shared.admin),
                );
            }
            "/admin" => self.respond(200, "text/html; charset=utf-8", admin::PAGE.to_owned()),
            "/admin/state" => {
                shared.look();
                self.respond(
                    200,
                    "application/json",
                    shared.admin.state_json(shared.admin_token.is_some()),
                );
            }
            "/admin/op" => {
                let token = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("token="))
                    .unwrap_or("");
                match &shared.admin_token {
                    Some(expected) if admin::same_token(expected, token) => {
                        match admin::parse_op(query) {
                            Ok(op) => {
                                shared.engine.send(ToEngine::Input(Input::Server(op)));
                                shared.look();
                                self.respond(202, "text/plain", "queued\n".into());
                            }
                            Err(why) => self.respond(400, "text/plain", format!("{why}\n")),
                        }
                    }
                    Some(_) => self.respond(403, "text/plain", "wrong admin token\n".into()),
                    None => self.respond(
                        403,
                        "text/plain",
                        "read-only: the server runs without --admin-token\n".into(),
                    ),
                }
            }
            _ => self.respond(404, "text/plain", "not found\n".into()),
        }
    }

    fn upgraded(&mut self, now: Instant, key: &str, rest: &[u8]) {
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        self.out.extend_from_slice(
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n"
            )
            .as_bytes(),
        );
        let limit = self.shared.session.limits.max_message_bytes;
        let config = WebSocketConfig::default()
            .read_buffer_size(WS_READ_BUFFER)
            .max_message_size(Some(limit))
            .max_frame_size(Some(limit));
        let socket = WebSocket::from_raw_socket(Pipe::default(), Role::Server, Some(config));
        let session = Session::new(self.shared.session.clone(), now);
        self.shared.stats.upgraded();
        self.state = State::Ws(Box::new(Ws {
            socket,
            session,
            stats: self.shared.stats.clone(),
        }));
        if !rest.is_empty() {
            self.handle_input(now, rest);
        }
    }

    fn respond(&mut self, status: u16, content_type: &str, body: String) {
        let reason = match status {
            200 => "OK",
            202 => "Accepted",
            400 => "Bad Request",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            426 => "Upgrade Required",
            431 => "Request Header Fields Too Large",
            _ => "Error",
        };
        let upgrade = if status == 426 {
            "Upgrade: websocket\r\n"
        } else {
            ""
        };
        self.out.extend_from_slice(
            format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
                 Cache-Control: no-store\r\n{upgrade}Connection: close\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        self.out.extend_from_slice(body.as_bytes());
        self.state = State::Done;
        self.events.push_back(Event::Closed(CloseReason::Local));
    }

    fn session(&mut self) -> Result<&mut Session, ApiMisuse> {
        match &mut self.state {
            State::Ws(ws) => Ok(&mut ws.session),
            State::Head(_) => Err(ApiMisuse::WrongState {
                command: "a client command",
                state: "reading the HTTP request",
            }),
            State::Done => Err(ApiMisuse::Closed),
        }
    }
}

/// Checks a `/so` request: the Sec-WebSocket-Key to answer, or the status
/// and reason to refuse it with.
fn upgrade<'a>(
    method: &str,
    header: &impl Fn(&str) -> Option<&'a str>,
) -> Result<String, (u16, String)> {
    let has_token = |name: &str, token: &str| {
        header(name).is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if method != "GET" || !has_token("upgrade", "websocket") {
        return Err((426, "/so is a WebSocket endpoint".into()));
    }
    if header("sec-websocket-version").map(str::trim) != Some("13") {
        return Err((400, "Sec-WebSocket-Version must be 13".into()));
    }
    let Some(key) = header("sec-websocket-key").map(str::trim) else {
        return Err((400, "Sec-WebSocket-Key is missing".into()));
    };
    if !has_token("sec-websocket-protocol", SUBPROTOCOL) {
        return Err((
            400,
            format!("ask for the WebSocket subprotocol {SUBPROTOCOL}"),
        ));
    }
    Ok(key.to_owned())
}

impl Ws {
    /// Reads every complete frame the pipe holds into the session.
    fn read(&mut self, now: Instant) {
        use tungstenite::Error as WsError;
        while !self.session.is_closed() {
            match self.socket.read() {
                Ok(Message::Text(text)) => self.session.handle_text(now, text.as_str()),
                Ok(Message::Binary(_)) => self
                    .session
                    .handle_violation(CloseCode::UNSUPPORTED, "rtmp-so.v1 frames are text frames"),
                Ok(Message::Close(_)) => self.session.handle_close(),
                // Pings are answered by the WebSocket layer itself.
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {
                    self.session.handle_close();
                }
                Err(WsError::Capacity(e)) => self
                    .session
                    .handle_violation(CloseCode::TOO_BIG, &e.to_string()),
                Err(WsError::Utf8(e)) => self
                    .session
                    .handle_violation(CloseCode::INVALID_DATA, &format!("not UTF-8: {e}")),
                Err(e) => self
                    .session
                    .handle_violation(CloseCode::PROTOCOL, &e.to_string()),
            }
        }
    }

    /// Frames what the session has to send into the pipe.
    fn write(&mut self) {
        while let Some(frame) = self.session.poll_frame() {
            // Errors mean the WebSocket is closing or closed: nothing more
            // goes out then anyway.
            let _ = match frame {
                Frame::Text(text) => match Utf8Bytes::try_from(text) {
                    Ok(text) => self.socket.write(Message::Text(text)),
                    Err(_) => continue,
                },
                Frame::Close { code, reason } => self.socket.close(Some(CloseFrame {
                    code: code.0.into(),
                    reason: reason.into(),
                })),
            };
        }
        let _ = self.socket.flush();
    }
}

impl Wire for WebConnection {
    const TRANSPORT: &'static str = "http";

    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        match &mut self.state {
            State::Head(buf) => {
                buf.extend_from_slice(bytes);
                self.head(now);
            }
            State::Ws(ws) => {
                ws.socket.get_mut().input.extend_from_slice(bytes);
                ws.read(now);
            }
            State::Done => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match &mut self.state {
            State::Head(_) if now >= self.head_by => {
                self.state = State::Done;
                self.events
                    .push_back(Event::Closed(CloseReason::Error(ProtoError::Protocol(
                        ProtocolError::Timeout("an HTTP request"),
                    ))));
            }
            State::Ws(ws) => ws.session.handle_timeout(now),
            _ => {}
        }
    }

    fn poll_transmit(&mut self, out: &mut BytesMut) {
        if !self.out.is_empty() {
            out.extend_from_slice(&self.out);
            self.out.clear();
        }
        if let State::Ws(ws) = &mut self.state {
            ws.write();
            let pipe = ws.socket.get_mut();
            out.extend_from_slice(&pipe.output);
            pipe.output.clear();
        }
    }

    fn poll_event(&mut self) -> Option<Event> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        match &mut self.state {
            State::Ws(ws) => ws.session.poll_event(),
            _ => None,
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Head(_) => Some(self.head_by),
            State::Ws(ws) => ws.session.poll_timeout(),
            State::Done => None,
        }
    }

    fn is_closed(&self) -> bool {
        match &self.state {
            State::Head(_) => false,
            State::Ws(ws) => ws.session.is_closed(),
            State::Done => true,
        }
    }
}

impl Peer for WebConnection {
    fn accept(&mut self, now: Instant) -> Result<(), ApiMisuse> {
        self.session()?.accept(now)
    }
    fn reject(&mut self, now: Instant, description: &str) -> Result<(), ApiMisuse> {
        self.session()?.reject(now, description)
    }
    fn send_shared_object_encoded(&mut self, now: Instant, body: &Body) -> Result<(), ApiMisuse> {
        self.session()?.send_shared_object_encoded(now, body)
    }
    fn reply(&mut self, now: Instant, transaction_id: f64, value: Value) -> Result<(), ApiMisuse> {
        self.session()?.reply(now, transaction_id, value)
    }
    fn reply_error(
        &mut self,
        now: Instant,
        transaction_id: f64,
        info: Value,
    ) -> Result<(), ApiMisuse> {
        self.session()?.reply_error(now, transaction_id, info)
    }
    fn call(&mut self, now: Instant, method: &str, args: Vec<Value>) -> Result<CallId, ApiMisuse> {
        self.session()?.call(now, method, args)
    }
    fn close(&mut self, now: Instant) {
        match &mut self.state {
            State::Ws(ws) => ws.session.close(now),
            State::Head(_) => {
                self.state = State::Done;
                self.events.push_back(Event::Closed(CloseReason::Local));
            }
            State::Done => {}
        }
    }
}
