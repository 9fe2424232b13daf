//! placeholder
pub mod client;
pub use client::{Client, ClientError, ClientOptions};
