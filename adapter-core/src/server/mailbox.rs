//! Between the engine thread and each connection task: the connection's
//! [`Mailbox`] (its bounded, coalescing [`OutboundQueue`] and a wake-up),
//! and the server's register of [`Live`] connections.

use std::collections::{BTreeMap, BTreeSet};
use std::future::{Future, poll_fn};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use so_engine::ClientId;
use so_engine::server::{ChangeKey, ClientCommand, OutboundQueue, Pushed, QueueLimits};
use tracing::warn;

use crate::sync::{Signal, lock};

/// One client's queue as the engine thread and its connection share it.
///
/// The wake-up lives with the queue: the engine takes one lock per client
/// per hand-over (queue, flag and waker), and the connection one to see
/// the notification and take the queue. `repr(C)` keeps the flag next to
/// the lock word, on the cache line both sides touch anyway.
#[repr(C)]
pub(crate) struct Mailbox {
    /// Something was put in since the connection last looked; set under
    /// the lock, taken without it.
    notified: AtomicBool,
    state: Mutex<MailboxState>,
}

/// What sits behind the [`Mailbox`] lock.
pub(crate) struct MailboxState {
    /// What the engine sends the client.
    pub(crate) queue: OutboundQueue,
    /// The server is shutting down: close the connection (after what is
    /// queued).
    pub(crate) shutdown: bool,
    /// The server gave up on the connection: end it at once.
    pub(crate) killed: bool,
    /// The connection's waker: registered by the connection when it first
    /// waits (again only if its task's waker changes), kept across
    /// notifications.
    waker: Option<Waker>,
}

/// What the connection learns from a notification.
pub(crate) struct Notice {
    /// The queue overflowed: the client reads too slowly.
    pub(crate) overflowed: bool,
    /// The server is shutting down.
    pub(crate) shutdown: bool,
    /// The server gave up on the connection.
    pub(crate) killed: bool,
}

impl Mailbox {
    pub(crate) fn new(limits: QueueLimits) -> Self {
        Self {
            state: Mutex::new(MailboxState {
                queue: OutboundQueue::new(limits),
                shutdown: false,
                killed: false,
                waker: None,
            }),
            notified: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MailboxState> {
        lock(&self.state)
    }

    /// Queues everything the engine has for this client from one turn
    /// (engine side), in order, under one lock, waking the connection
    /// once: when its queue was empty, or just overflowed.
    pub(crate) fn deliver_all(
        &self,
        client: ClientId,
        commands: impl IntoIterator<Item = (ClientCommand, Option<ChangeKey>)>,
    ) {
        let mut state = self.lock();
        let was_empty = state.queue.is_empty();
        let mut queued = false;
        for (command, key) in commands {
            match state.queue.push(command, key) {
                Ok(Pushed::Dropped) => return,
                Ok(_) => queued = true,
                Err(overflow) => {
                    self.notify(state);
                    warn!(client = client.0, %overflow, "disconnecting a slow reader");
                    return;
                }
            }
        }
        if was_empty && queued {
            self.notify(state);
        }
    }

    /// Tells the connection to close once what is queued went out.
    pub(crate) fn shut_down(&self) {
        let mut state = self.lock();
        state.shutdown = true;
        self.notify(state);
    }

    /// Tells the connection to end at once.
    pub(crate) fn kill(&self) {
        let mut state = self.lock();
        state.killed = true;
        self.notify(state);
    }

    /// Flags the notification and wakes the connection (after the lock
    /// is released, so that it never waits for the wake-up).
    fn notify(&self, state: MutexGuard<'_, MailboxState>) {
        self.notified.store(true, Ordering::Release);
        let waker = state.waker.clone();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// `Ready` once the engine (or the server) put something in since the
    /// last `Ready` (connection side); then, under the same lock, moves
    /// what is queued to `take` unless the connection was killed.
    /// `registered` is the connection's record of the waker it left in
    /// the mailbox: the lock is taken to register only when the context's
    /// waker is another.
    pub(crate) fn poll_notified(
        &self,
        cx: &mut Context<'_>,
        registered: &mut Option<Waker>,
        take: Option<&mut Vec<ClientCommand>>,
    ) -> Poll<Notice> {
        if !registered
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            // Before looking at the flag: a notification after the look
            // then finds this waker.
            let waker = cx.waker().clone();
            self.lock().waker = Some(waker.clone());
            *registered = Some(waker);
        }
        // A plain load first: the usual answer, no, leaves the line shared.
        if !self.notified.load(Ordering::Relaxed) || !self.notified.swap(false, Ordering::Acquire) {
            return Poll::Pending;
        }
        let mut state = self.lock();
        if let Some(out) = take
            && !state.killed
        {
            state.queue.drain_into(out);
        }
        Poll::Ready(Notice {
            overflowed: state.queue.is_overflowed(),
            shutdown: state.shutdown,
            killed: state.killed,
        })
    }

    /// Moves every queued command to `out`.
    pub(crate) fn drain_into(&self, out: &mut Vec<ClientCommand>) {
        self.lock().queue.drain_into(out);
    }
}

/// The connections being served, by client id, and which of them are
/// still being admitted (handshake, then `connect`): those count against
/// their own limit, not against the connection cap, so that sockets that
/// never finish a handshake cannot keep a real client out.
#[derive(Default)]
pub(super) struct Live {
    state: Mutex<LiveState>,
    /// Wakes the server when the last connection ends.
    emptied: Signal,
}

#[derive(Default)]
struct LiveState {
    mailboxes: BTreeMap<ClientId, Arc<Mailbox>>,
    /// Not admitted yet, oldest (lowest id) first.
    admitting: BTreeSet<ClientId>,
    /// Admitted; a connection in neither set was ended while being
    /// admitted and counts against no limit.
    admitted: BTreeSet<ClientId>,
}

impl Live {
    /// How many connections are open.
    pub(super) fn len(&self) -> usize {
        lock(&self.state).mailboxes.len()
    }

    /// How many connections were admitted (their `connect` got a slot).
    pub(super) fn admitted(&self) -> usize {
        lock(&self.state).admitted.len()
    }

    /// Counts a new connection, as being admitted, until the slot is
    /// dropped. If `max_admitting` are being admitted already, the oldest
    /// of them is ended to make room and its id returned: a socket that
    /// stalls its handshake gives way to a newer one, and a real client
    /// finishes its handshake long before that many newer sockets came.
    pub(super) fn insert(
        self: &Arc<Self>,
        client: ClientId,
        mailbox: Arc<Mailbox>,
        max_admitting: usize,
    ) -> (LiveSlot, Option<ClientId>) {
        let mut state = lock(&self.state);
        let mut evicted = None;
        if state.admitting.len() >= max_admitting.max(1)
            && let Some(oldest) = state.admitting.pop_first()
        {
            if let Some(mailbox) = state.mailboxes.get(&oldest) {
                mailbox.kill();
            }
            evicted = Some(oldest);
        }
        state.mailboxes.insert(client, mailbox);
        state.admitting.insert(client);
        let slot = LiveSlot {
            live: self.clone(),
            client,
        };
        (slot, evicted)
    }

    /// Admits `client` if fewer than `max` connections are admitted;
    /// false if it is full, or the client was ended meanwhile.
    pub(super) fn try_admit(&self, client: ClientId, max: usize) -> bool {
        let mut state = lock(&self.state);
        if !state.admitting.contains(&client) || state.admitted.len() >= max {
            return false;
        }
        state.admitting.remove(&client);
        state.admitted.insert(client);
        true
    }

    /// Ends every connection at once.
    pub(super) fn kill_all(&self) {
        for mailbox in lock(&self.state).mailboxes.values() {
            mailbox.kill();
        }
    }

    /// Completes once no connection is open.
    pub(super) fn all_closed(&self) -> impl Future<Output = ()> + '_ {
        poll_fn(|cx| {
            loop {
                if lock(&self.state).mailboxes.is_empty() {
                    return Poll::Ready(());
                }
                std::task::ready!(self.emptied.poll_notified(cx));
            }
        })
    }
}

/// One open connection in [`Live`].
pub(super) struct LiveSlot {
    live: Arc<Live>,
    client: ClientId,
}

impl Drop for LiveSlot {
    fn drop(&mut self) {
        let empty = {
            let mut state = lock(&self.live.state);
            state.mailboxes.remove(&self.client);
            state.admitting.remove(&self.client);
            state.admitted.remove(&self.client);
            state.mailboxes.is_empty()
        };
        if empty {
            self.live.emptied.notify();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::counting::{self, Count};

    fn deliver(mailbox: &Mailbox, n: usize) {
        let commands = (0..n).map(|_| (ClientCommand::Accept, None));
        mailbox.deliver_all(ClientId(1), commands);
    }

    /// The connection's side of a mailbox: its task's waker (and how often
    /// it was woken), the waker it left in the mailbox, what it took.
    struct Connection {
        count: Arc<Count>,
        waker: Waker,
        registered: Option<Waker>,
        out: Vec<ClientCommand>,
    }

    impl Connection {
        fn new() -> Self {
            let (count, waker) = counting::waker();
            Self {
                count,
                waker,
                registered: None,
                out: Vec::new(),
            }
        }

        /// The task now runs with a new waker.
        fn rewake(&mut self) -> Arc<Count> {
            let (count, waker) = counting::waker();
            self.waker = waker;
            std::mem::replace(&mut self.count, count)
        }

        /// Polls as the connection does, taking the queue if `take`.
        fn poll(&mut self, mailbox: &Mailbox, take: bool) -> Poll<Notice> {
            let mut cx = Context::from_waker(&self.waker);
            let out = take.then_some(&mut self.out);
            mailbox.poll_notified(&mut cx, &mut self.registered, out)
        }

        fn woken(&self) -> usize {
            self.count.get()
        }
    }

    #[test]
    fn a_mailbox_wakes_its_connection_once_per_emptied_queue() {
        let mailbox = Mailbox::new(QueueLimits::default());
        let mut conn = Connection::new();
        assert!(conn.poll(&mailbox, true).is_pending());
        deliver(&mailbox, 2);
        deliver(&mailbox, 1);
        assert_eq!(conn.woken(), 1);
        let Poll::Ready(notice) = conn.poll(&mailbox, true) else {
            panic!("the delivery was not seen");
        };
        assert!(!notice.overflowed && !notice.shutdown && !notice.killed);
        assert_eq!(conn.out.len(), 3);
        assert!(conn.poll(&mailbox, true).is_pending());
        // The waker stays registered across notifications.
        deliver(&mailbox, 1);
        assert_eq!(conn.woken(), 2);
        // Not taken when the connection has no room: left queued, and the
        // next delivery wakes no one (the connection takes it later).
        assert!(conn.poll(&mailbox, false).is_ready());
        deliver(&mailbox, 1);
        assert_eq!(conn.woken(), 2);
        conn.out.clear();
        mailbox.drain_into(&mut conn.out);
        assert_eq!(conn.out.len(), 2);
    }

    #[test]
    fn a_notification_before_the_first_wait_or_for_a_new_waker_is_kept() {
        let mailbox = Mailbox::new(QueueLimits::default());
        deliver(&mailbox, 1);
        let mut conn = Connection::new();
        assert!(conn.poll(&mailbox, true).is_ready());
        assert_eq!(conn.out.len(), 1);
        // The task's waker changed: the new one is woken, not the old.
        let first = conn.rewake();
        assert!(conn.poll(&mailbox, true).is_pending());
        mailbox.kill();
        assert_eq!(first.get(), 0);
        assert_eq!(conn.woken(), 1);
        deliver(&mailbox, 1);
        conn.out.clear();
        let Poll::Ready(notice) = conn.poll(&mailbox, true) else {
            panic!("the kill was not seen");
        };
        assert!(notice.killed);
        assert!(conn.out.is_empty(), "nothing is taken once killed");
    }

    #[test]
    fn connections_being_admitted_have_their_own_limit() {
        let live = Arc::new(Live::default());
        let mailbox = || Arc::new(Mailbox::new(QueueLimits::default()));
        let m1 = mailbox();
        let (a, none) = live.insert(ClientId(1), m1.clone(), 2);
        assert_eq!(none, None);
        let (b, none) = live.insert(ClientId(2), mailbox(), 2);
        assert_eq!(none, None);
        assert!(live.try_admit(ClientId(2), 1));
        assert_eq!(live.admitted(), 1);
        // The cap of admitted connections is reached: 1 waits.
        assert!(!live.try_admit(ClientId(1), 1));
        // Two more being admitted: the oldest of them (1) gives way.
        let (c, _) = live.insert(ClientId(3), mailbox(), 2);
        let (d, evicted) = live.insert(ClientId(4), mailbox(), 2);
        assert_eq!(evicted, Some(ClientId(1)));
        assert!(m1.lock().killed, "the evicted connection is told to end");
        assert!(
            !live.try_admit(ClientId(1), 10),
            "an evicted one is not admitted"
        );
        assert_eq!((live.len(), live.admitted()), (4, 1));
        // A slot freed by an admitted connection serves the next one.
        drop(b);
        assert!(live.try_admit(ClientId(4), 1));
        drop((a, c, d));
        assert_eq!((live.len(), live.admitted()), (0, 0));
    }
}
