//! [`Tokio`]: the [`Runtime`] the server and client run on here.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use adapter_core::client::RemoteEvent;
use adapter_core::{Received, Refused, Runtime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
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
    type Stream = TcpStream;
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
    ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        listener.poll_accept(cx)
    }

    fn connect(
        host: String,
        port: u16,
    ) -> impl Future<Output = io::Result<TcpStream>> + Send + 'static {
        TcpStream::connect((host, port))
    }

    fn set_nodelay(stream: &TcpStream) -> io::Result<()> {
        stream.set_nodelay(true)
    }

    fn try_clone_socket(stream: &TcpStream) -> Option<std::net::TcpStream> {
        duplicate(stream)
    }

    fn poll_read(
        stream: &mut TcpStream,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut buf = ReadBuf::new(buf);
        ready!(Pin::new(stream).poll_read(cx, &mut buf))?;
        Poll::Ready(Ok(buf.filled().len()))
    }

    fn poll_write(
        stream: &mut TcpStream,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(stream).poll_write(cx, buf)
    }

    fn poll_close(stream: &mut TcpStream, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(stream).poll_shutdown(cx)
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

/// A second descriptor of `stream`'s socket, as a std stream (tokio has
/// no `try_clone`); it shares the socket's non-blocking mode.
fn duplicate(stream: &TcpStream) -> Option<std::net::TcpStream> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        let fd = stream.as_fd().try_clone_to_owned().ok()?;
        Some(std::net::TcpStream::from(fd))
    }
    #[cfg(windows)]
    {
        use std::os::windows::io::AsSocket;
        let socket = stream.as_socket().try_clone_to_owned().ok()?;
        Some(std::net::TcpStream::from(socket))
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = stream;
        None
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
