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

    /// The messages being reassembled: for each, a number that stays its
    /// chunk stream's, and the bytes it holds so far. Empty when no
    /// message is partial (checked without looking at any stream).
    pub fn partial_messages(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let any = self.partial_bytes > 0;
        self.streams
            .iter()
            .take_while(move |_| any)
            .filter(|(_, stream)| !stream.partial.is_empty())
            .map(|(at, stream)| (at, stream.partial.len()))
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
                // last fmt 0/1/2 (docs/PROTOCOL.md §2.3). The value itself is not
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
mod tests;
