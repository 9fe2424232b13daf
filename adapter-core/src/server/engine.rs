//! The engine thread: one [`Hub`] on its own thread and event loop
//! ([`Runtime::block_on`]), fed through the [`Inbox`], pushing deliveries
//! into each client's [`Mailbox`] and running store batches on the
//! blocking pool, one at a time.

use std::collections::{BTreeMap, VecDeque};
use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use rtmp_proto::amf::Value;
use so_engine::server::{Effects, Handover, Hub, HubEvent};
use so_engine::store::{FailedBatch, Store};
use so_engine::{CallId, ClientId, Engine, EngineConfig, EngineMisuse, Input, Output};
use tracing::{debug, error, info, warn};

use super::Config;
use super::cluster::{ClusterDriver, ClusterStart, FromLink};
use super::mailbox::Mailbox;
use super::web::{AdminView, Stats};
use crate::Error;
use crate::runtime::Runtime;
use crate::sync::{OneshotSender, Signal, WakerSet, lock, oneshot};

/// How many messages may wait for the engine before connections stop
/// reading requests: a burst of client requests slows their readers down
/// instead of growing memory.
const INBOX_CAPACITY: usize = 4096;
/// Most messages the engine takes per wake-up.
const BATCH: usize = 256;
/// Where an idle timer starts; the hub's deadlines move it.
const IDLE_TIMER: Duration = Duration::from_secs(3600);

/// What connection tasks (and the server) tell the engine thread.
pub(super) enum ToEngine {
    /// A new connection and where its deliveries go (before any input).
    Register(ClientId, Arc<Mailbox>),
    /// An input from a connection's link.
    Input(Input),
    /// The connection task ended.
    Gone(ClientId),
    /// Shut down gracefully; answer when every store op is written.
    Shutdown(OneshotSender<()>),
    /// Server code from a [`ServerHandle`](super::ServerHandle).
    Job(Job),
    /// Cluster mode: what the Redis link threads report.
    Cluster(FromLink),
}

/// A [`ServerHandle`](super::ServerHandle) operation, run on the engine
/// thread.
pub(super) type Job = Box<dyn FnOnce(&mut Hub, &mut Effects, &mut Calls) + Send>;
/// Server calls made through a handle, waiting for the client's answer.
pub(super) type Calls =
    BTreeMap<CallId, OneshotSender<Result<Vec<Value>, super::handle::ServerError>>>;

/// Queues [`Job`]s for the engine thread without keeping it alive: the
/// engine ends with the server even while handles exist, and their jobs
/// then fail.
#[derive(Clone)]
pub(super) struct JobSender(Arc<Inbox>);

impl JobSender {
    /// Queues `job`; `false` if the engine is gone.
    pub(super) fn send(&self, job: Job) -> bool {
        let mut state = lock(&self.0.state);
        if state.closed || state.senders == 0 {
            return false;
        }
        let was_empty = state.messages.is_empty();
        state.messages.push_back(ToEngine::Job(job));
        drop(state);
        if was_empty {
            self.0.engine.notify();
        }
        true
    }
}

/// Where cluster mode's link threads report, without keeping the engine
/// alive (like [`JobSender`]).
#[derive(Clone)]
pub(super) struct ClusterSender(Arc<Inbox>);

impl ClusterSender {
    /// Queues `message`; `false` if the engine is gone.
    pub(super) fn send(&self, message: FromLink) -> bool {
        let mut state = lock(&self.0.state);
        if state.closed || state.senders == 0 {
            return false;
        }
        let was_empty = state.messages.is_empty();
        state.messages.push_back(ToEngine::Cluster(message));
        drop(state);
        if was_empty {
            self.0.engine.notify();
        }
        true
    }
}

/// The engine's input queue: many senders, one receiver, bounded by
/// holding back the senders' reads rather than their messages.
struct Inbox {
    state: Mutex<InboxState>,
    /// Whether `state` holds [`INBOX_CAPACITY`] messages or more, readable
    /// without the lock every connection contends for (a connection
    /// checks it before every read).
    full: AtomicBool,
    /// Wakes the engine thread.
    engine: Signal,
}

struct InboxState {
    messages: VecDeque<ToEngine>,
    senders: usize,
    /// The engine thread ended.
    closed: bool,
    /// Connections waiting for room.
    room: WakerSet,
    /// The server, waiting for the engine to end early.
    closed_waiters: WakerSet,
}

/// The sending side of the [`Inbox`] (cloneable; the engine ends once
/// every sender is gone).
pub(super) struct EngineSender(Arc<Inbox>);

impl EngineSender {
    /// Queues `message`; dropped if the engine is gone.
    pub(super) fn send(&self, message: ToEngine) {
        let mut state = lock(&self.0.state);
        if state.closed {
            return;
        }
        let was_empty = state.messages.is_empty();
        state.messages.push_back(message);
        if state.messages.len() >= INBOX_CAPACITY {
            self.0.full.store(true, Ordering::Relaxed);
        }
        drop(state);
        if was_empty {
            self.0.engine.notify();
        }
    }

    /// `Ready` while the inbox has room (or the engine is gone).
    pub(super) fn poll_room(&self, cx: &mut Context<'_>) -> Poll<()> {
        // The bound is soft: a read may overshoot it by what one read brings.
        if !self.0.full.load(Ordering::Relaxed) {
            return Poll::Ready(());
        }
        let mut state = lock(&self.0.state);
        if state.closed || state.messages.len() < INBOX_CAPACITY {
            return Poll::Ready(());
        }
        state.room.register(cx);
        Poll::Pending
    }
}

impl Clone for EngineSender {
    fn clone(&self) -> Self {
        lock(&self.0.state).senders += 1;
        Self(self.0.clone())
    }
}

impl Drop for EngineSender {
    fn drop(&mut self) {
        let last = {
            let mut state = lock(&self.0.state);
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            self.0.engine.notify();
        }
    }
}

/// The engine thread's side of the [`Inbox`].
struct EngineReceiver(Arc<Inbox>);

impl EngineReceiver {
    /// Moves up to [`BATCH`] messages to `out`: `Ready(false)` once every
    /// sender is gone and nothing is left.
    fn poll_take(&self, cx: &mut Context<'_>, out: &mut Vec<ToEngine>) -> Poll<bool> {
        loop {
            {
                let mut state = lock(&self.0.state);
                if !state.messages.is_empty() {
                    let n = state.messages.len().min(BATCH);
                    out.extend(state.messages.drain(..n));
                    if state.messages.len() < INBOX_CAPACITY {
                        self.0.full.store(false, Ordering::Relaxed);
                        state.room.wake_all();
                    }
                    return Poll::Ready(true);
                }
                if state.senders == 0 {
                    return Poll::Ready(false);
                }
            }
            // Senders notify after pushing: look again once woken.
            std::task::ready!(self.0.engine.poll_notified(cx));
        }
    }
}

impl Drop for EngineReceiver {
    fn drop(&mut self) {
        let mut state = lock(&self.0.state);
        state.closed = true;
        state.messages.clear();
        self.0.full.store(false, Ordering::Relaxed);
        state.room.wake_all();
        state.closed_waiters.wake_all();
    }
}

type SharedStore = Arc<Mutex<Box<dyn Store + Send>>>;
type Failed = Result<(), FailedBatch>;
type Batch = Pin<Box<dyn Future<Output = Option<Failed>> + Send>>;

/// The server's handle on the engine thread.
pub(super) struct EngineHandle {
    sender: EngineSender,
    thread: thread::JoinHandle<()>,
}

impl EngineHandle {
    /// Starts the thread, which builds the engine, loads the store and
    /// restores it; returns once that is done.
    pub(super) async fn start<R: Runtime>(
        build: impl FnOnce(EngineConfig) -> Engine + Send + 'static,
        store: Box<dyn Store + Send>,
        config: Arc<Config>,
        stats: Arc<Stats>,
        admin: Arc<AdminView>,
        cluster: Option<ClusterStart>,
    ) -> Result<Self, Error> {
        let inbox = Arc::new(Inbox {
            state: Mutex::new(InboxState {
                messages: VecDeque::new(),
                senders: 1,
                closed: false,
                room: WakerSet::default(),
                closed_waiters: WakerSet::default(),
            }),
            full: AtomicBool::new(false),
            engine: Signal::default(),
        });
        let sender = EngineSender(inbox.clone());
        let cluster_sender = ClusterSender(inbox.clone());
        let receiver = EngineReceiver(inbox);
        let (ready_tx, ready_rx) = oneshot();
        let thread = thread::Builder::new()
            .name("so-engine".into())
            .spawn(move || {
                let ran = R::block_on(async move {
                    let store: SharedStore = Arc::new(Mutex::new(store));
                    let engine = build(config.engine.clone());
                    let mut hub = Hub::new(engine, config.hub, Instant::now());
                    let loaded = lock(&store).load_all();
                    let report = match loaded {
                        Ok(report) => report,
                        Err(e) => return ready_tx.send(Err(Error::Store(e))),
                    };
                    let mut effects = Effects::default();
                    hub.handle_restore(Instant::now(), report, &mut effects);
                    let cluster = cluster
                        .map(|start| ClusterDriver::start(start, cluster_sender, stats.clone()));
                    let mut thread = EngineThread::<R> {
                        tick: config.delivery_tick,
                        handover: Handover::default(),
                        scratch: Vec::new(),
                        hub,
                        store,
                        clients: BTreeMap::new(),
                        effects,
                        batch: None,
                        broken: false,
                        calls: BTreeMap::new(),
                        shut_down: false,
                        stats,
                        admin,
                        cluster,
                        runtime: std::marker::PhantomData,
                    };
                    thread.dispatch();
                    ready_tx.send(Ok(()));
                    thread.run(receiver).await;
                });
                if let Err(e) = ran {
                    error!(error = %e, "cannot run the engine thread's event loop");
                }
            })
            .map_err(Error::Io)?;
        match ready_rx.recv().await {
            Some(Ok(())) => Ok(Self { sender, thread }),
            Some(Err(e)) => Err(e),
            None => Err(Error::EngineGone),
        }
    }

    pub(super) fn sender(&self) -> EngineSender {
        self.sender.clone()
    }

    /// Where [`ServerHandle`](super::ServerHandle)s send their jobs.
    pub(super) fn jobs(&self) -> JobSender {
        JobSender(self.sender.0.clone())
    }

    /// `Ready` once the engine thread ended (before it was told to).
    pub(super) fn poll_gone(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = lock(&self.sender.0.state);
        if state.closed {
            return Poll::Ready(());
        }
        state.closed_waiters.register(cx);
        Poll::Pending
    }

    /// Graceful shutdown of the engine: returns once every client was told
    /// to close and every store operation was written.
    pub(super) async fn shutdown(&self) {
        let (done_tx, done_rx) = oneshot();
        self.sender.send(ToEngine::Shutdown(done_tx));
        done_rx.recv().await;
    }

    /// Waits for the thread to end (after every connection is gone).
    pub(super) async fn join<R: Runtime>(self) {
        drop(self.sender);
        let thread = self.thread;
        // A bool, not the join's `Box<dyn Any>`: the future stays `Send`
        // for every caller.
        let joined = R::spawn_blocking(move || thread.join().is_ok()).await;
        if joined != Some(true) {
            error!("the engine thread panicked");
        }
    }
}

/// What woke the engine thread.
enum Wake {
    Messages,
    Timer,
    /// The delivery tick is due.
    Flush,
    Batch(Failed),
    /// Every sender is gone.
    Closed,
}

struct EngineThread<R> {
    /// Least time between two hand-overs of deliveries (see
    /// [`Config::delivery_tick`]).
    tick: Duration,
    /// How deliveries reach the mailboxes.
    handover: Handover,
    /// Where direct writes are framed (kept for its capacity).
    scratch: Vec<u8>,
    hub: Hub,
    store: SharedStore,
    clients: BTreeMap<ClientId, Arc<Mailbox>>,
    effects: Effects,
    /// The store batch being written.
    batch: Option<Batch>,
    /// Server code panicked inside the engine.
    broken: bool,
    /// Handle calls waiting for their client's answer.
    calls: Calls,
    /// Shut down: jobs are dropped (their handles hear the server is gone).
    shut_down: bool,
    /// The counters of `/metrics`.
    stats: Arc<Stats>,
    /// The state `/admin` shows.
    admin: Arc<AdminView>,
    /// Cluster mode: the node and its Redis links.
    cluster: Option<ClusterDriver>,
    runtime: std::marker::PhantomData<fn() -> R>,
}

impl<R: Runtime> EngineThread<R> {
    async fn run(&mut self, receiver: EngineReceiver) {
        let mut messages = Vec::with_capacity(BATCH);
        let mut timer = R::timer(Instant::now() + IDLE_TIMER);
        let mut armed = None;
        let mut flush_timer = R::timer(Instant::now() + IDLE_TIMER);
        let mut flush_armed = None;
        // When the last hand-over of deliveries ended: the next ones wait
        // until a tick later, gathering what arrives meanwhile (none at
        // first).
        let mut delivered: Option<Instant> = None;
        loop {
            let deadline = match (
                self.hub.poll_timeout(),
                self.cluster.as_ref().and_then(ClusterDriver::poll_timeout),
            ) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(at) = deadline
                && armed != Some(at)
            {
                R::reset_timer(&mut timer, at);
                armed = Some(at);
            }
            let flush_at = delivered
                .map(|at| at + self.tick)
                .filter(|_| !self.effects.deliveries.is_empty());
            if let Some(at) = flush_at
                && flush_armed != Some(at)
            {
                R::reset_timer(&mut flush_timer, at);
                flush_armed = Some(at);
            }
            let wake = poll_fn(|cx| {
                match receiver.poll_take(cx, &mut messages) {
                    Poll::Ready(true) => return Poll::Ready(Wake::Messages),
                    Poll::Ready(false) => return Poll::Ready(Wake::Closed),
                    Poll::Pending => {}
                }
                if deadline.is_some() && R::poll_timer(&mut timer, cx).is_ready() {
                    return Poll::Ready(Wake::Timer);
                }
                if flush_at.is_some() && R::poll_timer(&mut flush_timer, cx).is_ready() {
                    return Poll::Ready(Wake::Flush);
                }
                if let Some(batch) = &mut self.batch
                    && let Poll::Ready(failed) = batch.as_mut().poll(cx)
                {
                    return Poll::Ready(Wake::Batch(batch_failures(failed)));
                }
                Poll::Pending
            })
            .await;
            match wake {
                Wake::Messages => {
                    for message in messages.drain(..) {
                        self.handle(message).await;
                    }
                }
                Wake::Timer => {
                    armed = None;
                    if let Some(cluster) = &mut self.cluster {
                        cluster.handle_timeout(Instant::now());
                    }
                    self.guarded(|hub, fx| hub.handle_timeout(Instant::now(), fx));
                }
                Wake::Batch(failed) => {
                    self.batch = None;
                    self.guarded(|hub, fx| hub.handle_store_done(Instant::now(), failed, fx));
                }
                Wake::Flush => flush_armed = None,
                Wake::Closed => break,
            }
            self.cluster_turn();
            self.run_store_and_log();
            let now = Instant::now();
            if !self.effects.deliveries.is_empty()
                && delivered.is_none_or(|at| now >= at + self.tick)
            {
                self.deliver();
                // The tick counts from the hand-over's end: under load a
                // hand-over to many clients takes a while, and what arrives
                // meanwhile and just after goes out together next time
                // (with direct writes, the writers' answers go out early in
                // a hand-over and their next updates come during it).
                delivered = Some(Instant::now());
            }
            if self.admin.wanted(now) {
                let queued = self.clients.values().map(|m| m.queued_bytes() as u64).sum();
                self.admin.publish(now, &self.hub, queued);
            }
            if self.broken {
                break;
            }
        }
        // Every sender is gone (or the engine broke): write what is left.
        self.drain_store().await;
    }

    /// Cluster mode: the node and the engine trade what they have for
    /// each other (a panic escaping the engine stops it, as in
    /// [`EngineThread::guarded`]).
    fn cluster_turn(&mut self) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        if self.broken {
            return;
        }
        let (hub, effects) = (&mut self.hub, &mut self.effects);
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            cluster.turn(Instant::now(), hub, effects);
        }));
        if result.is_err() {
            error!("server code panicked inside the engine: the server stops");
            Stats::add(&self.stats.hook_panics, 1);
            self.broken = true;
        }
    }

    /// Runs `f` on the hub, catching a panic of server code (a hook)
    /// inside the engine: the engine's state is then suspect, so the
    /// thread stops serving, after saving what was already recorded.
    fn guarded(&mut self, f: impl FnOnce(&mut Hub, &mut Effects)) {
        if self.broken {
            return;
        }
        let (hub, effects) = (&mut self.hub, &mut self.effects);
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(hub, effects)));
        if result.is_err() {
            error!("server code panicked inside the engine: the server stops");
            Stats::add(&self.stats.hook_panics, 1);
            self.broken = true;
        }
    }

    async fn handle(&mut self, message: ToEngine) {
        match message {
            ToEngine::Register(client, mailbox) => {
                self.clients.insert(client, mailbox);
            }
            ToEngine::Input(input) => {
                if matches!(input, Input::SharedObject { .. } | Input::Server(_)) {
                    Stats::add(&self.stats.updates, 1);
                }
                self.guarded(|hub, fx| hub.handle_input(Instant::now(), input, fx));
            }
            ToEngine::Gone(client) => {
                self.clients.remove(&client);
            }
            ToEngine::Job(job) => {
                if !self.shut_down && !self.broken {
                    let (hub, effects, calls) = (&mut self.hub, &mut self.effects, &mut self.calls);
                    let ran =
                        std::panic::catch_unwind(AssertUnwindSafe(|| job(hub, effects, calls)));
                    if ran.is_err() {
                        error!("server code panicked inside the engine: the server stops");
                        self.broken = true;
                    }
                }
            }
            ToEngine::Cluster(message) => {
                if let Some(cluster) = &mut self.cluster {
                    cluster.handle_link(Instant::now(), message);
                }
            }
            ToEngine::Shutdown(done) => {
                self.shut_down = true;
                self.calls.clear();
                self.drain_store().await;
                self.cluster_turn();
                if let Some(cluster) = &mut self.cluster {
                    cluster.stop(Instant::now());
                }
                for mailbox in self.clients.values() {
                    mailbox.shut_down();
                }
                done.send(());
            }
        }
    }

    /// Waits for the batch out, then disconnects every client (if any are
    /// left) and writes every pending store op, trying failed ones once
    /// more.
    async fn drain_store(&mut self) {
        for _ in 0..2 {
            if let Some(failed) = self.wait_batch().await {
                self.guarded(|hub, fx| hub.handle_store_done(Instant::now(), failed, fx));
            }
            // Appends every pending op to the batch handle_store_done may have
            // released: one batch, in order. A broken engine is not asked
            // for anything more.
            if self.broken {
                self.hub.drain_store(&mut self.effects);
            } else {
                self.guarded(|hub, fx| hub.shutdown(Instant::now(), fx));
            }
            self.dispatch();
            let Some(failed) = self.wait_batch().await else {
                break;
            };
            let done = failed.is_ok();
            self.guarded(|hub, fx| hub.handle_store_done(Instant::now(), failed, fx));
            if done {
                break;
            }
        }
        let lost = self.hub.pending_store_ops() + self.effects.store_batch.len();
        if lost > 0 {
            error!(
                lost,
                "store writes still failing at shutdown: their changes are lost"
            );
        }
    }

    /// Waits for the batch out, if any, and gives its failed ops.
    async fn wait_batch(&mut self) -> Option<Failed> {
        let mut batch = self.batch.take()?;
        Some(batch_failures(batch.as_mut().await))
    }

    /// Carries out the effects: deliveries into mailboxes, the store batch
    /// onto the blocking pool, events into the log.
    fn dispatch(&mut self) {
        self.deliver();
        self.run_store_and_log();
    }

    /// Hands every delivery gathered so far to its client's mailbox.
    fn deliver(&mut self) {
        let clients = &self.clients;
        let stats = &self.stats;
        let scratch = &mut self.scratch;
        Stats::add(&stats.deliveries, self.effects.deliveries.len() as u64);
        // Clients come in ascending order, as the map holds them: one walk
        // along the map finds every mailbox, where a lookup per client
        // would descend the tree from its (cold) root each time.
        let mut mailboxes = clients.iter().peekable();
        let (mut writes, mut messages) = (0, 0);
        self.handover
            .split(&mut self.effects.deliveries, |to, run| {
                while mailboxes.next_if(|&(&id, _)| id < to).is_some() {}
                let mailbox = match mailboxes.next_if(|&(&id, _)| id == to) {
                    Some((_, mailbox)) => Some(mailbox),
                    // Out of order (never, as split promises): look it up.
                    None => clients.get(&to),
                };
                if let Some(mailbox) = mailbox {
                    let handed = mailbox.deliver_all(to, run, scratch);
                    writes += handed.writes;
                    messages += handed.messages;
                    if handed.overflowed {
                        Stats::add(&stats.slow_readers, 1);
                    }
                }
            });
        Stats::add(&stats.direct_writes, writes as u64);
        Stats::add(&stats.direct_messages, messages as u64);
    }

    /// Sends the store batch, if any, to the blocking pool and logs the
    /// events.
    fn run_store_and_log(&mut self) {
        if !self.effects.store_batch.is_empty() {
            let ops = std::mem::take(&mut self.effects.store_batch);
            let store = self.store.clone();
            let stats = self.stats.clone();
            // One batch, one call: a store that can makes it one transaction.
            self.batch = Some(Box::pin(R::spawn_blocking(move || {
                let _timed = Timed(&stats, Instant::now());
                let done = lock(&store).apply_batch(&ops);
                stats.store_done(done.is_ok());
                done.map_err(|error| FailedBatch { ops, error })
            })));
        }
        for event in self.effects.events.drain(..) {
            match event {
                HubEvent::Engine(Output::CallResult { call, outcome, .. }) => {
                    if let Some(waiter) = self.calls.remove(&call) {
                        waiter.send(outcome.map_err(super::handle::ServerError::CallFailed));
                    }
                }
                HubEvent::Engine(Output::CallAbandoned { call, .. }) => {
                    if let Some(waiter) = self.calls.remove(&call) {
                        waiter.send(Err(super::handle::ServerError::CallAbandoned));
                    }
                }
                HubEvent::Engine(Output::HookFailed {
                    error: EngineMisuse::HookPanicked(panic),
                }) => {
                    Stats::add(&self.stats.hook_panics, 1);
                    error!(%panic, "server code panicked; its request failed, the server carries on")
                }
                HubEvent::Engine(Output::LockExpired { so }) => {
                    warn!(%so, "a lock was held past its time limit and released");
                }
                event => log(event),
            }
        }
    }
}

/// How a finished batch went (done if it panicked: a panicking store call
/// leaves the store as a crash would, and a batch is one transaction, so
/// what is on disk is whole).
fn batch_failures(failed: Option<Failed>) -> Failed {
    failed.unwrap_or_else(|| {
        error!("a store batch panicked: its writes are lost");
        Ok(())
    })
}

fn log(event: HubEvent) {
    match event {
        HubEvent::Engine(Output::HookFailed { error }) => {
            warn!(%error, "a change queued by server code failed");
        }
        HubEvent::Engine(Output::ScopeStarted { scope }) => debug!(%scope, "scope started"),
        HubEvent::Engine(Output::ScopeStopped { scope }) => debug!(%scope, "scope stopped"),
        HubEvent::Engine(Output::SoCreated { so }) => debug!(%so, "shared object created"),
        HubEvent::Engine(Output::SoDestroyed { so, .. }) => debug!(%so, "shared object destroyed"),
        HubEvent::Engine(other) => debug!(?other, "engine output"),
        HubEvent::Misuse(misuse) => error!(%misuse, "the adapter misused the engine"),
        HubEvent::StoreFailed {
            ops,
            error,
            failures,
            retry_in,
        } => {
            error!(
                ops,
                failures,
                retry_in_ms = retry_in.as_millis(),
                %error,
                "store flush failed; retrying after a backoff"
            );
        }
        HubEvent::StoreRecovered { failures } => {
            info!(failures, "store flush succeeded again");
        }
        HubEvent::SetAside(entry) => {
            error!(%entry, "unreadable stored shared object skipped");
        }
        HubEvent::Restored(count) => info!(count, "persistent shared objects restored"),
        other => debug!(?other, "hub event"),
    }
}

/// Records a store batch's time when the batch ends (also by a panic).
struct Timed<'a>(&'a Stats, Instant);

impl Drop for Timed<'_> {
    fn drop(&mut self) {
        self.0.store_flushed(self.1.elapsed());
    }
}
