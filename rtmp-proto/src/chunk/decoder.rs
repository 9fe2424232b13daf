//! Chunk stream decoder: bytes in any split, whole messages out.

use bytes::{Buf, BytesMut};

use super::header::{self, EXTENDED_TIMESTAMP, Fields, Parsed};
use super::streams::Streams;
use super::{CONTROL_CSID, DEFAULT_CHUNK_SIZE, DecoderLimits, Header, MAX_CHUNK_SIZE, RawMessage};
use crate::error::{DecodeError, Error, Limit, LimitExceeded, ProtocolError};

/// Reassembles RTMP messages from the chunk stream a peer sends.
///
/// Call [`push`](Self::push) with the bytes read, then
/// [`next_message`](Self::next_message) until it returns `Ok(None)`. Any
/// split of the stream gives the same messages. After an `Err` the stream
/// cannot be trusted: close the connection.
///
/// A message that arrives whole in one chunk is a slice of the input buffer
/// (one copy in all, the one `push` makes); a message of several chunks is
/// copied once more into its chunk stream's buffer.
#[derive(Debug)]
pub struct Decoder {
    input: BytesMut,
    chunk_size: u32,
    limits: DecoderLimits,
    streams: Streams<ChunkStream>,
    /// Sum of the partial messages' lengths, for [`Decoder::buffered`].
    partial_bytes: usize,
    bytes_received: u64,
}

impl Decoder {
    /// A decoder at the default chunk size of 128, with no chunk stream state.
    pub fn new(limits: DecoderLimits) -> Self {
        Self {
            input: BytesMut::new(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            limits,
            streams: Streams::new(),
            partial_bytes: 0,
            bytes_received: 0,
        }
    }

    /// Appends bytes read from the peer (copied once).
    pub fn push(&mut self, input: &[u8]) {
        if self.input.capacity().saturating_sub(self.input.len()) < input.len() {
            // Making room moves the unread tail (at most about one chunk) to
            // the front of the buffer, or to a new one: room for several
            // chunks at a time keeps that from becoming a second copy of
            // every byte when chunks straddle reads.
            let chunk = to_usize(self.chunk_size).saturating_mul(8);
            let room = chunk.clamp(MIN_INPUT_ROOM, MAX_INPUT_ROOM);
            self.input.reserve(input.len().max(room));
        }
        self.input.extend_from_slice(input);
        self.bytes_received = self
            .bytes_received
            .saturating_add(u64::try_from(input.len()).unwrap_or(u64::MAX));
    }

    /// The next complete message, or `Ok(None)` when more bytes are needed.
    ///
    /// Set Chunk Size and Abort on chunk stream 2, message stream 0, take
    /// effect here, before the message is returned.
    pub fn next_message(&mut self) -> Result<Option<RawMessage>, Error> {
        // Chunks that only add to a partial message are consumed by moving
        // `read`; the input buffer itself is advanced once, on the way out.
        let mut read = 0;
        let message = self.read_message(&mut read);
        self.input.advance(read.min(self.input.len()));
        let message = message?;
        if let Some(message) = &message {
            self.apply_control(message)?;
        }
        Ok(message)
    }

    /// Sets the size of the chunks the peer sends (what its Set Chunk Size
    /// announced): 1 to 2^31 − 1.
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), ProtocolError> {
        if size == 0 || size > MAX_CHUNK_SIZE {
            return Err(ProtocolError::InvalidChunkSize(size));
        }
        self.chunk_size = size;
        Ok(())
    }

    /// The size of the chunks the peer sends.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Bytes pushed since the start, for Acknowledgement messages.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// Bytes held: unread input plus the partial messages of every chunk stream.
    pub fn buffered(&self) -> usize {
        self.input.len().saturating_add(self.partial_bytes)
    }

    /// Takes chunks from `input[*read..]` until one completes a message.
    fn read_message(&mut self, read: &mut usize) -> Result<Option<RawMessage>, Error> {
        loop {
            let Some(chunk) = self.next_chunk(*read)? else {
                return Ok(None);
            };
            if let Some(message) = self.take_chunk(read, &chunk)? {
                return Ok(Some(message));
            }
        }
    }

    /// Reads the header of the chunk at `input[read..]` and checks its
    /// payload has arrived, changing nothing, so a chunk that is still
    /// incomplete is read again from its start next time.
    #[inline]
    fn next_chunk(&self, read: usize) -> Result<Option<Chunk>, Error> {
        let input = self.input.get(read..).unwrap_or_default();
        let Some((rest, (fmt, csid))) = streaming(header::basic_header(input))? else {
            return Ok(None);
        };
        let slot = self.streams.find(csid);
        let state = slot.and_then(|index| self.streams.slot(index));
        let (rest, start) = match (fmt, state) {
            (0, _) => {
                if state.is_none() && self.streams.len() >= self.limits.max_chunk_streams {
                    return Err(LimitExceeded::new(
                        Limit::ChunkStreams,
                        self.limits.max_chunk_streams,
                    )
                    .into());
                }
                let Some((rest, fields)) = streaming(header::fmt0(rest))? else {
                    return Ok(None);
                };
                self.check_length(fields.length)?;
                let Some((rest, timestamp)) = extended(rest, fields.timestamp)? else {
                    return Ok(None);
                };
                // Spec §5.3.1.2.4: a fmt 3 after a fmt 0 uses its timestamp as the delta.
                let start = Start::new(csid, timestamp, timestamp, &fields);
                (rest, Some(start))
            }
            (_, None) => return Err(ProtocolError::MissingHeader { csid }.into()),
            (1, Some(state)) => {
                let Some((rest, fields)) = streaming(header::fmt1(rest))? else {
                    return Ok(None);
                };
                self.check_length(fields.length)?;
                let Some((rest, delta)) = extended(rest, fields.timestamp)? else {
                    return Ok(None);
                };
                let fields = Fields {
                    stream_id: state.stream_id,
                    ..fields
                };
                let timestamp = state.timestamp.wrapping_add(delta);
                (rest, Some(Start::new(csid, timestamp, delta, &fields)))
            }
            (2, Some(state)) => {
                let Some((rest, field)) = streaming(header::fmt2(rest))? else {
                    return Ok(None);
                };
                let Some((rest, delta)) = extended(rest, field)? else {
                    return Ok(None);
                };
                let fields = Fields {
                    timestamp: field,
                    ..state.fields()
                };
                let timestamp = state.timestamp.wrapping_add(delta);
                (rest, Some(Start::new(csid, timestamp, delta, &fields)))
            }
            (_, Some(state)) => {
                // FFmpeg/Red5: fmt 3 repeats the extended timestamp of the
                // last fmt 0/1/2 (protocol.md §2.3). The value itself is not
                // needed: a new message re-applies the delta we kept.
                let rest = if state.extended {
                    let Some((rest, _)) = streaming(header::extended_timestamp(rest))? else {
                        return Ok(None);
                    };
                    rest
                } else {
                    rest
                };
                let start = state.partial.is_empty().then(|| {
                    let timestamp = state.timestamp.wrapping_add(state.delta);
                    let mut fields = state.fields();
                    fields.timestamp = if state.extended {
                        EXTENDED_TIMESTAMP
                    } else {
                        state.delta
                    };
                    Start::new(csid, timestamp, state.delta, &fields)
                });
                (rest, start)
            }
        };
        let remaining = match (&start, state) {
            (Some(start), _) => start.length,
            (None, Some(state)) => state.length.saturating_sub(len_u32(state.partial.len())),
            (None, None) => 0,
        };
        let payload_len = to_usize(remaining.min(self.chunk_size));
        if rest.len() < payload_len {
            return Ok(None);
        }
        Ok(Some(Chunk {
            csid,
            slot,
            header_len: input.len().saturating_sub(rest.len()),
            payload_len,
            start,
        }))
    }

    /// Consumes the chunk at `input[*read..]` that
    /// [`next_chunk`](Self::next_chunk) found complete; returns the message
    /// it completes, if any.
    #[inline]
    fn take_chunk(&mut self, read: &mut usize, chunk: &Chunk) -> Result<Option<RawMessage>, Error> {
        let payload_start = read.saturating_add(chunk.header_len);
        let end = payload_start.saturating_add(chunk.payload_len);
        if self.input.len() < end {
            // Not reached: `next_chunk` checked this on the same input.
            return Ok(None);
        }
        let slot = match chunk.slot {
            Some(slot) => slot,
            None => self.streams.insert(chunk.csid, ChunkStream::default()),
        };
        let Some(stream) = self.streams.slot_mut(slot) else {
            return Err(ProtocolError::MissingHeader { csid: chunk.csid }.into());
        };
        if let Some(start) = &chunk.start {
            if !stream.partial.is_empty() {
                // A new message while one is incomplete: an implicit abort.
                self.partial_bytes = self.partial_bytes.saturating_sub(stream.discard());
            }
            stream.start(start);
            if to_usize(start.length) == chunk.payload_len {
                // The whole message is in this chunk: hand out a slice of the input.
                let mut payload = self.input.split_to(end).freeze();
                payload.advance(payload_start);
                *read = 0;
                return Ok(Some(RawMessage {
                    header: start.header,
                    payload,
                }));
            }
            // Grow with what arrives; reserve up front only what a small
            // message needs, so a header alone cannot make us allocate much.
            stream
                .partial
                .reserve(to_usize(start.length).min(PARTIAL_RESERVE.max(chunk.payload_len)));
        }
        let payload = self.input.get(payload_start..end).unwrap_or_default();
        stream.partial.extend_from_slice(payload);
        *read = end;
        let taken = take_continuations(&self.input, read, stream, chunk.csid, self.chunk_size);
        self.partial_bytes = self
            .partial_bytes
            .saturating_add(chunk.payload_len)
            .saturating_add(taken);
        if stream.partial.len() < to_usize(stream.length) {
            return Ok(None);
        }
        self.partial_bytes = self.partial_bytes.saturating_sub(stream.partial.len());
        Ok(Some(RawMessage {
            header: stream.header(chunk.csid),
            payload: stream.partial.split().freeze(),
        }))
    }

    /// Applies Set Chunk Size and Abort (spec §5.4.1, §5.4.2). A payload
    /// shorter than 4 bytes is left to the message layer to reject.
    fn apply_control(&mut self, message: &RawMessage) -> Result<(), Error> {
        let header = &message.header;
        if header.csid != CONTROL_CSID || header.stream_id != 0 {
            return Ok(());
        }
        let Some(&value) = message.payload.first_chunk::<4>() else {
            return Ok(());
        };
        let value = u32::from_be_bytes(value);
        match header.type_id {
            SET_CHUNK_SIZE => self.set_chunk_size(value)?,
            ABORT => {
                if let Some(stream) = self.streams.get_mut(value) {
                    self.partial_bytes = self.partial_bytes.saturating_sub(stream.discard());
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn check_length(&self, length: u32) -> Result<(), LimitExceeded> {
        if length > self.limits.max_message_size {
            return Err(LimitExceeded::new(
                Limit::MessageSize,
                self.limits.max_message_size,
            ));
        }
        Ok(())
    }
}

/// Message type id of Set Chunk Size.
const SET_CHUNK_SIZE: u8 = 1;
/// Message type id of Abort.
const ABORT: u8 = 2;

/// Capacity reserved for a message of several chunks when its first chunk
/// arrives: enough for typical messages, small enough that headers alone
/// (64 chunk streams × 4 KiB) cannot make a peer hold much more memory than
/// it sent. Larger messages grow as their chunks arrive.
const PARTIAL_RESERVE: usize = 4096;

/// Least room made in the input buffer when it is full (see [`Decoder::push`]).
const MIN_INPUT_ROOM: usize = 4096;
/// Most room made in the input buffer beyond what one push needs.
const MAX_INPUT_ROOM: usize = 64 * 1024;

/// What the decoder remembers of one chunk stream.
#[derive(Debug, Default)]
struct ChunkStream {
    /// Absolute timestamp of the last message started.
    timestamp: u32,
    /// The delta a fmt-3 new message applies.
    delta: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// The last fmt 0/1/2 header had an extended timestamp, so fmt-3 chunks do too.
    extended: bool,
    /// The message being reassembled; empty between messages (a message in
    /// progress always holds at least one byte).
    partial: BytesMut,
}

impl ChunkStream {
    fn start(&mut self, start: &Start) {
        self.timestamp = start.header.timestamp;
        self.delta = start.delta;
        self.length = start.length;
        self.type_id = start.header.type_id;
        self.stream_id = start.header.stream_id;
        self.extended = start.extended;
    }

    /// Drops the partial message and its buffer (so an aborted message's
    /// capacity is not kept where [`Decoder::buffered`] cannot see it);
    /// returns how many bytes it held.
    fn discard(&mut self) -> usize {
        std::mem::take(&mut self.partial).len()
    }

    fn fields(&self) -> Fields {
        Fields {
            timestamp: 0,
            length: self.length,
            type_id: self.type_id,
            stream_id: self.stream_id,
        }
    }

    fn header(&self, csid: u32) -> Header {
        Header {
            csid,
            timestamp: self.timestamp,
            type_id: self.type_id,
            stream_id: self.stream_id,
        }
    }
}

/// One complete chunk waiting in the input.
#[derive(Debug)]
struct Chunk {
    csid: u32,
    /// Where the chunk stream's state is, if it had any before this chunk.
    slot: Option<usize>,
    /// Basic header, message header and extended timestamp.
    header_len: usize,
    payload_len: usize,
    /// Set when this chunk starts a message.
    start: Option<Start>,
}

/// The header state a message-starting chunk sets.
#[derive(Debug)]
struct Start {
    header: Header,
    delta: u32,
    length: u32,
    extended: bool,
}

impl Start {
    /// `fields.timestamp` is the 24-bit field as sent, which decides whether
    /// later fmt-3 chunks carry an extended timestamp.
    fn new(csid: u32, timestamp: u32, delta: u32, fields: &Fields) -> Self {
        Self {
            header: Header {
                csid,
                timestamp,
                type_id: fields.type_id,
                stream_id: fields.stream_id,
            },
            delta,
            length: fields.length,
            extended: fields.timestamp == EXTENDED_TIMESTAMP,
        }
    }
}

/// Copies the chunks continuing `stream`'s message that follow back to back
/// in `input[*read..]`, the usual shape at small chunk sizes, without the
/// general path's bookkeeping; returns how many payload bytes it took.
/// Only the 1-byte basic header form (`csid` below 64) is recognised; any
/// other chunk is left to the general path.
#[inline]
fn take_continuations(
    input: &[u8],
    read: &mut usize,
    stream: &mut ChunkStream,
    csid: u32,
    chunk_size: u32,
) -> usize {
    let Ok(id) = u8::try_from(csid) else {
        return 0;
    };
    if id > 63 {
        return 0;
    }
    let marker = 0xC0 | id;
    let header_len = if stream.extended { 5 } else { 1 };
    let mut taken = 0;
    loop {
        let remaining = to_usize(stream.length).saturating_sub(stream.partial.len());
        let end = read
            .saturating_add(header_len)
            .saturating_add(remaining.min(to_usize(chunk_size)));
        if remaining == 0 || input.get(*read) != Some(&marker) {
            return taken;
        }
        let Some(payload) = input.get(read.saturating_add(header_len)..end) else {
            return taken;
        };
        stream.partial.extend_from_slice(payload);
        taken += payload.len();
        *read = end;
    }
}

/// Maps a streaming parse to "parsed", "needs more bytes" (`None`) or an error.
#[inline]
fn streaming<T>(parsed: Parsed<'_, T>) -> Result<Option<(&[u8], T)>, DecodeError> {
    match parsed {
        Ok(done) => Ok(Some(done)),
        Err(nom::Err::Incomplete(_)) => Ok(None),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e),
    }
}

/// Reads the extended timestamp that follows when the 24-bit `field` is `0xFFFFFF`.
#[inline]
fn extended(input: &[u8], field: u32) -> Result<Option<(&[u8], u32)>, DecodeError> {
    if field == EXTENDED_TIMESTAMP {
        streaming(header::extended_timestamp(input))
    } else {
        Ok(Some((input, field)))
    }
}

#[inline]
fn to_usize(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[inline]
fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use hex_literal::hex;

    use super::*;

    fn decoder() -> Decoder {
        Decoder::new(DecoderLimits::default())
    }

    fn drain(decoder: &mut Decoder) -> Result<Vec<RawMessage>, Error> {
        let mut messages = Vec::new();
        while let Some(message) = decoder.next_message()? {
            messages.push(message);
        }
        Ok(messages)
    }

    fn decode(input: &[u8]) -> Result<Vec<RawMessage>, Error> {
        let mut decoder = decoder();
        decoder.push(input);
        drain(&mut decoder)
    }

    fn message(
        csid: u32,
        timestamp: u32,
        type_id: u8,
        stream_id: u32,
        payload: &[u8],
    ) -> RawMessage {
        RawMessage {
            header: Header {
                csid,
                timestamp,
                type_id,
                stream_id,
            },
            payload: Bytes::copy_from_slice(payload),
        }
    }

    fn body(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 1) as u8).collect()
    }

    /// protocol.md §5.5: the AMS STATUS body.
    const AMS_BODY: [u8; 54] = hex!(
        "00 00 00 00 00 00 00 00 00 00 00 00 00 00 07 00 00 00 23 00 1A"
        "53 68 61 72 65 64 4F 62 6A 65 63 74 2E 4E 6F 4F 62 6A 65 63 74 46 6F 75 6E 64"
        "00 05 65 72 72 6F 72"
    );

    /// protocol.md §5.6 A: the USE body.
    const USE_BODY: [u8; 23] =
        hex!("00 04 63 68 61 74 00 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00");

    #[test]
    fn so_message_over_two_chunks() {
        // protocol.md §2.4: 182 bytes at chunk size 128 on csid 3 = 195 wire bytes.
        let payload = body(182);
        let mut wire = hex!("03 00 00 00 00 00 B6 13 00 00 00 00").to_vec();
        wire.extend_from_slice(&payload[..128]);
        wire.push(0xC3);
        wire.extend_from_slice(&payload[128..]);
        assert_eq!(wire.len(), 195);
        let mut decoder = decoder();
        decoder.push(&wire);
        assert_eq!(
            drain(&mut decoder),
            Ok(vec![message(3, 0, 0x13, 0, &payload)])
        );
        assert_eq!(decoder.bytes_received(), 195);
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn use_example() {
        let mut wire = hex!("03 00 00 00 00 00 17 13 00 00 00 00").to_vec();
        wire.extend_from_slice(&USE_BODY);
        assert_eq!(decode(&wire), Ok(vec![message(3, 0, 19, 0, &USE_BODY)]));
    }

    #[test]
    fn ams_extended_timestamp() {
        let mut wire = hex!("04 FF FF FF 00 00 36 13 00 00 00 00 3E DF 48 88").to_vec();
        wire.extend_from_slice(&AMS_BODY);
        assert_eq!(
            decode(&wire),
            Ok(vec![message(4, 0x3EDF_4888, 0x13, 0, &AMS_BODY)])
        );
    }

    #[test]
    fn wide_chunk_stream_ids() {
        let wire = hex!(
            "00 00  00 00 01 00 00 01 08 01 00 00 00  AA"       // csid 64, 2-byte form
            "01 00 00  00 00 02 00 00 01 08 01 00 00 00  BB"    // csid 64, 3-byte form
            "00 FF  00 00 03 00 00 01 08 01 00 00 00  CC"       // csid 319
            "01 00 01  00 00 04 00 00 01 08 01 00 00 00  DD"    // csid 320
            "01 FF FF  00 00 05 00 00 01 08 01 00 00 00  EE"    // csid 65,599
            "C1 FF FF  FF"                                      // fmt 3 on 65,599
        );
        assert_eq!(
            decode(&wire),
            Ok(vec![
                message(64, 1, 8, 1, &[0xAA]),
                message(64, 2, 8, 1, &[0xBB]),
                message(319, 3, 8, 1, &[0xCC]),
                message(320, 4, 8, 1, &[0xDD]),
                message(65_599, 5, 8, 1, &[0xEE]),
                message(65_599, 10, 8, 1, &[0xFF]),
            ])
        );
    }

    #[test]
    fn timestamps_follow_fmt() {
        let wire = hex!(
            "03 00 03 E8 00 00 01 14 05 00 00 00  01"   // fmt 0: ts 1000, stream 5
            "C3  02"                                    // fmt 3 new: delta 1000 again → 2000
            "83 00 00 05  03"                           // fmt 2: +5 → 2005
            "C3  04"                                    // fmt 3: +5 → 2010
            "43 00 00 07 00 00 02 12  05 06"            // fmt 1: +7, length 2, type 18 → 2017
            "C3  07 08"                                 // fmt 3: +7 → 2024, length 2
            "04 00 00 0A 00 00 01 08 00 00 00 00  09"   // csid 4 has its own state
            "C4  0A"                                    // → 20
        );
        assert_eq!(
            decode(&wire),
            Ok(vec![
                message(3, 1000, 20, 5, &[1]),
                message(3, 2000, 20, 5, &[2]),
                message(3, 2005, 20, 5, &[3]),
                message(3, 2010, 20, 5, &[4]),
                message(3, 2017, 18, 5, &[5, 6]),
                message(3, 2024, 18, 5, &[7, 8]),
                message(4, 10, 8, 0, &[9]),
                message(4, 20, 8, 0, &[10]),
            ])
        );
    }

    #[test]
    fn extended_timestamp_repeats_on_fmt3() {
        let payload = body(200);
        let mut wire = hex!("03 FF FF FF 00 00 C8 13 00 00 00 00 01 00 00 00").to_vec();
        wire.extend_from_slice(&payload[..128]);
        wire.extend_from_slice(&hex!("C3 01 00 00 00"));
        wire.extend_from_slice(&payload[128..]);
        // A fmt-3 new message applies the fmt-0 time again and still carries the 4 bytes.
        wire.extend_from_slice(&hex!("C3 01 00 00 00"));
        wire.extend_from_slice(&payload[..128]);
        wire.extend_from_slice(&hex!("C3 01 00 00 00"));
        wire.extend_from_slice(&payload[128..]);
        // fmt 2 with an extended delta, then a small one resets the flag.
        wire.extend_from_slice(&hex!("83 FF FF FF FF 00 00 00"));
        wire.extend_from_slice(&payload[..128]);
        wire.extend_from_slice(&hex!("C3 FF 00 00 00"));
        wire.extend_from_slice(&payload[128..]);
        wire.extend_from_slice(&hex!("83 00 00 0A"));
        wire.extend_from_slice(&payload[..128]);
        wire.extend_from_slice(&hex!("C3"));
        wire.extend_from_slice(&payload[128..]);
        assert_eq!(
            decode(&wire),
            Ok(vec![
                message(3, 0x0100_0000, 19, 0, &payload),
                message(3, 0x0200_0000, 19, 0, &payload),
                message(
                    3,
                    0xFF00_0000_u32.wrapping_add(0x0200_0000),
                    19,
                    0,
                    &payload
                ),
                message(3, 0x0100_000A, 19, 0, &payload),
            ])
        );
    }

    #[test]
    fn timestamps_wrap() {
        let wire = hex!(
            "03 FF FF FF 00 00 01 08 00 00 00 00 FF FF FF F0  01"
            "83 00 00 20  02"
        );
        assert_eq!(
            decode(&wire),
            Ok(vec![
                message(3, 0xFFFF_FFF0, 8, 0, &[1]),
                message(3, 0x10, 8, 0, &[2]),
            ])
        );
    }

    #[test]
    fn interleaved_chunk_streams() {
        let a = body(300);
        let b: Vec<u8> = body(130).iter().map(|x| !x).collect();
        let mut wire = hex!("03 00 00 01 00 01 2C 09 01 00 00 00").to_vec();
        wire.extend_from_slice(&a[..128]);
        wire.extend_from_slice(&hex!("05 00 00 02 00 00 82 08 01 00 00 00"));
        wire.extend_from_slice(&b[..128]);
        wire.push(0xC3);
        wire.extend_from_slice(&a[128..256]);
        wire.extend_from_slice(&hex!("02 00 00 00 00 00 04 05 00 00 00 00 00 26 25 A0"));
        wire.push(0xC5);
        wire.extend_from_slice(&b[128..]);
        wire.push(0xC3);
        wire.extend_from_slice(&a[256..]);
        let mut decoder = decoder();
        decoder.push(&wire);
        assert_eq!(
            drain(&mut decoder),
            Ok(vec![
                message(2, 0, 5, 0, &hex!("00 26 25 A0")),
                message(5, 2, 8, 1, &b),
                message(3, 1, 9, 1, &a),
            ])
        );
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn set_chunk_size_applies_to_the_next_chunk() {
        let payload = body(300);
        let mut wire = hex!("02 00 00 00 00 00 04 01 00 00 00 00 00 00 10 00").to_vec();
        wire.extend_from_slice(&hex!("03 00 00 00 00 01 2C 13 00 00 00 00"));
        wire.extend_from_slice(&payload);
        let mut decoder = decoder();
        decoder.push(&wire);
        assert_eq!(
            drain(&mut decoder),
            Ok(vec![
                message(2, 0, 1, 0, &hex!("00 00 10 00")),
                message(3, 0, 19, 0, &payload),
            ])
        );
        assert_eq!(decoder.chunk_size(), 4096);
    }

    #[test]
    fn control_messages_elsewhere_are_only_returned() {
        // Type 1 on csid 3 or on stream 1 is not a Set Chunk Size for us.
        let wire = hex!(
            "03 00 00 00 00 00 04 01 00 00 00 00 00 00 00 01"
            "02 00 00 00 00 00 04 01 01 00 00 00 00 00 00 01"
            "02 00 00 00 00 00 02 01 00 00 00 00 00 01"
        );
        let mut decoder = decoder();
        decoder.push(&wire);
        assert_eq!(drain(&mut decoder).map(|m| m.len()), Ok(3));
        assert_eq!(decoder.chunk_size(), 128);
    }

    #[test]
    fn set_chunk_size_bounds() {
        let mut decoder = decoder();
        assert_eq!(
            decoder.set_chunk_size(0),
            Err(ProtocolError::InvalidChunkSize(0))
        );
        assert_eq!(
            decoder.set_chunk_size(0x8000_0000),
            Err(ProtocolError::InvalidChunkSize(0x8000_0000))
        );
        assert_eq!(decoder.set_chunk_size(1), Ok(()));
        assert_eq!(decoder.set_chunk_size(0x7FFF_FFFF), Ok(()));
        assert_eq!(decoder.chunk_size(), 0x7FFF_FFFF);
    }

    #[test]
    fn hostile_chunk_size_zero() {
        let wire = hex!("02 00 00 00 00 00 04 01 00 00 00 00 00 00 00 00");
        assert_eq!(
            decode(&wire),
            Err(ProtocolError::InvalidChunkSize(0).into())
        );
        let wire = hex!("02 00 00 00 00 00 04 01 00 00 00 00 FF FF FF FF");
        assert_eq!(
            decode(&wire),
            Err(ProtocolError::InvalidChunkSize(u32::MAX).into())
        );
    }

    #[test]
    fn hostile_continuation_without_header() {
        for first in [0xC3, 0x83, 0x43] {
            assert_eq!(
                decode(&[first]),
                Err(ProtocolError::MissingHeader { csid: 3 }.into())
            );
        }
        assert_eq!(
            decode(&hex!("C1 00 01")),
            Err(ProtocolError::MissingHeader { csid: 320 }.into())
        );
    }

    #[test]
    fn hostile_message_length_refused_from_its_header() {
        let mut decoder = Decoder::new(DecoderLimits {
            max_message_size: 1000,
            max_chunk_streams: 8,
        });
        decoder.set_chunk_size(4096).unwrap();
        decoder.push(&hex!("04 00 00 00 00 03 E8 13 00 00 00 00"));
        assert_eq!(decoder.next_message(), Ok(None));
        decoder.push(&body(1000));
        assert_eq!(decoder.next_message().map(|m| m.is_some()), Ok(true));
        // fmt 1 is checked too, with no payload byte sent.
        decoder.push(&hex!("44 00 00 00 00 03 E9 13"));
        assert_eq!(
            decoder.next_message(),
            Err(LimitExceeded::new(Limit::MessageSize, 1000).into())
        );
        // The default refuses a 16 MB message and accepts 1 MB.
        let mut wire = hex!("03 00 00 00 FF FF FF 13 00 00 00 00").to_vec();
        assert_eq!(
            decode(&wire),
            Err(
                LimitExceeded::new(Limit::MessageSize, DecoderLimits::DEFAULT_MAX_MESSAGE_SIZE)
                    .into()
            )
        );
        wire = hex!("03 00 00 00 10 00 00 13 00 00 00 00").to_vec();
        assert_eq!(decode(&wire), Ok(vec![]));
    }

    #[test]
    fn hostile_too_many_chunk_streams() {
        let mut decoder = Decoder::new(DecoderLimits {
            max_message_size: 1000,
            max_chunk_streams: 3,
        });
        decoder.push(&hex!(
            "03 00 00 00 00 00 00 08 00 00 00 00"
            "04 00 00 00 00 00 00 08 00 00 00 00"
            "00 00  00 00 00 00 00 00 08 00 00 00 00"
            "04 00 00 00 00 00 00 08 00 00 00 00"
            "05"
        ));
        assert_eq!(
            drain(&mut decoder).map(|m| m.len()),
            Err(LimitExceeded::new(Limit::ChunkStreams, 3).into())
        );
    }

    #[test]
    fn abort_discards_the_partial_message() {
        let payload = body(300);
        let mut wire = hex!("03 00 00 00 00 01 2C 13 00 00 00 00").to_vec();
        wire.extend_from_slice(&payload[..128]);
        let mut decoder = decoder();
        decoder.push(&wire);
        assert_eq!(decoder.next_message(), Ok(None));
        assert_eq!(decoder.buffered(), 128);
        decoder.push(&hex!("02 00 00 00 00 00 04 02 00 00 00 00 00 00 00 03"));
        assert_eq!(
            decoder.next_message(),
            Ok(Some(message(2, 0, 2, 0, &hex!("00 00 00 03"))))
        );
        assert_eq!(decoder.buffered(), 0);
        // The next fmt-3 chunk starts a new message with the same header.
        let mut wire = vec![0xC3];
        wire.extend_from_slice(&payload[..128]);
        wire.push(0xC3);
        wire.extend_from_slice(&payload[128..256]);
        wire.push(0xC3);
        wire.extend_from_slice(&payload[256..]);
        decoder.push(&wire);
        assert_eq!(
            drain(&mut decoder),
            Ok(vec![message(3, 0, 19, 0, &payload)])
        );
    }

    #[test]
    fn new_header_mid_message_is_an_implicit_abort() {
        let payload = body(300);
        let mut wire = hex!("03 00 00 00 00 01 2C 13 00 00 00 00").to_vec();
        wire.extend_from_slice(&payload[..128]);
        wire.extend_from_slice(&hex!("43 00 00 05 00 00 02 14 AA BB"));
        let mut decoder = decoder();
        decoder.push(&wire);
        assert_eq!(
            drain(&mut decoder),
            Ok(vec![message(3, 5, 20, 0, &hex!("AA BB"))])
        );
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn partial_input_is_not_an_error() {
        let mut wire = hex!("04 FF FF FF 00 00 36 13 00 00 00 00 3E DF 48 88").to_vec();
        wire.extend_from_slice(&AMS_BODY);
        let mut decoder = decoder();
        for (i, byte) in wire.iter().enumerate() {
            assert_eq!(decoder.next_message(), Ok(None));
            assert_eq!(decoder.buffered(), i);
            decoder.push(&[*byte]);
        }
        assert_eq!(
            decoder.next_message(),
            Ok(Some(message(4, 0x3EDF_4888, 0x13, 0, &AMS_BODY)))
        );
        assert_eq!(decoder.bytes_received(), 70);
    }

    #[test]
    fn hostile_endless_one_byte_chunks_stay_bounded() {
        let mut decoder = Decoder::new(DecoderLimits {
            max_message_size: 1000,
            max_chunk_streams: 8,
        });
        decoder.push(&hex!("02 00 00 00 00 00 04 01 00 00 00 00 00 00 00 01"));
        decoder.push(&hex!("03 00 00 00 00 03 E8 13 00 00 00 00 00"));
        let mut messages = drain(&mut decoder).unwrap().len();
        let mut most = 0;
        for _ in 0..20_000 {
            decoder.push(&hex!("C3 00"));
            messages += drain(&mut decoder).unwrap().len();
            most = most.max(decoder.buffered());
        }
        assert_eq!(messages, 1 + 20_001 / 1000);
        assert!(most < 1000, "held {most} bytes");
        // And a peer that never completes a header holds only what it sent.
        decoder.push(&hex!("03 00 00"));
        assert_eq!(decoder.next_message(), Ok(None));
    }

    #[test]
    fn empty_messages() {
        let wire = hex!("03 00 00 01 00 00 00 08 00 00 00 00  C3 C3");
        assert_eq!(
            decode(&wire),
            Ok(vec![
                message(3, 1, 8, 0, &[]),
                message(3, 2, 8, 0, &[]),
                message(3, 3, 8, 0, &[]),
            ])
        );
    }
}
