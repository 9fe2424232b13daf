//! `connect`, its answers, calls and the stream commands we refuse.

use std::time::Instant;

use super::{
    CONNECT_TRANSACTION_ID, CallId, CloseReason, ConnectParams, ConnectRequest, Connection, Event,
    Side, State, call_failed,
};
use crate::amf::{Encoding, Value};
use crate::error::{ApiMisuse, Error, ProtocolError};
use crate::message::{BandwidthLimit, Command, Message, StatusLevel, UserControl, status_object};

/// Stream commands: media is out of scope, so each gets a clean `_error`.
const STREAM_COMMANDS: &[&str] = &[
    "createStream",
    "deleteStream",
    "closeStream",
    "releaseStream",
    "publish",
    "play",
    "play2",
    "seek",
    "pause",
    "receiveAudio",
    "receiveVideo",
    "FCPublish",
    "FCUnpublish",
    "FCSubscribe",
    "FCUnsubscribe",
    "getStreamLength",
];

impl Connection {
    /// Server side: accepts the client's `connect`.
    ///
    /// Sends Window Acknowledgement Size, Set Peer Bandwidth, Set Chunk Size,
    /// StreamBegin 0 and the `_result` with `NetConnection.Connect.Success`
    /// (RTMP §7.2.1.1), then resumes decoding input that arrived meanwhile.
    pub fn accept(&mut self, now: Instant) -> Result<(), ApiMisuse> {
        self.require_deciding("accept")?;
        let window = self.config.window_ack_size;
        self.announced_window = Some(window);
        self.send_control(now, &Message::WindowAckSize(window));
        let bandwidth = Message::SetPeerBandwidth {
            size: self.config.peer_bandwidth,
            limit: BandwidthLimit::Dynamic,
        };
        self.send_control(now, &bandwidth);
        let chunk_size = self.config.chunk_size;
        self.send_control(now, &Message::SetChunkSize(chunk_size));
        self.encoder.set_chunk_size(chunk_size);
        self.send_control(now, &Message::UserControl(UserControl::StreamBegin(0)));
        let result = Command::connect_success(self.connect_transaction_id, self.encoding);
        // The answer to connect is always AMF0, whatever was negotiated (Red5, FMS).
        self.send_command_as(now, Encoding::Amf0, 0, result)?;
        self.state = State::Connected;
        self.deadline = None;
        // A hostile buffered backlog closes the connection; that is reported
        // as an event, and the accept itself succeeded.
        let _ = self.process(now);
        self.acknowledge(now);
        Ok(())
    }

    /// Server side: refuses the client's `connect` with `_error`
    /// `NetConnection.Connect.Rejected` and `description`, then closes.
    pub fn reject(&mut self, now: Instant, description: &str) -> Result<(), ApiMisuse> {
        self.require_deciding("reject")?;
        let error = Command::connect_rejected(self.connect_transaction_id, description);
        self.send_command_as(now, Encoding::Amf0, 0, error)?;
        self.state = State::Closed;
        self.events
            .push_back(Event::Closed(CloseReason::Rejected(description.to_owned())));
        Ok(())
    }

    /// Client side: asks to connect with `params`. It is sent as soon as the
    /// handshake is done (right away if it already is).
    pub fn connect(&mut self, now: Instant, params: ConnectParams) -> Result<(), ApiMisuse> {
        if self.side != Side::Client {
            return Err(ApiMisuse::WrongState {
                command: "connect",
                state: "a server connection",
            });
        }
        if self.connect_params.is_some() {
            return Err(ApiMisuse::WrongState {
                command: "connect",
                state: "already connecting",
            });
        }
        if self.state == State::Closed {
            return Err(ApiMisuse::Closed);
        }
        self.connect_params = Some(params.clone());
        if self.state == State::Connecting {
            self.send_connect(now, &params);
        }
        Ok(())
    }

    pub(super) fn send_connect(&mut self, now: Instant, params: &ConnectParams) {
        let mut connect = Command::connect(&params.app, &params.tc_url, params.encoding);
        connect.args.clone_from(&params.args);
        // Flash sends connect as AMF0 (type 20) whatever encoding it asks for.
        if self
            .send_command_as(now, Encoding::Amf0, 0, connect)
            .is_err()
        {
            let e = ProtocolError::Unexpected("connect parameters too long to encode");
            self.fail(e.into());
        }
    }

    pub(super) fn handle_command(
        &mut self,
        now: Instant,
        stream_id: u32,
        command: Command,
    ) -> Result<(), Error> {
        match (self.side, self.state, command.name.as_str()) {
            (Side::Server, State::Connecting, "connect") => {
                self.on_connect(command);
                Ok(())
            }
            (_, _, "connect") => Err(ProtocolError::Unexpected("a second connect").into()),
            (Side::Server, State::Connecting, _) => {
                Err(ProtocolError::Unexpected("a command before connect").into())
            }
            (Side::Client, State::Connecting, "_result" | "_error")
                if command.transaction_id == CONNECT_TRANSACTION_ID =>
            {
                self.on_connect_answer(command);
                Ok(())
            }
            (_, State::Connected, "_result" | "_error") => {
                self.on_call_answer(command);
                Ok(())
            }
            (_, State::Connected, "close" | "disconnect") => {
                self.state = State::Closed;
                self.events
                    .push_back(Event::Closed(CloseReason::PeerClosed));
                Ok(())
            }
            (Side::Server, State::Connected, name) if STREAM_COMMANDS.contains(&name) => {
                self.refuse_stream_command(now, stream_id, &command);
                Ok(())
            }
            (_, State::Connected, _) => {
                self.events.push_back(Event::Call(super::Call {
                    method: command.name,
                    transaction_id: command.transaction_id,
                    command_object: command.command_object,
                    args: command.args,
                }));
                Ok(())
            }
            // Client side, before the connect answer: servers may send
            // onBWDone or onStatus early; nothing waits for them.
            _ => Ok(()),
        }
    }

    fn on_connect(&mut self, command: Command) {
        let object = &command.command_object;
        let text = |key: &str| {
            object
                .property(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let full_app = text("app").unwrap_or_default();
        let (app, query) = match full_app.split_once('?') {
            Some((app, query)) => (app.to_owned(), Some(query.to_owned())),
            None => (full_app, None),
        };
        let encoding = command.object_encoding();
        self.encoding = encoding;
        self.connect_transaction_id = command.transaction_id;
        self.state = State::Deciding;
        self.events.push_back(Event::ConnectRequest(ConnectRequest {
            app: app.trim_matches('/').to_owned(),
            query,
            tc_url: text("tcUrl"),
            encoding,
            command_object: command.command_object,
            args: command.args,
        }));
    }

    fn on_connect_answer(&mut self, command: Command) {
        let info = command.args.into_iter().next().unwrap_or(Value::Null);
        if command.name == "_result" {
            // A server that does not echo objectEncoding 3 speaks AMF0.
            let echoed = info.property("objectEncoding").and_then(Value::as_f64);
            self.encoding = if echoed == Some(3.0) {
                Encoding::Amf3
            } else {
                Encoding::Amf0
            };
            self.state = State::Connected;
            self.deadline = None;
            self.events.push_back(Event::Connected {
                encoding: self.encoding,
                info,
            });
        } else {
            let description = info
                .property("description")
                .and_then(Value::as_str)
                .unwrap_or("connect rejected")
                .to_owned();
            self.state = State::Closed;
            self.events
                .push_back(Event::Closed(CloseReason::Rejected(description)));
        }
    }

    fn on_call_answer(&mut self, command: Command) {
        // Transaction ids are integers we issued; anything else is no call of ours.
        let txid = command.transaction_id;
        if !(txid >= 0.0 && txid <= f64::from(u32::MAX) && txid.fract() == 0.0) {
            return;
        }
        let Some(id) = self.pending_calls.remove(&(txid as u32)) else {
            return;
        };
        let outcome = if command.name == "_result" {
            Ok(command.args)
        } else {
            Err(command.args.into_iter().next().unwrap_or(Value::Null))
        };
        self.events.push_back(Event::CallResult { id, outcome });
    }

    fn refuse_stream_command(&mut self, now: Instant, stream_id: u32, command: &Command) {
        let description = "media streams are not supported by this server";
        if command.transaction_id != 0.0 {
            let _ = self.reply_error(now, command.transaction_id, call_failed(description));
        } else if matches!(command.name.as_str(), "play" | "play2" | "publish") {
            // play/publish expect no _result, only onStatus on their stream.
            let code = if command.name == "publish" {
                "NetStream.Publish.BadName"
            } else {
                "NetStream.Play.Failed"
            };
            let on_status = Command {
                name: "onStatus".into(),
                transaction_id: 0.0,
                command_object: Value::Null,
                args: vec![status_object(StatusLevel::Error, code, description)],
            };
            let _ = self.send_command_as(now, self.encoding, stream_id, on_status);
        }
    }

    fn require_deciding(&self, command: &'static str) -> Result<(), ApiMisuse> {
        match self.state {
            State::Deciding => Ok(()),
            State::Closed => Err(ApiMisuse::Closed),
            s => Err(ApiMisuse::WrongState {
                command,
                state: s.name(),
            }),
        }
    }
}

impl ConnectParams {
    /// Parameters for `rtmp://host[:port]/app[/room...]` with `encoding`.
    ///
    /// Returns `None` if the URL is not an `rtmp://` URL with an application.
    pub fn from_url(url: &str, encoding: Encoding) -> Option<Self> {
        let rest = url.strip_prefix("rtmp://")?;
        let (_host, path) = rest.split_once('/')?;
        let app = path.trim_matches('/');
        if app.is_empty() {
            return None;
        }
        Some(Self {
            app: app.to_owned(),
            tc_url: url.to_owned(),
            encoding,
            args: Vec::new(),
        })
    }
}

/// A [`CallId`] for tests and tools that build events by hand.
impl From<u32> for CallId {
    fn from(n: u32) -> Self {
        Self(n)
    }
}
