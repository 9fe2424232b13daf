//! The WebSocket face of the SharedObject server, sans-IO.
//!
//! Browsers speak JSON over a WebSocket (endpoint `/so`, subprotocol
//! [`SUBPROTOCOL`]); `docs/WEBSOCKET.md` describes the protocol for client
//! authors. This crate holds everything about it that needs no socket:
//!
//! * [`message`]: the frames both ways, decoded within [`Limits`];
//! * [`value`]: how AMF values map to JSON and back;
//! * [`session`]: one client's state machine, which the server drives the
//!   way it drives an RTMP connection, so a browser is a client like any
//!   other.
//!
//! No runtime, no I/O, no clock: the caller passes the time in.

#![warn(missing_docs)]

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod message;
pub mod session;
pub mod value;

pub use message::{ClientMessage, MessageError, ServerMessage};
pub use session::{Config, Frame, Session};

/// The WebSocket subprotocol a client must ask for.
pub const SUBPROTOCOL: &str = "rtmp-so.v1";

/// Limits on what a client's frame may hold. Every one is checked before
/// the frame is acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest text frame (message), in bytes.
    pub max_message_bytes: usize,
    /// Deepest nesting of arrays and objects in a value.
    pub max_depth: usize,
    /// Most items in one array, object, vector, dictionary or key list.
    pub max_container_len: usize,
    /// Largest decoded ByteArray.
    pub max_string_bytes: usize,
    /// Longest SO name, key, method or status string (a 16-bit wire field).
    pub max_name_bytes: usize,
}

impl Limits {
    /// Default message size: 4 MiB, room for a 1 MB value in base64 or
    /// escaped JSON; RTMP's 16 MB message stays out of reach.
    pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 << 20;
    /// Default nesting depth: AMF's default.
    pub const DEFAULT_MAX_DEPTH: usize = rtmp_proto::amf::Limits::DEFAULT_MAX_DEPTH;
    /// Default container length: 1,048,576, AMF's default.
    pub const DEFAULT_MAX_CONTAINER_LEN: usize = rtmp_proto::amf::Limits::DEFAULT_MAX_CONTAINER_LEN;
    /// Default ByteArray size: 4 MiB (the message size bounds it anyway).
    pub const DEFAULT_MAX_STRING_BYTES: usize = 4 << 20;
    /// Default name length: 65,535 bytes, what the wire field holds (the
    /// engine applies its own, shorter limits on SO names and keys).
    pub const DEFAULT_MAX_NAME_BYTES: usize = u16::MAX as usize;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: Self::DEFAULT_MAX_MESSAGE_BYTES,
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_container_len: Self::DEFAULT_MAX_CONTAINER_LEN,
            max_string_bytes: Self::DEFAULT_MAX_STRING_BYTES,
            max_name_bytes: Self::DEFAULT_MAX_NAME_BYTES,
        }
    }
}

/// A WebSocket close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: a normal close.
    pub const NORMAL: Self = Self(1000);
    /// 1002: the client broke the WebSocket protocol.
    pub const PROTOCOL: Self = Self(1002);
    /// 1003: a binary frame (this protocol is text only).
    pub const UNSUPPORTED: Self = Self(1003);
    /// 1007: a text frame that is not UTF-8.
    pub const INVALID_DATA: Self = Self(1007);
    /// 1008: a policy was broken (no `connect` in time).
    pub const POLICY: Self = Self(1008);
    /// 1009: a frame over the size limit.
    pub const TOO_BIG: Self = Self(1009);
    /// 1011: the server failed.
    pub const INTERNAL: Self = Self(1011);
    /// 4000: the connect was rejected (the reason is in the frame before).
    pub const REJECTED: Self = Self(4000);
}
