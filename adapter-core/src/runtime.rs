//! What an adapter supplies: its runtime's tasks, threads, timers, TCP
//! sockets and signals, and the two channel kinds handed to users.
//!
//! Everything here is a runtime call; everything else (the server's
//! accept, engine and connection loops, the client's bookkeeping) is
//! written once in this crate, generic over [`Runtime`], the way quinn
//! runs on several runtimes.
//!
//! The loops are hand-written `poll` functions rather than `select!`
//! macros, so the trait speaks in `poll_*` terms: each `poll_*` registers
//! the context's waker when it returns `Pending`, as `Future::poll` does.

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rtmp_proto::mirror::RemoteEvent;

use crate::client::IncomingCall;

/// An async runtime, as the server and client use it. Implemented by a
/// unit struct in each adapter crate (`adapter_tokio::Tokio`,
/// `adapter_smol::Smol`).
pub trait Runtime: Sized + Send + Sync + 'static {
    /// A listening TCP socket.
    type Listener: Send + Sync + 'static;
    /// A connected TCP socket.
    type Stream: Send + 'static;
    /// A timer that fires once at an instant and can be moved.
    type Timer: Send + Unpin + 'static;
    /// The sending side of a SharedObject's events.
    type EventSender: Send + Sync + 'static;
    /// What [`SharedObject::events`](crate::client::SharedObject::events)
    /// returns: a receiver of every event from its creation on, whose
    /// capacity the sender set; a receiver further behind loses the
    /// oldest and is told how many.
    type Events: Send + 'static;
    /// The sending side of the server's calls to a client.
    type CallSender: Send + Sync + 'static;
    /// What `Client::incoming_calls` returns.
    type IncomingCalls: Send + 'static;

    /// Runs `task` in the background, on the runtime's worker threads.
    fn spawn(task: impl Future<Output = ()> + Send + 'static);

    /// Runs blocking `work` off the event loop (a blocking pool);
    /// `None` if it panicked or was cancelled.
    fn spawn_blocking<T: Send + 'static>(
        work: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = Option<T>> + Send + 'static;

    /// Runs `future` to completion on the calling thread, as that thread's
    /// own event loop (the engine thread's). Fails if the runtime cannot
    /// be set up there.
    fn block_on<F: Future>(future: F) -> io::Result<F::Output>;

    /// A timer firing at `at`.
    fn timer(at: Instant) -> Self::Timer;

    /// Moves `timer` to fire at `at` (again, if it fired).
    fn reset_timer(timer: &mut Self::Timer, at: Instant);

    /// `Ready` once `timer`'s instant has passed.
    fn poll_timer(timer: &mut Self::Timer, cx: &mut Context<'_>) -> Poll<()>;

    /// Listens on `addr` (`host:port`, port 0 picks one).
    fn bind(addr: String) -> impl Future<Output = io::Result<Self::Listener>> + Send + 'static;

    /// The address `listener` listens on.
    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr>;

    /// The next connection and its peer's address.
    fn poll_accept(
        listener: &Self::Listener,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Self::Stream, SocketAddr)>>;

    /// Opens a TCP connection to `host:port`.
    fn connect(
        host: String,
        port: u16,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send + 'static;

    /// Sets `TCP_NODELAY`: small SO messages leave at once.
    fn set_nodelay(stream: &Self::Stream) -> io::Result<()>;

    /// A handle on `stream`'s socket (the same socket, shared, not a
    /// second descriptor) through which the server's engine thread writes
    /// SharedObject updates straight to it while the connection's task
    /// has nothing of its own to send: one system call per client and
    /// hand-over, no task wake-up. `None` (the default) queues every
    /// update for the connection's task instead.
    /// The handle should be the stream's own shared allocation (no box
    /// around it): the engine reaches it once per client and hand-over.
    fn shared_socket(stream: &Self::Stream) -> Option<Arc<dyn SocketWriter>> {
        let _ = stream;
        None
    }

    /// Reads what the socket has into `buf`; `Ok(0)` at the end.
    fn poll_read(
        stream: &mut Self::Stream,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>>;

    /// Writes what the socket takes of `buf`.
    fn poll_write(
        stream: &mut Self::Stream,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>>;

    /// Shuts the writing side down (a FIN after what was written).
    fn poll_close(stream: &mut Self::Stream, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Completes on SIGINT or SIGTERM (Ctrl-C only off Unix), saying which
    /// in the log.
    fn termination() -> impl Future<Output = ()> + Send;

    /// A new SharedObject event channel keeping the last `capacity`
    /// events for each receiver. It closes when the sender is dropped.
    fn event_channel(capacity: usize) -> Self::EventSender;

    /// A receiver of the events sent from now on.
    fn subscribe(sender: &Self::EventSender) -> Self::Events;

    /// Sends `event` to every receiver (none is fine).
    fn publish(sender: &Self::EventSender, event: RemoteEvent);

    /// The next event from `events`, for code that runs on any runtime
    /// (the CLI, the conformance suite).
    fn next_event(
        events: &mut Self::Events,
    ) -> impl Future<Output = Received<RemoteEvent>> + Send + '_;

    /// A channel for at most `capacity` waiting calls.
    fn call_channel(capacity: usize) -> (Self::CallSender, Self::IncomingCalls);

    /// Queues `call` without waiting; gives it back when the queue is full
    /// or its receiver is gone.
    fn offer_call(
        sender: &Self::CallSender,
        call: IncomingCall<Self>,
    ) -> Result<(), Refused<IncomingCall<Self>>>;

    /// The next call from `calls`; `None` once the client is gone.
    fn next_call(
        calls: &mut Self::IncomingCalls,
    ) -> impl Future<Output = Option<IncomingCall<Self>>> + Send + '_;
}

/// A connected socket another thread writes to without waiting (see
/// [`Runtime::shared_socket`]).
pub trait SocketWriter: Send + Sync + 'static {
    /// Writes what the socket takes of `buf` now: `WouldBlock` when it
    /// takes nothing, never waits.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
}

/// A std socket in non-blocking mode.
impl SocketWriter for std::net::TcpStream {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        use std::io::Write;
        (&*self).write(buf)
    }
}

/// What [`Runtime::next_event`] got.
#[derive(Debug, Clone, PartialEq)]
pub enum Received<T> {
    /// The next item.
    Item(T),
    /// This many items were missed (the receiver fell behind); the
    /// following ones are still there.
    Lagged(u64),
    /// Nothing more will come.
    Closed,
}

/// Why [`Runtime::offer_call`] gave a call back.
#[derive(Debug)]
pub enum Refused<T> {
    /// The receiver has `capacity` calls waiting.
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

/// Runs `future` until `deadline`: `None` if the deadline came first.
pub async fn until<R: Runtime, F: Future>(deadline: Instant, future: F) -> Option<F::Output> {
    let mut timer = R::timer(deadline);
    let mut future = pin!(future);
    poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        R::poll_timer(&mut timer, cx).map(|()| None)
    })
    .await
}

/// Waits for `duration`.
pub async fn sleep<R: Runtime>(duration: Duration) {
    let mut timer = R::timer(Instant::now() + duration);
    poll_fn(|cx| R::poll_timer(&mut timer, cx)).await;
}
