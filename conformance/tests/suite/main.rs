//! The conformance suite: every test is written once, generic over the
//! adapter's [`Runtime`](adapter_core::Runtime), and [`suite!`] runs it
//! against each adapter (`<module>::tokio::<test>`,
//! `<module>::smol::<test>`).
//!
//! Wire-level checks (exactly which events each message carries, what is
//! *not* sent, versions) use a bare `Connection` client ([`wire`]), since
//! the client library hides those by design; the client library and the
//! CLI have their own modules, against a small in-test server built on
//! `Connection` ([`mini_server`]) and against the real demo server.

/// Runs each named test (an `async fn name<R: Adapter>()`) against both
/// adapters.
macro_rules! suite {
    ($($test:ident),* $(,)?) => {
        mod tokio {
            $(
                #[test]
                fn $test() {
                    crate::adapter::run::<adapter_tokio::Tokio, _>(super::$test::<adapter_tokio::Tokio>());
                }
            )*
        }
        mod smol {
            $(
                #[test]
                fn $test() {
                    crate::adapter::run::<adapter_smol::Smol, _>(super::$test::<adapter_smol::Smol>());
                }
            )*
        }
    };
}

mod adapter;
mod cli;
mod client;
mod client_demo;
mod cluster;
mod cluster_harness;
mod cluster_three;
mod contract;
mod demo;
mod direct_writes;
mod embedded;
mod harness;
mod limits;
mod mini_server;
mod process;
mod store;
mod tls;
mod websocket;
mod wire;
mod ws_client;
