//! The Flash Player 9 "digest" handshake: HMAC-SHA256 signatures inside C1/S1
//! and C2/S2 (not in the RTMP spec; reference/protocol.md §1.2).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::HANDSHAKE_SIZE;

/// "Genuine Adobe Flash Player 001" followed by the shared 32-byte tail.
pub(super) const FP_KEY: [u8; 62] = *b"Genuine Adobe Flash Player 001\
    \xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\
    \x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";

/// "Genuine Adobe Flash Media Server 001" followed by the same tail.
pub(super) const FMS_KEY: [u8; 68] = *b"Genuine Adobe Flash Media Server 001\
    \xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\
    \x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";

/// The client signs C1 with the first 30 bytes of [`FP_KEY`].
pub(super) const FP_KEY_PARTIAL: usize = 30;
/// The server signs S1 with the first 36 bytes of [`FMS_KEY`].
pub(super) const FMS_KEY_PARTIAL: usize = 36;

/// Length of an HMAC-SHA256 digest.
pub(super) const DIGEST_LEN: usize = 32;

/// Where in a 1536-byte block the digest sits (Red5's "algorithm" 0 or 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Offset `(b[8]+b[9]+b[10]+b[11]) % 728 + 12`.
    Zero,
    /// Offset `(b[772]+b[773]+b[774]+b[775]) % 728 + 776`.
    One,
}

impl Scheme {
    /// The digest offset in `block` for this scheme. Always at most
    /// `1536 - 32`, so `offset..offset + 32` lies inside the block.
    pub(super) fn offset(self, block: &[u8; HANDSHAKE_SIZE]) -> usize {
        let (at, base) = match self {
            Self::Zero => (8, 12),
            Self::One => (772, 776),
        };
        let sum: usize = block[at..at + 4].iter().map(|&b| usize::from(b)).sum();
        sum % 728 + base
    }
}

/// HMAC-SHA256 of `parts` (concatenated) under `key`.
pub(super) fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    // HMAC accepts keys of any length; `new_from_slice` only fails for MACs
    // with a fixed key size, which HMAC is not.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The digest of `block` for `scheme`: HMAC over the block without the 32
/// digest bytes.
pub(super) fn block_digest(
    key: &[u8],
    block: &[u8; HANDSHAKE_SIZE],
    scheme: Scheme,
) -> [u8; DIGEST_LEN] {
    let off = scheme.offset(block);
    hmac(key, &[&block[..off], &block[off + DIGEST_LEN..]])
}

/// The digest stored in `block` at `scheme`'s offset.
pub(super) fn stored_digest(block: &[u8; HANDSHAKE_SIZE], scheme: Scheme) -> [u8; DIGEST_LEN] {
    let off = scheme.offset(block);
    let mut out = [0u8; DIGEST_LEN];
    out.copy_from_slice(&block[off..off + DIGEST_LEN]);
    out
}

/// Writes the digest of `block` (under `key`) at `scheme`'s offset.
pub(super) fn sign(
    key: &[u8],
    block: &mut [u8; HANDSHAKE_SIZE],
    scheme: Scheme,
) -> [u8; DIGEST_LEN] {
    let digest = block_digest(key, block, scheme);
    let off = scheme.offset(block);
    block[off..off + DIGEST_LEN].copy_from_slice(&digest);
    digest
}

/// The scheme whose stored digest verifies under `key`, trying 0 then 1.
pub(super) fn find_scheme(key: &[u8], block: &[u8; HANDSHAKE_SIZE]) -> Option<Scheme> {
    [Scheme::Zero, Scheme::One]
        .into_iter()
        .find(|&s| block_digest(key, block, s) == stored_digest(block, s))
}

/// Fills the last 32 bytes of a C2/S2 `block` with the signature answering
/// `peer_digest`: `HMAC(HMAC(key, peer_digest), block[..1504])`.
pub(super) fn sign_response(
    key: &[u8],
    peer_digest: &[u8; DIGEST_LEN],
    block: &mut [u8; HANDSHAKE_SIZE],
) {
    let signature = response_signature(key, peer_digest, block);
    block[HANDSHAKE_SIZE - DIGEST_LEN..].copy_from_slice(&signature);
}

/// The signature a C2/S2 answering `peer_digest` should carry.
pub(super) fn response_signature(
    key: &[u8],
    peer_digest: &[u8; DIGEST_LEN],
    block: &[u8; HANDSHAKE_SIZE],
) -> [u8; DIGEST_LEN] {
    let response_key = hmac(key, &[peer_digest]);
    hmac(&response_key, &[&block[..HANDSHAKE_SIZE - DIGEST_LEN]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_documented_lengths_and_shared_tail() {
        assert_eq!(&FP_KEY[..FP_KEY_PARTIAL], b"Genuine Adobe Flash Player 001");
        assert_eq!(
            &FMS_KEY[..FMS_KEY_PARTIAL],
            b"Genuine Adobe Flash Media Server 001"
        );
        assert_eq!(FP_KEY[FP_KEY_PARTIAL..], FMS_KEY[FMS_KEY_PARTIAL..]);
    }

    #[test]
    fn hmac_matches_a_known_answer() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let got = hmac(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            got,
            hex_literal::hex!("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
    }

    #[test]
    fn offsets_stay_inside_the_block() {
        let max = [0xFFu8; HANDSHAKE_SIZE];
        assert_eq!(Scheme::Zero.offset(&max), (4 * 255) % 728 + 12);
        assert!(Scheme::One.offset(&max) + DIGEST_LEN <= HANDSHAKE_SIZE);
        for sum in 0..=(4 * 255) {
            assert!(sum % 728 + 776 + DIGEST_LEN <= HANDSHAKE_SIZE);
            assert!(sum % 728 + 12 + DIGEST_LEN <= 772);
        }
    }

    #[test]
    fn signed_blocks_verify_with_their_scheme() {
        let mut block = [0u8; HANDSHAKE_SIZE];
        for (i, b) in block.iter_mut().enumerate() {
            *b = (i * 31 % 251) as u8;
        }
        let mut zero = block;
        sign(&FP_KEY[..FP_KEY_PARTIAL], &mut zero, Scheme::Zero);
        assert_eq!(
            find_scheme(&FP_KEY[..FP_KEY_PARTIAL], &zero),
            Some(Scheme::Zero)
        );
        let mut one = block;
        sign(&FP_KEY[..FP_KEY_PARTIAL], &mut one, Scheme::One);
        assert_eq!(
            find_scheme(&FP_KEY[..FP_KEY_PARTIAL], &one),
            Some(Scheme::One)
        );
        assert_eq!(find_scheme(&FP_KEY[..FP_KEY_PARTIAL], &block), None);
        assert_eq!(find_scheme(&FMS_KEY[..FMS_KEY_PARTIAL], &zero), None);
    }
}
