//! User code: the application's lifecycle hooks, SO listeners, send
//! handlers, security checks, factories and call methods.
//!
//! Every hook runs synchronously inside [`Engine::handle_input`](crate::Engine::handle_input).
//! Hooks that may change things get a [`Context`]: they read the state as it
//! was when they were called and *queue* changes, which the engine applies
//! right after the hook (or, for one event with several listeners, after the
//! last of them) returns, in the order queued. See the crate docs, "Hooks".
//!
//! All hooks are `Send` so that an engine can move to the task or thread
//! that runs it.

use std::collections::BTreeMap;

use rtmp_proto::amf::{Str, Value};

use crate::context::{Context, View};
use crate::types::{CallId, ClientId, Origin, ScopePath, SoKey};

/// The application: Red5's `MultiThreadedApplicationAdapter` hooks, in
/// Red5's order. Every method has a default that does nothing (or accepts).
///
/// For a client connecting to `app/room`: `app_start` (if the application
/// was not running), `app_connect`, `app_join`, `room_start` (if the room
/// was not running), `room_connect`, `room_join`. When it leaves, child
/// first: `room_disconnect`, `room_leave`, `app_disconnect`, `app_leave`,
/// then `room_stop` / `app_stop` for scopes left empty. Deeper rooms use the
/// `room_*` hooks too.
pub trait Application: Send {
    /// The application scope starts (its first client arrives).
    fn app_start(&mut self, cx: &mut Context<'_>, app: &ScopePath) {
        let _ = (cx, app);
    }
    /// A client connects to the application; `Err(reason)` rejects it.
    fn app_connect(
        &mut self,
        cx: &mut Context<'_>,
        client: ClientId,
        app: &ScopePath,
        args: &[Value],
    ) -> Result<(), String> {
        let _ = (cx, client, app, args);
        Ok(())
    }
    /// A client joined the application scope.
    fn app_join(&mut self, cx: &mut Context<'_>, client: ClientId, app: &ScopePath) {
        let _ = (cx, client, app);
    }
    /// A client is disconnecting from the application scope.
    fn app_disconnect(&mut self, cx: &mut Context<'_>, client: ClientId, app: &ScopePath) {
        let _ = (cx, client, app);
    }
    /// A client left the application scope.
    fn app_leave(&mut self, cx: &mut Context<'_>, client: ClientId, app: &ScopePath) {
        let _ = (cx, client, app);
    }
    /// The application scope stops (its last client left).
    fn app_stop(&mut self, cx: &mut Context<'_>, app: &ScopePath) {
        let _ = (cx, app);
    }
    /// A room starts (its first client arrives).
    fn room_start(&mut self, cx: &mut Context<'_>, room: &ScopePath) {
        let _ = (cx, room);
    }
    /// A client connects to a room; `Err(reason)` rejects it.
    fn room_connect(
        &mut self,
        cx: &mut Context<'_>,
        client: ClientId,
        room: &ScopePath,
        args: &[Value],
    ) -> Result<(), String> {
        let _ = (cx, client, room, args);
        Ok(())
    }
    /// A client joined a room.
    fn room_join(&mut self, cx: &mut Context<'_>, client: ClientId, room: &ScopePath) {
        let _ = (cx, client, room);
    }
    /// A client is disconnecting from a room.
    fn room_disconnect(&mut self, cx: &mut Context<'_>, client: ClientId, room: &ScopePath) {
        let _ = (cx, client, room);
    }
    /// A client left a room.
    fn room_leave(&mut self, cx: &mut Context<'_>, client: ClientId, room: &ScopePath) {
        let _ = (cx, client, room);
    }
    /// A room stops (its last client left). Its SOs go after this returns.
    fn room_stop(&mut self, cx: &mut Context<'_>, room: &ScopePath) {
        let _ = (cx, room);
    }
    /// A client answered a call made with `ServerApi::call_client`; `call`
    /// is the id that call returned. A call a hook queued that cannot be
    /// made when it is applied (its client left, too many calls pending)
    /// is answered here at once with `Err`, a `NetConnection.Call.Failed`
    /// information object saying why. Calls to a client that leaves after
    /// they went out are dropped without an answer.
    fn call_result(
        &mut self,
        cx: &mut Context<'_>,
        client: ClientId,
        call: CallId,
        method: &str,
        outcome: &Result<Vec<Value>, Value>,
    ) {
        let _ = (cx, client, call, method, outcome);
    }
}

/// An application with no hooks.
impl Application for () {}

/// Server-side events of one SO (Red5's `ISharedObjectListener`, plus the
/// client behind connect/disconnect and the `on_destroy` event).
///
/// Attach listeners in a factory ([`SoSetup::listener`]), so that they come
/// back with the SO every time it is created.
pub trait SharedObjectListener: Send {
    /// `client` subscribed (a USE; a repeated USE on the same connection
    /// does not call this again).
    fn on_connect(&mut self, cx: &mut Context<'_>, so: &SoKey, client: ClientId) {
        let _ = (cx, so, client);
    }
    /// `client` unsubscribed (RELEASE or disconnect).
    fn on_disconnect(&mut self, cx: &mut Context<'_>, so: &SoKey, client: ClientId) {
        let _ = (cx, so, client);
    }
    /// `key` changed to `value` (only real changes).
    fn on_update(
        &mut self,
        cx: &mut Context<'_>,
        so: &SoKey,
        origin: Origin,
        key: &str,
        value: &Value,
    ) {
        let _ = (cx, so, origin, key, value);
    }
    /// `key` was removed (only keys that existed).
    fn on_delete(&mut self, cx: &mut Context<'_>, so: &SoKey, origin: Origin, key: &str) {
        let _ = (cx, so, origin, key);
    }
    /// Every attribute was removed.
    fn on_clear(&mut self, cx: &mut Context<'_>, so: &SoKey, origin: Origin) {
        let _ = (cx, so, origin);
    }
    /// `method(args)` was sent to the subscribers.
    fn on_send(
        &mut self,
        cx: &mut Context<'_>,
        so: &SoKey,
        origin: Origin,
        method: &str,
        args: &[Value],
    ) {
        let _ = (cx, so, origin, method, args);
    }
    /// The SO is gone (destroyed, or a persistent SO unloaded with its
    /// scope). It is no longer in the state when this runs.
    fn on_destroy(&mut self, cx: &mut Context<'_>, so: &SoKey) {
        let _ = (cx, so);
    }
}

/// A server-side handler for a client's SEND_MESSAGE, run before the message
/// is broadcast. Changes it queues reach the subscribers before the message.
pub trait SendHandler: Send {
    /// `client` sent `method(args)` on `so`.
    fn handle(
        &mut self,
        cx: &mut Context<'_>,
        so: &SoKey,
        client: ClientId,
        method: &str,
        args: &[Value],
    );
}

impl<F> SendHandler for F
where
    F: FnMut(&mut Context<'_>, &SoKey, ClientId, &str, &[Value]) + Send,
{
    fn handle(
        &mut self,
        cx: &mut Context<'_>,
        so: &SoKey,
        client: ClientId,
        method: &str,
        args: &[Value],
    ) {
        self(cx, so, client, method, args);
    }
}

/// Vetoes on what clients do (Red5's `ISharedObjectSecurity`). Every method
/// defaults to allowing. Checks run per SO first (handlers from the
/// factory), then per application (registered on the engine), in
/// registration order; the first `false` denies. Server code is never checked.
pub trait SharedObjectSecurity: Send {
    /// May `client` create `so` by using it? (Per application only: the SO
    /// does not exist yet.)
    fn is_creation_allowed(
        &mut self,
        view: &View<'_>,
        so: &SoKey,
        persistent: bool,
        client: ClientId,
    ) -> bool {
        let _ = (view, so, persistent, client);
        true
    }
    /// May `client` subscribe to `so`?
    fn is_connection_allowed(&mut self, view: &View<'_>, so: &SoKey, client: ClientId) -> bool {
        let _ = (view, so, client);
        true
    }
    /// May `client` set `key` to `value` (null: delete it)?
    fn is_write_allowed(
        &mut self,
        view: &View<'_>,
        so: &SoKey,
        client: ClientId,
        key: &str,
        value: &Value,
    ) -> bool {
        let _ = (view, so, client, key, value);
        true
    }
    /// May `client` remove `key`?
    fn is_delete_allowed(
        &mut self,
        view: &View<'_>,
        so: &SoKey,
        client: ClientId,
        key: &str,
    ) -> bool {
        let _ = (view, so, client, key);
        true
    }
    /// May `client` send `method(args)` to the subscribers?
    fn is_send_allowed(
        &mut self,
        view: &View<'_>,
        so: &SoKey,
        client: ClientId,
        method: &str,
        args: &[Value],
    ) -> bool {
        let _ = (view, so, client, method, args);
        true
    }
}

/// How an SO is built: run on *every* creation of a matching SO, by a
/// client's USE or by server code, the first time or after it was destroyed.
pub trait SoFactory: Send {
    /// Configure the SO `so` about to be created.
    fn build(&mut self, so: &SoKey, setup: &mut SoSetup);
}

impl<F> SoFactory for F
where
    F: FnMut(&SoKey, &mut SoSetup) + Send,
{
    fn build(&mut self, so: &SoKey, setup: &mut SoSetup) {
        self(so, setup);
    }
}

/// How long an SO stays alive without subscribers (and not acquired).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Destroy it this many milliseconds after it became empty (0: at the end
    /// of the input that emptied it). Re-armed every time it becomes empty.
    Linger(u64),
    /// Keep it while its scope runs.
    WhileScopeRuns,
}

/// What a factory configures for one SO. Starts with what the creator asked
/// for and the engine's defaults.
pub struct SoSetup {
    pub(crate) origin: Origin,
    pub(crate) persistent: bool,
    pub(crate) retention: Retention,
    pub(crate) listeners: Vec<Box<dyn SharedObjectListener>>,
    pub(crate) handlers: BTreeMap<(Str, Str), Box<dyn SendHandler>>,
    pub(crate) security: Vec<Box<dyn SharedObjectSecurity>>,
    pub(crate) initial: Vec<(Str, Value)>,
}

impl SoSetup {
    pub(crate) fn new(origin: Origin, persistent: bool, retention: Retention) -> Self {
        Self {
            origin,
            persistent,
            retention,
            listeners: Vec::new(),
            handlers: BTreeMap::new(),
            security: Vec::new(),
            initial: Vec::new(),
        }
    }

    /// Who is creating the SO.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// Whether the SO will be persistent (what the creator asked for, unless
    /// changed with [`SoSetup::set_persistent`]).
    pub fn is_persistent(&self) -> bool {
        self.persistent
    }

    /// Fix the persistence. A creator asking for the other one is refused
    /// (`SharedObject.BadPersistence` for a client).
    pub fn set_persistent(&mut self, persistent: bool) -> &mut Self {
        self.persistent = persistent;
        self
    }

    /// Set how long the SO stays without subscribers (transient SOs only;
    /// persistent SOs stay while their scope runs).
    pub fn retention(&mut self, retention: Retention) -> &mut Self {
        self.retention = retention;
        self
    }

    /// Attach a listener.
    pub fn listener(&mut self, listener: impl SharedObjectListener + 'static) -> &mut Self {
        self.listeners.push(Box::new(listener));
        self
    }

    /// Handle SEND_MESSAGE `service.method` (`service` empty: a name without
    /// a dot). Names split at the last dot: `a.b.c` is service `a.b`, method `c`.
    pub fn send_handler(
        &mut self,
        service: &str,
        method: &str,
        handler: impl SendHandler + 'static,
    ) -> &mut Self {
        self.handlers
            .insert((service.into(), method.into()), Box::new(handler));
        self
    }

    /// Add a security check for this SO (checked before the application's).
    pub fn security(&mut self, security: impl SharedObjectSecurity + 'static) -> &mut Self {
        self.security.push(Box::new(security));
        self
    }

    /// Start with `key = value` (unless restored data exists for a
    /// persistent SO: stored data wins, initial data is ignored).
    pub fn initial(&mut self, key: impl Into<Str>, value: impl Into<Value>) -> &mut Self {
        self.initial.push((key.into(), value.into()));
        self
    }
}

/// A client's call, as a method handler sees it.
#[derive(Debug, Clone, Copy)]
pub struct CallRequest<'a> {
    /// The caller.
    pub client: ClientId,
    /// The caller's scope.
    pub scope: &'a ScopePath,
    /// The method name.
    pub method: &'a str,
    /// The arguments.
    pub args: &'a [Value],
}

/// A method clients may call. `Ok(value)` answers `_result`; `Err(info)`
/// answers `_error` with that information object (see
/// [`status_object`](crate::status_object)).
pub trait MethodHandler: Send {
    /// Answer one call.
    fn call(&mut self, cx: &mut Context<'_>, request: &CallRequest<'_>) -> Result<Value, Value>;
}

impl<F> MethodHandler for F
where
    F: FnMut(&mut Context<'_>, &CallRequest<'_>) -> Result<Value, Value> + Send,
{
    fn call(&mut self, cx: &mut Context<'_>, request: &CallRequest<'_>) -> Result<Value, Value> {
        self(cx, request)
    }
}

/// An information object `{level: "error", code, description}`, as `_error`
/// and `onStatus` carry them.
pub fn status_object(code: &str, description: &str) -> Value {
    Value::object([
        ("level", Value::from("error")),
        ("code", Value::from(code)),
        ("description", Value::from(description)),
    ])
}
