//! The Flash Player 9 "digest" handshake (docs/PROTOCOL.md §1.2).
//!
//! It is not in the RTMP spec. The keys and offsets come from Red5
//! `RTMPHandshake.java` and rtmplite `rtmp.py`, which agree:
//!
//! - A C1/S1 carries a 32-byte HMAC-SHA256 of its other 1504 bytes, keyed with
//!   the ASCII head of `FP_KEY` (client) or `FMS_KEY` (server), at an offset
//!   derived from four of its own bytes (scheme 0 or scheme 1).
//! - A C2/S2 is 1504 arbitrary bytes and their HMAC, keyed with
//!   `HMAC(full key of the replying side, digest of the block it answers)`.
//!
//! Cost: every HMAC here feeds the block to SHA-256 as two slices around the
//! digest, never through a copy, and verifying both schemes hashes the common
//! prefix once.

use hmac::digest::generic_array::GenericArray;
use hmac::{Hmac, Mac, digest::KeyInit};
use sha2::{Digest, Sha256};

use super::{Block, DigestScheme, HANDSHAKE_SIZE};

/// Bytes of one digest (SHA-256 output).
pub(crate) const DIGEST_SIZE: usize = 32;

/// Bytes of a C2/S2 covered by its trailing digest.
const SIGNED_SIZE: usize = HANDSHAKE_SIZE - DIGEST_SIZE;

/// The ASCII head of [`FP_KEY`]: keys the digest of a client's C1.
pub(crate) const FP_KEY_HEAD: &[u8; 30] = b"Genuine Adobe Flash Player 001";

/// The ASCII head of [`FMS_KEY`]: keys the digest of a server's S1.
pub(crate) const FMS_KEY_HEAD: &[u8; 36] = b"Genuine Adobe Flash Media Server 001";

/// The 32 bytes both full keys end with (docs/PROTOCOL.md §1.2).
const KEY_TAIL: [u8; 32] = [
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
];

/// Flash Player's full key (62 bytes): derives the key that signs a C2.
pub(crate) const FP_KEY: [u8; 62] = join(FP_KEY_HEAD, &KEY_TAIL);

/// Flash Media Server's full key (68 bytes): derives the key that signs an S2.
pub(crate) const FMS_KEY: [u8; 68] = join(FMS_KEY_HEAD, &KEY_TAIL);

/// A digest as it sits in a block.
pub(crate) type Digest32 = [u8; DIGEST_SIZE];

/// Where the digest of a C1/S1 sits under `scheme`.
///
/// The result is at most `HANDSHAKE_SIZE - DIGEST_SIZE`, so
/// `offset..offset + DIGEST_SIZE` is always inside the block: scheme 0 gives
/// `sum % 728 + 12 ≤ 739`, scheme 1 gives `sum % 728 + 776 ≤ 1503`, and
/// `1503 + 32 = 1535 < 1536`. Scheme 0's digest ends (≤ 771) before scheme 1's
/// starts (≥ 776), which [`find`] relies on.
pub(crate) fn offset(block: &Block, scheme: DigestScheme) -> usize {
    // Fixed indices into our own 1536-byte array: in bounds by construction.
    let (bytes, base) = match scheme {
        DigestScheme::Scheme0 => ([block[8], block[9], block[10], block[11]], 12),
        DigestScheme::Scheme1 => ([block[772], block[773], block[774], block[775]], 776),
    };
    let sum: usize = bytes.iter().map(|&b| usize::from(b)).sum();
    sum % 728 + base
}

/// The digest stored at `offset` (from [`offset`], so in bounds).
pub(crate) fn digest_at(block: &Block, offset: usize) -> Digest32 {
    let mut digest = [0; DIGEST_SIZE];
    if let Some(stored) = block.get(offset..offset.saturating_add(DIGEST_SIZE)) {
        digest.copy_from_slice(stored);
    }
    digest
}

/// Finds and verifies the digest of a peer's C1 (`key` = [`FP_KEY_HEAD`]) or
/// S1 (`key` = [`FMS_KEY_HEAD`]): scheme 0 first, then scheme 1, as Red5 does.
pub(crate) fn find(block: &Block, key: &[u8]) -> Option<(DigestScheme, Digest32)> {
    let at0 = offset(block, DigestScheme::Scheme0);
    let at1 = offset(block, DigestScheme::Scheme1);
    // Bounds: at0 ≤ 739, at0 + 32 ≤ 771 < 776 ≤ at1 ≤ 1503 (see `offset`), so
    // every range below is inside the 1536-byte block and in order. The
    // scheme-0 message starts with block[..at0] and so does the scheme-1
    // message: hash that prefix once and fork.
    let mut prefix = keyed(key);
    prefix.update(&block[..at0]);
    let mut mac0 = prefix.clone();
    mac0.update(&block[at0 + DIGEST_SIZE..]);
    if mac0.verify_slice(&block[at0..at0 + DIGEST_SIZE]).is_ok() {
        return Some((DigestScheme::Scheme0, digest_at(block, at0)));
    }
    let mut mac1 = prefix;
    mac1.update(&block[at0..at1]);
    mac1.update(&block[at1 + DIGEST_SIZE..]);
    if mac1.verify_slice(&block[at1..at1 + DIGEST_SIZE]).is_ok() {
        return Some((DigestScheme::Scheme1, digest_at(block, at1)));
    }
    None
}

/// Writes the digest of our own C1/S1 under `scheme`, keyed with `key`, and
/// returns it.
pub(crate) fn sign(block: &mut Block, scheme: DigestScheme, key: &[u8]) -> Digest32 {
    let at = offset(block, scheme);
    // `at ≤ 1503` (see `offset`), so both splits are in bounds.
    let (before, rest) = block.split_at_mut(at);
    let (slot, after) = rest.split_at_mut(DIGEST_SIZE);
    let mut mac = keyed(key);
    mac.update(before);
    mac.update(after);
    let digest: Digest32 = mac.finalize().into_bytes().into();
    slot.copy_from_slice(&digest);
    digest
}

/// The key that signs a C2 (`full_key` = [`FP_KEY`], `digest` = the S1
/// digest) or an S2 (`full_key` = [`FMS_KEY`], `digest` = the C1 digest).
pub(crate) fn reply_key(full_key: &[u8], digest: &Digest32) -> Digest32 {
    let mut mac = keyed(full_key);
    mac.update(digest);
    mac.finalize().into_bytes().into()
}

/// Makes `block` a signed C2/S2: its last 32 bytes become the HMAC of the
/// first 1504 under `key` (from [`reply_key`]).
pub(crate) fn sign_reply(block: &mut Block, key: &Digest32) {
    let (signed, slot) = block.split_at_mut(SIGNED_SIZE);
    let mut mac = keyed(key);
    mac.update(signed);
    slot.copy_from_slice(&mac.finalize().into_bytes());
}

/// Whether a peer's C2/S2 is signed with `key` (from [`reply_key`]).
pub(crate) fn reply_verifies(block: &Block, key: &Digest32) -> bool {
    let (signed, digest) = block.split_at(SIGNED_SIZE);
    let mut mac = keyed(key);
    mac.update(signed);
    mac.verify_slice(digest).is_ok()
}

/// HMAC-SHA256 keyed with `key`, without a fallible constructor: RFC 2104
/// zero-pads a key up to the 64-byte block and hashes a longer one first
/// (`FMS_KEY` is 68 bytes), which is exactly what this does.
fn keyed(key: &[u8]) -> Hmac<Sha256> {
    let mut padded = [0u8; 64];
    match padded.get_mut(..key.len()) {
        Some(head) => head.copy_from_slice(key),
        None => padded[..DIGEST_SIZE].copy_from_slice(&Sha256::digest(key)),
    }
    <Hmac<Sha256> as KeyInit>::new(GenericArray::from_slice(&padded))
}

/// `head ++ tail` as an array, checked at compile time.
const fn join<const N: usize>(head: &[u8], tail: &[u8; 32]) -> [u8; N] {
    // Unreachable from peer bytes: only the two `const` keys above call
    // this, so a wrong length fails the build, never a handshake.
    assert!(head.len() + tail.len() == N);
    let mut out = [0; N];
    let mut i = 0;
    while i < head.len() {
        out[i] = head[i];
        i += 1;
    }
    let mut j = 0;
    while j < tail.len() {
        out[head.len() + j] = tail[j];
        j += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    /// A C1 that does not depend on our random source: byte `i` is
    /// `(i * 31 + 7) % 256`, time 0, Flash-like version `80 00 07 02`.
    fn pattern_block() -> Block {
        let mut block = [0u8; HANDSHAKE_SIZE];
        for (i, b) in block.iter_mut().enumerate() {
            *b = ((i * 31 + 7) % 256) as u8;
        }
        block[..8].copy_from_slice(&[0, 0, 0, 0, 0x80, 0x00, 0x07, 0x02]);
        block
    }

    #[test]
    fn keys_have_the_documented_lengths_and_tail() {
        assert_eq!(FP_KEY.len(), 62);
        assert_eq!(FMS_KEY.len(), 68);
        assert_eq!(&FP_KEY[..30], FP_KEY_HEAD);
        assert_eq!(&FMS_KEY[..36], FMS_KEY_HEAD);
        assert_eq!(FP_KEY[30..], KEY_TAIL);
        assert_eq!(FMS_KEY[36..], KEY_TAIL);
    }

    #[test]
    fn offsets_follow_both_schemes() {
        let block = pattern_block();
        // Bytes 8..12 are 255, 30, 61, 92 (pattern): 438 % 728 + 12.
        assert_eq!(offset(&block, DigestScheme::Scheme0), 450);
        // Bytes 772..776 are 131, 162, 193, 224: 710 % 728 + 776.
        assert_eq!(offset(&block, DigestScheme::Scheme1), 1486);
        let mut max = [0xFFu8; HANDSHAKE_SIZE];
        // 4 * 255 = 1020 → 292 + base: the sum wraps modulo 728.
        assert_eq!(offset(&max, DigestScheme::Scheme0), 304);
        max[8..12].copy_from_slice(&[0xFF, 0xFF, 0xD9, 0]);
        assert_eq!(offset(&max, DigestScheme::Scheme0), 739);
        max[772..776].copy_from_slice(&[0xFF, 0xFF, 0xD9, 0]);
        assert_eq!(offset(&max, DigestScheme::Scheme1), 1503);
    }

    /// Golden values computed independently with Python's `hmac` module:
    /// `hmac.new(key, msg, hashlib.sha256).hexdigest()` over the same pattern.
    #[test]
    fn known_answer_vectors() {
        let mut block = pattern_block();
        let digest = sign(&mut block, DigestScheme::Scheme0, FP_KEY_HEAD);
        assert_eq!(
            digest,
            hex!("881e5e62d39a04067e5b416cff5d71da1ade0c7b7c5164adb00436674ea7aaef")
        );
        assert_eq!(block[450..482], digest);
        assert_eq!(
            find(&block, FP_KEY_HEAD),
            Some((DigestScheme::Scheme0, digest))
        );

        // The 68-byte key is longer than SHA-256's block: hashed first.
        let s2_key = reply_key(&FMS_KEY, &digest);
        assert_eq!(
            s2_key,
            hex!("b663a949e4261075e8cb7c3b7f752350dc2cbdd5ab51099bd9e0c0b5529ddc80")
        );
        let c2_key = reply_key(&FP_KEY, &digest);
        assert_eq!(
            c2_key,
            hex!("76c4dc54aeb54109f85cb47a68a57fc4a8959cbf27e7787f2571f67bfefcfb17")
        );

        let mut reply = pattern_block();
        sign_reply(&mut reply, &s2_key);
        assert_eq!(
            reply[SIGNED_SIZE..],
            hex!("720f37735a24450bf6a58ae86f271ed109bd8416df652f0b0a14a41a1f216535")
        );
        assert!(reply_verifies(&reply, &s2_key));
        assert!(!reply_verifies(&reply, &c2_key));
    }

    #[test]
    fn scheme_one_is_found_after_scheme_zero_fails() {
        let mut block = pattern_block();
        let digest = sign(&mut block, DigestScheme::Scheme1, FMS_KEY_HEAD);
        assert_eq!(block[1486..1518], digest);
        assert_eq!(
            find(&block, FMS_KEY_HEAD),
            Some((DigestScheme::Scheme1, digest))
        );
        assert_eq!(find(&block, FP_KEY_HEAD), None);
    }

    #[test]
    fn a_flipped_bit_anywhere_breaks_the_digest() {
        let mut block = pattern_block();
        sign(&mut block, DigestScheme::Scheme0, FP_KEY_HEAD);
        for i in [0, 100, 449, 450, 481, 482, 1535] {
            let mut broken = block;
            broken[i] ^= 1;
            assert_eq!(find(&broken, FP_KEY_HEAD), None, "byte {i}");
        }
    }
}
