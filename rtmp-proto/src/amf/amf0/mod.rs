//! AMF0 codec (Adobe "Action Message Format -- AMF 0", 2007): every marker
//! `0x00`–`0x11`, with the object reference table and the `0x11` switch to AMF3.
//!
//! # Decoding
//!
//! A [`Decoder`] reads one complete message body: running out of bytes is
//! [`DecodeError::Truncated`]. How the wire types map onto [`Value`]:
//!
//! | AMF0 | [`Value`] |
//! |---|---|
//! | number `0x00` | [`Value::Number`] |
//! | boolean `0x01` (any non-zero byte is `true`) | [`Value::Bool`] |
//! | string `0x02`, long string `0x0C` | [`Value::String`] |
//! | object `0x03` | [`Value::Object`], `class_name: None`, `sealed_count: 0` |
//! | null `0x05`, undefined `0x06` | [`Value::Null`], [`Value::Undefined`] |
//! | reference `0x07` | a copy of the referenced value (below) |
//! | ECMA array `0x08` | [`Value::EcmaArray`] |
//! | strict array `0x0A` | [`Value::StrictArray`] |
//! | date `0x0B` | [`Value::Date`], with its time zone |
//! | unsupported `0x0D` | [`Value::Unsupported`] |
//! | XML document `0x0F` | [`Value::XmlDocument`] |
//! | typed object `0x10` | [`Value::Object`], `sealed_count` = its property count |
//! | `0x11` | the next value in AMF3 |
//!
//! Movieclip `0x04` and recordset `0x0E` are [`DecodeError::ReservedMarker`],
//! markers past `0x11` [`DecodeError::UnknownMarker`], and object-end `0x09`
//! where a value is expected [`DecodeError::Invalid`].
//!
//! - The properties of objects and ECMA arrays end at the empty key followed
//!   by `0x09`. An empty key followed by a value is a property named `""`
//!   (Red5 and PyAMF read it so). The count of an ECMA array is a hint only
//!   (Flash writes the array's `length`, Red5 its integer-key prefix): it is
//!   read and ignored, never used to allocate.
//! - A reference (AMF0 §2.9) is a 16-bit index into the table of objects,
//!   typed objects, ECMA arrays and strict arrays of the body, in the order
//!   they *start*. [`Value`] is a tree, so a reference yields a copy, made by
//!   decoding the referenced bytes again; the copy is charged at its full
//!   size against [`Limits::max_values`], so a short body of references
//!   cannot expand into a large tree. A reference to a container still being
//!   decoded (a cycle, which a tree cannot hold) is [`DecodeError::Invalid`];
//!   one past the table is [`DecodeError::BadReference`].
//! - `0x11` values are read by one AMF3 decoder kept for the whole body, so
//!   AMF3 string, object and trait references span the body as in Red5. AMF3
//!   values inside AMF0 containers are also kept aside, so that copying a
//!   container that holds one does not run the AMF3 decoder twice (which
//!   would grow its tables). The `0x11` byte itself is not a value; the
//!   AMF3 value after it counts against the same depth and value limits.
//! - Limits are checked before anything is allocated: string bytes, the
//!   strict array count, properties per container (counted as they come),
//!   nesting (at most [`Limits::max_depth`] containers, and never more than
//!   [`MAX_DEPTH`], so recursion cannot overflow the stack) and values.
//!   Strings count one value per [`BYTES_PER_VALUE`] bytes on top of their
//!   own, so copies of large strings are charged too.
//!
//! # Encoding
//!
//! An [`Encoder`] writes whole trees. Choices worth knowing:
//!
//! - [`Value::Integer`] is a number `0x00` (AMF0 has no integer).
//! - Strings over 65,535 bytes are long strings `0x0C`.
//! - [`Value::Date`] is `0x0B` with its time zone.
//! - An object with a class name is a typed object `0x10`, one without an
//!   anonymous object `0x03`. AMF0 has no traits, so `sealed_count` is not
//!   written: it decodes as the property count (typed) or 0 (anonymous).
//! - The count of an ECMA array is its number of properties.
//! - Values AMF0 cannot express are written as `0x11` + AMF3, which AVM2
//!   (Flash Player 9+) peers read without loss: [`Value::MixedArray`],
//!   [`Value::Xml`], [`Value::ByteArray`], the vectors, [`Value::Dictionary`],
//!   [`Value::ArrayCollection`] and [`Value::ObjectProxy`].
//! - A key or class name over 65,535 bytes does not fit AMF0's 16-bit
//!   length. Nothing is truncated: the object or ECMA array holding it (and
//!   only that one, not its parents) is written as `0x11` + AMF3, whose
//!   lengths have 28 bits, and reads back unchanged. (The one thing AMF3
//!   cannot carry there is a dynamic property named `""`, which its encoder
//!   skips.) Only AMF3 input or values built by the application can hold
//!   such keys; SharedObject slot names themselves are short strings, which
//!   the message layer checks.
//! - A string or XML document over 4 GiB, or a strict array of more than
//!   2³² − 1 items, has no AMF0 form at all and is written as unsupported
//!   `0x0D` (no RTMP message can carry one anyway).
//! - References are never written: a [`Value`] tree has no identity to share.
//!
//! `decode(encode(v)) == v` for every value AMF0 expresses, up to the
//! `Integer`/`sealed_count` rules above.
//!
//! [`DecodeError::Truncated`]: crate::error::DecodeError::Truncated
//! [`DecodeError::ReservedMarker`]: crate::error::DecodeError::ReservedMarker
//! [`DecodeError::UnknownMarker`]: crate::error::DecodeError::UnknownMarker
//! [`DecodeError::Invalid`]: crate::error::DecodeError::Invalid
//! [`DecodeError::BadReference`]: crate::error::DecodeError::BadReference
//! [`Limits::max_depth`]: crate::amf::Limits::max_depth
//! [`Limits::max_values`]: crate::amf::Limits::max_values
//! [`Value`]: crate::amf::Value
//! [`Value::Number`]: crate::amf::Value::Number
//! [`Value::Bool`]: crate::amf::Value::Bool
//! [`Value::String`]: crate::amf::Value::String
//! [`Value::Object`]: crate::amf::Value::Object
//! [`Value::Null`]: crate::amf::Value::Null
//! [`Value::Undefined`]: crate::amf::Value::Undefined
//! [`Value::EcmaArray`]: crate::amf::Value::EcmaArray
//! [`Value::StrictArray`]: crate::amf::Value::StrictArray
//! [`Value::Date`]: crate::amf::Value::Date
//! [`Value::Unsupported`]: crate::amf::Value::Unsupported
//! [`Value::XmlDocument`]: crate::amf::Value::XmlDocument
//! [`Value::Integer`]: crate::amf::Value::Integer
//! [`Value::MixedArray`]: crate::amf::Value::MixedArray
//! [`Value::Xml`]: crate::amf::Value::Xml
//! [`Value::ByteArray`]: crate::amf::Value::ByteArray
//! [`Value::Dictionary`]: crate::amf::Value::Dictionary
//! [`Value::ArrayCollection`]: crate::amf::Value::ArrayCollection
//! [`Value::ObjectProxy`]: crate::amf::Value::ObjectProxy

mod decode;
mod encode;

pub use decode::{Decoder, decode, decode_all};
pub use encode::{Encoder, encode};

// One body mixes AMF0 and AMF3 values under one count and one depth, so the
// two codecs share these rules.
pub use super::amf3::{BYTES_PER_VALUE, MAX_DEPTH};

/// Type markers, AMF0 §2.1.
mod marker {
    pub(super) const NUMBER: u8 = 0x00;
    pub(super) const BOOLEAN: u8 = 0x01;
    pub(super) const STRING: u8 = 0x02;
    pub(super) const OBJECT: u8 = 0x03;
    pub(super) const MOVIECLIP: u8 = 0x04;
    pub(super) const NULL: u8 = 0x05;
    pub(super) const UNDEFINED: u8 = 0x06;
    pub(super) const REFERENCE: u8 = 0x07;
    pub(super) const ECMA_ARRAY: u8 = 0x08;
    pub(super) const OBJECT_END: u8 = 0x09;
    pub(super) const STRICT_ARRAY: u8 = 0x0A;
    pub(super) const DATE: u8 = 0x0B;
    pub(super) const LONG_STRING: u8 = 0x0C;
    pub(super) const UNSUPPORTED: u8 = 0x0D;
    pub(super) const RECORDSET: u8 = 0x0E;
    pub(super) const XML_DOCUMENT: u8 = 0x0F;
    pub(super) const TYPED_OBJECT: u8 = 0x10;
    pub(super) const AVMPLUS: u8 = 0x11;
}

#[cfg(test)]
mod tests;
