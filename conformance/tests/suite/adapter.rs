//! What the suite needs to know of each adapter beyond its
//! [`Runtime`]: how to run a test body on it, and where its example
//! programs are.

use std::future::Future;
use std::time::{Duration, Instant};

use adapter_core::client::RemoteEvent;
use adapter_core::{Received, Runtime, until};

/// An adapter under test.
pub(crate) trait Adapter: Runtime {
    /// Runs a test body to completion with the adapter's workers serving
    /// the tasks it spawns.
    fn run_test<F: Future>(test: F) -> F::Output;

    /// The adapter's example server, as a program.
    fn server_binary() -> &'static str;

    /// The adapter's `so-client` CLI, as a program.
    fn client_binary() -> &'static str;
}

impl Adapter for adapter_tokio::Tokio {
    fn run_test<F: Future>(test: F) -> F::Output {
        // A fresh multi-thread runtime per test, as `#[tokio::test(flavor =
        // "multi_thread")]` makes: what a test leaves running ends with it.
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
            .block_on(test)
    }

    fn server_binary() -> &'static str {
        env!("CARGO_BIN_EXE_server-tokio")
    }

    fn client_binary() -> &'static str {
        env!("CARGO_BIN_EXE_so-client-tokio")
    }
}

impl Adapter for adapter_smol::Smol {
    fn run_test<F: Future>(test: F) -> F::Output {
        // Spawned tasks run on adapter-smol's own executor threads.
        smol::block_on(test)
    }

    fn server_binary() -> &'static str {
        env!("CARGO_BIN_EXE_server-smol")
    }

    fn client_binary() -> &'static str {
        env!("CARGO_BIN_EXE_so-client-smol")
    }
}

/// Runs `test` on adapter `R`, with the servers' logs shown for a failing
/// test.
pub(crate) fn run<R: Adapter, F: Future<Output = ()>>(test: F) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_test_writer()
        .with_ansi(false)
        .try_init();
    R::run_test(test);
}

/// Every wait for something the server should send: generous for a
/// loaded machine, short enough that a hang fails quickly.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// The next event of a client-library SharedObject, failing the test if
/// none comes in time or the receiver ends.
pub(crate) async fn next<R: Runtime>(events: &mut R::Events) -> RemoteEvent {
    match until::<R, _>(Instant::now() + PATIENCE, R::next_event(events)).await {
        Some(Received::Item(event)) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}

/// What the receiver gives next, within [`PATIENCE`].
pub(crate) async fn received<R: Runtime>(events: &mut R::Events) -> Received<RemoteEvent> {
    until::<R, _>(Instant::now() + PATIENCE, R::next_event(events))
        .await
        .expect("the receiver answers in time")
}

/// The next events until (and including) a `Version` event.
pub(crate) async fn next_update<R: Runtime>(events: &mut R::Events) -> Vec<RemoteEvent> {
    let mut out = Vec::new();
    loop {
        let event = next::<R>(events).await;
        let done = matches!(event, RemoteEvent::Version(_));
        out.push(event);
        if done {
            return out;
        }
    }
}
