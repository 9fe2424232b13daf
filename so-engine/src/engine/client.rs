//! A client's SharedObject message: every event applied in order as one
//! update (behaviour contract points 2–8, docs/PROTOCOL.md §6).
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

use super::objects::status_event;
use super::{Engine, Site, catch};
use crate::cluster::ForwardedWrite;
use crate::error::EngineMisuse;
use crate::interface::Output;
use crate::state::{Phase, SoId};
use crate::status;
use crate::types::{ClientId, Origin, SoKey};
use crate::values::{attribute_size, wire_size};

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
        let limits = &self.config.limits;
        if events.len() > limits.max_events_per_message {
            self.status_to(client, &name, persistent, status::LIMIT_EXCEEDED, out);
            return;
        }
        let mut budget = Budget {
            owner: limits.max_update_bytes,
            sync: limits.max_update_bytes,
        };
        let key = SoKey::new(c.scope.clone(), name);
        // The SO whose update this message holds open, if any.
        let mut open: Option<SoId> = None;
        let mut resync = None;
        let mut forward = Vec::new();
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
            let id = match &event {
                SoEvent::Use => self.admit_use(client, &key, persistent, out),
                SoEvent::Release => {
                    self.client_release(client, &key, &mut open, out);
                    continue;
                }
                SoEvent::RequestChange { .. }
                | SoEvent::RequestRemove { .. }
                | SoEvent::SendMessage { .. } => self.subscribed(client, &key, persistent, out),
                // Server-to-client events and unknown ones have no meaning
                // coming from a client: skipped, as Red5 does.
                _ => None,
            };
            let Some(id) = id else {
                continue;
            };
            if self.config.cluster
                && matches!(
                    event,
                    SoEvent::RequestChange { .. }
                        | SoEvent::RequestRemove { .. }
                        | SoEvent::SendMessage { .. }
                )
            {
                // Cluster mode: the SO's owner applies writes (and may be
                // another process); they go out in one forwarded write.
                forward.push(event);
                continue;
            }
            self.open_client_update(&mut open, id, client, out);
            if !self.charge(&mut budget, id, &event) {
                self.refuse_owner(id, status::LIMIT_EXCEEDED);
                resync = Some(id);
                break;
            }
            match event {
                SoEvent::Use => self.subscribe(id, client, out),
                SoEvent::RequestChange { key: attr, value } => {
                    self.client_set(id, client, attr, value, out);
                }
                SoEvent::RequestRemove { key: attr } => self.client_remove(id, client, attr, out),
                SoEvent::SendMessage { method, args } => {
                    self.client_send(id, client, method, args, out);
                }
                _ => {}
            }
        }
        if let Some(id) = open {
            self.close_client_update(id, out);
        }
        if !forward.is_empty() {
            out.push(Output::ClusterWrite {
                so: key,
                write: ForwardedWrite {
                    writer: Some(client),
                    persistent,
                    events: forward,
                },
            });
        }
        // The rest of the message was refused, but the client may have
        // applied its writes locally: it gets the authoritative state.
        if let Some(id) = resync {
            self.send_full_state(id, client, out);
        }
    }

    /// Charges the worst case of what `event` makes the engine send (a
    /// STATUS and a rollback to the writer, the change to the others);
    /// `false` when the message's budget cannot pay for it.
    pub(super) fn charge(&self, budget: &mut Budget, id: SoId, event: &SoEvent) -> bool {
        // A STATUS LimitExceeded or NoWriteAccess event, with room to spare.
        const STATUS: usize = 48;
        let Some(so) = self.state.sos.get(&id) else {
            return true;
        };
        let (owner, sync) = match event {
            SoEvent::Use => (so.bytes.saturating_add(16), 0),
            SoEvent::RequestChange { key, value } => (
                so.attribute_size(key)
                    .saturating_add(key.len())
                    .saturating_add(STATUS),
                attribute_size(key, value),
            ),
            SoEvent::RequestRemove { key } => (
                so.attribute_size(key)
                    .saturating_add(key.len())
                    .saturating_add(STATUS),
                key.len().saturating_add(7),
            ),
            SoEvent::SendMessage { method, args } => {
                let size = args.iter().fold(method.len().saturating_add(8), |n, v| {
                    n.saturating_add(wire_size(v))
                });
                (size.saturating_add(STATUS), size)
            }
            _ => (0, 0),
        };
        if owner > budget.owner || sync > budget.sync {
            return false;
        }
        budget.owner -= owner;
        budget.sync -= sync;
        true
    }

    /// The SO a USE subscribes to, created if needed; `None` after a refusal.
    fn admit_use(
        &mut self,
        client: ClientId,
        key: &SoKey,
        persistent: bool,
        out: &mut Vec<Output>,
    ) -> Option<SoId> {
        let id = match self.state.so_id(key) {
            Some(id) => id,
            None => {
                if !self.creation_allowed(client, key, persistent) {
                    self.status_to(client, &key.name, persistent, status::CREATION_FAILED, out);
                    return None;
                }
                match self.create_so(key.clone(), persistent, Origin::Client(client), out) {
                    Ok(id) => id,
                    Err(EngineMisuse::BadPersistence(_)) => {
                        self.status_to(client, &key.name, persistent, status::BAD_PERSISTENCE, out);
                        return None;
                    }
                    Err(_) => {
                        self.status_to(client, &key.name, persistent, status::CREATION_FAILED, out);
                        return None;
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
            return None;
        }
        if !self.allowed(id, "is_connection_allowed", client, |s, view, so| {
            s.is_connection_allowed(view, so, client)
        }) {
            self.status_to(client, &key.name, persistent, status::NO_READ_ACCESS, out);
            return None;
        }
        Some(id)
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

    /// The SO the client is subscribed to under this name; otherwise a
    /// STATUS `SharedObject.NoObjectFound` (never creating it).
    fn subscribed(
        &mut self,
        client: ClientId,
        key: &SoKey,
        persistent: bool,
        out: &mut Vec<Output>,
    ) -> Option<SoId> {
        let id = self.state.so_id(key).filter(|id| {
            self.state
                .sos
                .get(id)
                .is_some_and(|so| so.subscribers.contains_key(&client))
        });
        if id.is_none() {
            self.status_to(client, &key.name, persistent, status::NO_OBJECT_FOUND, out);
        }
        id
    }

    pub(super) fn client_set(
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
        let over_limit = key.len() > limits.key_bytes()
            || (!value.is_null_or_undefined()
                && (wire_size(&value) > limits.max_value_bytes
                    || (!so.attrs.contains_key(&key)
                        && so.attrs.len() >= limits.max_attributes_per_so)
                    || so
                        .bytes
                        .saturating_sub(so.attribute_size(&key))
                        .saturating_add(attribute_size(&key, &value))
                        > limits.max_so_bytes));
        if over_limit {
            return self.refuse_write(id, key, status::LIMIT_EXCEEDED);
        }
        if !self.allowed(id, "is_write_allowed", client, |s, view, so| {
            s.is_write_allowed(view, so, client, &key, &value)
        }) {
            return self.refuse_write(id, key, status::NO_WRITE_ACCESS);
        }
        self.set_attr(id, Origin::Client(client), key, value, out);
    }

    pub(super) fn client_remove(
        &mut self,
        id: SoId,
        client: ClientId,
        key: Str,
        out: &mut Vec<Output>,
    ) {
        // Security is asked for every removal, a removal of a key that is
        // not there included (Red5 asks `isDeleteAllowed` for every delete,
        // and applications audit denials). A denial is answered with
        // NoWriteAccess and the authoritative state (REMOVE when absent);
        // an allowed removal of nothing changes nothing and gets no answer.
        if !self.allowed(id, "is_delete_allowed", client, |s, view, so| {
            s.is_delete_allowed(view, so, client, &key)
        }) {
            return self.refuse_write(id, key, status::NO_WRITE_ACCESS);
        }
        self.delete_attr(id, Origin::Client(client), key, false, out);
    }

    pub(super) fn client_send(
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
            .fold(0usize, |n, v| n.saturating_add(wire_size(v)));
        if method.len() > limits.key_bytes() || size > limits.max_value_bytes {
            return self.refuse_owner(id, status::LIMIT_EXCEEDED);
        }
        if !self.allowed(id, "is_send_allowed", client, |s, view, so| {
            s.is_send_allowed(view, so, client, &method, &args)
        }) {
            // Denied sends are answered, not dropped silently as in Red5.
            return self.refuse_owner(id, status::NO_WRITE_ACCESS);
        }
        if !self.run_send_handler(id, client, &method, &args, out) {
            // The handler panicked: the send fails like a denied one.
            return self.refuse_owner(id, status::NO_WRITE_ACCESS);
        }
        self.send_msg(id, Origin::Client(client), method, args, out);
    }

    /// The handler for `service.method` (split at the last dot; no dot: the
    /// default service `""`) runs before the broadcast; what it queues is
    /// applied before the message is queued, so subscribers see its changes
    /// first. `false`: the handler panicked.
    fn run_send_handler(
        &mut self,
        id: SoId,
        client: ClientId,
        method: &str,
        args: &[Value],
        out: &mut Vec<Output>,
    ) -> bool {
        let (service, name) = method.rsplit_once('.').unwrap_or(("", method));
        let Some(hooks) = self.hooks.per_so.get_mut(&id) else {
            return true;
        };
        let Some(handler) = hooks.handlers.get_mut(&(service.into(), name.into())) else {
            return true;
        };
        let Some(so) = self.state.sos.get(&id) else {
            return true;
        };
        let mut queue = Vec::new();
        let result = {
            let mut cx =
                crate::Context::new(&self.state, &mut queue, &mut self.next_call, self.now);
            catch(|| handler.handle(&mut cx, &so.key, client, method, args))
        };
        match result {
            Ok(()) => {
                self.run_queue(queue, out);
                true
            }
            Err(message) => {
                let key = so.key.clone();
                self.panicked(Site::so("send_handler", &key, Some(client)), message);
                false
            }
        }
    }

    /// A refused write: STATUS to the writer, then the authoritative value
    /// (CHANGE, or REMOVE if the key does not exist) so its copy converges.
    pub(super) fn refuse_write(&mut self, id: SoId, key: Str, code: &str) {
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

    pub(super) fn refuse_owner(&mut self, id: SoId, code: &str) {
        if let Some(so) = self.state.sos.get_mut(&id) {
            so.pending.for_owner(status_event(code, "error"));
        }
    }

    /// Makes `id` the SO whose update this message holds open, with `client`
    /// as its source. A server batch open on it is flushed first, so that
    /// the client's update carries only its own message.
    pub(super) fn open_client_update(
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
    pub(super) fn close_client_update(&mut self, id: SoId, out: &mut Vec<Output>) {
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
        let mut panic = None;
        let verdict = self.hooks.security.iter_mut().all(|s| {
            match catch(|| s.is_creation_allowed(&view, key, persistent, client)) {
                Ok(allowed) => allowed,
                Err(message) => {
                    panic = Some(message);
                    false
                }
            }
        });
        if let Some(message) = panic {
            self.panicked(Site::so("is_creation_allowed", key, Some(client)), message);
        }
        verdict
    }
}

/// What one client message may still make the engine send, in bytes.
pub(super) struct Budget {
    pub(super) owner: usize,
    pub(super) sync: usize,
}
