//! A seeded simulation: many clients in several rooms doing random uses,
//! writes, removes, sends, releases and disconnects, with random latency on
//! the way in, plus server-side operations. At every quiescent point each
//! subscriber's view, rebuilt only from the messages it received, equals the
//! engine's state; versions never go backwards; no transient SO outlives its
//! retention; the persist outputs rebuild the store; a replay of a seed
//! gives the same outputs. A hook panics now and then at every hook point
//! (lifecycle, connect, factory, listener, security, send handler, method,
//! `call_result`): the same invariants hold.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rtmp_proto::amf::{Encoding, Str, Value};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use so_engine::{
    CallRequest, ClientId, Context, Engine, EngineConfig, EngineMisuse, Input, Origin, Output,
    Retention, ScopePath, ServerApi, SharedObjectListener, SharedObjectSecurity, Snapshot, SoKey,
    SoSetup, Tick, View, status,
};

use crate::support::{Rng, decode};

const SCOPES: [&str; 4] = ["app", "app/r0", "app/r1", "app/r1/deep"];
const NAMES: [&str; 5] = ["chat", "game", "server.presence", "p", "lobby"];
const KEYS: [&str; 5] = ["a", "b", "c", "ro.x", "n"];
const CLIENTS: u64 = 14;
const LINGER_MS: u64 = 40;

fn persistent(name: &str) -> bool {
    name == "p"
}

struct Presence;

impl SharedObjectListener for Presence {
    fn on_connect(&mut self, cx: &mut Context<'_>, so: &SoKey, _: ClientId) {
        recount(cx, so);
    }
    fn on_disconnect(&mut self, cx: &mut Context<'_>, so: &SoKey, _: ClientId) {
        recount(cx, so);
    }
}

fn recount(cx: &mut Context<'_>, so: &SoKey) {
    let n = cx
        .view()
        .shared_object(so)
        .map_or(0, |s| s.subscriber_count());
    let _ = cx.set(so, "count", f64::from(u32::try_from(n).unwrap()));
}

struct ReadOnlyKeys;

impl SharedObjectSecurity for ReadOnlyKeys {
    fn is_write_allowed(
        &mut self,
        _: &View<'_>,
        _: &SoKey,
        _: ClientId,
        k: &str,
        _: &Value,
    ) -> bool {
        !k.starts_with("ro.")
    }
    fn is_delete_allowed(&mut self, _: &View<'_>, _: &SoKey, _: ClientId, k: &str) -> bool {
        !k.starts_with("ro.")
    }
}

/// The clients whose connects panic, and for whom writing or removing `c`
/// panics (so `c` is as read-only for them as `ro.x`, and a refused
/// removal is never mistaken for a refused write).
fn cursed(client: ClientId) -> bool {
    client.0.is_multiple_of(5)
}

/// Security checks that panic: a panic denies.
struct PanickySecurity;

impl SharedObjectSecurity for PanickySecurity {
    fn is_creation_allowed(&mut self, _: &View<'_>, so: &SoKey, _: bool, c: ClientId) -> bool {
        assert!(!(cursed(c) && so.name == "game"), "creation boom");
        true
    }
    fn is_connection_allowed(&mut self, _: &View<'_>, so: &SoKey, c: ClientId) -> bool {
        assert!(!(c.0 == 7 && so.name == "chat"), "connection boom");
        true
    }
    fn is_write_allowed(
        &mut self,
        _: &View<'_>,
        _: &SoKey,
        c: ClientId,
        k: &str,
        _: &Value,
    ) -> bool {
        assert!(!(cursed(c) && k == "c"), "write boom");
        true
    }
    fn is_delete_allowed(&mut self, _: &View<'_>, _: &SoKey, c: ClientId, k: &str) -> bool {
        assert!(!(cursed(c) && k == "c"), "delete boom");
        true
    }
    fn is_send_allowed(
        &mut self,
        _: &View<'_>,
        _: &SoKey,
        c: ClientId,
        m: &str,
        _: &[Value],
    ) -> bool {
        assert!(!(cursed(c) && m == "ping"), "send boom");
        true
    }
}

/// A listener that panics on some events (after queueing a change that
/// the panic drops).
struct PanickyListener;

impl SharedObjectListener for PanickyListener {
    fn on_update(&mut self, cx: &mut Context<'_>, so: &SoKey, _: Origin, key: &str, v: &Value) {
        if key == "b" && v == &Value::from(3.0) {
            let _ = cx.set(so, "dropped", 1.0);
            panic!("on_update boom");
        }
    }
    fn on_connect(&mut self, _: &mut Context<'_>, _: &SoKey, client: ClientId) {
        assert!(!cursed(client), "on_connect boom");
    }
    fn on_destroy(&mut self, _: &mut Context<'_>, _: &SoKey) {
        panic!("on_destroy boom");
    }
}

/// Lifecycle hooks that panic every few calls; a connect that panics is
/// rejected (the client tries again later).
struct Rooms {
    calls: u64,
}

impl Rooms {
    fn maybe_panic(&mut self, hook: &str) {
        self.calls += 1;
        assert!(!self.calls.is_multiple_of(7), "{hook} boom");
    }
}

impl so_engine::Application for Rooms {
    fn room_start(&mut self, cx: &mut Context<'_>, room: &ScopePath) {
        let lobby = SoKey::new(room.clone(), "lobby");
        let _ = cx.create(&lobby, false);
        let _ = cx.set(&lobby, "room", room.as_str());
        // Panicking after queueing: the lobby is then not created.
        self.maybe_panic("room_start");
    }
    fn app_connect(
        &mut self,
        _: &mut Context<'_>,
        _: ClientId,
        _: &ScopePath,
        _: &[Value],
    ) -> Result<(), String> {
        self.maybe_panic("app_connect");
        Ok(())
    }
    fn app_join(&mut self, _: &mut Context<'_>, _: ClientId, _: &ScopePath) {
        self.maybe_panic("app_join");
    }
    fn room_leave(&mut self, _: &mut Context<'_>, _: ClientId, _: &ScopePath) {
        self.maybe_panic("room_leave");
    }
    fn room_stop(&mut self, _: &mut Context<'_>, _: &ScopePath) {
        self.maybe_panic("room_stop");
    }
    fn app_stop(&mut self, _: &mut Context<'_>, _: &ScopePath) {
        self.maybe_panic("app_stop");
    }
}

fn engine() -> Engine {
    let config = EngineConfig {
        default_linger_ms: LINGER_MS,
        persist_interval_ms: 100,
        // Short, so that some locks expire between the sim's own unlocks.
        max_lock_ms: 150,
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(config, Rooms { calls: 0 });
    engine.register_security(ReadOnlyKeys);
    engine.register_security(PanickySecurity);
    engine.register_factory("game", |so: &SoKey, s: &mut SoSetup| {
        // A factory that panics in one room: `game` cannot be built there.
        assert!(so.scope.as_str() != "app/r1", "factory boom");
        s.listener(PanickyListener);
    });
    engine.register_method("boom", |_: &mut Context<'_>, r: &CallRequest<'_>| {
        assert!(r.args.is_empty(), "method boom");
        Ok(Value::Null)
    });
    engine.register_factory("server.*", |_: &SoKey, s: &mut SoSetup| {
        s.listener(Presence)
            .retention(Retention::Linger(0))
            .send_handler(
                "",
                "say",
                |cx: &mut Context<'_>, so: &SoKey, _: ClientId, _: &str, args: &[Value]| {
                    let last = args.first().cloned().unwrap_or(Value::Null);
                    // A handler that panics: its send is refused, not broadcast.
                    assert!(last != Value::from(4.0), "send handler boom");
                    let _ = cx.set(so, "last", last);
                },
            );
    });
    engine
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// USE sent, no USE_SUCCESS yet.
    Connecting,
    Open,
}

/// One SO as a client holds it.
struct Link {
    state: State,
    attrs: BTreeMap<Str, Value>,
    version: u32,
    /// Values written and not yet answered, per key, oldest first.
    pending: BTreeMap<Str, VecDeque<Value>>,
}

impl Link {
    fn connecting() -> Self {
        Self {
            state: State::Connecting,
            attrs: BTreeMap::new(),
            version: 0,
            pending: BTreeMap::new(),
        }
    }

    fn put(&mut self, key: &Str, value: &Value) {
        if value.is_null_or_undefined() {
            self.attrs.remove(key);
        } else {
            self.attrs.insert(key.clone(), value.clone());
        }
    }

    fn answered(&mut self, key: &Str) -> Option<Value> {
        self.pending.get_mut(key)?.pop_front()
    }
}

/// What one client believes, built only from what it sent and received,
/// with the rule the crate docs give for rebuilding an SO: apply events in
/// order; a SUCCESS means the key now holds the value this client wrote
/// (re-applied, since another client's CHANGE may have arrived after the
/// local write); a refused write is a STATUS followed by the key's
/// authoritative value.
#[derive(Default)]
struct ClientModel {
    scope: Option<&'static str>,
    links: BTreeMap<&'static str, Link>,
    /// Messages on their way to the server.
    inflight: VecDeque<SharedObjectMessage>,
    history: Vec<String>,
}

impl ClientModel {
    fn receive(&mut self, m: &SharedObjectMessage) {
        self.history.push(format!("recv {m:?}"));
        let Some(name) = NAMES.iter().find(|n| **n == m.name) else {
            panic!("message for unexpected SO {:?}", m.name);
        };
        let Some(link) = self.links.get_mut(name) else {
            return; // closed locally: ignored, as a real client does
        };
        if link.state == State::Connecting && !m.events.contains(&SoEvent::UseSuccess) {
            // Either the USE is refused, or a write sent before the SO was
            // destroyed finds nothing (ignored: the USE is still coming).
            let [SoEvent::Status { code, .. }] = &m.events[..] else {
                panic!("unexpected before USE_SUCCESS: {m:?}");
            };
            if code != status::NO_OBJECT_FOUND {
                self.links.remove(name);
            }
            return;
        }
        let mut refused = false;
        for event in &m.events {
            let was_refused = std::mem::take(&mut refused);
            match event {
                SoEvent::UseSuccess => {
                    link.state = State::Open;
                    link.version = m.version;
                }
                SoEvent::Clear => link.attrs.clear(),
                SoEvent::Change { key, value } => {
                    if was_refused {
                        link.answered(key);
                    }
                    link.put(key, value);
                }
                SoEvent::Remove { key } => {
                    if was_refused {
                        link.answered(key);
                    }
                    link.attrs.remove(key);
                }
                SoEvent::Success { key } => {
                    let value = link.answered(key).expect("SUCCESS answers a write");
                    link.put(key, &value);
                }
                SoEvent::Status { code, .. } if code == status::OBJECT_DESTROYED => {
                    // A USE still on its way will be answered: wait for it.
                    let using = self
                        .inflight
                        .iter()
                        .any(|i| i.name == *name && i.events.contains(&SoEvent::Use));
                    if using {
                        *link = Link::connecting();
                    } else {
                        self.links.remove(name);
                    }
                    return;
                }
                SoEvent::Status { code, .. } => {
                    refused = code == status::NO_WRITE_ACCESS || code == status::LIMIT_EXCEEDED;
                }
                _ => {}
            }
        }
        if m.version != 0 {
            assert!(
                m.version >= link.version,
                "version went back from {} to {}",
                link.version,
                m.version
            );
            link.version = m.version;
        }
    }
}

struct Sim {
    rng: Rng,
    engine: Engine,
    now: Tick,
    clients: BTreeMap<u64, ClientModel>,
    /// Every output, for replay comparison.
    transcript: Vec<Output>,
    /// The store as the persist outputs describe it.
    store: BTreeMap<SoKey, Snapshot>,
    batches: Vec<SoKey>,
    acquired: Vec<SoKey>,
    /// SOs the server locked (the engine may have dropped a lock since: it
    /// expired, or its SO was destroyed).
    locked: Vec<SoKey>,
    /// Locks taken.
    locks: usize,
    /// Client messages delivered to a locked SO: held by the engine, so not
    /// answered yet (the client waits before it USEs that SO again).
    held: BTreeSet<(u64, SoKey)>,
    /// Client messages delivered while their SO was locked.
    held_messages: usize,
    checks: usize,
    /// The hooks seen panicking.
    panicked: BTreeSet<&'static str>,
    /// Clients whose connect was rejected (a connect hook panicked).
    rejected: BTreeSet<ClientId>,
}

impl Sim {
    fn new(seed: u64) -> Self {
        Self {
            rng: Rng::new(seed),
            engine: engine(),
            now: Tick::ZERO,
            clients: (1..=CLIENTS).map(|c| (c, ClientModel::default())).collect(),
            transcript: Vec::new(),
            store: BTreeMap::new(),
            batches: Vec::new(),
            acquired: Vec::new(),
            locked: Vec::new(),
            locks: 0,
            held: BTreeSet::new(),
            held_messages: 0,
            checks: 0,
            panicked: BTreeSet::new(),
            rejected: BTreeSet::new(),
        }
    }

    fn apply(&mut self, input: Input) -> Result<(), EngineMisuse> {
        let mut out = Vec::new();
        let result = self.engine.handle_input(self.now, input, &mut out);
        self.absorb(out);
        result
    }

    fn step(&mut self) {
        let client = 1 + self.rng.next() % CLIENTS;
        match self.rng.below(100) {
            0..=9 => self.toggle_connection(client),
            10..=11 => self.call(client),
            12..=54 => self.client_acts(client),
            55..=74 => self.deliver_some(),
            75..=89 => self.server_acts(),
            _ => {
                self.now = self.now.plus_millis(self.rng.next() % 30);
                self.apply(Input::Tick).unwrap();
            }
        }
        self.check_retention();
    }

    fn toggle_connection(&mut self, client: u64) {
        let id = ClientId(client);
        if self.clients[&client].scope.is_some() {
            self.clients.insert(client, ClientModel::default());
            self.held.retain(|(c, _)| *c != client);
            self.apply(Input::ClientLeft { client: id }).unwrap();
        } else {
            let scope = *self.rng.pick(&SCOPES);
            let encoding = if client.is_multiple_of(3) {
                Encoding::Amf3
            } else {
                Encoding::Amf0
            };
            self.apply(Input::ClientConnected {
                client: id,
                scope: ScopePath::new(scope).unwrap(),
                encoding,
                args: vec![],
            })
            .unwrap();
            if !self.rejected.remove(&id) {
                self.clients.get_mut(&client).unwrap().scope = Some(scope);
            }
        }
    }

    /// A call to a method that panics on some arguments: `_error`, never a
    /// reply missing.
    fn call(&mut self, client: u64) {
        if self.clients[&client].scope.is_none() {
            return;
        }
        let args = if self.rng.chance(50) {
            vec![Value::Null]
        } else {
            vec![]
        };
        let panics = !args.is_empty();
        let mut out = Vec::new();
        self.engine
            .handle_input(
                self.now,
                Input::Call {
                    client: ClientId(client),
                    transaction_id: 2.0,
                    method: "boom".into(),
                    args,
                },
                &mut out,
            )
            .unwrap();
        let reply = out.iter().find_map(|o| match o {
            Output::CallReply { reply, .. } => Some(reply.is_ok()),
            _ => None,
        });
        assert_eq!(reply, Some(!panics), "{out:?}");
        self.absorb(out);
    }

    fn client_acts(&mut self, client: u64) {
        let name = *self.rng.pick(&NAMES);
        let rng = &mut self.rng;
        let model = self.clients.get_mut(&client).unwrap();
        if model.scope.is_none() {
            return;
        }
        let open = model
            .links
            .get(name)
            .is_some_and(|l| l.state == State::Open);
        // A client (re)connects an SO only once its earlier requests for it
        // were answered; otherwise a stale USE reply could not be told from
        // the fresh one.
        let held = model.scope.is_some_and(|scope| {
            let so = SoKey::new(ScopePath::new(scope).unwrap(), name);
            self.held.contains(&(client, so))
        });
        let busy = held || model.inflight.iter().any(|m| m.name == name);
        let mut events = Vec::new();
        if !open || rng.chance(5) {
            if busy {
                return;
            }
            model.links.entry(name).or_insert_with(Link::connecting);
            events.push(SoEvent::Use);
        } else {
            let count = 1 + rng.below(3);
            for _ in 0..count {
                let key: Str = (*rng.pick(&KEYS)).into();
                let link = model.links.get_mut(name).unwrap();
                let event = match rng.below(10) {
                    0..=5 => {
                        let value = match rng.below(4) {
                            0 => Value::Null,
                            1 => Value::from(format!("s{}", rng.below(3))),
                            _ => Value::from(rng.below(4) as f64),
                        };
                        // Flash applies its own writes at once.
                        link.put(&key, &value);
                        link.pending
                            .entry(key.clone())
                            .or_default()
                            .push_back(value.clone());
                        SoEvent::RequestChange { key, value }
                    }
                    6 | 7 => SoEvent::RequestRemove { key },
                    _ => SoEvent::SendMessage {
                        method: (*rng.pick(&["say", "ping", "a.b.say"])).into(),
                        args: vec![Value::from(rng.below(5) as f64)],
                    },
                };
                // A send goes alone: a refused one is a STATUS with nothing
                // after it that this model could take for a rollback.
                if matches!(event, SoEvent::SendMessage { .. }) {
                    if events.is_empty() {
                        events.push(event);
                    }
                    break;
                }
                events.push(event);
            }
            if rng.chance(10) {
                events.push(SoEvent::Release);
                model.links.remove(name);
            }
        }
        model.history.push(format!("send {name} {events:?}"));
        model.inflight.push_back(SharedObjectMessage {
            name: name.into(),
            version: 0,
            persistent: persistent(name),
            events,
        });
    }

    /// Delivers the oldest in-flight messages of a few random clients.
    fn deliver_some(&mut self) {
        for _ in 0..1 + self.rng.below(4) {
            let client = 1 + self.rng.next() % CLIENTS;
            let next = self.clients.get_mut(&client).unwrap().inflight.pop_front();
            if let Some(message) = next {
                self.note_held(client, &message);
                self.apply(Input::SharedObject {
                    client: ClientId(client),
                    message,
                })
                .unwrap();
            }
        }
    }

    /// Records a message the engine will hold because its SO is locked.
    fn note_held(&mut self, client: u64, message: &SharedObjectMessage) {
        let Some(scope) = self.clients[&client].scope else {
            return;
        };
        let so = SoKey::new(ScopePath::new(scope).unwrap(), message.name.as_str());
        if self.locked.contains(&so) {
            self.held.insert((client, so));
            self.held_messages += 1;
        }
    }

    fn server_acts(&mut self) {
        let live: Vec<SoKey> = {
            let view = self.engine.view();
            view.scopes()
                .flat_map(|s| view.names(s).map(|n| SoKey::new(s.clone(), n)))
                .collect()
        };
        if live.is_empty() {
            return;
        }
        let so = self.rng.pick(&live).clone();
        let key = *self.rng.pick(&KEYS);
        let value = Value::from(self.rng.below(4) as f64);
        let mut out = Vec::new();
        let mut server = self.engine.server(self.now, &mut out);
        let connected: Vec<u64> = self
            .clients
            .iter()
            .filter(|(_, m)| m.scope.is_some())
            .map(|(c, _)| *c)
            .collect();
        let result = match self.rng.below(16) {
            12 if !connected.is_empty() => {
                let client = ClientId(*self.rng.pick(&connected));
                server.disconnect(client, "kicked")
            }
            0..=2 => server.set(&so, key, value),
            3 => server.set_many(&so, [(key, value), ("n", Value::Null)]),
            4 => server.remove(&so, key),
            5 => server.clear(&so),
            6 => server.send(&so, "notice", vec![]),
            7 => server.destroy(&so),
            8 => {
                self.batches.push(so.clone());
                server.begin_update(&so)
            }
            9 => match self.batches.pop() {
                Some(b) => server.end_update(&b).or(Ok(())),
                None => Ok(()),
            },
            10 => {
                self.acquired.push(so.clone());
                server.acquire(&so)
            }
            13 | 14 if !self.locked.contains(&so) => {
                self.locked.push(so.clone());
                self.locks += 1;
                server.lock(&so)
            }
            13..=15 => match self.locked.pop() {
                // Gone or expired meanwhile: nothing to unlock.
                Some(l) => {
                    self.held.retain(|(_, so)| *so != l);
                    server.unlock(&l).or(Ok(()))
                }
                None => Ok(()),
            },
            _ => match self.acquired.pop() {
                Some(a) => server.release(&a).or(Ok(())),
                None => Ok(()),
            },
        };
        result.unwrap();
        self.absorb(out);
    }

    /// Delivers outputs to the client models and the store model.
    fn absorb(&mut self, out: Vec<Output>) {
        let mut kicked = Vec::new();
        for o in out {
            match &o {
                Output::SharedObject {
                    to, encoding, body, ..
                } => {
                    let message = decode(body, *encoding);
                    for client in to {
                        self.clients.get_mut(&client.0).unwrap().receive(&message);
                    }
                }
                Output::Persist { so, snapshot } => {
                    self.store.insert(so.clone(), (**snapshot).clone());
                }
                Output::DeletePersisted { so } => {
                    self.store.remove(so);
                }
                Output::Disconnect { client, .. } => {
                    self.clients.insert(client.0, ClientModel::default());
                    self.held.retain(|(c, _)| *c != client.0);
                    kicked.push(*client);
                }
                // The engine let the lock go: what it held was applied.
                Output::LockExpired { so } | Output::SoDestroyed { so } => {
                    self.locked.retain(|l| l != so);
                    self.held.retain(|(_, h)| h != so);
                }
                Output::ConnectRejected { client, .. } => {
                    self.rejected.insert(*client);
                }
                Output::HookFailed {
                    error: EngineMisuse::HookPanicked(panic),
                } => {
                    self.panicked.insert(panic.hook);
                }
                // Hooks here only touch SOs that exist when they run.
                Output::HookFailed { error } => panic!("hook failed: {error}"),
                _ => {}
            }
            self.transcript.push(o);
        }
        // The adapter reports the closed connections.
        for client in kicked {
            self.apply(Input::ClientLeft { client }).unwrap();
        }
    }

    /// No transient SO is alive past its retention.
    fn check_retention(&self) {
        let view = self.engine.view();
        for scope in view.scopes() {
            for name in view.names(scope) {
                let so = view
                    .shared_object(&SoKey::new(scope.clone(), name))
                    .unwrap();
                let idle =
                    !so.is_persistent() && so.subscriber_count() == 0 && so.acquire_count() == 0;
                match (idle, so.retention()) {
                    (true, Retention::Linger(ms)) => {
                        let due = so.expires_at().expect("an idle SO has its linger armed");
                        assert!(ms > 0 && due > self.now && due <= self.now.plus_millis(ms));
                    }
                    _ => assert_eq!(so.expires_at(), None),
                }
            }
        }
    }

    /// Deliver everything, close batches, then compare every view.
    fn quiesce_and_check(&mut self) {
        let mut out = Vec::new();
        let mut server = self.engine.server(self.now, &mut out);
        for so in self.batches.drain(..) {
            let _ = server.end_update(&so);
        }
        // Unlocking replays the held client messages.
        for so in self.locked.drain(..) {
            let _ = server.unlock(&so);
        }
        self.held.clear();
        self.absorb(out);
        for client in 1..=CLIENTS {
            while let Some(message) = self.clients.get_mut(&client).unwrap().inflight.pop_front() {
                self.apply(Input::SharedObject {
                    client: ClientId(client),
                    message,
                })
                .unwrap();
            }
        }
        let view = self.engine.view();
        for (client, model) in &self.clients {
            let Some(scope) = model.scope else {
                continue;
            };
            for name in NAMES {
                let so = view.shared_object(&SoKey::new(ScopePath::new(scope).unwrap(), name));
                let subscribed = so.is_some_and(|s| s.subscribers().any(|c| c.0 == *client));
                match model.links.get(name) {
                    Some(link) if link.state == State::Open => {
                        let so = so.unwrap_or_else(|| panic!("{client} holds a dead {name}"));
                        assert!(subscribed, "client {client} thinks it holds {scope}:{name}");
                        let engine_attrs: BTreeMap<Str, Value> = so
                            .attributes()
                            .map(|(k, v)| (k.into(), v.clone()))
                            .collect();
                        if link.attrs != engine_attrs {
                            for h in &model.history {
                                if h.contains(name) {
                                    eprintln!("{h}");
                                }
                            }
                        }
                        assert_eq!(link.attrs, engine_attrs, "client {client} {scope}:{name}");
                        assert_eq!(link.version, so.version(), "client {client} {scope}:{name}");
                        assert!(link.pending.values().all(VecDeque::is_empty));
                    }
                    Some(_) => panic!("client {client}: USE unanswered"),
                    None => {
                        if subscribed {
                            for h in &model.history {
                                if h.contains(name) {
                                    eprintln!("{h}");
                                }
                            }
                        }
                        assert!(!subscribed, "client {client} unaware of {scope}:{name}");
                    }
                }
            }
        }
        self.checks += 1;
    }

    fn run(seed: u64, steps: usize) -> Self {
        let mut sim = Self::new(seed);
        for i in 0..steps {
            sim.step();
            if i % 150 == 149 {
                sim.quiesce_and_check();
            }
        }
        sim.quiesce_and_check();
        // Leave, then everything must be in the store the outputs describe.
        sim.apply(Input::Shutdown).unwrap();
        for client in 1..=CLIENTS {
            let _ = sim.apply(Input::ClientLeft {
                client: ClientId(client),
            });
        }
        for (so, snapshot) in &sim.store {
            assert_eq!(sim.engine.snapshot(so).as_ref(), Some(snapshot), "{so}");
        }
        for scope in SCOPES {
            let so = SoKey::new(ScopePath::new(scope).unwrap(), "p");
            assert_eq!(
                sim.engine.snapshot(&so),
                sim.store.get(&so).cloned(),
                "{so}"
            );
        }
        sim
    }
}

#[test]
fn simulation_keeps_every_view_in_sync() {
    let mut seen = BTreeMap::<&str, usize>::new();
    let mut panicked = BTreeSet::new();
    let mut held = 0;
    for seed in 1..=12 {
        let sim = Sim::run(seed, 3000);
        assert!(sim.checks >= 20);
        assert!(sim.locks >= 10, "locks: {}", sim.locks);
        held += sim.held_messages;
        assert!(sim.engine.hook_panics() >= sim.panicked.len() as u64);
        panicked.extend(sim.panicked.iter().copied());
        for o in &sim.transcript {
            let what = match o {
                Output::SharedObject { body, encoding, .. } => {
                    let m = decode(body, *encoding);
                    let status = m
                        .events
                        .iter()
                        .find(|e| matches!(e, SoEvent::Status { .. }));
                    match status.or_else(|| m.events.first()) {
                        Some(SoEvent::Status { code, .. }) => match code.as_str() {
                            status::NO_WRITE_ACCESS => "refused write",
                            status::OBJECT_DESTROYED => "destroyed with subscribers",
                            status::NO_OBJECT_FOUND => "late message",
                            _ => "other status",
                        },
                        Some(SoEvent::UseSuccess) => "use",
                        _ => "update",
                    }
                }
                Output::Persist { .. } => "persist",
                Output::DeletePersisted { .. } => "delete persisted",
                Output::SoDestroyed { .. } => "so destroyed",
                Output::ScopeStopped { .. } => "scope stopped",
                Output::LockExpired { .. } => "lock expired",
                _ => "other",
            };
            *seen.entry(what).or_default() += 1;
        }
    }
    assert!(held >= 100, "client messages held by locks: {held}");
    // The random walk reaches every interesting path, often.
    for what in [
        "refused write",
        "destroyed with subscribers",
        "late message",
        "use",
        "update",
        "persist",
        "delete persisted",
        "so destroyed",
        "scope stopped",
        "lock expired",
    ] {
        assert!(
            seen.get(what).copied().unwrap_or(0) >= 10,
            "{what}: {seen:?}"
        );
    }
    // A panic at every hook point, and the views stayed in sync.
    let every: BTreeSet<&str> = [
        "app_connect",
        "app_join",
        "room_start",
        "room_leave",
        "room_stop",
        "app_stop",
        "factory",
        "on_update",
        "on_connect",
        "on_destroy",
        "is_creation_allowed",
        "is_connection_allowed",
        "is_write_allowed",
        "is_delete_allowed",
        "is_send_allowed",
        "send_handler",
        "method",
    ]
    .into();
    let missing: Vec<_> = every.difference(&panicked).collect();
    assert!(missing.is_empty(), "no panic seen in {missing:?}");
}

#[test]
fn replaying_a_seed_gives_the_same_outputs() {
    let a = Sim::run(77, 2000).transcript;
    let b = Sim::run(77, 2000).transcript;
    assert_eq!(a.len(), b.len());
    assert!(a == b, "replay diverged");
    let c = Sim::run(78, 2000).transcript;
    assert!(a != c, "different seeds should differ");
}
