//! A small harness: one engine, virtual time, and per-client inboxes of
//! decoded SharedObject messages.

use std::collections::BTreeMap;

use rtmp_proto::amf::{Encoding, Limits, Str, Value};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use so_engine::{
    Application, Body, ClientId, Engine, EngineConfig, Input, Output, ScopePath, ServerApi, SoKey,
    Tick,
};

/// Decodes the body a client received, as the client would.
pub(crate) fn decode(body: &Body, encoding: Encoding) -> SharedObjectMessage {
    SharedObjectMessage::decode(body, encoding, &Limits::default()).unwrap()
}

pub(crate) fn scope(path: &str) -> ScopePath {
    ScopePath::new(path).unwrap()
}

pub(crate) fn key(path: &str, name: &str) -> SoKey {
    SoKey::new(scope(path), name)
}

pub(crate) fn change(k: &str, v: impl Into<Value>) -> SoEvent {
    SoEvent::Change {
        key: k.into(),
        value: v.into(),
    }
}

pub(crate) fn success(k: &str) -> SoEvent {
    SoEvent::Success { key: k.into() }
}

pub(crate) fn remove(k: &str) -> SoEvent {
    SoEvent::Remove { key: k.into() }
}

pub(crate) fn request_change(k: &str, v: impl Into<Value>) -> SoEvent {
    SoEvent::RequestChange {
        key: k.into(),
        value: v.into(),
    }
}

pub(crate) fn request_remove(k: &str) -> SoEvent {
    SoEvent::RequestRemove { key: k.into() }
}

pub(crate) fn send(method: &str, args: Vec<Value>) -> SoEvent {
    SoEvent::SendMessage {
        method: method.into(),
        args,
    }
}

pub(crate) fn status(code: &str) -> SoEvent {
    SoEvent::Status {
        code: code.into(),
        level: "error".into(),
    }
}

/// The engine plus everything it said, sorted by recipient.
pub(crate) struct World {
    pub(crate) engine: Engine,
    pub(crate) now: Tick,
    /// Every output, in order (SO messages included).
    pub(crate) log: Vec<Output>,
    /// SO messages per client, decoded, not yet taken.
    inbox: BTreeMap<ClientId, Vec<SharedObjectMessage>>,
    /// Outputs other than SO messages, not yet taken.
    other: Vec<Output>,
}

impl World {
    pub(crate) fn new(config: EngineConfig, app: impl Application + 'static) -> Self {
        Self::with(Engine::new(config, app))
    }

    pub(crate) fn with(engine: Engine) -> Self {
        Self {
            engine,
            now: Tick::ZERO,
            log: Vec::new(),
            inbox: BTreeMap::new(),
            other: Vec::new(),
        }
    }

    pub(crate) fn default_app() -> Self {
        Self::new(EngineConfig::default(), ())
    }

    pub(crate) fn apply(&mut self, input: Input) {
        self.try_apply(input).unwrap();
    }

    pub(crate) fn try_apply(&mut self, input: Input) -> Result<(), so_engine::EngineMisuse> {
        let mut out = Vec::new();
        let result = self.engine.handle_input(self.now, input, &mut out);
        self.absorb(out);
        result
    }

    fn absorb(&mut self, out: Vec<Output>) {
        for o in out {
            if let Output::SharedObject {
                to,
                encoding,
                body,
                key,
            } = &o
            {
                let message = decode(body, *encoding);
                // The key the engine gives names what the body holds.
                match (key, message.events.as_slice()) {
                    (Some(k), [SoEvent::Change { key, .. }]) => {
                        assert_eq!(k.slices(body), (message.name.as_bytes(), key.as_bytes()))
                    }
                    (None, [SoEvent::Change { .. }]) => panic!("a single CHANGE without its key"),
                    (Some(_), events) => panic!("a key for {events:?}"),
                    (None, _) => {}
                }
                for client in to {
                    self.inbox.entry(*client).or_default().push(message.clone());
                }
            } else {
                self.other.push(o.clone());
            }
            self.log.push(o);
        }
    }

    /// Cluster mode: applies a forwarded write on this (owning) engine.
    pub(crate) fn forwarded(
        &mut self,
        so: &SoKey,
        write: so_engine::cluster::ForwardedWrite,
    ) -> so_engine::cluster::WriteOutcome {
        let mut out = Vec::new();
        let outcome = self
            .engine
            .handle_forwarded_write(self.now, so, write, &mut out)
            .unwrap();
        self.absorb(out);
        outcome
    }

    /// Cluster mode: raises the SO's version on this (owning) engine.
    pub(crate) fn raise(&mut self, so: &SoKey, version: u32) -> so_engine::cluster::WriteOutcome {
        let mut out = Vec::new();
        let outcome = self
            .engine
            .handle_raise(self.now, so, version, &mut out)
            .unwrap();
        self.absorb(out);
        outcome
    }

    pub(crate) fn advance(&mut self, ms: u64) {
        self.now = self.now.plus_millis(ms);
        self.apply(Input::Tick);
    }

    pub(crate) fn connect(&mut self, client: u64, path: &str) {
        self.connect_with(client, path, Encoding::Amf0);
    }

    pub(crate) fn connect_with(&mut self, client: u64, path: &str, encoding: Encoding) {
        self.apply(Input::ClientConnected {
            client: ClientId(client),
            scope: scope(path),
            encoding,
            args: Vec::new(),
        });
    }

    pub(crate) fn leave(&mut self, client: u64) {
        self.apply(Input::ClientLeft {
            client: ClientId(client),
        });
    }

    pub(crate) fn so(&mut self, client: u64, name: &str, persistent: bool, events: Vec<SoEvent>) {
        self.apply(Input::SharedObject {
            client: ClientId(client),
            message: SharedObjectMessage {
                name: name.into(),
                version: 0,
                persistent,
                events,
            },
        });
    }

    pub(crate) fn use_so(&mut self, client: u64, name: &str) {
        self.so(client, name, false, vec![SoEvent::Use]);
    }

    /// Runs `f` with the server API at the current time.
    pub(crate) fn with_server<R>(
        &mut self,
        f: impl FnOnce(&mut so_engine::ServerSession<'_>) -> R,
    ) -> R {
        let mut out = Vec::new();
        let r = f(&mut self.engine.server(self.now, &mut out));
        self.absorb(out);
        r
    }

    pub(crate) fn set(&mut self, so: &SoKey, k: &str, v: impl Into<Value>) {
        self.with_server(|s| s.set(so, k, v)).unwrap();
    }

    /// The SO messages `client` received since the last call.
    pub(crate) fn take(&mut self, client: u64) -> Vec<SharedObjectMessage> {
        self.inbox.remove(&ClientId(client)).unwrap_or_default()
    }

    /// Drops every pending message.
    pub(crate) fn drain(&mut self) {
        self.inbox.clear();
        self.other.clear();
    }

    /// The non-SO outputs since the last call.
    pub(crate) fn take_other(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.other)
    }

    pub(crate) fn value(&self, so: &SoKey, k: &str) -> Option<Value> {
        self.engine.view().get(so, k).cloned()
    }

    pub(crate) fn version(&self, so: &SoKey) -> Option<u32> {
        self.engine.view().shared_object(so).map(|s| s.version())
    }
}

/// The message a subscriber gets in answer to USE on an SO holding `attrs`.
pub(crate) fn use_reply(name: &str, version: u32, attrs: &[(&str, Value)]) -> SharedObjectMessage {
    let mut events = vec![SoEvent::UseSuccess, SoEvent::Clear];
    events.extend(attrs.iter().map(|(k, v)| change(k, v.clone())));
    msg(name, version, false, events)
}

pub(crate) fn msg(
    name: &str,
    version: u32,
    persistent: bool,
    events: Vec<SoEvent>,
) -> SharedObjectMessage {
    SharedObjectMessage {
        name: Str::from(name),
        version,
        persistent,
        events,
    }
}

/// xorshift64*: tiny, seeded, good enough to pick actions.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}
