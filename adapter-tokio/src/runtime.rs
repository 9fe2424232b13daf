//! [`Tokio`]: the [`Runtime`] the server and client run on here.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use adapter_core::client::RemoteEvent;
use adapter_core::{Received, Refused, Runtime, SocketWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Sleep;
use tracing::{info, warn};

use crate::client::IncomingCall;

/// The tokio runtime. Tasks are spawned on the runtime the caller runs in
/// (use a multi-thread runtime to spread connections over every core); the
/// engine thread runs its own current-thread runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

impl Runtime for Tokio {
    type Listener = TcpListener;
    /// Shared, so that the engine thread can write to it too (see
    /// [`Runtime::shared_socket`]).
    type Stream = Arc<SharedStream>;
    type Timer = Pin<Box<Sleep>>;
    type EventSender = broadcast::Sender<RemoteEvent>;
    /// A receiver further behind than the capacity gets
    /// `RecvError::Lagged(missed)`.
    type Events = broadcast::Receiver<RemoteEvent>;
    type CallSender = mpsc::Sender<IncomingCall>;
    type IncomingCalls = mpsc::Receiver<IncomingCall>;

    fn spawn(task: impl Future<Output = ()> + Send + 'static) {
        tokio::spawn(task);
    }

    fn spawn_blocking<T: Send + 'static>(
        work: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = Option<T>> + Send + 'static {
        let handle = tokio::task::spawn_blocking(work);
        async move { handle.await.ok() }
    }

    fn block_on<F: Future>(future: F) -> io::Result<F::Output> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(runtime.block_on(future))
    }

    fn timer(at: Instant) -> Self::Timer {
        Box::pin(tokio::time::sleep_until(at.into()))
    }

    fn reset_timer(timer: &mut Self::Timer, at: Instant) {
        timer.as_mut().reset(at.into());
    }

    fn poll_timer(timer: &mut Self::Timer, cx: &mut Context<'_>) -> Poll<()> {
        timer.as_mut().poll(cx)
    }

    fn bind(addr: String) -> impl Future<Output = io::Result<TcpListener>> + Send + 'static {
        TcpListener::bind(addr)
    }

    fn local_addr(listener: &TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    fn poll_accept(
        listener: &TcpListener,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Arc<SharedStream>, SocketAddr)>> {
        listener
            .poll_accept(cx)
            .map_ok(|(stream, peer)| (Arc::new(SharedStream(stream)), peer))
    }

    async fn connect(host: String, port: u16) -> io::Result<Arc<SharedStream>> {
        let stream = TcpStream::connect((host, port)).await?;
        Ok(Arc::new(SharedStream(stream)))
    }

    fn set_nodelay(stream: &Arc<SharedStream>) -> io::Result<()> {
        stream.0.set_nodelay(true)
    }

    fn shared_socket(stream: &Arc<SharedStream>) -> Option<Arc<dyn SocketWriter>> {
        Some(stream.clone())
    }

    fn poll_read(
        stream: &mut Arc<SharedStream>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(stream.0.poll_read_ready(cx))?;
            match stream.0.try_read(buf) {
                // Readiness was stale: cleared, wait again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                result => return Poll::Ready(result),
            }
        }
    }

    fn poll_write(
        stream: &mut Arc<SharedStream>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(stream.0.poll_write_ready(cx))?;
            match stream.0.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                result => return Poll::Ready(result),
            }
        }
    }

    fn poll_close(stream: &mut Arc<SharedStream>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(socket2::SockRef::from(&stream.0).shutdown(std::net::Shutdown::Write))
    }

    fn termination() -> impl Future<Output = ()> + Send {
        termination()
    }

    fn event_channel(capacity: usize) -> Self::EventSender {
        broadcast::channel(capacity).0
    }

    fn subscribe(sender: &Self::EventSender) -> Self::Events {
        sender.subscribe()
    }

    fn publish(sender: &Self::EventSender, event: RemoteEvent) {
        // No receiver is fine.
        let _ = sender.send(event);
    }

    async fn next_event(events: &mut Self::Events) -> Received<RemoteEvent> {
        match events.recv().await {
            Ok(event) => Received::Item(event),
            Err(broadcast::error::RecvError::Lagged(missed)) => Received::Lagged(missed),
            Err(broadcast::error::RecvError::Closed) => Received::Closed,
        }
    }

    fn call_channel(capacity: usize) -> (Self::CallSender, Self::IncomingCalls) {
        mpsc::channel(capacity)
    }

    fn offer_call(
        sender: &Self::CallSender,
        call: IncomingCall,
    ) -> Result<(), Refused<IncomingCall>> {
        sender.try_send(call).map_err(|e| match e {
            mpsc::error::TrySendError::Full(call) => Refused::Full(call),
            mpsc::error::TrySendError::Closed(call) => Refused::Closed(call),
        })
    }

    async fn next_call(calls: &mut Self::IncomingCalls) -> Option<IncomingCall> {
        calls.recv().await
    }
}

/// A connected tokio socket, shared by its connection's task (reads and
/// writes through tokio's readiness) and the engine thread's direct writes
/// (sends straight to the socket through `socket2`, beside tokio's
/// readiness: a send that finds the socket full returns `WouldBlock`, and
/// the connection's own next write waits for room as usual).
#[derive(Debug)]
pub struct SharedStream(TcpStream);

impl SocketWriter for SharedStream {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        socket2::SockRef::from(&self.0).send(buf)
    }
}

/// Completes on SIGINT or SIGTERM (Ctrl-C only off Unix).
async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => info!("SIGINT received"),
                    _ = term.recv() => info!("SIGTERM received"),
                }
            }
            Err(error) => {
                warn!(%error, "cannot listen for SIGTERM");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        info!("Ctrl-C received");
    }
}
