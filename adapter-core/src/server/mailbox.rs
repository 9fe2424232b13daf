//! Between the engine thread and each connection task: the connection's
//! [`Mailbox`] (its bounded, coalescing [`OutboundQueue`] and a wake-up),
//! and the server's register of [`Live`] connections.

use std::collections::BTreeMap;
use std::future::{Future, poll_fn};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use so_engine::ClientId;
use so_engine::host::{ChangeKey, ClientCommand, OutboundQueue, Pushed, QueueLimits};
use tracing::warn;

use crate::sync::{Signal, lock};

/// One client's queue as the engine thread and its connection share it.
pub(crate) struct Mailbox {
    state: Mutex<MailboxState>,
    signal: Signal,
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
}

impl Mailbox {
    pub(crate) fn new(limits: QueueLimits) -> Self {
        Self {
            state: Mutex::new(MailboxState {
                queue: OutboundQueue::new(limits),
                shutdown: false,
                killed: false,
            }),
            signal: Signal::default(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, MailboxState> {
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
            match state.queue.push_keyed(command, key) {
                Ok(Pushed::Dropped) => return,
                Ok(_) => queued = true,
                Err(overflow) => {
                    drop(state);
                    warn!(client = client.0, %overflow, "disconnecting a slow reader");
                    self.signal.notify();
                    return;
                }
            }
        }
        drop(state);
        if was_empty && queued {
            self.signal.notify();
        }
    }

    /// Tells the connection to close once what is queued went out.
    pub(crate) fn shut_down(&self) {
        self.lock().shutdown = true;
        self.signal.notify();
    }

    /// Tells the connection to end at once.
    pub(crate) fn kill(&self) {
        self.lock().killed = true;
        self.signal.notify();
    }

    /// `Ready` once the engine (or the server) put something in.
    pub(crate) fn poll_notified(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.signal.poll_notified(cx)
    }

    /// Moves every queued command to `out`.
    pub(crate) fn drain_into(&self, out: &mut Vec<ClientCommand>) {
        self.lock().queue.drain_into(out);
    }
}

/// The connections being served, by client id.
#[derive(Default)]
pub(super) struct Live {
    mailboxes: Mutex<BTreeMap<ClientId, Arc<Mailbox>>>,
    /// Wakes the server when the last connection ends.
    emptied: Signal,
}

impl Live {
    /// How many connections are open.
    pub(super) fn len(&self) -> usize {
        lock(&self.mailboxes).len()
    }

    /// Counts a connection until the slot is dropped.
    pub(super) fn insert(self: &Arc<Self>, client: ClientId, mailbox: Arc<Mailbox>) -> LiveSlot {
        lock(&self.mailboxes).insert(client, mailbox);
        LiveSlot {
            live: self.clone(),
            client,
        }
    }

    /// Ends every connection at once.
    pub(super) fn kill_all(&self) {
        for mailbox in lock(&self.mailboxes).values() {
            mailbox.kill();
        }
    }

    /// Completes once no connection is open.
    pub(super) fn all_closed(&self) -> impl Future<Output = ()> + '_ {
        poll_fn(|cx| {
            loop {
                if lock(&self.mailboxes).is_empty() {
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
            let mut mailboxes = lock(&self.live.mailboxes);
            mailboxes.remove(&self.client);
            mailboxes.is_empty()
        };
        if empty {
            self.live.emptied.notify();
        }
    }
}
