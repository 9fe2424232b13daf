//! The AMF3 encoder: [`Value`] trees to wire bytes, with string and trait
//! references (the module docs list every choice it makes).

use bytes::{BufMut, BytesMut};

use super::string_table::{StringTable, Unseen};
use super::{ARRAY_COLLECTION, MAX_U28, OBJECT_PROXY, marker};
use crate::amf::{Object, Str, Value, Vector};

/// Encodes the values of one message body, sharing the string and trait
/// reference tables across them (as a [`Decoder`](super::Decoder) reads them).
#[derive(Debug, Default)]
pub struct Encoder {
    strings: StringTable,
    traits: TraitsTable,
    /// Where the current call started writing in its output.
    base: usize,
}

impl Encoder {
    /// An encoder with empty reference tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `value` to `out`.
    pub fn encode(&mut self, value: &Value, out: &mut BytesMut) {
        self.base = out.len();
        out.reserve(value_size(value));
        self.value(value, out);
        let written = out.get(self.base..).unwrap_or_default();
        self.strings.keep(written);
    }

    fn value(&mut self, value: &Value, out: &mut BytesMut) {
        match value {
            Value::Undefined | Value::Unsupported => out.put_u8(marker::UNDEFINED),
            Value::Null => out.put_u8(marker::NULL),
            Value::Bool(false) => out.put_u8(marker::FALSE),
            Value::Bool(true) => out.put_u8(marker::TRUE),
            Value::Number(n) => put_double(out, *n),
            Value::Integer(i) => {
                if (-(1 << 28)..1 << 28).contains(i) {
                    out.put_u8(marker::INTEGER);
                    put_u29(out, (*i as u32) & 0x1FFF_FFFF);
                } else {
                    put_double(out, f64::from(*i));
                }
            }
            Value::String(s) if fits(s.len()) => self.string_value(s, out),
            Value::Date(date) => {
                // U29D-value: 1, the low bit saying "not a reference".
                let mut bytes = [marker::DATE, 0x01, 0, 0, 0, 0, 0, 0, 0, 0];
                bytes[2..].copy_from_slice(&date.millis.to_be_bytes());
                out.put_slice(&bytes);
            }
            Value::Object(object) => self.object(object, out),
            Value::EcmaArray(assoc) => self.array(&[], assoc, out),
            Value::StrictArray(dense) => self.array(dense, &[], out),
            Value::MixedArray(array) => self.array(&array.dense, &array.assoc, out),
            Value::XmlDocument(s) if fits(s.len()) => {
                out.put_u8(marker::XML_DOC);
                put_inline(out, s.as_bytes());
            }
            Value::Xml(s) if fits(s.len()) => {
                out.put_u8(marker::XML);
                put_inline(out, s.as_bytes());
            }
            Value::ByteArray(bytes) if fits(bytes.len()) => {
                out.put_u8(marker::BYTE_ARRAY);
                put_inline(out, bytes);
            }
            Value::VectorInt(v) => put_vector(out, marker::VECTOR_INT, v, BytesMut::put_i32),
            Value::VectorUint(v) => put_vector(out, marker::VECTOR_UINT, v, BytesMut::put_u32),
            Value::VectorDouble(v) => {
                put_vector(out, marker::VECTOR_DOUBLE, v, BytesMut::put_f64);
            }
            Value::VectorObject(v) if fits(v.items.len()) && fits(v.type_name.len()) => {
                out.put_u8(marker::VECTOR_OBJECT);
                put_count(out, v.items.len());
                out.put_u8(u8::from(v.fixed));
                self.string(&v.type_name, out);
                for item in &v.items {
                    self.value(item, out);
                }
            }
            Value::Dictionary(d) if fits(d.entries.len()) => {
                out.put_u8(marker::DICTIONARY);
                put_count(out, d.entries.len());
                out.put_u8(u8::from(d.weak_keys));
                for (key, value) in &d.entries {
                    self.value(key, out);
                    self.value(value, out);
                }
            }
            Value::ArrayCollection(items) if fits(items.len()) => {
                out.put_u8(marker::OBJECT);
                self.external_traits(ARRAY_COLLECTION, out);
                self.array(items, &[], out);
            }
            Value::ObjectProxy(properties) => {
                out.put_u8(marker::OBJECT);
                self.external_traits(OBJECT_PROXY, out);
                out.put_u8(marker::OBJECT);
                self.traits(OBJECT_PROXY_BODY, &[], out);
                self.members(properties, out);
            }
            // A length past 2^28 - 1: see the module docs.
            _ => out.put_u8(marker::NULL),
        }
    }

    fn object(&mut self, object: &Object, out: &mut BytesMut) {
        let sealed_count = object.sealed_count.min(object.properties.len());
        let (sealed, dynamic) = object.properties.split_at(sealed_count);
        let class_name = object.class_name.as_deref().unwrap_or("");
        if !fits(class_name.len())
            || sealed_count > MAX_SEALED
            || sealed.iter().any(|(name, _)| !fits(name.len()))
        {
            out.put_u8(marker::NULL);
            return;
        }
        let shape = Shape {
            class_name,
            dynamic: class_name.is_empty() || !dynamic.is_empty(),
        };
        out.reserve(members_size(object.properties.len()).saturating_add(class_name.len()));
        out.put_u8(marker::OBJECT);
        self.traits(shape, sealed, out);
        for (_, value) in sealed {
            self.value(value, out);
        }
        if shape.dynamic {
            self.members(dynamic, out);
        }
    }

    /// An array: dense count, associative part, dense part (AMF 3 §3.11).
    fn array(&mut self, dense: &[Value], assoc: &[(Str, Value)], out: &mut BytesMut) {
        if !fits(dense.len()) {
            out.put_u8(marker::NULL);
            return;
        }
        out.reserve(members_size(assoc.len().saturating_add(dense.len())));
        out.put_u8(marker::ARRAY);
        put_count(out, dense.len());
        self.members(assoc, out);
        for item in dense {
            self.value(item, out);
        }
    }

    /// `key value` pairs, then the empty string. Keys that cannot be
    /// written (empty, or longer than 2^28 - 1 bytes) are skipped.
    fn members(&mut self, properties: &[(Str, Value)], out: &mut BytesMut) {
        for (key, value) in properties {
            // One look at the CompactString's length: it branches on its layout.
            let key = key.as_str();
            if key.is_empty() || !fits(key.len()) {
                continue;
            }
            self.string(key, out);
            // The common leaves inline, saving a call per member.
            match value {
                Value::Number(n) => put_double(out, *n),
                Value::String(s) => {
                    let s = s.as_str();
                    if fits(s.len()) {
                        self.string_value(s, out);
                    } else {
                        out.put_u8(marker::NULL);
                    }
                }
                _ => self.value(value, out),
            }
        }
        out.put_u8(EMPTY_STRING);
    }

    /// Traits by reference, or inline (AMF 3 §3.12) and remembered.
    fn traits(&mut self, shape: Shape<'_>, sealed: &[(Str, Value)], out: &mut BytesMut) {
        if shape.class_name.is_empty() && shape.dynamic && sealed.is_empty() {
            return self.anonymous_traits(out);
        }
        if let Some(index) = self.traits.find(shape, sealed) {
            put_u29(out, (index << 2) | 0b01);
            return;
        }
        self.traits.add(shape, sealed);
        // `sealed.len()` is at most MAX_SEALED, checked by the caller.
        let flags = (sealed.len() as u32) << 4 | u32::from(shape.dynamic) << 3 | 0b011;
        put_u29(out, flags);
        self.string(shape.class_name, out);
        for (name, _) in sealed {
            self.string(name, out);
        }
    }

    /// The traits of Flash's plain object (anonymous, dynamic, no sealed
    /// members), the most common by far.
    fn anonymous_traits(&mut self, out: &mut BytesMut) {
        if let Some(index) = self.traits.anonymous {
            return put_u29(out, (index << 2) | 0b01);
        }
        self.traits.anonymous = self.traits.next_index();
        // Inline dynamic traits with no sealed members, and the empty class name.
        out.put_slice(&[0b1011, EMPTY_STRING]);
    }

    /// The traits of an externalizable Flex class.
    fn external_traits(&mut self, class_name: &'static str, out: &mut BytesMut) {
        let known = if class_name == ARRAY_COLLECTION {
            self.traits.array_collection
        } else {
            self.traits.object_proxy
        };
        if let Some(index) = known {
            put_u29(out, (index << 2) | 0b01);
            return;
        }
        let index = self.traits.next_index();
        if class_name == ARRAY_COLLECTION {
            self.traits.array_collection = index;
        } else {
            self.traits.object_proxy = index;
        }
        put_u29(out, 0b0111);
        self.string(class_name, out);
    }

    /// A string by reference when the table has it, else inline (the empty
    /// string never enters the table, AMF 3 §3.8). The caller checks `fits`.
    #[inline(always)]
    fn string(&mut self, s: &str, out: &mut BytesMut) {
        let bytes = s.as_bytes();
        // Most strings of a body are short and new: no search, one header byte.
        if let Some(new) = self.strings.unseen(bytes) {
            out.put_u8(new.header());
            return self.put_new(new, bytes, out);
        }
        self.string_any(bytes, out);
    }

    /// A string value: its marker, then [`string`](Self::string).
    #[inline(always)]
    fn string_value(&mut self, s: &str, out: &mut BytesMut) {
        out.put_u8(marker::STRING);
        self.string(s, out);
    }

    /// The bytes of a string [`StringTable::unseen`] vouched for, after its
    /// header.
    #[inline(always)]
    fn put_new(&mut self, new: Unseen, bytes: &[u8], out: &mut BytesMut) {
        let at = out.len() - self.base;
        out.put_slice(bytes);
        self.strings.list(new, at);
    }

    /// [`string`](Self::string) for any string.
    #[inline(never)]
    fn string_any(&mut self, bytes: &[u8], out: &mut BytesMut) {
        if bytes.is_empty() {
            out.put_u8(EMPTY_STRING);
            return;
        }
        let key = match self.strings.find(bytes, out, self.base) {
            Ok(index) => return put_u29(out, index << 1),
            Err(key) => key,
        };
        put_count(out, bytes.len());
        let at = out.len() - self.base;
        out.put_slice(bytes);
        self.strings.add(key, at, bytes.len(), out, self.base);
    }
}

/// Encodes `value` alone, with fresh reference tables.
pub fn encode(value: &Value, out: &mut BytesMut) {
    let mut encoder = Encoder {
        base: out.len(),
        ..Encoder::default()
    };
    out.reserve(value_size(value));
    // No later call can refer to these strings: nothing to keep.
    encoder.value(value, out);
}

/// Bytes [`members_size`] reserves per member: a key of up to 8 bytes and
/// a double, or a key and a string of up to 16 bytes together.
const MEMBER_SIZE_GUESS: usize = 24;
/// The empty string, `U29S-value` 0.
const EMPTY_STRING: u8 = 0x01;
/// The most sealed members a traits header has room for (25 bits).
const MAX_SEALED: usize = (1 << 25) - 1;
/// The highest traits index a traits reference has room for (27 bits).
const MAX_TRAITS_INDEX: u32 = (1 << 27) - 1;
/// Typed traits kept for lookup; past that, new traits are written inline
/// (and still counted), so a long list is never scanned.
const MAX_CACHED_TRAITS: usize = 64;
/// The body of an ObjectProxy: an anonymous dynamic object.
const OBJECT_PROXY_BODY: Shape<'static> = Shape {
    class_name: "",
    dynamic: true,
};

/// What makes traits reusable besides the sealed member names.
#[derive(Debug, Clone, Copy)]
struct Shape<'v> {
    class_name: &'v str,
    dynamic: bool,
}

/// The encoder's side of the traits table: the count the peer will hold,
/// and what is needed to find earlier traits again.
#[derive(Debug, Default)]
struct TraitsTable {
    count: u32,
    /// Anonymous, dynamic, no sealed members: Flash's plain object.
    anonymous: Option<u32>,
    array_collection: Option<u32>,
    object_proxy: Option<u32>,
    others: Vec<CachedTraits>,
}

#[derive(Debug)]
struct CachedTraits {
    index: u32,
    class_name: Str,
    dynamic: bool,
    members: Vec<Str>,
}

impl TraitsTable {
    /// Typed or sealed traits written before (anonymous ones are in
    /// `anonymous`).
    fn find(&self, shape: Shape<'_>, sealed: &[(Str, Value)]) -> Option<u32> {
        self.others
            .iter()
            .find(|t| {
                t.class_name == shape.class_name
                    && t.dynamic == shape.dynamic
                    && t.members.len() == sealed.len()
                    && t.members.iter().zip(sealed).all(|(a, (b, _))| a == b)
            })
            .map(|t| t.index)
    }

    fn add(&mut self, shape: Shape<'_>, sealed: &[(Str, Value)]) {
        let Some(index) = self.next_index() else {
            return;
        };
        if self.others.len() < MAX_CACHED_TRAITS {
            self.others.push(CachedTraits {
                index,
                class_name: shape.class_name.into(),
                dynamic: shape.dynamic,
                members: sealed.iter().map(|(name, _)| name.clone()).collect(),
            });
        }
    }

    /// Counts one more inline traits entry; its index, if a reference can
    /// express it.
    fn next_index(&mut self) -> Option<u32> {
        let index = self.count;
        self.count = self.count.saturating_add(1);
        (index <= MAX_TRAITS_INDEX).then_some(index)
    }
}

/// Bytes to reserve before writing `value` at the top level: a scalar's
/// size, or [`members_size`] for a container (nested containers reserve
/// when they are written). Growing the output from empty one `put` at a time
/// cost a third of encoding a typical object.
fn value_size(value: &Value) -> usize {
    match value {
        Value::String(s) | Value::XmlDocument(s) | Value::Xml(s) => s.len().saturating_add(5),
        Value::ByteArray(bytes) => bytes.len().saturating_add(5),
        Value::Object(object) => members_size(object.properties.len()),
        Value::EcmaArray(items) => members_size(items.len()),
        Value::StrictArray(items) => members_size(items.len()),
        _ => 16,
    }
}

/// A guess at the bytes a container with `count` members takes: a short
/// key and a number or short string each, without walking them (reading
/// each `Str`'s length cost as much as the growth it saved). Longer strings
/// and nested containers make the output grow as usual.
fn members_size(count: usize) -> usize {
    count.saturating_mul(MEMBER_SIZE_GUESS).saturating_add(8)
}

/// Whether a length or count fits the 28 bits a U29 header has for it.
fn fits(len: usize) -> bool {
    len <= MAX_U28 as usize
}

fn put_double(out: &mut BytesMut, n: f64) {
    let mut bytes = [marker::DOUBLE; 9];
    bytes[1..].copy_from_slice(&n.to_be_bytes());
    out.put_slice(&bytes);
}

/// `len << 1 | 1`: a value, not a reference. The caller checks `fits`.
fn put_count(out: &mut BytesMut, len: usize) {
    put_u29(out, (len as u32) << 1 | 1);
}

fn put_inline(out: &mut BytesMut, bytes: &[u8]) {
    put_count(out, bytes.len());
    out.put_slice(bytes);
}

fn put_vector<T: Copy>(
    out: &mut BytesMut,
    marker: u8,
    vector: &Vector<T>,
    put: fn(&mut BytesMut, T),
) {
    if !fits(vector.items.len()) {
        out.put_u8(marker::NULL);
        return;
    }
    out.put_u8(marker);
    put_count(out, vector.items.len());
    out.put_u8(u8::from(vector.fixed));
    for &item in &vector.items {
        put(out, item);
    }
}

/// A U29 (AMF 3 §1.3.1); `value` is below 2^29.
#[inline]
fn put_u29(out: &mut BytesMut, value: u32) {
    if value < 0x80 {
        out.put_u8(value as u8);
    } else {
        put_u29_long(out, value);
    }
}

#[inline(never)]
fn put_u29_long(out: &mut BytesMut, value: u32) {
    let v = value;
    match v {
        0..0x80 => out.put_u8(v as u8),
        0x80..0x4000 => out.put_slice(&[(v >> 7) as u8 | 0x80, (v & 0x7F) as u8]),
        0x4000..0x20_0000 => out.put_slice(&[
            (v >> 14) as u8 | 0x80,
            ((v >> 7) & 0x7F) as u8 | 0x80,
            (v & 0x7F) as u8,
        ]),
        _ => out.put_slice(&[
            ((v >> 22) & 0x7F) as u8 | 0x80,
            ((v >> 15) & 0x7F) as u8 | 0x80,
            ((v >> 8) & 0x7F) as u8 | 0x80,
            v as u8,
        ]),
    }
}
