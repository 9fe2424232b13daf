//! B1 and B2 (BENCHMARKS.md): the SharedObject engine alone, no I/O.
//!
//! The server's engine thread is reproduced without its threads: a
//! [`Hub`] around an [`Engine`] (default configuration, default hooks),
//! and one [`OutboundQueue`] per client in a `BTreeMap` by client id, as
//! adapter-core's engine thread keeps its mailboxes. The deliveries the
//! hub routes are split by client ([`Handover`]) and each client's run is
//! pushed into its queue, which is where the real server hands a body to
//! a connection. What the adapter adds around that
//! push is left out: the mailbox's mutex and the wake-up of the connection
//! task (synchronisation, counted end to end in C1). The connection's side,
//! taking the queue's contents and framing them, is not timed either
//! ([`Measured::settle`] runs between updates, untimed, as another thread
//! would; framing is A2).
//!
//! All clients use AMF0 and are in the scope `chat/lobby`, subscribed to
//! its transient SO `chat`.
//!
//! - **B1** ([`Fanout`]): N subscribers; client 1 sets `alice` to
//!   `object10` (BENCHMARKS.md, Fixtures), then to `object10` with `x` one
//!   higher, alternately, so that every update is a change. The writer
//!   gets SUCCESS, the N − 1 others CHANGE: two bodies encoded per update,
//!   N deliveries. [`EngineOnly`] is the same update through
//!   [`Engine::handle_input`] alone, without hub and queues.
//! - **B2** ([`InitialSync`]): the SO holds K attributes `k0`..`k{K−1}`,
//!   `k{i}` = the number `i`; a client subscribed to nothing USEs it and
//!   gets USE_SUCCESS, CLEAR and K CHANGEs in one body. It RELEASEs it,
//!   untimed, before the next join.
//!
//! The input each update or join consumes is built beforehand, untimed: a
//! real server gets it from the message decoder (A4).

use std::collections::BTreeMap;
use std::time::Instant;

use rtmp_proto::amf::{Encoding, Str, Value};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use so_engine::server::{
    ClientCommand, Effects, Handover, Hub, HubConfig, OutboundQueue, QueueLimits,
};
use so_engine::{ClientId, Engine, EngineConfig, Input, Output, ScopePath, ServerOp, SoKey, Tick};

use crate::amf::object10;

/// B1's subscriber counts.
pub const FANOUT_SUBSCRIBERS: [usize; 3] = [10, 100, 1000];
/// B2's attribute counts.
pub const SYNC_SLOTS: [usize; 2] = [100, 1000];

/// The scope every client connects to.
const SCOPE: &str = "chat/lobby";
/// The SO every client uses.
const SO_NAME: &str = "chat";
/// The attribute B1's writer sets.
const KEY: &str = "alice";
/// B1's writer; B2's holder, who keeps the SO alive between joins.
const FIRST: ClientId = ClientId(1);

/// The engine thread of a server with its clients' queues.
struct Server {
    hub: Hub,
    effects: Effects,
    handover: Handover,
    queues: BTreeMap<ClientId, OutboundQueue>,
    /// The time every input is given: the engine's timers never matter here.
    now: Instant,
    /// Where queues are drained to.
    taken: Vec<ClientCommand>,
}

impl Server {
    fn new() -> Self {
        let now = Instant::now();
        let engine = Engine::new(EngineConfig::default(), ());
        Self {
            hub: Hub::new(engine, HubConfig::default(), now),
            effects: Effects::default(),
            handover: Handover::default(),
            queues: BTreeMap::new(),
            now,
            taken: Vec::new(),
        }
    }

    /// Applies `input` and pushes each delivery into its client's queue;
    /// returns how many were queued.
    fn handle(&mut self, input: Input) -> usize {
        self.hub.handle_input(self.now, input, &mut self.effects);
        self.hand_over()
    }

    /// Splits the gathered deliveries into the clients' queues; returns
    /// how many were queued.
    fn hand_over(&mut self) -> usize {
        let mut queued = 0;
        let queues = &mut self.queues;
        self.handover
            .split(&mut self.effects.deliveries, |to, run| {
                if let Some(queue) = queues.get_mut(&to) {
                    for (command, key) in run.drain(..) {
                        if queue.push(command, key).is_ok() {
                            queued += 1;
                        }
                    }
                }
            });
        self.effects.store_batch.clear();
        self.effects.events.clear();
        queued
    }

    /// Connects `client` to [`SCOPE`] and makes it use [`SO_NAME`].
    fn join(&mut self, client: ClientId) {
        self.queues
            .insert(client, OutboundQueue::new(QueueLimits::default()));
        self.handle(connect(client));
        self.handle(so_message(client, vec![SoEvent::Use]));
    }

    /// Empties every client's queue, as their connections would; returns
    /// the SharedObject body bytes taken.
    fn drain(&mut self) -> usize {
        let mut bytes = 0;
        for queue in self.queues.values_mut() {
            queue.drain_into(&mut self.taken);
            bytes += body_bytes(&self.taken);
            self.taken.clear();
        }
        bytes
    }
}

/// One case as the bench, `insn` and the allocation count run it: build
/// the input (untimed), run the measured call, settle (untimed) so that the
/// next run starts from the same state.
pub trait Measured {
    /// What one run consumes.
    type Input;
    /// The next run's input.
    fn input(&mut self) -> Self::Input;
    /// The measured call; returns how many messages it queued or output.
    fn run(&mut self, input: Self::Input) -> usize;
    /// Undoes or takes what the run left (queues drained, a subscription
    /// released); returns the body bytes taken, if that is what it does.
    fn settle(&mut self) -> usize;
}

/// Runs `case` once: builds the input, hands `measure` the measured call
/// (to time it, count its allocations...), settles; returns what `measure`
/// returned. The call runs once, however often `measure` calls it.
pub fn run_once<C: Measured, M>(
    case: &mut C,
    measure: impl FnOnce(&mut dyn FnMut() -> usize) -> M,
) -> M {
    let mut input = Some(case.input());
    let measured = measure(&mut || input.take().map_or(0, |input| case.run(input)));
    case.settle();
    measured
}

/// The writer's two updates, alternately: `object10`, and `object10` with
/// `x` one higher, so that every update is a change.
struct Updates {
    inputs: [Input; 2],
    turn: usize,
}

impl Updates {
    fn new() -> Self {
        Self::keyed(FIRST, KEY)
    }

    /// `writer`'s two updates of `key`.
    fn keyed(writer: ClientId, key: &str) -> Self {
        let mut moved = object10();
        if let Value::Object(object) = &mut moved
            && let Some((_, Value::Number(x))) =
                object.properties.iter_mut().find(|(k, _)| k == "x")
        {
            *x += 1.0;
        }
        let inputs = [object10(), moved].map(|value| {
            so_message(
                writer,
                vec![SoEvent::RequestChange {
                    key: key.into(),
                    value,
                }],
            )
        });
        Self { inputs, turn: 0 }
    }

    /// The value other than the current one.
    fn next(&mut self) -> Input {
        self.turn ^= 1;
        self.inputs[self.turn].clone()
    }
}

/// B1: one SO with N subscribers, updated by one of them.
pub struct Fanout {
    server: Server,
    updates: Updates,
}

impl Fanout {
    /// N clients subscribed to the SO, queues empty.
    pub fn new(subscribers: usize) -> Self {
        let mut server = Server::new();
        for client in clients(subscribers) {
            server.join(client);
        }
        server.drain();
        Self {
            server,
            updates: Updates::new(),
        }
    }

    /// Applies one update and queues its deliveries; returns how many
    /// were queued (one per subscriber).
    #[inline(never)]
    pub fn update(&mut self, input: Input) -> usize {
        self.server.handle(input)
    }
}

impl Measured for Fanout {
    type Input = Input;
    fn input(&mut self) -> Input {
        self.updates.next()
    }

    fn run(&mut self, input: Input) -> usize {
        self.update(input)
    }

    /// Empties every queue, as the connections would between updates.
    fn settle(&mut self) -> usize {
        self.server.drain()
    }
}

/// B1 without hub and queues: [`Engine::handle_input`] and its outputs.
pub struct EngineOnly {
    engine: Engine,
    outputs: Vec<Output>,
    updates: Updates,
}

impl EngineOnly {
    /// N clients subscribed to the SO.
    pub fn new(subscribers: usize) -> Self {
        let mut engine = Engine::new(EngineConfig::default(), ());
        let mut outputs = Vec::new();
        for client in clients(subscribers) {
            for input in [connect(client), so_message(client, vec![SoEvent::Use])] {
                engine
                    .handle_input(Tick::ZERO, input, &mut outputs)
                    .expect("the setup is valid");
            }
        }
        outputs.clear();
        Self {
            engine,
            outputs,
            updates: Updates::new(),
        }
    }

    /// Applies one update; returns how many deliveries its outputs make
    /// (a SharedObject output is one per recipient).
    #[inline(never)]
    pub fn update(&mut self, input: Input) -> usize {
        if self
            .engine
            .handle_input(Tick::ZERO, input, &mut self.outputs)
            .is_err()
        {
            return 0;
        }
        self.outputs
            .iter()
            .map(|o| match o {
                Output::SharedObject { to, .. } => to.len(),
                _ => 1,
            })
            .sum()
    }

    /// How many of the outputs are SharedObject messages (bodies, each
    /// with its recipients).
    pub fn bodies(&self) -> usize {
        self.outputs
            .iter()
            .filter(|o| matches!(o, Output::SharedObject { .. }))
            .count()
    }
}

impl Measured for EngineOnly {
    type Input = Input;
    fn input(&mut self) -> Input {
        self.updates.next()
    }

    fn run(&mut self, input: Input) -> usize {
        self.update(input)
    }

    /// Drops the outputs, as the caller carrying them out would.
    fn settle(&mut self) -> usize {
        self.outputs.clear();
        0
    }
}

/// B3: [`TICK_WRITERS`] writers, each setting its own key, one update
/// each per hand-over (a delivery tick of the server), N subscribers. The
/// connections take their queues after every other hand-over, so half the
/// updates find the previous CHANGE of their key still queued and replace
/// it (coalescing). This is the engine thread's share of C1 b8.
pub struct TickFanout {
    server: Server,
    /// Each writer's two updates.
    updates: Vec<Updates>,
    ticks: usize,
}

/// B3's writers (clients 1 to 8) and keys.
pub const TICK_WRITERS: usize = 8;

impl TickFanout {
    /// N clients subscribed to the SO, queues empty.
    pub fn new(subscribers: usize) -> Self {
        let mut server = Server::new();
        for client in clients(subscribers) {
            server.join(client);
        }
        server.drain();
        let updates = (1..=TICK_WRITERS as u64)
            .map(|w| Updates::keyed(ClientId(w), &format!("w{w}")))
            .collect();
        Self {
            server,
            updates,
            ticks: 0,
        }
    }

    /// Applies one update of every writer, then hands the deliveries
    /// over at once; returns how many were queued.
    #[inline(never)]
    pub fn tick(&mut self, inputs: Vec<Input>) -> usize {
        for input in inputs {
            self.server
                .hub
                .handle_input(self.server.now, input, &mut self.server.effects);
        }
        self.server.hand_over()
    }
}

impl Measured for TickFanout {
    type Input = Vec<Input>;
    fn input(&mut self) -> Vec<Input> {
        self.updates.iter_mut().map(Updates::next).collect()
    }

    fn run(&mut self, inputs: Vec<Input>) -> usize {
        self.tick(inputs)
    }

    /// Empties every queue after every other hand-over.
    fn settle(&mut self) -> usize {
        self.ticks += 1;
        if self.ticks.is_multiple_of(2) {
            self.server.drain()
        } else {
            0
        }
    }
}

/// B2: an SO holding K attributes, joined and left by one more client.
pub struct InitialSync {
    server: Server,
    joiner: ClientId,
}

impl InitialSync {
    /// The holder subscribed to an SO of `slots` attributes; the joiner
    /// connected, subscribed to nothing.
    pub fn new(slots: usize) -> Self {
        let mut server = Server::new();
        server.join(FIRST);
        let so = SoKey::new(scope(), SO_NAME);
        let values = (0..slots)
            .map(|i| (Str::from(format!("k{i}")), Value::Number(i as f64)))
            .collect();
        server.handle(Input::Server(ServerOp::SetMany { so, values }));
        let joiner = ClientId(2);
        server
            .queues
            .insert(joiner, OutboundQueue::new(QueueLimits::default()));
        server.handle(connect(joiner));
        server.drain();
        Self { server, joiner }
    }

    /// Applies the USE and queues the answer; returns how many messages
    /// were queued (one).
    #[inline(never)]
    pub fn join(&mut self, input: Input) -> usize {
        self.server.handle(input)
    }
}

impl Measured for InitialSync {
    type Input = Input;
    /// The joiner's USE.
    fn input(&mut self) -> Input {
        so_message(self.joiner, vec![SoEvent::Use])
    }

    fn run(&mut self, input: Input) -> usize {
        self.join(input)
    }

    /// Takes the joiner's answer out of its queue and RELEASEs the SO, so
    /// that the next join is a new subscription; returns the body bytes
    /// the joiner received.
    fn settle(&mut self) -> usize {
        let bytes = self.server.drain();
        self.server
            .handle(so_message(self.joiner, vec![SoEvent::Release]));
        bytes
    }
}

/// Allocations per run of `case` (per B1 update, per B2 join), averaged
/// over `runs` runs after a warm-up (queues and output buffers at their
/// working size). Only the measured call is counted, not building its
/// input or settling. 0 unless [`Counting`](crate::alloc_count::Counting)
/// is the global allocator.
pub fn allocations_per_run(case: &mut impl Measured, runs: u64) -> f64 {
    for _ in 0..WARM_UP {
        run_once(case, |run| run());
    }
    let total: u64 = (0..runs)
        .map(|_| run_once(case, |run| crate::alloc_count::count(run).1))
        .sum();
    total as f64 / runs as f64
}

/// Updates or joins run before counting: the first ones grow buffers.
const WARM_UP: usize = 4;

fn scope() -> ScopePath {
    ScopePath::new(SCOPE).expect("a valid scope path")
}

fn clients(count: usize) -> impl Iterator<Item = ClientId> {
    (1..=count as u64).map(ClientId)
}

fn connect(client: ClientId) -> Input {
    Input::ClientConnected {
        client,
        scope: scope(),
        encoding: Encoding::Amf0,
        args: Vec::new(),
    }
}

fn so_message(client: ClientId, events: Vec<SoEvent>) -> Input {
    Input::SharedObject {
        client,
        message: SharedObjectMessage {
            name: SO_NAME.into(),
            version: 0,
            persistent: false,
            events,
        },
    }
}

fn body_bytes(commands: &[ClientCommand]) -> usize {
    commands
        .iter()
        .map(|c| match c {
            ClientCommand::SharedObject(body) => body.len(),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An AMF0 SO message body for `chat`: name, version, flags, reserved.
    const HEADER: usize = 2 + SO_NAME.len() + 4 + 4 + 4;
    /// An event's type and length.
    const EVENT: usize = 1 + 4;

    #[test]
    fn an_update_reaches_every_subscriber_once() {
        let mut fanout = Fanout::new(10);
        let change = HEADER + EVENT + 2 + KEY.len() + crate::amf::OBJECT10_AMF0_LEN;
        let success = HEADER + EVENT + 2 + KEY.len();
        for _ in 0..3 {
            let input = fanout.input();
            assert_eq!(fanout.update(input), 10);
            assert_eq!(fanout.settle(), 9 * change + success);
        }
        let mut engine = EngineOnly::new(10);
        for _ in 0..3 {
            let input = engine.input();
            assert_eq!(engine.update(input), 10);
            // SUCCESS to the writer, CHANGE to the 9 others.
            assert_eq!(engine.bodies(), 2);
            engine.settle();
        }
    }

    #[test]
    fn a_join_gets_the_whole_state_in_one_message() {
        for slots in SYNC_SLOTS {
            let mut sync = InitialSync::new(slots);
            // USE_SUCCESS, CLEAR, then per attribute: key, number (9 bytes).
            let keys: usize = (0..slots).map(|i| format!("k{i}").len()).sum();
            let expected = HEADER + 2 * EVENT + slots * (EVENT + 2 + 9) + keys;
            for _ in 0..3 {
                let input = sync.input();
                assert_eq!(sync.join(input), 1);
                assert_eq!(sync.settle(), expected, "K = {slots}");
            }
        }
    }
}
