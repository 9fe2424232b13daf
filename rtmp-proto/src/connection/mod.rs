//! The per-connection state machine, server and client side.
//!
//! One [`Connection`] per TCP connection folds in the handshake, the chunk
//! stream and the protocol plumbing (acknowledgements, pings, chunk sizes),
//! and leaves its owner only application events and commands.
//!
//! # The drive loop
//!
//! After every `handle_*` call or command: call [`Connection::poll_transmit`]
//! and write what it gives to the socket, then [`Connection::poll_event`] until
//! it returns `None`, then sleep until [`Connection::poll_timeout`] (or until
//! more bytes arrive) and call [`Connection::handle_timeout`] when it passes.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bytes::BytesMut;
//! use rtmp_proto::connection::{Config, Connection, Event, Side};
//!
//! let now = Instant::now(); // the adapter's clock; the core never reads one
//! let mut server = Connection::new(Config::default().into(), Side::Server, now, [7; 32]);
//! let mut out = BytesMut::new();
//! let bytes_from_socket = [3u8; 1537]; // C0 + C1 of a plain handshake
//! server.handle_input(now, &bytes_from_socket).unwrap();
//! server.poll_transmit(&mut out); // S0 + S1 + S2: write them to the socket
//! assert_eq!(out.len(), 1 + 2 * 1536);
//! while let Some(event) = server.poll_event() {
//!     if let Event::ConnectRequest(_) = event {
//!         server.accept(now).unwrap();
//!     }
//! }
//! let wake_at = server.poll_timeout();
//! assert_eq!(wake_at, Some(now + Duration::from_secs(5))); // the handshake timeout
//! ```
//!
//! Time is always an argument (`now`); randomness comes from the seed given
//! to [`Connection::new`]. A panic is a bug: peer bytes only ever produce
//! [`Error`]s and a [`Event::Closed`].

mod commands;
mod config;
mod event;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;

pub use config::{Config, ConnectParams};
pub use event::{Call, CallId, CloseReason, ConnectRequest, Event};

use crate::amf::{Encoding, Value};
use crate::chunk::{self, Header, RawMessage};
use crate::error::{ApiMisuse, Error, Limit, LimitExceeded, ProtocolError};
use crate::handshake::Handshake;
use crate::message::shared_object::SharedObjectMessage;
use crate::message::{Command, Message, StatusLevel, UserControl, status_object};

/// Which end of the TCP connection this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// We accepted the TCP connection.
    Server,
    /// We opened it.
    Client,
}

/// Chunk stream for protocol control and user control messages (RTMP §5.4).
const CONTROL_CSID: u32 = 2;
/// Chunk stream for commands and SharedObject messages, as Red5 uses.
const COMMAND_CSID: u32 = 3;
/// The transaction id of `connect` (RTMP §7.2.1.1).
const CONNECT_TRANSACTION_ID: f64 = 1.0;
/// The largest message body a chunk header can announce.
const MAX_MESSAGE_SIZE: usize = 0xFF_FFFF;

/// One RTMP connection, server or client side. See the [module docs](self).
#[derive(Debug)]
pub struct Connection {
    config: Arc<Config>,
    side: Side,
    epoch: Instant,
    state: State,
    /// Until it is done: its blocks (three 1.5 KiB buffers) and random
    /// state are freed then, not kept for the connection's life.
    handshake: Option<Box<Handshake>>,
    decoder: chunk::Decoder,
    encoder: chunk::Encoder,
    transmit: BytesMut,
    scratch: BytesMut,
    events: VecDeque<Event>,
    encoding: Encoding,
    /// The window the peer asked us to acknowledge at.
    peer_window: Option<u32>,
    /// The window we last announced (client side answers Set Peer Bandwidth).
    announced_window: Option<u32>,
    bytes_received: u64,
    acknowledged: u64,
    last_input: Instant,
    last_ping: Option<Instant>,
    /// The messages being reassembled: (chunk stream number, bytes so
    /// far, when they last grew). A handful at most.
    partials: Vec<(usize, usize, Instant)>,
    /// Handshake or connect deadline.
    deadline: Option<Instant>,
    connect_transaction_id: f64,
    connect_params: Option<ConnectParams>,
    next_transaction_id: u32,
    pending_calls: BTreeMap<u32, CallId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Handshaking,
    /// Server: waiting for `connect`. Client: waiting for its answer.
    Connecting,
    /// Server: `connect` surfaced, waiting for `accept`/`reject`. Input stays
    /// buffered (bounded) until then.
    Deciding,
    Connected,
    Closed,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            Self::Handshaking => "handshaking",
            Self::Connecting => "connecting",
            Self::Deciding => "waiting for accept or reject",
            Self::Connected => "connected",
            Self::Closed => "closed",
        }
    }
}

impl Connection {
    /// A new connection at time `now`; `seed` feeds the handshake's random bytes.
    pub fn new(config: Arc<Config>, side: Side, now: Instant, seed: [u8; 32]) -> Self {
        let handshake = Box::new(match side {
            Side::Server => Handshake::server(seed),
            Side::Client => Handshake::client(seed, config.client_style),
        });
        let mut conn = Self {
            decoder: chunk::Decoder::new(config.chunk_limits),
            encoder: chunk::Encoder::new(),
            deadline: Some(now + config.handshake_timeout),
            config,
            side,
            epoch: now,
            state: State::Handshaking,
            handshake: Some(handshake),
            transmit: BytesMut::new(),
            scratch: BytesMut::new(),
            events: VecDeque::new(),
            encoding: Encoding::Amf0,
            peer_window: None,
            announced_window: None,
            bytes_received: 0,
            acknowledged: 0,
            last_input: now,
            last_ping: None,
            partials: Vec::new(),
            connect_transaction_id: CONNECT_TRANSACTION_ID,
            connect_params: None,
            next_transaction_id: match side {
                Side::Server => 1,
                Side::Client => 2,
            },
            pending_calls: BTreeMap::new(),
        };
        if let Some(handshake) = conn.handshake.as_deref_mut() {
            handshake.poll_transmit(&mut conn.transmit);
        }
        conn
    }

    /// Which side this connection is.
    pub fn side(&self) -> Side {
        self.side
    }

    /// The object encoding in use: the one the client asked for once the
    /// connect is accepted.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The chunk size this side sends with (RTMP §5.4.1): 128 until it
    /// announces another (a server does when it accepts the `connect`).
    pub fn send_chunk_size(&self) -> u32 {
        self.encoder.chunk_size()
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether `connect` has been accepted.
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// Feeds bytes read from the socket; any split of the stream works.
    ///
    /// A fatal problem closes the connection: it is returned here and also
    /// reported once as [`Event::Closed`].
    pub fn handle_input(&mut self, now: Instant, mut input: &[u8]) -> Result<(), Error> {
        if self.state == State::Closed {
            return Err(Error::Closed);
        }
        self.last_input = now;
        self.bytes_received = self.bytes_received.saturating_add(input.len() as u64);
        let time = self.time(now);
        if self.state == State::Handshaking
            && let Some(handshake) = self.handshake.as_deref_mut()
        {
            let consumed = match handshake.handle_input(time, input) {
                Ok(n) => n,
                Err(e) => return Err(self.fail(e)),
            };
            handshake.poll_transmit(&mut self.transmit);
            input = input.get(consumed..).unwrap_or_default();
            if handshake.is_done() {
                // Everything it had to send is in `transmit`.
                self.handshake = None;
                self.on_handshake_done(now);
            }
        }
        if self.state != State::Handshaking && !input.is_empty() {
            self.decoder.push(input);
        }
        self.process(now)?;
        self.track_partials(now);
        self.acknowledge(now);
        Ok(())
    }

    /// Acts on timers: handshake and connect timeouts, idle timeout, pings.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if self.deadline.is_some_and(|d| now >= d) {
            let what = if self.state == State::Handshaking {
                "the handshake"
            } else {
                "connect"
            };
            self.fail(ProtocolError::Timeout(what).into());
            return;
        }
        if self
            .config
            .idle_timeout
            .is_some_and(|idle| now >= self.last_input + idle)
        {
            self.fail(ProtocolError::Timeout("the peer to send anything").into());
            return;
        }
        if self.stalled_since().is_some_and(|at| now >= at) {
            self.fail(ProtocolError::Timeout("the rest of a message").into());
            return;
        }
        if self.next_ping().is_some_and(|at| now >= at) {
            self.last_ping = Some(now);
            let stamp = self.time(now);
            self.send_control(now, &Message::UserControl(UserControl::PingRequest(stamp)));
        }
    }

    /// Appends the bytes to write to the socket; returns how many.
    pub fn poll_transmit(&mut self, out: &mut BytesMut) -> usize {
        let n = self.transmit.len();
        if out.is_empty() {
            std::mem::swap(out, &mut self.transmit);
        } else {
            out.extend_from_slice(&self.transmit);
            self.transmit.clear();
        }
        n
    }

    /// The next application event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        let idle = self.config.idle_timeout.map(|d| self.last_input + d);
        [self.deadline, idle, self.next_ping(), self.stalled_since()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Bytes waiting in [`poll_transmit`](Self::poll_transmit).
    pub fn pending_transmit(&self) -> usize {
        self.transmit.len()
    }

    /// Bytes received from the peer so far, the handshake included.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// Bytes received up to our last Acknowledgement (RTMP §5.4.3).
    pub fn bytes_acknowledged(&self) -> u64 {
        self.acknowledged
    }

    /// Bytes held for input not yet decoded (partial chunks and messages).
    pub fn buffered_input(&self) -> usize {
        self.decoder.buffered()
    }

    /// Closes the connection from our side. Nothing more is sent.
    pub fn close(&mut self, _now: Instant) {
        if self.state != State::Closed {
            self.state = State::Closed;
            self.events.push_back(Event::Closed(CloseReason::Local));
        }
    }

    /// Changes the chunk size we send with (1 to 0x7FFFFFFF), announcing it
    /// to the peer first (RTMP §5.4.1).
    pub fn set_chunk_size(&mut self, now: Instant, size: u32) -> Result<(), ApiMisuse> {
        if size == 0 || size > 0x7FFF_FFFF {
            return Err(ApiMisuse::InvalidArgument(
                "chunk size must be 1 to 0x7FFFFFFF",
            ));
        }
        match self.state {
            State::Connecting | State::Deciding | State::Connected => {}
            State::Closed => return Err(ApiMisuse::Closed),
            State::Handshaking => {
                return Err(ApiMisuse::WrongState {
                    command: "set_chunk_size",
                    state: "handshaking",
                });
            }
        }
        self.send_control(now, &Message::SetChunkSize(size));
        self.encoder.set_chunk_size(size);
        Ok(())
    }

    /// Sends a SharedObject message, encoded in this connection's encoding.
    pub fn send_shared_object(
        &mut self,
        now: Instant,
        message: &SharedObjectMessage,
    ) -> Result<(), ApiMisuse> {
        self.require_connected("send_shared_object")?;
        let mut body = std::mem::take(&mut self.scratch);
        body.clear();
        let result = message.encode(self.encoding, &mut body);
        if result.is_ok() {
            self.send_shared_object_encoded(now, &body)?;
        }
        self.scratch = body;
        result
    }

    /// Sends a SharedObject message body that was already encoded in this
    /// connection's [`encoding`](Self::encoding) (type 16 for AMF3, 19 for
    /// AMF0). This is how one update encoded once reaches many connections.
    pub fn send_shared_object_encoded(
        &mut self,
        now: Instant,
        body: &[u8],
    ) -> Result<(), ApiMisuse> {
        self.require_connected("send_shared_object_encoded")?;
        let type_id = match self.encoding {
            Encoding::Amf0 => crate::message::types::SHARED_OBJECT_AMF0,
            Encoding::Amf3 => crate::message::types::SHARED_OBJECT_AMF3,
        };
        self.send_raw(now, COMMAND_CSID, type_id, 0, body)
    }

    /// Calls `method` on the peer; its answer arrives as [`Event::CallResult`].
    pub fn call(
        &mut self,
        now: Instant,
        method: &str,
        args: Vec<Value>,
    ) -> Result<CallId, ApiMisuse> {
        self.require_connected("call")?;
        let txid = self.next_transaction_id;
        self.next_transaction_id = self.next_transaction_id.wrapping_add(1).max(2);
        let id = CallId(txid);
        self.pending_calls.insert(txid, id);
        let command = Command {
            name: method.into(),
            transaction_id: f64::from(txid),
            command_object: Value::Null,
            args,
        };
        self.send_command(now, command)?;
        Ok(id)
    }

    /// Answers the peer's call `transaction_id` with `_result`. A transaction
    /// id of 0 expects no answer, so nothing is sent.
    pub fn reply(
        &mut self,
        now: Instant,
        transaction_id: f64,
        result: Value,
    ) -> Result<(), ApiMisuse> {
        self.answer(now, "_result", transaction_id, result)
    }

    /// Answers the peer's call `transaction_id` with `_error` and `info`
    /// (see [`call_failed`] for the usual status object).
    pub fn reply_error(
        &mut self,
        now: Instant,
        transaction_id: f64,
        info: Value,
    ) -> Result<(), ApiMisuse> {
        self.answer(now, "_error", transaction_id, info)
    }
}

/// The status object of a failed call: `NetConnection.Call.Failed` with `description`.
pub fn call_failed(description: &str) -> Value {
    status_object(StatusLevel::Error, "NetConnection.Call.Failed", description)
}

impl Connection {
    fn time(&self, now: Instant) -> u32 {
        // RTMP timestamps are milliseconds modulo 2^32 (RTMP §5.3.1.1).
        now.saturating_duration_since(self.epoch).as_millis() as u32
    }

    /// Notes which partial messages grew (or appeared) at `now`.
    fn track_partials(&mut self, now: Instant) {
        if self.partials.is_empty() && self.decoder.partial_messages().next().is_none() {
            return;
        }
        let decoder = &self.decoder;
        // In place: no allocation per input while a large message arrives.
        self.partials
            .retain(|&(s, _, _)| decoder.partial_messages().any(|(stream, _)| stream == s));
        for (stream, bytes) in decoder.partial_messages() {
            match self.partials.iter_mut().find(|p| p.0 == stream) {
                Some(p) if p.1 == bytes => {}
                Some(p) => *p = (stream, bytes, now),
                None => self.partials.push((stream, bytes, now)),
            }
        }
    }

    /// When the partial message that grew least recently times out.
    fn stalled_since(&self) -> Option<Instant> {
        let timeout = self.config.partial_message_timeout?;
        let oldest = self.partials.iter().map(|&(_, _, since)| since).min()?;
        Some(oldest + timeout)
    }

    fn next_ping(&self) -> Option<Instant> {
        if self.state != State::Connected {
            return None;
        }
        let interval = self.config.ping_interval?;
        let silent_since = self.last_input + interval;
        Some(match self.last_ping {
            Some(p) if p >= self.last_input => (p + interval).max(silent_since),
            _ => silent_since,
        })
    }

    fn require_connected(&self, command: &'static str) -> Result<(), ApiMisuse> {
        match self.state {
            State::Connected => Ok(()),
            State::Closed => Err(ApiMisuse::Closed),
            s => Err(ApiMisuse::WrongState {
                command,
                state: s.name(),
            }),
        }
    }

    /// Closes with `error`, reports it once, and hands it back.
    fn fail(&mut self, error: Error) -> Error {
        if self.state != State::Closed {
            self.state = State::Closed;
            self.events
                .push_back(Event::Closed(CloseReason::Error(error.clone())));
        }
        error
    }

    fn on_handshake_done(&mut self, now: Instant) {
        self.events.push_back(Event::HandshakeDone);
        self.state = State::Connecting;
        self.deadline = Some(now + self.config.connect_timeout);
        if self.side == Side::Client {
            let size = self.config.chunk_size;
            self.send_control(now, &Message::SetChunkSize(size));
            self.encoder.set_chunk_size(size);
            if let Some(params) = self.connect_params.clone() {
                self.send_connect(now, &params);
            }
        }
    }

    /// Decodes and handles every complete message, unless the application is
    /// still deciding about `connect` (input then stays buffered, bounded).
    fn process(&mut self, now: Instant) -> Result<(), Error> {
        while matches!(self.state, State::Connecting | State::Connected) {
            let raw = match self.decoder.next_message() {
                Ok(Some(raw)) => raw,
                Ok(None) => break,
                Err(e) => return Err(self.fail(e)),
            };
            if let Err(e) = self.handle_message(now, raw) {
                return Err(self.fail(e));
            }
        }
        if self.state == State::Deciding {
            let max = u64::from(self.config.chunk_limits.max_message_size);
            if self.decoder.buffered() as u64 > max {
                let e = LimitExceeded::new(Limit::BufferedBytes, max);
                return Err(self.fail(e.into()));
            }
        }
        Ok(())
    }

    fn handle_message(&mut self, now: Instant, raw: RawMessage) -> Result<(), Error> {
        let stream_id = raw.header.stream_id;
        let message = Message::decode(raw.header.type_id, raw.payload, &self.config.amf_limits)?;
        match message {
            Message::UserControl(UserControl::PingRequest(stamp)) => {
                self.send_control(now, &Message::UserControl(UserControl::PingResponse(stamp)));
            }
            Message::WindowAckSize(window) => self.peer_window = Some(window),
            // RTMP §5.4.5: answer with our window if it changed.
            Message::SetPeerBandwidth { size, .. } if self.announced_window != Some(size) => {
                self.announced_window = Some(size);
                self.send_control(now, &Message::WindowAckSize(size));
            }
            Message::Command { command, .. } => self.handle_command(now, stream_id, command)?,
            Message::SharedObject { message, .. } => {
                if self.state != State::Connected {
                    return Err(
                        ProtocolError::Unexpected("a SharedObject message before connect").into(),
                    );
                }
                self.events.push_back(Event::SharedObject(message));
            }
            // Chunk size and abort were applied by the decoder; media, data
            // and the remaining control messages need no action here.
            _ => {}
        }
        Ok(())
    }

    fn send_control(&mut self, now: Instant, message: &Message) {
        self.send_message(now, CONTROL_CSID, 0, message);
    }

    fn send_message(&mut self, now: Instant, csid: u32, stream_id: u32, message: &Message) {
        let mut body = std::mem::take(&mut self.scratch);
        body.clear();
        // Messages built here hold only short names and values we made; a
        // failure would be our bug, so the message is dropped, not the peer.
        if message.encode(&mut body).is_ok() {
            let _ = self.send_raw(now, csid, message.type_id(), stream_id, &body);
        }
        self.scratch = body;
    }

    fn send_raw(
        &mut self,
        now: Instant,
        csid: u32,
        type_id: u8,
        stream_id: u32,
        body: &[u8],
    ) -> Result<(), ApiMisuse> {
        // The chunk header's length field has 24 bits (RTMP §5.3.1.2.1).
        if body.len() > MAX_MESSAGE_SIZE {
            return Err(ApiMisuse::TooLarge("a message over 16,777,215 bytes"));
        }
        let header = Header {
            csid,
            timestamp: self.time(now),
            type_id,
            stream_id,
        };
        self.encoder.encode(&header, body, &mut self.transmit);
        Ok(())
    }

    fn send_command(&mut self, now: Instant, command: Command) -> Result<(), ApiMisuse> {
        self.send_command_as(now, self.encoding, 0, command)
    }

    fn send_command_as(
        &mut self,
        now: Instant,
        encoding: Encoding,
        stream_id: u32,
        command: Command,
    ) -> Result<(), ApiMisuse> {
        let message = Message::Command { encoding, command };
        let mut body = std::mem::take(&mut self.scratch);
        body.clear();
        let result = message
            .encode(&mut body)
            .and_then(|()| self.send_raw(now, COMMAND_CSID, message.type_id(), stream_id, &body));
        self.scratch = body;
        result
    }

    fn answer(
        &mut self,
        now: Instant,
        name: &str,
        transaction_id: f64,
        value: Value,
    ) -> Result<(), ApiMisuse> {
        self.require_connected("reply")?;
        if transaction_id == 0.0 {
            return Ok(());
        }
        let command = Command {
            name: name.into(),
            transaction_id,
            command_object: Value::Null,
            args: vec![value],
        };
        self.send_command(now, command)
    }

    fn acknowledge(&mut self, now: Instant) {
        let Some(window) = self.peer_window else {
            return;
        };
        if window == 0 || self.state == State::Closed {
            return;
        }
        if self.bytes_received.saturating_sub(self.acknowledged) >= u64::from(window) {
            self.acknowledged = self.bytes_received;
            // The sequence number wraps at 2^32 like every RTMP counter.
            let sequence = self.bytes_received as u32;
            self.send_control(now, &Message::Acknowledgement { sequence });
        }
    }
}
