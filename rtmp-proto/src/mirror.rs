//! The client side of a remote SharedObject: the local mirror Flash keeps.
//!
//! A [`RemoteSharedObject`] holds what a Flash client knows of one SO: its
//! name, persistence, version, the attributes (ordered by key) and whether
//! the USE succeeded. It builds the messages a client sends
//! ([`use_message`](RemoteSharedObject::use_message),
//! [`set_message`](RemoteSharedObject::set_message), …) and applies the
//! server's messages ([`apply`](RemoteSharedObject::apply)), returning what
//! changed as a list of [`RemoteEvent`]s, like Flash's `onSync` list. No
//! I/O: any adapter sends the messages through a
//! [`Connection`](crate::connection::Connection) and feeds back the
//! [`Event::SharedObject`](crate::connection::Event::SharedObject)s for this
//! name.
//!
//! # Writes are optimistic
//!
//! As in Flash, [`set_message`](RemoteSharedObject::set_message) and
//! [`remove_message`](RemoteSharedObject::remove_message) change the local
//! copy at once and remember the request. The server's answer settles it:
//!
//! * SUCCESS k confirms our write of k: the value we wrote is applied again
//!   (another client's CHANGE to k may have arrived in between, which the
//!   server applied before ours) and [`RemoteEvent::Accepted`] follows.
//! * A REMOVE k answers our removal of k with [`RemoteEvent::Removed`] then
//!   [`RemoteEvent::Accepted`].
//! * A refusal is a STATUS of level `error` (`SharedObject.NoWriteAccess`,
//!   `SharedObject.LimitExceeded`) followed by the authoritative value, a
//!   CHANGE k (or a REMOVE k if the server has no k): the local copy takes
//!   that value ([`RemoteEvent::Changed`] or [`RemoteEvent::Removed`]) and
//!   [`RemoteEvent::Rejected`] names the key and the code. A
//!   `SharedObject.NoWriteAccess` rolled back by REMOVE k refuses our first
//!   pending request for k, a removal included: a server asks its security
//!   check about every removal, that of a key it lacks too, and answers a
//!   denied one with the STATUS and REMOVE k. Any other code rolled back by
//!   REMOVE refuses a write (a removal is only ever refused for access), so
//!   a removal of k still pending before it counts as accepted. A STATUS
//!   that answers a send of ours still pending before any request for k
//!   refuses that send, whatever follows it.
//! * A STATUS error *not* followed by a rollback (a refused send, or a
//!   message-level refusal such as `SharedObject.NoObjectFound`) answers our
//!   oldest pending request: [`RemoteEvent::SendRejected`] for a send,
//!   [`RemoteEvent::Rejected`] for a write.
//!
//! Sends are confirmed by their echo ([`RemoteEvent::Message`]): the server
//! sends every message to the sender too.
//!
//! A server answers one connection's requests in order, so an answer to a
//! later request settles the earlier ones that got none: a removal of a key
//! the server did not have is answered with nothing at all (it changes
//! nothing), so it counts as [`Accepted`](RemoteEvent::Accepted) then; a
//! send Red5 refused (Red5 drops refused sends silently) counts as
//! [`SendRejected`](RemoteEvent::SendRejected) with
//! `SharedObject.NoWriteAccess`.
//!
//! A removal of a key that is absent locally (with no request of ours for
//! it pending) is *quiet*: nobody should wait for its answer, because an
//! allowed one gets none, so it does not count in
//! [`pending`](RemoteSharedObject::pending) and yields no `Accepted` or
//! `Rejected`. It is still remembered, so that the server's denial of it
//! (a STATUS NoWriteAccess then REMOVE k) is paired with it rather than
//! with a later request for k; the denial shows as its `Status` and
//! `Removed` events. At most [`MAX_QUIET_REMOVALS`] are remembered (the
//! oldest is forgotten first). One case stays ambiguous on the wire: with
//! a security policy that lets a client delete k but not write it, an
//! unanswered removal of k followed by a refused write of k looks like a
//! refused removal; that policy is best avoided.
//!
//! Each settled request yields exactly one `Accepted`, `Rejected`, echo
//! `Message` or `SendRejected`, first-in first-out per key (writes) or per
//! method name (sends), so an adapter can match its waiting callers by
//! keeping the same queues.
//!
//! # Versions
//!
//! The version is the envelope's version of the last server message, except
//! for version 0, which servers use for refusals of a request as a whole
//! (Red5's `message.reset()`); [`RemoteEvent::Version`] ends the events of a
//! message that changed it. Requests carry the current version, as Flash's do.

use std::collections::{BTreeMap, VecDeque};

use crate::amf::{Str, Value};
use crate::message::shared_object::{SharedObjectMessage, SoEvent};

/// The STATUS code a server sends when it destroys an SO its clients use.
pub const OBJECT_DESTROYED: &str = "SharedObject.ObjectDestroyed";
/// The STATUS code of a refused write, delete or send.
pub const NO_WRITE_ACCESS: &str = "SharedObject.NoWriteAccess";

/// Most quiet removals (of keys absent locally) a mirror remembers while
/// no later answer settles them, so that a client removing absent keys in
/// a loop cannot grow it without bound.
pub const MAX_QUIET_REMOVALS: usize = 1024;

/// The local mirror of one remote SharedObject. See the [module docs](self).
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSharedObject {
    name: Str,
    persistent: bool,
    version: u32,
    values: BTreeMap<Str, Value>,
    connected: bool,
    pending: VecDeque<Pending>,
}

/// What a server message changed or said, in wire order (Flash's `onSync` list and more).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RemoteEvent {
    /// USE_SUCCESS: the SO is in use; its state follows.
    Connected,
    /// CLEAR: every attribute is gone.
    Cleared,
    /// CHANGE, or our confirmed write applied again: `key` holds `value`.
    Changed {
        /// The attribute name.
        key: Str,
        /// Its value.
        value: Value,
    },
    /// REMOVE: `key` is gone.
    Removed {
        /// The attribute name.
        key: Str,
    },
    /// Our write or removal of `key` took effect (SUCCESS, or the answer to our removal).
    Accepted {
        /// The attribute name.
        key: Str,
    },
    /// Our write or removal of `key` was refused; the local copy holds the
    /// server's value again (see the event before this one).
    Rejected {
        /// The attribute name.
        key: Str,
        /// The STATUS code, such as `SharedObject.NoWriteAccess`.
        code: Str,
    },
    /// SEND_MESSAGE: `method` was invoked with `args` (our own sends come back too).
    Message {
        /// The handler name.
        method: Str,
        /// The arguments.
        args: Vec<Value>,
    },
    /// Our send of `method` was refused and reached nobody.
    SendRejected {
        /// The handler name.
        method: Str,
        /// The STATUS code, such as `SharedObject.NoWriteAccess`.
        code: Str,
    },
    /// STATUS: a status from the server, such as `SharedObject.NoReadAccess` / `error`.
    Status {
        /// The status code.
        code: Str,
        /// The level: `error`, `warning` or `status`.
        level: Str,
    },
    /// The SO's version after this message.
    Version(u32),
}

impl RemoteSharedObject {
    /// A mirror of the SO `name`, not yet in use, at version 0 and empty.
    pub fn new(name: impl Into<Str>, persistent: bool) -> Self {
        Self {
            name: name.into(),
            persistent,
            version: 0,
            values: BTreeMap::new(),
            connected: false,
            pending: VecDeque::new(),
        }
    }

    /// The SO's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the SO was asked for as persistent.
    pub fn is_persistent(&self) -> bool {
        self.persistent
    }

    /// The version of the last server message (0 before any).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Whether the USE succeeded and the SO was neither released nor destroyed since.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The value of attribute `key`, including our unconfirmed writes.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// Every attribute, ordered by key.
    pub fn values(&self) -> &BTreeMap<Str, Value> {
        &self.values
    }

    /// How many of our requests wait for the server's answer.
    pub fn pending(&self) -> usize {
        self.pending.iter().filter(|p| !p.is_quiet()).count()
    }

    /// USE: subscribe to the SO (again, after a release or destruction).
    pub fn use_message(&self) -> SharedObjectMessage {
        self.message(SoEvent::Use)
    }

    /// REQUEST_CHANGE `key` = `value`, applied to the local copy at once. A
    /// null or undefined value deletes the key, as on the server.
    pub fn set_message(&mut self, key: impl Into<Str>, value: Value) -> SharedObjectMessage {
        let key = key.into();
        let previous = self.store(&key, value.clone());
        self.pending.push_back(Pending::Set {
            key: key.clone(),
            value: value.clone(),
            previous,
        });
        self.message(SoEvent::RequestChange { key, value })
    }

    /// REQUEST_REMOVE `key`, removed from the local copy at once. The request
    /// is answered if the key is present locally, or if an earlier request
    /// of ours for it is pending: then the local absence is only our own
    /// unconfirmed write and the server may well hold the key
    /// ([`pending`](Self::pending) grows). Otherwise it is quiet (see the
    /// module docs): remembered only to pair a denial with it.
    pub fn remove_message(&mut self, key: impl Into<Str>) -> SharedObjectMessage {
        let key = key.into();
        let previous = self.values.remove(&key);
        let quiet = previous.is_none() && !self.pending.iter().any(|p| p.key() == Some(&key));
        if quiet
            && self.pending.iter().filter(|p| p.is_quiet()).count() >= MAX_QUIET_REMOVALS
            && let Some(oldest) = self.pending.iter().position(Pending::is_quiet)
        {
            self.pending.remove(oldest);
        }
        self.pending.push_back(Pending::Remove {
            key: key.clone(),
            previous,
            quiet,
        });
        self.message(SoEvent::RequestRemove { key })
    }

    /// SEND_MESSAGE `method(args)` to every subscriber, ourselves included.
    pub fn send_message(
        &mut self,
        method: impl Into<Str>,
        args: Vec<Value>,
    ) -> SharedObjectMessage {
        let method = method.into();
        self.pending.push_back(Pending::Send {
            method: method.clone(),
        });
        self.message(SoEvent::SendMessage { method, args })
    }

    /// RELEASE: unsubscribe. The SO counts as not in use from now on and its
    /// pending requests are forgotten; the attributes stay as they were.
    pub fn release_message(&mut self) -> SharedObjectMessage {
        self.connected = false;
        self.pending.clear();
        self.message(SoEvent::Release)
    }

    /// Takes back the last request built, which could not be sent: forgets
    /// it and restores the local value it changed.
    pub fn undo_last(&mut self, key_or_method: &str) {
        let matches = self.pending.back().is_some_and(|p| match p {
            Pending::Set { key, .. } | Pending::Remove { key, .. } => key == key_or_method,
            Pending::Send { method } => method == key_or_method,
        });
        if !matches {
            return;
        }
        match self.pending.pop_back() {
            Some(Pending::Set { key, previous, .. }) => match previous {
                Some(value) => {
                    self.values.insert(key, value);
                }
                None => {
                    self.values.remove(&key);
                }
            },
            Some(Pending::Remove { key, previous, .. }) => {
                if let Some(value) = previous {
                    self.values.insert(key, value);
                }
            }
            Some(Pending::Send { .. }) | None => {}
        }
    }

    /// Applies a server message for this SO and returns what it changed or
    /// said, in order. Messages for another name change nothing.
    pub fn apply(&mut self, message: &SharedObjectMessage) -> Vec<RemoteEvent> {
        let mut out = Vec::new();
        if message.name != self.name {
            return out;
        }
        // The code of a STATUS error that the next event may turn into a
        // rollback (reference: so-engine's refusals, STATUS then CHANGE/REMOVE).
        let mut refusal: Option<&Str> = None;
        for event in &message.events {
            let refused = refusal.take();
            let is_rollback = match event {
                SoEvent::Change { key, .. } | SoEvent::Remove { key } => {
                    refused.is_some() && self.is_rollback_of(key)
                }
                _ => false,
            };
            if let (Some(code), false) = (refused, is_rollback) {
                self.refuse_oldest(code, &mut out);
            }
            let refused = refused.filter(|_| is_rollback);
            match event {
                SoEvent::UseSuccess => {
                    self.connected = true;
                    out.push(RemoteEvent::Connected);
                }
                SoEvent::Clear => {
                    self.values.clear();
                    out.push(RemoteEvent::Cleared);
                }
                SoEvent::Change { key, value } => {
                    self.store(key, value.clone());
                    out.push(RemoteEvent::Changed {
                        key: key.clone(),
                        value: value.clone(),
                    });
                    if let Some(code) = refused {
                        self.reject_write(key, code, &mut out);
                    }
                }
                SoEvent::Remove { key } => {
                    self.values.remove(key);
                    out.push(RemoteEvent::Removed { key: key.clone() });
                    match refused {
                        // Access is refused for removals too: the first
                        // request for k is the one refused.
                        Some(code) if code == NO_WRITE_ACCESS => {
                            self.reject_write(key, code, &mut out);
                        }
                        Some(code) => self.reject_set(key, code, &mut out),
                        None => self.confirm_remove(key, &mut out),
                    }
                }
                SoEvent::Success { key } => self.confirm_set(key, &mut out),
                SoEvent::SendMessage { method, args } => {
                    out.push(RemoteEvent::Message {
                        method: method.clone(),
                        args: args.clone(),
                    });
                    self.confirm_send(method, &mut out);
                }
                SoEvent::Status { code, level } => {
                    out.push(RemoteEvent::Status {
                        code: code.clone(),
                        level: level.clone(),
                    });
                    if level == "error" {
                        refusal = Some(code);
                    }
                    if code == OBJECT_DESTROYED {
                        self.connected = false;
                    }
                }
                // Client-to-server events and unknown types mean nothing
                // coming from a server; Flash ignores them too.
                SoEvent::Use
                | SoEvent::Release
                | SoEvent::RequestChange { .. }
                | SoEvent::RequestRemove { .. }
                | SoEvent::Unknown { .. } => {}
            }
        }
        if let Some(code) = refusal {
            self.refuse_oldest(code, &mut out);
        }
        if message.version != 0 && message.version != self.version {
            self.version = message.version;
            out.push(RemoteEvent::Version(message.version));
        }
        out
    }
}

/// A request of ours the server has not answered yet.
#[derive(Debug, Clone, PartialEq)]
enum Pending {
    /// A write, with the value we wrote (applied again on SUCCESS) and the
    /// local value before it (for [`RemoteSharedObject::undo_last`]).
    Set {
        key: Str,
        value: Value,
        previous: Option<Value>,
    },
    /// A removal, with the key's local value before it, if any (for
    /// `undo_last`); `quiet`: of a key absent locally, which nobody awaits.
    Remove {
        key: Str,
        previous: Option<Value>,
        quiet: bool,
    },
    /// A send.
    Send { method: Str },
}

impl Pending {
    fn is_quiet(&self) -> bool {
        matches!(self, Self::Remove { quiet: true, .. })
    }

    fn key(&self) -> Option<&Str> {
        match self {
            Self::Set { key, .. } | Self::Remove { key, .. } => Some(key),
            Self::Send { .. } => None,
        }
    }
}

impl RemoteSharedObject {
    fn message(&self, event: SoEvent) -> SharedObjectMessage {
        SharedObjectMessage {
            name: self.name.clone(),
            version: self.version,
            persistent: self.persistent,
            events: vec![event],
        }
    }

    /// Sets `key` locally (null or undefined deletes); returns the old value.
    fn store(&mut self, key: &Str, value: Value) -> Option<Value> {
        if value.is_null_or_undefined() {
            self.values.remove(key)
        } else {
            self.values.insert(key.clone(), value)
        }
    }

    /// SUCCESS k: settles our first write of k (and, before it, the requests
    /// that got no answer), applying the value we wrote again.
    fn confirm_set(&mut self, key: &Str, out: &mut Vec<RemoteEvent>) {
        let found = self
            .pending
            .iter()
            .position(|p| matches!(p, Pending::Set { key: k, .. } if k == key));
        let Some(index) = found else {
            // Not a write we remember (a server may confirm anything): say so.
            out.push(RemoteEvent::Accepted { key: key.clone() });
            return;
        };
        self.settle_unanswered(index, out);
        if let Some(Pending::Set { key, value, .. }) = self.pending.pop_front() {
            // Compared as a peer sees values: -0.0 replaces 0.0.
            let same = self.values.get(&key).is_some_and(|v| v.identical(&value));
            if !same && !value.is_null_or_undefined() {
                self.values.insert(key.clone(), value.clone());
                out.push(RemoteEvent::Changed {
                    key: key.clone(),
                    value,
                });
            } else if value.is_null_or_undefined() && self.values.remove(&key).is_some() {
                out.push(RemoteEvent::Removed { key: key.clone() });
            }
            out.push(RemoteEvent::Accepted { key });
        }
    }

    /// A REMOVE k that is no rollback: settles our first request for k if it
    /// is a removal (another client's removal of k answers ours just as well).
    fn confirm_remove(&mut self, key: &Str, out: &mut Vec<RemoteEvent>) {
        let found = self.pending.iter().position(|p| p.key() == Some(key));
        let Some(index) = found else {
            return;
        };
        if !matches!(self.pending.get(index), Some(Pending::Remove { .. })) {
            return;
        }
        self.settle_unanswered(index, out);
        if self.pending.pop_front().is_some_and(|p| !p.is_quiet()) {
            out.push(RemoteEvent::Accepted { key: key.clone() });
        }
    }

    /// The echo of a send settles our first send of that method.
    fn confirm_send(&mut self, method: &Str, out: &mut Vec<RemoteEvent>) {
        let found = self
            .pending
            .iter()
            .position(|p| matches!(p, Pending::Send { method: m } if m == method));
        if let Some(index) = found {
            self.settle_unanswered(index, out);
            self.pending.pop_front();
        }
    }

    /// Whether a STATUS error followed by a CHANGE or REMOVE of `key` is the
    /// rollback of our request for `key`. Answers come in request order, so
    /// it is, unless a send of ours comes first: the STATUS then refuses
    /// that send, and the CHANGE or REMOVE is news of its own (found by
    /// so-engine's engine_ops fuzz target).
    fn is_rollback_of(&self, key: &Str) -> bool {
        self.pending
            .iter()
            .find(|p| matches!(p, Pending::Send { .. }) || p.key() == Some(key))
            .is_none_or(|p| p.key() == Some(key))
    }

    /// STATUS error then CHANGE k: our first request for k was refused.
    fn reject_write(&mut self, key: &Str, code: &Str, out: &mut Vec<RemoteEvent>) {
        let found = self.pending.iter().position(|p| p.key() == Some(key));
        self.reject_at(found, key, code, out);
    }

    /// STATUS error then REMOVE k: the server has no k, so this refuses our
    /// first *write* of k. A removal of k before it asked the server to
    /// remove nothing, which is never refused nor answered: it is settled
    /// as accepted.
    fn reject_set(&mut self, key: &Str, code: &Str, out: &mut Vec<RemoteEvent>) {
        let found = self
            .pending
            .iter()
            .position(|p| matches!(p, Pending::Set { key: k, .. } if k == key));
        self.reject_at(found, key, code, out);
    }

    fn reject_at(
        &mut self,
        found: Option<usize>,
        key: &Str,
        code: &Str,
        out: &mut Vec<RemoteEvent>,
    ) {
        if let Some(index) = found {
            self.settle_unanswered(index, out);
            if self.pending.pop_front().is_some_and(|p| !p.is_quiet()) {
                out.push(RemoteEvent::Rejected {
                    key: key.clone(),
                    code: code.clone(),
                });
            }
        }
    }

    /// A STATUS error with no rollback after it answers our oldest request
    /// that can be refused that way: a send or a write. Removals before it
    /// asked to remove what the server lacks (it answers any other), which
    /// is never refused nor answered: they are settled as accepted (found
    /// by so-engine's engine_ops fuzz target). Only removals pending: the
    /// oldest was refused (a message-level refusal).
    fn refuse_oldest(&mut self, code: &Str, out: &mut Vec<RemoteEvent>) {
        let first_other = self
            .pending
            .iter()
            .position(|p| !matches!(p, Pending::Remove { .. }));
        if let Some(index) = first_other {
            self.settle_unanswered(index, out);
        }
        match self.pending.pop_front() {
            Some(Pending::Remove { quiet: true, .. }) | None => {}
            Some(Pending::Set { key, .. } | Pending::Remove { key, .. }) => {
                out.push(RemoteEvent::Rejected {
                    key,
                    code: code.clone(),
                });
            }
            Some(Pending::Send { method }) => out.push(RemoteEvent::SendRejected {
                method,
                code: code.clone(),
            }),
        }
    }

    /// The request at `index` is being answered, so every request before it
    /// was handled without an answer (answers come in request order):
    /// removals of keys the server did not have, sends Red5 dropped.
    /// Afterwards the answered request is at the front.
    fn settle_unanswered(&mut self, index: usize, out: &mut Vec<RemoteEvent>) {
        for settled in self.pending.drain(..index) {
            match settled {
                Pending::Remove { quiet: true, .. } => {}
                Pending::Remove { key, .. } => out.push(RemoteEvent::Accepted { key }),
                Pending::Send { method } => out.push(RemoteEvent::SendRejected {
                    method,
                    code: NO_WRITE_ACCESS.into(),
                }),
                // Every write is answered; one without an answer means the
                // server refused the rest of a message: treat it as refused.
                Pending::Set { key, .. } => out.push(RemoteEvent::Rejected {
                    key,
                    code: NO_WRITE_ACCESS.into(),
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests;
