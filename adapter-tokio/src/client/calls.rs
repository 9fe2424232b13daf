//! Calls from the server to this client, and how they are answered.

use rtmp_proto::amf::{Str, Value};
use rtmp_proto::connection::call_failed;
use tokio::sync::mpsc;

use super::driver::Command;

/// A method the server called on this client (`NetConnection.client`'s
/// methods in Flash). Answer it with [`reply`](Self::reply) or
/// [`reply_error`](Self::reply_error); dropping it unanswered answers
/// `_error` `NetConnection.Call.Failed`, so the server never waits forever.
#[derive(Debug)]
pub struct IncomingCall {
    /// The method name.
    pub method: Str,
    /// The arguments.
    pub args: Vec<Value>,
    /// The command object (usually null).
    pub command_object: Value,
    responder: Responder,
}

impl IncomingCall {
    pub(crate) fn new(
        call: rtmp_proto::connection::Call,
        commands: mpsc::UnboundedSender<Command>,
    ) -> Self {
        Self {
            method: call.method,
            args: call.args,
            command_object: call.command_object,
            responder: Responder {
                transaction_id: call.transaction_id,
                commands: Some(commands),
            },
        }
    }

    /// Whether the server waits for an answer (transaction id not 0).
    pub fn expects_answer(&self) -> bool {
        self.responder.transaction_id != 0.0
    }

    /// Answers with `_result` and `result`.
    pub fn reply(mut self, result: Value) {
        self.responder.answer(Ok(result));
    }

    /// Answers with `_error` and `info` (see [`call_failed`] for the usual one).
    pub fn reply_error(mut self, info: Value) {
        self.responder.answer(Err(info));
    }
}

/// Sends the answer once; answers `_error` if dropped without one.
#[derive(Debug)]
struct Responder {
    transaction_id: f64,
    /// `None` once answered.
    commands: Option<mpsc::UnboundedSender<Command>>,
}

impl Responder {
    fn answer(&mut self, outcome: Result<Value, Value>) {
        if let Some(commands) = self.commands.take() {
            // A closed connection needs no answer.
            let _ = commands.send(Command::Answer {
                transaction_id: self.transaction_id,
                outcome,
            });
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.answer(Err(call_failed("the client did not answer this call")));
    }
}
