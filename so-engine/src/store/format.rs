//! The snapshot format: one SharedObject per blob, sans-IO.
//!
//! Layout of format version 1 (integers big-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic [`MAGIC`], `RSO1` |
//! | 2 | format version, [`FORMAT_VERSION`] |
//! | 4 + n | scope path, UTF-8 (`app/room`), after its length |
//! | 4 + n | SO name, UTF-8, after its length |
//! | 4 | the SO's version |
//! | 4 | attribute count |
//! | … | per attribute: the key as an AMF3 string, then the value in AMF3 |
//! | 4 | CRC-32 (IEEE) of every byte before it |
//!
//! Every future format version keeps the first six bytes and the CRC-32
//! trailer, so a reader can tell a corrupt file (checksum mismatch) from a
//! newer one (unknown version, with a correct checksum).
//!
//! # Why AMF3
//!
//! AMF3 expresses every [`Value`] an SO can hold, the AMF3-only types
//! included (ByteArray, vectors, Dictionary, E4X XML, Flex collections),
//! which Red5's AMF0 files cannot (docs/PROTOCOL.md §7 item 15). One
//! [`amf3::Encoder`] writes all the values of a snapshot, so a string or
//! class that repeats across attributes is stored once and referenced
//! after. Keys are AMF3 string *values*, not member names, so the empty
//! key round-trips.
//!
//! AMF3 has one form for a few things [`Value`] keeps apart, so restoring
//! gives these canonical forms (each means the same to a Flash client):
//!
//! - [`Value::Integer`] outside −2²⁸..2²⁸−1 comes back as [`Value::Number`];
//! - [`Value::Date`] comes back with `timezone: 0` (Flash writes 0 anyway);
//! - an empty [`Value::EcmaArray`] comes back as an empty
//!   [`Value::StrictArray`], and a [`Value::MixedArray`] with an empty part as
//!   the other form;
//! - [`Value::Unsupported`] comes back as [`Value::Undefined`];
//! - a typed object's class name `Some("")` comes back as `None`, and
//!   `sealed_count` is capped at the property count;
//! - inside objects, arrays and ObjectProxies, properties named `""` are
//!   dropped (AMF3 ends member lists with the empty name).
//!
//! Everything else round-trips exactly, doubles bit for bit (NaN payloads,
//! `-0.0`). Values nested deeper than [`amf3::MAX_DEPTH`] cannot be read
//! back: such a snapshot fails to decode (it is set aside, never altered).

use bytes::{BufMut, BytesMut};
use rtmp_proto::amf::amf3::{self, Decoder, Encoder};
use rtmp_proto::amf::{Limits, Str, Value};
use rtmp_proto::error::DecodeError;

use crate::io::Snapshot;
use crate::types::{ScopePath, SoKey};

/// The first four bytes of every snapshot.
pub const MAGIC: [u8; 4] = *b"RSO1";

/// The format version this crate writes (and the only one it reads).
pub const FORMAT_VERSION: u16 = 1;

/// The limits [`decode_snapshot`] decodes values with.
///
/// A snapshot is our own checksummed data, so these are far above what
/// clients may send (`Limits::default()`): they only bound what a forged
/// file could make a reader build (CRC-32 detects accidents, not forgers),
/// at most 2²⁶ values (about 2 GiB). Depth is AMF3's hard maximum, so every
/// value the engine's clients can build reads back.
pub const SNAPSHOT_LIMITS: Limits = Limits {
    max_depth: amf3::MAX_DEPTH,
    max_container_len: MAX_AMF3_LEN,
    max_string_bytes: MAX_AMF3_LEN,
    max_values: 1 << 26,
};

/// Why bytes are not a snapshot this crate can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The bytes do not start with [`MAGIC`]: not a snapshot at all.
    #[error("not a snapshot (bad magic)")]
    BadMagic,
    /// A correct checksum over a format version this crate does not know
    /// (written by a newer version).
    #[error("unknown snapshot format version {0}")]
    UnknownFormatVersion(u16),
    /// The CRC-32 trailer does not match the bytes: the file was damaged.
    #[error("checksum mismatch (stored {stored:08x}, computed {computed:08x})")]
    ChecksumMismatch {
        /// The trailer's value.
        stored: u32,
        /// The CRC-32 of the bytes before it.
        computed: u32,
    },
    /// The bytes end before the snapshot does.
    #[error("snapshot ends early")]
    Truncated,
    /// The scope path is not a normalized [`ScopePath`].
    #[error("invalid scope path {0:?}")]
    BadScope(String),
    /// The scope path or SO name is not UTF-8.
    #[error("scope path or name is not UTF-8")]
    BadUtf8,
    /// An attribute key is not an AMF3 string.
    #[error("attribute key is not a string")]
    KeyNotString,
    /// A value does not decode as AMF3.
    #[error("bad AMF3 value: {0}")]
    BadAmf(DecodeError),
    /// Bytes between the last attribute and the checksum.
    #[error("{0} unexpected bytes after the last attribute")]
    TrailingBytes(usize),
}

/// Encodes one SO's snapshot into a self-contained, checksummed blob.
///
/// Lengths that do not fit their field (a scope path or name over 4 GiB, a
/// key or string over AMF3's 256 MiB) make bytes that fail to decode, so
/// such a snapshot is set aside when loaded, never read back altered; the
/// engine's limits keep every real one far below.
pub fn encode_snapshot(so: &SoKey, snapshot: &Snapshot) -> Vec<u8> {
    let scope = so.scope.as_str().as_bytes();
    let name = so.name.as_bytes();
    let mut out = BytesMut::with_capacity(HEADER_BYTES + scope.len() + name.len() + 64);
    out.put_slice(&MAGIC);
    out.put_u16(FORMAT_VERSION);
    put_text(&mut out, scope);
    put_text(&mut out, name);
    out.put_u32(snapshot.version);
    out.put_u32(len_u32(snapshot.values.len()));
    let mut encoder = Encoder::new();
    let mut key = Value::String(Str::default());
    for (name, value) in &snapshot.values {
        // Reuses one `Value` for the keys: a key is a `Str`, cloned inline
        // when short, so no allocation for most of them.
        if let Value::String(slot) = &mut key {
            slot.clone_from(name);
        }
        encoder.encode(&key, &mut out);
        encoder.encode(value, &mut out);
    }
    let crc = crc32fast::hash(&out);
    out.put_u32(crc);
    out.into()
}

/// Decodes a blob [`encode_snapshot`] wrote, with [`SNAPSHOT_LIMITS`].
pub fn decode_snapshot(bytes: &[u8]) -> Result<(SoKey, Snapshot), SnapshotError> {
    decode_snapshot_with(bytes, &SNAPSHOT_LIMITS)
}

/// Decodes a blob [`encode_snapshot`] wrote, with these value limits.
///
/// Checks in this order: the magic, the checksum, the format version, then
/// the contents. So a flipped byte anywhere after the magic is a
/// [`SnapshotError::ChecksumMismatch`], and a truncated blob is either
/// [`SnapshotError::Truncated`] (shorter than the smallest snapshot) or a
/// checksum mismatch.
pub fn decode_snapshot_with(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(SoKey, Snapshot), SnapshotError> {
    let magic_len = bytes.len().min(MAGIC.len());
    if bytes.get(..magic_len) != MAGIC.get(..magic_len) {
        return Err(SnapshotError::BadMagic);
    }
    let (body, trailer) = bytes
        .split_last_chunk::<4>()
        .filter(|(body, _)| body.len() >= MAGIC.len() + 2)
        .ok_or(SnapshotError::Truncated)?;
    let stored = u32::from_be_bytes(*trailer);
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(SnapshotError::ChecksumMismatch { stored, computed });
    }
    let mut input = body.get(MAGIC.len()..).unwrap_or_default();
    let version = read_u16(&mut input)?;
    if version != FORMAT_VERSION {
        return Err(SnapshotError::UnknownFormatVersion(version));
    }
    let scope_text = read_text(&mut input)?;
    let scope = ScopePath::new(scope_text)
        .ok()
        .filter(|scope| scope.as_str() == scope_text)
        .ok_or_else(|| SnapshotError::BadScope(scope_text.into()))?;
    let name = Str::from(read_text(&mut input)?);
    let so_version = read_u32(&mut input)?;
    let count = read_u32(&mut input)?;
    // Each attribute takes at least 3 bytes (empty key: 2, value: 1), so
    // the count cannot reserve more than the bytes can fill.
    let capacity = usize::try_from(count)
        .unwrap_or(usize::MAX)
        .min(input.len() / 3);
    let mut values = Vec::with_capacity(capacity);
    let mut decoder = Decoder::new(input, limits);
    for _ in 0..count {
        let Value::String(key) = decoder.decode().map_err(amf_error)? else {
            return Err(SnapshotError::KeyNotString);
        };
        let value = decoder.decode().map_err(amf_error)?;
        values.push((key, value));
    }
    match decoder.remaining().len() {
        0 => Ok((
            SoKey { scope, name },
            Snapshot {
                version: so_version,
                values,
            },
        )),
        rest => Err(SnapshotError::TrailingBytes(rest)),
    }
}

/// The largest length or count AMF3 can express (28 bits).
const MAX_AMF3_LEN: usize = (1 << 28) - 1;
/// Magic, format version, two empty texts, version, count, checksum.
const HEADER_BYTES: usize = 4 + 2 + 4 + 4 + 4 + 4 + 4;

fn put_text(out: &mut BytesMut, text: &[u8]) {
    out.put_u32(len_u32(text.len()));
    out.put_slice(text);
}

/// Past `u32::MAX`, the field says `u32::MAX`: the blob then fails to
/// decode (see [`encode_snapshot`]) instead of the writer panicking.
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn amf_error(error: DecodeError) -> SnapshotError {
    match error {
        DecodeError::Truncated => SnapshotError::Truncated,
        other => SnapshotError::BadAmf(other),
    }
}

fn read_u16(input: &mut &[u8]) -> Result<u16, SnapshotError> {
    let (head, rest) = input
        .split_first_chunk::<2>()
        .ok_or(SnapshotError::Truncated)?;
    *input = rest;
    Ok(u16::from_be_bytes(*head))
}

fn read_u32(input: &mut &[u8]) -> Result<u32, SnapshotError> {
    let (head, rest) = input
        .split_first_chunk::<4>()
        .ok_or(SnapshotError::Truncated)?;
    *input = rest;
    Ok(u32::from_be_bytes(*head))
}

fn read_text<'a>(input: &mut &'a [u8]) -> Result<&'a str, SnapshotError> {
    let len = usize::try_from(read_u32(input)?).map_err(|_| SnapshotError::Truncated)?;
    let (text, rest) = input
        .split_at_checked(len)
        .ok_or(SnapshotError::Truncated)?;
    *input = rest;
    std::str::from_utf8(text).map_err(|_| SnapshotError::BadUtf8)
}

#[cfg(test)]
#[path = "format_tests.rs"]
mod tests;
