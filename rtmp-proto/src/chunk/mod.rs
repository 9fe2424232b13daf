//! The RTMP chunk stream (spec §5.3): messages cut into chunks, chunks of
//! different chunk streams interleaved on one connection.
//!
//! [`Decoder`] reassembles messages from any split of the byte stream;
//! [`Encoder`] cuts messages into chunks with the shortest headers the
//! receiver can expand again.
//!
//! Rules worth knowing (docs/PROTOCOL.md §2):
//!
//! - **Timestamps.** fmt 0 carries the absolute time, fmt 1 and 2 a delta; a
//!   fmt-3 chunk that starts a new message applies the last delta again, and
//!   after a fmt 0 that delta is the fmt-0 timestamp itself (spec §5.3.1.2.4).
//!   Arithmetic wraps at 2^32 ms.
//! - **Extended timestamps.** A 24-bit field of `0xFFFFFF` means a 4-byte
//!   value follows. Like FFmpeg and Red5, the decoder remembers per chunk
//!   stream whether the last fmt 0/1/2 header was extended and then reads the
//!   4 bytes on every fmt-3 chunk too; the encoder writes them there.
//! - **Control messages.** The decoder applies Set Chunk Size (type 1) and
//!   Abort (type 2) arriving on chunk stream 2, message stream 0, itself, so
//!   the next chunk is read with the new size; it still returns them.
//! - **Implicit abort.** A fmt 0/1/2 header on a chunk stream whose message is
//!   still incomplete discards the partial message and starts the new one (the
//!   spec is silent; rejecting it would gain nothing).
//! - **Limits.** A message longer than [`DecoderLimits::max_message_size`] is
//!   refused as soon as its header arrives, before any byte of it is kept;
//!   more than [`DecoderLimits::max_chunk_streams`] chunk streams is refused.
//!   [`Decoder::buffered`] counts what a peer makes the decoder hold (unread
//!   input and partial messages); the memory behind it is at most about twice
//!   that, plus up to 64 KiB of room in the input buffer and 4 KiB reserved
//!   per partial message. Aborted messages give their memory back.
//!
//! ```
//! use bytes::BytesMut;
//! use rtmp_proto::chunk::{Decoder, DecoderLimits, Encoder, Header};
//!
//! let header = Header { csid: 3, timestamp: 0, type_id: 19, stream_id: 0 };
//! let mut wire = BytesMut::new();
//! Encoder::new().encode(&header, &[0xAB; 300], &mut wire);
//! assert_eq!(wire.len(), 12 + 300 + 2); // three chunks of at most 128 bytes
//!
//! let mut decoder = Decoder::new(DecoderLimits::default());
//! decoder.push(&wire[..200]);
//! assert_eq!(decoder.next_message()?, None); // needs more bytes
//! decoder.push(&wire[200..]);
//! let message = decoder.next_message()?.expect("the whole message");
//! assert_eq!(message.header, header);
//! assert_eq!(message.payload.len(), 300);
//! # Ok::<(), rtmp_proto::Error>(())
//! ```

mod decoder;
mod encoder;
mod header;
mod streams;
#[cfg(test)]
mod tests;

use bytes::Bytes;

pub use decoder::Decoder;
pub use encoder::Encoder;

/// The chunk size both directions start with (spec §5.4.1).
pub const DEFAULT_CHUNK_SIZE: u32 = 128;

/// The largest chunk size Set Chunk Size can announce: its top bit must be 0.
pub(crate) const MAX_CHUNK_SIZE: u32 = 0x7FFF_FFFF;

/// The largest message the 24-bit length field can carry (16 MiB − 1).
pub(crate) const MAX_MESSAGE_SIZE: u32 = 0xFF_FFFF;

/// The chunk stream id reserved for protocol control messages (spec §5.4).
pub(crate) const CONTROL_CSID: u32 = 2;

/// The largest chunk stream id: the 3-byte basic header's 65535 + 64.
pub(crate) const MAX_CSID: u32 = 65_599;

/// The header of one message, as the chunk layer carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Header {
    /// Chunk stream id, 2 to 65,599 (2 carries protocol control messages).
    pub csid: u32,
    /// Absolute timestamp in milliseconds, wrapping at 2^32.
    pub timestamp: u32,
    /// Message type id (1 = Set Chunk Size … 19 = SharedObject AMF0 …).
    pub type_id: u8,
    /// Message stream id (0 for the connection itself).
    pub stream_id: u32,
}

/// The 12-byte header of a message sent as one fmt-0 chunk: every field
/// written out, nothing relative to what went before on its chunk stream.
///
/// Bytes framed this way are the same for every connection whose encoder
/// never uses `header.csid` and whose chunk size is at least the
/// payload's length, so a server can write one message to many sockets
/// without a per-connection [`Encoder`]. `None` when it does not fit:
/// `csid` outside 2..=63 (a one-byte basic header), a timestamp that needs
/// the extended field, or a payload over 16,777,215 bytes.
///
/// ```
/// use bytes::BytesMut;
/// use rtmp_proto::chunk::{Encoder, Header, single_chunk_header};
///
/// let header = Header { csid: 5, timestamp: 0, type_id: 19, stream_id: 0 };
/// let body = [0xAB; 100];
/// let mut wire = BytesMut::new();
/// Encoder::new().encode(&header, &body, &mut wire);
/// let standalone = single_chunk_header(&header, body.len()).expect("fits");
/// assert_eq!(&wire[..12], &standalone); // what a fresh encoder writes
/// ```
pub fn single_chunk_header(header: &Header, payload_len: usize) -> Option<[u8; 12]> {
    let length = u32::try_from(payload_len)
        .ok()
        .filter(|&length| length <= MAX_MESSAGE_SIZE)?;
    let csid = u8::try_from(header.csid)
        .ok()
        .filter(|c| (2..64).contains(c))?;
    if header.timestamp >= header::EXTENDED_TIMESTAMP {
        return None;
    }
    let [_, t0, t1, t2] = header.timestamp.to_be_bytes();
    let [_, l0, l1, l2] = length.to_be_bytes();
    let [s0, s1, s2, s3] = header.stream_id.to_le_bytes();
    Some([csid, t0, t1, t2, l0, l1, l2, header.type_id, s0, s1, s2, s3])
}

/// One reassembled message: its header and its payload bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// Where and when the message was sent, and its type.
    pub header: Header,
    /// The message body, undecoded.
    pub payload: Bytes,
}

/// Limits the decoder enforces to keep a hostile peer's memory bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderLimits {
    /// Largest message accepted, in bytes; longer ones are refused from their header.
    pub max_message_size: u32,
    /// Most chunk streams that may hold state at once.
    pub max_chunk_streams: usize,
}

impl DecoderLimits {
    /// Default message size cap: 8 MiB. Accepts a SharedObject holding a 1 MB
    /// value with room to spare and refuses a 16 MB message (Red5 caps at
    /// 3 MiB, the wire at 16 MiB − 1).
    pub const DEFAULT_MAX_MESSAGE_SIZE: u32 = 8 * 1024 * 1024;
    /// Default chunk stream cap: 64. Flash uses a handful (2 to about 8); an
    /// idle chunk stream costs about 80 bytes, a busy one its partial message.
    pub const DEFAULT_MAX_CHUNK_STREAMS: usize = 64;
}

impl Default for DecoderLimits {
    fn default() -> Self {
        Self {
            max_message_size: Self::DEFAULT_MAX_MESSAGE_SIZE,
            max_chunk_streams: Self::DEFAULT_MAX_CHUNK_STREAMS,
        }
    }
}
