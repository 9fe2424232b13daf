//! The sans-IO server around the engine, written once for every adapter:
//! the one path from a client's bytes to the engine and from the engine's
//! outputs to every client's queue. [`Hub`] sits beside the engine,
//! [`ClientLink`] beside each connection, [`Handover`] and an
//! [`OutboundQueue`] per client between them.
//!
//! ```text
//!  connection task (one per socket)            engine thread (one)
//!  socket ─► Connection ─► ClientLink ─ Input ───────► Hub ─► Engine
//!                                                       │ Output::SharedObject
//!                                                       ▼ { to: Recipients, body, key }
//!  socket ◄─ Connection ◄─ ClientLink ◄─ OutboundQueue ◄─ Handover ◄─ Delivery
//!     (one write per turn)  (frames)     (per client,     (per client,  (one per
//!                                         coalescing)      in order)     update)
//!                                                       Hub ─► StoreOp ─► blocking pool ─► Store
//! ```
//!
//! No threads, channels, sockets or clocks here: the adapter passes the
//! time (`Instant`, which [`Hub`] converts to the engine's [`Tick`]),
//! carries [`Input`]s from links to the hub, hands the gathered
//! [`Delivery`]s to [`Handover::split`] and each client's [`Run`] to its
//! queue, runs the store batches on its blocking pool, logs the
//! [`HubEvent`]s, and wakes the hub at [`Hub::poll_timeout`].
//!
//! # The path of one update
//!
//! 1. The engine encodes an update once per encoding and emits one
//!    `Output::SharedObject` per encoding: the body, its recipients in
//!    ascending order, and, when the body is exactly one CHANGE, its
//!    [`ChangeKey`] (where the SO name and key sit in the body), taken
//!    from the message it encoded.
//! 2. The [`Hub`] turns it into one [`Delivery`], recipients still
//!    together; other outputs for one client become a delivery with one
//!    recipient; persistence goes to the store, lifecycle to the log.
//! 3. The adapter gathers deliveries for a while (its delivery tick),
//!    then [`Handover::split`] gives each client its share, in order, in
//!    one [`Run`]: one lock and one wake-up per client, however many
//!    updates.
//! 4. The client's [`OutboundQueue`] takes the run; its connection takes
//!    everything queued at once when its socket has room, frames it and
//!    writes it in one write. An adapter may instead write a run straight
//!    to the client's socket while nothing is queued for it and its
//!    connection has nothing of its own to send (adapter-core's direct
//!    writes do, one fmt-0 chunk per message): the bodies are ready to
//!    frame, and the queue is only for what the socket does not take.
//!
//! No body is parsed after it was encoded, and each body is shared by
//! reference count by every client that receives it.
//!
//! # Coalescing
//!
//! One rule, applied here only: **a message that is exactly one CHANGE
//! of key `k` of SO `s`, not yet taken by its client's connection, is
//! dropped when a newer message that is exactly one CHANGE of the same
//! `s` and `k` is queued for the same client; the newer one goes to the
//! back of the queue.** [`Handover::split`] applies it to whole
//! recipient lists within one hand-over (a CHANGE whose every recipient
//! gets a newer one is never split at all); [`OutboundQueue::push`]
//! applies it to what each client still has queued.
//!
//! Why every subscriber still converges to the same state and version:
//! a CHANGE sets `k` to a value regardless of what `k` held, so after the
//! newer CHANGE the client's `k` is the same whether it saw the older one
//! or not; the dropped message held nothing else (exactly one event);
//! what was queued between the two (another key's CHANGE, a REMOVE of
//! `k`, a SUCCESS, a CLEAR) still comes, in its order, before the newer
//! CHANGE; and every message carries its update's version, so the client
//! sees the versions of what it gets in increasing order, ending at the
//! same last version as every other subscriber. Messages of more than one
//! event, SUCCESS, REMOVE, STATUS, SEND and USE answers are never
//! dropped: either they carry more than one key's state, or no later
//! message restates what they say. A client is in one scope, so the SO's
//! name identifies it among the client's messages.
//!
//! # The engine side
//!
//! 1. Before accepting connections, load the store (`Store::load_all`)
//!    and give the report to [`Hub::handle_restore`].
//! 2. For every input from a connection: [`Hub::handle_input`]; at the
//!    deadline: [`Hub::handle_timeout`]. Both fill an [`Effects`].
//! 3. Hand the deliveries over ([`Handover::split`]) and push each
//!    client's run into its [`OutboundQueue`]; on [`Overflow`],
//!    disconnect that client (and log why).
//! 4. Run [`Effects::store_batch`] off the event loop (it is blocking
//!    I/O), then report it with [`Hub::handle_store_done`]. Only one
//!    batch is ever out at a time, so an SO's older write never lands
//!    after a newer one; what changes meanwhile waits (coalesced) in the
//!    hub.
//! 5. On shutdown: wait for the batch out, then [`Hub::shutdown`] and run
//!    its batch: every pending write, the engine's final ones included.
//!
//! # The connection side
//!
//! A [`ClientLink`] turns the connection's events into inputs
//! ([`ClientLink::handle_event`]) and applies the commands taken from the
//! queue ([`ClientLink::handle_command`]), mapping the engine's call ids to
//! the connection's. SharedObject bodies come encoded once per update and
//! encoding, shared by every recipient: a connection only frames them.

mod handover;
mod link;
mod queue;

use std::time::{Duration, Instant};

pub use self::handover::{Handover, Run};
pub use self::link::{ClientCommand, ClientLink, Peer};
pub use self::queue::{OutboundQueue, Overflow, Pushed, QueueLimits};
pub use crate::delivery::ChangeKey;
use crate::delivery::Recipients;
use crate::engine::Engine;
use crate::error::EngineMisuse;
use crate::interface::{Input, Output};
use crate::store::{
    FailedBatch, LoadReport, RetryBackoff, SetAside, StoreError, StoreOp, WriteBehind,
};
use crate::types::Tick;

/// How the [`Hub`] batches store writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubConfig {
    /// How long a persist or delete waits in the write-behind after its
    /// SO's first unsaved change, coalescing later ones (see
    /// [`WriteBehind`]). Added to the engine's `persist_interval_ms`, it
    /// bounds what a crash loses.
    pub flush_interval: Duration,
    /// How a failed flush is retried.
    pub store_retry: RetryBackoff,
}

impl HubConfig {
    /// Default flush interval: 0. The engine already snapshots each SO at
    /// most once per `persist_interval_ms` (500 ms); the write-behind then
    /// only merges what arrives while a batch is being written, and a
    /// crash loses at most 500 ms plus one write, within the contract's 1 s.
    pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::ZERO;
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            flush_interval: Self::DEFAULT_FLUSH_INTERVAL,
            store_retry: RetryBackoff::default(),
        }
    }
}

/// One command for its recipients (one, or the subscribers of an update
/// who share its body), to push into each one's [`OutboundQueue`]
/// ([`Handover::split`] does the splitting).
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The clients, each once, in ascending order.
    pub to: Recipients,
    /// What to do.
    pub command: ClientCommand,
    /// The engine's key of a SharedObject body that is exactly one
    /// CHANGE (see [coalescing](self#coalescing)).
    pub key: Option<ChangeKey>,
}

/// Something for the log.
#[derive(Debug)]
#[non_exhaustive]
pub enum HubEvent {
    /// A lifecycle output of the engine: scope started or stopped, SO
    /// created or destroyed, a hook's queued change failed.
    Engine(Output),
    /// The engine refused an input as a misuse (a bug in the caller).
    Misuse(EngineMisuse),
    /// A flush failed; its ops are retried after `retry_in` (those a newer
    /// op did not replace). One event per failed flush, whatever its size.
    StoreFailed {
        /// How many ops the flush held.
        ops: usize,
        /// Why it failed.
        error: StoreError,
        /// Failed flushes in a row, this one included.
        failures: u32,
        /// The wait before the next attempt (the backoff step).
        retry_in: Duration,
    },
    /// A flush succeeded after `failures` failed ones in a row.
    StoreRecovered {
        /// How many had failed.
        failures: u32,
    },
    /// A stored entry could not be read and was set aside.
    SetAside(SetAside),
    /// This many persistent SOs were restored.
    Restored(usize),
}

/// What the adapter has to do after a [`Hub`] call. Reuse one (the
/// hub appends; the adapter drains the three lists).
#[derive(Debug, Default)]
pub struct Effects {
    /// Commands for clients, in order (per client, the wire order).
    pub deliveries: Vec<Delivery>,
    /// Store operations to run, in order, off the event loop; then call
    /// [`Hub::handle_store_done`]. Non-empty at most once until then.
    pub store_batch: Vec<StoreOp>,
    /// Things to log.
    pub events: Vec<HubEvent>,
}

impl Effects {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.deliveries.is_empty() && self.store_batch.is_empty() && self.events.is_empty()
    }
}

/// The engine, its store batching and its clock, as one sans-IO unit the
/// adapter drives. See the [module docs](self).
pub struct Hub {
    engine: Engine,
    write_behind: WriteBehind,
    epoch: Instant,
    now: Tick,
    batch_out: bool,
    outputs: Vec<Output>,
}

impl Hub {
    /// A hub for `engine`, whose time 0 is `epoch`.
    pub fn new(engine: Engine, config: HubConfig, epoch: Instant) -> Self {
        Self {
            engine,
            write_behind: WriteBehind::new(config.flush_interval).with_backoff(config.store_retry),
            epoch,
            now: Tick::ZERO,
            batch_out: false,
            outputs: Vec::new(),
        }
    }

    /// The engine, to read its state or register hooks.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine, for server code outside hooks (prefer
    /// [`Input::Server`] through [`Hub::handle_input`], which routes the
    /// effects).
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// The engine time of `now`: whole milliseconds since the epoch, never
    /// before the last time given.
    pub fn tick(&mut self, now: Instant) -> Tick {
        let ms = now.saturating_duration_since(self.epoch).as_millis();
        self.now = self.now.max(Tick(u64::try_from(ms).unwrap_or(u64::MAX)));
        self.now
    }

    /// The instant of engine time `tick`.
    pub fn instant(&self, tick: Tick) -> Instant {
        self.epoch + Duration::from_millis(tick.millis())
    }

    /// Applies what a store load found: its snapshots as
    /// [`Input::Restored`], its problems as events. Call before any client
    /// input.
    pub fn handle_restore(&mut self, now: Instant, mut report: LoadReport, effects: &mut Effects) {
        let inputs = report.take_restore_inputs();
        effects
            .events
            .extend(report.set_aside.into_iter().map(HubEvent::SetAside));
        effects.events.push(HubEvent::Restored(inputs.len()));
        for input in inputs {
            self.handle_input(now, input, effects);
        }
    }

    /// Applies one input (from a [`ClientLink`], or server code's
    /// [`Input::Server`]).
    pub fn handle_input(&mut self, now: Instant, input: Input, effects: &mut Effects) {
        let tick = self.tick(now);
        let mut outputs = std::mem::take(&mut self.outputs);
        if let Err(misuse) = self.engine.handle_input(tick, input, &mut outputs) {
            effects.events.push(HubEvent::Misuse(misuse));
        }
        self.route(tick, &mut outputs, effects);
        self.outputs = outputs;
        self.release_due(tick, effects);
    }

    /// Runs server code on the engine at `now` (server operations, reads)
    /// and routes what it output, like [`Hub::handle_input`] does; returns
    /// what `f` returned (an operation's own error, say).
    pub fn with_engine<T>(
        &mut self,
        now: Instant,
        effects: &mut Effects,
        f: impl FnOnce(&mut Engine, Tick, &mut Vec<Output>) -> T,
    ) -> T {
        let tick = self.tick(now);
        let mut outputs = std::mem::take(&mut self.outputs);
        let result = f(&mut self.engine, tick, &mut outputs);
        self.route(tick, &mut outputs, effects);
        self.outputs = outputs;
        self.release_due(tick, effects);
        result
    }

    /// Fires what is due at `now`: the engine's timers (lingers, persists)
    /// and the write-behind's store batch.
    pub fn handle_timeout(&mut self, now: Instant, effects: &mut Effects) {
        let tick = self.tick(now);
        if self.engine.poll_timeout().is_some_and(|at| at <= tick) {
            self.handle_input(now, Input::Tick, effects);
        } else {
            self.release_due(tick, effects);
        }
    }

    /// When [`Hub::handle_timeout`] wants to be called: the earlier of
    /// the engine's deadline and the write-behind's (unless a batch is
    /// out: the next one waits for [`Hub::handle_store_done`]).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let store = self
            .write_behind
            .next_deadline()
            .filter(|_| !self.batch_out);
        let tick = match (self.engine.poll_timeout(), store) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(self.instant(tick))
    }

    /// The batch from [`Effects::store_batch`] is done. A failed one goes
    /// back to the write-behind (each op unless a newer one replaced it),
    /// to be retried after a backoff step (see [`RetryBackoff`]). Releases
    /// the next batch if one is due.
    pub fn handle_store_done(
        &mut self,
        now: Instant,
        result: Result<(), FailedBatch>,
        effects: &mut Effects,
    ) {
        let tick = self.tick(now);
        self.batch_out = false;
        match result {
            Ok(()) => {
                let failures = self.write_behind.batch_succeeded();
                if failures > 0 {
                    effects.events.push(HubEvent::StoreRecovered { failures });
                }
            }
            Err(FailedBatch { ops, error }) => {
                let count = ops.len();
                let retry_in = self.write_behind.batch_failed(ops, tick);
                effects.events.push(HubEvent::StoreFailed {
                    ops: count,
                    error,
                    failures: self.write_behind.failures(),
                    retry_in,
                });
            }
        }
        self.release_due(tick, effects);
    }

    /// Failed flushes since the start: a counter for metrics.
    pub fn store_failures(&self) -> u64 {
        self.write_behind.total_failures()
    }

    /// Whether a store batch is out (given and not yet reported done).
    pub fn is_batch_out(&self) -> bool {
        self.batch_out
    }

    /// How many SOs have a store op waiting.
    pub fn pending_store_ops(&self) -> usize {
        self.write_behind.len()
    }

    /// A graceful shutdown: [`Input::Shutdown`] (every client is
    /// disconnected, every scope stopped, every persistent SO saved), then
    /// every pending store op in one batch, whatever the intervals. Wait
    /// for the batch out, if any, before calling this.
    pub fn shutdown(&mut self, now: Instant, effects: &mut Effects) {
        let tick = self.tick(now);
        let mut outputs = std::mem::take(&mut self.outputs);
        if let Err(misuse) = self
            .engine
            .handle_input(tick, Input::Shutdown, &mut outputs)
        {
            effects.events.push(HubEvent::Misuse(misuse));
        }
        self.route(tick, &mut outputs, effects);
        self.outputs = outputs;
        self.drain_store(effects);
    }

    /// Every pending store op in one batch, whatever the intervals,
    /// without touching the engine (after server code panicked inside it,
    /// what was already recorded can still be saved). Wait for the batch
    /// out, if any, before calling this.
    pub fn drain_store(&mut self, effects: &mut Effects) {
        let all = self.write_behind.drain_all();
        self.take_batch(all, effects);
    }

    /// Sorts the engine's outputs: deliveries (recipients kept together),
    /// store ops, log events.
    fn route(&mut self, tick: Tick, outputs: &mut Vec<Output>, effects: &mut Effects) {
        effects.deliveries.reserve(outputs.len());
        for output in outputs.drain(..) {
            let delivery = match output {
                Output::SharedObject { to, body, key, .. } => Delivery {
                    to,
                    command: ClientCommand::SharedObject(body),
                    key,
                },
                other => {
                    let Some(other) = self.write_behind.offer(other, tick) else {
                        continue;
                    };
                    match link::client_command(other) {
                        Ok((to, command)) => Delivery {
                            to: Recipients::from(to),
                            command,
                            key: None,
                        },
                        Err(other) => {
                            effects.events.push(HubEvent::Engine(other));
                            continue;
                        }
                    }
                }
            };
            effects.deliveries.push(delivery);
        }
    }

    fn release_due(&mut self, tick: Tick, effects: &mut Effects) {
        if !self.batch_out {
            let due = self.write_behind.due(tick);
            self.take_batch(due, effects);
        }
    }

    fn take_batch(&mut self, ops: Vec<StoreOp>, effects: &mut Effects) {
        if !ops.is_empty() {
            self.batch_out = true;
            effects.store_batch.extend(ops);
        }
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("now", &self.now)
            .field("batch_out", &self.batch_out)
            .field("pending_store_ops", &self.write_behind.len())
            .finish_non_exhaustive()
    }
}
