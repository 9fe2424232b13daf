//! SharedObject messages: type 19 (AMF0) and type 16 (AMF3).
//!
//! Layout (reference/protocol.md §5): for type 16 one leading `0x00` byte;
//! then the name (u16 length + UTF-8, no marker), version (u32), flags (u32:
//! 2 = persistent, 0 = transient), reserved (u32), then events until the end,
//! each `type (u8) · length (u32) · payload`.

use bytes::Bytes;

use crate::amf::{Str, Value};

/// A SharedObject message: one SO, one version, a list of events.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SharedObjectMessage {
    /// The SO's name.
    pub name: Str,
    /// Client to server: the client's version. Server to client: the SO's
    /// version after this update.
    pub version: u32,
    /// Whether the SO is persistent (flags word `2`; we write `2` or `0` and
    /// read any word with bit 1 set as persistent).
    pub persistent: bool,
    /// The events, in wire order.
    pub events: Vec<SoEvent>,
}

/// One SharedObject event. Ids follow the RTMP specification §7.1.3.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum SoEvent {
    /// 1, client to server: subscribe to the SO.
    Use,
    /// 2, client to server: unsubscribe.
    Release,
    /// 3, client to server: set `key` to `value`. A missing value decodes as
    /// [`Value::Null`], which deletes the key.
    RequestChange {
        /// The attribute name.
        key: Str,
        /// The new value.
        value: Value,
    },
    /// 4, server to client: `key` now holds `value`.
    Change {
        /// The attribute name.
        key: Str,
        /// The value.
        value: Value,
    },
    /// 5, server to client: the writer's change of `key` was applied.
    Success {
        /// The attribute name.
        key: Str,
    },
    /// 6, both ways: invoke `method` with `args` on every subscriber.
    SendMessage {
        /// The handler name.
        method: Str,
        /// The arguments.
        args: Vec<Value>,
    },
    /// 7, server to client: a status, such as `SharedObject.NoWriteAccess` / `error`.
    Status {
        /// The status code.
        code: Str,
        /// The level (`error`, `warning`, `status`).
        level: Str,
    },
    /// 8, server to client: forget every attribute.
    Clear,
    /// 9, server to client: `key` was deleted.
    Remove {
        /// The attribute name.
        key: Str,
    },
    /// 10, client to server: delete `key`.
    RequestRemove {
        /// The attribute name.
        key: Str,
    },
    /// 11, server to client: the USE succeeded; the state follows.
    UseSuccess,
    /// Any other event type, kept as raw bytes (skipped by its length).
    Unknown {
        /// The event type byte.
        kind: u8,
        /// The payload as received.
        #[cfg_attr(feature = "arbitrary", arbitrary(with = arbitrary_bytes))]
        payload: Bytes,
    },
}

#[cfg(feature = "arbitrary")]
fn arbitrary_bytes(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Bytes> {
    Ok(Bytes::copy_from_slice(u.arbitrary::<&[u8]>()?))
}
