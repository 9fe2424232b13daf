//! AMF3 codec (Adobe "AMF 3 Specification", 2013): every marker `0x00`–`0x11`,
//! with string, object and trait reference tables.
//!
//! # Decoding
//!
//! A [`Decoder`] reads one complete message body and keeps the three
//! reference tables for all the values in it (Red5 shares them across the
//! whole body, docs/PROTOCOL.md §4.1). The tables hold slices of the
//! input, so filling them allocates nothing per entry.
//!
//! How the wire types map onto [`Value`]:
//!
//! | AMF3 | [`Value`] |
//! |---|---|
//! | integer `0x04` (29-bit, sign-extended) | [`Value::Integer`] |
//! | date `0x08` | [`Value::Date`] with `timezone: 0` |
//! | array `0x09`, no associative entries | [`Value::StrictArray`] (so `[]` is a strict array) |
//! | array, associative entries and no dense part | [`Value::EcmaArray`] |
//! | array with both parts | [`Value::MixedArray`] |
//! | object `0x0A` | [`Value::Object`]: `class_name` `None` when the class name is empty, `sealed_count` from the traits, sealed members first |
//! | externalizable `flex.messaging.io.ArrayCollection` | [`Value::ArrayCollection`] (its body must be a dense array) |
//! | externalizable `flex.messaging.io.ObjectProxy` | [`Value::ObjectProxy`] (its body must be an object; a class name on it is dropped) |
//! | any other externalizable class | [`DecodeError::Invalid`]: only the class knows its body's format |
//!
//! The object table holds, in the order they start, every array, object,
//! date, XML, XMLDocument, ByteArray, vector and dictionary. A reference to
//! it yields a copy of the referenced value ([`Value`] is a tree), made by
//! decoding the referenced bytes again with the tables as they are, so that
//! nothing is cloned or kept for values nobody refers to. The copy is
//! charged at its full size against
//! [`Limits::max_values`], and a reference to a container that is still
//! being decoded (a cycle, which a tree cannot hold) is an error. Strings,
//! XML, ByteArrays and vector items also count one value per
//! [`BYTES_PER_VALUE`] bytes, so that references to large strings cannot
//! multiply memory either: a decode builds at most about
//! `max_values × 32` bytes whatever the input.
//!
//! Nesting deeper than [`Limits::max_depth`] containers, or than
//! [`MAX_DEPTH`] whatever the limits say (so the stack cannot overflow), is
//! [`LimitExceeded`].
//!
//! # Encoding
//!
//! An [`Encoder`] writes whole trees and never emits object references.
//! Strings (values, keys, class names, member names) go through the string
//! table, so a repeated one is written as a reference; objects whose class
//! name, sealed member names and dynamic flag match an earlier object's
//! reuse its traits by reference. Like the decoder, one encoder serves one
//! message body, and its later values refer to strings and traits of the
//! earlier ones: this assumes the peer keeps its tables for the whole body
//! as Red5 does (whether Flash Player resets them at each `0x11` switch is
//! unverified, docs/PROTOCOL.md §4.1).
//!
//! - [`Value::Integer`] in −2²⁸..2²⁸−1 is an integer `0x04`, outside it a double.
//! - An object writes its first `sealed_count` properties (at most all of
//!   them) as sealed members and the rest as dynamic members. The dynamic
//!   flag is set when there are dynamic properties or the object is
//!   anonymous, so an anonymous object with `sealed_count: 0` is the plain
//!   dynamic object Flash writes. A class name of `Some("")` is anonymous.
//! - [`Value::EcmaArray`] is an array with only an associative part,
//!   [`Value::StrictArray`] one with only a dense part. Decoding maps them
//!   back, except that an empty `EcmaArray` comes back as an empty
//!   `StrictArray`, and a `MixedArray` with an empty part comes back as the
//!   other form: `encode ∘ decode` is the identity on bytes the encoder wrote.
//! - [`Value::Date`] loses its time zone (AMF3 dates have none).
//! - [`Value::Unsupported`] (AMF0 only) is written as `undefined`.
//! - [`Value::ArrayCollection`] and [`Value::ObjectProxy`] are externalizable
//!   objects of the Flex classes `flex.messaging.io.ArrayCollection` (body:
//!   a dense array) and `flex.messaging.io.ObjectProxy` (body: an anonymous
//!   dynamic object), as BlazeDS and Flex write them.
//! - A dynamic member or associative key that is the empty string cannot be
//!   written (the empty string ends the list on the wire): such a property
//!   is skipped. The same goes for keys longer than 2²⁸−1 bytes; a value
//!   whose length does not fit the 28 bits AMF3 has for it (a string,
//!   container or sealed member name over 256 MiB) is written as `null`.
//!   Neither fits in a 16 MiB RTMP message in the first place.
//!
//! [`DecodeError::Invalid`]: crate::error::DecodeError::Invalid
//! [`LimitExceeded`]: crate::error::LimitExceeded

#[cfg(doc)]
use crate::amf::{Limits, Value};

mod decode;
mod encode;
mod string_table;

pub use decode::{Decoder, decode};
pub use encode::{Encoder, encode};

/// Nesting depth the decoder never goes past, whatever [`Limits::max_depth`]
/// says, so that recursion stays well inside a 2 MiB thread stack (a level
/// takes under 1 KiB optimised, about 4 KiB in a debug build).
pub const MAX_DEPTH: usize = 256;

/// Bytes of string, XML, ByteArray or vector data that count as one value
/// against [`Limits::max_values`]: the size of a [`Value`].
pub const BYTES_PER_VALUE: usize = 32;

/// The class name of Flex's externalizable `ArrayCollection`.
const ARRAY_COLLECTION: &str = "flex.messaging.io.ArrayCollection";
/// The class name of Flex's externalizable `ObjectProxy`.
const OBJECT_PROXY: &str = "flex.messaging.io.ObjectProxy";

/// The largest length, count or index a U29 header has room for (28 bits:
/// the low bit says value or reference).
const MAX_U28: u32 = (1 << 28) - 1;

/// Type markers, AMF 3 Specification §3.1.
mod marker {
    pub(super) const UNDEFINED: u8 = 0x00;
    pub(super) const NULL: u8 = 0x01;
    pub(super) const FALSE: u8 = 0x02;
    pub(super) const TRUE: u8 = 0x03;
    pub(super) const INTEGER: u8 = 0x04;
    pub(super) const DOUBLE: u8 = 0x05;
    pub(super) const STRING: u8 = 0x06;
    pub(super) const XML_DOC: u8 = 0x07;
    pub(super) const DATE: u8 = 0x08;
    pub(super) const ARRAY: u8 = 0x09;
    pub(super) const OBJECT: u8 = 0x0A;
    pub(super) const XML: u8 = 0x0B;
    pub(super) const BYTE_ARRAY: u8 = 0x0C;
    pub(super) const VECTOR_INT: u8 = 0x0D;
    pub(super) const VECTOR_UINT: u8 = 0x0E;
    pub(super) const VECTOR_DOUBLE: u8 = 0x0F;
    pub(super) const VECTOR_OBJECT: u8 = 0x10;
    pub(super) const DICTIONARY: u8 = 0x11;
}

#[cfg(test)]
mod tests;
