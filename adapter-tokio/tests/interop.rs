//! Interop with RTMP software we did not write, against the demo server on
//! a loopback port (started in process, as in `tests/it`).
//!
//! - `librtmp`: rtmpdump's C client library, driven from Python through
//!   `python-librtmp` by `tests/interop/librtmp_client.py`, does the
//!   handshake (plain and Flash Player 9 digest) and `connect`, calls
//!   `echo`, and carries SharedObject messages both ways with our own
//!   client on the other end.
//! - `tshark`: Wireshark's RTMP dissector reads a capture of a test run and
//!   must frame every message we and our client wrote, and decode
//!   `connect` and its `_result`.
//!
//! What they need: Debian's `librtmp-dev` and `tshark`, and the Python
//! virtual environment `target/interop-venv` with `python-librtmp`. `.ci/run`
//! installs all three; the test creates the virtual environment itself when
//! it is missing. A missing tool fails the test with what to install: these
//! tests never skip.

#[allow(dead_code)]
#[path = "../../conformance/tests/suite/harness.rs"]
mod suite_harness;

/// The conformance suite's harness, on tokio.
mod harness {
    pub(crate) use super::suite_harness::TempDir;
    pub(crate) type TestServer = super::suite_harness::TestServer<adapter_tokio::Tokio>;
}

#[path = "interop/librtmp.rs"]
mod librtmp;
#[path = "interop/tools.rs"]
mod tools;
#[path = "interop/tshark.rs"]
mod tshark;
