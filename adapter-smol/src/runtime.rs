//! [`Smol`]: the [`Runtime`] the server and client run on here.

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::num::NonZero;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::thread;
use std::time::Instant;

use adapter_core::client::RemoteEvent;
use adapter_core::{Received, Refused, Runtime, SocketWriter};
use smol::channel::{self, TrySendError};
use smol::net::{TcpListener, TcpStream as NetStream};
use smol::{Async, Executor, Timer, future};
use tracing::{error, info};

use crate::client::IncomingCall;

/// The smol runtime. Connection tasks and client drivers run on this
/// crate's executor, one thread per core (smol's own global executor runs
/// on one thread unless `SMOL_THREADS` says otherwise); the engine thread
/// runs its own `smol::block_on`, and store writes go to smol's blocking
/// pool (`smol::unblock`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Smol;

/// The sending side of a SharedObject's events: an `async-broadcast`
/// sender in overflow mode (a receiver that falls behind loses the oldest
/// events), kept open while no receiver exists.
#[derive(Debug)]
pub struct EventSender {
    sender: async_broadcast::Sender<RemoteEvent>,
    /// Keeps the channel open without receiving: async-broadcast closes a
    /// channel whose every receiver is gone, and a later `events()` call
    /// must still be able to subscribe.
    _open: async_broadcast::InactiveReceiver<RemoteEvent>,
}

impl Runtime for Smol {
    type Listener = Arc<Async<std::net::TcpListener>>;
    type Stream = Stream;
    type Timer = Timer;
    type EventSender = EventSender;
    /// A receiver further behind than the capacity gets
    /// `RecvError::Overflowed(missed)`.
    type Events = async_broadcast::Receiver<RemoteEvent>;
    type CallSender = channel::Sender<IncomingCall>;
    type IncomingCalls = channel::Receiver<IncomingCall>;

    fn spawn(task: impl Future<Output = ()> + Send + 'static) {
        executor().spawn(task).detach();
    }

    fn spawn_blocking<T: Send + 'static>(
        work: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = Option<T>> + Send + 'static {
        // smol re-raises a panic of the work where it is awaited: catch it
        // in the pool instead.
        smol::unblock(move || catch_unwind(AssertUnwindSafe(work)).ok())
    }

    fn block_on<F: Future>(future: F) -> io::Result<F::Output> {
        Ok(smol::block_on(future))
    }

    fn timer(at: Instant) -> Timer {
        Timer::at(at)
    }

    fn reset_timer(timer: &mut Timer, at: Instant) {
        timer.set_at(at);
    }

    fn poll_timer(timer: &mut Timer, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(timer).poll(cx).map(drop)
    }

    async fn bind(addr: String) -> io::Result<Self::Listener> {
        Ok(TcpListener::bind(addr).await?.into())
    }

    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.get_ref().local_addr()
    }

    fn poll_accept(
        listener: &Self::Listener,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Stream, SocketAddr)>> {
        loop {
            match listener.get_ref().accept() {
                Ok((stream, peer)) => {
                    let stream = Async::new(stream).map(|io| Stream {
                        io: Arc::new(SharedSocket(io)),
                        readable: true,
                    });
                    return Poll::Ready(stream.map(|stream| (stream, peer)));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(listener.poll_readable(cx))?;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    async fn connect(host: String, port: u16) -> io::Result<Stream> {
        let stream = NetStream::connect((host, port)).await?;
        // The net stream's own handle on the socket; nothing else holds it.
        let io = Arc::<Async<TcpStream>>::from(stream);
        let io =
            Arc::try_unwrap(io).map_err(|_| io::Error::other("the connected socket is shared"))?;
        Ok(Stream {
            io: Arc::new(SharedSocket(io)),
            readable: true,
        })
    }

    fn set_nodelay(stream: &Stream) -> io::Result<()> {
        stream.io.0.get_ref().set_nodelay(true)
    }

    fn shared_socket(stream: &Stream) -> Option<Arc<dyn SocketWriter>> {
        Some(stream.io.clone())
    }

    fn poll_read(
        stream: &mut Stream,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            if stream.readable {
                match stream.io.0.get_ref().read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.readable = false,
                    result => return Poll::Ready(result),
                }
            }
            ready!(stream.io.0.poll_readable(cx))?;
            stream.readable = true;
        }
    }

    fn poll_write(
        stream: &mut Stream,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            match stream.io.0.get_ref().write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(stream.io.0.poll_writable(cx))?;
                }
                result => return Poll::Ready(result),
            }
        }
    }

    fn poll_close(stream: &mut Stream, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(stream.io.0.get_ref().shutdown(Shutdown::Write))
    }

    fn termination() -> impl Future<Output = ()> + Send {
        termination()
    }

    fn event_channel(capacity: usize) -> EventSender {
        let (mut sender, receiver) = async_broadcast::broadcast(capacity.max(1));
        sender.set_overflow(true);
        sender.set_await_active(false);
        EventSender {
            sender,
            _open: receiver.deactivate(),
        }
    }

    fn subscribe(sender: &EventSender) -> Self::Events {
        sender.sender.new_receiver()
    }

    fn publish(sender: &EventSender, event: RemoteEvent) {
        // In overflow mode a full channel drops its oldest event; no
        // receiver is fine.
        let _ = sender.sender.try_broadcast(event);
    }

    async fn next_event(events: &mut Self::Events) -> Received<RemoteEvent> {
        match events.recv().await {
            Ok(event) => Received::Item(event),
            Err(async_broadcast::RecvError::Overflowed(missed)) => Received::Lagged(missed),
            Err(async_broadcast::RecvError::Closed) => Received::Closed,
        }
    }

    fn call_channel(capacity: usize) -> (Self::CallSender, Self::IncomingCalls) {
        channel::bounded(capacity)
    }

    fn offer_call(
        sender: &Self::CallSender,
        call: IncomingCall,
    ) -> Result<(), Refused<IncomingCall>> {
        sender.try_send(call).map_err(|e| match e {
            TrySendError::Full(call) => Refused::Full(call),
            TrySendError::Closed(call) => Refused::Closed(call),
        })
    }

    async fn next_call(calls: &mut Self::IncomingCalls) -> Option<IncomingCall> {
        calls.recv().await.ok()
    }
}

/// The executor every task of this crate runs on: one worker thread per
/// core, started on first use. A panicking task only ends itself.
fn executor() -> &'static Executor<'static> {
    static EXECUTOR: OnceLock<Executor<'static>> = OnceLock::new();
    EXECUTOR.get_or_init(|| {
        let threads = thread::available_parallelism().map_or(1, NonZero::get);
        for n in 1..=threads {
            let worker = thread::Builder::new()
                .name(format!("so-smol-{n}"))
                .spawn(|| {
                    loop {
                        let run = || smol::block_on(executor().run(future::pending::<()>()));
                        let _ = catch_unwind(run);
                    }
                });
            if let Err(e) = worker {
                error!(error = %e, "cannot start an executor thread");
            }
        }
        Executor::new()
    })
}

/// Completes on SIGINT or SIGTERM.
async fn termination() {
    use async_signal::{Signal, Signals};
    use smol::stream::StreamExt;

    match Signals::new([Signal::Int, Signal::Term]) {
        Ok(mut signals) => match signals.next().await {
            Some(Ok(Signal::Term)) => info!("SIGTERM received"),
            Some(Ok(_)) => info!("SIGINT received"),
            Some(Err(e)) => error!(error = %e, "cannot wait for signals"),
            None => {}
        },
        Err(e) => {
            error!(error = %e, "cannot listen for SIGINT and SIGTERM");
            future::pending::<()>().await;
        }
    }
}

/// A TCP stream on smol's reactor that asks the socket for bytes only when
/// they can be there: before its first wait, and after the reactor said
/// it is readable, until a read finds nothing. (`smol::net::TcpStream`
/// tries a `recv` on every poll: a failing syscall on every turn of a
/// connection that waits for input, about 4 % of the server's CPU in
/// the fan-out benchmark.)
#[derive(Debug)]
pub struct Stream {
    io: Arc<SharedSocket>,
    /// No read has found the socket empty since the last readiness.
    readable: bool,
}

/// A socket on smol's reactor, shared by its connection's [`Stream`] and
/// the engine thread's direct writes (non-blocking sends straight to it).
#[derive(Debug)]
struct SharedSocket(Async<TcpStream>);

impl SocketWriter for SharedSocket {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.get_ref().write(buf)
    }
}
