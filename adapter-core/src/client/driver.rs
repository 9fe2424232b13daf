//! The driver task: it owns the socket, runs the drive loop of
//! [`rtmp_proto::connection`] on the shared [`Connection`], and wakes the
//! handles whose answers arrived.

use std::future::poll_fn;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};

use super::ClientError;
use super::shared::{Shared, State};
use crate::runtime::{Runtime, until};
use crate::sync::lock;

/// Bytes read from the socket at a time.
const READ_BUFFER: usize = 64 * 1024;
/// How long closing waits for the last bytes to go out.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);
/// Loop turns per poll before the task yields to others.
const TURNS_PER_POLL: usize = 64;

/// Runs the connection until it closes; `connect` must be answered by
/// `connect_deadline`.
pub(crate) async fn drive<R: Runtime>(
    shared: Arc<Shared<R>>,
    stream: R::Stream,
    connect_deadline: Instant,
) {
    let mut driver = Driver::<R> {
        shared,
        stream,
        input: vec![0; READ_BUFFER].into_boxed_slice(),
        output: BytesMut::new(),
        timer: R::timer(connect_deadline),
        armed: Some(connect_deadline),
        connect_deadline: Some(connect_deadline),
    };
    let reason = poll_fn(|cx| driver.poll_drive(cx)).await;
    driver.finish(reason).await;
}

struct Driver<R: Runtime> {
    shared: Arc<Shared<R>>,
    stream: R::Stream,
    input: Box<[u8]>,
    output: BytesMut,
    timer: R::Timer,
    armed: Option<Instant>,
    /// Until `connect` is answered: the caller's deadline.
    connect_deadline: Option<Instant>,
}

impl<R: Runtime> Driver<R> {
    /// The drive loop: after every input, request or timer, handle the
    /// connection's events and write what it has to send. Ends with why
    /// the connection closed, recorded in the state before anyone else can
    /// queue another request.
    fn poll_drive(&mut self, cx: &mut Context<'_>) -> Poll<ClientError> {
        for _ in 0..TURNS_PER_POLL {
            let now = Instant::now();
            let deadline = {
                let mut state = self.shared.lock();
                if let Some(reason) = step(&self.shared, &mut state, now) {
                    state.closed = Some(reason.clone());
                    return Poll::Ready(reason);
                }
                state.conn.poll_transmit(&mut self.output);
                if !state.session.is_connecting() {
                    self.connect_deadline = None;
                }
                [state.conn.poll_timeout(), self.connect_deadline]
                    .into_iter()
                    .flatten()
                    .min()
            };
            while !self.output.is_empty() {
                match R::poll_write(&mut self.stream, cx, &self.output) {
                    Poll::Ready(Ok(0)) => {
                        return self.fail(io::Error::from(io::ErrorKind::WriteZero).into());
                    }
                    Poll::Ready(Ok(n)) => self.output.advance(n),
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Poll::Ready(Err(e)) => return self.fail(e.into()),
                    Poll::Pending => break,
                }
            }
            if self.shared.driver.poll_notified(cx).is_ready() {
                continue;
            }
            match R::poll_read(&mut self.stream, cx, &mut self.input) {
                Poll::Ready(Ok(0)) => return self.fail(ClientError::Disconnected),
                Poll::Ready(Ok(n)) => {
                    // A fatal error also arrives as Event::Closed.
                    let mut state = self.shared.lock();
                    let _ = state.conn.handle_input(Instant::now(), &self.input[..n]);
                    continue;
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Poll::Ready(Err(e)) => return self.fail(e.into()),
                Poll::Pending => {}
            }
            if let Some(at) = deadline {
                if self.armed != Some(at) {
                    R::reset_timer(&mut self.timer, at);
                    self.armed = Some(at);
                }
                if R::poll_timer(&mut self.timer, cx).is_ready() {
                    self.armed = None;
                    let now = Instant::now();
                    if self.connect_deadline.is_some_and(|d| now >= d) {
                        let handshake_done = self.shared.lock().session.handshake_done;
                        return self.fail(ClientError::Timeout(if handshake_done {
                            "the server's answer to connect"
                        } else {
                            "the handshake"
                        }));
                    }
                    self.shared.lock().conn.handle_timeout(now);
                    continue;
                }
            }
            return Poll::Pending;
        }
        // Yield: the work left is picked up on the next poll.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Records `reason` as why the connection closed.
    fn fail(&mut self, reason: ClientError) -> Poll<ClientError> {
        self.shared.lock().closed = Some(reason.clone());
        Poll::Ready(reason)
    }

    /// Fails every waiter, writes out what is left and closes the socket.
    async fn finish(mut self, reason: ClientError) {
        tracing::debug!(%reason, "client connection closed");
        {
            let mut state = self.shared.lock();
            state.session.fail_all(&reason);
            state.conn.poll_transmit(&mut self.output);
            state.close_waiters.wake_all();
        }
        let Self { stream, output, .. } = &mut self;
        let flush = poll_fn(|cx| {
            while !output.is_empty() {
                match std::task::ready!(R::poll_write(stream, cx, output)) {
                    Ok(n) if n > 0 => output.advance(n),
                    _ => break,
                }
            }
            R::poll_close(stream, cx).map(|_| ())
        });
        let _ = until::<R, _>(Instant::now() + FLUSH_TIMEOUT, flush).await;
        let mut state = self.shared.lock();
        state.finished = true;
        state.close_waiters.wake_all();
    }
}

/// One turn under the lock: a close asked for (or every handle gone),
/// the connection's events, the answers to the server's calls.
fn step<R: Runtime>(
    shared: &Arc<Shared<R>>,
    state: &mut State<R>,
    now: Instant,
) -> Option<ClientError> {
    if state.close_requested || shared.abandoned() {
        state.conn.close(now);
        return Some(ClientError::Closed);
    }
    let State { conn, session, .. } = state;
    while let Some(event) = conn.poll_event() {
        if let Some(reason) = session.handle_event(shared, conn, now, event) {
            return Some(reason);
        }
    }
    for (transaction_id, outcome) in lock(&shared.answers).drain(..) {
        // The connection may have closed meanwhile: nobody to answer.
        let _ = match outcome {
            Ok(result) => conn.reply(now, transaction_id, result),
            Err(info) => conn.reply_error(now, transaction_id, info),
        };
    }
    None
}
