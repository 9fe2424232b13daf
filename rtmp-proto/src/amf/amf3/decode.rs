//! The AMF3 decoder: wire bytes of one message body to [`Value`] trees.
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

use super::{ARRAY_COLLECTION, OBJECT_PROXY, marker};
use crate::amf::budget::{Budget, ObjectSlot, limit};
use crate::amf::inline_vec::InlineVec;
use crate::amf::utf8::{run_text, utf8};
use crate::amf::{
    Date, Dictionary, Limits, MixedArray, Object, ObjectVector, Properties, Str, Value, Vector,
};
use crate::error::{DecodeError, Limit};

/// Decodes the values of one message body, sharing the string, object and
/// trait reference tables across them.
#[derive(Debug)]
pub struct Decoder<'a> {
    input: &'a [u8],
    limits: Limits,
    budget: Budget,
    /// Non-zero while a reference is being copied by decoding the referenced
    /// bytes again: the tables already hold everything in them.
    replaying: u32,
    // The tables start inline: a typical body fits them and allocates only
    // the values it returns.
    strings: InlineVec<&'a str, 16>,
    objects: InlineVec<ObjectSlot<'a>, 8>,
    traits: InlineVec<Traits<'a>, 4>,
    /// Sealed member names of all traits, each traits entry holding a range.
    member_names: InlineVec<&'a str, 8>,
    /// A stack of properties under construction, so that each object or
    /// associative array allocates its final `Vec` once, at its exact size.
    scratch: Properties,
}

impl<'a> Decoder<'a> {
    /// A decoder for the body `input`, with empty reference tables.
    pub fn new(input: &'a [u8], limits: &Limits) -> Self {
        Self {
            input,
            limits: *limits,
            budget: Budget::new(limits),
            replaying: 0,
            strings: InlineVec::new(),
            objects: InlineVec::new(),
            traits: InlineVec::new(),
            member_names: InlineVec::new(),
            scratch: Vec::new(),
        }
    }

    /// Decodes the next value.
    pub fn decode(&mut self) -> Result<Value, DecodeError> {
        let mut input = self.input;
        let value = self.value(&mut input, 0)?;
        self.input = input;
        Ok(value)
    }

    /// The bytes not decoded yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.input
    }

    /// Whether every byte has been decoded.
    pub fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    /// For amf0's 0x11 switch: decode one AMF3 value from `input` with this
    /// decoder's reference tables (shared across the whole message body), at
    /// nesting `depth`, adding the values it builds to `*values` and failing
    /// once `*values` passes `limits.max_values`. Returns the rest of the input.
    ///
    /// `depth` counts the containers around the value: a container may open
    /// while `depth < max_depth`. The decoder's own input and its own count
    /// of values (for [`Decoder::decode`]) are left alone.
    pub(crate) fn decode_embedded(
        &mut self,
        input: &'a [u8],
        depth: usize,
        values: &mut usize,
    ) -> Result<(Value, &'a [u8]), DecodeError> {
        let own = std::mem::replace(&mut self.budget.values, *values);
        let mut rest = input;
        let result = self.value(&mut rest, depth);
        *values = std::mem::replace(&mut self.budget.values, own);
        result.map(|value| (value, rest))
    }

    fn value(&mut self, input: &mut &'a [u8], depth: usize) -> Result<Value, DecodeError> {
        let start = *input;
        let marker = read_u8(input)?;
        self.budget.charge(1)?;
        match marker {
            marker::UNDEFINED => Ok(Value::Undefined),
            marker::NULL => Ok(Value::Null),
            marker::FALSE => Ok(Value::Bool(false)),
            marker::TRUE => Ok(Value::Bool(true)),
            // AMF 3 §3.6: a U29 holding a 29-bit two's complement integer.
            marker::INTEGER => Ok(Value::Integer(((read_u29(input)? << 3) as i32) >> 3)),
            marker::DOUBLE => Ok(Value::Number(read_f64(input)?)),
            marker::STRING => self.string_value(input),
            marker::XML_DOC..=marker::DICTIONARY => {
                let header = read_u29(input)?;
                if header & 1 == 0 {
                    return self.reference(header >> 1, depth);
                }
                let header = header >> 1;
                let slot = self.open_slot(start);
                let value = match marker {
                    marker::ARRAY => self.array(header, input, depth)?,
                    marker::OBJECT => self.object(header, input, depth)?,
                    marker::VECTOR_OBJECT => self.object_vector(header, input, depth)?,
                    marker::DICTIONARY => self.dictionary(header, input, depth)?,
                    _ => self.leaf(marker, header, input, depth)?,
                };
                if let Some(slot) = slot.and_then(|i| self.objects.get_mut(i)) {
                    slot.done = true;
                }
                Ok(value)
            }
            marker => Err(DecodeError::UnknownMarker { marker }),
        }
    }

    /// The object-table values that hold no other values.
    #[inline(never)]
    fn leaf(
        &mut self,
        marker: u8,
        header: u32,
        input: &mut &'a [u8],
        depth: usize,
    ) -> Result<Value, DecodeError> {
        if matches!(
            marker,
            marker::VECTOR_INT | marker::VECTOR_UINT | marker::VECTOR_DOUBLE
        ) {
            self.budget.enter(depth)?;
        }
        Ok(match marker {
            marker::XML_DOC => Value::XmlDocument(self.text(header, input)?),
            marker::XML => Value::Xml(self.text(header, input)?),
            marker::DATE => Value::Date(Date {
                millis: read_f64(input)?,
                timezone: 0,
            }),
            marker::BYTE_ARRAY => {
                let bytes = self.bytes(header, input)?;
                self.budget.charge_bytes(bytes.len())?;
                Value::ByteArray(bytes.to_vec())
            }
            marker::VECTOR_INT => {
                Value::VectorInt(Box::new(self.vector(header, input, i32::from_be_bytes)?))
            }
            marker::VECTOR_UINT => {
                Value::VectorUint(Box::new(self.vector(header, input, u32::from_be_bytes)?))
            }
            _ => Value::VectorDouble(Box::new(self.vector(header, input, f64::from_be_bytes)?)),
        })
    }

    /// Adds an object-table entry for the value starting at `start`, unless
    /// replaying. AMF 3 §2.1 (reference tables): an object enters the table when it starts,
    /// before anything nested in it, so that its members can refer to it.
    fn open_slot(&mut self, start: &'a [u8]) -> Option<usize> {
        if self.replaying != 0 {
            return None;
        }
        self.objects.push(ObjectSlot {
            at: start,
            done: false,
        });
        Some(self.objects.len().wrapping_sub(1))
    }

    /// A copy of object-table entry `index`, made by decoding its bytes again
    /// with the tables as they are now: they already hold every string,
    /// object and traits entry the value defines or uses, at the same indices.
    fn reference(&mut self, index: u32, depth: usize) -> Result<Value, DecodeError> {
        let slot = self
            .objects
            .get(index as usize)
            .ok_or(DecodeError::BadReference {
                table: "object",
                index,
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

    /// `[dense count] (key value)* "" value*`, AMF 3 §3.11.
    fn array(
        &mut self,
        header: u32,
        input: &mut &'a [u8],
        depth: usize,
    ) -> Result<Value, DecodeError> {
        let child = self.budget.enter(depth)?;
        let dense_len = self.container_len(header)?;
        let assoc = self.members(input, child, dense_len)?;
        let mut dense = Vec::with_capacity(prealloc(dense_len, input.len()));
        for _ in 0..dense_len {
            dense.push(self.value(input, child)?);
        }
        Ok(match (assoc.is_empty(), dense.is_empty()) {
            (true, _) => Value::StrictArray(dense),
            (false, true) => Value::EcmaArray(assoc),
            (false, false) => Value::MixedArray(Box::new(MixedArray { dense, assoc })),
        })
    }

    /// Traits (inline or by reference), then the body, AMF 3 §3.12.
    fn object(
        &mut self,
        header: u32,
        input: &mut &'a [u8],
        depth: usize,
    ) -> Result<Value, DecodeError> {
        let child = self.budget.enter(depth)?;
        let names_mark = self.member_names.len();
        let traits = if header & 1 == 0 {
            let index = header >> 1;
            *self
                .traits
                .get(index as usize)
                .ok_or(DecodeError::BadReference {
                    table: "trait",
                    index,
                })?
        } else {
            self.inline_traits(header >> 1, input)?
        };
        let value = if traits.externalizable {
            self.externalizable(traits.class_name, input, child)
        } else {
            self.object_body(traits, input, child)
        };
        if self.replaying != 0 {
            // The names of traits read again are not kept: the table has them.
            self.member_names.truncate(names_mark);
        }
        value
    }

    /// `header` is the U29 without its value and traits bits.
    fn inline_traits(
        &mut self,
        header: u32,
        input: &mut &'a [u8],
    ) -> Result<Traits<'a>, DecodeError> {
        let externalizable = header & 1 != 0;
        let dynamic = header & 2 != 0;
        let class_name = self.string(input)?;
        let sealed = if externalizable {
            0
        } else {
            // Every name takes at least one byte.
            let sealed = self.container_len(header >> 2)?;
            if sealed > input.len() {
                return Err(DecodeError::Truncated);
            }
            sealed
        };
        let members = self.member_names.len();
        self.member_names.reserve(prealloc(sealed, input.len()));
        for _ in 0..sealed {
            let name = self.string(input)?;
            self.member_names.push(name);
        }
        let traits = Traits {
            class_name,
            members,
            sealed,
            dynamic,
            externalizable,
        };
        if self.replaying == 0 {
            self.traits.push(traits);
        }
        Ok(traits)
    }

    fn object_body(
        &mut self,
        traits: Traits<'a>,
        input: &mut &'a [u8],
        child: usize,
    ) -> Result<Value, DecodeError> {
        let mark = self.scratch.len();
        for i in 0..traits.sealed {
            let name = self
                .member_names
                .get(traits.members.saturating_add(i))
                .copied()
                .ok_or(DecodeError::Invalid {
                    what: "traits member table",
                })?;
            let value = self.value(input, child)?;
            self.budget.charge_bytes(name.len())?;
            self.scratch.push((Str::from(name), value));
        }
        if traits.dynamic {
            self.dynamic_members(input, child, mark, traits.sealed)?;
        }
        let properties = take_from(&mut self.scratch, mark);
        Ok(Value::Object(Box::new(Object {
            class_name: (!traits.class_name.is_empty()).then(|| Str::from(traits.class_name)),
            sealed_count: traits.sealed,
            properties,
        })))
    }

    /// Associative members until the empty key, as a fresh `Vec`; `counted`
    /// elements of the same container are already decoded or promised.
    fn members(
        &mut self,
        input: &mut &'a [u8],
        child: usize,
        counted: usize,
    ) -> Result<Properties, DecodeError> {
        let mark = self.scratch.len();
        self.dynamic_members(input, child, mark, counted)?;
        Ok(take_from(&mut self.scratch, mark))
    }

    /// Pushes `key value` pairs onto the scratch stack until the empty key.
    fn dynamic_members(
        &mut self,
        input: &mut &'a [u8],
        child: usize,
        mark: usize,
        counted: usize,
    ) -> Result<(), DecodeError> {
        if self.scratch.capacity() == 0 {
            self.scratch.reserve(16);
        }
        // A stretch of `*input`, checked as UTF-8, that holds the keys and
        // short string values coming next (see `text_run`).
        let mut text: &'a str = "";
        loop {
            if text.is_empty() {
                text = run_text(input, text_run(input, self.limits.max_string_bytes))?;
            }
            let (key, value) = if let Some((key, after_key)) = self.text_string(text, 0)? {
                self.check_members_len(mark, counted)?;
                let value = match self.text_string(after_key, 1)? {
                    Some((value, rest)) => {
                        advance(input, text.len().saturating_sub(rest.len()));
                        text = rest;
                        self.budget.charge_string(value.len())?;
                        Value::String(Str::from(value))
                    }
                    None => {
                        advance(input, text.len().saturating_sub(after_key.len()));
                        text = "";
                        self.value(input, child)?
                    }
                };
                (key, value)
            } else {
                let key = self.string(input)?;
                if key.is_empty() {
                    return Ok(());
                }
                self.check_members_len(mark, counted)?;
                (key, self.value(input, child)?)
            };
            self.budget.charge_bytes(key.len())?;
            self.scratch.push((Str::from(key), value));
        }
    }

    /// Fails once a container holds as many members as the limit allows:
    /// those pushed since `mark`, and `counted` more.
    #[inline]
    fn check_members_len(&self, mark: usize, counted: usize) -> Result<(), DecodeError> {
        let len = self
            .scratch
            .len()
            .saturating_sub(mark)
            .saturating_add(counted);
        if len >= self.limits.max_container_len {
            return Err(limit(
                Limit::AmfContainerLength,
                self.limits.max_container_len,
            ));
        }
        Ok(())
    }

    /// The string at the start of checked run text (see `text_run`), after
    /// `marker_len` bytes of marker, by value (entering the string table
    /// unless empty) or by reference, and the text after it; `None` at the
    /// run's end.
    #[inline]
    fn text_string(
        &mut self,
        text: &'a str,
        marker_len: usize,
    ) -> Result<Option<(&'a str, &'a str)>, DecodeError> {
        let (Some(&header), Some(after)) = (
            text.as_bytes().get(marker_len),
            text.get(marker_len.saturating_add(1)..),
        ) else {
            return Ok(None);
        };
        let index_or_len = usize::from(header >> 1);
        if header & 1 == 0 {
            let Some(&found) = self.strings.get(index_or_len) else {
                return Err(DecodeError::BadReference {
                    table: "string",
                    index: u32::from(header >> 1),
                });
            };
            return Ok(Some((found, after)));
        }
        let Some((s, rest)) = after.split_at_checked(index_or_len) else {
            return Ok(None);
        };
        if self.replaying == 0 && !s.is_empty() {
            self.strings.push(s);
        }
        Ok(Some((s, rest)))
    }

    /// The body of an externalizable object: only the Flex classes whose
    /// body is a single AMF3 value can be read.
    fn externalizable(
        &mut self,
        class_name: &str,
        input: &mut &'a [u8],
        child: usize,
    ) -> Result<Value, DecodeError> {
        match class_name {
            ARRAY_COLLECTION => match self.value(input, child)? {
                Value::StrictArray(items) => Ok(Value::ArrayCollection(items)),
                _ => Err(DecodeError::Invalid {
                    what: "ArrayCollection source (not a dense array)",
                }),
            },
            OBJECT_PROXY => match self.value(input, child)? {
                Value::Object(object) => Ok(Value::ObjectProxy(object.properties)),
                _ => Err(DecodeError::Invalid {
                    what: "ObjectProxy body (not an object)",
                }),
            },
            _ => Err(DecodeError::Invalid {
                what: "externalizable class (its body format is unknown)",
            }),
        }
    }

    /// `[count] fixed item*` with fixed-size items, AMF 3 §3.15.
    fn vector<T, const N: usize>(
        &mut self,
        header: u32,
        input: &mut &'a [u8],
        item: fn([u8; N]) -> T,
    ) -> Result<Vector<T>, DecodeError> {
        let len = self.container_len(header)?;
        let fixed = read_u8(input)? != 0;
        let bytes = take(input, len.checked_mul(N).ok_or(DecodeError::Truncated)?)?;
        self.budget.charge_bytes(bytes.len())?;
        let (chunks, _) = bytes.as_chunks::<N>();
        Ok(Vector {
            fixed,
            items: chunks.iter().map(|c| item(*c)).collect(),
        })
    }

    /// `[count] fixed type-name value*`, AMF 3 §3.15.
    fn object_vector(
        &mut self,
        header: u32,
        input: &mut &'a [u8],
        depth: usize,
    ) -> Result<Value, DecodeError> {
        let child = self.budget.enter(depth)?;
        let len = self.container_len(header)?;
        let fixed = read_u8(input)? != 0;
        let type_name = self.string(input)?;
        self.budget.charge_bytes(type_name.len())?;
        let mut items = Vec::with_capacity(prealloc(len, input.len()));
        for _ in 0..len {
            items.push(self.value(input, child)?);
        }
        Ok(Value::VectorObject(Box::new(ObjectVector {
            fixed,
            type_name: Str::from(type_name),
            items,
        })))
    }

    /// `[count] weak-keys (key value)*`, AMF 3 §3.16.
    fn dictionary(
        &mut self,
        header: u32,
        input: &mut &'a [u8],
        depth: usize,
    ) -> Result<Value, DecodeError> {
        let child = self.budget.enter(depth)?;
        let len = self.container_len(header)?;
        let weak_keys = read_u8(input)? != 0;
        let mut entries = Vec::with_capacity(prealloc(len, input.len() / 2));
        for _ in 0..len {
            let key = self.value(input, child)?;
            let value = self.value(input, child)?;
            entries.push((key, value));
        }
        Ok(Value::Dictionary(Box::new(Dictionary {
            weak_keys,
            entries,
        })))
    }

    fn string_value(&mut self, input: &mut &'a [u8]) -> Result<Value, DecodeError> {
        let s = self.string(input)?;
        self.budget.charge_bytes(s.len())?;
        Ok(Value::String(Str::from(s)))
    }

    /// A string by value (entering the string table unless empty, AMF 3
    /// §3.8) or by reference.
    fn string(&mut self, input: &mut &'a [u8]) -> Result<&'a str, DecodeError> {
        let header = read_u29(input)?;
        if header & 1 == 0 {
            let index = header >> 1;
            return self
                .strings
                .get(index as usize)
                .copied()
                .ok_or(DecodeError::BadReference {
                    table: "string",
                    index,
                });
        }
        let len = header >> 1;
        if len == 0 {
            return Ok("");
        }
        let s = utf8(self.bytes(len, input)?)?;
        if self.replaying == 0 {
            self.strings.push(s);
        }
        Ok(s)
    }

    /// XML or an XMLDocument: UTF-8 text of `len` bytes.
    fn text(&mut self, len: u32, input: &mut &'a [u8]) -> Result<Str, DecodeError> {
        let s = utf8(self.bytes(len, input)?)?;
        self.budget.charge_bytes(s.len())?;
        Ok(Str::from(s))
    }

    /// `len` bytes of string data, checked against the string limit.
    fn bytes(&mut self, len: u32, input: &mut &'a [u8]) -> Result<&'a [u8], DecodeError> {
        let len = len as usize;
        if len > self.limits.max_string_bytes {
            return Err(limit(Limit::AmfStringBytes, self.limits.max_string_bytes));
        }
        take(input, len)
    }

    /// A container's element count from its header, checked against the limit.
    fn container_len(&self, count: u32) -> Result<usize, DecodeError> {
        let count = count as usize;
        if count > self.limits.max_container_len {
            return Err(limit(
                Limit::AmfContainerLength,
                self.limits.max_container_len,
            ));
        }
        Ok(count)
    }
}

/// Decodes exactly one AMF3 value from `input`, with fresh reference tables.
pub fn decode(input: &[u8], limits: &Limits) -> Result<Value, DecodeError> {
    let mut decoder = Decoder::new(input, limits);
    let value = decoder.decode()?;
    match decoder.remaining().len() {
        0 => Ok(value),
        count => Err(DecodeError::TrailingBytes { count }),
    }
}

/// A traits-table entry, AMF 3 §3.12.
#[derive(Debug, Clone, Copy, Default)]
struct Traits<'a> {
    class_name: &'a str,
    /// Where the sealed member names start in `Decoder::member_names`.
    members: usize,
    sealed: usize,
    dynamic: bool,
    externalizable: bool,
}

/// Capacity to reserve for `count` elements (already checked against the
/// container limit) when each takes at least one of `bytes_left` bytes.
/// Capped as well, so that a chain of nested containers that each announce
/// many elements cannot reserve far more than they fill: past the cap, the
/// `Vec` grows with the elements actually decoded.
fn prealloc(count: usize, bytes_left: usize) -> usize {
    const MAX_PREALLOC: usize = 4096;
    count.min(bytes_left).min(MAX_PREALLOC)
}

/// Moves the scratch entries from `mark` on into a `Vec` of their exact size.
fn take_from(scratch: &mut Properties, mark: usize) -> Properties {
    // One bulk copy, where `drain(..).collect()` moves item by item.
    scratch.split_off(mark.min(scratch.len()))
}

fn read_u8(input: &mut &[u8]) -> Result<u8, DecodeError> {
    let (&byte, rest) = input.split_first().ok_or(DecodeError::Truncated)?;
    *input = rest;
    Ok(byte)
}

fn read_f64(input: &mut &[u8]) -> Result<f64, DecodeError> {
    let (bytes, rest) = input
        .split_first_chunk::<8>()
        .ok_or(DecodeError::Truncated)?;
    *input = rest;
    Ok(f64::from_be_bytes(*bytes))
}

/// Drops the first `len` bytes of `input` (all of it if shorter).
fn advance(input: &mut &[u8], len: usize) {
    *input = input.get(len..).unwrap_or_default();
}

/// How many bytes from the start of `input` (at a member's key) form a run
/// of whole keys, each followed by a string value, the last possibly by
/// anything else (then the run ends after that key). Strings here are under
/// 64 bytes or references under 64, so each header is one byte below
/// `0x80`.
///
/// In such a run every byte that is not string data is ASCII (headers and
/// the string marker `0x06`): the run is UTF-8 exactly when all its strings
/// are, and one check covers them all, instead of a `from_utf8` call, with
/// its fixed cost, per key and per value. Only the framing is read here. The
/// empty key (the end of the members) ends the run, and so does a string
/// longer than `max_string` (the plain path reports it).
fn text_run(input: &[u8], max_string: usize) -> usize {
    let mut end = 0;
    while let Some(key_end) = run_item(input, end, false, max_string) {
        end = key_end;
        match run_item(input, key_end, true, max_string) {
            Some(value_end) => end = value_end,
            None => break,
        }
    }
    end
}

/// The end of a one-byte-header string at `at` (after the string marker if
/// `marked`), if it is all in `input`; never the empty key.
#[inline]
fn run_item(input: &[u8], at: usize, marked: bool, max_string: usize) -> Option<usize> {
    let (header_at, header) = match (marked, input.get(at..)?) {
        (true, &[marker::STRING, header, ..]) => (1, header),
        (false, &[header, ..]) if header != 0x01 => (0, header),
        _ => return None,
    };
    if header >= 0x80 {
        return None;
    }
    let len = if header & 1 == 1 {
        usize::from(header >> 1)
    } else {
        0
    };
    if len > max_string {
        return None;
    }
    let end = at
        .checked_add(len)?
        .checked_add(header_at)?
        .checked_add(1)?;
    (end <= input.len()).then_some(end)
}

fn take<'a>(input: &mut &'a [u8], len: usize) -> Result<&'a [u8], DecodeError> {
    let (head, rest) = input.split_at_checked(len).ok_or(DecodeError::Truncated)?;
    *input = rest;
    Ok(head)
}

/// A U29, AMF 3 §1.3.1: up to three bytes of 7 bits with a continuation
/// flag, then one of 8 bits.
#[inline]
fn read_u29(input: &mut &[u8]) -> Result<u32, DecodeError> {
    let byte = read_u8(input)?;
    if byte & 0x80 == 0 {
        return Ok(u32::from(byte));
    }
    read_u29_long(byte, input)
}

#[inline(never)]
fn read_u29_long(first: u8, input: &mut &[u8]) -> Result<u32, DecodeError> {
    let mut value = u32::from(first & 0x7F);
    for _ in 0..2 {
        let byte = read_u8(input)?;
        if byte & 0x80 == 0 {
            return Ok((value << 7) | u32::from(byte));
        }
        value = (value << 7) | u32::from(byte & 0x7F);
    }
    Ok((value << 8) | u32::from(read_u8(input)?))
}
