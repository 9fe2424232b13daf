//! What can go wrong for a client, said so a person can act on it.

use std::io;
use std::sync::Arc;

use rtmp_proto::ApiMisuse;
use rtmp_proto::amf::Value;
use rtmp_proto::connection::CloseReason;

/// Why a client operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL is not `rtmp://host[:port]/app[/room...]`.
    #[error("invalid URL {0:?}: expected rtmp://host[:port]/app[/room]")]
    InvalidUrl(String),
    /// The TCP connection could not be made (refused, unreachable, unknown host).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The `host:port` we tried.
        addr: String,
        /// What the operating system said.
        source: Arc<io::Error>,
    },
    /// The server rejected `connect`, with its description.
    #[error("connect rejected by the server: {0}")]
    Rejected(String),
    /// Nothing came in time; says what we were waiting for.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The server broke the protocol or sent bytes that do not decode.
    #[error("protocol error: {0}")]
    Protocol(rtmp_proto::Error),
    /// Reading or writing the socket failed.
    #[error("connection lost: {0}")]
    Io(Arc<io::Error>),
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Disconnected,
    /// We closed the connection (`Client::close`).
    #[error("the connection was closed by this client")]
    Closed,
    /// The server refused a SharedObject request with a STATUS error, such as
    /// `SharedObject.NoReadAccess` or `SharedObject.NoWriteAccess`.
    #[error("refused by the server: {code}")]
    Denied {
        /// The STATUS code.
        code: String,
    },
    /// A call was answered with `_error`; the server's information object.
    #[error("call failed: {}", call_error_text(.0))]
    CallFailed(Value),
    /// The SharedObject is not in use (released, destroyed by the server, or
    /// used with the other persistence).
    #[error("SharedObject {0:?} is not in use")]
    NotInUse(String),
    /// The request cannot be sent (for example a key over 65,535 bytes).
    #[error(transparent)]
    Misuse(#[from] ApiMisuse),
}

impl ClientError {
    /// The status code the server gave, if any: the STATUS code of a refusal,
    /// or the `code` of a failed call's information object.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Denied { code } => Some(code),
            Self::CallFailed(info) => info.property("code").and_then(Value::as_str),
            _ => None,
        }
    }

    /// Whether the server refused the request (as opposed to the connection failing).
    pub fn is_denial(&self) -> bool {
        matches!(
            self,
            Self::Denied { .. } | Self::CallFailed(_) | Self::Rejected(_)
        )
    }
}

impl From<CloseReason> for ClientError {
    fn from(reason: CloseReason) -> Self {
        match reason {
            CloseReason::Local => Self::Closed,
            CloseReason::Rejected(description) => Self::Rejected(description),
            CloseReason::PeerClosed => Self::Disconnected,
            CloseReason::Error(e) => Self::Protocol(e),
            // CloseReason is non-exhaustive; a new reason is still a closed connection.
            _ => Self::Disconnected,
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Self::Disconnected
        } else {
            Self::Io(Arc::new(e))
        }
    }
}

fn call_error_text(info: &Value) -> String {
    let text = |key| info.property(key).and_then(Value::as_str);
    match (text("code"), text("description")) {
        (Some(code), Some(description)) if !description.is_empty() => {
            format!("{code}: {description}")
        }
        (Some(code), _) => code.to_owned(),
        _ => format!("{info:?}"),
    }
}
