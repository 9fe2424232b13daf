//! One WebSocket client's session, sans-IO, with the surface of an RTMP
//! server-side `Connection`.
//!
//! The server drives a [`Session`] exactly as it drives an
//! `rtmp_proto::connection::Connection`: text frames in
//! ([`Session::handle_text`]), [`Event`]s out ([`Session::poll_event`]:
//! the connect request, SharedObject messages, calls, call results, the
//! close), and the same commands back ([`Session::accept`],
//! [`Session::reject`], [`Session::send_shared_object_encoded`],
//! [`Session::reply`], [`Session::reply_error`], [`Session::call`],
//! [`Session::close`]). So the engine sees one more client: the same
//! security hooks, limits, queue, coalescing and SOs as RTMP clients.
//!
//! The session asks to be an AMF3 client, so every value reaches it
//! unchanged; it decodes the engine's encoded SharedObject bodies and
//! writes them as [`ServerMessage::SharedObject`] frames. One body goes to
//! many clients: the last body's frame is kept per thread and reused.
//!
//! WebSocket framing, the HTTP upgrade and the socket are the caller's.

use std::cell::RefCell;
use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtmp_proto::amf::{self, Encoding, Str, Value};
use rtmp_proto::connection::{Call, CallId, CloseReason, ConnectRequest, Event};
use rtmp_proto::error::{ApiMisuse, Error, ProtocolError};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use so_engine::server::Peer;

use crate::message::{ClientMessage, ServerMessage};
use crate::{CloseCode, Limits};

/// How a [`Session`] is configured.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Limits on the client's frames.
    pub limits: Limits,
    /// How long after the upgrade the `connect` frame must come.
    pub connect_timeout: Duration,
    /// Most server calls awaiting the client's answer; more are refused.
    pub max_pending_calls: usize,
}

impl Config {
    /// Default connect timeout: 10 s, as for RTMP.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default pending server calls: 1,024.
    pub const DEFAULT_MAX_PENDING_CALLS: usize = 1024;
}

impl Default for Config {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            max_pending_calls: Self::DEFAULT_MAX_PENDING_CALLS,
        }
    }
}

/// A frame for the caller to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text frame; the bytes are UTF-8 JSON.
    Text(Bytes),
    /// A close frame; send nothing after it.
    Close {
        /// The close code.
        code: CloseCode,
        /// The reason, for people (at most 123 bytes, as the frame allows).
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the `connect` frame.
    Connecting,
    /// The connect request went out as an event; waiting for accept or reject.
    Deciding,
    /// Connected.
    Open,
    /// Closed; nothing more comes in or goes out.
    Closed,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Deciding => "deciding",
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }
}

/// One WebSocket client. See the [module docs](self).
#[derive(Debug)]
pub struct Session {
    config: Config,
    state: State,
    connect_by: Instant,
    events: VecDeque<Event>,
    frames: VecDeque<Frame>,
    next_call: u32,
    pending_calls: BTreeSet<u32>,
}

thread_local! {
    /// The last SharedObject body this thread turned into a frame, and the
    /// frame. Holding the body keeps its allocation alive, so an equal
    /// pointer and length means the same bytes.
    static LAST_FRAME: RefCell<Option<(Bytes, Bytes)>> = const { RefCell::new(None) };
}

impl Session {
    /// A session for a client whose upgrade completed at `now`.
    pub fn new(config: Config, now: Instant) -> Self {
        Self {
            connect_by: now + config.connect_timeout,
            config,
            state: State::Connecting,
            events: VecDeque::new(),
            frames: VecDeque::new(),
            next_call: 0,
            pending_calls: BTreeSet::new(),
        }
    }

    /// The next event for the server.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next frame to send.
    pub fn poll_frame(&mut self) -> Option<Frame> {
        self.frames.pop_front()
    }

    /// When [`Session::handle_timeout`] wants to be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.state == State::Connecting).then_some(self.connect_by)
    }

    /// Time passed: a client that has not sent `connect` by its deadline is
    /// closed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Connecting && now >= self.connect_by {
            self.fail(
                CloseCode::POLICY,
                "no connect in time",
                Error::Protocol(ProtocolError::Timeout("connect")),
            );
        }
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// One text frame from the client. A frame that does not decode, or
    /// does not fit the session's state, is answered with an error frame
    /// and changes nothing else.
    pub fn handle_text(&mut self, _now: Instant, text: &str) {
        if self.state == State::Closed {
            return;
        }
        let message = match ClientMessage::decode(text, &self.config.limits) {
            Ok(message) => message,
            Err(error) => return self.error(error.code(), &error.to_string()),
        };
        match (self.state, message) {
            (State::Connecting, ClientMessage::Connect { app, room, args }) => {
                let path = match room.as_deref().map(|r| r.trim_matches('/')) {
                    None | Some("") => app,
                    Some(room) => format!("{app}/{room}"),
                };
                self.state = State::Deciding;
                self.events.push_back(Event::ConnectRequest(ConnectRequest {
                    app: path.clone(),
                    query: None,
                    tc_url: None,
                    encoding: Encoding::Amf3,
                    command_object: Value::object([
                        ("app", Value::from(path)),
                        ("objectEncoding", Value::Number(3.0)),
                        ("transport", Value::from(crate::SUBPROTOCOL)),
                    ]),
                    args,
                }));
            }
            (_, ClientMessage::Connect { .. }) => {
                self.error("already_connected", "connect comes once, first");
            }
            (State::Open, message) => self.open_message(message),
            (state, _) => self.error(
                "not_connected",
                &format!(
                    "send connect and wait for connected first (the session is {})",
                    state.name()
                ),
            ),
        }
    }

    fn open_message(&mut self, message: ClientMessage) {
        let so = |name: Str, persistent: bool, events: Vec<SoEvent>| {
            Event::SharedObject(SharedObjectMessage {
                name,
                version: 0,
                persistent,
                events,
            })
        };
        let event = match message {
            ClientMessage::Use {
                so: name,
                persistent,
            } => so(name, persistent, vec![SoEvent::Use]),
            ClientMessage::Release { so: name } => so(name, false, vec![SoEvent::Release]),
            ClientMessage::Set { so: name, values } => so(
                name,
                false,
                values
                    .into_iter()
                    .map(|(key, value)| SoEvent::RequestChange { key, value })
                    .collect(),
            ),
            ClientMessage::Remove { so: name, keys } => so(
                name,
                false,
                keys.into_iter()
                    .map(|key| SoEvent::RequestRemove { key })
                    .collect(),
            ),
            ClientMessage::Send {
                so: name,
                method,
                args,
            } => so(name, false, vec![SoEvent::SendMessage { method, args }]),
            ClientMessage::Call { id, method, args } => Event::Call(Call {
                method,
                transaction_id: id,
                command_object: Value::Null,
                args,
            }),
            ClientMessage::Result { id, outcome } => {
                if !self.pending_calls.remove(&id) {
                    return self.error("unknown_call", &format!("no server call {id} is waiting"));
                }
                Event::CallResult {
                    id: CallId(id),
                    outcome: outcome.map(|value| vec![value]),
                }
            }
            ClientMessage::Connect { .. } => unreachable!("handled before"),
        };
        self.events.push_back(event);
    }

    /// The client went away (a close frame, or the socket ended).
    pub fn handle_close(&mut self) {
        if self.state != State::Closed {
            self.state = State::Closed;
            self.events
                .push_back(Event::Closed(CloseReason::PeerClosed));
        }
    }

    /// The client broke the WebSocket rules (a binary frame, bad framing, an
    /// oversized frame): close with `code`.
    pub fn handle_violation(&mut self, code: CloseCode, why: &str) {
        self.fail(
            code,
            why,
            Error::Protocol(ProtocolError::Unexpected("WebSocket frame")),
        );
    }

    /// Accepts the client's connect.
    pub fn accept(&mut self, _now: Instant) -> Result<(), ApiMisuse> {
        self.require(State::Deciding, "accept")?;
        self.state = State::Open;
        self.text(&ServerMessage::Connected);
        Ok(())
    }

    /// Refuses the client's connect with `reason`; the session closes.
    pub fn reject(&mut self, _now: Instant, reason: &str) -> Result<(), ApiMisuse> {
        if !matches!(self.state, State::Deciding | State::Connecting) {
            return Err(self.misuse("reject"));
        }
        self.text(&ServerMessage::Rejected {
            reason: reason.to_owned(),
        });
        self.frames
            .push_back(close_frame(CloseCode::REJECTED, reason));
        self.state = State::Closed;
        self.events
            .push_back(Event::Closed(CloseReason::Rejected(reason.to_owned())));
        Ok(())
    }

    /// Sends a SharedObject body the engine encoded for an AMF3 client (a
    /// type 16 body).
    pub fn send_shared_object_encoded(
        &mut self,
        _now: Instant,
        body: &Bytes,
    ) -> Result<(), ApiMisuse> {
        self.require(State::Open, "send_shared_object")?;
        match shared_object_frame(body) {
            Ok(text) => self.frames.push_back(Frame::Text(text)),
            // The engine's own bytes: a bug, not the client's fault.
            Err(_) => self.fail(
                CloseCode::INTERNAL,
                "internal error",
                Error::Protocol(ProtocolError::Unexpected("SharedObject body")),
            ),
        }
        Ok(())
    }

    /// Answers the client's call `transaction_id` with `value`.
    pub fn reply(
        &mut self,
        _now: Instant,
        transaction_id: f64,
        value: Value,
    ) -> Result<(), ApiMisuse> {
        self.answer(transaction_id, Ok(value))
    }

    /// Answers the client's call `transaction_id` with an error.
    pub fn reply_error(
        &mut self,
        _now: Instant,
        transaction_id: f64,
        info: Value,
    ) -> Result<(), ApiMisuse> {
        self.answer(transaction_id, Err(info))
    }

    fn answer(&mut self, id: f64, outcome: Result<Value, Value>) -> Result<(), ApiMisuse> {
        self.require(State::Open, "reply")?;
        if id != 0.0 {
            self.text(&ServerMessage::Result { id, outcome });
        }
        Ok(())
    }

    /// Calls `method` on the client; its answer comes as
    /// [`Event::CallResult`] with the returned id.
    pub fn call(
        &mut self,
        _now: Instant,
        method: &str,
        args: Vec<Value>,
    ) -> Result<CallId, ApiMisuse> {
        self.require(State::Open, "call")?;
        if self.pending_calls.len() >= self.config.max_pending_calls {
            return Err(ApiMisuse::InvalidArgument(
                "too many calls waiting for the client",
            ));
        }
        self.next_call = self.next_call.wrapping_add(1).max(1);
        let id = self.next_call;
        self.pending_calls.insert(id);
        self.text(&ServerMessage::Call {
            id,
            method: method.into(),
            args,
        });
        Ok(CallId(id))
    }

    /// Closes from the server's side (a normal close, code 1000, or the
    /// server going away).
    pub fn close(&mut self, _now: Instant) {
        self.close_with(CloseCode::NORMAL, "closed by the server");
    }

    /// Closes from the server's side with `code` and `reason`.
    pub fn close_with(&mut self, code: CloseCode, reason: &str) {
        if self.state != State::Closed {
            self.frames.push_back(close_frame(code, reason));
            self.state = State::Closed;
            self.events.push_back(Event::Closed(CloseReason::Local));
        }
    }

    fn fail(&mut self, code: CloseCode, reason: &str, error: Error) {
        if self.state != State::Closed {
            self.frames.push_back(close_frame(code, reason));
            self.state = State::Closed;
            self.events
                .push_back(Event::Closed(CloseReason::Error(error)));
        }
    }

    fn error(&mut self, code: &str, message: &str) {
        self.text(&ServerMessage::Error {
            code: code.to_owned(),
            message: message.to_owned(),
        });
    }

    fn text(&mut self, message: &ServerMessage) {
        self.frames
            .push_back(Frame::Text(Bytes::from(message.to_text())));
    }

    fn require(&self, state: State, command: &'static str) -> Result<(), ApiMisuse> {
        if self.state == State::Closed {
            return Err(ApiMisuse::Closed);
        }
        if self.state != state {
            return Err(self.misuse(command));
        }
        Ok(())
    }

    fn misuse(&self, command: &'static str) -> ApiMisuse {
        ApiMisuse::WrongState {
            command,
            state: self.state.name(),
        }
    }
}

/// The text frame of one encoded SharedObject body (type 16); the last
/// one this thread made is reused for the next recipient of the same body.
pub fn shared_object_frame(body: &Bytes) -> Result<Bytes, rtmp_proto::error::DecodeError> {
    let cached = LAST_FRAME.with_borrow(|last| match last {
        Some((seen, frame)) if seen.as_ptr() == body.as_ptr() && seen.len() == body.len() => {
            Some(frame.clone())
        }
        _ => None,
    });
    if let Some(frame) = cached {
        return Ok(frame);
    }
    let message = SharedObjectMessage::decode(body, Encoding::Amf3, &amf::Limits::default())?;
    let frame = Bytes::from(ServerMessage::SharedObject(message).to_text());
    LAST_FRAME.set(Some((body.clone(), frame.clone())));
    Ok(frame)
}

/// The server drives a session through the same [`Peer`] commands as an
/// RTMP connection.
impl Peer for Session {
    fn accept(&mut self, now: Instant) -> Result<(), ApiMisuse> {
        Session::accept(self, now)
    }
    fn reject(&mut self, now: Instant, description: &str) -> Result<(), ApiMisuse> {
        Session::reject(self, now, description)
    }
    fn send_shared_object_encoded(&mut self, now: Instant, body: &Bytes) -> Result<(), ApiMisuse> {
        Session::send_shared_object_encoded(self, now, body)
    }
    fn reply(&mut self, now: Instant, transaction_id: f64, value: Value) -> Result<(), ApiMisuse> {
        Session::reply(self, now, transaction_id, value)
    }
    fn reply_error(
        &mut self,
        now: Instant,
        transaction_id: f64,
        info: Value,
    ) -> Result<(), ApiMisuse> {
        Session::reply_error(self, now, transaction_id, info)
    }
    fn call(&mut self, now: Instant, method: &str, args: Vec<Value>) -> Result<CallId, ApiMisuse> {
        Session::call(self, now, method, args)
    }
    fn close(&mut self, now: Instant) {
        Session::close(self, now);
    }
}

fn close_frame(code: CloseCode, reason: &str) -> Frame {
    // A close frame's payload is at most 125 bytes, 2 of them the code.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Frame::Close {
        code,
        reason: reason[..end].to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use serde_json::{Value as Json, json};

    use super::*;

    fn open() -> (Session, Instant) {
        let now = Instant::now();
        let mut session = Session::new(Config::default(), now);
        session.handle_text(now, r#"{"type":"connect","app":"chat","room":"/lobby/"}"#);
        match session.poll_event() {
            Some(Event::ConnectRequest(request)) => {
                assert_eq!(request.app, "chat/lobby");
                assert_eq!(request.encoding, Encoding::Amf3);
            }
            other => panic!("{other:?}"),
        }
        session.accept(now).unwrap();
        assert_eq!(texts(&mut session), [json!({"type": "connected"})]);
        (session, now)
    }

    fn texts(session: &mut Session) -> Vec<Json> {
        std::iter::from_fn(|| session.poll_frame())
            .map(|frame| match frame {
                Frame::Text(text) => serde_json::from_slice(&text).unwrap(),
                Frame::Close { code, reason } => json!({"close": code.0, "reason": reason}),
            })
            .collect()
    }

    #[test]
    fn messages_become_the_events_an_rtmp_client_causes() {
        let (mut session, now) = open();
        session.handle_text(now, r#"{"type":"use","so":"s","persistent":true}"#);
        session.handle_text(now, r#"{"type":"set","so":"s","values":{"a":1,"b":null}}"#);
        session.handle_text(now, r#"{"type":"call","id":4,"method":"m","args":[true]}"#);
        let events: Vec<_> = std::iter::from_fn(|| session.poll_event()).collect();
        assert_eq!(
            events,
            [
                Event::SharedObject(SharedObjectMessage {
                    name: "s".into(),
                    version: 0,
                    persistent: true,
                    events: vec![SoEvent::Use],
                }),
                Event::SharedObject(SharedObjectMessage {
                    name: "s".into(),
                    version: 0,
                    persistent: false,
                    events: vec![
                        SoEvent::RequestChange {
                            key: "a".into(),
                            value: Value::Number(1.0)
                        },
                        SoEvent::RequestChange {
                            key: "b".into(),
                            value: Value::Null
                        },
                    ],
                }),
                Event::Call(Call {
                    method: "m".into(),
                    transaction_id: 4.0,
                    command_object: Value::Null,
                    args: vec![Value::Bool(true)],
                }),
            ]
        );
        session.reply(now, 4.0, Value::from("ok")).unwrap();
        assert_eq!(
            texts(&mut session),
            [json!({"type": "result", "id": 4, "value": "ok"})]
        );
    }

    #[test]
    fn encoded_bodies_become_so_frames_shared_by_recipients() {
        let (mut a, now) = open();
        let (mut b, _) = open();
        let mut body = BytesMut::new();
        SharedObjectMessage {
            name: "s".into(),
            version: 2,
            persistent: false,
            events: vec![
                SoEvent::Change {
                    key: "k".into(),
                    value: Value::ByteArray(vec![1, 2]),
                },
                SoEvent::Success { key: "j".into() },
            ],
        }
        .encode(Encoding::Amf3, &mut body)
        .unwrap();
        let body = body.freeze();
        a.send_shared_object_encoded(now, &body).unwrap();
        b.send_shared_object_encoded(now, &body).unwrap();
        let (Some(Frame::Text(fa)), Some(Frame::Text(fb))) = (a.poll_frame(), b.poll_frame())
        else {
            panic!("two text frames");
        };
        assert_eq!(fa.as_ptr(), fb.as_ptr(), "one frame for both");
        assert_eq!(
            serde_json::from_slice::<Json>(&fa).unwrap(),
            json!({"type": "so", "so": "s", "version": 2, "persistent": false, "events": [
                {"type": "change", "key": "k", "value": {"$type": "bytes", "base64": "AQI="}},
                {"type": "success", "key": "j"},
            ]})
        );
    }

    #[test]
    fn bad_frames_are_answered_and_change_nothing() {
        let (mut session, now) = open();
        for text in [
            "{",
            r#"{"type":"fly"}"#,
            r#"{"type":"connect","app":"x"}"#,
            r#"{"type":"result","id":1}"#,
        ] {
            session.handle_text(now, text);
        }
        let codes: Vec<_> = texts(&mut session)
            .into_iter()
            .map(|frame| frame["code"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            codes,
            [
                "bad_json",
                "unknown_type",
                "already_connected",
                "unknown_call"
            ]
        );
        assert_eq!(session.poll_event(), None);
        assert!(!session.is_closed());
    }

    #[test]
    fn nothing_but_connect_before_connected() {
        let now = Instant::now();
        let mut session = Session::new(Config::default(), now);
        session.handle_text(now, r#"{"type":"use","so":"s"}"#);
        assert_eq!(texts(&mut session)[0]["code"], "not_connected");
        assert_eq!(session.poll_event(), None);
        assert!(session.accept(now).is_err());
    }

    #[test]
    fn a_rejected_connect_closes_with_the_reason() {
        let now = Instant::now();
        let mut session = Session::new(Config::default(), now);
        session.handle_text(now, r#"{"type":"connect","app":"a"}"#);
        let _ = session.poll_event();
        session.reject(now, "full").unwrap();
        assert_eq!(
            texts(&mut session),
            [
                json!({"type": "rejected", "reason": "full"}),
                json!({"close": 4000, "reason": "full"})
            ]
        );
        assert_eq!(
            session.poll_event(),
            Some(Event::Closed(CloseReason::Rejected("full".into())))
        );
        assert!(session.is_closed());
    }

    #[test]
    fn connect_must_come_in_time() {
        let now = Instant::now();
        let mut session = Session::new(Config::default(), now);
        let deadline = session.poll_timeout().unwrap();
        session.handle_timeout(deadline - Duration::from_millis(1));
        assert!(!session.is_closed());
        session.handle_timeout(deadline);
        assert!(session.is_closed());
        assert_eq!(
            texts(&mut session),
            [json!({"close": 1008, "reason": "no connect in time"})]
        );
        assert!(matches!(
            session.poll_event(),
            Some(Event::Closed(CloseReason::Error(_)))
        ));
    }

    #[test]
    fn server_calls_match_their_answers() {
        let (mut session, now) = open();
        let id = session.call(now, "ping", vec![]).unwrap();
        assert_eq!(
            texts(&mut session),
            [json!({"type": "call", "id": id.0, "method": "ping", "args": []})]
        );
        session.handle_text(
            now,
            &format!(r#"{{"type":"result","id":{},"value":7}}"#, id.0),
        );
        assert_eq!(
            session.poll_event(),
            Some(Event::CallResult {
                id,
                outcome: Ok(vec![Value::Number(7.0)])
            })
        );
    }

    #[test]
    fn close_reasons_fit_a_close_frame() {
        let (mut session, _) = open();
        session.close_with(CloseCode::NORMAL, &"é".repeat(100));
        let Some(Frame::Close { reason, .. }) = session.poll_frame() else {
            panic!("a close frame");
        };
        assert!(reason.len() <= 123);
        assert_eq!(
            session.poll_event(),
            Some(Event::Closed(CloseReason::Local))
        );
    }
}
