//! The RTMP handshake, server and client, plain (spec §5.2) and Flash Player 9
//! digest (docs/PROTOCOL.md §1.2), sans-IO.
//!
//! Feed received bytes to [`Handshake::handle_input`] and send what
//! [`Handshake::poll_transmit`] appends, until [`Handshake::is_done`]. The
//! bytes `handle_input` did not consume belong to the chunk stream. Input may
//! arrive split anywhere, one byte at a time included.
//!
//! ```
//! use bytes::BytesMut;
//! use rtmp_proto::handshake::{ClientStyle, Handshake};
//!
//! let mut client = Handshake::client([1; 32], ClientStyle::Digest);
//! let mut server = Handshake::server([2; 32]);
//! let mut wire = BytesMut::new();
//! client.poll_transmit(&mut wire); // C0 + C1
//! assert_eq!(server.handle_input(0, &wire)?, 1537);
//! wire.clear();
//! server.poll_transmit(&mut wire); // S0 + S1 + S2
//! assert_eq!(client.handle_input(0, &wire)?, 3073);
//! assert!(client.is_done());
//! wire.clear();
//! client.poll_transmit(&mut wire); // C2, then the client's first chunk
//! wire.extend_from_slice(&[0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 16, 0]);
//! assert_eq!(server.handle_input(0, &wire)?, 1536); // the rest is chunk data
//! assert!(server.is_done());
//! assert_eq!(server.kind(), client.kind());
//! # Ok::<(), rtmp_proto::Error>(())
//! ```
//!
//! Decisions:
//! - The server answers in the style of C1: plain if C1 bytes 4–7 are zero,
//!   digest otherwise (docs/PROTOCOL.md §1.4). A digest that verifies under neither
//!   scheme is answered leniently, like rtmplite: scheme 0, still a digest
//!   S1/S2, keyed on whatever C1 holds at the scheme-0 offset. Red5 closes
//!   such connections instead; [`HandshakeKind::Digest`] records `verified`.
//! - C2/S2 are never checked on the way: Red5 ships with
//!   `unvalidatedConnectionAllowed=true` "to deal with ffmpeg", and rtmplite
//!   zero-fills S2. [`Handshake::reply_verified`] checks on demand.
//! - C0 3 is RTMP; 0–2 and 4–31 (bar 6, 8, 9) are answered with 3 as spec
//!   §5.2.2 asks. 6, 8 and 9 (RTMPE, Red5 `RTMP_ENCRYPTED*`) and 32–255 (not
//!   RTMP, e.g. the `G` of an HTTP `GET`) fail with
//!   [`ProtocolError::UnsupportedVersion`]. The client applies the same rule
//!   to S0.
//! - All randomness comes from the seed, all time from arguments: the same
//!   seed and inputs give the same bytes. The seed is expanded with ChaCha8,
//!   not ChaCha20: the random fields carry no secret (the digest keys are
//!   public), and ChaCha20 alone took ~2.1 µs for the 3 KiB a plain
//!   handshake needs, past the 2 µs budget (BENCHMARKS.md A5). The client's C1 time is 0,
//!   the epoch of its chunk timestamps (spec §5.2.3 allows 0).

use std::fmt;

use bytes::{BufMut, BytesMut};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::error::{Error, ProtocolError};

mod digest;

/// Bytes of C1, C2, S1 and S2.
pub const HANDSHAKE_SIZE: usize = 1536;

/// The version byte of plain RTMP, sent as C0 and S0.
pub const RTMP_VERSION: u8 = 3;

/// The "version" our server writes into a digest S1 (bytes 4–7): Red5's value.
pub const SERVER_DIGEST_VERSION: [u8; 4] = [0x04, 0x00, 0x00, 0x01];

/// The "version" our digest client writes into C1 (bytes 4–7), Flash-like.
pub const CLIENT_DIGEST_VERSION: [u8; 4] = [0x80, 0x00, 0x07, 0x02];

/// How a client handshakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ClientStyle {
    /// Spec §5.2: zero version field, C2 echoes S1.
    Plain,
    /// Flash Player 9: a signed C1 (digest at scheme 0) and a signed C2.
    /// The default: what Flash Player itself sends.
    #[default]
    Digest,
}

/// Where a C1/S1 carries its digest (Red5 calls these "algorithm" 0 and 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestScheme {
    /// Offset `(b[8]+b[9]+b[10]+b[11]) % 728 + 12`.
    Scheme0,
    /// Offset `(b[772]+b[773]+b[774]+b[775]) % 728 + 776`.
    Scheme1,
}

/// The handshake the two sides settled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HandshakeKind {
    /// Spec §5.2, no digests.
    Plain,
    /// Flash Player 9 digests, at `scheme`.
    Digest {
        /// Where the digests sit in C1 and S1.
        scheme: DigestScheme,
        /// Whether the peer's C1 (server side) or S1 (client side) digest
        /// verified; `false` means we answered leniently at scheme 0.
        verified: bool,
    },
}

/// One side of one handshake. See the [module docs](self) for the call order.
#[derive(Clone)]
pub struct Handshake {
    role: Role,
    stage: Stage,
    kind: Option<HandshakeKind>,
    rng: ChaCha8Rng,
    // The three blocks are built by appending, never zeroed first, and live
    // on the heap: zeroing three inline blocks, then moving the 4.6 KiB
    // struct, was over half of a plain handshake's instructions.
    /// Our C1 or S1, kept to check the peer's echo or signature.
    ours: Vec<u8>,
    /// The peer's C1/S1, then its C2/S2: as much of it as has arrived.
    peer: Vec<u8>,
    /// Our C2 or S2.
    reply: Vec<u8>,
    /// The digest in `ours`, for digest handshakes.
    our_digest: digest::Digest32,
    pending: Pending,
}

impl Handshake {
    /// A server waiting for C0 + C1.
    pub fn server(seed: [u8; 32]) -> Self {
        Self::new(Role::Server, seed)
    }

    /// A client with C0 + C1 ready to send.
    pub fn client(seed: [u8; 32], style: ClientStyle) -> Self {
        let mut hs = Self::new(Role::Client(style), seed);
        // Time 0: the epoch of this side's chunk timestamps (spec §5.2.3).
        let version = match style {
            ClientStyle::Digest => CLIENT_DIGEST_VERSION,
            ClientStyle::Plain => [0; 4],
        };
        hs.fill_ours(0, version);
        if style == ClientStyle::Digest
            && let Some(ours) = as_block(&mut hs.ours)
        {
            hs.our_digest = digest::sign(ours, DigestScheme::Scheme0, digest::FP_KEY_HEAD);
        }
        hs.pending = Pending {
            version: true,
            ours: true,
            reply: false,
        };
        hs
    }

    /// Consumes handshake bytes from the front of `input`, returns how many
    /// were consumed (the rest belongs to the chunk stream). `time` is the
    /// caller's epoch-relative milliseconds for the time fields.
    ///
    /// Once done it consumes nothing; once failed it returns the same error.
    pub fn handle_input(&mut self, time: u32, input: &[u8]) -> Result<usize, Error> {
        let mut consumed = 0;
        loop {
            let rest = input.get(consumed..).unwrap_or_default();
            match self.stage {
                Stage::Done => return Ok(consumed),
                Stage::Failed(ref e) => return Err(e.clone()),
                Stage::Version => {
                    let Some(&version) = rest.first() else {
                        return Ok(consumed);
                    };
                    consumed += 1;
                    if let Err(e) = check_version(version) {
                        return Err(self.fail(e.into()));
                    }
                    self.stage = Stage::First;
                }
                Stage::First | Stage::Second => {
                    // `peer` is shorter than a block between calls: a full
                    // block moves to the next stage, which empties it.
                    let n = HANDSHAKE_SIZE
                        .saturating_sub(self.peer.len())
                        .min(rest.len());
                    self.peer.extend_from_slice(&rest[..n]);
                    consumed += n;
                    if self.peer.len() < HANDSHAKE_SIZE {
                        return Ok(consumed);
                    }
                    if self.stage == Stage::First {
                        self.on_first_block(time);
                        self.peer.clear();
                        self.stage = Stage::Second;
                    } else {
                        self.on_second_block();
                        self.stage = Stage::Done;
                    }
                }
            }
        }
    }

    /// Appends the bytes to send to `out`; returns how many (0: nothing).
    ///
    /// A client is done when S2 arrives, with C2 still to send here: drain it
    /// before any chunk data.
    pub fn poll_transmit(&mut self, out: &mut BytesMut) -> usize {
        let pending = std::mem::take(&mut self.pending);
        let start = out.len();
        out.reserve(
            usize::from(pending.version)
                + HANDSHAKE_SIZE * (usize::from(pending.ours) + usize::from(pending.reply)),
        );
        if pending.version {
            out.put_u8(RTMP_VERSION);
        }
        if pending.ours {
            out.extend_from_slice(&self.ours);
        }
        if pending.reply {
            out.extend_from_slice(&self.reply);
        }
        out.len() - start
    }

    /// Whether the peer's part of the handshake is complete.
    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// The handshake settled on, once the peer's C1 (server) or S1 (client) arrived.
    pub fn kind(&self) -> Option<HandshakeKind> {
        self.kind
    }

    /// Whether the peer's C2 (server) or S2 (client) proves it read our S1/C1:
    /// an echo of our random bytes (plain) or a valid signature (digest).
    /// `None` until it has arrived. Advisory: computed on call (one HMAC for
    /// digest handshakes), never a reason the handshake fails.
    pub fn reply_verified(&self) -> Option<bool> {
        if self.stage != Stage::Done {
            return None;
        }
        Some(match self.kind? {
            HandshakeKind::Plain => self.peer.get(8..) == self.ours.get(8..),
            HandshakeKind::Digest { .. } => {
                let full_key: &[u8] = match self.role {
                    Role::Server => &digest::FP_KEY,
                    Role::Client(_) => &digest::FMS_KEY,
                };
                let key = digest::reply_key(full_key, &self.our_digest);
                <&Block>::try_from(self.peer.as_slice())
                    .is_ok_and(|peer| digest::reply_verifies(peer, &key))
            }
        })
    }
}

impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshake")
            .field("role", &self.role)
            .field("stage", &self.stage)
            .field("received", &self.peer.len())
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A C1, C2, S1 or S2.
type Block = [u8; HANDSHAKE_SIZE];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Server,
    Client(ClientStyle),
}

/// What the peer sends next.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    /// C0 or S0.
    Version,
    /// C1 or S1.
    First,
    /// C2 or S2.
    Second,
    Done,
    Failed(Error),
}

/// Blocks queued for [`Handshake::poll_transmit`], in wire order.
#[derive(Debug, Clone, Copy, Default)]
struct Pending {
    version: bool,
    ours: bool,
    reply: bool,
}

impl Handshake {
    fn new(role: Role, seed: [u8; 32]) -> Self {
        Self {
            role,
            stage: Stage::Version,
            kind: None,
            rng: ChaCha8Rng::from_seed(seed),
            ours: Vec::with_capacity(HANDSHAKE_SIZE),
            peer: Vec::with_capacity(HANDSHAKE_SIZE),
            reply: Vec::with_capacity(HANDSHAKE_SIZE),
            our_digest: [0; digest::DIGEST_SIZE],
            pending: Pending::default(),
        }
    }

    fn fail(&mut self, e: Error) -> Error {
        self.stage = Stage::Failed(e.clone());
        self.pending = Pending::default();
        e
    }

    /// The peer's C1 (server) or S1 (client) is in `peer`, read at `time`.
    fn on_first_block(&mut self, time: u32) {
        let digest_style = self.peer.get(4..8) != Some(&[0; 4]);
        match self.role {
            Role::Server => {
                let version = if digest_style {
                    SERVER_DIGEST_VERSION
                } else {
                    [0; 4]
                };
                self.fill_ours(time, version);
                if digest_style {
                    self.answer_digest_c1();
                } else {
                    self.kind = Some(HandshakeKind::Plain);
                    self.echo_peer(time);
                }
                self.pending = Pending {
                    version: true,
                    ours: true,
                    reply: true,
                };
            }
            // A digest client facing a plain S1 falls back to the plain echo,
            // as librtmp does; a plain client echoes whatever S1 is.
            Role::Client(ClientStyle::Digest) if digest_style => self.answer_digest_s1(),
            Role::Client(_) => {
                self.kind = Some(HandshakeKind::Plain);
                self.echo_peer(time);
            }
        }
    }

    /// The peer's C2 (server) or S2 (client) is in `peer`.
    fn on_second_block(&mut self) {
        if let Role::Client(_) = self.role {
            // Spec §5.2.1: the client waits for S2 before sending anything.
            self.pending.reply = true;
        }
    }

    /// `ours` = `time`, `version` and random bytes: a C1 or S1 before any digest.
    fn fill_ours(&mut self, time: u32, version: [u8; 4]) {
        self.ours.clear();
        self.ours.extend_from_slice(&time.to_be_bytes());
        self.ours.extend_from_slice(&version);
        push_random(&mut self.rng, &mut self.ours, HANDSHAKE_SIZE - 8);
    }

    /// S1 with our digest at the client's scheme, S2 signed for C1's digest.
    fn answer_digest_c1(&mut self) {
        let Some(peer) = as_block(&mut self.peer) else {
            return;
        };
        let (scheme, client_digest, verified) = verify_or_scheme0(peer, digest::FP_KEY_HEAD);
        self.kind = Some(HandshakeKind::Digest { scheme, verified });
        if let Some(ours) = as_block(&mut self.ours) {
            self.our_digest = digest::sign(ours, scheme, digest::FMS_KEY_HEAD);
        }
        self.sign_random_reply(&digest::reply_key(&digest::FMS_KEY, &client_digest));
    }

    /// C2 signed for S1's digest.
    fn answer_digest_s1(&mut self) {
        let Some(peer) = as_block(&mut self.peer) else {
            return;
        };
        let (scheme, server_digest, verified) = verify_or_scheme0(peer, digest::FMS_KEY_HEAD);
        self.kind = Some(HandshakeKind::Digest { scheme, verified });
        self.sign_random_reply(&digest::reply_key(&digest::FP_KEY, &server_digest));
    }

    /// `reply` = 1504 random bytes and their HMAC under `key`.
    fn sign_random_reply(&mut self, key: &digest::Digest32) {
        self.reply.clear();
        push_random(
            &mut self.rng,
            &mut self.reply,
            HANDSHAKE_SIZE - digest::DIGEST_SIZE,
        );
        self.reply.extend_from_slice(&[0; digest::DIGEST_SIZE]);
        if let Some(reply) = as_block(&mut self.reply) {
            digest::sign_reply(reply, key);
        }
    }

    /// `reply` = the spec's echo of the peer's C1/S1 (§5.2.4): its time, the
    /// time we read it, its random bytes.
    fn echo_peer(&mut self, time: u32) {
        let (head, random) = self.peer.split_at(8.min(self.peer.len()));
        self.reply.clear();
        self.reply
            .extend_from_slice(head.get(..4).unwrap_or_default());
        self.reply.extend_from_slice(&time.to_be_bytes());
        self.reply.extend_from_slice(random);
    }
}

/// Bytes of random data made at a time on the stack, then appended to a
/// block: a multiple of 4, so that the stream of bytes is the same as one
/// `fill_bytes` over the whole block (the generator hands out 32-bit words).
const RANDOM_CHUNK: usize = 512;

/// Appends `len` bytes from `rng` to `out`.
fn push_random(rng: &mut ChaCha8Rng, out: &mut Vec<u8>, len: usize) {
    let mut chunk = [0; RANDOM_CHUNK];
    let mut left = len;
    while left > 0 {
        let n = left.min(RANDOM_CHUNK);
        let part = &mut chunk[..n];
        rng.fill_bytes(part);
        out.extend_from_slice(part);
        left -= n;
    }
}

/// A whole block as the digest code takes it; `None` (never, in practice)
/// if `bytes` is not exactly one block long.
fn as_block(bytes: &mut [u8]) -> Option<&mut Block> {
    bytes.try_into().ok()
}

/// The peer's verified digest, or leniently (rtmplite) the bytes at the
/// scheme-0 offset.
fn verify_or_scheme0(block: &Block, key: &[u8]) -> (DigestScheme, digest::Digest32, bool) {
    match digest::find(block, key) {
        Some((scheme, found)) => (scheme, found, true),
        None => {
            let at = digest::offset(block, DigestScheme::Scheme0);
            (DigestScheme::Scheme0, digest::digest_at(block, at), false)
        }
    }
}

/// Spec §5.2.2 and docs/PROTOCOL.md §1.1: which C0/S0 values we accept.
fn check_version(version: u8) -> Result<(), ProtocolError> {
    match version {
        // RTMPE (6) and RTMPE with XTEA/Blowfish signatures (8, 9): we do not encrypt.
        6 | 8 | 9 => Err(ProtocolError::UnsupportedVersion(version)),
        // Never RTMP: the spec keeps these free to tell text protocols apart.
        32.. => Err(ProtocolError::UnsupportedVersion(version)),
        // 3, deprecated 0–2, reserved 4–31: answered with 3 as the spec asks.
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
