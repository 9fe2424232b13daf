//! [`Engine`]: the state machine, its entry point [`Engine::handle_input`], timers
//! and the hook runner. The work is split by concern: `scopes` (connect,
//! leave, scope lifecycle, calls), `client` (client SO messages), `objects`
//! (the SO primitives every path shares) and `server` (server operations).

mod client;
mod cluster;
mod lock;
mod objects;
mod scopes;
mod server;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rtmp_proto::amf::{Str, Value};
use rtmp_proto::message::shared_object::SharedObjectMessage;

use crate::config::EngineConfig;
use crate::context::{Context, Queued, ServerSession, View};
use crate::error::{EngineMisuse, HookPanic};
use crate::hooks::{
    Application, MethodHandler, SendHandler, SharedObjectListener, SharedObjectSecurity, SoFactory,
    status_object,
};
use crate::interface::{Input, Output, ServerOp, Snapshot};
use crate::pattern;
use crate::state::{Phase, SoId, State};
use crate::types::{CallId, ClientId, ScopePath, SoKey, Tick};

/// The deterministic SharedObject engine. See the crate docs for the model,
/// the drive loop and the guarantees.
pub struct Engine {
    config: EngineConfig,
    state: State,
    hooks: Hooks,
    now: Tick,
    next_so: u64,
    next_call: u64,
    /// SOs that may have become idle during this input; checked before it ends.
    maybe_idle: BTreeSet<SoId>,
    linger_due: BTreeSet<(Tick, SoId)>,
    persist_due: BTreeSet<(Tick, SoId)>,
    pending_calls: BTreeMap<CallId, (ClientId, Str)>,
    /// Clients the engine already let go (rejected or disconnected) whose
    /// `ClientLeft` has not arrived: their late inputs are ignored.
    departed: BTreeSet<ClientId>,
    hook_depth: usize,
    hook_ops: usize,
    /// Server locks, by SO.
    locks: BTreeMap<SoId, lock::Lock>,
    lock_due: BTreeSet<(Tick, SoId)>,
    /// Client messages a released lock held, applied before the input ends.
    replay: VecDeque<(ClientId, SharedObjectMessage)>,
    /// Hook panics caught so far, in all.
    panics: u64,
    /// Hook panics caught during this input, reported at its end.
    panic_log: Vec<HookPanic>,
    /// Cluster mode: the update of a forwarded write being applied.
    capture: Option<cluster::Capture>,
    /// Cluster mode: the SOs this process owns, with the state its clients
    /// were shown (the owner's updates reach them once published).
    cluster_owned: BTreeMap<SoKey, cluster::Shown>,
    /// Cluster mode: SOs created here whose state the cluster has not
    /// given yet, with the subscribers whose USE answer waits for it.
    cluster_loading: BTreeMap<SoId, cluster::Loading>,
    cluster_load_due: BTreeSet<(Tick, SoId)>,
    /// Cluster mode: owned SOs that went idle here, to come back with their
    /// state.
    cluster_kept: BTreeMap<SoKey, Snapshot>,
}

/// Hooks live apart from the state, so that a hook can be called mutably
/// while its [`Context`] reads the state.
struct Hooks {
    app: Box<dyn Application>,
    security: Vec<Box<dyn SharedObjectSecurity>>,
    exact_factories: BTreeMap<Str, Box<dyn SoFactory>>,
    pattern_factories: Vec<(Str, Box<dyn SoFactory>)>,
    methods: BTreeMap<Str, Box<dyn MethodHandler>>,
    per_so: BTreeMap<SoId, SoHooks>,
}

/// What a factory attached to one live SO.
#[derive(Default)]
struct SoHooks {
    listeners: Vec<Box<dyn SharedObjectListener>>,
    handlers: BTreeMap<(Str, Str), Box<dyn SendHandler>>,
    security: Vec<Box<dyn SharedObjectSecurity>>,
}

impl Engine {
    /// An engine with no scopes, no clients and no SOs, running `app`'s hooks.
    pub fn new(config: EngineConfig, app: impl Application + 'static) -> Self {
        Self {
            config,
            state: State::default(),
            hooks: Hooks {
                app: Box::new(app),
                security: Vec::new(),
                exact_factories: BTreeMap::new(),
                pattern_factories: Vec::new(),
                methods: BTreeMap::new(),
                per_so: BTreeMap::new(),
            },
            now: Tick::ZERO,
            next_so: 1,
            next_call: 1,
            maybe_idle: BTreeSet::new(),
            linger_due: BTreeSet::new(),
            persist_due: BTreeSet::new(),
            pending_calls: BTreeMap::new(),
            departed: BTreeSet::new(),
            hook_depth: 0,
            hook_ops: 0,
            locks: BTreeMap::new(),
            lock_due: BTreeSet::new(),
            replay: VecDeque::new(),
            panics: 0,
            panic_log: Vec::new(),
            capture: None,
            cluster_owned: BTreeMap::new(),
            cluster_loading: BTreeMap::new(),
            cluster_load_due: BTreeSet::new(),
            cluster_kept: BTreeMap::new(),
        }
    }

    /// Build every SO named `pattern` (exact) or matching it (`*`, `?`) with
    /// `factory`. An exact name wins over patterns; among patterns the first
    /// registered wins. Registering an exact name again replaces it.
    pub fn register_factory(
        &mut self,
        pattern: &str,
        factory: impl SoFactory + 'static,
    ) -> &mut Self {
        if pattern::is_pattern(pattern) {
            self.hooks
                .pattern_factories
                .push((pattern.into(), Box::new(factory)));
        } else {
            self.hooks
                .exact_factories
                .insert(pattern.into(), Box::new(factory));
        }
        self
    }

    /// Add an application-wide security check (after every per-SO check,
    /// in registration order).
    pub fn register_security(
        &mut self,
        security: impl SharedObjectSecurity + 'static,
    ) -> &mut Self {
        self.hooks.security.push(Box::new(security));
        self
    }

    /// Let clients call `name`. Unregistered names answer `_error`
    /// `NetConnection.Call.Failed`.
    pub fn register_method(
        &mut self,
        name: &str,
        handler: impl MethodHandler + 'static,
    ) -> &mut Self {
        self.hooks.methods.insert(name.into(), Box::new(handler));
        self
    }

    /// Apply one input at time `now`, appending its effects to `out`.
    ///
    /// Due timers fire first (lingers, persists), then the input, then the
    /// changes hooks queued, then idle SOs with no linger are destroyed and
    /// timers now due fire. `Err` only for the caller's misuse (unknown
    /// client, time going backwards, a bad server operation); the state is
    /// then unchanged, except that due timers still fired.
    pub fn handle_input(
        &mut self,
        now: Tick,
        input: Input,
        out: &mut Vec<Output>,
    ) -> Result<(), EngineMisuse> {
        self.step(now, out, |engine, out| engine.dispatch(input, out))
    }

    /// [`ServerOp::CallClient`] as one input, returning the call's id
    /// (what [`ServerSession`] does for
    /// [`ServerApi::call_client`](crate::ServerApi::call_client)).
    pub(crate) fn call_now(
        &mut self,
        now: Tick,
        client: ClientId,
        method: Str,
        args: Vec<Value>,
        out: &mut Vec<Output>,
    ) -> Result<CallId, EngineMisuse> {
        self.step(now, out, |engine, out| {
            engine.call_client(client, method, args, None, out)
        })
    }

    /// One input: due timers, `apply`, what hooks queued, timers now due,
    /// then the panics caught on the way.
    fn step<R>(
        &mut self,
        now: Tick,
        out: &mut Vec<Output>,
        apply: impl FnOnce(&mut Self, &mut Vec<Output>) -> Result<R, EngineMisuse>,
    ) -> Result<R, EngineMisuse> {
        if now < self.now {
            return Err(EngineMisuse::TimeWentBackwards {
                last: self.now,
                now,
            });
        }
        self.now = now;
        self.hook_ops = 0;
        self.settle(out);
        let result = apply(self, out);
        self.settle(out);
        out.extend(self.panic_log.drain(..).map(|panic| Output::HookFailed {
            error: EngineMisuse::HookPanicked(Box::new(panic)),
        }));
        result
    }

    /// How many hook panics the engine caught since it was built.
    pub fn hook_panics(&self) -> u64 {
        self.panics
    }

    /// The server-side API outside hooks, at time `now` (see [`ServerSession`]).
    pub fn server<'e>(&'e mut self, now: Tick, out: &'e mut Vec<Output>) -> ServerSession<'e> {
        ServerSession {
            engine: self,
            now,
            out,
        }
    }

    /// A read-only look at the state.
    pub fn view(&self) -> View<'_> {
        View::new(&self.state)
    }

    /// When the engine next needs an [`Input::Tick`]: the earliest linger
    /// expiry, persist or lock expiry, or (cluster mode) the end of a USE
    /// answer's wait for the SO's state. `None`: no timer is armed.
    pub fn poll_timeout(&self) -> Option<Tick> {
        [
            &self.linger_due,
            &self.persist_due,
            &self.lock_due,
            &self.cluster_load_due,
        ]
        .into_iter()
        .filter_map(|due| due.first().map(|(t, _)| *t))
        .min()
    }

    /// The time of the latest input.
    pub fn now(&self) -> Tick {
        self.now
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The current data of a persistent SO, live or stored.
    pub fn snapshot(&self, so: &SoKey) -> Option<Snapshot> {
        match self.state.so_id(so).and_then(|id| self.state.sos.get(&id)) {
            Some(live) if live.persistent => Some(live.snapshot()),
            Some(_) => None,
            None => self.state.stored.get(so).cloned(),
        }
    }

    fn dispatch(&mut self, input: Input, out: &mut Vec<Output>) -> Result<(), EngineMisuse> {
        match input {
            Input::ClientConnected {
                client,
                scope,
                encoding,
                args,
            } => self.connect(client, scope, encoding, args, None, out),
            Input::ClientConnectedWith {
                client,
                info,
                attributes,
            } => {
                let (scope, encoding, args) =
                    (info.scope.clone(), info.encoding, info.args.clone());
                self.connect(
                    client,
                    scope,
                    encoding,
                    args,
                    Some(Box::new((*info, attributes))),
                    out,
                )
            }
            Input::ClientLeft { client } => {
                if self.departed.remove(&client) {
                    return Ok(());
                }
                self.known(client)?;
                self.detach_client(client, out);
                Ok(())
            }
            Input::SharedObject { client, message } => {
                if self.known(client)? {
                    self.client_message(client, message, out);
                }
                Ok(())
            }
            Input::Call {
                client,
                transaction_id,
                method,
                args,
            } => {
                if self.known(client)? {
                    self.handle_call(client, transaction_id, method, args, out);
                }
                Ok(())
            }
            Input::CallResult {
                client,
                call,
                outcome,
            } => {
                if self.known(client)? {
                    self.handle_call_result(client, call, outcome, out);
                }
                Ok(())
            }
            Input::Restored { so, snapshot } => {
                if self.state.so_id(&so).is_some() {
                    return Err(EngineMisuse::AlreadyLive(so));
                }
                self.state.stored.insert(so, snapshot);
                Ok(())
            }
            Input::Tick => Ok(()),
            Input::Flush => {
                self.flush_persists(out);
                Ok(())
            }
            Input::Shutdown => {
                self.shutdown(out);
                Ok(())
            }
            Input::Server(op) => self.execute(op, out),
            Input::Owned { so, owned } => {
                if owned {
                    self.rebuild(so, None, out);
                } else {
                    self.disown(so);
                }
                Ok(())
            }
            Input::Rebuild { so, snapshot } => {
                self.rebuild(so, snapshot, out);
                Ok(())
            }
            Input::ReplicaUpdate {
                so,
                version,
                delta,
                writer,
            } => {
                self.replica_update(&so, version, delta, writer, out);
                Ok(())
            }
            Input::ReplicaReset { so, snapshot } => {
                self.replica_reset(&so, snapshot, out);
                Ok(())
            }
            Input::ReplicaLoaded { so } => {
                if let Some(id) = self.state.so_id(&so) {
                    self.finish_loading(id, out);
                }
                Ok(())
            }
            Input::WriteAnswered { client, so, answer } => {
                self.write_answered(client, &so, answer, out);
                Ok(())
            }
        }
    }

    /// `Ok(true)`: a connected client. `Ok(false)`: one the engine already
    /// let go, whose late input is ignored.
    fn known(&self, client: ClientId) -> Result<bool, EngineMisuse> {
        match self.state.clients.get(&client) {
            Some(c) => Ok(c.phase == Phase::Connected),
            None if self.departed.contains(&client) => Ok(false),
            None => Err(EngineMisuse::UnknownClient(client)),
        }
    }

    /// A client's SO message: held if its SO is locked, else applied.
    fn client_message(
        &mut self,
        client: ClientId,
        message: SharedObjectMessage,
        out: &mut Vec<Output>,
    ) {
        match self.locked_target(client, &message.name) {
            Some(id) => self.hold(id, client, message, out),
            None => self.handle_so_message(client, message, out),
        }
    }

    /// Whether the client is connected (not connecting, not leaving).
    fn is_served(&self, client: ClientId) -> bool {
        self.state
            .clients
            .get(&client)
            .is_some_and(|c| c.phase == Phase::Connected)
    }

    /// Runs held messages of released locks, idle checks and due timers
    /// until nothing is left to do.
    fn settle(&mut self, out: &mut Vec<Output>) {
        loop {
            if self.replay_one(out) {
                continue;
            }
            if let Some(id) = self.maybe_idle.pop_first() {
                self.check_idle(id, out);
            } else if !self.fire_due(out) && !self.expire_lock(out) {
                break;
            }
        }
    }

    /// Fires one due timer; `false` if none is due.
    fn fire_due(&mut self, out: &mut Vec<Output>) -> bool {
        let now = self.now;
        if let Some(&(t, id)) = self.persist_due.first()
            && t <= now
        {
            self.persist_now(id, out);
            return true;
        }
        if let Some(&(t, id)) = self.linger_due.first()
            && t <= now
        {
            self.linger_due.remove(&(t, id));
            if let Some(so) = self.state.sos.get_mut(&id) {
                so.expires_at = None;
                if so.is_idle() {
                    self.destroy_so(id, objects::Teardown::Destroy, out);
                }
            }
            return true;
        }
        if let Some(&(t, id)) = self.cluster_load_due.first()
            && t <= now
        {
            // The cluster did not give the state in time: the waiting USEs
            // are answered with what this process has.
            self.finish_loading(id, out);
            return true;
        }
        false
    }

    fn flush_persists(&mut self, out: &mut Vec<Output>) {
        while let Some(&(_, id)) = self.persist_due.first() {
            self.persist_now(id, out);
        }
    }

    fn shutdown(&mut self, out: &mut Vec<Output>) {
        let clients: Vec<ClientId> = self.state.clients.keys().copied().collect();
        for client in clients {
            self.kick(client, "the server is shutting down".into(), out);
        }
        // Every scope stopped with its last client; this only catches scopes
        // that hooks left behind.
        while let Some(scope) = self.state.scopes.keys().next_back().cloned() {
            self.stop_scope(&scope, out);
        }
        self.flush_persists(out);
    }

    /// Calls `f` on the application with a fresh [`Context`], then applies
    /// what it queued. `None`: it panicked (reported; what it queued is
    /// dropped).
    fn app_hook<R>(
        &mut self,
        site: Site<'_>,
        out: &mut Vec<Output>,
        f: impl FnOnce(&mut dyn Application, &mut Context<'_>) -> R,
    ) -> Option<R> {
        let mut queue = Vec::new();
        let result = {
            let mut cx = Context::new(&self.state, &mut queue, &mut self.next_call, self.now);
            let app = self.hooks.app.as_mut();
            catch(|| f(app, &mut cx))
        };
        match result {
            Ok(result) => {
                self.run_queue(queue, out);
                Some(result)
            }
            Err(message) => {
                self.panicked(site, message);
                None
            }
        }
    }

    /// Records a caught hook panic: counted, and reported as
    /// [`Output::HookFailed`] at the end of the input (adapters log those).
    fn panicked(&mut self, site: Site<'_>, message: String) {
        self.panics = self.panics.saturating_add(1);
        let panic = HookPanic {
            hook: site.hook,
            scope: site
                .scope
                .cloned()
                .or_else(|| site.so.map(|so| so.scope.clone())),
            so: site.so.cloned(),
            client: site.client,
            message,
        };
        self.panic_log.push(panic);
    }

    /// Applies operations hooks queued, in order. Each may run hooks that
    /// queue more (depth first), within the configured bounds.
    fn run_queue(&mut self, queue: Vec<Queued>, out: &mut Vec<Output>) {
        if queue.is_empty() {
            return;
        }
        if self.hook_depth >= self.config.limits.max_hook_depth {
            out.push(Output::HookFailed {
                error: EngineMisuse::HookOverflow("hook nesting depth"),
            });
            return;
        }
        self.hook_depth += 1;
        for Queued { op, call } in queue {
            self.hook_ops += 1;
            if self.hook_ops > self.config.limits.max_hook_ops_per_input {
                out.push(Output::HookFailed {
                    error: EngineMisuse::HookOverflow("operations per input"),
                });
                break;
            }
            let result = match (op, call) {
                (
                    ServerOp::CallClient {
                        client,
                        method,
                        args,
                    },
                    Some(call),
                ) => {
                    let made = self.call_client(client, method.clone(), args, Some(call), out);
                    if let Err(error) = &made {
                        // The hook holds the id: it gets its answer, a failure.
                        let info = status_object("NetConnection.Call.Failed", &error.to_string());
                        self.answer_call(client, call, &method, Err(info), out);
                    }
                    made.map(drop)
                }
                (op, _) => self.execute(op, out),
            };
            if let Err(error) = result {
                out.push(Output::HookFailed { error });
            }
        }
        self.hook_depth -= 1;
    }
}

/// Where a hook runs, for the report if it panics.
#[derive(Clone, Copy)]
pub(crate) struct Site<'a> {
    hook: &'static str,
    scope: Option<&'a ScopePath>,
    so: Option<&'a SoKey>,
    client: Option<ClientId>,
}

impl<'a> Site<'a> {
    pub(crate) fn scope(
        hook: &'static str,
        scope: &'a ScopePath,
        client: Option<ClientId>,
    ) -> Self {
        Self {
            hook,
            scope: Some(scope),
            so: None,
            client,
        }
    }

    pub(crate) fn so(hook: &'static str, so: &'a SoKey, client: Option<ClientId>) -> Self {
        Self {
            hook,
            scope: None,
            so: Some(so),
            client,
        }
    }

    pub(crate) fn client(hook: &'static str, client: ClientId) -> Self {
        Self {
            hook,
            scope: None,
            so: None,
            client: Some(client),
        }
    }
}

/// Runs one hook call, catching a panic: `Err` holds its message. Hooks
/// are user code; a panic in one must fail its request, not the server.
/// The engine's own state is never borrowed mutably by a hook (hooks get
/// a read-only view and a queue), so it stays consistent across the unwind.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string panic payload".to_owned())
    })
}
