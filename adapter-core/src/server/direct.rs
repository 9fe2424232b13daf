//! Direct writes: the engine thread writes a client's SharedObject
//! updates straight to its socket, when the client's connection task has
//! nothing of its own waiting to go out.
//!
//! A hand-over that finds a client's queue empty and its socket free
//! writes that client's share in one vectored write (`writev`) of shared
//! bodies and 12-byte headers: no copy, no lock beyond the client's
//! mailbox, no task wake-up. This is the path of almost every delivery
//! to a client that keeps up. Whatever the socket does not take (it is
//! full, or the share holds something other than a SharedObject message)
//! goes into the client's queue as before; a message written in part
//! leaves its rest in the mailbox, which the connection writes before
//! anything else.
//!
//! # Framing
//!
//! Each message goes out as one chunk with a fmt-0 header on its own
//! chunk stream, [`UPDATE_CSID`], which the connection's encoder never
//! uses: the bytes depend on nothing the connection sent before, so one
//! header serves every recipient of an update, and the connection's own
//! header compression on its chunk streams is untouched. Messages longer
//! than the connection's chunk size take the queue.
//!
//! # Who writes
//!
//! The socket has two writers, the engine thread and the connection's
//! task, and bytes of one message must never be split by the other's.
//! The rule, kept under the mailbox lock: the engine writes only while
//! the connection has **not claimed** the socket, its queue is empty and
//! no rest of a message it cut waits for the connection; the connection
//! claims it before any byte of its own enters its write buffer (taking
//! the rest of a partly written message first), and releases it once
//! everything it had is written. See `MailboxState::claimed`.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use rtmp_proto::chunk::{Header, single_chunk_header};
use so_engine::server::{ChangeKey, ClientCommand};

use crate::runtime::SocketWriter;

/// The chunk stream of directly written SharedObject messages: one no
/// connection's encoder uses (they use 2 for control and 3 for commands
/// and SharedObject messages), so every message on it can carry a whole
/// fmt-0 header.
pub(crate) const UPDATE_CSID: u32 = 5;

/// Most bytes framed for one `send`: a client's share beyond it takes
/// several (a single longer message still goes in one).
const BYTES_PER_WRITE: usize = 64 << 10;

/// The length of a fmt-0 header with a one-byte basic header.
const FRAME_HEADER: usize = 12;

/// A client's socket as the engine thread writes to it.
pub(crate) struct Direct {
    socket: Arc<dyn SocketWriter>,
    /// The message type of the client's SharedObject encoding (16 or 19).
    type_id: u8,
    /// The connection's chunk size: a longer message is not written here.
    chunk_size: usize,
}

/// What [`Direct::write`] did with a client's share.
#[derive(Debug, Default)]
pub(crate) struct Wrote {
    /// How many messages from the front of the share it took: written
    /// whole, or in part (the last one, when `rest` is set).
    pub(crate) taken: usize,
    /// How many socket writes took bytes.
    pub(crate) writes: usize,
    /// The bytes of the last taken message the socket did not take.
    pub(crate) rest: Option<Bytes>,
    /// The socket failed: write nothing more to it here (the connection
    /// finds the error itself).
    pub(crate) failed: Option<io::Error>,
}

impl Direct {
    /// `socket` is the connection's socket (shared with its task),
    /// `type_id` the message type of its SharedObject encoding and
    /// `chunk_size` the chunk size it announced.
    pub(crate) fn new(socket: Arc<dyn SocketWriter>, type_id: u8, chunk_size: u32) -> Self {
        Self {
            socket,
            type_id,
            chunk_size: usize::try_from(chunk_size).unwrap_or(usize::MAX),
        }
    }

    /// Writes the SharedObject messages at the front of `share`, in
    /// order, as far as the socket takes them without waiting, framed
    /// into `scratch` (the engine's, kept for its capacity) and written
    /// with one `send` per [`BYTES_PER_WRITE`]: one copy of each small
    /// body costs less than the kernel's vectored-write path.
    pub(crate) fn write(
        &self,
        share: &[(ClientCommand, Option<ChangeKey>)],
        scratch: &mut Vec<u8>,
    ) -> Wrote {
        let mut wrote = Wrote::default();
        let mut rest = share;
        loop {
            // Frame as many whole messages as fit (at least one).
            scratch.clear();
            let mut framed = 0;
            for (command, _) in rest {
                let ClientCommand::SharedObject(body) = command else {
                    break;
                };
                // A longer body needs continuation chunks: the queue frames it.
                let Some(header) = self
                    .header(body.len())
                    .filter(|_| body.len() <= self.chunk_size)
                else {
                    break;
                };
                if framed > 0 && scratch.len() + header.len() + body.len() > BYTES_PER_WRITE {
                    break;
                }
                scratch.extend_from_slice(&header);
                scratch.extend_from_slice(body);
                framed += 1;
            }
            if framed == 0 {
                return wrote;
            }
            let written = loop {
                match self.socket.try_write(scratch) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    done => break done,
                }
            };
            let written = match written {
                Ok(0) => return wrote,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return wrote,
                Err(e) => {
                    wrote.failed = Some(e);
                    return wrote;
                }
            };
            wrote.writes += 1;
            if written == scratch.len() {
                wrote.taken += framed;
                rest = &rest[framed..];
                continue;
            }
            // The socket took part: count the whole messages, keep the
            // rest of the one it cut.
            let mut start = 0;
            for (command, _) in &rest[..framed] {
                let ClientCommand::SharedObject(body) = command else {
                    unreachable!("only SharedObject messages are framed");
                };
                let end = start + FRAME_HEADER + body.len();
                if written < end {
                    if written > start {
                        wrote.taken += 1;
                        wrote.rest = Some(Bytes::copy_from_slice(&scratch[written..end]));
                    }
                    break;
                }
                wrote.taken += 1;
                start = end;
            }
            return wrote;
        }
    }

    /// The fmt-0 header of a message of `len` bytes.
    fn header(&self, len: usize) -> Option<[u8; FRAME_HEADER]> {
        let header = Header {
            csid: UPDATE_CSID,
            // SharedObject messages carry no meaningful time (Flash ignores
            // it); 0 keeps every recipient's bytes the same.
            timestamp: 0,
            type_id: self.type_id,
            stream_id: 0,
        };
        single_chunk_header(&header, len)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    use rtmp_proto::chunk::{Decoder, DecoderLimits};

    use super::*;

    /// A connected pair: the server's socket in non-blocking mode, the
    /// client's with a read timeout.
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        server.set_nonblocking(true).expect("non-blocking");
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        (server, client)
    }

    fn share(bodies: &[&[u8]]) -> Vec<(ClientCommand, Option<ChangeKey>)> {
        bodies
            .iter()
            .map(|b| (ClientCommand::SharedObject(Bytes::copy_from_slice(b)), None))
            .collect()
    }

    /// Decodes `wire` into (chunk stream, type, payload) per message.
    fn decode(wire: &[u8], chunk_size: u32) -> Vec<(u32, u8, Vec<u8>)> {
        let mut decoder = Decoder::new(DecoderLimits::default());
        decoder.set_chunk_size(chunk_size).expect("chunk size");
        decoder.push(wire);
        let mut out = Vec::new();
        while let Some(m) = decoder.next_message().expect("valid chunks") {
            out.push((m.header.csid, m.header.type_id, m.payload.to_vec()));
        }
        out
    }

    #[test]
    fn a_share_goes_out_in_one_write_as_standalone_chunks() {
        let (server, mut client) = pair();
        let direct = Direct::new(Arc::new(server), 19, 4096);
        let share = share(&[b"first", b"second", &[7; 300]]);
        let wrote = direct.write(&share, &mut Vec::new());
        assert_eq!(wrote.taken, 3);
        assert!(wrote.rest.is_none() && wrote.failed.is_none());
        let mut wire = vec![0; 12 * 3 + 5 + 6 + 300];
        client.read_exact(&mut wire).expect("read");
        let messages = decode(&wire, 4096);
        assert_eq!(messages.len(), 3);
        assert!(
            messages
                .iter()
                .all(|(csid, ty, _)| (*csid, *ty) == (UPDATE_CSID, 19))
        );
        assert_eq!(messages[1].2, b"second");
        assert_eq!(messages[2].2, vec![7; 300]);
    }

    #[test]
    fn it_stops_at_what_it_cannot_frame() {
        let (server, mut client) = pair();
        let direct = Direct::new(Arc::new(server), 16, 100);
        let mut share = share(&[b"a", &[1; 101], b"c"]);
        share.insert(1, (ClientCommand::Accept, None));
        // Stops at the Accept: only the first message goes out here.
        assert_eq!(direct.write(&share, &mut Vec::new()).taken, 1);
        // Stops at the message longer than the chunk size.
        assert_eq!(direct.write(&share[2..], &mut Vec::new()).taken, 0);
        let mut wire = vec![0; 13];
        client.read_exact(&mut wire).expect("read");
        assert_eq!(decode(&wire, 100), vec![(UPDATE_CSID, 16, b"a".to_vec())]);
    }

    #[test]
    fn a_full_socket_leaves_the_rest_of_a_message_and_every_byte_arrives_once() {
        let (server, mut client) = pair();
        let second = server.try_clone().expect("clone");
        let direct = Direct::new(Arc::new(server), 19, 60_000);
        let body: Vec<u8> = (0..50_000u32).map(|i| i as u8).collect();
        let bodies: Vec<&[u8]> = (0..64).map(|_| &body[..]).collect();
        let share = share(&bodies);
        // Loopback buffers grow to megabytes: write until the socket is full.
        let mut scratch = Vec::new();
        let mut taken = 0;
        let wrote = loop {
            let wrote = direct.write(&share, &mut scratch);
            assert!(wrote.failed.is_none());
            taken += wrote.taken;
            if wrote.taken < share.len() || wrote.rest.is_some() {
                break wrote;
            }
            assert!(taken < 100_000, "the socket never filled");
        };
        // What the connection would write next: the rest, then the
        // messages not taken, framed the same way.
        let mut tail = Vec::new();
        if let Some(rest) = &wrote.rest {
            tail.extend_from_slice(rest);
        }
        for (command, _) in &share[wrote.taken..] {
            let ClientCommand::SharedObject(b) = command else {
                unreachable!()
            };
            tail.extend_from_slice(&direct.header(b.len()).expect("fits"));
            tail.extend_from_slice(b);
        }
        let messages = taken + share.len() - wrote.taken;
        let expected_len = messages * (12 + body.len());
        let reader = std::thread::spawn(move || {
            let mut wire = vec![0; expected_len];
            client.read_exact(&mut wire).expect("read");
            wire
        });
        let mut socket = second;
        socket.set_nonblocking(false).expect("blocking");
        socket.write_all(&tail).expect("write the tail");
        let wire = reader.join().expect("reader");
        let decoded = decode(&wire, 60_000);
        assert_eq!(decoded.len(), messages);
        assert!(decoded.iter().all(|(_, _, payload)| payload == &body));
    }
}
