//! The AMF0 decoder: wire bytes of one message body to [`Value`] trees.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

use std::collections::BTreeMap;

use super::marker;
use crate::amf::budget::{Budget, ObjectSlot, limit};
use crate::amf::inline_vec::InlineVec;
use crate::amf::utf8::{INLINE_STR, owned_str, run_text, utf8};
use crate::amf::{Date, Limits, Object, Properties, Str, Value, amf3};
use crate::error::{DecodeError, Limit};

/// Decodes the values of one message body, sharing the AMF0 reference table
/// and one AMF3 decoder (for every `0x11` value) across them.
///
/// After an error the decoder is in an unspecified (but safe) state: drop it.
#[derive(Debug)]
pub struct Decoder<'a> {
    /// The whole body, for [`Decoder::position`].
    body: &'a [u8],
    /// The bytes not decoded yet.
    input: &'a [u8],
    limits: Limits,
    budget: Budget,
    /// Non-zero while a reference is being copied by decoding the referenced
    /// bytes again: the table already holds every value in them.
    replaying: u32,
    /// The reference table: complex values in the order they start.
    objects: InlineVec<ObjectSlot<'a>, 4>,
    /// A stack of properties under construction, so that each object or
    /// ECMA array allocates its final `Vec` once, at its exact size.
    scratch: Properties,
    /// AMF3 values met inside AMF0 containers, by the address of their first
    /// byte, kept for replays: those must not run the AMF3 decoder again
    /// (that would grow its tables).
    embedded: BTreeMap<usize, Embedded<'a>>,
    /// The AMF3 decoder of this body, made at the first `0x11` (boxed: it is
    /// large, and most bodies have no AMF3).
    amf3: Option<Box<amf3::Decoder<'a>>>,
}

impl<'a> Decoder<'a> {
    /// A decoder for the body `input`, with an empty reference table.
    pub fn new(input: &'a [u8], limits: &Limits) -> Self {
        Self {
            body: input,
            input,
            limits: *limits,
            budget: Budget::new(limits),
            replaying: 0,
            objects: InlineVec::new(),
            scratch: Vec::new(),
            embedded: BTreeMap::new(),
            amf3: None,
        }
    }

    /// Decodes the next value (`0x11` switches to AMF3 for that value).
    pub fn decode(&mut self) -> Result<Value, DecodeError> {
        let mut input = self.input;
        match self.value(&mut input, 0) {
            Ok(value) => {
                self.input = input;
                Ok(value)
            }
            Err(e) => {
                self.scratch.clear();
                Err(e)
            }
        }
    }

    /// Decodes the value at the start of `input`, a later part of the same
    /// body, with the same reference tables, and returns it with the bytes
    /// after it: the SharedObject codec reads each CHANGE's value this way,
    /// through the same inline number and string paths as a property value.
    /// [`Decoder::remaining`] and [`Decoder::position`] are left alone.
    #[inline]
    pub(crate) fn decode_at(
        &mut self,
        mut input: &'a [u8],
    ) -> Result<(Value, &'a [u8]), DecodeError> {
        match self.value_after_key(&mut input, 0) {
            Ok(value) => Ok((value, input)),
            Err(e) => {
                self.scratch.clear();
                Err(e)
            }
        }
    }

    /// The bytes not decoded yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.input
    }

    /// Continues decoding from `input`, a later part of the same body, with
    /// the same reference tables (the SharedObject codec decodes each event's
    /// values this way). [`Decoder::position`] counts from its start.
    pub(crate) fn set_input(&mut self, input: &'a [u8]) {
        self.body = input;
        self.input = input;
    }

    /// Whether every byte has been decoded.
    pub fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    /// How many bytes have been decoded so far.
    pub fn position(&self) -> usize {
        self.body.len().saturating_sub(self.input.len())
    }

    fn value(&mut self, input: &mut &'a [u8], depth: usize) -> Result<Value, DecodeError> {
        let start = *input;
        let marker = read_u8(input)?;
        if marker == marker::AVMPLUS {
            // A switch, not a value: the AMF3 decoder counts what follows.
            return self.avmplus(input, depth);
        }
        self.budget.charge(1)?;
        match marker {
            marker::NUMBER => Ok(Value::Number(read_f64(input)?)),
            // AMF0 §2.3: zero is false, anything else true.
            marker::BOOLEAN => Ok(Value::Bool(read_u8(input)? != 0)),
            marker::STRING => {
                let len = read_u16(input)?;
                self.string_value(usize::from(len), input)
                    .map(Value::String)
            }
            marker::OBJECT | marker::ECMA_ARRAY | marker::TYPED_OBJECT => {
                self.associative(marker, start, input, depth)
            }
            marker::NULL => Ok(Value::Null),
            marker::UNDEFINED => Ok(Value::Undefined),
            marker::REFERENCE => {
                let index = read_u16(input)?;
                self.reference(index, depth)
            }
            marker::OBJECT_END => Err(DecodeError::Invalid {
                what: "object-end marker where a value is expected",
            }),
            marker::STRICT_ARRAY => self.strict_array(start, input, depth),
            marker::DATE => Ok(Value::Date(Date {
                millis: read_f64(input)?,
                timezone: read_i16(input)?,
            })),
            marker::LONG_STRING => {
                let len = read_u32(input)?;
                self.string_value(len as usize, input).map(Value::String)
            }
            marker::UNSUPPORTED => Ok(Value::Unsupported),
            marker::XML_DOCUMENT => {
                let len = read_u32(input)?;
                self.string_value(len as usize, input)
                    .map(Value::XmlDocument)
            }
            marker::MOVIECLIP | marker::RECORDSET => Err(DecodeError::ReservedMarker { marker }),
            marker => Err(DecodeError::UnknownMarker { marker }),
        }
    }

    /// An anonymous object, an ECMA array or a typed object: properties
    /// until the empty key and the object-end marker (AMF0 §2.5, §2.10, §2.18).
    fn associative(
        &mut self,
        marker: u8,
        start: &'a [u8],
        input: &mut &'a [u8],
        depth: usize,
    ) -> Result<Value, DecodeError> {
        let child = self.budget.enter(depth)?;
        let slot = self.open_slot(start);
        let value = match marker {
            marker::OBJECT => {
                let properties = self.properties(input, child)?;
                Value::Object(Box::new(Object {
                    class_name: None,
                    sealed_count: 0,
                    properties,
                }))
            }
            marker::ECMA_ARRAY => {
                // The count is only a hint (Flash writes the array's `length`,
                // Red5 the length of its integer-key prefix): the end marker
                // ends the array.
                read_u32(input)?;
                Value::EcmaArray(self.properties(input, child)?)
            }
            _ => {
                let len = read_u16(input)?;
                let class_name = self.string(usize::from(len), input)?;
                self.budget.charge_bytes(class_name.len())?;
                let properties = self.properties(input, child)?;
                Value::Object(Box::new(Object {
                    class_name: Some(Str::from(class_name)),
                    sealed_count: properties.len(),
                    properties,
                }))
            }
        };
        self.close_slot(slot);
        Ok(value)
    }

    /// `(key value)*` then the empty key and `0x09`, as a `Vec` of exact size.
    fn properties(
        &mut self,
        input: &mut &'a [u8],
        child: usize,
    ) -> Result<Properties, DecodeError> {
        if self.scratch.capacity() == 0 {
            // Room for a typical object at once, rather than growing 4, 8, 16.
            self.scratch.reserve(16);
        }
        let mark = self.scratch.len();
        // A stretch of `*input`, checked as UTF-8, that holds the keys and
        // short string values coming next (see `text_run`).
        let mut text: &'a str = "";
        loop {
            if text.is_empty() {
                text = run_text(input, text_run(input, self.limits.max_string_bytes))?;
            }
            if let Some((key, after_key)) = text_item(text, 0) {
                self.check_container_len(mark)?;
                self.budget.charge_bytes(key.len())?;
                // Built before the value: moving a key built just before
                // the push stalls on store forwarding.
                let key = Str::from(key);
                let value = match text_item(after_key, 1) {
                    Some((value, rest)) => {
                        advance(input, text.len().saturating_sub(rest.len()));
                        text = rest;
                        self.budget.charge_string(value.len())?;
                        Value::String(Str::from(value))
                    }
                    None => {
                        advance(input, text.len().saturating_sub(after_key.len()));
                        text = "";
                        self.value_after_key(input, child)?
                    }
                };
                self.scratch.push((key, value));
                continue;
            }
            let key_len = usize::from(read_u16(input)?);
            if key_len == 0
                && let [marker::OBJECT_END, rest @ ..] = *input
            {
                *input = rest;
                break;
            }
            // An empty key followed by a value is a property named "" (Red5
            // and PyAMF read it so); only `00 00 09` ends the list.
            self.check_container_len(mark)?;
            let key = self.string(key_len, input)?;
            self.budget.charge_bytes(key.len())?;
            let key = Str::from(key);
            let value = self.value_after_key(input, child)?;
            self.scratch.push((key, value));
        }
        Ok(take_from(&mut self.scratch, mark))
    }

    /// Fails once the properties pushed since `mark` fill a container.
    #[inline]
    fn check_container_len(&self, mark: usize) -> Result<(), DecodeError> {
        if self.scratch.len().saturating_sub(mark) >= self.limits.max_container_len {
            return Err(limit(
                Limit::AmfContainerLength,
                self.limits.max_container_len,
            ));
        }
        Ok(())
    }

    /// A property's value, with numbers and strings inline: most
    /// properties are one of them.
    #[inline]
    fn value_after_key(
        &mut self,
        input: &mut &'a [u8],
        child: usize,
    ) -> Result<Value, DecodeError> {
        match input.split_first() {
            Some((&marker::NUMBER, rest)) => {
                *input = rest;
                self.budget.charge(1)?;
                Ok(Value::Number(read_f64(input)?))
            }
            Some((&marker::STRING, rest)) => {
                *input = rest;
                self.budget.charge(1)?;
                let len = read_u16(input)?;
                Ok(Value::String(self.string_value(usize::from(len), input)?))
            }
            _ => self.value(input, child),
        }
    }

    /// `count value*`, AMF0 §2.12. The count is authoritative here.
    fn strict_array(
        &mut self,
        start: &'a [u8],
        input: &mut &'a [u8],
        depth: usize,
    ) -> Result<Value, DecodeError> {
        let child = self.budget.enter(depth)?;
        let slot = self.open_slot(start);
        let count = read_u32(input)? as usize;
        if count > self.limits.max_container_len {
            return Err(limit(
                Limit::AmfContainerLength,
                self.limits.max_container_len,
            ));
        }
        // Every value takes at least one byte.
        let mut items = Vec::with_capacity(count.min(input.len()));
        for _ in 0..count {
            items.push(self.value(input, child)?);
        }
        self.close_slot(slot);
        Ok(Value::StrictArray(items))
    }

    /// A copy of reference-table entry `index`, made by decoding its bytes
    /// again: they hold nothing the table does not already have.
    fn reference(&mut self, index: u16, depth: usize) -> Result<Value, DecodeError> {
        let slot =
            self.objects
                .get(usize::from(index))
                .ok_or_else(|| DecodeError::BadReference {
                    table: "object",
                    index: u32::from(index),
                })?;
        if !slot.done {
            return Err(DecodeError::Invalid {
                what: "reference cycle (an object refers to itself or an enclosing object)",
            });
        }
        let mut at = slot.at;
        self.replaying = self.replaying.saturating_add(1);
        let value = self.value(&mut at, depth);
        self.replaying = self.replaying.saturating_sub(1);
        value
    }

    /// `0x11`: one AMF3 value, read by this body's AMF3 decoder.
    fn avmplus(&mut self, input: &mut &'a [u8], depth: usize) -> Result<Value, DecodeError> {
        if self.replaying != 0 {
            return self.replay_embedded(input);
        }
        let amf3 = self
            .amf3
            .get_or_insert_with(|| Box::new(amf3::Decoder::new(&[], &self.limits)));
        let before = self.budget.values;
        let (value, rest) = amf3.decode_embedded(input, depth, &mut self.budget.values)?;
        if depth > 0 {
            // Inside an AMF0 container, which a later reference may copy.
            self.embedded.insert(
                input.as_ptr().addr(),
                Embedded {
                    rest,
                    value: value.clone(),
                    charged: self.budget.values.saturating_sub(before),
                },
            );
        }
        *input = rest;
        Ok(value)
    }

    /// The AMF3 value decoded the first time at this point of the body.
    fn replay_embedded(&mut self, input: &mut &'a [u8]) -> Result<Value, DecodeError> {
        let found = self
            .embedded
            .get(&input.as_ptr().addr())
            .ok_or(DecodeError::Invalid {
                what: "AMF3 value in a reference",
            })?;
        let (value, rest, charged) = (found.value.clone(), found.rest, found.charged);
        self.budget.charge(charged)?;
        *input = rest;
        Ok(value)
    }

    /// A string of `len` bytes, checked against the limit and charged.
    #[inline]
    fn string_value(&mut self, len: usize, input: &mut &'a [u8]) -> Result<Str, DecodeError> {
        if len > INLINE_STR {
            if len > self.limits.max_string_bytes {
                return Err(limit(Limit::AmfStringBytes, self.limits.max_string_bytes));
            }
            let s = owned_str(take(input, len)?)?;
            self.budget.charge_bytes(s.len())?;
            return Ok(s);
        }
        let s = self.string(len, input)?;
        self.budget.charge_bytes(s.len())?;
        Ok(Str::from(s))
    }

    /// `len` bytes of UTF-8, checked against the string limit.
    #[inline]
    fn string(&self, len: usize, input: &mut &'a [u8]) -> Result<&'a str, DecodeError> {
        if len > self.limits.max_string_bytes {
            return Err(limit(Limit::AmfStringBytes, self.limits.max_string_bytes));
        }
        utf8(take(input, len)?)
    }

    /// Adds a reference-table entry for the container starting at `start`,
    /// unless replaying. AMF0 §2.9: a container enters the table when it
    /// starts, before anything nested in it.
    fn open_slot(&mut self, start: &'a [u8]) -> Option<usize> {
        if self.replaying != 0 {
            return None;
        }
        let index = self.objects.len();
        self.objects.push(ObjectSlot {
            at: start,
            done: false,
        });
        Some(index)
    }

    fn close_slot(&mut self, slot: Option<usize>) {
        if let Some(slot) = slot.and_then(|index| self.objects.get_mut(index)) {
            slot.done = true;
        }
    }
}

/// Decodes exactly one AMF0 value from `input`.
pub fn decode(input: &[u8], limits: &Limits) -> Result<Value, DecodeError> {
    let mut decoder = Decoder::new(input, limits);
    let value = decoder.decode()?;
    match decoder.remaining().len() {
        0 => Ok(value),
        count => Err(DecodeError::TrailingBytes { count }),
    }
}

/// Decodes every AMF0 value in `input`, sharing one reference table.
pub fn decode_all(input: &[u8], limits: &Limits) -> Result<Vec<Value>, DecodeError> {
    let mut decoder = Decoder::new(input, limits);
    let mut values = Vec::new();
    while !decoder.is_empty() {
        values.push(decoder.decode()?);
    }
    Ok(values)
}

/// An AMF3 value decoded inside an AMF0 container.
#[derive(Debug)]
struct Embedded<'a> {
    /// The input after it.
    rest: &'a [u8],
    value: Value,
    /// The values decoding it charged, charged again for each copy.
    charged: usize,
}

/// Moves the scratch entries from `mark` on into a `Vec` of their exact
/// size, or, when they are all of it and fill at least half of it, hands
/// over the scratch `Vec` itself (saving an allocation and a copy for the
/// outermost object).
fn take_from(scratch: &mut Properties, mark: usize) -> Properties {
    if mark == 0 && scratch.len().saturating_mul(2) >= scratch.capacity() {
        return std::mem::take(scratch);
    }
    scratch.split_off(mark.min(scratch.len()))
}

fn read_u8(input: &mut &[u8]) -> Result<u8, DecodeError> {
    let (&byte, rest) = input.split_first().ok_or(DecodeError::Truncated)?;
    *input = rest;
    Ok(byte)
}

fn read_array<const N: usize>(input: &mut &[u8]) -> Result<[u8; N], DecodeError> {
    let (bytes, rest) = input
        .split_first_chunk::<N>()
        .ok_or(DecodeError::Truncated)?;
    *input = rest;
    Ok(*bytes)
}

fn read_u16(input: &mut &[u8]) -> Result<u16, DecodeError> {
    read_array(input).map(u16::from_be_bytes)
}

fn read_i16(input: &mut &[u8]) -> Result<i16, DecodeError> {
    read_array(input).map(i16::from_be_bytes)
}

fn read_u32(input: &mut &[u8]) -> Result<u32, DecodeError> {
    read_array(input).map(u32::from_be_bytes)
}

fn read_f64(input: &mut &[u8]) -> Result<f64, DecodeError> {
    read_array(input).map(f64::from_be_bytes)
}

/// Drops the first `len` bytes of `input` (all of it if shorter).
fn advance(input: &mut &[u8], len: usize) {
    *input = input.get(len..).unwrap_or_default();
}

fn take<'a>(input: &mut &'a [u8], len: usize) -> Result<&'a [u8], DecodeError> {
    let (head, rest) = input.split_at_checked(len).ok_or(DecodeError::Truncated)?;
    *input = rest;
    Ok(head)
}

/// How many bytes from the start of `input` (at a key's length field) form
/// a run of whole keys, each followed by a short string value, the last
/// possibly by anything else (then the run ends after that key).
///
/// In such a run every byte that is not string data is ASCII: a string
/// marker `0x02`, and lengths `00 xx` under 128. The run is therefore UTF-8
/// exactly when all its strings are, and one check covers them all: UTF-8
/// checking is most of what decoding a string costs, and `from_utf8` has a
/// fixed cost per call that short keys and values pay again and again.
/// Only the framing is read here, not the string bytes. A key or value
/// longer than `max_string` ends the run (the plain path reports it).
fn text_run(input: &[u8], max_string: usize) -> usize {
    let mut end = 0;
    while let Some(key_end) = run_item(input, end, 0, max_string) {
        end = key_end;
        match run_item(input, key_end, 1, max_string) {
            Some(value_end) => end = value_end,
            None => break,
        }
    }
    end
}

/// The end of a string of under 128 bytes at `at`, after `marker_len` bytes
/// of string marker and its `00 xx` length, if it is all in `input`.
#[inline]
fn run_item(input: &[u8], at: usize, marker_len: usize, max_string: usize) -> Option<usize> {
    let head = input.get(at..)?;
    let (marker, len) = match (marker_len, head) {
        (0, &[0, len, ..]) if len != 0 => (0, len),
        (_, &[marker::STRING, 0, len, ..]) => (1, len),
        _ => return None,
    };
    let len = usize::from(len);
    if len >= 0x80 || len > max_string {
        return None;
    }
    let end = at.checked_add(len)?.checked_add(marker)?.checked_add(2)?;
    (end <= input.len()).then_some(end)
}

/// The string at the start of checked run text (see `text_run`), after
/// `marker_len` bytes of marker and two of length, and the text after it;
/// `None` at the run's end.
#[inline]
fn text_item(text: &str, marker_len: usize) -> Option<(&str, &str)> {
    let framed = text.get(marker_len..)?;
    let &[_, len, ..] = framed.as_bytes() else {
        return None;
    };
    framed.get(2..)?.split_at_checked(usize::from(len))
}
