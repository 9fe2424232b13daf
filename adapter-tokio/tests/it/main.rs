//! The server over real loopback sockets: every demo behaviour, the
//! design's contract points, limits and slow clients. One binary, one
//! module per concern.
//!
//! Wire-level checks (exactly which events each message carries, what is
//! *not* sent, versions) use a bare `Connection` client (`client`), since
//! the client library hides those by design; tests about the server as a
//! whole (limits, crashes, hostile clients) use the client library. The
//! demo seen through the client library is in `tests/client.rs`.

mod client;
mod contract;
mod demo;
mod harness;
mod limits;
mod process;
