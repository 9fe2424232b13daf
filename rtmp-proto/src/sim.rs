//! A virtual network for tests: a client and a server [`Connection`] joined
//! by two pipes, on virtual time, with seeded re-segmentation of the bytes.
//!
//! Nothing here touches a socket or a clock: the caller gives the start
//! [`Instant`] and time only moves when the harness moves it. Every event
//! either side reports is recorded in a transcript of `(ms, side, event)`
//! lines, so that two runs can be compared line for line.
//!
//! Its `expect`s and panics are test failures, not reactions to peer bytes:
//! both ends are our own `Connection`s driven by the test, and the module is
//! only built with the `sim` feature, which the server and client never use.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::amf::Encoding;
use crate::connection::{Config, ConnectParams, Connection, Event, Side};

/// Which end of a [`Pair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The client connection.
    Client,
    /// The server connection.
    Server,
}

/// A client and a server connection over a virtual TCP connection.
#[derive(Debug)]
pub struct Pair {
    /// The client side.
    pub client: Connection,
    /// The server side.
    pub server: Connection,
    /// The current virtual time.
    pub now: Instant,
    /// Events the client reported, not yet taken by the test.
    pub client_events: Vec<Event>,
    /// Events the server reported, not yet taken by the test.
    pub server_events: Vec<Event>,
    /// Every event so far, one line each: `ms side event`.
    pub transcript: Vec<String>,
    start: Instant,
    to_server: Pipe,
    to_client: Pipe,
    rng: XorShift,
}

/// How the virtual network behaves.
#[derive(Debug, Clone, Copy)]
pub struct Network {
    /// One-way delay of every segment.
    pub latency: Duration,
    /// Largest segment; each write is cut into random segments of 1 to this many bytes.
    pub max_segment: usize,
}

impl Default for Network {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(5),
            max_segment: 1400,
        }
    }
}

impl Pair {
    /// A pair at virtual time `start`; `seed` drives the segmentation and
    /// the handshakes' random bytes.
    pub fn new(
        start: Instant,
        seed: u64,
        network: Network,
        client: Arc<Config>,
        server: Arc<Config>,
    ) -> Self {
        let mut rng = XorShift::new(seed);
        let client = Connection::new(client, Side::Client, start, rng.seed32());
        let server = Connection::new(server, Side::Server, start, rng.seed32());
        let mut pair = Self {
            client,
            server,
            now: start,
            client_events: Vec::new(),
            server_events: Vec::new(),
            transcript: Vec::new(),
            start,
            to_server: Pipe::new(network),
            to_client: Pipe::new(network),
            rng,
        };
        pair.collect();
        pair
    }

    /// A pair with default configurations and network.
    pub fn with_defaults(start: Instant, seed: u64) -> Self {
        let config = Arc::new(Config::default());
        Self::new(start, seed, Network::default(), config.clone(), config)
    }

    /// Handshake, `connect` to `app` with `encoding`, and the server's accept.
    /// Panics (this is a test harness) if the connection does not come up.
    pub fn establish(&mut self, app: &str, encoding: Encoding) {
        let url = format!("rtmp://sim.invalid/{app}");
        let params = ConnectParams::from_url(&url, encoding).expect("a valid sim URL");
        self.client.connect(self.now, params).expect("connect");
        self.collect();
        self.drive();
        let asked = self
            .server_events
            .iter()
            .any(|e| matches!(e, Event::ConnectRequest(_)));
        assert!(
            asked,
            "no connect request reached the server: {:#?}",
            self.transcript
        );
        self.server.accept(self.now).expect("accept");
        self.collect();
        self.drive();
        assert!(
            self.client.is_connected(),
            "client not connected: {:#?}",
            self.transcript
        );
    }

    /// Runs until no bytes are in flight and no timer is due now; virtual
    /// time moves on as far as the deliveries need.
    pub fn drive(&mut self) {
        for _ in 0..1_000_000 {
            let until = [self.to_server.next_at(), self.to_client.next_at()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(self.now);
            if !self.step_until(until) {
                return;
            }
        }
        panic!("the pair did not settle: livelock");
    }

    /// Moves virtual time forward by `by`, delivering bytes and firing timers
    /// on the way.
    pub fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        for _ in 0..10_000_000 {
            if !self.step_until(until) {
                self.now = self.now.max(until);
                return;
            }
        }
        panic!("the pair did not settle: livelock");
    }

    /// Takes the client's recorded events.
    pub fn take_client_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.client_events)
    }

    /// Takes the server's recorded events.
    pub fn take_server_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.server_events)
    }

    /// Moves what either connection wants to send into its pipe and records
    /// their events. Call after issuing commands on `client` or `server`.
    pub fn collect(&mut self) {
        let mut buf = BytesMut::new();
        self.client.poll_transmit(&mut buf);
        self.to_server.send(self.now, &buf, &mut self.rng);
        buf.clear();
        self.server.poll_transmit(&mut buf);
        self.to_client.send(self.now, &buf, &mut self.rng);
        let ms = self.now.saturating_duration_since(self.start).as_millis();
        while let Some(e) = self.client.poll_event() {
            self.transcript.push(format!("{ms} client {e:?}"));
            self.client_events.push(e);
        }
        while let Some(e) = self.server.poll_event() {
            self.transcript.push(format!("{ms} server {e:?}"));
            self.server_events.push(e);
        }
    }

    /// Does the earliest pending thing at or before `until`; false if none.
    fn step_until(&mut self, until: Instant) -> bool {
        let candidates = [
            (self.to_server.next_at(), Step::DeliverToServer),
            (self.to_client.next_at(), Step::DeliverToClient),
            (self.client.poll_timeout(), Step::ClientTimer),
            (self.server.poll_timeout(), Step::ServerTimer),
        ];
        let Some((at, step)) = candidates
            .into_iter()
            .filter_map(|(at, s)| at.map(|at| (at, s)))
            .filter(|(at, _)| *at <= until)
            .min_by_key(|(at, _)| *at)
        else {
            return false;
        };
        self.now = self.now.max(at);
        match step {
            Step::DeliverToServer => {
                if let Some(bytes) = self.to_server.pop() {
                    let _ = self.server.handle_input(self.now, &bytes);
                }
            }
            Step::DeliverToClient => {
                if let Some(bytes) = self.to_client.pop() {
                    let _ = self.client.handle_input(self.now, &bytes);
                }
            }
            Step::ClientTimer => self.client.handle_timeout(self.now),
            Step::ServerTimer => self.server.handle_timeout(self.now),
        }
        self.collect();
        true
    }
}

#[derive(Debug, Clone, Copy)]
enum Step {
    DeliverToServer,
    DeliverToClient,
    ClientTimer,
    ServerTimer,
}

/// One direction of the virtual TCP connection: ordered, lossless, delayed,
/// cut into random segments.
#[derive(Debug)]
struct Pipe {
    network: Network,
    segments: VecDeque<(Instant, Vec<u8>)>,
}

impl Pipe {
    fn new(network: Network) -> Self {
        Self {
            network,
            segments: VecDeque::new(),
        }
    }

    fn send(&mut self, now: Instant, mut bytes: &[u8], rng: &mut XorShift) {
        let at = now + self.network.latency;
        let max = self.network.max_segment.max(1);
        while !bytes.is_empty() {
            let len = (rng.next() as usize % max + 1).min(bytes.len());
            let (segment, rest) = bytes.split_at(len);
            self.segments.push_back((at, segment.to_vec()));
            bytes = rest;
        }
    }

    fn next_at(&self) -> Option<Instant> {
        self.segments.front().map(|(at, _)| *at)
    }

    fn pop(&mut self) -> Option<Vec<u8>> {
        self.segments.pop_front().map(|(_, b)| b)
    }
}

/// xorshift64*: a tiny deterministic generator for segmentation and seeds.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (0 is replaced by a fixed non-zero value).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next number.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// 32 bytes for a connection seed.
    pub fn seed32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        out
    }
}
