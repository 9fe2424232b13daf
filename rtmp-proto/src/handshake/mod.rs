//! The RTMP handshake, server and client side (RTMP §5.2; reference/protocol.md §1).
//!
//! Two styles are spoken:
//! - **plain**: C0/C1/C2 and S0/S1/S2 with time, zero and random fields; S2
//!   and C2 echo the peer's block (spec §5.2.3–5.2.4);
//! - **digest** (Flash Player 9 and later): a C1 whose bytes 4–7 are not zero
//!   carries an HMAC-SHA256 digest at one of two offsets; the server answers
//!   with a signed S1 and an S2 signed with a key derived from the client's
//!   digest. Flash needs this style to decode H.264; for SharedObjects either
//!   works, so a server answers in the style the client chose.
//!
//! Leniency, as rtmplite and unlike Red5: a versioned C1 whose digest does not
//! verify under either scheme still gets a digest answer (scheme 0), and a C2
//! or S2 signature that does not verify is only recorded ([`Handshake::kind`]).
//!
//! Randomness comes from the seed given at construction; time from the
//! `time` argument of [`Handshake::handle_input`].

mod digest;

use bytes::BytesMut;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::error::{Error, ProtocolError};
pub use digest::Scheme;
use digest::{DIGEST_LEN, FMS_KEY, FMS_KEY_PARTIAL, FP_KEY, FP_KEY_PARTIAL};

/// Size of C1, C2, S1 and S2.
pub const HANDSHAKE_SIZE: usize = 1536;

/// The RTMP version byte we speak and answer with.
pub const RTMP_VERSION: u8 = 3;

/// The version field our server writes in a digest S1 (Red5 writes the same).
const SERVER_VERSION: [u8; 4] = [4, 0, 0, 1];
/// The version field our digest client writes in C1 (a Flash Player 9 value).
const CLIENT_VERSION: [u8; 4] = [0x80, 0, 7, 2];

/// Which handshake a client starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientStyle {
    /// The plain handshake of the RTMP specification.
    Plain,
    /// The Flash Player 9 digest handshake.
    #[default]
    Digest,
}

/// Which handshake took place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeKind {
    /// The plain handshake.
    Plain,
    /// The digest handshake.
    Digest {
        /// Where the digest sat.
        scheme: Scheme,
        /// Whether the peer's first digest (C1 for a server, S1 for a client) verified.
        verified: bool,
        /// Whether the peer's answer (C2 or S2) carried the expected
        /// signature; `None` until it arrived.
        answer_verified: Option<bool>,
    },
}

/// One side of the handshake. Feed it bytes with
/// [`handle_input`](Self::handle_input); take what it wants to send with
/// [`poll_transmit`](Self::poll_transmit).
#[derive(Debug)]
pub struct Handshake {
    role: Role,
    stage: Stage,
    /// Bytes of the current stage received so far.
    received: Vec<u8>,
    transmit: Vec<u8>,
    rng: ChaCha20Rng,
    kind: Option<HandshakeKind>,
    /// Our C1 or S1, kept to check the peer's echo or signature.
    ours: Box<[u8; HANDSHAKE_SIZE]>,
    /// The digest inside our C1/S1, which the peer's answer is signed with.
    our_digest: Option<[u8; DIGEST_LEN]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Server,
    Client(ClientStyle),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Server: waiting for C0 + C1. Client: waiting for S0 + S1 + S2.
    First,
    /// Server: waiting for C2.
    Answer,
    Done,
    Failed,
}

impl Handshake {
    /// The server side, which waits for C0 + C1.
    pub fn server(seed: [u8; 32]) -> Self {
        Self::new(Role::Server, seed)
    }

    /// The client side; C0 + C1 are ready to send at once.
    pub fn client(seed: [u8; 32], style: ClientStyle) -> Self {
        let mut hs = Self::new(Role::Client(style), seed);
        let mut c1 = [0u8; HANDSHAKE_SIZE];
        hs.rng.fill_bytes(&mut c1[8..]);
        // Time 0: the client's epoch starts with the connection.
        if style == ClientStyle::Digest {
            c1[4..8].copy_from_slice(&CLIENT_VERSION);
            let digest = digest::sign(&FP_KEY[..FP_KEY_PARTIAL], &mut c1, Scheme::Zero);
            hs.our_digest = Some(digest);
        } else {
            c1[4..8].fill(0);
        }
        hs.transmit.push(RTMP_VERSION);
        hs.transmit.extend_from_slice(&c1);
        *hs.ours = c1;
        hs
    }

    fn new(role: Role, seed: [u8; 32]) -> Self {
        Self {
            role,
            stage: Stage::First,
            received: Vec::new(),
            transmit: Vec::new(),
            rng: ChaCha20Rng::from_seed(seed),
            kind: None,
            ours: Box::new([0u8; HANDSHAKE_SIZE]),
            our_digest: None,
        }
    }

    /// Consumes handshake bytes from the front of `input` and returns how
    /// many; the rest belongs to the chunk stream. `time` is the caller's
    /// milliseconds since the connection started, for the time fields.
    ///
    /// Once done, nothing more is consumed (returns 0). After an error, every
    /// call returns the same kind of error again.
    pub fn handle_input(&mut self, time: u32, input: &[u8]) -> Result<usize, Error> {
        let mut consumed = 0;
        loop {
            let need = match (self.role, self.stage) {
                (_, Stage::Done) => return Ok(consumed),
                (_, Stage::Failed) => {
                    return Err(ProtocolError::Unexpected("input after a failed handshake").into());
                }
                (Role::Server, Stage::First) => 1 + HANDSHAKE_SIZE,
                (Role::Server, Stage::Answer) => HANDSHAKE_SIZE,
                (Role::Client(_), Stage::First) => 1 + 2 * HANDSHAKE_SIZE,
                (Role::Client(_), Stage::Answer) => return Ok(consumed),
            };
            let rest = input.get(consumed..).unwrap_or_default();
            if rest.is_empty() {
                return Ok(consumed);
            }
            if self.stage == Stage::First && self.received.is_empty() {
                // Check the version byte at once: garbage is refused before
                // we wait for 1536 more bytes of it.
                if let Err(e) = self.check_version(rest[0]) {
                    self.stage = Stage::Failed;
                    return Err(e);
                }
            }
            let take = need.saturating_sub(self.received.len()).min(rest.len());
            self.received.extend_from_slice(&rest[..take]);
            consumed += take;
            if self.received.len() < need {
                return Ok(consumed);
            }
            let block = std::mem::take(&mut self.received);
            match (self.role, self.stage) {
                (Role::Server, Stage::First) => self.on_c0_c1(time, &block),
                (Role::Server, Stage::Answer) => self.on_c2(&block),
                (Role::Client(style), Stage::First) => self.on_s0_s1_s2(time, style, &block),
                _ => {}
            }
        }
    }

    /// Appends what this side wants to send; returns how many bytes.
    pub fn poll_transmit(&mut self, out: &mut BytesMut) -> usize {
        let n = self.transmit.len();
        out.extend_from_slice(&self.transmit);
        self.transmit.clear();
        n
    }

    /// Whether the handshake completed.
    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Which handshake took place, once known.
    pub fn kind(&self) -> Option<HandshakeKind> {
        self.kind
    }

    fn check_version(&self, version: u8) -> Result<(), Error> {
        // RTMP §5.2.2: 0–2 deprecated, 3 current, 4–31 reserved (answer 3),
        // 32+ is not RTMP at all. 6, 8 and 9 ask for RTMPE encryption, which
        // we do not speak.
        match version {
            6 | 8 | 9 | 32.. => Err(ProtocolError::UnsupportedVersion(version).into()),
            _ => Ok(()),
        }
    }

    fn on_c0_c1(&mut self, time: u32, c0_c1: &[u8]) {
        let c1 = block_at(c0_c1, 1);
        let mut s1 = [0u8; HANDSHAKE_SIZE];
        s1[..4].copy_from_slice(&time.to_be_bytes());
        self.rng.fill_bytes(&mut s1[8..]);
        let mut s2 = [0u8; HANDSHAKE_SIZE];
        if c1[4..8] == [0, 0, 0, 0] {
            self.kind = Some(HandshakeKind::Plain);
            // S2 echoes C1: its time, the time we read it, its random bytes.
            s2.copy_from_slice(&c1);
            s2[4..8].copy_from_slice(&time.to_be_bytes());
        } else {
            let found = digest::find_scheme(&FP_KEY[..FP_KEY_PARTIAL], &c1);
            let scheme = found.unwrap_or(Scheme::Zero);
            let client_digest = digest::stored_digest(&c1, scheme);
            s1[4..8].copy_from_slice(&SERVER_VERSION);
            let server_digest = digest::sign(&FMS_KEY[..FMS_KEY_PARTIAL], &mut s1, scheme);
            self.our_digest = Some(server_digest);
            self.rng.fill_bytes(&mut s2[..HANDSHAKE_SIZE - DIGEST_LEN]);
            digest::sign_response(&FMS_KEY, &client_digest, &mut s2);
            self.kind = Some(HandshakeKind::Digest {
                scheme,
                verified: found.is_some(),
                answer_verified: None,
            });
        }
        self.transmit.push(RTMP_VERSION);
        self.transmit.extend_from_slice(&s1);
        self.transmit.extend_from_slice(&s2);
        *self.ours = s1;
        self.stage = Stage::Answer;
    }

    fn on_c2(&mut self, c2: &[u8]) {
        let c2 = block_at(c2, 0);
        if let (
            Some(HandshakeKind::Digest {
                answer_verified, ..
            }),
            Some(ours),
        ) = (&mut self.kind, self.our_digest)
        {
            let expected = digest::response_signature(&FP_KEY, &ours, &c2);
            *answer_verified = Some(c2[HANDSHAKE_SIZE - DIGEST_LEN..] == expected);
        }
        // A plain C2 should echo S1; like Red5, a mismatch is not fatal.
        self.stage = Stage::Done;
    }

    fn on_s0_s1_s2(&mut self, time: u32, style: ClientStyle, bytes: &[u8]) {
        let s1 = block_at(bytes, 1);
        let s2 = block_at(bytes, 1 + HANDSHAKE_SIZE);
        let mut c2 = [0u8; HANDSHAKE_SIZE];
        let server_scheme = if style == ClientStyle::Digest {
            digest::find_scheme(&FMS_KEY[..FMS_KEY_PARTIAL], &s1)
        } else {
            None
        };
        match (style, server_scheme) {
            (ClientStyle::Digest, Some(scheme)) => {
                let server_digest = digest::stored_digest(&s1, scheme);
                self.rng.fill_bytes(&mut c2[..HANDSHAKE_SIZE - DIGEST_LEN]);
                digest::sign_response(&FP_KEY, &server_digest, &mut c2);
                let answer_verified = self.our_digest.map(|ours| {
                    digest::response_signature(&FMS_KEY, &ours, &s2)[..]
                        == s2[HANDSHAKE_SIZE - DIGEST_LEN..]
                });
                self.kind = Some(HandshakeKind::Digest {
                    scheme,
                    verified: true,
                    answer_verified,
                });
            }
            _ => {
                // A plain server (or an unsigned S1): answer with the plain echo.
                c2.copy_from_slice(&s1);
                c2[4..8].copy_from_slice(&time.to_be_bytes());
                self.kind = Some(HandshakeKind::Plain);
            }
        }
        self.transmit.extend_from_slice(&c2);
        self.stage = Stage::Done;
    }
}

/// The 1536-byte block at `offset` in `bytes` (zero-padded if short, which
/// the callers rule out by waiting for the whole stage).
fn block_at(bytes: &[u8], offset: usize) -> [u8; HANDSHAKE_SIZE] {
    let mut block = [0u8; HANDSHAKE_SIZE];
    if let Some(src) = bytes.get(offset..offset + HANDSHAKE_SIZE) {
        block.copy_from_slice(src);
    }
    block
}

#[cfg(test)]
mod tests;
