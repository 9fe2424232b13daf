//! The server over real loopback sockets: every demo behaviour, the
//! design's contract points, limits and slow clients. One binary, one
//! module per concern.

mod client;
mod contract;
mod demo;
mod harness;
mod limits;
mod process;
