//! The engine's data: scopes, clients, live SOs and stored snapshots. Hooks
//! read it through [`View`](crate::View); only the engine writes it.

use std::collections::{BTreeMap, BTreeSet};

use rtmp_proto::amf::{Encoding, Str, Value};
use rtmp_proto::message::shared_object::SoEvent;

use crate::connect::{Attributes, ConnectInfo};
use crate::hooks::Retention;
use crate::interface::{Output, Snapshot};
use crate::types::{ClientId, ScopePath, SoKey, Tick};

/// A live SO's engine-internal number: creation order, never reused, so a
/// re-created SO is told apart from the one it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SoId(pub(crate) u64);

#[derive(Default)]
pub(crate) struct State {
    pub(crate) scopes: BTreeMap<ScopePath, Scope>,
    pub(crate) clients: BTreeMap<ClientId, Client>,
    pub(crate) sos: BTreeMap<SoId, SharedObject>,
    /// Persistent SOs that are not live: restored from the store, or
    /// unloaded when their scope stopped. A live SO is never in here.
    pub(crate) stored: BTreeMap<SoKey, Snapshot>,
}

impl State {
    pub(crate) fn so_id(&self, key: &SoKey) -> Option<SoId> {
        self.scopes.get(&key.scope)?.sos.get(&key.name).copied()
    }
}

#[derive(Default)]
pub(crate) struct Scope {
    /// Clients joined to this scope itself (a room's clients are also in
    /// every ancestor's set: Red5 joins them parent first).
    pub(crate) clients: BTreeSet<ClientId>,
    /// Running child scopes.
    pub(crate) children: usize,
    pub(crate) sos: BTreeMap<Str, SoId>,
    /// Set while `*_stop` hooks and SO teardown run: nothing new is created.
    pub(crate) stopping: bool,
    /// Declared by the application (or started through a server operation):
    /// it runs with no client until stopped explicitly.
    pub(crate) declared: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `connect` hooks are running; outputs to it wait in `deferred`.
    Connecting,
    Connected,
    /// Leaving: nothing more is sent to it.
    Leaving,
}

pub(crate) struct Client {
    pub(crate) scope: ScopePath,
    pub(crate) encoding: Encoding,
    pub(crate) phase: Phase,
    /// How many scopes of `scope.lineage()` it joined, from the application down.
    pub(crate) joined: usize,
    pub(crate) subscriptions: BTreeSet<SoId>,
    pub(crate) pending_calls: usize,
    /// Outputs for it produced while it was connecting (server calls from
    /// `connect`/`join` hooks), sent after its `ConnectAccepted`.
    pub(crate) deferred: Vec<Output>,
    /// A hook disconnected it while it was connecting: reject with this.
    pub(crate) kicked: Option<String>,
    /// What it said when connecting, and what its authorization attached.
    pub(crate) info: Option<Box<(ConnectInfo, Attributes)>>,
}

pub(crate) struct SharedObject {
    pub(crate) key: SoKey,
    pub(crate) persistent: bool,
    pub(crate) version: u32,
    pub(crate) attrs: BTreeMap<Str, Value>,
    /// The wire size of `attrs` ([`attribute_size`](crate::values::attribute_size) summed).
    pub(crate) bytes: usize,
    pub(crate) subscribers: Subscribers,
    pub(crate) acquired: u32,
    pub(crate) retention: Retention,
    /// When it goes if still idle (armed when it became idle).
    pub(crate) expires_at: Option<Tick>,
    /// When its unsaved changes are due for a `Persist` output.
    pub(crate) persist_at: Option<Tick>,
    /// Open update levels: server batches, the client message being applied,
    /// and the implicit level around every server operation.
    pub(crate) depth: u32,
    /// How many of those levels are server batches (`BeginUpdate`).
    pub(crate) batches: u32,
    pub(crate) pending: Pending,
}

impl SharedObject {
    /// The wire size of attribute `key` if it exists, else 0.
    pub(crate) fn attribute_size(&self, key: &str) -> usize {
        self.attrs
            .get(key)
            .map_or(0, |v| crate::values::attribute_size(key, v))
    }

    /// Idle: nothing keeps a transient SO alive, so its linger runs.
    pub(crate) fn is_idle(&self) -> bool {
        !self.persistent
            && self.subscribers.is_empty()
            && self.acquired == 0
            && self.retention != Retention::WhileScopeRuns
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            version: self.version,
            values: self
                .attrs
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

/// An SO's subscribers and their encodings, sorted by client: a flat
/// vector, because fan-out iterates it for every update while joins and
/// leaves are rare (a binary search and a shift).
#[derive(Default)]
pub(crate) struct Subscribers(Vec<(ClientId, Encoding)>);

impl Subscribers {
    /// Adds or updates `client`; its previous encoding if it was there.
    pub(crate) fn insert(&mut self, client: ClientId, encoding: Encoding) -> Option<Encoding> {
        match self.0.binary_search_by_key(&client, |(c, _)| *c) {
            Ok(i) => self
                .0
                .get_mut(i)
                .map(|slot| std::mem::replace(&mut slot.1, encoding)),
            Err(i) => {
                self.0.insert(i, (client, encoding));
                None
            }
        }
    }

    pub(crate) fn remove(&mut self, client: &ClientId) -> Option<Encoding> {
        let i = self.0.binary_search_by_key(client, |(c, _)| *c).ok()?;
        Some(self.0.remove(i).1)
    }

    pub(crate) fn get(&self, client: &ClientId) -> Option<&Encoding> {
        let i = self.0.binary_search_by_key(client, |(c, _)| *c).ok()?;
        self.0.get(i).map(|(_, e)| e)
    }

    pub(crate) fn contains_key(&self, client: &ClientId) -> bool {
        self.get(client).is_some()
    }

    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = (ClientId, Encoding)> + '_ {
        self.0.iter().copied()
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = ClientId> + '_ {
        self.0.iter().map(|(c, _)| *c)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}

/// The events of the update being built, until it is flushed.
#[derive(Default)]
pub(crate) struct Pending {
    /// The client whose message is being applied: it gets `owner`, everybody
    /// else gets `sync`. `None` for server updates: everybody gets `sync`.
    pub(crate) source: Option<ClientId>,
    pub(crate) owner: Vec<SoEvent>,
    pub(crate) sync: Vec<SoEvent>,
    /// Whether the state changed (then the version goes up by one).
    pub(crate) changed: bool,
}

impl Pending {
    /// An event for the source only (SUCCESS, STATUS, a rollback, the USE reply).
    pub(crate) fn for_owner(&mut self, event: SoEvent) {
        if self.source.is_some() {
            self.owner.push(event);
        }
    }

    /// An event for every subscriber but the source (CHANGE after a client's write).
    pub(crate) fn for_others(&mut self, event: SoEvent) {
        self.sync.push(event);
    }

    /// An event for everybody, the source included (REMOVE, SEND_MESSAGE,
    /// every server-made change).
    pub(crate) fn for_all(&mut self, event: SoEvent) {
        if self.source.is_some() {
            self.owner.push(event.clone());
        }
        self.sync.push(event);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.owner.is_empty() && self.sync.is_empty() && !self.changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_routes_events_by_source() {
        let mut server = Pending::default();
        server.for_owner(SoEvent::UseSuccess);
        server.for_all(SoEvent::Clear);
        server.for_others(SoEvent::Remove { key: "k".into() });
        assert!(server.owner.is_empty(), "no owner without a source");
        assert_eq!(
            server.sync,
            [SoEvent::Clear, SoEvent::Remove { key: "k".into() }]
        );

        let mut client = Pending {
            source: Some(ClientId(1)),
            ..Pending::default()
        };
        assert!(client.is_empty());
        client.for_owner(SoEvent::Success { key: "a".into() });
        client.for_others(SoEvent::Remove { key: "a".into() });
        client.for_all(SoEvent::Clear);
        assert_eq!(
            client.owner,
            [SoEvent::Success { key: "a".into() }, SoEvent::Clear]
        );
        assert_eq!(
            client.sync,
            [SoEvent::Remove { key: "a".into() }, SoEvent::Clear]
        );
        assert!(!client.is_empty());
    }

    #[test]
    fn only_unheld_transient_objects_are_idle() {
        let mut so = SharedObject {
            key: SoKey::new(ScopePath::new("app").unwrap(), "x"),
            persistent: false,
            version: 1,
            attrs: BTreeMap::new(),
            bytes: 0,
            subscribers: Subscribers::default(),
            acquired: 0,
            retention: Retention::Linger(0),
            expires_at: None,
            persist_at: None,
            depth: 0,
            batches: 0,
            pending: Pending::default(),
        };
        assert!(so.is_idle());
        so.acquired = 1;
        assert!(!so.is_idle());
        so.acquired = 0;
        so.subscribers.insert(ClientId(1), Encoding::Amf0);
        assert!(!so.is_idle());
        so.subscribers.clear();
        so.retention = Retention::WhileScopeRuns;
        assert!(!so.is_idle());
        so.retention = Retention::Linger(5);
        so.persistent = true;
        assert!(!so.is_idle());
    }
}
