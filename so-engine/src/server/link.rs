//! Beside each connection: the [`ClientLink`] that turns the connection's
//! events into engine inputs and carries out the [`ClientCommand`]s the
//! engine addressed to it.
//!
//! SharedObject bodies arrive already encoded and shared ([`Body`]): a
//! connection only frames them, so one update costs one encoding however
//! many clients receive it.

use std::collections::BTreeMap;
use std::time::Instant;

use rtmp_proto::amf::{Str, Value};
use rtmp_proto::connection::{self, Connection, Event};
use rtmp_proto::error::ApiMisuse;

use crate::delivery::Body;
use crate::interface::{Input, Output};
use crate::types::{CallId, ClientId, ScopePath};

/// What the engine asks of one client's connection.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientCommand {
    /// Accept its `connect`.
    Accept,
    /// Reject its `connect` with this description (the connection closes).
    Reject(String),
    /// Send this SharedObject body (already in the connection's encoding).
    SharedObject(Body),
    /// Answer its call: `_result` or `_error`.
    Reply {
        /// The call's transaction id.
        transaction_id: f64,
        /// The answer.
        reply: Result<Value, Value>,
    },
    /// Call a method on it.
    Call {
        /// The engine's id for the call, reported back with its answer.
        call: CallId,
        /// The method.
        method: Str,
        /// The arguments.
        args: Vec<Value>,
    },
    /// Close it (server code disconnected it).
    Disconnect(String),
}

/// What a [`ClientLink`] needs of a client's connection: the commands of
/// a server-side `rtmp_proto` [`Connection`]. A connection over another
/// transport (the WebSocket session of `so-web`) implements it too, and is
/// then a client like any other.
pub trait Peer {
    /// Accepts the client's `connect`.
    fn accept(&mut self, now: Instant) -> Result<(), ApiMisuse>;
    /// Rejects the client's `connect` with `description`; the connection closes.
    fn reject(&mut self, now: Instant, description: &str) -> Result<(), ApiMisuse>;
    /// Sends a SharedObject body encoded in the client's encoding.
    fn send_shared_object_encoded(&mut self, now: Instant, body: &Body) -> Result<(), ApiMisuse>;
    /// Answers the client's call `transaction_id`.
    fn reply(&mut self, now: Instant, transaction_id: f64, value: Value) -> Result<(), ApiMisuse>;
    /// Answers the client's call `transaction_id` with an error.
    fn reply_error(
        &mut self,
        now: Instant,
        transaction_id: f64,
        info: Value,
    ) -> Result<(), ApiMisuse>;
    /// Calls `method` on the client.
    fn call(
        &mut self,
        now: Instant,
        method: &str,
        args: Vec<Value>,
    ) -> Result<connection::CallId, ApiMisuse>;
    /// Closes the connection from the server's side.
    fn close(&mut self, now: Instant);
}

impl Peer for Connection {
    fn accept(&mut self, now: Instant) -> Result<(), ApiMisuse> {
        Connection::accept(self, now)
    }
    fn reject(&mut self, now: Instant, description: &str) -> Result<(), ApiMisuse> {
        Connection::reject(self, now, description)
    }
    fn send_shared_object_encoded(&mut self, now: Instant, body: &Body) -> Result<(), ApiMisuse> {
        Connection::send_shared_object_encoded(self, now, body)
    }
    fn reply(&mut self, now: Instant, transaction_id: f64, value: Value) -> Result<(), ApiMisuse> {
        Connection::reply(self, now, transaction_id, value)
    }
    fn reply_error(
        &mut self,
        now: Instant,
        transaction_id: f64,
        info: Value,
    ) -> Result<(), ApiMisuse> {
        Connection::reply_error(self, now, transaction_id, info)
    }
    fn call(
        &mut self,
        now: Instant,
        method: &str,
        args: Vec<Value>,
    ) -> Result<connection::CallId, ApiMisuse> {
        Connection::call(self, now, method, args)
    }
    fn close(&mut self, now: Instant) {
        Connection::close(self, now);
    }
}

/// The command an engine output for one client means; `Err` gives back
/// the outputs that are not for one client.
pub(crate) fn client_command(output: Output) -> Result<(ClientId, ClientCommand), Output> {
    Ok(match output {
        Output::ConnectAccepted { client } => (client, ClientCommand::Accept),
        Output::ConnectRejected { client, reason } => (client, ClientCommand::Reject(reason)),
        Output::CallReply {
            client,
            transaction_id,
            reply,
        } => (
            client,
            ClientCommand::Reply {
                transaction_id,
                reply,
            },
        ),
        Output::CallClient {
            client,
            call,
            method,
            args,
        } => (client, ClientCommand::Call { call, method, args }),
        Output::Disconnect { client, reason } => (client, ClientCommand::Disconnect(reason)),
        other => return Err(other),
    })
}

/// One connection's side of the server: its client id, whether the engine
/// knows it, and the server calls in flight on it.
#[derive(Debug)]
pub struct ClientLink {
    client: ClientId,
    /// The engine was told about this client (its `connect` went there).
    known: bool,
    /// The connection's call ids of server calls, to the engine's.
    calls: BTreeMap<connection::CallId, CallId>,
}

impl ClientLink {
    /// The link for a new connection, which the engine will know as `client`.
    pub fn new(client: ClientId) -> Self {
        Self {
            client,
            known: false,
            calls: BTreeMap::new(),
        }
    }

    /// The client id.
    pub fn client(&self) -> ClientId {
        self.client
    }

    /// The engine input one connection event means, if any. A `connect` to a
    /// path that names no scope (empty, `.` or `..` segments) is rejected
    /// here, without bothering the engine.
    pub fn handle_event(
        &mut self,
        connection: &mut impl Peer,
        now: Instant,
        event: Event,
    ) -> Option<Input> {
        let client = self.client;
        match event {
            Event::ConnectRequest(request) => match ScopePath::new(&request.app) {
                Ok(scope) => {
                    self.known = true;
                    Some(Input::ClientConnected {
                        client,
                        scope,
                        encoding: request.encoding,
                        args: request.args,
                    })
                }
                Err(_) => {
                    let _ = connection.reject(now, "invalid application path");
                    None
                }
            },
            Event::SharedObject(message) if self.known => {
                Some(Input::SharedObject { client, message })
            }
            Event::Call(call) if self.known => Some(Input::Call {
                client,
                transaction_id: call.transaction_id,
                method: call.method,
                args: call.args,
            }),
            Event::CallResult { id, outcome } => {
                let call = self.calls.remove(&id)?;
                Some(Input::CallResult {
                    client,
                    call,
                    outcome,
                })
            }
            Event::Closed(_) if self.known => {
                self.known = false;
                Some(Input::ClientLeft { client })
            }
            _ => None,
        }
    }

    /// Carries out one engine command on the connection. An error means the
    /// connection was already closed or is not in the state the command
    /// needs (the engine's `ClientLeft` follows from its `Closed` event).
    pub fn handle_command(
        &mut self,
        connection: &mut impl Peer,
        now: Instant,
        command: ClientCommand,
    ) -> Result<(), ApiMisuse> {
        match command {
            ClientCommand::Accept => connection.accept(now),
            ClientCommand::Reject(reason) => connection.reject(now, &reason),
            ClientCommand::SharedObject(body) => connection.send_shared_object_encoded(now, &body),
            ClientCommand::Reply {
                transaction_id,
                reply: Ok(value),
            } => connection.reply(now, transaction_id, value),
            ClientCommand::Reply {
                transaction_id,
                reply: Err(info),
            } => connection.reply_error(now, transaction_id, info),
            ClientCommand::Call { call, method, args } => {
                let id = connection.call(now, &method, args)?;
                self.calls.insert(id, call);
                Ok(())
            }
            ClientCommand::Disconnect(_) => {
                connection.close(now);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ScopePath, SoKey};

    #[test]
    fn commands_for_one_client_are_split_from_effects() {
        let client = ClientId(7);
        let cases = [
            (
                Output::ConnectAccepted { client },
                Some(ClientCommand::Accept),
            ),
            (
                Output::ConnectRejected {
                    client,
                    reason: "no".into(),
                },
                Some(ClientCommand::Reject("no".into())),
            ),
            (
                Output::Disconnect {
                    client,
                    reason: "bye".into(),
                },
                Some(ClientCommand::Disconnect("bye".into())),
            ),
            (
                Output::CallReply {
                    client,
                    transaction_id: 3.0,
                    reply: Ok(Value::Null),
                },
                Some(ClientCommand::Reply {
                    transaction_id: 3.0,
                    reply: Ok(Value::Null),
                }),
            ),
            (
                Output::SoCreated {
                    so: SoKey::new(ScopePath::new("app").unwrap(), "x"),
                },
                None,
            ),
        ];
        for (output, expected) in cases {
            match (client_command(output.clone()), expected) {
                (Ok(command), Some(expected)) => assert_eq!(command, (client, expected)),
                (Err(back), None) => assert_eq!(back, output),
                (got, expected) => panic!("{got:?} for {expected:?}"),
            }
        }
    }
}
