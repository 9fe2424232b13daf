//! Cluster mode (see [`crate::cluster`]): the owner applies forwarded
//! writes and reports their delta; replicas apply published updates and
//! states; writers get the answers of writes that published nothing.

use std::collections::{BTreeMap, BTreeSet};

use rtmp_proto::amf::{Str, Value};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};

use super::Engine;
use super::client::Budget;
use super::objects::{full_state, status_event};
use crate::cluster::{ForwardedWrite, ReplicaDelta, WriteOutcome, WriterAnswer};
use crate::delivery::fan_out;
use crate::error::EngineMisuse;
use crate::interface::{Output, Snapshot};
use crate::state::{Phase, SoId};
use crate::status;
use crate::types::{ClientId, Origin, SoKey, Tick};
use crate::values::attribute_size;

/// An SO created here whose state the cluster has not given yet.
pub(super) struct Loading {
    /// When its waiting USEs are answered anyway.
    due: Tick,
    /// The subscribers whose USE answer waits.
    pub(super) waiting: BTreeSet<ClientId>,
}

/// Cluster mode, an SO this process owns: the state its clients here were
/// shown (the published updates), apart from the authoritative copy the
/// owner applies writes to. A USE here is answered from it, and when the
/// process stops owning the SO its copy goes back to it (what was applied
/// but never published is void).
#[derive(Default)]
pub(super) struct Shown {
    pub(super) version: u32,
    pub(super) attrs: BTreeMap<Str, Value>,
}

impl Shown {
    fn apply(&mut self, events: &[SoEvent]) {
        for event in events {
            match event {
                SoEvent::Change { key, value } => {
                    self.attrs.insert(key.clone(), value.clone());
                }
                SoEvent::Remove { key } => {
                    self.attrs.remove(key);
                }
                SoEvent::Clear => self.attrs.clear(),
                _ => {}
            }
        }
    }
}

/// The events of the forwarded write being applied, gathered from every
/// flush of its SO.
pub(super) struct Capture {
    pub(super) id: SoId,
    pub(super) writer: Vec<SoEvent>,
    pub(super) others: Vec<SoEvent>,
    pub(super) changed: bool,
}

impl Engine {
    /// Cluster mode, on the SO's owner: apply a client's write (made here
    /// or on another process) through the security hooks, listeners and
    /// send handlers, as one update, like a client message on a single
    /// server. Nobody gets it yet: the outcome is what to publish, which
    /// reaches every process's subscribers (this one's too, the writer
    /// included if it is connected here) as
    /// [`Input::ReplicaUpdate`](crate::Input::ReplicaUpdate) once it is
    /// published, or the writer's answer when nothing changed
    /// ([`Input::WriteAnswered`](crate::Input::WriteAnswered)). A write to an SO that is not live here is answered with
    /// STATUS `SharedObject.NoObjectFound`.
    ///
    /// `Err` only for time going backwards.
    pub fn handle_forwarded_write(
        &mut self,
        now: Tick,
        so: &SoKey,
        write: ForwardedWrite,
        out: &mut Vec<Output>,
    ) -> Result<WriteOutcome, EngineMisuse> {
        self.step(now, out, |engine, out| {
            Ok(engine.forwarded_write(so, write, out))
        })
    }

    /// Cluster mode, on the SO's owner: raise the SO's version to at least
    /// `version` (and above its own) as one update. The outcome carries the
    /// state to publish (a version floor from a former owner, see
    /// `so_cluster`); the subscribers here get it, as every process's do,
    /// once it is published ([`Input::ReplicaReset`](crate::Input::ReplicaReset)).
    pub fn handle_raise(
        &mut self,
        now: Tick,
        so: &SoKey,
        version: u32,
        out: &mut Vec<Output>,
    ) -> Result<WriteOutcome, EngineMisuse> {
        self.step(now, out, |engine, _| Ok(engine.raise(so, version)))
    }

    fn forwarded_write(
        &mut self,
        key: &SoKey,
        write: ForwardedWrite,
        out: &mut Vec<Output>,
    ) -> WriteOutcome {
        let Some(id) = self.state.so_id(key) else {
            return WriteOutcome::NoUpdate {
                answer: vec![status_event(status::NO_OBJECT_FOUND, "error")],
            };
        };
        let Some(client) = write.writer else {
            return self.server_write(id, write.events, out);
        };
        let limits = &self.config.limits;
        if write.events.len() > limits.max_events_per_message {
            return WriteOutcome::NoUpdate {
                answer: vec![status_event(status::LIMIT_EXCEEDED, "error")],
            };
        }
        let mut budget = Budget {
            owner: limits.max_update_bytes,
            sync: limits.max_update_bytes,
        };
        self.capture = Some(Capture {
            id,
            writer: Vec::new(),
            others: Vec::new(),
            changed: false,
        });
        let mut open = None;
        let mut resync = false;
        for event in write.events {
            // A hook may have destroyed the SO half-way.
            if self.state.so_id(key) != Some(id) {
                break;
            }
            self.open_client_update(&mut open, id, client, out);
            if !self.charge(&mut budget, id, &event) {
                self.refuse_owner(id, status::LIMIT_EXCEEDED);
                resync = true;
                break;
            }
            match event {
                SoEvent::RequestChange { key, value } => {
                    self.client_set(id, client, key, value, out)
                }
                SoEvent::RequestRemove { key } => self.client_remove(id, client, key, out),
                SoEvent::SendMessage { method, args } => {
                    self.client_send(id, client, method, args, out);
                }
                // Only writes are forwarded; anything else is skipped, as
                // a single server skips what clients may not send.
                _ => {}
            }
        }
        if let Some(open) = open {
            self.close_client_update(open, out);
        }
        if resync && let Some(so) = self.state.sos.get(&id) {
            // The rest of the message was refused: the writer gets the
            // authoritative state (with its answer).
            let state: Vec<SoEvent> = full_state(&so.attrs).collect();
            if let Some(capture) = self.capture.as_mut() {
                capture.writer.extend(state);
            }
        }
        self.captured(id)
    }

    /// Server code's changes made on some process, applied by the owner
    /// as server code: one update, CHANGE (or REMOVE, CLEAR,
    /// SEND_MESSAGE) to every subscriber, no security, no SUCCESS.
    fn server_write(
        &mut self,
        id: SoId,
        events: Vec<SoEvent>,
        out: &mut Vec<Output>,
    ) -> WriteOutcome {
        let sets = events.iter().filter_map(|e| match e {
            SoEvent::RequestChange { key, value } => Some((key, value)),
            _ => None,
        });
        if let Err(error) = self.check_write(id, sets) {
            // Checked where it was made, against that process's copy: it
            // may differ from the owner's. Reported like a hook's failure.
            out.push(Output::HookFailed { error });
            return WriteOutcome::NoUpdate { answer: Vec::new() };
        }
        let key_bytes = self.config.limits.key_bytes();
        self.capture = Some(Capture {
            id,
            writer: Vec::new(),
            others: Vec::new(),
            changed: false,
        });
        self.begin(id);
        for event in events {
            match event {
                SoEvent::RequestChange { key, value } => {
                    self.set_attr(id, Origin::Server, key, value, out);
                }
                SoEvent::RequestRemove { key } => {
                    self.delete_attr(id, Origin::Server, key, false, out);
                }
                SoEvent::Clear => self.clear_attrs(id, Origin::Server, out),
                SoEvent::SendMessage { method, args } if method.len() <= key_bytes => {
                    self.send_msg(id, Origin::Server, method, args, out);
                }
                _ => {}
            }
        }
        self.end(id, out);
        self.captured(id)
    }

    /// The outcome of the update `self.capture` gathered.
    fn captured(&mut self, id: SoId) -> WriteOutcome {
        let capture = self.capture.take();
        let (writer, others, changed) = capture.map_or((Vec::new(), Vec::new(), false), |c| {
            (c.writer, c.others, c.changed)
        });
        let Some(so) = self.state.sos.get(&id) else {
            return WriteOutcome::NoUpdate { answer: writer };
        };
        if !changed && others.is_empty() {
            return WriteOutcome::NoUpdate { answer: writer };
        }
        WriteOutcome::Update {
            version: so.version,
            delta: ReplicaDelta {
                writer_events: writer,
                events: others,
            },
            state: so.snapshot(),
        }
    }

    /// Cluster mode: whether server code's change to `id` goes to the
    /// owner (everything but the update being applied as the owner).
    pub(super) fn forwards(&self, id: SoId) -> bool {
        self.config.cluster && self.capture.as_ref().is_none_or(|c| c.id != id)
    }

    /// Hands server code's change to the SO's owner.
    pub(super) fn forward_server_write(
        &mut self,
        so: SoKey,
        events: Vec<SoEvent>,
        out: &mut Vec<Output>,
    ) {
        let persistent = self
            .state
            .so_id(&so)
            .and_then(|id| self.state.sos.get(&id))
            .is_some_and(|s| s.persistent);
        out.push(Output::ClusterWrite {
            so,
            write: ForwardedWrite {
                writer: None,
                persistent,
                events,
            },
        });
    }

    fn raise(&mut self, key: &SoKey, version: u32) -> WriteOutcome {
        let Some(id) = self.state.so_id(key) else {
            return WriteOutcome::NoUpdate { answer: Vec::new() };
        };
        let Some(so) = self.state.sos.get_mut(&id) else {
            return WriteOutcome::NoUpdate { answer: Vec::new() };
        };
        so.version = version.max(so.version.wrapping_add(1));
        WriteOutcome::Update {
            version: so.version,
            delta: ReplicaDelta::default(),
            state: so.snapshot(),
        }
    }

    /// This process owns `so` from now on; its authoritative copy is
    /// `snapshot` if given.
    pub(super) fn rebuild(&mut self, so: SoKey, snapshot: Option<Snapshot>, out: &mut Vec<Output>) {
        let key_bytes = self.config.limits.key_bytes();
        let id = self.state.so_id(&so);
        let Some((id, live)) = id.and_then(|id| Some((id, self.state.sos.get_mut(&id)?))) else {
            // Not live here: a USE gets it back from the stored state.
            let shown = match snapshot {
                Some(snapshot) => {
                    let shown = Shown {
                        version: snapshot.version,
                        attrs: snapshot.values.iter().cloned().collect(),
                    };
                    self.cluster_kept.insert(so.clone(), snapshot);
                    shown
                }
                None => self
                    .cluster_kept
                    .get(&so)
                    .map(|kept| Shown {
                        version: kept.version,
                        attrs: kept.values.iter().cloned().collect(),
                    })
                    .unwrap_or_default(),
            };
            self.cluster_owned.insert(so, shown);
            return;
        };
        // What its clients here saw (as a replica, or before it was lost).
        let seen = Shown {
            version: live.version,
            attrs: live.attrs.clone(),
        };
        if let Some(snapshot) = snapshot {
            live.version = snapshot.version;
            live.attrs = snapshot
                .values
                .into_iter()
                .filter(|(k, v)| k.len() <= key_bytes && !v.is_null_or_undefined())
                .collect();
            live.bytes = live
                .attrs
                .iter()
                .fold(0usize, |n, (k, v)| n.saturating_add(attribute_size(k, v)));
        }
        let current = Shown {
            version: live.version,
            attrs: live.attrs.clone(),
        };
        if self.cluster_loading.contains_key(&id) {
            // The state the first USE answers waited for.
            self.cluster_owned.insert(so, current);
            self.finish_loading(id, out);
        } else if current.version > seen.version {
            let message = SharedObjectMessage {
                name: so.name.clone(),
                version: current.version,
                persistent: live.persistent,
                events: full_state(&current.attrs).collect(),
            };
            self.cluster_owned.insert(so, current);
            self.fan_out_to(id, &message, None, out);
        } else {
            // Older than what they saw (their process published what
            // others did not store): they keep their view until the
            // owner raises the version above it.
            self.cluster_owned.insert(so, seen);
        }
    }

    /// This process no longer owns `so`.
    pub(super) fn disown(&mut self, so: SoKey) {
        self.cluster_kept.remove(&so);
        let Some(shown) = self.cluster_owned.remove(&so) else {
            return;
        };
        // What was applied here but not published is void: the copy goes
        // back to what the clients here saw, and follows the new owner's
        // updates from there.
        if let Some(so) = self
            .state
            .so_id(&so)
            .and_then(|id| self.state.sos.get_mut(&id))
        {
            so.version = shown.version;
            so.attrs = shown.attrs;
            so.bytes = so
                .attrs
                .iter()
                .fold(0usize, |n, (k, v)| n.saturating_add(attribute_size(k, v)));
        }
    }

    /// Cluster mode: the USE answers of a new SO wait for its state.
    pub(super) fn start_loading(&mut self, id: SoId) {
        let due = self.now.plus_millis(self.config.cluster_load_wait_ms);
        self.cluster_loading.insert(
            id,
            Loading {
                due,
                waiting: BTreeSet::new(),
            },
        );
        self.cluster_load_due.insert((due, id));
    }

    /// Forgets that the SO waits for its state (it is gone).
    pub(super) fn stop_loading(&mut self, id: SoId) -> Option<Loading> {
        let loading = self.cluster_loading.remove(&id)?;
        self.cluster_load_due.remove(&(loading.due, id));
        Some(loading)
    }

    /// The SO's state is in (or the wait is over): its waiting subscribers
    /// get their USE answer, SUCCESS and the full state, as on one server.
    pub(super) fn finish_loading(&mut self, id: SoId, out: &mut Vec<Output>) {
        let Some(loading) = self.stop_loading(id) else {
            return;
        };
        let Some(so) = self.state.sos.get(&id) else {
            return;
        };
        let message = state_message(so, Some(SoEvent::UseSuccess));
        let clients = &self.state.clients;
        let recipients = so.subscribers.iter().filter(|(c, _)| {
            loading.waiting.contains(c)
                && clients
                    .get(c)
                    .is_some_and(|client| client.phase != Phase::Leaving)
        });
        fan_out(out, &message, recipients);
    }

    pub(super) fn replica_update(
        &mut self,
        key: &SoKey,
        version: u32,
        delta: ReplicaDelta,
        writer: Option<ClientId>,
        out: &mut Vec<Output>,
    ) {
        let id = self.state.so_id(key);
        if let Some(shown) = self.cluster_owned.get_mut(key) {
            // The owner's own update, published: applied to the
            // authoritative copy when the owner made it, shown now.
            shown.apply(&delta.events);
            shown.version = version;
        } else {
            let Some(so) = id.and_then(|id| self.state.sos.get_mut(&id)) else {
                return;
            };
            let changes = delta.changes_state();
            if version < so.version || (changes && version == so.version) {
                return;
            }
            for event in &delta.events {
                match event {
                    SoEvent::Change { key, value } => {
                        let removed = so.attribute_size(key);
                        so.bytes = so
                            .bytes
                            .saturating_sub(removed)
                            .saturating_add(attribute_size(key, value));
                        so.attrs.insert(key.clone(), value.clone());
                    }
                    SoEvent::Remove { key } => {
                        so.bytes = so.bytes.saturating_sub(so.attribute_size(key));
                        so.attrs.remove(key);
                    }
                    SoEvent::Clear => {
                        so.attrs.clear();
                        so.bytes = 0;
                    }
                    _ => {}
                }
            }
            so.version = version;
        }
        let Some((id, so)) = id.and_then(|id| Some((id, self.state.sos.get(&id)?))) else {
            return;
        };
        let name = so.key.name.clone();
        let persistent = so.persistent;
        let writer = writer.filter(|w| so.subscribers.contains_key(w));
        if let Some(w) = writer
            && !delta.writer_events.is_empty()
        {
            let message = SharedObjectMessage {
                name: name.clone(),
                version,
                persistent,
                events: delta.writer_events,
            };
            self.fan_out_to(id, &message, Some(w), out);
        }
        if !delta.events.is_empty() {
            let message = SharedObjectMessage {
                name,
                version,
                persistent,
                events: delta.events,
            };
            let except = writer.map(Err);
            self.fan_out_filtered(id, &message, except, out);
        }
    }

    pub(super) fn replica_reset(&mut self, key: &SoKey, snapshot: Snapshot, out: &mut Vec<Output>) {
        let key_bytes = self.config.limits.key_bytes();
        let values = snapshot
            .values
            .into_iter()
            .filter(|(k, v)| k.len() <= key_bytes && !v.is_null_or_undefined());
        let id = self.state.so_id(key);
        if let Some(shown) = self.cluster_owned.get_mut(key) {
            // The owner's own published state (a raised version): shown to
            // its clients here if newer than what they saw; the SO's state
            // is the authoritative copy already.
            if snapshot.version <= shown.version {
                return;
            }
            shown.version = snapshot.version;
            shown.attrs = values.collect();
            let Some((id, so)) = id.and_then(|id| Some((id, self.state.sos.get(&id)?))) else {
                return;
            };
            let message = SharedObjectMessage {
                name: so.key.name.clone(),
                version: shown.version,
                persistent: so.persistent,
                events: full_state(&shown.attrs).collect(),
            };
            self.fan_out_to(id, &message, None, out);
            return;
        }
        let Some(id) = id else {
            return;
        };
        let Some(so) = self.state.sos.get_mut(&id) else {
            return;
        };
        if snapshot.version > so.version {
            so.version = snapshot.version;
            so.attrs = values.collect();
            so.bytes = so
                .attrs
                .iter()
                .fold(0usize, |n, (k, v)| n.saturating_add(attribute_size(k, v)));
        } else if !self.cluster_loading.contains_key(&id) {
            return;
        }
        if self.cluster_loading.contains_key(&id) {
            // The state the first USE answers waited for.
            self.finish_loading(id, out);
            return;
        }
        let Some(so) = self.state.sos.get(&id) else {
            return;
        };
        let message = state_message(so, None);
        self.fan_out_to(id, &message, None, out);
    }

    pub(super) fn write_answered(
        &mut self,
        client: ClientId,
        key: &SoKey,
        answer: WriterAnswer,
        out: &mut Vec<Output>,
    ) {
        let Some(id) = self.state.so_id(key) else {
            return;
        };
        let Some(so) = self.state.sos.get(&id) else {
            return;
        };
        if !so.subscribers.contains_key(&client) {
            return;
        }
        let events = match answer {
            WriterAnswer::Events(events) => events,
            WriterAnswer::Settled(write) => write
                .events
                .into_iter()
                .filter_map(|e| match e {
                    SoEvent::RequestChange { key, .. } => Some(SoEvent::Success { key }),
                    _ => None,
                })
                .collect(),
            WriterAnswer::Refused(write) => {
                let mut events = Vec::new();
                for event in write.events {
                    match event {
                        SoEvent::RequestChange { key, .. } | SoEvent::RequestRemove { key } => {
                            events.push(status_event(status::NO_WRITE_ACCESS, "error"));
                            events.push(match so.attrs.get(&key) {
                                Some(value) => SoEvent::Change {
                                    key,
                                    value: value.clone(),
                                },
                                None => SoEvent::Remove { key },
                            });
                        }
                        SoEvent::SendMessage { .. } => {
                            events.push(status_event(status::NO_WRITE_ACCESS, "error"));
                        }
                        _ => {}
                    }
                }
                events
            }
        };
        if events.is_empty() {
            return;
        }
        // On the owner, at the version its clients here were shown.
        let version = self
            .cluster_owned
            .get(key)
            .map_or(so.version, |s| s.version);
        let message = SharedObjectMessage {
            name: so.key.name.clone(),
            version,
            persistent: so.persistent,
            events,
        };
        self.fan_out_to(id, &message, Some(client), out);
    }

    /// Sends `message` to one subscriber of the SO (`Some`), or to all.
    fn fan_out_to(
        &self,
        id: SoId,
        message: &SharedObjectMessage,
        only: Option<ClientId>,
        out: &mut Vec<Output>,
    ) {
        self.fan_out_filtered(id, message, only.map(Ok), out);
    }

    /// Sends `message` to the SO's subscribers that are not leaving:
    /// `Ok(c)` only `c`, `Err(c)` all but `c`, `None` all.
    fn fan_out_filtered(
        &self,
        id: SoId,
        message: &SharedObjectMessage,
        filter: Option<Result<ClientId, ClientId>>,
        out: &mut Vec<Output>,
    ) {
        let Some(so) = self.state.sos.get(&id) else {
            return;
        };
        let clients = &self.state.clients;
        let recipients = so.subscribers.iter().filter(|(c, _)| {
            let wanted = match filter {
                None => true,
                Some(Ok(only)) => *c == only,
                Some(Err(except)) => *c != except,
            };
            wanted
                && clients
                    .get(c)
                    .is_some_and(|client| client.phase != Phase::Leaving)
        });
        fan_out(out, message, recipients);
    }
}

/// The SO's whole state as one message at its version: `first` (a USE
/// answer), then CLEAR and every attribute.
fn state_message(so: &crate::state::SharedObject, first: Option<SoEvent>) -> SharedObjectMessage {
    SharedObjectMessage {
        name: so.key.name.clone(),
        version: so.version,
        persistent: so.persistent,
        events: first.into_iter().chain(full_state(&so.attrs)).collect(),
    }
}
