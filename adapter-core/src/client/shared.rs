//! What the driver task and the handles share: one lock around the
//! [`Connection`] and the [`Session`], the count of user handles, the
//! driver's wake-up, and the answers to the server's calls.
//!
//! Handles act under the lock themselves (a request is queued on the
//! connection right away) and wake the driver to write it out; the driver
//! wakes each waiting handle when its answer arrives. No channel carries
//! requests, so none depends on a runtime. Lock order: the state, then a
//! mirror; [`Shared::answers`] alone.

use std::future::poll_fn;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::{Duration, Instant};

use rtmp_proto::amf::Value;
use rtmp_proto::connection::Connection;

use super::ClientError;
use super::session::{Answer, Session, Ticket};
use crate::runtime::{Runtime, until};
use crate::sync::{Signal, WakerSet, lock};

/// Shared by the driver task and every handle.
pub(crate) struct Shared<R: Runtime> {
    state: Mutex<State<R>>,
    /// Handles held by the user (the client, SO handles, incoming calls);
    /// once none is left, the driver closes the connection.
    users: AtomicUsize,
    /// Wakes the driver: bytes to write, a close, the last handle gone,
    /// an answer to send.
    pub(crate) driver: Signal,
    /// Answers to the server's calls, `(transaction id, outcome)`. Kept
    /// apart from the state so that a call dropped anywhere (even while
    /// the state is locked) can answer.
    pub(crate) answers: Mutex<Vec<(f64, Result<Value, Value>)>>,
}

/// What sits behind [`Shared`]'s lock.
pub(crate) struct State<R: Runtime> {
    pub(crate) conn: Connection,
    pub(crate) session: Session<R>,
    /// [`Client::close`](super::Client::close) was called.
    pub(crate) close_requested: bool,
    /// Why the connection closed, once it did.
    pub(crate) closed: Option<ClientError>,
    /// The driver wrote its last bytes and let the socket go.
    pub(crate) finished: bool,
    /// Tasks waiting for `closed` or `finished`.
    pub(crate) close_waiters: WakerSet,
}

impl<R: Runtime> Shared<R> {
    pub(crate) fn new(conn: Connection, session: Session<R>) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                conn,
                session,
                close_requested: false,
                closed: None,
                finished: false,
                close_waiters: WakerSet::default(),
            }),
            users: AtomicUsize::new(0),
            driver: Signal::default(),
            answers: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State<R>> {
        lock(&self.state)
    }

    /// Whether every user handle is gone.
    pub(crate) fn abandoned(&self) -> bool {
        self.users.load(Ordering::Acquire) == 0
    }
}

/// A user's hold on the connection: while one exists, the driver keeps
/// the connection open.
pub(crate) struct UserRef<R: Runtime>(Arc<Shared<R>>);

impl<R: Runtime> UserRef<R> {
    pub(crate) fn new(shared: Arc<Shared<R>>) -> Self {
        shared.users.fetch_add(1, Ordering::AcqRel);
        Self(shared)
    }

    pub(crate) fn shared(&self) -> &Shared<R> {
        &self.0
    }

    /// Queues a request with `make` under the lock and wakes the driver
    /// to write it; fails at once if the connection is closed.
    pub(crate) fn request(
        &self,
        make: impl FnOnce(&mut Session<R>, &mut Connection, Instant) -> Result<Ticket, ClientError>,
    ) -> Result<Ticket, ClientError> {
        let ticket = {
            let mut state = self.0.lock();
            if let Some(reason) = &state.closed {
                return Err(reason.clone());
            }
            let State { conn, session, .. } = &mut *state;
            make(session, conn, Instant::now())?
        };
        self.0.driver.notify();
        Ok(ticket)
    }

    /// Waits for `ticket`'s answer, at most `timeout` (then
    /// [`ClientError::Timeout`] saying `what`).
    pub(crate) async fn wait(
        &self,
        ticket: Ticket,
        timeout: Duration,
        what: &'static str,
    ) -> Result<Answer<R>, ClientError> {
        let guard = Forget {
            shared: &self.0,
            ticket,
        };
        let answer = poll_fn(|cx| {
            let mut state = self.0.lock();
            let State {
                session, closed, ..
            } = &mut *state;
            session.poll_ticket(ticket, cx, closed.as_ref())
        });
        let outcome = until::<R, _>(Instant::now() + timeout, answer).await;
        drop(guard);
        outcome.unwrap_or(Err(ClientError::Timeout(what)))
    }

    /// Waits until `done` holds for the state.
    pub(crate) async fn until_state(&self, done: impl Fn(&State<R>) -> bool) {
        poll_fn(|cx| {
            let mut state = self.0.lock();
            if done(&state) {
                return Poll::Ready(());
            }
            state.close_waiters.register(cx);
            Poll::Pending
        })
        .await;
    }
}

impl<R: Runtime> Clone for UserRef<R> {
    fn clone(&self) -> Self {
        Self::new(self.0.clone())
    }
}

impl<R: Runtime> Drop for UserRef<R> {
    fn drop(&mut self) {
        if self.0.users.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.driver.notify();
        }
    }
}

/// Forgets a ticket whose caller stopped waiting (answered, timed out or
/// dropped).
struct Forget<'a, R: Runtime> {
    shared: &'a Shared<R>,
    ticket: Ticket,
}

impl<R: Runtime> Drop for Forget<'_, R> {
    fn drop(&mut self) {
        self.shared.lock().session.forget(self.ticket);
    }
}
