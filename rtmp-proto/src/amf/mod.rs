//! AMF0 and AMF3: one [`Value`] type, two codecs.
//!
//! Decoders read a complete, already reassembled body (a message payload):
//! running out of bytes there is [`DecodeError::Truncated`]. Every length is
//! checked against [`Limits`] before anything is allocated, and references
//! are charged at the full size of what they copy, so a small hostile body
//! cannot expand into a large tree.
//!
//! Reference tables (AMF0 objects; AMF3 strings, objects and traits) live for
//! one decoder or encoder, which callers create once per message body: Red5
//! shares one AMF3 table across all values of a message, and so do we.
//!
//! [`DecodeError::Truncated`]: crate::error::DecodeError::Truncated

pub mod amf0;
pub mod amf3;
mod budget;
mod inline_vec;
mod utf8;
mod value;

pub use value::{
    Date, Dictionary, MixedArray, Object, ObjectVector, Properties, Str, Value, Vector,
};

/// The object encoding a peer negotiated in `connect` (`objectEncoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Encoding {
    /// `objectEncoding` 0: AMF0 messages (types 20, 18, 19).
    #[default]
    Amf0,
    /// `objectEncoding` 3: AMF3 messages (types 17, 15, 16).
    Amf3,
}

/// Limits on what one decode may build. Every one is checked before allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of containers (objects, arrays, vectors, dictionaries).
    pub max_depth: usize,
    /// Most elements in one container.
    pub max_container_len: usize,
    /// Most bytes in one string, XML document or ByteArray.
    pub max_string_bytes: usize,
    /// Most values one decoder may produce in all, counting every value a
    /// reference copies.
    pub max_values: usize,
}

impl Limits {
    /// Default nesting depth: deeper than any real SharedObject value, shallow
    /// enough that recursion cannot exhaust the stack.
    pub const DEFAULT_MAX_DEPTH: usize = 64;
    /// Default container length: 1,048,576 elements.
    pub const DEFAULT_MAX_CONTAINER_LEN: usize = 1 << 20;
    /// Default string length: 16 MiB, the largest RTMP message.
    pub const DEFAULT_MAX_STRING_BYTES: usize = 0xFF_FFFF;
    /// Default value count: 2,097,152 values per decoder.
    pub const DEFAULT_MAX_VALUES: usize = 1 << 21;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_container_len: Self::DEFAULT_MAX_CONTAINER_LEN,
            max_string_bytes: Self::DEFAULT_MAX_STRING_BYTES,
            max_values: Self::DEFAULT_MAX_VALUES,
        }
    }
}
