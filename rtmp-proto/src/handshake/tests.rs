use super::digest::{self, Scheme};
use super::*;

fn take(hs: &mut Handshake) -> Vec<u8> {
    let mut out = BytesMut::new();
    hs.poll_transmit(&mut out);
    out.to_vec()
}

/// Runs a client and a server against each other, feeding `step` bytes at a time.
fn run(client: &mut Handshake, server: &mut Handshake, step: usize) {
    for _ in 0..10 {
        let c = take(client);
        for piece in c.chunks(step) {
            assert_eq!(server.handle_input(7, piece).unwrap(), piece.len());
        }
        let s = take(server);
        for piece in s.chunks(step) {
            assert_eq!(client.handle_input(9, piece).unwrap(), piece.len());
        }
    }
}

/// A C1 with Flash's version bytes and its digest at `scheme`.
fn flash_c1(scheme: Scheme) -> [u8; HANDSHAKE_SIZE] {
    let mut c1 = [0u8; HANDSHAKE_SIZE];
    for (i, b) in c1.iter_mut().enumerate() {
        *b = (i * 7 % 253) as u8;
    }
    c1[4..8].copy_from_slice(&[9, 0, 0x7C, 2]);
    digest::sign(&FP_KEY[..FP_KEY_PARTIAL], &mut c1, scheme);
    c1
}

#[test]
fn plain_client_and_server() {
    let mut client = Handshake::client([1; 32], ClientStyle::Plain);
    let mut server = Handshake::server([2; 32]);
    run(&mut client, &mut server, 4096);
    assert!(client.is_done() && server.is_done());
    assert_eq!(client.kind(), Some(HandshakeKind::Plain));
    assert_eq!(server.kind(), Some(HandshakeKind::Plain));
}

#[test]
fn plain_server_echoes_c1_in_s2() {
    let mut server = Handshake::server([2; 32]);
    let mut c0c1 = vec![3u8];
    c0c1.extend((0..HANDSHAKE_SIZE).map(|i| if (4..8).contains(&i) { 0 } else { i as u8 }));
    assert_eq!(server.handle_input(42, &c0c1).unwrap(), 1 + HANDSHAKE_SIZE);
    let out = take(&mut server);
    assert_eq!(out.len(), 1 + 2 * HANDSHAKE_SIZE);
    assert_eq!(out[0], 3);
    let s1 = &out[1..1 + HANDSHAKE_SIZE];
    assert_eq!(&s1[..4], &42u32.to_be_bytes());
    assert_eq!(&s1[4..8], &[0, 0, 0, 0]);
    let s2 = &out[1 + HANDSHAKE_SIZE..];
    assert_eq!(&s2[..4], &c0c1[1..5]);
    assert_eq!(&s2[4..8], &42u32.to_be_bytes());
    assert_eq!(&s2[8..], &c0c1[9..]);
    assert!(!server.is_done());
}

#[test]
fn digest_client_and_server_verify_each_other() {
    let mut client = Handshake::client([1; 32], ClientStyle::Digest);
    let mut server = Handshake::server([2; 32]);
    run(&mut client, &mut server, 4096);
    let expected = Some(HandshakeKind::Digest {
        scheme: Scheme::Zero,
        verified: true,
        answer_verified: Some(true),
    });
    assert_eq!(server.kind(), expected);
    assert_eq!(client.kind(), expected);
}

#[test]
fn server_finds_the_client_digest_with_either_scheme() {
    for scheme in [Scheme::Zero, Scheme::One] {
        let c1 = flash_c1(scheme);
        let mut server = Handshake::server([5; 32]);
        let mut input = vec![3u8];
        input.extend_from_slice(&c1);
        server.handle_input(0, &input).unwrap();
        let out = take(&mut server);
        let s1: [u8; HANDSHAKE_SIZE] = out[1..1 + HANDSHAKE_SIZE].try_into().unwrap();
        let s2: [u8; HANDSHAKE_SIZE] = out[1 + HANDSHAKE_SIZE..].try_into().unwrap();
        assert_eq!(&s1[4..8], &SERVER_VERSION);
        // Recompute S1's digest independently: HMAC over the 1504 bytes around it.
        let off = scheme.offset(&s1);
        let mut around = s1[..off].to_vec();
        around.extend_from_slice(&s1[off + 32..]);
        assert_eq!(digest::hmac(&FMS_KEY[..36], &[&around]), s1[off..off + 32]);
        // S2 is signed with a key derived from the client's digest.
        let client_digest = &c1[scheme.offset(&c1)..scheme.offset(&c1) + 32];
        let key = digest::hmac(&FMS_KEY, &[client_digest]);
        assert_eq!(digest::hmac(&key, &[&s2[..1504]]), s2[1504..]);
        assert_eq!(
            server.kind(),
            Some(HandshakeKind::Digest {
                scheme,
                verified: true,
                answer_verified: None
            })
        );
    }
}

#[test]
fn bad_client_digest_is_answered_leniently() {
    let mut c1 = flash_c1(Scheme::Zero);
    c1[100] ^= 0xFF;
    c1[900] ^= 0xFF;
    let mut server = Handshake::server([5; 32]);
    let mut input = vec![3u8];
    input.extend_from_slice(&c1);
    server.handle_input(0, &input).unwrap();
    assert_eq!(take(&mut server).len(), 1 + 2 * HANDSHAKE_SIZE);
    assert_eq!(
        server.kind(),
        Some(HandshakeKind::Digest {
            scheme: Scheme::Zero,
            verified: false,
            answer_verified: None
        })
    );
    // A C2 that is not signed is recorded, not fatal.
    server.handle_input(0, &[0u8; HANDSHAKE_SIZE]).unwrap();
    assert!(server.is_done());
    assert!(matches!(
        server.kind(),
        Some(HandshakeKind::Digest {
            answer_verified: Some(false),
            ..
        })
    ));
}

#[test]
fn same_seed_same_bytes() {
    let run_once = |seed| {
        let mut client = Handshake::client(seed, ClientStyle::Digest);
        let mut server = Handshake::server(seed);
        let c = take(&mut client);
        server.handle_input(1, &c).unwrap();
        (c, take(&mut server))
    };
    assert_eq!(run_once([3; 32]), run_once([3; 32]));
    assert_ne!(run_once([3; 32]), run_once([4; 32]));
}

#[test]
fn byte_by_byte_feeding_works() {
    for style in [ClientStyle::Plain, ClientStyle::Digest] {
        let mut client = Handshake::client([1; 32], style);
        let mut server = Handshake::server([2; 32]);
        run(&mut client, &mut server, 1);
        assert!(client.is_done() && server.is_done());
    }
}

#[test]
fn bytes_after_c2_are_not_consumed() {
    let mut client = Handshake::client([1; 32], ClientStyle::Plain);
    let mut server = Handshake::server([2; 32]);
    server.handle_input(0, &take(&mut client)).unwrap();
    client.handle_input(0, &take(&mut server)).unwrap();
    let mut c2_and_more = take(&mut client);
    assert_eq!(c2_and_more.len(), HANDSHAKE_SIZE);
    c2_and_more.extend_from_slice(b"chunk stream");
    assert_eq!(
        server.handle_input(0, &c2_and_more).unwrap(),
        HANDSHAKE_SIZE
    );
    assert!(server.is_done());
    assert_eq!(server.handle_input(0, b"more").unwrap(), 0);
}

#[test]
fn client_does_not_consume_past_s2() {
    let mut client = Handshake::client([1; 32], ClientStyle::Plain);
    let mut server = Handshake::server([2; 32]);
    server.handle_input(0, &take(&mut client)).unwrap();
    let mut s = take(&mut server);
    s.extend_from_slice(&[2, 0, 0]);
    assert_eq!(client.handle_input(0, &s).unwrap(), 1 + 2 * HANDSHAKE_SIZE);
    assert!(client.is_done());
}

#[test]
fn garbage_and_rtmpe_versions_are_refused_at_once() {
    for first in [b'G', 6, 8, 9, 0xFF, 32] {
        let mut server = Handshake::server([0; 32]);
        assert_eq!(
            server.handle_input(0, &[first, 1, 2]),
            Err(ProtocolError::UnsupportedVersion(first).into())
        );
        assert!(server.handle_input(0, &[3]).is_err());
        assert_eq!(take(&mut server).len(), 0);
    }
}

#[test]
fn reserved_versions_are_answered_with_3() {
    let mut server = Handshake::server([0; 32]);
    let mut input = vec![4u8];
    input.extend_from_slice(&[0u8; HANDSHAKE_SIZE]);
    server.handle_input(0, &input).unwrap();
    assert_eq!(take(&mut server)[0], 3);
}
