//! The world a fuzz run drives: one engine, the clients' mirrors of the SOs
//! they use (rebuilt only from the bytes the engine sent them), and the
//! store the persistence outputs describe; plus the invariants checked after
//! every step.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bytes::BytesMut;
use rtmp_proto::amf::{Encoding, Limits, Value, amf0, amf3};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use rtmp_proto::mirror::RemoteSharedObject;

use super::ops::{CLIENTS, Client, NAMES, Name, client_id, is_persistent};
use crate::engine::Engine;
use crate::hooks::Retention;
use crate::interface::{Input, Output, Snapshot};
use crate::store::{decode_snapshot, encode_snapshot};
use crate::types::{CallId, ClientId, ScopePath, SoKey, Tick};
use crate::{EngineMisuse, status};

/// One connected client, as it knows itself.
pub(crate) struct Peer {
    pub(crate) scope: ScopePath,
    pub(crate) encoding: Encoding,
    /// Per SO name index: the mirror Flash keeps once the SO was asked for.
    pub(crate) mirrors: BTreeMap<usize, RemoteSharedObject>,
}

/// The engine and everything outside it.
pub(crate) struct World {
    pub(crate) engine: Engine,
    pub(crate) now: Tick,
    pub(crate) peers: BTreeMap<u8, Peer>,
    /// The persistent SOs as the Persist and DeletePersisted outputs left them.
    pub(crate) store: BTreeMap<SoKey, Snapshot>,
    /// Every output, in order, for the determinism check.
    pub(crate) transcript: String,
}

impl World {
    pub(crate) fn new(engine: Engine) -> Self {
        Self {
            engine,
            now: Tick::ZERO,
            peers: BTreeMap::new(),
            store: BTreeMap::new(),
            transcript: String::new(),
        }
    }

    /// Applies `input` and delivers what came out.
    pub(crate) fn apply(&mut self, input: Input) -> Result<(), EngineMisuse> {
        let mut out = Vec::new();
        let result = self.engine.handle_input(self.now, input, &mut out);
        let _ = writeln!(self.transcript, "{result:?}");
        self.absorb(out);
        result
    }

    /// Delivers outputs: SO messages to the mirrors, persistence to the
    /// store, kicks and server calls back into the engine as an adapter
    /// would.
    fn absorb(&mut self, out: Vec<Output>) {
        let mut kicked = Vec::new();
        let mut calls = Vec::new();
        for output in out {
            let _ = writeln!(self.transcript, "{output:?}");
            match output {
                Output::SharedObject {
                    to, encoding, body, ..
                } => {
                    let message = SharedObjectMessage::decode(&body, encoding, &Limits::default())
                        .expect("the engine's output decodes");
                    assert!(!to.is_empty(), "an output without recipients");
                    for to in to {
                        let peer = self
                            .peers
                            .get_mut(&peer_index(to))
                            .unwrap_or_else(|| panic!("a message for {to}, who is not connected"));
                        assert_eq!(encoding, peer.encoding, "a message in the wrong encoding");
                        deliver(peer, to, &message);
                    }
                }
                Output::Persist { so, snapshot } => {
                    self.store.insert(so, *snapshot);
                }
                Output::DeletePersisted { so } => {
                    self.store.remove(&so);
                }
                Output::Disconnect { client, .. } => {
                    self.peers.remove(&peer_index(client));
                    kicked.push(client);
                }
                Output::CallClient { client, call, .. } => calls.push((client, call)),
                // Only a connect hook that panicked rejects here.
                Output::ConnectRejected { client, .. } => {
                    self.peers.remove(&peer_index(client));
                }
                _ => {}
            }
        }
        for client in kicked {
            self.apply(Input::ClientLeft { client })
                .expect("a kicked client's ClientLeft is accepted");
        }
        for (client, call) in calls {
            self.answer(client, call);
        }
    }

    fn answer(&mut self, client: ClientId, call: CallId) {
        if self.peers.contains_key(&peer_index(client)) {
            let outcome = Ok(vec![Value::Number(f64::from(
                u32::try_from(call.0 % 7).unwrap_or(0),
            ))]);
            self.apply(Input::CallResult {
                client,
                call,
                outcome,
            })
            .expect("a connected client's answer is accepted");
        }
    }

    /// A connected client sends `message`.
    pub(crate) fn send(&mut self, client: Client, message: SharedObjectMessage) {
        self.apply(Input::SharedObject {
            client: client_id(client),
            message,
        })
        .expect("a connected client's message is accepted");
    }

    /// Every invariant that holds between steps.
    pub(crate) fn check(&self) {
        let view = self.engine.view();
        for index in 0..CLIENTS {
            let id = client_id(Client::new(index));
            assert_eq!(
                view.is_connected(id),
                self.peers.contains_key(&index),
                "{id}: the engine and the client disagree on the connection"
            );
        }
        for (&index, peer) in &self.peers {
            let id = client_id(Client::new(index));
            assert_eq!(view.client_scope(id), Some(&peer.scope), "{id}'s scope");
            for (n, name) in NAMES.iter().enumerate() {
                let key = SoKey::new(peer.scope.clone(), *name);
                let so = view.shared_object(&key);
                let subscribed = so.is_some_and(|s| s.subscribers().any(|c| c == id));
                let mirror = peer.mirrors.get(&n);
                let connected = mirror.is_some_and(RemoteSharedObject::is_connected);
                assert_eq!(subscribed, connected, "{id} on {key}: subscribed or not");
                // Requests may stay pending: a removal of a key the server
                // lacks is never answered (the mirror settles it with the next
                // answer), so pending requests are no invariant; a write left
                // unsettled would show as a wrong value later.
                let (Some(so), Some(mirror)) = (so, mirror.filter(|m| m.is_connected())) else {
                    continue;
                };
                assert_eq!(mirror.version(), so.version(), "{id} on {key}: version");
                let ours = mirror.values();
                assert_eq!(ours.len(), so.len(), "{id} on {key}: {ours:?}");
                for (k, v) in so.attributes() {
                    let mine = ours.get(k);
                    // Compared as the client's encoding writes them: AMF0
                    // has no integers, the client gets numbers.
                    let wire = |v: &Value| encoded(v, peer.encoding);
                    assert!(
                        mine.is_some_and(|m| wire(m) == wire(v)),
                        "{id} on {key}: {k} is {mine:?}, the engine has {v:?}"
                    );
                }
            }
        }
        self.check_retention();
    }

    /// No idle transient SO outlives its retention.
    fn check_retention(&self) {
        let view = self.engine.view();
        for scope in view.scopes() {
            for name in view.names(scope) {
                let key = SoKey::new(scope.clone(), name);
                let so = view.shared_object(&key).expect("listed SOs exist");
                let idle =
                    !so.is_persistent() && so.subscriber_count() == 0 && so.acquire_count() == 0;
                match (idle, so.retention()) {
                    (true, Retention::Linger(ms)) => {
                        let due = so.expires_at().expect("an idle SO has its linger armed");
                        assert!(
                            ms > 0 && due > self.now && due <= self.now.plus_millis(ms),
                            "{key}: linger {ms} ms due at {due}, now {}",
                            self.now
                        );
                    }
                    _ => assert_eq!(so.expires_at(), None, "{key}: a linger armed"),
                }
            }
        }
    }

    /// After a flush every persistent SO the engine knows is in the store as
    /// it is (an empty one too, for its version), and every store entry is
    /// one the engine knows.
    pub(crate) fn check_store(&self, scopes: &[ScopePath]) {
        let keys = scopes
            .iter()
            .flat_map(|scope| NAMES.iter().map(|name| SoKey::new(scope.clone(), *name)));
        for key in keys {
            // Stored data stays while a transient SO of the same name lives.
            let view = self.engine.view();
            let engine = match view.shared_object(&key) {
                Some(so) if so.is_persistent() => self.engine.snapshot(&key),
                _ => view.stored(&key).cloned(),
            };
            match (engine, self.store.get(&key)) {
                (None, None) => {}
                // Never changed since it was created: nothing to store.
                (Some(live), None) if live.values.is_empty() && live.version <= 1 => {}
                (Some(live), Some(stored)) => assert_same(&key, &live, stored),
                (live, stored) => panic!("{key}: engine {live:?}, store {stored:?}"),
            }
        }
    }

    /// The store's snapshots through the file format, as a restart reads them.
    pub(crate) fn restore_inputs(&self) -> Vec<Input> {
        self.store
            .iter()
            .map(|(so, snapshot)| {
                let bytes = encode_snapshot(so, snapshot);
                let (key, decoded) = decode_snapshot(&bytes).expect("our snapshots decode");
                assert_eq!(&key, so, "the snapshot's key");
                assert_same(so, &decoded, snapshot);
                Input::Restored {
                    so: key,
                    snapshot: decoded,
                }
            })
            .collect()
    }
}

/// Applies one message to the client's mirror, checking that it is for an
/// SO the client holds and that versions do not go back.
fn deliver(peer: &mut Peer, to: ClientId, message: &SharedObjectMessage) {
    let n = NAMES
        .iter()
        .position(|n| *n == message.name)
        .unwrap_or_else(|| panic!("{to}: a message for unknown SO {:?}", message.name));
    let Some(mirror) = peer.mirrors.get_mut(&n) else {
        panic!(
            "{to}: a message for {}, which it does not hold: {message:?}",
            message.name
        );
    };
    if message.version != 0 {
        assert!(
            message.version >= mirror.version(),
            "{to} on {}: version {} after {}",
            message.name,
            message.version,
            mirror.version()
        );
    }
    mirror.apply(message);
    let destroyed = message
        .events
        .iter()
        .any(|e| matches!(e, SoEvent::Status { code, .. } if code == status::OBJECT_DESTROYED));
    if destroyed {
        // The next USE meets a new SO, which starts its versions again.
        *mirror = RemoteSharedObject::new(
            message.name.clone(),
            is_persistent(Name::new(u8::try_from(n).unwrap_or(0))),
        );
    }
}

fn encoded(value: &Value, encoding: Encoding) -> BytesMut {
    let mut out = BytesMut::new();
    match encoding {
        Encoding::Amf0 => amf0::Encoder::new().encode(value, &mut out),
        Encoding::Amf3 => amf3::Encoder::new().encode(value, &mut out),
    }
    out
}

fn peer_index(client: ClientId) -> u8 {
    u8::try_from(client.0 - 1).expect("fuzz client ids are small")
}

/// Two snapshots hold the same version and values, bit for bit.
fn assert_same(so: &SoKey, a: &Snapshot, b: &Snapshot) {
    assert_eq!(a.version, b.version, "{so}: version");
    assert_eq!(a.values.len(), b.values.len(), "{so}: {a:?} vs {b:?}");
    for ((ka, va), (kb, vb)) in a.values.iter().zip(&b.values) {
        assert!(ka == kb && va.identical(vb), "{so}: {a:?} vs {b:?}");
    }
}
