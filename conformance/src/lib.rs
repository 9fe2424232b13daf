//! The conformance suite of the two adapters, written once and run
//! against both: `cargo test -p conformance` (one binary, `tests/suite`;
//! every test exists as `<module>::tokio::<name>` and
//! `<module>::smol::<name>`).
//!
//! The tests are generic over the `adapter_core::Runtime`
//! (each adapter's `Tokio` or `Smol`): the servers under test are each
//! adapter's own (`Server<R>` in process, or its example server as a
//! process), the clients are both a blocking wire-level client built on
//! `rtmp_proto::connection::Connection` over `std::net::TcpStream` and
//! each adapter's own client library and CLI, so both client libraries
//! are held to the suite too.
//!
//! The crate's binaries are the adapters' examples (`server-tokio`,
//! `server-smol`, `so-client-tokio`, `so-client-smol`), built from their
//! sources so that the tests run exactly those programs.

#![warn(missing_docs)]
