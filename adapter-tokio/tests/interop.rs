//! Interop with RTMP software we did not write, against the demo server on
//! a loopback port (started in process, as in `tests/it`).
//!
//! - `librtmp`: rtmpdump's C client library, driven from Python through
//!   `python-librtmp` by `tests/interop/librtmp_client.py`, does the
//!   handshake (plain and Flash Player 9 digest) and `connect`, calls
//!   `echo`, and carries SharedObject messages both ways with our own
//!   client on the other end; its `rtmps://` (GnuTLS) connects and calls
//!   through the server's RTMPS listener.
//! - `tshark`: Wireshark's RTMP dissector reads a capture of a test run and
//!   must frame every message we and our client wrote, and decode
//!   `connect` and its `_result`.
//!
//! What they need: Debian's `librtmp-dev` and `tshark`, and the Python
//! virtual environment `target/interop-venv` with `python-librtmp` (the
//! test creates it when it is missing). Without a tool, its test skips
//! with one line saying what to install; with `RTMP_SO_REQUIRE_INTEROP=1`,
//! as `.ci/run` sets it after installing them, it fails instead
//! (`rtmp-proto/tests/common/interop.rs`).

#[allow(dead_code)]
#[path = "../../conformance/tests/suite/harness.rs"]
mod suite_harness;

/// The conformance suite's harness, on tokio.
mod harness {
    pub(crate) use super::suite_harness::TempDir;
    pub(crate) type TestServer = super::suite_harness::TestServer<adapter_tokio::Tokio>;
}

#[allow(dead_code)]
#[path = "../../rtmp-proto/tests/common/interop.rs"]
mod interop;
#[path = "interop/librtmp.rs"]
mod librtmp;
#[path = "interop/tshark.rs"]
mod tshark;
