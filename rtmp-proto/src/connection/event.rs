//! What a [`Connection`](super::Connection) reports to its owner.

use crate::amf::{Encoding, Str, Value};
use crate::error::Error;
use crate::message::shared_object::SharedObjectMessage;

/// An application-level event. Protocol plumbing (acknowledgements, pings,
/// chunk sizes) never shows up here.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake completed.
    HandshakeDone,
    /// Server side: a client sent `connect`; answer with
    /// [`accept`](super::Connection::accept) or [`reject`](super::Connection::reject).
    ConnectRequest(ConnectRequest),
    /// Client side: the server accepted `connect`.
    Connected {
        /// The encoding the server confirmed.
        encoding: Encoding,
        /// The server's status object (`code`, `description`, …).
        info: Value,
    },
    /// A SharedObject message from the peer, in either encoding.
    SharedObject(SharedObjectMessage),
    /// The peer called a method; answer with
    /// [`reply`](super::Connection::reply) or [`reply_error`](super::Connection::reply_error)
    /// unless `transaction_id` is 0 (no answer expected).
    Call(Call),
    /// The answer to a call we made with [`call`](super::Connection::call).
    CallResult {
        /// The id [`call`](super::Connection::call) returned.
        id: CallId,
        /// `Ok` with the result values for `_result`, `Err` with the error
        /// information for `_error`.
        outcome: Result<Vec<Value>, Value>,
    },
    /// The connection is over. Write out what [`poll_transmit`](super::Connection::poll_transmit)
    /// still gives, then close the socket.
    Closed(CloseReason),
}

/// A client's `connect`, as the server sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectRequest {
    /// The application path as sent in `app`, without any `?query`:
    /// `app` or `app/room/sub`.
    pub app: String,
    /// The query string after `?` in `app`, if any.
    pub query: Option<String>,
    /// `tcUrl`: the URL the client connected to.
    pub tc_url: Option<String>,
    /// The encoding the client asked for (`objectEncoding` 3 ⇒ AMF3).
    pub encoding: Encoding,
    /// The whole command object.
    pub command_object: Value,
    /// Extra arguments after the command object.
    pub args: Vec<Value>,
}

/// A method call from the peer.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The method name.
    pub method: Str,
    /// The transaction id; 0 means no answer is expected.
    pub transaction_id: f64,
    /// The command object (usually null).
    pub command_object: Value,
    /// The arguments.
    pub args: Vec<Value>,
}

/// Identifies a call we made, to match its [`Event::CallResult`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(pub u32);

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CloseReason {
    /// We closed it ([`close`](super::Connection::close)).
    Local,
    /// The server rejected our `connect` (client side) or we rejected the
    /// client's (server side), with the description sent.
    Rejected(String),
    /// The peer asked to close (`close` / `disconnect` command).
    PeerClosed,
    /// The peer broke the protocol, sent malformed bytes, went past a limit,
    /// or timed out.
    Error(Error),
}
