//! A seeded simulation: many clients in several rooms doing random uses,
//! writes, removes, sends, releases and disconnects, with random latency on
//! the way in, plus server-side operations. At every quiescent point each
//! subscriber's view, rebuilt only from the messages it received, equals the
//! engine's state; versions never go backwards; no transient SO outlives its
//! retention; the persist outputs rebuild the store; a replay of a seed
//! gives the same outputs. A hook panics now and then at every hook point
//! (lifecycle, connect, factory, listener, security, send handler, method,
//! `call_result`): the same invariants hold.
//!
//! Here the driver; the engine's hooks in `hooks`, a client's view in
//! `model`, the checks and the tests in `checks`.

mod checks;
mod hooks;
mod model;

use std::collections::{BTreeMap, BTreeSet};

use rtmp_proto::amf::{Encoding, Str, Value};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use so_engine::{
    ClientId, Engine, EngineMisuse, Input, Output, ScopePath, ServerApi, Snapshot, SoKey, Tick,
};

use self::hooks::engine;
use self::model::{ClientModel, Link, State};
use crate::support::{Rng, decode};

const SCOPES: [&str; 4] = ["app", "app/r0", "app/r1", "app/r1/deep"];
const NAMES: [&str; 5] = ["chat", "game", "server.presence", "p", "lobby"];
const KEYS: [&str; 5] = ["a", "b", "c", "ro.x", "n"];
const CLIENTS: u64 = 14;
const LINGER_MS: u64 = 40;

fn persistent(name: &str) -> bool {
    name == "p"
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
                Output::LockExpired { so } | Output::SoDestroyed { so, .. } => {
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
