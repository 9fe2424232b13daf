//! Connection configuration: every limit and timer, with named defaults.

use std::time::Duration;

use crate::amf::{Encoding, Limits};
use crate::chunk::DecoderLimits;
use crate::handshake::ClientStyle;

/// How a [`Connection`](super::Connection) behaves; shared by all connections of a server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Limits of the chunk stream decoder (message size, open chunk streams).
    pub chunk_limits: DecoderLimits,
    /// Limits of AMF decoding (depth, container length, string bytes, values).
    pub amf_limits: Limits,
    /// Time allowed for the handshake to complete.
    pub handshake_timeout: Duration,
    /// Time allowed, after the handshake, for `connect` to arrive (server) or
    /// be answered (client).
    pub connect_timeout: Duration,
    /// The acknowledgement window we announce (Window Acknowledgement Size).
    pub window_ack_size: u32,
    /// The bandwidth we announce to the peer (Set Peer Bandwidth, limit type dynamic).
    pub peer_bandwidth: u32,
    /// The chunk size we send with, announced with Set Chunk Size on accept
    /// (server) or after the handshake (client).
    pub chunk_size: u32,
    /// How often to send a ping request when the peer is silent; `None` disables.
    pub ping_interval: Option<Duration>,
    /// Close the connection after this long without any byte from the peer;
    /// `None` disables.
    pub idle_timeout: Option<Duration>,
    /// Close the connection when a message being reassembled gets no
    /// chunk for this long, whatever else the peer sends meanwhile (a
    /// stalled large message holds its bytes); `None` disables.
    pub partial_message_timeout: Option<Duration>,
    /// Client side: plain or Flash Player 9 digest handshake.
    pub client_style: ClientStyle,
}

impl Config {
    /// Default handshake timeout: 5 s, Red5's `rtmp.max_handshake_time`.
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default connect timeout: 10 s.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default window: 2,500,000 bytes, as Flash Media Server announces.
    pub const DEFAULT_WINDOW_ACK_SIZE: u32 = 2_500_000;
    /// Default outgoing chunk size: 4096, fewer fmt-3 splits of large SO syncs
    /// (FMS's default `OutChunkSize`).
    pub const DEFAULT_CHUNK_SIZE: u32 = 4096;
    /// Default ping interval when the peer is silent: 30 s. (Red5 pings
    /// every second, `rtmp.ping_interval`, and closes after 60 s without
    /// an answer, `rtmp.max_inactivity`; pinging only silent peers, and
    /// less often, spares thousands of idle subscribers the traffic.)
    pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(30);
    /// Default idle timeout: 90 s, three missed pings.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
    /// Default partial message timeout: 30 s without a chunk of a message
    /// that has started.
    pub const DEFAULT_PARTIAL_MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);
}

impl Default for Config {
    fn default() -> Self {
        Self {
            chunk_limits: DecoderLimits::default(),
            amf_limits: Limits::default(),
            handshake_timeout: Self::DEFAULT_HANDSHAKE_TIMEOUT,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            window_ack_size: Self::DEFAULT_WINDOW_ACK_SIZE,
            peer_bandwidth: Self::DEFAULT_WINDOW_ACK_SIZE,
            chunk_size: Self::DEFAULT_CHUNK_SIZE,
            ping_interval: Some(Self::DEFAULT_PING_INTERVAL),
            idle_timeout: Some(Self::DEFAULT_IDLE_TIMEOUT),
            partial_message_timeout: Some(Self::DEFAULT_PARTIAL_MESSAGE_TIMEOUT),
            client_style: ClientStyle::Digest,
        }
    }
}

/// What a client asks for in `connect`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectParams {
    /// The application path: `app` or `app/room/sub`.
    pub app: String,
    /// The full URL, `rtmp://host[:port]/app[/room]`.
    pub tc_url: String,
    /// The object encoding to ask for.
    pub encoding: Encoding,
    /// Extra `connect` arguments after the command object.
    pub args: Vec<crate::amf::Value>,
}
