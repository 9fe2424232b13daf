//! Sans-IO RTMP protocol core for Remote SharedObjects.
//!
//! Bytes in, events out: this crate never touches a socket, reads a clock or
//! draws ambient randomness. Time and randomness are arguments.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod amf;
pub mod chunk;
pub mod connection;
pub mod error;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
pub mod message;
pub mod mirror;
#[cfg(any(test, feature = "sim"))]
pub mod sim;

pub use amf::{Encoding, Value};
pub use error::{ApiMisuse, DecodeError, Error, Limit, LimitExceeded, ProtocolError};
