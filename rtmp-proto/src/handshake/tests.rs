use bytes::BytesMut;
use hex_literal::hex;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::*;

const FP_HEAD: &[u8] = b"Genuine Adobe Flash Player 001";
const FMS_HEAD: &[u8] = b"Genuine Adobe Flash Media Server 001";
const TAIL: [u8; 32] = hex!("F0EEC24A8068BEE82E00D0D1029E7E576EEC5D2D29806FAB93B8E636CFEB31AE");

/// Test-side HMAC, built independently of `digest.rs` (fallible constructor, concatenated input).
fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn full_key(head: &[u8]) -> Vec<u8> {
    [head, &TAIL].concat()
}

fn offset(block: &[u8], scheme: DigestScheme) -> usize {
    let (from, base) = match scheme {
        DigestScheme::Scheme0 => (8, 12),
        DigestScheme::Scheme1 => (772, 776),
    };
    block[from..from + 4]
        .iter()
        .map(|&b| b as usize)
        .sum::<usize>()
        % 728
        + base
}

/// Recomputes the digest of a C1/S1 at `scheme` the slow way: copy out the 1504 bytes.
fn recompute(block: &[u8], scheme: DigestScheme, key: &[u8]) -> [u8; 32] {
    let at = offset(block, scheme);
    let mut message = block[..at].to_vec();
    message.extend_from_slice(&block[at + 32..]);
    assert_eq!(message.len(), 1504);
    hmac(key, &[&message])
}

/// A digest C1 built by the test: pattern bytes, digest at `scheme`.
fn crafted_c1(scheme: DigestScheme, fill: u8) -> Vec<u8> {
    let mut c1: Vec<u8> = (0..HANDSHAKE_SIZE)
        .map(|i| (i as u8).wrapping_mul(fill))
        .collect();
    c1[..8].copy_from_slice(&[0, 0, 0, 9, 0x09, 0x00, 0x7C, 0x02]);
    let at = offset(&c1, scheme);
    let digest = recompute(&c1, scheme, FP_HEAD);
    c1[at..at + 32].copy_from_slice(&digest);
    c1
}

fn poll(hs: &mut Handshake) -> Vec<u8> {
    let mut out = BytesMut::new();
    let n = hs.poll_transmit(&mut out);
    assert_eq!(n, out.len());
    out.to_vec()
}

/// Feeds `input` in pieces of `step` bytes; returns the total consumed.
fn feed(hs: &mut Handshake, time: u32, input: &[u8], step: usize) -> usize {
    let mut used = 0;
    for piece in input.chunks(step) {
        let n = hs.handle_input(time, piece).unwrap();
        used += n;
        if n < piece.len() {
            break;
        }
    }
    used
}

/// The three flights of a whole handshake, fed in pieces of `step` bytes.
struct Transcript {
    c0c1: Vec<u8>,
    s0s1s2: Vec<u8>,
    c2: Vec<u8>,
    client: Handshake,
    server: Handshake,
}

fn run(client_seed: u8, server_seed: u8, style: ClientStyle, step: usize) -> Transcript {
    let mut client = Handshake::client([client_seed; 32], style);
    let mut server = Handshake::server([server_seed; 32]);
    let c0c1 = poll(&mut client);
    assert_eq!(c0c1.len(), 1 + HANDSHAKE_SIZE);
    assert_eq!(poll(&mut client), b"");
    assert_eq!(feed(&mut server, 1000, &c0c1, step), c0c1.len());
    let s0s1s2 = poll(&mut server);
    assert_eq!(s0s1s2.len(), 1 + 2 * HANDSHAKE_SIZE);
    assert!(!server.is_done());
    assert_eq!(feed(&mut client, 2000, &s0s1s2, step), s0s1s2.len());
    assert!(client.is_done());
    let c2 = poll(&mut client);
    assert_eq!(c2.len(), HANDSHAKE_SIZE);
    assert_eq!(feed(&mut server, 3000, &c2, step), c2.len());
    assert!(server.is_done());
    assert_eq!(poll(&mut server), b"");
    assert_eq!(poll(&mut client), b"");
    Transcript {
        c0c1,
        s0s1s2,
        c2,
        client,
        server,
    }
}

#[test]
fn plain_client_and_server() {
    let t = run(1, 2, ClientStyle::Plain, HANDSHAKE_SIZE * 4);
    assert_eq!(t.server.kind(), Some(HandshakeKind::Plain));
    assert_eq!(t.client.kind(), Some(HandshakeKind::Plain));
    assert_eq!(t.server.reply_verified(), Some(true));
    assert_eq!(t.client.reply_verified(), Some(true));

    let (c1, s1, s2) = (&t.c0c1[1..], &t.s0s1s2[1..1537], &t.s0s1s2[1537..]);
    assert_eq!(t.c0c1[0], 3);
    assert_eq!(c1[..8], [0; 8]);
    assert_eq!(t.s0s1s2[0], 3);
    // S1: our time, zero field, random.
    assert_eq!(s1[..8], [0, 0, 0x03, 0xE8, 0, 0, 0, 0]);
    assert_ne!(s1[8..], c1[8..]);
    // S2 (spec §5.2.4): C1's time, the time C1 was read, C1's random bytes.
    assert_eq!(s2[..8], [0, 0, 0, 0, 0, 0, 0x03, 0xE8]);
    assert_eq!(s2[8..], c1[8..]);
    // C2: S1's time, the time S1 was read, S1's random bytes.
    assert_eq!(t.c2[..8], [0, 0, 0x03, 0xE8, 0, 0, 0x07, 0xD0]);
    assert_eq!(t.c2[8..], s1[8..]);
}

#[test]
fn digest_client_and_server() {
    let t = run(3, 4, ClientStyle::Digest, HANDSHAKE_SIZE * 4);
    let kind = Some(HandshakeKind::Digest {
        scheme: DigestScheme::Scheme0,
        verified: true,
    });
    assert_eq!(t.server.kind(), kind);
    assert_eq!(t.client.kind(), kind);
    assert_eq!(t.server.reply_verified(), Some(true));
    assert_eq!(t.client.reply_verified(), Some(true));

    let c1 = &t.c0c1[1..];
    assert_eq!(c1[4..8], CLIENT_DIGEST_VERSION);
    let at = offset(c1, DigestScheme::Scheme0);
    let client_digest = recompute(c1, DigestScheme::Scheme0, FP_HEAD);
    assert_eq!(c1[at..at + 32], client_digest);

    let s1 = &t.s0s1s2[1..1537];
    let server_digest = check_server_answer(&t.s0s1s2, DigestScheme::Scheme0, &client_digest);
    // C2 = 1504 bytes + HMAC(HMAC(FP_KEY, S1 digest), those bytes).
    let c2_key = hmac(&full_key(FP_HEAD), &[&server_digest]);
    assert_eq!(t.c2[1504..], hmac(&c2_key, &[&t.c2[..1504]]));
    assert_ne!(t.c2[..1504], s1[..1504]);
}

/// Checks S0, S1's version and digest at `scheme` and S2's signature over
/// `client_digest` with independent code; returns the S1 digest.
fn check_server_answer(s0s1s2: &[u8], scheme: DigestScheme, client_digest: &[u8]) -> [u8; 32] {
    let (s1, s2) = (&s0s1s2[1..1537], &s0s1s2[1537..]);
    assert_eq!(s0s1s2[0], 3);
    assert_eq!(s1[..8], [0, 0, 0x03, 0xE8, 0x04, 0x00, 0x00, 0x01]);
    let at = offset(s1, scheme);
    let server_digest = recompute(s1, scheme, FMS_HEAD);
    assert_eq!(s1[at..at + 32], server_digest);
    let s2_key = hmac(&full_key(FMS_HEAD), &[client_digest]);
    assert_eq!(s2[1504..], hmac(&s2_key, &[&s2[..1504]]));
    server_digest
}

fn server_answer(c1: &[u8]) -> (Handshake, Vec<u8>) {
    let mut server = Handshake::server([5; 32]);
    let c0c1 = [&[3u8][..], c1].concat();
    assert_eq!(server.handle_input(1000, &c0c1).unwrap(), 1537);
    let out = poll(&mut server);
    (server, out)
}

#[test]
fn server_verifies_crafted_c1_at_both_schemes() {
    for scheme in [DigestScheme::Scheme0, DigestScheme::Scheme1] {
        for fill in [1, 7, 13, 255] {
            let c1 = crafted_c1(scheme, fill);
            let (server, out) = server_answer(&c1);
            let expected = HandshakeKind::Digest {
                scheme,
                verified: true,
            };
            assert_eq!(server.kind(), Some(expected), "{scheme:?} fill {fill}");
            let at = offset(&c1, scheme);
            check_server_answer(&out, scheme, &c1[at..at + 32]);
        }
    }
}

#[test]
fn server_answers_a_bad_digest_leniently() {
    let mut c1 = crafted_c1(DigestScheme::Scheme1, 3);
    c1[1535] ^= 0x55; // breaks the digest, not the offsets
    let (mut server, out) = server_answer(&c1);
    assert_eq!(
        server.kind(),
        Some(HandshakeKind::Digest {
            scheme: DigestScheme::Scheme0,
            verified: false,
        })
    );
    let at = offset(&c1, DigestScheme::Scheme0);
    check_server_answer(&out, DigestScheme::Scheme0, &c1[at..at + 32]);
    // The handshake still completes; a C2 that signs nothing is only recorded.
    assert_eq!(
        server.handle_input(0, &[0u8; HANDSHAKE_SIZE]).unwrap(),
        1536
    );
    assert!(server.is_done());
    assert_eq!(server.reply_verified(), Some(false));
}

#[test]
fn digest_client_verifies_and_answers_crafted_s1() {
    for scheme in [DigestScheme::Scheme0, DigestScheme::Scheme1] {
        let mut s1: Vec<u8> = (0..HANDSHAKE_SIZE).map(|i| (i * 5) as u8).collect();
        s1[4..8].copy_from_slice(&[0x0D, 0x0E, 0x0A, 0x0D]);
        let at = offset(&s1, scheme);
        let server_digest = recompute(&s1, scheme, FMS_HEAD);
        s1[at..at + 32].copy_from_slice(&server_digest);

        let mut client = Handshake::client([6; 32], ClientStyle::Digest);
        let c1 = poll(&mut client)[1..].to_vec();
        let client_digest = recompute(&c1, DigestScheme::Scheme0, FP_HEAD);
        let mut s2 = vec![0x42u8; 1504];
        let s2_key = hmac(&full_key(FMS_HEAD), &[&client_digest]);
        s2.extend_from_slice(&hmac(&s2_key, &[&s2]));

        let input = [&[3u8][..], &s1, &s2].concat();
        assert_eq!(client.handle_input(0, &input).unwrap(), 3073);
        let verified = true;
        assert_eq!(
            client.kind(),
            Some(HandshakeKind::Digest { scheme, verified })
        );
        assert_eq!(client.reply_verified(), Some(true));
        let c2 = poll(&mut client);
        let c2_key = hmac(&full_key(FP_HEAD), &[&server_digest]);
        assert_eq!(c2[1504..], hmac(&c2_key, &[&c2[..1504]]));
    }
}

#[test]
fn digest_client_falls_back_to_echo_for_a_plain_s1() {
    let mut client = Handshake::client([7; 32], ClientStyle::Digest);
    let c1 = poll(&mut client)[1..].to_vec();
    let mut s1 = vec![0xA5u8; HANDSHAKE_SIZE];
    s1[..8].copy_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
    // rtmplite-style S2: zeros, no echo.
    let input = [&[3u8][..], &s1, &[0; HANDSHAKE_SIZE]].concat();
    assert_eq!(client.handle_input(50, &input).unwrap(), 3073);
    assert_eq!(client.kind(), Some(HandshakeKind::Plain));
    assert_eq!(client.reply_verified(), Some(false));
    let c2 = poll(&mut client);
    assert_eq!(c2[..8], [0, 0, 0, 1, 0, 0, 0, 50]);
    assert_eq!(c2[8..], s1[8..]);
    assert_ne!(c1[8..], s1[8..]);
}

#[test]
fn digest_client_is_lenient_with_a_bad_s1_digest() {
    let mut client = Handshake::client([8; 32], ClientStyle::Digest);
    poll(&mut client);
    let mut s1 = vec![0x11u8; HANDSHAKE_SIZE];
    s1[4..8].copy_from_slice(&SERVER_DIGEST_VERSION);
    let input = [&[3u8][..], &s1, &[0; HANDSHAKE_SIZE]].concat();
    assert_eq!(client.handle_input(0, &input).unwrap(), 3073);
    assert_eq!(
        client.kind(),
        Some(HandshakeKind::Digest {
            scheme: DigestScheme::Scheme0,
            verified: false,
        })
    );
    let c2 = poll(&mut client);
    let at = offset(&s1, DigestScheme::Scheme0);
    let c2_key = hmac(&full_key(FP_HEAD), &[&s1[at..at + 32]]);
    assert_eq!(c2[1504..], hmac(&c2_key, &[&c2[..1504]]));
}

#[test]
fn same_seed_same_bytes() {
    for style in [ClientStyle::Plain, ClientStyle::Digest] {
        let a = run(9, 10, style, 4096);
        let b = run(9, 10, style, 4096);
        assert_eq!((&a.c0c1, &a.s0s1s2, &a.c2), (&b.c0c1, &b.s0s1s2, &b.c2));
        let other = run(11, 12, style, 4096);
        assert_ne!(a.c0c1, other.c0c1);
        assert_ne!(a.s0s1s2, other.s0s1s2);
        assert_ne!(a.c2, other.c2);
    }
}

#[test]
fn any_split_gives_the_same_bytes() {
    for style in [ClientStyle::Plain, ClientStyle::Digest] {
        let whole = run(13, 14, style, 4096);
        for step in [1, 2, 7, 1000, 1536, 1537] {
            let split = run(13, 14, style, step);
            assert_eq!(whole.c0c1, split.c0c1, "{style:?} step {step}");
            assert_eq!(whole.s0s1s2, split.s0s1s2, "{style:?} step {step}");
            assert_eq!(whole.c2, split.c2, "{style:?} step {step}");
            assert_eq!(split.server.kind(), whole.server.kind());
            assert_eq!(split.server.reply_verified(), Some(true));
        }
    }
}

#[test]
fn bytes_after_the_handshake_are_left_for_the_chunk_stream() {
    let t = run(15, 16, ClientStyle::Digest, 4096);
    let chunk_bytes = [0x02, 0x00, 0x00, 0x00, 0xAA];

    // C0 + C1 + C2 + chunk data in one read.
    let mut server = Handshake::server([16; 32]);
    let input = [&t.c0c1[..], &t.c2, &chunk_bytes].concat();
    assert_eq!(server.handle_input(1000, &input).unwrap(), 3073);
    assert!(server.is_done());
    assert_eq!(poll(&mut server), t.s0s1s2);
    assert_eq!(server.handle_input(3000, &chunk_bytes).unwrap(), 0);

    // C2 + chunk data after C0 + C1.
    let mut server = Handshake::server([16; 32]);
    assert_eq!(server.handle_input(1000, &t.c0c1).unwrap(), 1537);
    let input = [&t.c2[..], &chunk_bytes].concat();
    assert_eq!(server.handle_input(3000, &input).unwrap(), 1536);

    // S0 + S1 + S2 + chunk data.
    let mut client = Handshake::client([15; 32], ClientStyle::Digest);
    poll(&mut client);
    let input = [&t.s0s1s2[..], &chunk_bytes].concat();
    assert_eq!(client.handle_input(2000, &input).unwrap(), 3073);
    assert_eq!(client.handle_input(2000, &chunk_bytes).unwrap(), 0);
    assert_eq!(poll(&mut client), t.c2);
}

#[test]
fn non_rtmp_first_bytes_are_rejected() {
    for first in [b'G', 6, 8, 9, 32, 0x80, 255] {
        let mut server = Handshake::server([0; 32]);
        let expected = Error::Protocol(ProtocolError::UnsupportedVersion(first));
        let input = [&[first][..], b"ET / HTTP/1.1\r\n"].concat();
        assert_eq!(server.handle_input(0, &input), Err(expected.clone()));
        // Failed stays failed, and sends nothing.
        assert_eq!(server.handle_input(0, b"more"), Err(expected.clone()));
        assert_eq!(poll(&mut server), b"");
        assert!(!server.is_done());
        assert_eq!(server.kind(), None);
    }
    let mut client = Handshake::client([0; 32], ClientStyle::Plain);
    assert_eq!(
        client.handle_input(0, &[6]),
        Err(Error::Protocol(ProtocolError::UnsupportedVersion(6)))
    );
    assert_eq!(poll(&mut client), b"");
}

#[test]
fn unknown_low_versions_are_answered_with_3() {
    let t = run(17, 18, ClientStyle::Plain, 4096);
    for version in [0, 1, 2, 4, 5, 7, 10, 31] {
        let mut server = Handshake::server([18; 32]);
        let mut c0c1 = t.c0c1.clone();
        c0c1[0] = version;
        assert_eq!(server.handle_input(1000, &c0c1).unwrap(), 1537);
        let out = poll(&mut server);
        assert_eq!(out, t.s0s1s2, "C0 = {version}");
        assert_eq!(out[0], 3);
    }
}

#[test]
fn nothing_happens_before_input() {
    let mut server = Handshake::server([0; 32]);
    assert_eq!(server.handle_input(0, &[]).unwrap(), 0);
    assert_eq!(poll(&mut server), b"");
    assert_eq!(server.kind(), None);
    assert_eq!(server.reply_verified(), None);
    assert_eq!(server.handle_input(0, &[3]).unwrap(), 1);
    assert_eq!(server.handle_input(0, &[0; 1535]).unwrap(), 1535);
    assert_eq!(poll(&mut server), b"");
    assert_eq!(server.kind(), None);

    let mut client = Handshake::client([0; 32], ClientStyle::Digest);
    assert_eq!(client.handle_input(0, &[]).unwrap(), 0);
    assert_eq!(client.kind(), None);
    assert_eq!(client.reply_verified(), None);
}

#[test]
fn plain_reply_mismatch_is_only_recorded() {
    let t = run(19, 20, ClientStyle::Plain, 4096);
    let mut server = Handshake::server([20; 32]);
    server.handle_input(1000, &t.c0c1).unwrap();
    let mut c2 = t.c2.clone();
    c2[100] ^= 1;
    assert_eq!(server.handle_input(3000, &c2).unwrap(), 1536);
    assert!(server.is_done());
    assert_eq!(server.reply_verified(), Some(false));
    // The time fields are not part of the check (Red5 compares loosely too).
    let mut c2 = t.c2.clone();
    c2[..8].fill(0xEE);
    let mut server = Handshake::server([20; 32]);
    server.handle_input(1000, &t.c0c1).unwrap();
    server.handle_input(3000, &c2).unwrap();
    assert_eq!(server.reply_verified(), Some(true));
}

#[test]
fn debug_does_not_dump_blocks() {
    let server = Handshake::server([0; 32]);
    let text = format!("{server:?}");
    assert!(
        text.starts_with("Handshake { role: Server, stage: Version"),
        "{text}"
    );
    assert!(text.len() < 200, "{text}");
}

#[test]
fn random_bytes_at_random_splits_never_panic() {
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    let mut rng = ChaCha8Rng::from_seed([21; 32]);
    for round in 0..64u32 {
        let mut input = vec![0u8; 3200];
        rng.fill_bytes(&mut input);
        input[0] = (round % 12) as u8; // mostly versions we answer
        if round % 3 == 0 {
            input[5..9].fill(0); // plain C1/S1
        }
        let mut sides = [
            Handshake::server([round as u8; 32]),
            Handshake::client([round as u8; 32], ClientStyle::Digest),
            Handshake::client([round as u8; 32], ClientStyle::Plain),
        ];
        for hs in &mut sides {
            let mut rest = &input[..];
            let mut consumed = 0;
            while !rest.is_empty() {
                let step = 1 + (rng.next_u32() as usize % 700).min(rest.len() - 1);
                match hs.handle_input(u32::MAX, &rest[..step]) {
                    Ok(n) => {
                        assert!(n <= step);
                        consumed += n;
                        if n < step {
                            break;
                        }
                    }
                    Err(e) => {
                        assert!(matches!(
                            e,
                            Error::Protocol(ProtocolError::UnsupportedVersion(_))
                        ));
                        break;
                    }
                }
                rest = &rest[step..];
                let _ = poll(hs);
            }
            if matches!(input[0], 6 | 8 | 9) {
                assert!(!hs.is_done());
            } else {
                // Server: C0 + C1 + C2; client: S0 + S1 + S2.
                assert_eq!(consumed, 3073, "round {round}");
                assert!(hs.is_done());
                assert!(hs.reply_verified().is_some());
            }
        }
    }
}

/// Blocks are filled a chunk at a time, yet carry the same bytes as one
/// ChaCha8 stream over the whole block: C1's random part, then (server
/// side, after S1's) S2's for a digest handshake.
#[test]
fn random_fields_are_one_chacha8_stream() {
    let mut client = Handshake::client([7; 32], ClientStyle::Plain);
    let mut c0c1 = BytesMut::new();
    client.poll_transmit(&mut c0c1);
    let mut expected = [0; HANDSHAKE_SIZE - 8];
    ChaCha8Rng::from_seed([7; 32]).fill_bytes(&mut expected);
    assert_eq!(c0c1[1..9], [0; 8]);
    assert_eq!(c0c1[9..], expected[..]);

    let mut server = Handshake::server([9; 32]);
    let mut c0c1 = BytesMut::new();
    Handshake::client([7; 32], ClientStyle::Digest).poll_transmit(&mut c0c1);
    server.handle_input(5, &c0c1).unwrap();
    let mut s0s1s2 = BytesMut::new();
    server.poll_transmit(&mut s0s1s2);
    let mut rng = ChaCha8Rng::from_seed([9; 32]);
    let mut s1_random = [0; HANDSHAKE_SIZE - 8];
    rng.fill_bytes(&mut s1_random);
    let mut s2_random = [0; HANDSHAKE_SIZE - 32];
    rng.fill_bytes(&mut s2_random);
    let s2 = &s0s1s2[1 + HANDSHAKE_SIZE..];
    assert_eq!(s2[..HANDSHAKE_SIZE - 32], s2_random[..]);
    // S1's random bytes, except where its digest now sits.
    let s1 = &s0s1s2[1..=HANDSHAKE_SIZE];
    assert_eq!(s1[..4], 5u32.to_be_bytes());
    let differing = s1[8..]
        .iter()
        .zip(&s1_random)
        .filter(|(a, b)| a != b)
        .count();
    assert!(differing <= 32, "{differing}");
}
