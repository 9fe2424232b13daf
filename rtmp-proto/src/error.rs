//! Errors, sorted by who is at fault: the peer's bytes ([`DecodeError`]), the
//! peer's protocol conduct ([`ProtocolError`]), our own configured limits
//! ([`LimitExceeded`]), or the caller ([`ApiMisuse`]).
//!
//! Needing more bytes is never an error: decoders simply return nothing yet.

use std::fmt;

/// Everything that can end a connection or fail a decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer sent bytes that do not decode.
    #[error("malformed input: {0}")]
    Decode(#[from] DecodeError),
    /// The peer sent well-formed bytes that break the RTMP rules.
    #[error("protocol violation: {0}")]
    Protocol(#[from] ProtocolError),
    /// The peer went past one of our configured limits.
    #[error(transparent)]
    LimitExceeded(#[from] LimitExceeded),
    /// Input arrived after the connection closed.
    #[error("the connection is closed")]
    Closed,
}

/// Bytes that do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A complete body ended in the middle of a field or value.
    #[error("input ends in the middle of a value")]
    Truncated,
    /// A type marker no AMF version defines.
    #[error("unknown AMF marker 0x{marker:02x}")]
    UnknownMarker {
        /// The marker byte.
        marker: u8,
    },
    /// A marker the AMF specification reserves (AMF0 movieclip `0x04`, recordset `0x0E`).
    #[error("reserved AMF marker 0x{marker:02x}")]
    ReservedMarker {
        /// The marker byte.
        marker: u8,
    },
    /// A string that is not UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A reference to a table entry that does not exist (yet).
    #[error("reference {index} points past the {table} table")]
    BadReference {
        /// Which table: "object", "string" or "trait".
        table: &'static str,
        /// The index on the wire.
        index: u32,
    },
    /// A field holds a value its type does not allow.
    #[error("invalid {what}")]
    Invalid {
        /// What was wrong, in a few words.
        what: &'static str,
    },
    /// Bytes left over after a value or message that must end there.
    #[error("{count} unexpected bytes after the end")]
    TrailingBytes {
        /// How many bytes were left.
        count: usize,
    },
    /// A configured limit stopped the decode.
    #[error(transparent)]
    Limit(#[from] LimitExceeded),
}

/// Well-formed bytes that break the RTMP rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The first byte of the handshake asks for a version we do not speak.
    #[error("unsupported RTMP version {0}")]
    UnsupportedVersion(u8),
    /// A chunk continued a chunk stream that never had a full header.
    #[error("chunk stream {csid} continues without a previous header")]
    MissingHeader {
        /// The chunk stream id.
        csid: u32,
    },
    /// A Set Chunk Size of 0 or with the top bit set.
    #[error("invalid chunk size {0}")]
    InvalidChunkSize(u32),
    /// The peer broke the order of the connection (for example a second `connect`).
    #[error("unexpected {0}")]
    Unexpected(&'static str),
    /// The peer did not finish the handshake or `connect` in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
}

/// One of our own limits, and its configured maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{limit} exceeds the configured limit of {max}")]
pub struct LimitExceeded {
    /// Which limit.
    pub limit: Limit,
    /// Its configured maximum.
    pub max: u64,
}

impl LimitExceeded {
    /// The limit `limit` with maximum `max`.
    pub fn new(limit: Limit, max: impl TryInto<u64>) -> Self {
        Self {
            limit,
            max: max.try_into().unwrap_or(u64::MAX),
        }
    }
}

/// The configurable limits that protect memory from hostile peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// Nesting depth of AMF containers.
    AmfDepth,
    /// Elements in one AMF container (object, array, vector, dictionary).
    AmfContainerLength,
    /// Bytes of one AMF string, XML or ByteArray.
    AmfStringBytes,
    /// Values one decode may produce, references counted at their full size.
    AmfValues,
    /// Bytes of one RTMP message.
    MessageSize,
    /// Chunk streams open at once.
    ChunkStreams,
    /// Bytes buffered for a peer that does not read.
    BufferedBytes,
    /// Events in one SharedObject message.
    SharedObjectEvents,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AmfDepth => "AMF nesting depth",
            Self::AmfContainerLength => "AMF container length",
            Self::AmfStringBytes => "AMF string length",
            Self::AmfValues => "AMF value count",
            Self::MessageSize => "message size",
            Self::ChunkStreams => "open chunk streams",
            Self::BufferedBytes => "buffered bytes",
            Self::SharedObjectEvents => "SharedObject events per message",
        })
    }
}

/// A command the caller issued at the wrong time or with bad arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiMisuse {
    /// The connection is not in a state where this command makes sense.
    #[error("{command} is not allowed while the connection is {state}")]
    WrongState {
        /// The command.
        command: &'static str,
        /// The state it was issued in.
        state: &'static str,
    },
    /// A request id that is unknown or was already answered.
    #[error("unknown or already answered request")]
    UnknownRequest,
    /// A value too large for its wire field (for example a name over 65,535 bytes).
    #[error("{0} does not fit its wire field")]
    TooLarge(&'static str),
    /// An argument outside its allowed range.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
}

impl<'a> nom::error::ParseError<&'a [u8]> for DecodeError {
    fn from_error_kind(_input: &'a [u8], kind: nom::error::ErrorKind) -> Self {
        match kind {
            nom::error::ErrorKind::Eof => Self::Truncated,
            _ => Self::Invalid { what: "field" },
        }
    }

    fn append(_input: &'a [u8], _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

impl From<nom::Err<DecodeError>> for DecodeError {
    fn from(e: nom::Err<DecodeError>) -> Self {
        match e {
            nom::Err::Incomplete(_) => Self::Truncated,
            nom::Err::Error(e) | nom::Err::Failure(e) => e,
        }
    }
}
