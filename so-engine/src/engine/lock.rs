//! Server locks on SOs (AMS's `SharedObject.lock`/`unlock`): while server
//! code holds one, clients' messages for the SO are held in arrival order
//! (bounded in bytes) and the server's changes gather into one update; at
//! unlock that update goes out, then the held messages apply as if they
//! arrived then. A lock held too long is released with a warning.

use std::collections::VecDeque;

use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};

use super::Engine;
use super::objects::status_event;
use crate::delivery::fan_out;
use crate::error::EngineMisuse;
use crate::io::Output;
use crate::state::SoId;
use crate::status;
use crate::types::{ClientId, SoKey, Tick};
use crate::values::wire_size;

/// One held lock.
pub(super) struct Lock {
    expires: Tick,
    held: VecDeque<(ClientId, SharedObjectMessage, usize)>,
    bytes: usize,
}

/// What holding an event costs at least, so that even empty events count.
const EVENT_OVERHEAD: usize = 16;

impl Engine {
    pub(super) fn lock(&mut self, so: &SoKey) -> Result<(), EngineMisuse> {
        let id = self.live(so)?;
        if self.locks.contains_key(&id) {
            return Err(EngineMisuse::AlreadyLocked(so.clone()));
        }
        let expires = self.now.plus_millis(self.config.max_lock_ms);
        self.locks.insert(
            id,
            Lock {
                expires,
                held: VecDeque::new(),
                bytes: 0,
            },
        );
        self.lock_due.insert((expires, id));
        // One open update level for the lock: server changes gather in it.
        self.begin(id);
        Ok(())
    }

    pub(super) fn unlock(&mut self, so: &SoKey, out: &mut Vec<Output>) -> Result<(), EngineMisuse> {
        let id = self.live(so)?;
        if !self.locks.contains_key(&id) {
            return Err(EngineMisuse::NotLocked(so.clone()));
        }
        self.release_lock(id, out);
        Ok(())
    }

    /// Ends the lock: the server's update goes out, the held messages are
    /// queued for replay (applied before the input ends).
    pub(super) fn release_lock(&mut self, id: SoId, out: &mut Vec<Output>) {
        let Some(lock) = self.locks.remove(&id) else {
            return;
        };
        self.lock_due.remove(&(lock.expires, id));
        self.end(id, out);
        self.replay
            .extend(lock.held.into_iter().map(|(c, m, _)| (c, m)));
    }

    /// A destroyed SO's lock goes with it; its held messages still apply
    /// (to nothing, or to a new SO of the same name).
    pub(super) fn drop_lock(&mut self, id: SoId) {
        if let Some(lock) = self.locks.remove(&id) {
            self.lock_due.remove(&(lock.expires, id));
            self.replay
                .extend(lock.held.into_iter().map(|(c, m, _)| (c, m)));
        }
    }

    /// Fires an expired lock; `false` if none is due.
    pub(super) fn expire_lock(&mut self, out: &mut Vec<Output>) -> bool {
        let Some(&(t, id)) = self.lock_due.first() else {
            return false;
        };
        if t > self.now {
            return false;
        }
        let key = self.state.sos.get(&id).map(|so| so.key.clone());
        self.release_lock(id, out);
        if let Some(so) = key {
            out.push(Output::LockExpired { so });
        }
        true
    }

    /// The locked SO a client's message is for, if any.
    pub(super) fn locked_target(&self, client: ClientId, name: &str) -> Option<SoId> {
        if self.locks.is_empty() {
            return None;
        }
        let c = self.state.clients.get(&client)?;
        let id = self.state.scopes.get(&c.scope)?.sos.get(name).copied()?;
        self.locks.contains_key(&id).then_some(id)
    }

    /// Holds a client's message for a locked SO, or refuses it past the
    /// held-bytes bound: each write and removal gets STATUS LimitExceeded
    /// and the key's authoritative value, each send and USE the STATUS; a
    /// RELEASE in it takes effect at once (it is never refused).
    pub(super) fn hold(
        &mut self,
        id: SoId,
        client: ClientId,
        message: SharedObjectMessage,
        out: &mut Vec<Output>,
    ) {
        let size = message.events.iter().fold(message.name.len(), |n, e| {
            n.saturating_add(EVENT_OVERHEAD)
                .saturating_add(event_size(e))
        });
        let max = self.config.limits.max_held_bytes_per_so;
        let Some(lock) = self.locks.get_mut(&id) else {
            return;
        };
        if lock.bytes.saturating_add(size) <= max {
            lock.bytes += size;
            lock.held.push_back((client, message, size));
            return;
        }
        self.refuse_held(id, client, message, out);
    }

    fn refuse_held(
        &mut self,
        id: SoId,
        client: ClientId,
        message: SharedObjectMessage,
        out: &mut Vec<Output>,
    ) {
        let Some(so) = self.state.sos.get(&id) else {
            return;
        };
        let Some(&encoding) = so.subscribers.get(&client) else {
            // Not subscribed: the message could do nothing but be refused.
            self.status_to(
                client,
                &message.name,
                message.persistent,
                status::LIMIT_EXCEEDED,
                out,
            );
            return;
        };
        let mut events = Vec::new();
        let mut release = false;
        for event in message.events {
            match event {
                SoEvent::RequestChange { key, .. } | SoEvent::RequestRemove { key } => {
                    events.push(status_event(status::LIMIT_EXCEEDED, "error"));
                    events.push(match so.attrs.get(&key) {
                        Some(value) => SoEvent::Change {
                            key,
                            value: value.clone(),
                        },
                        None => SoEvent::Remove { key },
                    });
                }
                SoEvent::SendMessage { .. } | SoEvent::Use => {
                    events.push(status_event(status::LIMIT_EXCEEDED, "error"));
                }
                SoEvent::Release => release = true,
                _ => {}
            }
        }
        if !events.is_empty() {
            let answer = SharedObjectMessage {
                name: so.key.name.clone(),
                version: so.version,
                persistent: so.persistent,
                events,
            };
            fan_out(out, &answer, std::iter::once((client, encoding)));
        }
        if release {
            self.unsubscribe(id, client, out);
        }
    }

    /// A client left: its held messages go with it.
    pub(super) fn forget_held(&mut self, client: ClientId) {
        for lock in self.locks.values_mut() {
            let bytes = &mut lock.bytes;
            lock.held.retain(|(c, _, size)| {
                if *c == client {
                    *bytes = bytes.saturating_sub(*size);
                }
                *c != client
            });
        }
        self.replay.retain(|(c, _)| *c != client);
    }

    /// Applies one held message queued for replay; `false` if none is left.
    pub(super) fn replay_one(&mut self, out: &mut Vec<Output>) -> bool {
        let Some((client, message)) = self.replay.pop_front() else {
            return false;
        };
        if self.is_served(client) {
            self.client_message(client, message, out);
        }
        true
    }
}

fn event_size(event: &SoEvent) -> usize {
    match event {
        SoEvent::RequestChange { key, value } => key.len().saturating_add(wire_size(value)),
        SoEvent::RequestRemove { key } => key.len(),
        SoEvent::SendMessage { method, args } => args
            .iter()
            .fold(method.len(), |n, v| n.saturating_add(wire_size(v))),
        _ => 0,
    }
}
