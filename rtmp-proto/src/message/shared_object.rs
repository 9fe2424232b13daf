//! SharedObject messages: type 19 (AMF0) and type 16 (AMF3),
//! docs/PROTOCOL.md §5.
//!
//! Layout: for type 16 one leading byte; then the name (u16 length + UTF-8, no
//! marker), version (u32), flags (u32), reserved (u32), then events until the
//! end, each `type (u8) · length (u32) · payload`. Event lengths are exact
//! byte counts (Red5 writes UTF-16 char counts for STATUS: a bug we do not
//! repeat).
//!
//! Event payloads (§5.2, §5.3):
//! - USE, RELEASE, CLEAR, USE_SUCCESS: empty.
//! - REQUEST_CHANGE, CHANGE: key (u16 string, no marker), then one value.
//! - SUCCESS, REMOVE, REQUEST_REMOVE: key.
//! - SEND_MESSAGE: handler name as an AMF0 string *with* marker `0x02`, then
//!   zero or more values.
//! - STATUS: code, then level (u16 strings, no markers).
//!
//! Values are AMF0, any of which may be `0x11` + AMF3, in both message
//! types. We write type 19 values in plain AMF0, and type 16 values each as
//! `0x11` + AMF3 like Red5 (example G of §5.6). One AMF decoder reads, and one
//! encoder writes, all the values of a body, so AMF3 references may point from
//! one event into an earlier one, as in Red5's output.
//!
//! Reading is lenient wherever a peer's habit is harmless:
//! - type 16's leading byte is skipped whatever its value (Red5 accepts only 0
//!   or 3, crtmpserver only 0);
//! - flags with bit 1 set mean persistent (Red5 and crtmpserver write 2; we
//!   write 2 or 0), and the reserved word is ignored;
//! - a REQUEST_CHANGE or CHANGE whose payload ends right after the key has
//!   the value [`Value::Null`] (Red5: a missing value deletes the key);
//! - an event holding several key/value pairs (CHANGE, REQUEST_CHANGE) or
//!   several keys (SUCCESS, REMOVE, REQUEST_REMOVE), as crtmpserver writes
//!   them, decodes as that many consecutive events of the same type;
//! - bytes inside a USE, RELEASE, CLEAR or USE_SUCCESS payload, or after a
//!   STATUS's level, are ignored (crtmpserver may attach data to USE_SUCCESS;
//!   nobody attaches any to the others);
//! - event types we do not know (0, 12 and up; Red5 crashes on those) are kept
//!   as [`SoEvent::Unknown`] and skipped by their length.
//!
//! An event length past the end of the body is [`DecodeError::Truncated`].

use bytes::{BufMut, Bytes, BytesMut};
use nom::Parser;

use super::wire::{put_amf0_str, put_short_str, short_str, skip_format_byte, u32_be};
use crate::amf::{Encoding, Limits, Str, Value, amf0};
use crate::error::{ApiMisuse, DecodeError, Limit, LimitExceeded};

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

impl SharedObjectMessage {
    /// Decodes a type 19 (`Amf0`) or type 16 (`Amf3`) body.
    ///
    /// One AMF decoder reads every value of the body, so AMF3 references may
    /// point across events. At most `limits.max_container_len` events.
    pub fn decode(body: &[u8], encoding: Encoding, limits: &Limits) -> Result<Self, DecodeError> {
        let body = match encoding {
            Encoding::Amf0 => body,
            Encoding::Amf3 => skip_format_byte(body)?,
        };
        let (mut rest, (name, version, flags, _reserved)) =
            (|input| short_str(input, limits), u32_be, u32_be, u32_be).parse_complete(body)?;
        let mut events = Vec::with_capacity(count_events(rest, limits)?);
        let mut values = amf0::Decoder::new(&[], limits);
        while let Some((kind, payload, after)) = next_event(rest)? {
            decode_event(kind, payload, &mut values, limits, &mut events)?;
            rest = after;
        }
        Ok(Self {
            name,
            version,
            persistent: flags & u32::from(PERSISTENT_FLAG) != 0,
            events,
        })
    }

    /// Appends the body of a type 19 (`Amf0`) or type 16 (`Amf3`) message.
    ///
    /// An event whose payload holds values gets its length reserved, then
    /// patched once the payload is written; other lengths are known up front.
    /// No temporary buffers. Fails with [`ApiMisuse::TooLarge`] for a
    /// name, key, handler name or status string over 65,535 bytes, or an event
    /// over 4 GiB; `out` is then left as it was.
    pub fn encode(&self, encoding: Encoding, out: &mut BytesMut) -> Result<(), ApiMisuse> {
        let start = out.len();
        let written = self.encode_body(encoding, out);
        if written.is_err() {
            out.truncate(start);
        }
        written
    }

    fn encode_body(&self, encoding: Encoding, out: &mut BytesMut) -> Result<(), ApiMisuse> {
        if encoding == Encoding::Amf3 {
            out.put_u8(0);
        }
        put_short_str(out, &self.name, "SharedObject name")?;
        let [v0, v1, v2, v3] = self.version.to_be_bytes();
        let flags = if self.persistent { PERSISTENT_FLAG } else { 0 };
        // Version, flags, reserved (0).
        out.put_slice(&[v0, v1, v2, v3, 0, 0, 0, flags, 0, 0, 0, 0]);
        let mut values = ValueWriter::new(encoding);
        for event in &self.events {
            let kind = event.kind();
            // Lengths known up front are written directly; after a value, the
            // length is reserved and patched once the payload is written.
            match event {
                SoEvent::Use | SoEvent::Release | SoEvent::Clear | SoEvent::UseSuccess => {
                    out.put_slice(&[kind, 0, 0, 0, 0]);
                }
                SoEvent::RequestChange { key, value } | SoEvent::Change { key, value } => {
                    if let (Encoding::Amf0, Value::Number(n)) = (encoding, value) {
                        // The most common value has a known length: no patch.
                        put_keyed_number(out, kind, key, *n)?;
                        continue;
                    }
                    let length_at = put_keyed_head(out, kind, key, None)?;
                    values.write(value, out);
                    patch_length(out, length_at)?;
                }
                SoEvent::Success { key }
                | SoEvent::Remove { key }
                | SoEvent::RequestRemove { key } => {
                    put_keyed_head(out, kind, key, Some(0))?;
                }
                SoEvent::SendMessage { method, args } => {
                    let length_at = put_head(out, kind, 0);
                    put_amf0_str(out, method, "SharedObject handler name")?;
                    for arg in args {
                        values.write(arg, out);
                    }
                    patch_length(out, length_at)?;
                }
                SoEvent::Status { code, level } => {
                    let level_len = u16::try_from(level.len())
                        .map_err(|_| ApiMisuse::TooLarge("SharedObject status level"))?;
                    // 2 + level + code.
                    let rest = u32::from(level_len).saturating_add(2);
                    put_keyed_head(out, kind, code, Some(rest))
                        .map_err(|_| ApiMisuse::TooLarge("SharedObject status code"))?;
                    out.put_u16(level_len);
                    out.put_slice(level.as_bytes());
                }
                SoEvent::Unknown { payload, .. } => {
                    let length = u32::try_from(payload.len())
                        .map_err(|_| ApiMisuse::TooLarge("SharedObject event"))?;
                    put_head(out, kind, length);
                    out.put_slice(payload);
                }
            }
        }
        Ok(())
    }
}

impl SoEvent {
    /// Event type of [`SoEvent::Use`].
    pub const USE: u8 = 1;
    /// Event type of [`SoEvent::Release`].
    pub const RELEASE: u8 = 2;
    /// Event type of [`SoEvent::RequestChange`].
    pub const REQUEST_CHANGE: u8 = 3;
    /// Event type of [`SoEvent::Change`].
    pub const CHANGE: u8 = 4;
    /// Event type of [`SoEvent::Success`].
    pub const SUCCESS: u8 = 5;
    /// Event type of [`SoEvent::SendMessage`].
    pub const SEND_MESSAGE: u8 = 6;
    /// Event type of [`SoEvent::Status`].
    pub const STATUS: u8 = 7;
    /// Event type of [`SoEvent::Clear`].
    pub const CLEAR: u8 = 8;
    /// Event type of [`SoEvent::Remove`].
    pub const REMOVE: u8 = 9;
    /// Event type of [`SoEvent::RequestRemove`].
    pub const REQUEST_REMOVE: u8 = 10;
    /// Event type of [`SoEvent::UseSuccess`].
    pub const USE_SUCCESS: u8 = 11;

    /// The event type byte on the wire.
    pub fn kind(&self) -> u8 {
        match self {
            Self::Use => Self::USE,
            Self::Release => Self::RELEASE,
            Self::RequestChange { .. } => Self::REQUEST_CHANGE,
            Self::Change { .. } => Self::CHANGE,
            Self::Success { .. } => Self::SUCCESS,
            Self::SendMessage { .. } => Self::SEND_MESSAGE,
            Self::Status { .. } => Self::STATUS,
            Self::Clear => Self::CLEAR,
            Self::Remove { .. } => Self::REMOVE,
            Self::RequestRemove { .. } => Self::REQUEST_REMOVE,
            Self::UseSuccess => Self::USE_SUCCESS,
            Self::Unknown { kind, .. } => *kind,
        }
    }
}

/// The AMF0 string marker (a SEND_MESSAGE's handler name).
const AMF0_STRING: u8 = 0x02;
/// The AMF0 number marker, and the bytes a number takes with it.
const AMF0_NUMBER: u8 = 0x00;
const AMF0_NUMBER_LEN: u32 = 9;

/// The flags bit that marks a persistent SO (Red5 and crtmpserver write 2).
const PERSISTENT_FLAG: u8 = 2;

/// Counts the events of a body by their headers alone, so the event list is
/// allocated once and a truncated body fails before any value is decoded.
fn count_events(mut events: &[u8], limits: &Limits) -> Result<usize, DecodeError> {
    let mut count = 0_usize;
    while let Some((_, _, rest)) = next_event(events)? {
        if count >= limits.max_container_len {
            return Err(too_many_events(limits));
        }
        events = rest;
        count = count.saturating_add(1);
    }
    Ok(count)
}

/// An event's type, its payload, and the bytes after it.
type RawEvent<'a> = (u8, &'a [u8], &'a [u8]);

/// The next event, `type (u8) · length (u32) · payload`, and the bytes
/// after it; `None` at the end of the body. Plain `Result`s rather than nom
/// ones: this and [`key`] run for every event.
#[inline]
fn next_event(input: &[u8]) -> Result<Option<RawEvent<'_>>, DecodeError> {
    if input.is_empty() {
        return Ok(None);
    }
    let (&[kind, l0, l1, l2, l3], rest) = input
        .split_first_chunk::<5>()
        .ok_or(DecodeError::Truncated)?;
    let length = usize::try_from(u32::from_be_bytes([l0, l1, l2, l3]))
        .map_err(|_| DecodeError::Truncated)?;
    let (payload, after) = rest
        .split_at_checked(length)
        .ok_or(DecodeError::Truncated)?;
    Ok(Some((kind, payload, after)))
}

/// A key (u16 length + UTF-8, no marker) and the bytes after it: what
/// [`short_str`] reads, for the per-event hot path.
#[inline]
fn key<'a>(input: &'a [u8], limits: &Limits) -> Result<(Str, &'a [u8]), DecodeError> {
    let (&len, rest) = input
        .split_first_chunk::<2>()
        .ok_or(DecodeError::Truncated)?;
    let len = usize::from(u16::from_be_bytes(len));
    if len > limits.max_string_bytes {
        return Err(LimitExceeded::new(Limit::AmfStringBytes, limits.max_string_bytes).into());
    }
    let (utf8, rest) = rest.split_at_checked(len).ok_or(DecodeError::Truncated)?;
    let key = Str::from_utf8(utf8).map_err(|_| DecodeError::InvalidUtf8)?;
    Ok((key, rest))
}

/// Decodes one event's payload, pushing one event or, for the multi-entry
/// payloads crtmpserver writes, several of the same type.
fn decode_event<'a>(
    kind: u8,
    payload: &'a [u8],
    values: &mut amf0::Decoder<'a>,
    limits: &Limits,
    events: &mut Vec<SoEvent>,
) -> Result<(), DecodeError> {
    match kind {
        SoEvent::USE => push(events, SoEvent::Use, limits),
        SoEvent::RELEASE => push(events, SoEvent::Release, limits),
        SoEvent::CLEAR => push(events, SoEvent::Clear, limits),
        SoEvent::USE_SUCCESS => push(events, SoEvent::UseSuccess, limits),
        SoEvent::REQUEST_CHANGE | SoEvent::CHANGE => {
            let mut rest = payload;
            loop {
                let (key, after_key) = key(rest, limits)?;
                let (value, after) = if after_key.is_empty() {
                    (Value::Null, after_key)
                } else {
                    values.decode_at(after_key)?
                };
                rest = after;
                let event = if kind == SoEvent::CHANGE {
                    SoEvent::Change { key, value }
                } else {
                    SoEvent::RequestChange { key, value }
                };
                push(events, event, limits)?;
                if rest.is_empty() {
                    return Ok(());
                }
            }
        }
        SoEvent::SUCCESS | SoEvent::REMOVE | SoEvent::REQUEST_REMOVE => {
            let mut rest = payload;
            loop {
                let (key, after) = key(rest, limits)?;
                let event = match kind {
                    SoEvent::SUCCESS => SoEvent::Success { key },
                    SoEvent::REMOVE => SoEvent::Remove { key },
                    _ => SoEvent::RequestRemove { key },
                };
                push(events, event, limits)?;
                rest = after;
                if rest.is_empty() {
                    return Ok(());
                }
            }
        }
        SoEvent::SEND_MESSAGE => {
            // Red5 reads the handler name with its AMF deserializer, so any
            // string form (0x02, 0x0C, 0x11 + AMF3 string) is accepted.
            // A name over 65,535 bytes could not be written back (we write
            // the 0x02 form every peer reads), so it is refused here too.
            // The 0x02 form everyone writes is read like a key.
            let method = if let [AMF0_STRING, name @ ..] = payload {
                let (method, args) = key(name, limits)?;
                values.set_input(args);
                method
            } else {
                values.set_input(payload);
                match values.decode()? {
                    Value::String(method) if u16::try_from(method.len()).is_ok() => method,
                    _ => {
                        return Err(DecodeError::Invalid {
                            what: "SharedObject handler name",
                        });
                    }
                }
            };
            let mut args = Vec::new();
            while !values.is_empty() {
                args.push(values.decode()?);
            }
            push(events, SoEvent::SendMessage { method, args }, limits)
        }
        SoEvent::STATUS => {
            let (_, (code, level)) = (
                |input| short_str(input, limits),
                |input| short_str(input, limits),
            )
                .parse_complete(payload)?;
            push(events, SoEvent::Status { code, level }, limits)
        }
        _ => {
            let payload = Bytes::copy_from_slice(payload);
            push(events, SoEvent::Unknown { kind, payload }, limits)
        }
    }
}

/// Adds an event, failing once a message holds more than the container limit.
#[inline]
fn push(events: &mut Vec<SoEvent>, event: SoEvent, limits: &Limits) -> Result<(), DecodeError> {
    if events.len() >= limits.max_container_len {
        return Err(too_many_events(limits));
    }
    events.push(event);
    Ok(())
}

fn too_many_events(limits: &Limits) -> DecodeError {
    LimitExceeded::new(Limit::SharedObjectEvents, limits.max_container_len).into()
}

/// Writes SO values: plain AMF0 in type 19, `0x11` + AMF3 in type 16 (as
/// Red5 writes them). One encoder per message body, made on first use.
struct ValueWriter {
    encoding: Encoding,
    encoder: Option<amf0::Encoder>,
}

impl ValueWriter {
    fn new(encoding: Encoding) -> Self {
        Self {
            encoding,
            encoder: None,
        }
    }

    #[inline]
    fn write(&mut self, value: &Value, out: &mut BytesMut) {
        let encoder = self.encoder.get_or_insert_with(amf0::Encoder::new);
        match self.encoding {
            Encoding::Amf0 => encoder.encode(value, out),
            Encoding::Amf3 => encoder.encode_avmplus(value, out),
        }
    }
}

/// Writes an event header, returning where its length field is.
#[inline]
fn put_head(out: &mut BytesMut, kind: u8, length: u32) -> usize {
    let [l0, l1, l2, l3] = length.to_be_bytes();
    out.put_slice(&[kind, l0, l1, l2, l3]);
    out.len().saturating_sub(4)
}

/// Writes an event header and the key that starts its payload, in one call
/// to keep the per-event cost low. With `Some(rest)` the length is
/// `2 + key + rest`; with `None` it is left 0 for [`patch_length`]. Returns
/// where the length field is.
#[inline]
fn put_keyed_head(
    out: &mut BytesMut,
    kind: u8,
    key: &str,
    rest: Option<u32>,
) -> Result<usize, ApiMisuse> {
    let length_at = out.len().saturating_add(1);
    put_keyed(out, kind, key, rest, None)?;
    Ok(length_at)
}

/// Writes a REQUEST_CHANGE or CHANGE of an AMF0 number: header, key and the
/// number, whose length is known up front.
#[inline]
fn put_keyed_number(out: &mut BytesMut, kind: u8, key: &str, n: f64) -> Result<(), ApiMisuse> {
    let mut number = [AMF0_NUMBER; AMF0_NUMBER_LEN as usize];
    if let Some((_, bits)) = number.split_first_mut() {
        bits.copy_from_slice(&n.to_be_bytes());
    }
    put_keyed(out, kind, key, Some(AMF0_NUMBER_LEN), Some(number))
}

/// The longest key [`put_keyed`] writes through its staging array.
const SHORT_KEY: usize = 16;
/// Header (7), a short key, an AMF0 number (9).
const STAGED: usize = 32;

/// Writes `type · length · key length · key`, then `number` if any. The
/// length is `2 + key + rest`, or 0 (patched later) for `None`.
///
/// A key of at most [`SHORT_KEY`] bytes is staged with the rest in one
/// fixed-size array, appended whole and cut to length: appending the key by
/// itself is a `memcpy` call (its length is not known at compile time) that
/// costs more than the few bytes most keys have.
#[inline(always)]
fn put_keyed(
    out: &mut BytesMut,
    kind: u8,
    key: &str,
    rest: Option<u32>,
    number: Option<[u8; AMF0_NUMBER_LEN as usize]>,
) -> Result<(), ApiMisuse> {
    let key = key.as_bytes();
    let key_len = u16::try_from(key.len()).map_err(|_| ApiMisuse::TooLarge("SharedObject key"))?;
    let length = rest.map_or(0, |rest| {
        rest.saturating_add(u32::from(key_len)).saturating_add(2)
    });
    if key.len() > SHORT_KEY {
        out.put_u8(kind);
        out.put_u32(length);
        out.put_u16(key_len);
        out.put_slice(key);
        if let Some(number) = number {
            out.put_slice(&number);
        }
        return Ok(());
    }
    let mut staged = [0; STAGED];
    let (head, tail) = staged.split_at_mut(7);
    if let Some((first, head)) = head.split_first_mut() {
        *first = kind;
        let (length_bytes, key_len_bytes) = head.split_at_mut(4);
        length_bytes.copy_from_slice(&length.to_be_bytes());
        key_len_bytes.copy_from_slice(&key_len.to_be_bytes());
    }
    copy_short(tail, key);
    let mut end = 7 + key.len();
    if let Some(number) = number
        && let Some(slot) = staged.get_mut(end..).and_then(<[u8]>::first_chunk_mut)
    {
        *slot = number;
        end += number.len();
    }
    let end = out.len().saturating_add(end);
    out.extend_from_slice(&staged);
    out.truncate(end);
    Ok(())
}

/// Copies `src` (at most 16 bytes) to the start of `dst` (at least as long)
/// with two possibly overlapping fixed-size moves, as `memcpy` does small
/// sizes, but inline.
#[inline]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    match src.len() {
        8.. => copy_ends::<8>(dst, src),
        4..8 => copy_ends::<4>(dst, src),
        2..4 => copy_ends::<2>(dst, src),
        _ => copy_ends::<1>(dst, src),
    }
}

/// Copies the first and the last `N` bytes of `src` (`N <= src.len() <= 2N`)
/// to the same places in `dst`: all of `src`.
#[inline]
fn copy_ends<const N: usize>(dst: &mut [u8], src: &[u8]) {
    let (Some(first), Some(last)) = (src.first_chunk::<N>(), src.last_chunk::<N>()) else {
        return;
    };
    let last_at = src.len().saturating_sub(N);
    if let Some(slot) = dst.first_chunk_mut::<N>() {
        *slot = *first;
    }
    if let Some(slot) = dst
        .get_mut(last_at..)
        .and_then(<[u8]>::first_chunk_mut::<N>)
    {
        *slot = *last;
    }
}

/// Fills the u32 reserved at `at` with the byte count written after it.
#[inline]
fn patch_length(out: &mut BytesMut, at: usize) -> Result<(), ApiMisuse> {
    let start = at.saturating_add(4);
    let length = u32::try_from(out.len().saturating_sub(start))
        .map_err(|_| ApiMisuse::TooLarge("SharedObject event"))?;
    if let Some(slot) = out.get_mut(at..start) {
        slot.copy_from_slice(&length.to_be_bytes());
    }
    Ok(())
}

#[cfg(feature = "arbitrary")]
fn arbitrary_bytes(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Bytes> {
    Ok(Bytes::copy_from_slice(u.arbitrary::<&[u8]>()?))
}

#[cfg(test)]
mod tests;
