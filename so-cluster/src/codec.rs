//! The bytes of the records stored in Redis: the lease token, the stored
//! state, stream entries and inbox messages. A Redis link writes and reads
//! them; the encoding has no I/O and no allocation beyond its input.
//!
//! Every record starts with a format version byte and a kind byte; numbers
//! are big-endian; byte strings and texts carry a `u32` length, checked
//! against the bytes left before anything is allocated.

use bytes::Bytes;

use crate::types::{
    Dedupe, InboxMsg, NodeId, SoId, StoredState, StreamEntry, Token, Update, UpdateBody,
    WriteAnswer, WriteRef,
};

/// The format version written first in every record.
pub const FORMAT_VERSION: u8 = 1;

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The record ends early.
    #[error("record truncated")]
    Truncated,
    /// A format version this build does not know.
    #[error("unknown record format version {0}")]
    Version(u8),
    /// An unknown kind byte (or flag) for this record.
    #[error("unknown record kind {0}")]
    Kind(u8),
    /// Bytes left after the record.
    #[error("{0} bytes after the record")]
    Trailing(usize),
    /// A text that is not UTF-8, or an SO key that is not well formed.
    #[error("malformed text")]
    Text,
}

/// The lease value: `node:nonce`, both in hex (readable in `redis-cli`).
pub fn encode_token(token: Token) -> String {
    format!("{:x}:{:x}", token.node.0, token.nonce)
}

/// Read a lease value written by [`encode_token`].
pub fn decode_token(text: &str) -> Result<Token, DecodeError> {
    let (node, nonce) = text.split_once(':').ok_or(DecodeError::Text)?;
    let hex = |s: &str| u64::from_str_radix(s, 16).map_err(|_| DecodeError::Text);
    Ok(Token {
        node: NodeId(hex(node)?),
        nonce: hex(nonce)?,
    })
}

const STATE: u8 = 1;
const ENTRY_UPDATE: u8 = 2;
const ENTRY_RELEASED: u8 = 3;
const INBOX_FORWARD: u8 = 4;
const INBOX_ANSWER: u8 = 5;
const INBOX_FLOOR: u8 = 6;

const BODY_DELTA: u8 = 0;
const BODY_RESET: u8 = 1;
const ANSWER_NO_UPDATE: u8 = 0;
const ANSWER_DUPLICATE: u8 = 1;
const ANSWER_NOT_OWNER: u8 = 2;

/// The stored state's bytes.
pub fn encode_state(state: &StoredState) -> Vec<u8> {
    let mut w = Writer::new(STATE);
    w.u64(state.seq);
    w.u32(state.version);
    w.u64(state.term);
    w.u32(len32(state.applied.len()));
    for d in &state.applied {
        w.u64(d.node.0);
        w.u64(d.floor);
        w.u32(len32(d.seen.len()));
        for seq in &d.seen {
            w.u64(*seq);
        }
    }
    w.bytes(&state.data);
    w.out
}

/// Read a stored state.
pub fn decode_state(bytes: &[u8]) -> Result<StoredState, DecodeError> {
    let mut r = Reader::new(bytes, &[STATE])?;
    let seq = r.u64()?;
    let version = r.u32()?;
    let term = r.u64()?;
    let n = r.u32()? as usize;
    // Counts past what the bytes left can hold are lies: refused before
    // allocating.
    if n > r.left() / 20 {
        return Err(DecodeError::Truncated);
    }
    let mut applied = Vec::with_capacity(n);
    for _ in 0..n {
        let node = NodeId(r.u64()?);
        let floor = r.u64()?;
        let k = r.u32()? as usize;
        if k > r.left() / 8 {
            return Err(DecodeError::Truncated);
        }
        let mut seen = Vec::with_capacity(k);
        for _ in 0..k {
            seen.push(r.u64()?);
        }
        applied.push(Dedupe { node, floor, seen });
    }
    let data = r.bytes()?;
    r.end()?;
    Ok(StoredState {
        seq,
        version,
        term,
        applied,
        data,
    })
}

/// A stream entry's bytes.
pub fn encode_entry(entry: &StreamEntry) -> Vec<u8> {
    match entry {
        StreamEntry::Update(u) => {
            let mut w = Writer::new(ENTRY_UPDATE);
            w.text(u.so.as_str());
            w.u64(u.seq);
            w.u32(u.version);
            w.u64(u.term);
            w.write_ref(u.write);
            match &u.body {
                UpdateBody::Delta(b) => {
                    w.u8(BODY_DELTA);
                    w.bytes(b);
                }
                UpdateBody::Reset(b) => {
                    w.u8(BODY_RESET);
                    w.bytes(b);
                }
            }
            w.out
        }
        StreamEntry::Released { so } => {
            let mut w = Writer::new(ENTRY_RELEASED);
            w.text(so.as_str());
            w.out
        }
    }
}

/// Read a stream entry.
pub fn decode_entry(bytes: &[u8]) -> Result<StreamEntry, DecodeError> {
    let mut r = Reader::new(bytes, &[ENTRY_UPDATE, ENTRY_RELEASED])?;
    let so = r.so()?;
    let entry = if r.kind == ENTRY_RELEASED {
        StreamEntry::Released { so }
    } else {
        let seq = r.u64()?;
        let version = r.u32()?;
        let term = r.u64()?;
        let write = r.write_ref()?;
        let body = match r.u8()? {
            BODY_DELTA => UpdateBody::Delta(r.bytes()?),
            BODY_RESET => UpdateBody::Reset(r.bytes()?),
            other => return Err(DecodeError::Kind(other)),
        };
        StreamEntry::Update(Update {
            so,
            seq,
            version,
            term,
            write,
            body,
        })
    };
    r.end()?;
    Ok(entry)
}

/// An inbox message's bytes.
pub fn encode_inbox(msg: &InboxMsg) -> Vec<u8> {
    match msg {
        InboxMsg::Forward {
            so,
            write,
            oldest,
            payload,
        } => {
            let mut w = Writer::new(INBOX_FORWARD);
            w.text(so.as_str());
            w.write_ref(Some(*write));
            w.u64(*oldest);
            w.bytes(payload);
            w.out
        }
        InboxMsg::Answer { so, write, answer } => {
            let mut w = Writer::new(INBOX_ANSWER);
            w.text(so.as_str());
            w.write_ref(Some(*write));
            match answer {
                WriteAnswer::NoUpdate(b) => {
                    w.u8(ANSWER_NO_UPDATE);
                    w.bytes(b);
                }
                WriteAnswer::Duplicate => w.u8(ANSWER_DUPLICATE),
                WriteAnswer::NotOwner => w.u8(ANSWER_NOT_OWNER),
            }
            w.out
        }
        InboxMsg::Floor { so, version } => {
            let mut w = Writer::new(INBOX_FLOOR);
            w.text(so.as_str());
            w.u32(*version);
            w.out
        }
    }
}

/// Read an inbox message.
pub fn decode_inbox(bytes: &[u8]) -> Result<InboxMsg, DecodeError> {
    let mut r = Reader::new(bytes, &[INBOX_FORWARD, INBOX_ANSWER, INBOX_FLOOR])?;
    let so = r.so()?;
    let msg = match r.kind {
        INBOX_FLOOR => InboxMsg::Floor {
            so,
            version: r.u32()?,
        },
        kind => {
            let write = r.write_ref()?.ok_or(DecodeError::Kind(0))?;
            if kind == INBOX_FORWARD {
                InboxMsg::Forward {
                    so,
                    write,
                    oldest: r.u64()?,
                    payload: r.bytes()?,
                }
            } else {
                let answer = match r.u8()? {
                    ANSWER_NO_UPDATE => WriteAnswer::NoUpdate(r.bytes()?),
                    ANSWER_DUPLICATE => WriteAnswer::Duplicate,
                    ANSWER_NOT_OWNER => WriteAnswer::NotOwner,
                    other => return Err(DecodeError::Kind(other)),
                };
                InboxMsg::Answer { so, write, answer }
            }
        }
    };
    r.end()?;
    Ok(msg)
}

/// A length that fits in the format's `u32` (records are far smaller: a
/// larger one is a bug of the caller, not of a peer).
fn len32(n: usize) -> u32 {
    u32::try_from(n).expect("record field over 4 GiB")
}

struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn new(kind: u8) -> Self {
        Self {
            out: vec![FORMAT_VERSION, kind],
        }
    }
    fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(len32(b.len()));
        self.out.extend_from_slice(b);
    }
    fn text(&mut self, t: &str) {
        self.bytes(t.as_bytes());
    }
    fn write_ref(&mut self, w: Option<WriteRef>) {
        match w {
            None => self.u8(0),
            Some(w) => {
                self.u8(1);
                self.u64(w.node.0);
                self.u64(w.seq);
            }
        }
    }
}

struct Reader<'a> {
    rest: &'a [u8],
    kind: u8,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], kinds: &[u8]) -> Result<Self, DecodeError> {
        let [version, kind, rest @ ..] = bytes else {
            return Err(DecodeError::Truncated);
        };
        if *version != FORMAT_VERSION {
            return Err(DecodeError::Version(*version));
        }
        if !kinds.contains(kind) {
            return Err(DecodeError::Kind(*kind));
        }
        Ok(Self { rest, kind: *kind })
    }
    fn left(&self) -> usize {
        self.rest.len()
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut a = [0; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
    fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let n = self.u32()? as usize;
        Ok(Bytes::copy_from_slice(self.take(n)?))
    }
    fn so(&mut self) -> Result<SoId, DecodeError> {
        let n = self.u32()? as usize;
        let text = std::str::from_utf8(self.take(n)?).map_err(|_| DecodeError::Text)?;
        SoId::parse(text).ok_or(DecodeError::Text)
    }
    fn write_ref(&mut self) -> Result<Option<WriteRef>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(WriteRef {
                node: NodeId(self.u64()?),
                seq: self.u64()?,
            })),
            other => Err(DecodeError::Kind(other)),
        }
    }
    fn end(&self) -> Result<(), DecodeError> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn so() -> SoId {
        SoId::new("app/room:1", "chat/x")
    }

    fn samples() -> (StoredState, Vec<StreamEntry>, Vec<InboxMsg>) {
        let w = WriteRef {
            node: NodeId(u64::MAX),
            seq: 7,
        };
        let state = StoredState {
            seq: 9,
            version: 12,
            term: 3,
            applied: vec![
                Dedupe {
                    node: NodeId(1),
                    floor: 4,
                    seen: vec![],
                },
                Dedupe {
                    node: NodeId(2),
                    floor: 8,
                    seen: vec![9, 12],
                },
            ],
            data: Bytes::from_static(b"\x00attrs\xff"),
        };
        let update = |write, body| {
            StreamEntry::Update(Update {
                so: so(),
                seq: 10,
                version: 13,
                term: 3,
                write,
                body,
            })
        };
        let entries = vec![
            update(Some(w), UpdateBody::Delta(Bytes::from_static(b"k=v"))),
            update(None, UpdateBody::Reset(Bytes::new())),
            StreamEntry::Released { so: so() },
        ];
        let answer = |answer| InboxMsg::Answer {
            so: so(),
            write: w,
            answer,
        };
        let inbox = vec![
            InboxMsg::Forward {
                so: so(),
                write: w,
                oldest: 3,
                payload: Bytes::from_static(b"payload"),
            },
            answer(WriteAnswer::NoUpdate(Bytes::from_static(b"denied"))),
            answer(WriteAnswer::Duplicate),
            answer(WriteAnswer::NotOwner),
            InboxMsg::Floor {
                so: so(),
                version: u32::MAX,
            },
        ];
        (state, entries, inbox)
    }

    #[test]
    fn every_record_round_trips() {
        let (state, entries, inbox) = samples();
        assert_eq!(decode_state(&encode_state(&state)), Ok(state));
        for e in entries {
            assert_eq!(decode_entry(&encode_entry(&e)), Ok(e));
        }
        for m in inbox {
            assert_eq!(decode_inbox(&encode_inbox(&m)), Ok(m));
        }
        let token = Token {
            node: NodeId(0xabc),
            nonce: u64::MAX,
        };
        assert_eq!(encode_token(token), "abc:ffffffffffffffff");
        assert_eq!(decode_token(&encode_token(token)), Ok(token));
        assert_eq!(decode_token("abc"), Err(DecodeError::Text));
    }

    #[test]
    fn every_cut_and_every_extra_byte_is_an_error_not_a_panic() {
        let (state, entries, inbox) = samples();
        fn state_ok(b: &[u8]) -> bool {
            decode_state(b).is_ok()
        }
        fn entry_ok(b: &[u8]) -> bool {
            decode_entry(b).is_ok()
        }
        fn inbox_ok(b: &[u8]) -> bool {
            decode_inbox(b).is_ok()
        }
        type Check = fn(&[u8]) -> bool;
        let mut records: Vec<(Vec<u8>, Check)> = vec![(encode_state(&state), state_ok)];
        records.extend(entries.iter().map(|e| (encode_entry(e), entry_ok as Check)));
        records.extend(inbox.iter().map(|m| (encode_inbox(m), inbox_ok as Check)));
        for (bytes, ok) in records {
            assert!(ok(&bytes));
            for cut in 0..bytes.len() {
                assert!(!ok(&bytes[..cut]), "a record cut at {cut} was read");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(!ok(&longer));
            // Every single-byte corruption is read or refused, never a panic.
            for i in 0..bytes.len() {
                let mut bad = bytes.clone();
                bad[i] ^= 0xff;
                let _ = ok(&bad);
            }
        }
    }

    #[test]
    fn a_record_of_another_kind_or_version_is_refused() {
        let (state, entries, _) = samples();
        let bytes = encode_state(&state);
        assert_eq!(decode_entry(&bytes), Err(DecodeError::Kind(STATE)));
        let mut newer = encode_entry(&entries[0]);
        newer[0] = FORMAT_VERSION + 1;
        assert_eq!(
            decode_entry(&newer),
            Err(DecodeError::Version(FORMAT_VERSION + 1))
        );
    }

    #[test]
    fn a_huge_count_is_refused_before_allocating() {
        let mut bytes = vec![FORMAT_VERSION, STATE];
        bytes.extend_from_slice(&[0; 8 + 4 + 8]);
        // A count of u32::MAX writer entries in a few bytes.
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(decode_state(&bytes), Err(DecodeError::Truncated));
    }
}
