//! The SO primitives every path shares: creation through factories, updates
//! (open, change, flush), subscriptions, listeners, retention, persistence,
//! destruction. Client messages and server operations both end up here,
//! told apart only by their [`Origin`].

use std::collections::BTreeMap;

use rtmp_proto::amf::{Str, Value};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};

use super::{Engine, Site, SoHooks, catch};
use crate::context::{Context, View};
use crate::delivery::fan_out;
use crate::error::{EngineMisuse, HookPanic};
use crate::hooks::{Retention, SharedObjectListener, SharedObjectSecurity, SoSetup};
use crate::interface::Output;
use crate::pattern;
use crate::state::{Pending, Phase, SharedObject, SoId, Subscribers};
use crate::status;
use crate::types::{ClientId, Origin, SoKey};
use crate::values::attribute_size;

/// How an SO goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Teardown {
    /// Destroyed: a persistent SO's stored data is deleted.
    Destroy,
    /// Its scope stopped: a persistent SO's data is saved and kept.
    Unload,
}

impl Engine {
    /// Creates `key` through its factory. The caller checked that it does not exist.
    pub(super) fn create_so(
        &mut self,
        key: SoKey,
        persistent: bool,
        origin: Origin,
        out: &mut Vec<Output>,
    ) -> Result<SoId, EngineMisuse> {
        let limits = &self.config.limits;
        let scope = match self.state.scopes.get(&key.scope) {
            Some(scope) if !scope.stopping => scope,
            _ => return Err(EngineMisuse::NoSuchScope(key.scope)),
        };
        if key.name.len() > limits.name_bytes() {
            return Err(limit("SO name length", limits.name_bytes()));
        }
        if scope.sos.len() >= limits.max_shared_objects_per_scope {
            return Err(limit("SOs per scope", limits.max_shared_objects_per_scope));
        }
        // Clients' SOs go when empty (Red5 and AMS); an SO server code made
        // stays with its scope: that is what Red5 users create them for.
        let retention = match origin {
            Origin::Client(_) => Retention::Linger(self.config.default_linger_ms),
            Origin::Server => Retention::WhileScopeRuns,
        };
        let mut setup = SoSetup::new(origin, persistent, retention);
        let hooks = &mut self.hooks;
        let factory: Option<&mut Box<dyn crate::hooks::SoFactory>> =
            match hooks.exact_factories.get_mut(&key.name) {
                Some(factory) => Some(factory),
                None => hooks
                    .pattern_factories
                    .iter_mut()
                    .find(|(p, _)| pattern::matches(p, &key.name))
                    .map(|(_, factory)| factory),
            };
        if let Some(factory) = factory
            && let Err(message) = catch(|| factory.build(&key, &mut setup))
        {
            // Half a setup is no setup: the SO is not created.
            let client = match origin {
                Origin::Client(c) => Some(c),
                Origin::Server => None,
            };
            self.panicked(Site::so("factory", &key, client), message.clone());
            return Err(EngineMisuse::HookPanicked(Box::new(HookPanic {
                hook: "factory",
                scope: Some(key.scope.clone()),
                so: Some(key),
                client,
                message,
            })));
        }
        if setup.persistent != persistent {
            return Err(EngineMisuse::BadPersistence(key));
        }
        // Cluster mode: its state comes from the cluster, unless this
        // process owns it (then it is the state here).
        let mut loading = self.config.cluster && !self.cluster_owned.contains_key(&key);
        let stored = match self.cluster_kept.remove(&key) {
            // Cluster mode: this process owns the SO and served it until a
            // moment ago: its state goes on.
            Some(kept) => {
                loading = false;
                self.state.stored.remove(&key);
                Some(kept)
            }
            None => persistent.then(|| self.state.stored.remove(&key)).flatten(),
        };
        let (version, values) = match stored {
            Some(snapshot) => (snapshot.version, snapshot.values),
            None => (1, setup.initial),
        };
        // Trusted data, but a key the wire cannot carry would make every
        // message of this SO unencodable: such keys are left out.
        let key_bytes = limits.key_bytes();
        let attrs: BTreeMap<_, _> = values
            .into_iter()
            .filter(|(k, v)| k.len() <= key_bytes && !v.is_null_or_undefined())
            .collect();
        let bytes = attrs
            .iter()
            .fold(0usize, |n, (k, v)| n.saturating_add(attribute_size(k, v)));
        let id = SoId(self.next_so);
        self.next_so += 1;
        if !(setup.listeners.is_empty() && setup.handlers.is_empty() && setup.security.is_empty()) {
            self.hooks.per_so.insert(
                id,
                SoHooks {
                    listeners: setup.listeners,
                    handlers: setup.handlers,
                    security: setup.security,
                },
            );
        }
        if let Some(scope) = self.state.scopes.get_mut(&key.scope) {
            scope.sos.insert(key.name.clone(), id);
        }
        out.push(Output::SoCreated { so: key.clone() });
        if self.config.cluster
            && !loading
            && let Some(shown) = self.cluster_owned.get_mut(&key)
            && shown.version == 0
        {
            // Owned, and nothing was ever stored: a new SO, as the factory
            // made it.
            shown.version = version;
            shown.attrs = attrs.clone();
        }
        self.state.sos.insert(
            id,
            SharedObject {
                key,
                persistent,
                version,
                attrs,
                bytes,
                subscribers: Subscribers::default(),
                acquired: 0,
                retention: setup.retention,
                expires_at: None,
                persist_at: None,
                depth: 0,
                batches: 0,
                pending: Pending::default(),
            },
        );
        self.maybe_idle.insert(id);
        if loading {
            // The USE answers wait for it (bounded).
            self.start_loading(id);
        }
        Ok(id)
    }

    /// Removes an SO: subscribers are told (CLEAR + STATUS
    /// `SharedObject.ObjectDestroyed`, one message) and detached, its stored
    /// data is deleted or saved, listeners get `on_destroy`.
    pub(super) fn destroy_so(&mut self, id: SoId, how: Teardown, out: &mut Vec<Output>) {
        let Some(mut so) = self.state.sos.remove(&id) else {
            return;
        };
        // Changes of an update still open (a server batch or lock left open
        // while the scope stops) are state too: they count as one more
        // version and are saved with the rest (found by the simulation).
        let unsaved = so.persist_at.is_some() || so.pending.changed;
        if so.pending.changed {
            so.version = so.version.wrapping_add(1);
        }
        if let Some(scope) = self.state.scopes.get_mut(&so.key.scope) {
            scope.sos.remove(&so.key.name);
        }
        if let Some(t) = so.expires_at {
            self.linger_due.remove(&(t, id));
        }
        if let Some(t) = so.persist_at {
            self.persist_due.remove(&(t, id));
        }
        self.maybe_idle.remove(&id);
        self.drop_lock(id);
        self.stop_loading(id);
        if !so.subscribers.is_empty() {
            for client in so.subscribers.keys() {
                if let Some(c) = self.state.clients.get_mut(&client) {
                    c.subscriptions.remove(&id);
                }
            }
            let message = SharedObjectMessage {
                name: so.key.name.clone(),
                // Clearing is a change: subscribers' versions still only go up.
                version: so.version.wrapping_add(1),
                persistent: so.persistent,
                events: vec![
                    SoEvent::Clear,
                    status_event(status::OBJECT_DESTROYED, "status"),
                ],
            };
            let clients = &self.state.clients;
            fan_out(
                out,
                &message,
                so.subscribers
                    .iter()
                    .filter(|(c, _)| clients.get(c).is_some_and(|c| c.phase != Phase::Leaving)),
            );
        }
        if self.cluster_owned.contains_key(&so.key) {
            // Cluster mode: the SO lives on in the cluster while this
            // process owns it; a new subscriber here gets it back.
            self.cluster_kept.insert(so.key.clone(), so.snapshot());
        }
        if so.persistent {
            match how {
                Teardown::Destroy => out.push(Output::DeletePersisted { so: so.key.clone() }),
                Teardown::Unload => {
                    if unsaved {
                        out.push(persist_output(&so));
                    }
                    // An emptied SO too (its version must not go back on
                    // the next USE), but not one that never changed.
                    if !so.attrs.is_empty() || so.version > 1 {
                        self.state.stored.insert(so.key.clone(), so.snapshot());
                    }
                }
            }
        }
        out.push(Output::SoDestroyed {
            so: so.key.clone(),
            persistent: so.persistent,
        });
        if let Some(mut hooks) = self.hooks.per_so.remove(&id)
            && !hooks.listeners.is_empty()
        {
            let mut queue = Vec::new();
            let mut panics = Vec::new();
            {
                let mut cx = Context::new(&self.state, &mut queue, &mut self.next_call, self.now);
                for listener in &mut hooks.listeners {
                    let mark = cx.queued();
                    if let Err(message) = catch(|| listener.on_destroy(&mut cx, &so.key)) {
                        cx.truncate(mark);
                        panics.push(message);
                    }
                }
            }
            for message in panics {
                self.panicked(Site::so("on_destroy", &so.key, None), message);
            }
            self.run_queue(queue, out);
        }
    }

    /// Opens one update level on the SO.
    pub(super) fn begin(&mut self, id: SoId) {
        if let Some(so) = self.state.sos.get_mut(&id) {
            so.depth += 1;
        }
    }

    /// Closes one update level; the outermost flushes.
    pub(super) fn end(&mut self, id: SoId, out: &mut Vec<Output>) {
        if let Some(so) = self.state.sos.get_mut(&id) {
            so.depth = so.depth.saturating_sub(1);
            if so.depth == 0 {
                self.flush(id, out);
            }
        }
    }

    /// Sends the pending update: the version goes up once if anything
    /// changed, the source gets its events in one message, every other
    /// subscriber the shared ones in another (encoded once per encoding).
    pub(super) fn flush(&mut self, id: SoId, out: &mut Vec<Output>) {
        let Some(so) = self.state.sos.get_mut(&id) else {
            return;
        };
        if so.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut so.pending);
        // The source stays for the rest of its message (see client.rs).
        so.pending.source = pending.source;
        if pending.changed {
            so.version = so.version.wrapping_add(1);
            if so.persistent && so.persist_at.is_none() {
                let due = self.now.plus_millis(self.config.persist_interval_ms);
                so.persist_at = Some(due);
                self.persist_due.insert((due, id));
            }
        }
        if let Some(capture) = self.capture.as_mut().filter(|c| c.id == id) {
            // Cluster mode, the owner applying a write: the update goes out
            // here, to the writer and the others, once it is published
            // (`Input::ReplicaUpdate`), or in the writer's answer when it
            // publishes nothing.
            capture.writer.extend(pending.owner);
            capture.others.extend(pending.sync);
            capture.changed |= pending.changed;
            return;
        }
        let clients = &self.state.clients;
        let message = |events| SharedObjectMessage {
            name: so.key.name.clone(),
            version: so.version,
            persistent: so.persistent,
            events,
        };
        let source = pending
            .source
            .and_then(|s| clients.get(&s).map(|c| (s, c)))
            .filter(|(_, c)| c.phase != Phase::Leaving)
            .map(|(s, c)| (s, c.encoding));
        let others = so
            .subscribers
            .iter()
            .filter(|(c, _)| Some(*c) != pending.source);
        // A send or a remove (or server changes only) gives the source the
        // same events as everybody: one body per encoding for all.
        if !pending.owner.is_empty() && pending.owner == pending.sync {
            fan_out(
                out,
                &message(pending.sync),
                source.into_iter().chain(others),
            );
            return;
        }
        if let Some(source) = source
            && !pending.owner.is_empty()
        {
            fan_out(out, &message(pending.owner), std::iter::once(source));
        }
        if !pending.sync.is_empty() {
            fan_out(out, &message(pending.sync), others);
        }
    }

    /// Sets `key` (null or undefined: deletes it). A client's write always
    /// gets SUCCESS; only a real change reaches the others and the listeners.
    pub(super) fn set_attr(
        &mut self,
        id: SoId,
        origin: Origin,
        key: Str,
        value: Value,
        out: &mut Vec<Output>,
    ) {
        if value.is_null_or_undefined() {
            return self.delete_attr(id, origin, key, true, out);
        }
        let Some(so) = self.state.sos.get_mut(&id) else {
            return;
        };
        if let Origin::Client(_) = origin {
            so.pending.for_owner(SoEvent::Success { key: key.clone() });
        }
        if so.attrs.get(&key).is_some_and(|old| old.identical(&value)) {
            return;
        }
        let event = SoEvent::Change {
            key: key.clone(),
            value: value.clone(),
        };
        match origin {
            Origin::Client(_) => so.pending.for_others(event),
            Origin::Server => so.pending.for_all(event),
        }
        so.pending.changed = true;
        let added = attribute_size(&key, &value);
        let removed = so.attribute_size(&key);
        so.bytes = so.bytes.saturating_sub(removed).saturating_add(added);
        so.attrs.insert(key.clone(), value);
        self.notify(id, "on_update", origin.client(), out, |l, cx, so| {
            if let Some(value) = so.attrs.get(&key) {
                l.on_update(cx, &so.key, origin, &key, value);
            }
        });
    }

    /// Deletes `key`. `via_set`: a client's REQUEST_CHANGE with a null value,
    /// answered with SUCCESS like every write; otherwise REMOVE goes to all.
    pub(super) fn delete_attr(
        &mut self,
        id: SoId,
        origin: Origin,
        key: Str,
        via_set: bool,
        out: &mut Vec<Output>,
    ) {
        let Some(so) = self.state.sos.get_mut(&id) else {
            return;
        };
        so.bytes = so.bytes.saturating_sub(so.attribute_size(&key));
        let existed = so.attrs.remove(&key).is_some();
        match origin {
            Origin::Client(_) if via_set => {
                so.pending.for_owner(SoEvent::Success { key: key.clone() });
                if existed {
                    so.pending.for_others(SoEvent::Remove { key: key.clone() });
                }
            }
            _ if existed => so.pending.for_all(SoEvent::Remove { key: key.clone() }),
            _ => {}
        }
        if existed {
            so.pending.changed = true;
            self.notify(id, "on_delete", origin.client(), out, |l, cx, so| {
                l.on_delete(cx, &so.key, origin, &key)
            });
        }
    }

    /// Removes every attribute (CLEAR to all), if there are any.
    pub(super) fn clear_attrs(&mut self, id: SoId, origin: Origin, out: &mut Vec<Output>) {
        let Some(so) = self.state.sos.get_mut(&id) else {
            return;
        };
        if so.attrs.is_empty() {
            return;
        }
        so.attrs.clear();
        so.bytes = 0;
        so.pending.for_all(SoEvent::Clear);
        so.pending.changed = true;
        self.notify(id, "on_clear", origin.client(), out, |l, cx, so| {
            l.on_clear(cx, &so.key, origin)
        });
    }

    /// Queues SEND_MESSAGE for every subscriber (the sender included). It
    /// changes no state, so it does not bump the version.
    pub(super) fn send_msg(
        &mut self,
        id: SoId,
        origin: Origin,
        method: Str,
        args: Vec<Value>,
        out: &mut Vec<Output>,
    ) {
        let listened = self
            .hooks
            .per_so
            .get(&id)
            .is_some_and(|h| !h.listeners.is_empty());
        let Some(so) = self.state.sos.get_mut(&id) else {
            return;
        };
        if !listened {
            so.pending.for_all(SoEvent::SendMessage { method, args });
            return;
        }
        so.pending.for_all(SoEvent::SendMessage {
            method: method.clone(),
            args: args.clone(),
        });
        self.notify(id, "on_send", origin.client(), out, |l, cx, so| {
            l.on_send(cx, &so.key, origin, &method, &args);
        });
    }

    /// Subscribes `client` and queues the full state for it (USE_SUCCESS,
    /// CLEAR, one CHANGE per attribute), also on a repeated USE.
    pub(super) fn subscribe(&mut self, id: SoId, client: ClientId, out: &mut Vec<Output>) {
        let Some(c) = self.state.clients.get_mut(&client) else {
            return;
        };
        let Some(so) = self.state.sos.get_mut(&id) else {
            return;
        };
        c.subscriptions.insert(id);
        let new = so.subscribers.insert(client, c.encoding).is_none();
        if let Some(t) = so.expires_at.take() {
            self.linger_due.remove(&(t, id));
        }
        let cluster = self.config.cluster;
        if cluster && let Some(loading) = self.cluster_loading.get_mut(&id) {
            // Cluster mode: answered once the cluster gave the SO's state.
            loading.waiting.insert(client);
        } else if cluster && let Some(shown) = self.cluster_owned.get(&so.key) {
            // Cluster mode, on the owner: what its clients here were shown
            // (updates not yet published follow once they are).
            let message = SharedObjectMessage {
                name: so.key.name.clone(),
                version: shown.version,
                persistent: so.persistent,
                events: std::iter::once(SoEvent::UseSuccess)
                    .chain(full_state(&shown.attrs))
                    .collect(),
            };
            fan_out(out, &message, std::iter::once((client, c.encoding)));
        } else {
            so.pending.for_owner(SoEvent::UseSuccess);
            if so.pending.source.is_some() {
                let state = full_state(&so.attrs).collect::<Vec<_>>();
                so.pending.owner.extend(state);
            }
        }
        if new {
            self.notify(id, "on_connect", Some(client), out, |l, cx, so| {
                l.on_connect(cx, &so.key, client)
            });
        }
    }

    /// Sends `client` the SO's whole state (CLEAR, one CHANGE per attribute)
    /// in a message of its own, if it subscribes.
    pub(super) fn send_full_state(&self, id: SoId, client: ClientId, out: &mut Vec<Output>) {
        let Some(so) = self.state.sos.get(&id) else {
            return;
        };
        let Some(&encoding) = so.subscribers.get(&client) else {
            return;
        };
        let message = SharedObjectMessage {
            name: so.key.name.clone(),
            version: so.version,
            persistent: so.persistent,
            events: full_state(&so.attrs).collect(),
        };
        fan_out(out, &message, std::iter::once((client, encoding)));
    }

    /// Drops `client`'s subscription; the SO may become idle.
    pub(super) fn unsubscribe(&mut self, id: SoId, client: ClientId, out: &mut Vec<Output>) {
        if let Some(c) = self.state.clients.get_mut(&client) {
            c.subscriptions.remove(&id);
        }
        let Some(so) = self.state.sos.get_mut(&id) else {
            return;
        };
        if so.subscribers.remove(&client).is_none() {
            return;
        }
        self.maybe_idle.insert(id);
        self.notify(id, "on_disconnect", Some(client), out, |l, cx, so| {
            l.on_disconnect(cx, &so.key, client)
        });
    }

    /// Calls `f` for every listener of the SO, then applies what they queued.
    pub(super) fn notify(
        &mut self,
        id: SoId,
        hook: &'static str,
        client: Option<ClientId>,
        out: &mut Vec<Output>,
        mut f: impl FnMut(&mut dyn SharedObjectListener, &mut Context<'_>, &SharedObject),
    ) {
        let Some(hooks) = self.hooks.per_so.get_mut(&id) else {
            return;
        };
        let Some(so) = self.state.sos.get(&id) else {
            return;
        };
        if hooks.listeners.is_empty() {
            return;
        }
        let mut queue = Vec::new();
        let mut panics = Vec::new();
        {
            let mut cx = Context::new(&self.state, &mut queue, &mut self.next_call, self.now);
            for listener in &mut hooks.listeners {
                // A listener that panics loses what it queued; the others'
                // changes still apply.
                let mark = cx.queued();
                if let Err(message) = catch(|| f(listener.as_mut(), &mut cx, so)) {
                    cx.truncate(mark);
                    panics.push(message);
                }
            }
        }
        if !panics.is_empty() {
            let key = so.key.clone();
            for message in panics {
                self.panicked(Site::so(hook, &key, client), message);
            }
        }
        self.run_queue(queue, out);
    }

    /// Asks the SO's security handlers, then the application's; the first
    /// `false` denies.
    ///
    /// A check that panics denies (and is reported).
    pub(super) fn allowed(
        &mut self,
        id: SoId,
        hook: &'static str,
        client: ClientId,
        mut check: impl FnMut(&mut dyn SharedObjectSecurity, &View<'_>, &SoKey) -> bool,
    ) -> bool {
        let Some(so) = self.state.sos.get(&id) else {
            return false;
        };
        let view = View::new(&self.state);
        let per_so = self
            .hooks
            .per_so
            .get_mut(&id)
            .map(|h| h.security.as_mut_slice())
            .unwrap_or_default();
        let mut panic = None;
        let verdict = per_so
            .iter_mut()
            .chain(self.hooks.security.iter_mut())
            .all(|s| match catch(|| check(s.as_mut(), &view, &so.key)) {
                Ok(allowed) => allowed,
                Err(message) => {
                    panic = Some(message);
                    false
                }
            });
        if let Some(message) = panic {
            let key = so.key.clone();
            self.panicked(Site::so(hook, &key, Some(client)), message);
        }
        verdict
    }

    /// Destroys the SO now (linger 0) or arms its linger, if it is idle.
    pub(super) fn check_idle(&mut self, id: SoId, out: &mut Vec<Output>) {
        let Some(so) = self.state.sos.get_mut(&id) else {
            return;
        };
        if !so.is_idle() || so.expires_at.is_some() {
            return;
        }
        match so.retention {
            Retention::Linger(0) => self.destroy_so(id, Teardown::Destroy, out),
            Retention::Linger(ms) => {
                let due = self.now.plus_millis(ms);
                so.expires_at = Some(due);
                self.linger_due.insert((due, id));
            }
            Retention::WhileScopeRuns => {}
        }
    }

    /// Emits the SO's unsaved data now as `Persist`, also when it has no
    /// attributes left: a cleared SO stays cleared and keeps its version.
    pub(super) fn persist_now(&mut self, id: SoId, out: &mut Vec<Output>) {
        let Some(so) = self.state.sos.get_mut(&id) else {
            return;
        };
        if let Some(t) = so.persist_at.take() {
            self.persist_due.remove(&(t, id));
            out.push(persist_output(so));
        }
    }

    /// A STATUS error in its own message, as Red5 answers requests it refuses
    /// as a whole: version 0, the request's name and persistence.
    pub(super) fn status_to(
        &self,
        client: ClientId,
        name: &Str,
        persistent: bool,
        code: &str,
        out: &mut Vec<Output>,
    ) {
        let Some(c) = self.state.clients.get(&client) else {
            return;
        };
        if c.phase == Phase::Leaving {
            return;
        }
        let message = SharedObjectMessage {
            name: name.clone(),
            version: 0,
            persistent,
            events: vec![status_event(code, "error")],
        };
        fan_out(out, &message, std::iter::once((client, c.encoding)));
    }
}

/// CLEAR, then one CHANGE per attribute: what a client needs to hold the
/// SO's state whatever it held before.
/// `attrs` is an SO's attributes, or what a client was shown of them.
pub(super) fn full_state(attrs: &BTreeMap<Str, Value>) -> impl Iterator<Item = SoEvent> + '_ {
    std::iter::once(SoEvent::Clear).chain(attrs.iter().map(|(key, value)| SoEvent::Change {
        key: key.clone(),
        value: value.clone(),
    }))
}

pub(super) fn status_event(code: &str, level: &str) -> SoEvent {
    SoEvent::Status {
        code: code.into(),
        level: level.into(),
    }
}

pub(super) fn limit(what: &'static str, max: usize) -> EngineMisuse {
    EngineMisuse::LimitExceeded {
        what,
        max: u64::try_from(max).unwrap_or(u64::MAX),
    }
}

/// A snapshot even of an empty SO (not a delete): its version is stored, so
/// it never goes back, over restarts too.
fn persist_output(so: &SharedObject) -> Output {
    Output::Persist {
        so: so.key.clone(),
        snapshot: Box::new(so.snapshot()),
    }
}
