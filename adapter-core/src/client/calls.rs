//! Calls from the server to this client, and how they are answered.

use rtmp_proto::amf::{Str, Value};
use rtmp_proto::connection::call_failed;

use super::shared::UserRef;
use crate::runtime::Runtime;
use crate::sync::lock;

/// A method the server called on this client (`NetConnection.client`'s
/// methods in Flash). Answer it with [`reply`](Self::reply) or
/// [`reply_error`](Self::reply_error); dropping it unanswered answers
/// `_error` `NetConnection.Call.Failed`, so the server never waits forever.
pub struct IncomingCall<R: Runtime> {
    /// The method name.
    pub method: Str,
    /// The arguments.
    pub args: Vec<Value>,
    /// The command object (usually null).
    pub command_object: Value,
    responder: Responder<R>,
}

impl<R: Runtime> IncomingCall<R> {
    pub(crate) fn new(call: rtmp_proto::connection::Call, user: UserRef<R>) -> Self {
        Self {
            method: call.method,
            args: call.args,
            command_object: call.command_object,
            responder: Responder {
                transaction_id: call.transaction_id,
                user: Some(user),
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

impl<R: Runtime> std::fmt::Debug for IncomingCall<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingCall")
            .field("method", &self.method)
            .field("args", &self.args)
            .field("command_object", &self.command_object)
            .field("transaction_id", &self.responder.transaction_id)
            .finish()
    }
}

/// Sends the answer once; answers `_error` if dropped without one.
struct Responder<R: Runtime> {
    transaction_id: f64,
    /// `None` once answered.
    user: Option<UserRef<R>>,
}

impl<R: Runtime> Responder<R> {
    fn answer(&mut self, outcome: Result<Value, Value>) {
        if let Some(user) = self.user.take() {
            // Queued apart from the connection's lock (this may run while
            // the driver holds it); a closed connection needs no answer.
            let shared = user.shared();
            lock(&shared.answers).push((self.transaction_id, outcome));
            shared.driver.notify();
        }
    }
}

impl<R: Runtime> Drop for Responder<R> {
    fn drop(&mut self) {
        self.answer(Err(call_failed("the client did not answer this call")));
    }
}
