//! The sans-IO glue between [`Connection`]s and the [`Engine`](crate::Engine),
//! written once for every adapter.
//!
//! An adapter runs the engine in one place (a task, a thread) and each
//! connection beside its socket. Between them travel [`Input`]s (towards the
//! engine) and [`ClientCommand`]s (towards one connection):
//!
//! * beside each connection, a [`ClientLink`] turns the connection's
//!   [`Event`]s into engine inputs ([`ClientLink::handle_event`]) and carries
//!   out the commands the engine addressed to it
//!   ([`ClientLink::handle_command`]);
//! * beside the engine, [`route`] splits the engine's outputs into commands
//!   per client and the rest (persistence, lifecycle, logs).
//!
//! SharedObject bodies arrive already encoded and shared ([`Body`]): a
//! connection only frames them, so one update costs one encoding however
//! many clients receive it. [`route`] hands each recipient a handle to the
//! same bytes.

use std::collections::BTreeMap;
use std::time::Instant;

use rtmp_proto::amf::{Str, Value};
use rtmp_proto::connection::{self, Connection, Event};
use rtmp_proto::error::ApiMisuse;

use crate::delivery::{self, Body};
use crate::io::{Input, Output};
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

/// Splits one engine output: commands for clients (a SharedObject body
/// for each of its recipients, anything else for its one client), or
/// something for the adapter itself (`Err`: persistence effects, lifecycle
/// events, hook failures to log).
pub fn route(output: Output) -> Result<Commands, Output> {
    if let Output::SharedObject { to, body, .. } = output {
        return Ok(Commands(Routed::Shared {
            to: to.into_iter(),
            body,
        }));
    }
    route_one(output).map(|command| Commands(Routed::One(Some(command))))
}

/// The commands one engine output means, one per recipient, in order (see
/// [`route`]).
#[derive(Debug, Clone)]
pub struct Commands(Routed);

#[derive(Debug, Clone)]
enum Routed {
    One(Option<(ClientId, ClientCommand)>),
    Shared { to: delivery::IntoIter, body: Body },
}

impl Iterator for Commands {
    type Item = (ClientId, ClientCommand);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            Routed::One(command) => command.take(),
            Routed::Shared { to, body } => to
                .next()
                .map(|client| (client, ClientCommand::SharedObject(body.clone()))),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            Routed::One(command) => {
                let n = usize::from(command.is_some());
                (n, Some(n))
            }
            Routed::Shared { to, .. } => to.size_hint(),
        }
    }
}

impl ExactSizeIterator for Commands {}

impl std::iter::FusedIterator for Commands {}

/// [`route`] for the outputs that go to one client.
pub(crate) fn route_one(output: Output) -> Result<(ClientId, ClientCommand), Output> {
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

/// One connection's side of the glue: its client id, whether the engine
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
        connection: &mut Connection,
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
        connection: &mut Connection,
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
    fn route_splits_client_commands_from_effects() {
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
            match (route(output.clone()), expected) {
                (Ok(commands), Some(expected)) => {
                    assert_eq!(commands.collect::<Vec<_>>(), [(client, expected)]);
                }
                (Err(back), None) => assert_eq!(back, output),
                (got, expected) => panic!("{got:?} for {expected:?}"),
            }
        }
    }

    #[test]
    fn route_gives_every_recipient_the_same_body() {
        let body = Body::from_static(b"body");
        let output = Output::SharedObject {
            to: vec![ClientId(3), ClientId(1)].into(),
            encoding: rtmp_proto::amf::Encoding::Amf0,
            body: body.clone(),
        };
        let Ok(commands) = route(output) else {
            panic!("a SharedObject output is for clients");
        };
        assert_eq!(commands.len(), 2);
        let routed: Vec<_> = commands.collect();
        assert_eq!(
            routed,
            [
                (ClientId(3), ClientCommand::SharedObject(body.clone())),
                (ClientId(1), ClientCommand::SharedObject(body.clone())),
            ]
        );
        for (_, command) in routed {
            let ClientCommand::SharedObject(sent) = command else {
                panic!("{command:?}");
            };
            assert_eq!(sent.as_ptr(), body.as_ptr(), "shared, not copied");
        }
    }
}
