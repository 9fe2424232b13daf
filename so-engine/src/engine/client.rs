//! A client's SharedObject message: every event applied in order as one
//! update (contract points 2–8).
//!
//! The events of one message share one open update on the SO, with the
//! client as its source: it gets one message with its answers (USE reply,
//! SUCCESS, STATUS, rollbacks, and every change others or server code made
//! in the same update), the other subscribers one message with the shared
//! events. Refusals of the request as a whole (no such SO, creation or read
//! denied, persistence mismatch) are a STATUS in a message of their own,
//! sent at once, in Red5's form (version 0, the request's name and flag).

use rtmp_proto::amf::{Str, Value};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};

use super::Engine;
use super::objects::status_event;
use crate::error::EngineMisuse;
use crate::io::Output;
use crate::state::{Phase, SoId};
use crate::status;
use crate::types::{ClientId, Origin, SoKey};
use crate::values::estimated_size;

impl Engine {
    pub(super) fn handle_so_message(
        &mut self,
        client: ClientId,
        message: SharedObjectMessage,
        out: &mut Vec<Output>,
    ) {
        let Some(c) = self.state.clients.get(&client) else {
            return;
        };
        let SharedObjectMessage {
            name,
            persistent,
            events,
            ..
        } = message;
        if events.len() > self.config.limits.max_events_per_message {
            self.status_to(client, &name, persistent, status::LIMIT_EXCEEDED, out);
            return;
        }
        let key = SoKey::new(c.scope.clone(), name);
        // The SO whose update this message holds open, if any.
        let mut open: Option<SoId> = None;
        for event in events {
            // A hook may have disconnected the sender half-way.
            if !self
                .state
                .clients
                .get(&client)
                .is_some_and(|c| c.phase == Phase::Connected)
            {
                break;
            }
            match event {
                SoEvent::Use => self.client_use(client, &key, persistent, &mut open, out),
                SoEvent::Release => self.client_release(client, &key, &mut open, out),
                SoEvent::RequestChange { key: attr, value } => {
                    if let Some(id) = self.subscribed(client, &key, persistent, &mut open, out) {
                        self.client_set(id, client, attr, value, out);
                    }
                }
                SoEvent::RequestRemove { key: attr } => {
                    if let Some(id) = self.subscribed(client, &key, persistent, &mut open, out) {
                        self.client_remove(id, client, attr, out);
                    }
                }
                SoEvent::SendMessage { method, args } => {
                    if let Some(id) = self.subscribed(client, &key, persistent, &mut open, out) {
                        self.client_send(id, client, method, args, out);
                    }
                }
                // Server-to-client events and unknown ones have no meaning
                // coming from a client: skipped, as Red5 does.
                _ => {}
            }
        }
        if let Some(id) = open {
            self.close_client_update(id, out);
        }
    }

    fn client_use(
        &mut self,
        client: ClientId,
        key: &SoKey,
        persistent: bool,
        open: &mut Option<SoId>,
        out: &mut Vec<Output>,
    ) {
        let id = match self.state.so_id(key) {
            Some(id) => id,
            None => {
                if !self.creation_allowed(client, key, persistent) {
                    self.status_to(client, &key.name, persistent, status::CREATION_FAILED, out);
                    return;
                }
                match self.create_so(key.clone(), persistent, Origin::Client(client), out) {
                    Ok(id) => id,
                    Err(EngineMisuse::BadPersistence(_)) => {
                        self.status_to(client, &key.name, persistent, status::BAD_PERSISTENCE, out);
                        return;
                    }
                    Err(_) => {
                        self.status_to(client, &key.name, persistent, status::CREATION_FAILED, out);
                        return;
                    }
                }
            }
        };
        if self
            .state
            .sos
            .get(&id)
            .is_some_and(|so| so.persistent != persistent)
        {
            self.status_to(client, &key.name, persistent, status::BAD_PERSISTENCE, out);
            return;
        }
        if !self.allowed(id, |s, view, so| s.is_connection_allowed(view, so, client)) {
            self.status_to(client, &key.name, persistent, status::NO_READ_ACCESS, out);
            return;
        }
        self.open_client_update(open, id, client, out);
        self.subscribe(id, client, out);
    }

    /// RELEASE: no answer. Releasing what the client does not hold (a second
    /// RELEASE, or one for an SO destroyed meanwhile) is already done, so it
    /// is ignored rather than answered with an error.
    fn client_release(
        &mut self,
        client: ClientId,
        key: &SoKey,
        open: &mut Option<SoId>,
        out: &mut Vec<Output>,
    ) {
        let Some(id) = self.state.so_id(key) else {
            return;
        };
        // Whatever this message did so far goes out before the client leaves
        // the SO; changes listeners make on release reach only those who stay.
        if *open == Some(id) {
            self.close_client_update(id, out);
            *open = None;
        }
        self.unsubscribe(id, client, out);
    }

    /// The SO the client is subscribed to under this name, with the update
    /// open; otherwise a STATUS `SharedObject.NoObjectFound` (never creating it).
    fn subscribed(
        &mut self,
        client: ClientId,
        key: &SoKey,
        persistent: bool,
        open: &mut Option<SoId>,
        out: &mut Vec<Output>,
    ) -> Option<SoId> {
        let id = self.state.so_id(key).filter(|id| {
            self.state
                .sos
                .get(id)
                .is_some_and(|so| so.subscribers.contains_key(&client))
        });
        let Some(id) = id else {
            self.status_to(client, &key.name, persistent, status::NO_OBJECT_FOUND, out);
            return None;
        };
        self.open_client_update(open, id, client, out);
        Some(id)
    }

    fn client_set(
        &mut self,
        id: SoId,
        client: ClientId,
        key: Str,
        value: Value,
        out: &mut Vec<Output>,
    ) {
        let limits = &self.config.limits;
        let Some(so) = self.state.sos.get(&id) else {
            return;
        };
        let over_limit = key.len() > limits.max_key_bytes
            || (!value.is_null_or_undefined()
                && (estimated_size(&value) > limits.max_value_bytes
                    || (!so.attrs.contains_key(&key)
                        && so.attrs.len() >= limits.max_attributes_per_so)));
        if over_limit {
            return self.refuse_write(id, key, status::LIMIT_EXCEEDED);
        }
        if !self.allowed(id, |s, view, so| {
            s.is_write_allowed(view, so, client, &key, &value)
        }) {
            return self.refuse_write(id, key, status::NO_WRITE_ACCESS);
        }
        self.set_attr(id, Origin::Client(client), key, value, out);
    }

    fn client_remove(&mut self, id: SoId, client: ClientId, key: Str, out: &mut Vec<Output>) {
        if !self.allowed(id, |s, view, so| {
            s.is_delete_allowed(view, so, client, &key)
        }) {
            return self.refuse_write(id, key, status::NO_WRITE_ACCESS);
        }
        self.delete_attr(id, Origin::Client(client), key, false, out);
    }

    fn client_send(
        &mut self,
        id: SoId,
        client: ClientId,
        method: Str,
        args: Vec<Value>,
        out: &mut Vec<Output>,
    ) {
        let limits = &self.config.limits;
        let size = args
            .iter()
            .fold(0usize, |n, v| n.saturating_add(estimated_size(v)));
        if method.len() > limits.max_key_bytes || size > limits.max_value_bytes {
            return self.refuse_owner(id, status::LIMIT_EXCEEDED);
        }
        if !self.allowed(id, |s, view, so| {
            s.is_send_allowed(view, so, client, &method, &args)
        }) {
            // Denied sends are answered, not dropped silently as in Red5.
            return self.refuse_owner(id, status::NO_WRITE_ACCESS);
        }
        self.run_send_handler(id, client, &method, &args, out);
        self.send_msg(id, Origin::Client(client), method, args, out);
    }

    /// The handler for `service.method` (split at the last dot; no dot: the
    /// default service `""`) runs before the broadcast; what it queues is
    /// applied before the message is queued, so subscribers see its changes
    /// first.
    fn run_send_handler(
        &mut self,
        id: SoId,
        client: ClientId,
        method: &str,
        args: &[Value],
        out: &mut Vec<Output>,
    ) {
        let (service, name) = method.rsplit_once('.').unwrap_or(("", method));
        let Some(hooks) = self.hooks.per_so.get_mut(&id) else {
            return;
        };
        let Some(handler) = hooks.handlers.get_mut(&(service.into(), name.into())) else {
            return;
        };
        let Some(so) = self.state.sos.get(&id) else {
            return;
        };
        let mut queue = Vec::new();
        {
            let mut cx = crate::Context::new(&self.state, &mut queue, self.now);
            handler.handle(&mut cx, &so.key, client, method, args);
        }
        self.run_queue(queue, out);
    }

    /// A refused write: STATUS to the writer, then the authoritative value
    /// (CHANGE, or REMOVE if the key does not exist) so its copy converges.
    fn refuse_write(&mut self, id: SoId, key: Str, code: &str) {
        let Some(so) = self.state.sos.get_mut(&id) else {
            return;
        };
        so.pending.for_owner(status_event(code, "error"));
        let rollback = match so.attrs.get(&key) {
            Some(value) => SoEvent::Change {
                key,
                value: value.clone(),
            },
            None => SoEvent::Remove { key },
        };
        so.pending.for_owner(rollback);
    }

    fn refuse_owner(&mut self, id: SoId, code: &str) {
        if let Some(so) = self.state.sos.get_mut(&id) {
            so.pending.for_owner(status_event(code, "error"));
        }
    }

    /// Makes `id` the SO whose update this message holds open, with `client`
    /// as its source. A server batch open on it is flushed first, so that
    /// the client's update carries only its own message.
    fn open_client_update(
        &mut self,
        open: &mut Option<SoId>,
        id: SoId,
        client: ClientId,
        out: &mut Vec<Output>,
    ) {
        if *open == Some(id) {
            return;
        }
        // Only if a hook destroyed and re-created the SO mid-message.
        if let Some(previous) = open.take() {
            self.close_client_update(previous, out);
        }
        let Some(so) = self.state.sos.get(&id) else {
            return;
        };
        if so.depth > 0 {
            self.flush(id, out);
        }
        if let Some(so) = self.state.sos.get_mut(&id) {
            so.depth += 1;
            so.pending.source = Some(client);
            *open = Some(id);
        }
    }

    /// Ends the message's update: always flushed, so the client gets its
    /// answers even while a server batch stays open around it.
    fn close_client_update(&mut self, id: SoId, out: &mut Vec<Output>) {
        let Some(so) = self.state.sos.get_mut(&id) else {
            return;
        };
        so.depth = so.depth.saturating_sub(1);
        self.flush(id, out);
        if let Some(so) = self.state.sos.get_mut(&id) {
            so.pending.source = None;
        }
    }

    fn creation_allowed(&mut self, client: ClientId, key: &SoKey, persistent: bool) -> bool {
        let view = crate::View::new(&self.state);
        self.hooks
            .security
            .iter_mut()
            .all(|s| s.is_creation_allowed(&view, key, persistent, client))
    }
}
