//! A5 (BENCHMARKS.md, A5): handshake and `connect` in process, no
//! sockets, rml_rtmp's `Handshake`/`ClientSession`/`ServerSession` next to
//! our `Handshake` and [`Connection`].
//!
//! Bytes go from one side to the other whole (one write, one read), so the
//! figures are the protocol work alone. rml_rtmp draws its handshake bytes
//! from `rand` and reads `SystemTime` inside; ours takes a seed and `now`.

use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use rml_rtmp::handshake::{Handshake as RmlHandshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, ServerSession,
    ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};
use rtmp_proto::amf::Encoding;
use rtmp_proto::connection::{Config, ConnectParams, Connection, Event, Side};
use rtmp_proto::handshake::{ClientStyle, Handshake};

/// The application both clients connect to.
pub const APP: &str = "chat";

/// rml_rtmp's FP9 digest handshake, both sides; returns the bytes exchanged.
pub fn rml_handshake() -> usize {
    let mut client = RmlHandshake::new(PeerType::Client);
    let mut server = RmlHandshake::new(PeerType::Server);
    let c0_c1 = client.generate_outbound_p0_and_p1().expect("client hello");
    let s0_s1_s2 = match server.process_bytes(&c0_c1).expect("server reads C0 C1") {
        HandshakeProcessResult::InProgress { response_bytes } => response_bytes,
        HandshakeProcessResult::Completed { .. } => panic!("server done too early"),
    };
    let c2 = match client
        .process_bytes(&s0_s1_s2)
        .expect("client reads S0 S1 S2")
    {
        HandshakeProcessResult::Completed { response_bytes, .. } => response_bytes,
        HandshakeProcessResult::InProgress { .. } => panic!("client not done"),
    };
    match server.process_bytes(&c2).expect("server reads C2") {
        HandshakeProcessResult::Completed { .. } => {}
        HandshakeProcessResult::InProgress { .. } => panic!("server not done"),
    }
    c0_c1.len() + s0_s1_s2.len() + c2.len()
}

/// rml_rtmp's sessions created and `connect` to [`APP`] accepted, as after a
/// handshake: the server's opening messages, the request, the accept.
/// Returns the bytes exchanged.
pub fn rml_connect() -> usize {
    let (mut server, opening) = ServerSession::new(ServerSessionConfig::new()).expect("server");
    let (mut client, _) = ClientSession::new(ClientSessionConfig::new()).expect("client");
    let mut bytes = 0;
    for result in opening {
        if let ServerSessionResult::OutboundResponse(packet) = result {
            bytes += packet.bytes.len();
            let results = client.handle_input(&packet.bytes).expect("client input");
            assert!(to_server(results).is_empty(), "no answer to the opening");
        }
    }
    let request = match client
        .request_connection(APP.to_owned())
        .expect("connect request")
    {
        ClientSessionResult::OutboundResponse(packet) => packet.bytes,
        other => panic!("unexpected {other:?}"),
    };
    bytes += request.len();
    let mut request_id = None;
    for result in server.handle_input(&request).expect("server input") {
        if let ServerSessionResult::RaisedEvent(ServerSessionEvent::ConnectionRequested {
            request_id: id,
            ..
        }) = result
        {
            request_id = Some(id);
        }
    }
    let accept = server
        .accept_request(request_id.expect("a connection request"))
        .expect("accept");
    let mut accepted = false;
    for result in accept {
        if let ServerSessionResult::OutboundResponse(packet) = result {
            bytes += packet.bytes.len();
            for result in client.handle_input(&packet.bytes).expect("client input") {
                accepted |= matches!(
                    result,
                    ClientSessionResult::RaisedEvent(ClientSessionEvent::ConnectionRequestAccepted)
                );
            }
        }
    }
    assert!(accepted, "the client saw the accept");
    bytes
}

/// rml_rtmp's handshake then `connect`; returns the bytes exchanged.
pub fn rml_handshake_plus_connect() -> usize {
    rml_handshake() + rml_connect()
}

/// Our handshake, both sides, in `style`; returns the bytes exchanged.
pub fn ours_handshake(style: ClientStyle) -> usize {
    let mut client = Handshake::client([1; 32], style);
    let mut server = Handshake::server([2; 32]);
    let mut wire = BytesMut::with_capacity(3 * 1536 + 1);
    let mut bytes = 0;
    for _ in 0..3 {
        wire.clear();
        client.poll_transmit(&mut wire);
        bytes += wire.len();
        let read = server.handle_input(0, &wire).expect("server reads");
        assert_eq!(read, wire.len());
        wire.clear();
        server.poll_transmit(&mut wire);
        bytes += wire.len();
        let read = client.handle_input(0, &wire).expect("client reads");
        assert_eq!(read, wire.len());
        if client.is_done() && server.is_done() {
            return bytes;
        }
    }
    panic!("handshake did not finish");
}

/// A client and a server [`Connection`] joined back to back.
#[derive(Debug)]
pub struct Pair {
    /// The client side.
    pub client: Connection,
    /// The server side.
    pub server: Connection,
    now: Instant,
    wire: BytesMut,
    /// Bytes moved between the two so far.
    pub bytes: usize,
    connected: bool,
}

impl Pair {
    /// A fresh pair at `now`, the client using `style`; nothing exchanged yet.
    pub fn new(now: Instant, style: ClientStyle) -> Self {
        let client_config = Arc::new(Config {
            client_style: style,
            ..Config::default()
        });
        Self {
            client: Connection::new(client_config, Side::Client, now, [1; 32]),
            server: Connection::new(Arc::new(Config::default()), Side::Server, now, [2; 32]),
            now,
            wire: BytesMut::with_capacity(4 * 1024),
            bytes: 0,
            connected: false,
        }
    }

    /// A pair whose handshake is done.
    pub fn after_handshake(now: Instant, style: ClientStyle) -> Self {
        let mut pair = Self::new(now, style);
        pair.run();
        pair
    }

    /// Sends `connect` to [`APP`], accepts it, and runs until the client is
    /// connected.
    pub fn connect(&mut self) {
        let params =
            ConnectParams::from_url(&format!("rtmp://bench.invalid/{APP}"), Encoding::Amf0)
                .expect("a valid URL");
        self.client.connect(self.now, params).expect("connect");
        self.run();
        assert!(self.connected, "the client saw the accept");
    }

    /// Moves bytes both ways and answers events until neither side has
    /// anything more to say.
    pub fn run(&mut self) {
        loop {
            let mut moved = 0;
            self.wire.clear();
            moved += self.client.poll_transmit(&mut self.wire);
            if !self.wire.is_empty() {
                self.server
                    .handle_input(self.now, &self.wire)
                    .expect("server input");
            }
            while let Some(event) = self.server.poll_event() {
                if let Event::ConnectRequest(_) = event {
                    self.server.accept(self.now).expect("accept");
                }
            }
            self.wire.clear();
            moved += self.server.poll_transmit(&mut self.wire);
            if !self.wire.is_empty() {
                self.client
                    .handle_input(self.now, &self.wire)
                    .expect("client input");
            }
            while let Some(event) = self.client.poll_event() {
                self.connected |= matches!(event, Event::Connected { .. });
            }
            self.bytes += moved;
            if moved == 0 {
                return;
            }
        }
    }
}

/// Our two [`Connection`]s: handshake in `style`, then `connect` accepted.
/// Returns the bytes exchanged.
pub fn ours_handshake_plus_connect(now: Instant, style: ClientStyle) -> usize {
    let mut pair = Pair::after_handshake(now, style);
    pair.connect();
    pair.bytes
}

/// The server-to-client results that carry bytes.
fn to_server(results: Vec<ClientSessionResult>) -> Vec<ClientSessionResult> {
    results
        .into_iter()
        .filter(|r| matches!(r, ClientSessionResult::OutboundResponse(_)))
        .collect()
}

#[cfg(test)]
mod tests {
    use rtmp_proto::handshake::HANDSHAKE_SIZE;

    use super::*;

    const HANDSHAKE_BYTES: usize = 1 + HANDSHAKE_SIZE + 1 + 2 * HANDSHAKE_SIZE + HANDSHAKE_SIZE;

    #[test]
    fn rml_comes_up() {
        assert_eq!(rml_handshake(), HANDSHAKE_BYTES);
        // BENCHMARKS.md, A5: the connect exchange is 421 bytes.
        assert_eq!(rml_connect(), 421);
    }

    #[test]
    fn ours_comes_up_in_both_styles() {
        for style in [ClientStyle::Plain, ClientStyle::Digest] {
            assert_eq!(ours_handshake(style), HANDSHAKE_BYTES);
            let now = Instant::now();
            let mut pair = Pair::after_handshake(now, style);
            // The client announces its chunk size right after the
            // handshake: Set Chunk Size, a 12-byte header and 4 bytes.
            assert_eq!(pair.bytes, HANDSHAKE_BYTES + 16);
            assert!(!pair.client.is_connected());
            pair.connect();
            assert!(pair.client.is_connected());
            assert!(pair.server.is_connected());
            let connect = pair.bytes - HANDSHAKE_BYTES;
            assert_eq!(ours_handshake_plus_connect(now, style), pair.bytes);
            // The client's Set Chunk Size, then 517 bytes of connect
            // exchange (rml_rtmp's is 421 bytes).
            assert_eq!(connect, 16 + 517);
        }
    }
}
