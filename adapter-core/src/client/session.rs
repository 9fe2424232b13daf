//! The client's bookkeeping, with no I/O: which caller waits for which
//! answer ([`Ticket`]s), the SharedObjects in use with their mirrors and
//! event senders, and the calls in flight. The driver feeds it the
//! connection's events; handles call it (under the state lock) to send
//! requests.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use rtmp_proto::amf::{Encoding, Str, Value};
use rtmp_proto::connection::{Call, CallId, Connection, Event, call_failed};
use rtmp_proto::message::shared_object::SharedObjectMessage;
use rtmp_proto::mirror::{RemoteEvent, RemoteSharedObject};

use super::ClientError;
use super::calls::IncomingCall;
use super::shared::{Shared, UserRef};
use crate::runtime::{Refused, Runtime};
use crate::sync::lock;

/// Names one waiting request.
pub(crate) type Ticket = u64;

/// What a request resolves to.
pub(crate) enum Answer<R: Runtime> {
    /// A write, send or release went through.
    Done,
    /// A removal: whether the key was there.
    Removed(bool),
    /// A call's `_result` values.
    Values(Vec<Value>),
    /// A USE was answered: the SO's mirror and a receiver subscribed
    /// before the USE went out (so it sees the answer).
    Used {
        mirror: Arc<Mutex<RemoteSharedObject>>,
        events: R::Events,
    },
    /// `connect` was accepted.
    Connected { encoding: Encoding, info: Value },
}

/// The mirror's lock.
pub(crate) fn mirror(mirror: &Mutex<RemoteSharedObject>) -> MutexGuard<'_, RemoteSharedObject> {
    lock(mirror)
}

struct Slot<R: Runtime> {
    outcome: Option<Result<Answer<R>, ClientError>>,
    waker: Option<Waker>,
}

/// Waiting requests by ticket.
struct Slots<R: Runtime> {
    next: Ticket,
    slots: BTreeMap<Ticket, Slot<R>>,
}

impl<R: Runtime> Slots<R> {
    fn open(&mut self) -> Ticket {
        self.next += 1;
        let slot = Slot {
            outcome: None,
            waker: None,
        };
        self.slots.insert(self.next, slot);
        self.next
    }

    /// A ticket already answered.
    fn answered(&mut self, outcome: Result<Answer<R>, ClientError>) -> Ticket {
        let ticket = self.open();
        self.resolve(ticket, outcome);
        ticket
    }

    /// Answers `ticket`, unless its caller stopped waiting.
    fn resolve(&mut self, ticket: Ticket, outcome: Result<Answer<R>, ClientError>) {
        if let Some(slot) = self.slots.get_mut(&ticket)
            && slot.outcome.is_none()
        {
            slot.outcome = Some(outcome);
            if let Some(waker) = slot.waker.take() {
                waker.wake();
            }
        }
    }
}

/// One SO in use, and the requests waiting for its answers.
struct SoEntry<R: Runtime> {
    mirror: Arc<Mutex<RemoteSharedObject>>,
    events: R::EventSender,
    /// Waiting for the USE answer, each with a receiver subscribed before
    /// the USE went out.
    using: Vec<(Ticket, R::Events)>,
    /// Writes and removals by key, in the mirror's order (see `rtmp_proto::mirror`).
    writes: BTreeMap<Str, VecDeque<(Ticket, Write)>>,
    /// Sends by method name, in the mirror's order.
    sends: BTreeMap<Str, VecDeque<Ticket>>,
}

#[derive(Clone, Copy)]
enum Write {
    Set,
    Remove,
}

/// Everything the client keeps about its requests. See the [module docs](self).
pub(crate) struct Session<R: Runtime> {
    slots: Slots<R>,
    sos: BTreeMap<Str, SoEntry<R>>,
    calls: BTreeMap<CallId, Ticket>,
    /// Where the server's calls go, if the user takes them.
    pub(crate) incoming: Option<R::CallSender>,
    /// Waiting for `connect`'s answer.
    connect: Option<Ticket>,
    /// The handshake finished (for the timeout's message).
    pub(crate) handshake_done: bool,
    event_capacity: usize,
}

impl<R: Runtime> Session<R> {
    /// A session whose `connect` answer resolves the returned ticket.
    pub(crate) fn new(event_capacity: usize) -> (Self, Ticket) {
        let mut slots = Slots {
            next: 0,
            slots: BTreeMap::new(),
        };
        let connect = slots.open();
        let session = Self {
            slots,
            sos: BTreeMap::new(),
            calls: BTreeMap::new(),
            incoming: None,
            connect: Some(connect),
            handshake_done: false,
            event_capacity: event_capacity.max(1),
        };
        (session, connect)
    }

    /// Whether `connect` is still unanswered.
    pub(crate) fn is_connecting(&self) -> bool {
        self.connect.is_some()
    }

    /// `ticket`'s answer, once there is one.
    pub(crate) fn poll_ticket(
        &mut self,
        ticket: Ticket,
        cx: &mut Context<'_>,
        closed: Option<&ClientError>,
    ) -> Poll<Result<Answer<R>, ClientError>> {
        let Some(slot) = self.slots.slots.get_mut(&ticket) else {
            return Poll::Ready(Err(closed.cloned().unwrap_or(ClientError::Disconnected)));
        };
        if let Some(outcome) = slot.outcome.take() {
            self.slots.slots.remove(&ticket);
            return Poll::Ready(outcome);
        }
        match &mut slot.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            other => *other = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The caller of `ticket` stopped waiting.
    pub(crate) fn forget(&mut self, ticket: Ticket) {
        self.slots.slots.remove(&ticket);
    }

    /// USE `name`: a ticket answered with the SO once the server answers
    /// (at once if it is in use already).
    pub(crate) fn use_so(
        &mut self,
        conn: &mut Connection,
        now: Instant,
        name: Str,
        persistent: bool,
    ) -> Result<Ticket, ClientError> {
        let idle =
            |entry: &SoEntry<R>| entry.using.is_empty() && !mirror(&entry.mirror).is_connected();
        let stale = self.sos.get(&name).is_some_and(|entry| {
            idle(entry) && mirror(&entry.mirror).is_persistent() != persistent
        });
        if stale {
            // Not in use (refused, or destroyed by the server): start afresh
            // with the persistence asked for now.
            if let Some(entry) = self.sos.remove(&name) {
                fail_entry(
                    &mut self.slots,
                    entry,
                    &ClientError::NotInUse(name.to_string()),
                );
            }
        }
        let capacity = self.event_capacity;
        let entry = self.sos.entry(name.clone()).or_insert_with(|| SoEntry {
            mirror: Arc::new(Mutex::new(RemoteSharedObject::new(
                name.clone(),
                persistent,
            ))),
            events: R::event_channel(capacity),
            using: Vec::new(),
            writes: BTreeMap::new(),
            sends: BTreeMap::new(),
        });
        let (connected, same_persistence, message) = {
            let mirror = mirror(&entry.mirror);
            (
                mirror.is_connected(),
                mirror.is_persistent() == persistent,
                mirror.use_message(),
            )
        };
        if !same_persistence {
            // One SO per name on a connection, as on the server (which would
            // answer SharedObject.BadPersistence).
            let used_as = if persistent {
                "transient"
            } else {
                "persistent"
            };
            return Err(ClientError::NotInUse(format!(
                "{name} (in use as {used_as})"
            )));
        }
        let events = R::subscribe(&entry.events);
        if connected {
            let mirror = Arc::clone(&entry.mirror);
            return Ok(self.slots.answered(Ok(Answer::Used { mirror, events })));
        }
        let ticket = self.slots.open();
        let first = entry.using.is_empty();
        entry.using.push((ticket, events));
        if first && let Err(e) = conn.send_shared_object(now, &message) {
            let error = ClientError::from(e);
            for (ticket, _) in entry.using.drain(..) {
                self.slots.resolve(ticket, Err(error.clone()));
            }
        }
        Ok(ticket)
    }

    /// A receiver of `name`'s events if `of` is still its mirror (the SO
    /// was not released or destroyed since).
    pub(crate) fn subscribe(
        &self,
        name: &str,
        of: &Arc<Mutex<RemoteSharedObject>>,
    ) -> Option<R::Events> {
        let entry = self.sos.get(name)?;
        Arc::ptr_eq(&entry.mirror, of).then(|| R::subscribe(&entry.events))
    }

    /// Sets `key` to `value` on `name`: answered on SUCCESS or refusal.
    pub(crate) fn set(
        &mut self,
        conn: &mut Connection,
        now: Instant,
        name: &str,
        key: Str,
        value: Value,
    ) -> Result<Ticket, ClientError> {
        let entry = in_use(&mut self.sos, name)?;
        let message = mirror(&entry.mirror).set_message(key.clone(), value);
        if let Err(e) = conn.send_shared_object(now, &message) {
            mirror(&entry.mirror).undo_last(&key);
            return Err(e.into());
        }
        let ticket = self.slots.open();
        push(&mut entry.writes, key, (ticket, Write::Set));
        Ok(ticket)
    }

    /// Removes `key` from `name`: answered when the server removed it, at
    /// once if the key is not there.
    pub(crate) fn remove(
        &mut self,
        conn: &mut Connection,
        now: Instant,
        name: &str,
        key: Str,
    ) -> Result<Ticket, ClientError> {
        let entry = in_use(&mut self.sos, name)?;
        // Answered later exactly when the mirror remembers the request.
        let (remembered, message) = {
            let mut mirror = mirror(&entry.mirror);
            let before = mirror.pending();
            let message = mirror.remove_message(key.clone());
            (mirror.pending() > before, message)
        };
        if let Err(e) = conn.send_shared_object(now, &message) {
            mirror(&entry.mirror).undo_last(&key);
            return Err(e.into());
        }
        if !remembered {
            return Ok(self.slots.answered(Ok(Answer::Removed(false))));
        }
        let ticket = self.slots.open();
        push(&mut entry.writes, key, (ticket, Write::Remove));
        Ok(ticket)
    }

    /// Sends `method(args)` on `name`: answered by its echo or a refusal.
    pub(crate) fn send(
        &mut self,
        conn: &mut Connection,
        now: Instant,
        name: &str,
        method: Str,
        args: Vec<Value>,
    ) -> Result<Ticket, ClientError> {
        let entry = in_use(&mut self.sos, name)?;
        let message = mirror(&entry.mirror).send_message(method.clone(), args);
        if let Err(e) = conn.send_shared_object(now, &message) {
            mirror(&entry.mirror).undo_last(&method);
            return Err(e.into());
        }
        let ticket = self.slots.open();
        push(&mut entry.sends, method, ticket);
        Ok(ticket)
    }

    /// Stops using `name` (RELEASE); what waits on it fails.
    pub(crate) fn release(
        &mut self,
        conn: &mut Connection,
        now: Instant,
        name: &str,
    ) -> Result<Ticket, ClientError> {
        let entry = in_use(&mut self.sos, name)?;
        let message = mirror(&entry.mirror).release_message();
        let sent = conn.send_shared_object(now, &message);
        if let Some(entry) = self.sos.remove(name) {
            fail_entry(
                &mut self.slots,
                entry,
                &ClientError::NotInUse(name.to_owned()),
            );
        }
        sent?;
        Ok(self.slots.answered(Ok(Answer::Done)))
    }

    /// Calls `method(args)` on the server: answered by `_result` or `_error`.
    pub(crate) fn call(
        &mut self,
        conn: &mut Connection,
        now: Instant,
        method: &str,
        args: Vec<Value>,
    ) -> Result<Ticket, ClientError> {
        let id = conn.call(now, method, args)?;
        let ticket = self.slots.open();
        self.calls.insert(id, ticket);
        Ok(ticket)
    }

    /// Handles one connection event; `Some` once the connection closed.
    pub(crate) fn handle_event(
        &mut self,
        shared: &Arc<Shared<R>>,
        conn: &mut Connection,
        now: Instant,
        event: Event,
    ) -> Option<ClientError> {
        match event {
            Event::HandshakeDone => self.handshake_done = true,
            Event::Connected { encoding, info } => {
                if let Some(ticket) = self.connect.take() {
                    self.slots
                        .resolve(ticket, Ok(Answer::Connected { encoding, info }));
                }
            }
            Event::SharedObject(message) => self.on_shared_object(&message),
            Event::Call(call) => self.on_call(shared, conn, now, call),
            Event::CallResult { id, outcome } => {
                if let Some(ticket) = self.calls.remove(&id) {
                    let outcome = outcome.map(Answer::Values).map_err(ClientError::CallFailed);
                    self.slots.resolve(ticket, outcome);
                }
            }
            Event::Closed(reason) => return Some(reason.into()),
            // Server-side events never reach a client connection.
            _ => {}
        }
        None
    }

    /// The connection is gone: every waiter fails with `reason`, every SO
    /// stops (its event receivers end).
    pub(crate) fn fail_all(&mut self, reason: &ClientError) {
        self.connect = None;
        self.calls.clear();
        for (_, entry) in std::mem::take(&mut self.sos) {
            mirror(&entry.mirror).release_message();
        }
        for slot in self.slots.slots.values_mut() {
            if slot.outcome.is_none() {
                slot.outcome = Some(Err(reason.clone()));
                if let Some(waker) = slot.waker.take() {
                    waker.wake();
                }
            }
        }
    }

    fn on_shared_object(&mut self, message: &SharedObjectMessage) {
        let Some(entry) = self.sos.get_mut(&message.name) else {
            tracing::debug!(name = %message.name, "SharedObject message for an SO not in use");
            return;
        };
        let (events, connected) = {
            let mut mirror = mirror(&entry.mirror);
            (mirror.apply(message), mirror.is_connected())
        };
        for event in &events {
            settle(&mut self.slots, entry, event);
            // No receiver is fine: the state is kept anyway.
            R::publish(&entry.events, event.clone());
        }
        if entry.using.is_empty() {
            return;
        }
        if connected {
            for (ticket, events) in entry.using.drain(..) {
                let mirror = Arc::clone(&entry.mirror);
                self.slots
                    .resolve(ticket, Ok(Answer::Used { mirror, events }));
            }
            return;
        }
        let refusal = events.iter().find_map(|e| match e {
            RemoteEvent::Status { code, level } if level == "error" => Some(code.clone()),
            _ => None,
        });
        if let Some(code) = refusal {
            let denied = ClientError::Denied {
                code: code.to_string(),
            };
            for (ticket, _) in entry.using.drain(..) {
                self.slots.resolve(ticket, Err(denied.clone()));
            }
        }
    }

    fn on_call(
        &mut self,
        shared: &Arc<Shared<R>>,
        conn: &mut Connection,
        now: Instant,
        call: Call,
    ) {
        if let Some(incoming) = &self.incoming {
            let call = IncomingCall::new(call, UserRef::new(shared.clone()));
            // A call that cannot be queued is dropped, and answers `_error`
            // itself (through the driver, never under this lock).
            match R::offer_call(incoming, call) {
                Ok(()) => {}
                Err(Refused::Full(call)) => {
                    tracing::debug!(method = %call.method, "incoming call queue full");
                }
                Err(Refused::Closed(_)) => self.incoming = None,
            }
            return;
        }
        tracing::debug!(method = %call.method, "server call with nobody taking calls");
        let info = call_failed("this client takes no calls");
        let _ = conn.reply_error(now, call.transaction_id, info);
    }
}

/// Answers the request a settling event belongs to (same order as the mirror's).
fn settle<R: Runtime>(slots: &mut Slots<R>, entry: &mut SoEntry<R>, event: &RemoteEvent) {
    match event {
        RemoteEvent::Accepted { key } => match pop(&mut entry.writes, key) {
            Some((ticket, Write::Set)) => slots.resolve(ticket, Ok(Answer::Done)),
            Some((ticket, Write::Remove)) => slots.resolve(ticket, Ok(Answer::Removed(true))),
            None => {}
        },
        RemoteEvent::Rejected { key, code } => {
            if let Some((ticket, _)) = pop(&mut entry.writes, key) {
                let code = code.to_string();
                slots.resolve(ticket, Err(ClientError::Denied { code }));
            }
        }
        RemoteEvent::Message { method, .. } => {
            if let Some(ticket) = pop(&mut entry.sends, method) {
                slots.resolve(ticket, Ok(Answer::Done));
            }
        }
        RemoteEvent::SendRejected { method, code } => {
            if let Some(ticket) = pop(&mut entry.sends, method) {
                let code = code.to_string();
                slots.resolve(ticket, Err(ClientError::Denied { code }));
            }
        }
        _ => {}
    }
}

/// Fails every waiter of `entry`; dropping it ends its event receivers.
fn fail_entry<R: Runtime>(slots: &mut Slots<R>, entry: SoEntry<R>, error: &ClientError) {
    let writes = entry
        .writes
        .into_values()
        .flatten()
        .map(|(ticket, _)| ticket);
    let sends = entry.sends.into_values().flatten();
    let using = entry.using.into_iter().map(|(ticket, _)| ticket);
    for ticket in using.chain(writes).chain(sends) {
        slots.resolve(ticket, Err(error.clone()));
    }
}

/// The SO `name` if it is in use.
fn in_use<'a, R: Runtime>(
    sos: &'a mut BTreeMap<Str, SoEntry<R>>,
    name: &str,
) -> Result<&'a mut SoEntry<R>, ClientError> {
    sos.get_mut(name)
        .filter(|entry| mirror(&entry.mirror).is_connected())
        .ok_or_else(|| ClientError::NotInUse(name.to_owned()))
}

fn push<T>(queues: &mut BTreeMap<Str, VecDeque<T>>, key: Str, item: T) {
    queues.entry(key).or_default().push_back(item);
}

fn pop<T>(queues: &mut BTreeMap<Str, VecDeque<T>>, key: &str) -> Option<T> {
    let queue = queues.get_mut(key)?;
    let item = queue.pop_front();
    if queue.is_empty() {
        queues.remove(key);
    }
    item
}
