//! The engine thread: one [`Host`] on a current-thread runtime, fed by a
//! channel, pushing deliveries into each client's [`Mailbox`] and running
//! store batches on the blocking pool, one at a time.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Instant;

use so_engine::host::{Effects, Host, HostEvent, OutboundQueue, Pushed, QueueLimits};
use so_engine::store::{Store, StoreError, StoreOp};
use so_engine::{ClientId, Engine, EngineConfig, Input, Output};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use super::{Config, EngineSender};
use crate::Error;

/// How many messages the engine's channel holds before senders wait: a
/// burst of client requests slows their readers down instead of growing
/// memory.
const CHANNEL_CAPACITY: usize = 4096;
/// Most messages the engine takes from its channel per wake-up.
const BATCH: usize = 256;

/// What connection tasks (and the server) tell the engine thread.
pub(super) enum ToEngine {
    /// A new connection and where its deliveries go (before any input).
    Register(ClientId, Arc<Mailbox>),
    /// An input from a connection's link.
    Input(Input),
    /// The connection task ended.
    Gone(ClientId),
    /// Shut down gracefully; answer when every store op is written.
    Shutdown(oneshot::Sender<()>),
}

/// One client's queue as both sides share it.
pub(super) struct Mailbox {
    pub(super) state: Mutex<MailboxState>,
    pub(super) notify: Notify,
}

/// What sits behind the [`Mailbox`] lock.
pub(super) struct MailboxState {
    pub(super) queue: OutboundQueue,
    /// The server is shutting down: close the connection.
    pub(super) shutdown: bool,
}

impl Mailbox {
    pub(super) fn new(limits: QueueLimits) -> Self {
        Self {
            state: Mutex::new(MailboxState {
                queue: OutboundQueue::new(limits),
                shutdown: false,
            }),
            notify: Notify::new(),
        }
    }

    /// The state; a panic elsewhere while holding the lock leaves a queue
    /// that is still consistent (every method restores its invariants
    /// before it can panic), so poisoning is ignored.
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, MailboxState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

type SharedStore = Arc<Mutex<Box<dyn Store + Send>>>;

/// The server's handle on the engine thread.
pub(super) struct EngineHandle {
    sender: EngineSender,
    thread: thread::JoinHandle<()>,
}

impl EngineHandle {
    /// Starts the thread, which builds the engine, loads the store and
    /// restores it; returns once that is done.
    pub(super) async fn start(
        build: impl FnOnce(EngineConfig) -> Engine + Send + 'static,
        store: Box<dyn Store + Send>,
        config: Arc<Config>,
    ) -> Result<Self, Error> {
        let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
        let (ready_tx, ready_rx) = oneshot::channel();
        let thread = thread::Builder::new()
            .name("so-engine".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(Error::Io(e)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let store: SharedStore = Arc::new(Mutex::new(store));
                    let engine = build(config.engine.clone());
                    let mut host = Host::new(engine, config.host, Instant::now());
                    let loaded = lock_store(&store).load_all();
                    let report = match loaded {
                        Ok(report) => report,
                        Err(e) => {
                            let _ = ready_tx.send(Err(Error::Store(e)));
                            return;
                        }
                    };
                    let mut effects = Effects::default();
                    host.restore(Instant::now(), report, &mut effects);
                    let mut thread = EngineThread {
                        host,
                        store,
                        clients: BTreeMap::new(),
                        effects,
                        batch: None,
                        broken: false,
                    };
                    thread.dispatch();
                    let _ = ready_tx.send(Ok(()));
                    thread.run(receiver).await;
                });
            })
            .map_err(Error::Io)?;
        match ready_rx.await {
            Ok(Ok(())) => Ok(Self { sender, thread }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::EngineGone),
        }
    }

    pub(super) fn sender(&self) -> EngineSender {
        self.sender.clone()
    }

    /// Graceful shutdown of the engine: returns once every client was told
    /// to close and every store operation was written.
    pub(super) async fn shutdown(&self) {
        let (done_tx, done_rx) = oneshot::channel();
        if self.sender.send(ToEngine::Shutdown(done_tx)).await.is_ok() {
            let _ = done_rx.await;
        }
    }

    /// Waits for the thread to end (after every connection is gone).
    pub(super) async fn join(self) {
        drop(self.sender);
        let thread = self.thread;
        let joined = tokio::task::spawn_blocking(move || thread.join()).await;
        if !matches!(joined, Ok(Ok(()))) {
            error!("the engine thread panicked");
        }
    }
}

struct EngineThread {
    host: Host,
    store: SharedStore,
    clients: BTreeMap<ClientId, Arc<Mailbox>>,
    effects: Effects,
    /// The store batch being written.
    batch: Option<JoinHandle<Vec<(StoreOp, StoreError)>>>,
    /// Server code panicked inside the engine.
    broken: bool,
}

impl EngineThread {
    async fn run(&mut self, mut receiver: mpsc::Receiver<ToEngine>) {
        let mut messages = Vec::with_capacity(BATCH);
        loop {
            let deadline = self.host.next_deadline();
            tokio::select! {
                n = receiver.recv_many(&mut messages, BATCH) => {
                    if n == 0 {
                        break;
                    }
                    for message in messages.drain(..) {
                        self.handle(message).await;
                    }
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    self.guarded(|host, fx| host.handle_timeout(Instant::now(), fx));
                }
                failed = join_batch(&mut self.batch), if self.batch.is_some() => {
                    self.batch = None;
                    self.guarded(|host, fx| host.store_done(Instant::now(), failed, fx));
                }
            }
            self.dispatch();
            if self.broken {
                break;
            }
        }
        // Every sender is gone (or the engine broke): write what is left.
        self.drain_store().await;
    }

    /// Runs `f` on the host, catching a panic of server code (a hook)
    /// inside the engine: the engine's state is then suspect, so the
    /// thread stops serving, after saving what was already recorded.
    fn guarded(&mut self, f: impl FnOnce(&mut Host, &mut Effects)) {
        if self.broken {
            return;
        }
        let (host, effects) = (&mut self.host, &mut self.effects);
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(host, effects)));
        if result.is_err() {
            error!("server code panicked inside the engine: the server stops");
            self.broken = true;
        }
    }

    async fn handle(&mut self, message: ToEngine) {
        match message {
            ToEngine::Register(client, mailbox) => {
                self.clients.insert(client, mailbox);
            }
            ToEngine::Input(input) => {
                self.guarded(|host, fx| host.handle(Instant::now(), input, fx));
            }
            ToEngine::Gone(client) => {
                self.clients.remove(&client);
            }
            ToEngine::Shutdown(done) => {
                self.drain_store().await;
                for mailbox in self.clients.values() {
                    mailbox.lock().shutdown = true;
                    mailbox.notify.notify_one();
                }
                let _ = done.send(());
            }
        }
    }

    /// Waits for the batch out, then disconnects every client (if any are
    /// left) and writes every pending store op, trying failed ones once
    /// more.
    async fn drain_store(&mut self) {
        for _ in 0..2 {
            if let Some(failed) = self.wait_batch().await {
                self.guarded(|host, fx| host.store_done(Instant::now(), failed, fx));
            }
            // Appends every pending op to the batch store_done may have
            // released: one batch, in order. A broken engine is not asked
            // for anything more.
            if self.broken {
                self.host.drain_store(&mut self.effects);
            } else {
                self.guarded(|host, fx| host.shutdown(Instant::now(), fx));
            }
            self.dispatch();
            let Some(failed) = self.wait_batch().await else {
                break;
            };
            let done = failed.is_empty();
            self.guarded(|host, fx| host.store_done(Instant::now(), failed, fx));
            if done {
                break;
            }
        }
        let lost = self.host.pending_store_ops() + self.effects.store_batch.len();
        if lost > 0 {
            error!(
                lost,
                "store writes still failing at shutdown: their changes are lost"
            );
        }
    }

    /// Waits for the batch out, if any, and gives its failed ops.
    async fn wait_batch(&mut self) -> Option<Vec<(StoreOp, StoreError)>> {
        let mut batch = Some(self.batch.take()?);
        Some(join_batch(&mut batch).await)
    }

    /// Carries out the effects: deliveries into mailboxes, the store batch
    /// onto the blocking pool, events into the log.
    fn dispatch(&mut self) {
        for delivery in self.effects.deliveries.drain(..) {
            let Some(mailbox) = self.clients.get(&delivery.to) else {
                continue;
            };
            let mut state = mailbox.lock();
            let was_empty = state.queue.is_empty();
            match state.queue.push(delivery.encoding, delivery.command) {
                Ok(Pushed::Dropped) => {}
                Ok(_) if !was_empty => {}
                Ok(_) => mailbox.notify.notify_one(),
                Err(overflow) => {
                    drop(state);
                    warn!(client = delivery.to.0, %overflow, "disconnecting a slow reader");
                    mailbox.notify.notify_one();
                }
            }
        }
        if !self.effects.store_batch.is_empty() {
            let ops = std::mem::take(&mut self.effects.store_batch);
            let store = self.store.clone();
            self.batch = Some(tokio::task::spawn_blocking(move || {
                let mut store = lock_store(&store);
                let mut failed = Vec::new();
                for op in ops {
                    if let Err(e) = op.apply(&mut **store) {
                        failed.push((op, e));
                    }
                }
                failed
            }));
        }
        for event in self.effects.events.drain(..) {
            log(event);
        }
    }
}

fn lock_store(store: &SharedStore) -> std::sync::MutexGuard<'_, Box<dyn Store + Send>> {
    // A panicking store call leaves the store as a crash would: every
    // write is atomic, so what is on disk is whole.
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The failed ops of the batch out (all of them if its task panicked).
async fn join_batch(
    batch: &mut Option<JoinHandle<Vec<(StoreOp, StoreError)>>>,
) -> Vec<(StoreOp, StoreError)> {
    let Some(handle) = batch.as_mut() else {
        return Vec::new();
    };
    match handle.await {
        Ok(failed) => failed,
        Err(e) => {
            error!(error = %e, "a store batch panicked: its writes are lost");
            Vec::new()
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline.into()).await;
    }
}

fn log(event: HostEvent) {
    match event {
        HostEvent::Engine(Output::HookFailed { error }) => {
            warn!(%error, "a change queued by server code failed");
        }
        HostEvent::Engine(Output::ScopeStarted { scope }) => debug!(%scope, "scope started"),
        HostEvent::Engine(Output::ScopeStopped { scope }) => debug!(%scope, "scope stopped"),
        HostEvent::Engine(Output::SoCreated { so }) => debug!(%so, "shared object created"),
        HostEvent::Engine(Output::SoDestroyed { so }) => debug!(%so, "shared object destroyed"),
        HostEvent::Engine(other) => debug!(?other, "engine output"),
        HostEvent::Misuse(misuse) => error!(%misuse, "the adapter misused the engine"),
        HostEvent::StoreFailed { so, error } => {
            error!(%so, %error, "store write failed; retrying later");
        }
        HostEvent::SetAside(entry) => warn!(%entry, "unreadable stored shared object set aside"),
        HostEvent::StaleTemp(path) => info!(%path, "removed a write interrupted by a crash"),
        HostEvent::Restored(count) => info!(count, "persistent shared objects restored"),
        other => debug!(?other, "host event"),
    }
}
