//! The deterministic RTMP Remote SharedObject engine: Red5's server-side
//! SharedObject model (scopes, SOs, subscriptions, versions, security,
//! listeners, send handlers, factories, retention, persistence, calls),
//! without Red5's bugs, and without I/O.
//!
//! # The model
//!
//! A client connects to a **scope**: the application `app`, or a room below
//! it, `app/room/...` ([`ScopePath`]). A scope starts when its first client
//! arrives and stops when its last one leaves, the application scope too,
//! unless the application declared it ([`ServerOp::StartScope`]): then it
//! runs from then on, with or without clients, until
//! [`ServerOp::StopScope`].
//! SharedObjects live in a scope by name ([`SoKey`]); the same name in two
//! rooms is two SOs. A client's USE subscribes it (creating the SO if
//! needed); every subscriber sees every change; the SO's **version** goes up
//! by one for every update that changed it.
//!
//! The engine is a state machine: [`Engine::handle_input`] takes one [`Input`] at
//! a time (a client connected, left, sent an SO message or a call; time
//! passed; server code's [`ServerOp`]) and appends [`Output`]s (SO message
//! bodies addressed to clients, call replies, persist/delete effects,
//! lifecycle events). An update is encoded once per encoding: each body
//! comes out once, with the list of its [`Recipients`], so that the engine's
//! work per recipient is adding a [`ClientId`] to a list. It never reads a
//! clock (time is the [`Tick`] passed in), never does I/O, draws no
//! randomness and iterates ordered collections only: the same inputs give
//! the same outputs, bit for bit.
//!
//! With [`EngineConfig::cluster`] on, the engine is one process's part of
//! several that share their SOs: clients' writes come out to be applied by
//! each SO's owner, and published updates come back in (see [`cluster`]).
//!
//! # Driving it
//!
//! The caller (an adapter) numbers connections ([`ClientId`]), feeds every
//! event in, carries out every output, and wakes the engine at
//! [`Engine::poll_timeout`] with [`Input::Tick`]:
//!
//! ```
//! use so_engine::{ClientId, Engine, EngineConfig, Input, Output, ScopePath, Tick};
//! use rtmp_proto::amf::Encoding;
//! use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
//!
//! let mut engine = Engine::new(EngineConfig::default(), ());
//! let mut out = Vec::new();
//! let now = Tick(0);
//! engine.handle_input(now, Input::ClientConnected {
//!     client: ClientId(1),
//!     scope: ScopePath::new("chatapp/lobby")?,
//!     encoding: Encoding::Amf0,
//!     args: vec![],
//! }, &mut out)?;
//! engine.handle_input(now, Input::SharedObject {
//!     client: ClientId(1),
//!     message: SharedObjectMessage {
//!         name: "chat".into(), version: 0, persistent: false, events: vec![SoEvent::Use],
//!     },
//! }, &mut out)?;
//! for output in out.drain(..) {
//!     match output {
//!         // Write the body as a type 19 (AMF0) or 16 (AMF3) message to each
//!         // recipient: one output per update and encoding, however many.
//!         Output::SharedObject { to, encoding, body, .. } => {
//!             for client in to { let _ = (client, encoding, &body); }
//!         }
//!         Output::ConnectAccepted { client } => { /* _result Connect.Success */ let _ = client; }
//!         other => { let _ = other; /* calls, persistence, lifecycle: see Output */ }
//!     }
//! }
//! // Sleep until the next deadline (or the next event), then tick.
//! if let Some(deadline) = engine.poll_timeout() {
//!     engine.handle_input(deadline, Input::Tick, &mut out)?;
//! }
//! # Ok::<(), so_engine::EngineMisuse>(())
//! ```
//!
//! Between real connections and the engine, [`server`] does the
//! translating both ways ([`server::ClientLink`] beside each `Connection`,
//! [`server::Hub`] beside the engine), the same for every adapter.
//!
//! Peers never cause an `Err`: a client's bad request becomes a STATUS
//! message. `Err(`[`EngineMisuse`]`)` means the caller (or server code) asked
//! for something impossible: an unknown client, time going backwards, a
//! server operation on an SO that does not exist.
//!
//! # What clients see (the behaviour contract)
//!
//! * **USE** is answered by one message: USE_SUCCESS, CLEAR, one CHANGE per
//!   attribute (sorted by key), at the current version. CLEAR is sent for
//!   persistent SOs too, so a client's stale cache cannot keep deleted keys;
//!   a repeated USE on the same connection gets the same full answer (Red5
//!   answers nothing).
//! * **REQUEST_CHANGE k=v**: the writer gets SUCCESS k, every other
//!   subscriber CHANGE k=v. Writing the value a key already has (compared
//!   bit for bit, see below) gets SUCCESS only and changes no version. A
//!   null, undefined or missing value deletes the key: SUCCESS to the
//!   writer, REMOVE to the others.
//! * **REQUEST_REMOVE k**: REMOVE k to every subscriber, writer included,
//!   if k existed; otherwise nothing at all. Security is asked first for
//!   every removal, that of a missing key included: a denied one gets
//!   `SharedObject.NoWriteAccess` then REMOVE k (the authoritative state).
//! * **SEND_MESSAGE m(args)**: the server's handler for `m` runs first, then
//!   the message goes to every subscriber, the sender included. It changes
//!   no attribute and no version.
//! * **One message, one update**: all events of a client message are applied
//!   in order; each recipient gets at most one message for them, and the
//!   version goes up once if anything changed. Every recipient of one update
//!   sees the same version; versions never go backwards. A new SO starts at
//!   version 1 (a restored one at its stored version).
//! * **Refusals** (STATUS level `error`):
//!
//!   | request | code | also |
//!   |---|---|---|
//!   | USE, creation denied or impossible (limits) | [`status::CREATION_FAILED`] | |
//!   | USE, connection denied | [`status::NO_READ_ACCESS`] | |
//!   | USE with the other persistence | [`status::BAD_PERSISTENCE`] | |
//!   | any other event for an SO this connection has not used | [`status::NO_OBJECT_FOUND`] | never creates it |
//!   | write or delete denied | [`status::NO_WRITE_ACCESS`] | then CHANGE (or REMOVE) with the authoritative value |
//!   | send denied | [`status::NO_WRITE_ACCESS`] | nothing is broadcast |
//!   | a key, value, attribute count or SO size over a limit | [`status::LIMIT_EXCEEDED`] | like a denied write |
//!   | more events in one message than allowed | [`status::LIMIT_EXCEEDED`] | nothing of it applies |
//!   | answers past [`EngineLimits::max_update_bytes`] | [`status::LIMIT_EXCEEDED`] | the rest of the message is refused; then the SO's full state (CLEAR, CHANGEs) in a message of its own |
//!
//!   Refusals of the request as a whole (the first four rows and the last)
//!   come in a message of their own, in Red5's form: version 0, the request's
//!   name and persistence flag. The others are part of the update's answer
//!   to the writer. The persistence flag is checked at USE only.
//! * **RELEASE** gets no answer; releasing an SO the connection does not
//!   hold (a second RELEASE, or one for an SO destroyed meanwhile) is
//!   already done, and ignored.
//! * **Destroyed SOs**: subscribers of an SO that server code destroys get
//!   one message, CLEAR then STATUS [`status::OBJECT_DESTROYED`] (level
//!   `status`), and are detached; a later USE builds the SO anew.
//!
//! A client rebuilds an SO from what it receives by applying events in
//! order: USE_SUCCESS starts it, CLEAR empties it, CHANGE sets, REMOVE
//! deletes, SUCCESS k means "k now holds the value you wrote" (re-apply it:
//! another client's CHANGE to k may have arrived after your local write),
//! a STATUS NoWriteAccess or LimitExceeded is followed by the authoritative
//! value of the key it refused, and a STATUS LimitExceeded that ends a
//! message means the rest of your message was refused (its writes get no
//! answer; the next message holds the full state). The engine's tests rebuild
//! every subscriber's view that way and compare it with the engine's state.
//!
//! Values compare bit for bit ([`rtmp_proto::amf::Value`] numbers by
//! their bits: writing `-0.0` over `0.0` is a change, `NaN` over `NaN` is
//! not), and `Integer(1)` differs from `Number(1.0)`.
//!
//! # Server code: hooks and the server API
//!
//! * [`Application`]: lifecycle hooks in Red5's order (`app_start`,
//!   `app_connect` (may reject), `app_join`, `room_start`, `room_connect`,
//!   `room_join`; on leaving `room_disconnect`, `room_leave`,
//!   `app_disconnect`, `app_leave`; then `room_stop`/`app_stop`), and
//!   `call_result` for answers to the server's calls.
//! * [`SharedObjectListener`]: connect, disconnect, update, delete, clear,
//!   send and destroy events of one SO.
//! * [`SendHandler`]: runs on a client's SEND_MESSAGE `service.method`
//!   before the broadcast.
//! * [`SharedObjectSecurity`]: creation, connect, write, delete and send
//!   vetoes, per SO first, then per application; the first denial wins.
//!   Server code is never checked.
//! * [`SoFactory`]: how SOs named by an exact name or a `*`/`?` pattern are
//!   built (persistence, listeners, handlers, security, initial data,
//!   retention). It runs on **every** creation, by a client's USE or by
//!   server code, the first time or after a destruction: there is no
//!   generic SO silently replacing a configured one (the Red5 pitfall of
//!   docs/PROTOCOL.md §7 item 1).
//! * [`MethodHandler`]: methods clients may call.
//!
//! Hooks run synchronously inside [`Engine::handle_input`]. Those that may change
//! things get a [`Context`]: it reads the state as it was when the hook was
//! called and queues [`ServerApi`] operations. **Order:** the changes the
//! hooks of one event queued are applied right after the last of those
//! hooks returns, in the order queued, before the engine goes on; hooks
//! they trigger queue theirs the same way (depth first, bounded by
//! [`EngineLimits::max_hook_depth`] and
//! [`EngineLimits::max_hook_ops_per_input`]). A queued change to an SO whose
//! update is open (the client message being applied, or a server batch)
//! joins that update; the writer of the client message then receives it
//! too. A queued operation that fails is reported as [`Output::HookFailed`].
//!
//! **Calls to clients** ([`ServerApi::call_client`]) return the [`CallId`]
//! the answer comes back under, to [`Application::call_result`] and as
//! [`Output::CallResult`]. Every id a hook got is answered once: by the
//! client, or, when the queued call cannot be made as it is applied (the
//! client left meanwhile, [`EngineLimits::max_pending_calls_per_client`]
//! reached), at once with `Err`, a `NetConnection.Call.Failed` information
//! object whose description says why (besides the
//! [`Output::HookFailed`]). The exceptions: a call whose client leaves after
//! it went out is abandoned ([`Output::CallAbandoned`], no `call_result`),
//! and a hook that panics drops the calls it queued with everything else.
//!
//! Outside hooks, server code uses [`Engine::server`] (each operation
//! applies at once) or feeds [`Input::Server`]. Reads go through
//! [`Engine::view`]. No operation fails silently: outside hooks each returns
//! its error; inside, [`Context`] returns at once what it can tell (no such
//! SO or scope, unknown client) and reports the rest as
//! [`Output::HookFailed`].
//!
//! **Panics.** Every hook call is guarded: a hook that panics is reported
//! ([`EngineMisuse::HookPanicked`] in an [`Output::HookFailed`], with the
//! hook, scope, SO and client) and counted ([`Engine::hook_panics`]); what
//! it queued is dropped, and its request fails the way its kind fails: a
//! connect is rejected, a creation fails, a security check denies (a write
//! gets NoWriteAccess and the rollback), a send handler's send is refused
//! and not broadcast, a method's call gets `_error`. Lifecycle hooks and
//! listeners that panic change nothing else. The engine's state is never
//! lent to a hook mutably, so it is consistent after the unwind.
//!
//! **Locks** (AMS's `lock`/`unlock`): [`ServerOp::Lock`] makes clients'
//! messages for the SO wait, in arrival order, and gathers the server's
//! changes into one update; [`ServerOp::Unlock`] sends that update and then
//! applies the held messages as if they arrived then. Held messages are
//! bounded by [`EngineLimits::max_held_bytes_per_so`] (past it the writer
//! gets STATUS `SharedObject.LimitExceeded` and the authoritative values);
//! a lock held past [`EngineConfig::max_lock_ms`] is released with
//! [`Output::LockExpired`]. A client that leaves takes its held messages
//! with it.
//!
//! # Lifecycle and retention
//!
//! How long things live:
//!
//! | what | starts | stays | goes |
//! |---|---|---|---|
//! | a scope clients start | with its first client | while a client (or a running room) is in it | when the last leaves (`*_stop` runs) |
//! | a scope the application declares ([`ServerOp::StartScope`]) | at the declaration (its start hook runs once) | with or without clients | after [`ServerOp::StopScope`], once empty |
//! | a transient SO a client created (USE) | at the USE | while subscribed or acquired | [`EngineConfig::default_linger_ms`] after it became idle (0: at once) |
//! | a transient SO server code created | [`ServerOp::Create`] | with its scope, data included, with no client | when its scope stops, or [`ServerOp::Destroy`] |
//! | a persistent SO | USE or `Create` (stored data restored) | with its scope | saved and unloaded when its scope stops; comes back on the next USE |
//! | an SO a factory configured | as above | its factory's [`Retention`] (transient SOs) | as its retention says |
//! | an acquired SO ([`ServerOp::Acquire`]) | | until the matching release, whatever its retention | |
//!
//! The linger is re-armed every time the SO becomes empty (Red5 arms it
//! once). When a scope stops, its SOs go with it (destroy events included).
//!
//! # Persistence as effects
//!
//! The engine never touches a disk. A persistent SO with changes emits
//! [`Output::Persist`] (a full [`Snapshot`]) once
//! [`EngineConfig::persist_interval_ms`] after its first unsaved change
//! (coalescing the changes in between), at once when its scope stops, and
//! for all on [`Input::Flush`] / [`Input::Shutdown`]. An SO left without
//! attributes is persisted too, as an empty snapshot: it stays cleared
//! after a restart and keeps its version, which never goes back. An SO
//! destroyed by server code emits [`Output::DeletePersisted`]: its data
//! and version are gone, and an SO created later under the same name is a
//! new one, starting again at version 1 (its subscribers were told with
//! `SharedObject.ObjectDestroyed`). Stored data goes back in with
//! [`Input::Restored`] before clients are served.
//!
//! # Examples
//!
//! A chat room: clients use a transient SO `chat` in their room; messages
//! are SEND_MESSAGE, the history is an attribute.
//!
//! ```
//! use so_engine::*;
//! use rtmp_proto::amf::{Encoding, Value};
//! use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
//!
//! let mut engine = Engine::new(EngineConfig::default(), ());
//! let mut out = Vec::new();
//! let t = Tick(0);
//! let so_msg = |client, events| Input::SharedObject {
//!     client: ClientId(client),
//!     message: SharedObjectMessage { name: "chat".into(), version: 0, persistent: false, events },
//! };
//! for c in [1, 2] {
//!     let scope = ScopePath::new("chat/room1")?;
//!     engine.handle_input(t, Input::ClientConnected {
//!         client: ClientId(c), scope, encoding: Encoding::Amf0, args: vec![],
//!     }, &mut out)?;
//!     engine.handle_input(t, so_msg(c, vec![SoEvent::Use]), &mut out)?;
//! }
//! out.clear();
//! engine.handle_input(t, so_msg(1, vec![
//!     SoEvent::RequestChange { key: "topic".into(), value: "rust".into() },
//!     SoEvent::SendMessage { method: "newMessage".into(), args: vec!["hello".into()] },
//! ]), &mut out)?;
//! // One message to each: client 1 gets SUCCESS + the echo, client 2 CHANGE + the message.
//! let recipients: Vec<_> = out.iter().flat_map(|o| match o {
//!     Output::SharedObject { to, .. } => to.as_slice(),
//!     _ => &[],
//! }).map(|c| c.0).collect();
//! assert_eq!(recipients, [1, 2]);
//! let chat = SoKey::new(ScopePath::new("chat/room1")?, "chat");
//! assert_eq!(engine.view().get(&chat, "topic"), Some(&Value::from("rust")));
//! assert_eq!(engine.view().shared_object(&chat).map(|s| s.version()), Some(2));
//! // The last one out: the SO goes (linger 0), the room stops.
//! engine.handle_input(t, Input::ClientLeft { client: ClientId(1) }, &mut out)?;
//! engine.handle_input(t, Input::ClientLeft { client: ClientId(2) }, &mut out)?;
//! assert!(!engine.view().has(&chat));
//! # Ok::<(), EngineMisuse>(())
//! ```
//!
//! A server-created SO with a listener (the case where Red5 loses its
//! listeners, docs/PROTOCOL.md §7 item 1): `presence` keeps `count` equal
//! to its number of subscribers. Because a factory builds it, the listener
//! is there after every re-creation.
//!
//! ```
//! use so_engine::*;
//! use rtmp_proto::amf::{Encoding, Value};
//! use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
//!
//! struct Presence;
//! impl SharedObjectListener for Presence {
//!     fn on_connect(&mut self, cx: &mut Context<'_>, so: &SoKey, _: ClientId) {
//!         recount(cx, so);
//!     }
//!     fn on_disconnect(&mut self, cx: &mut Context<'_>, so: &SoKey, _: ClientId) {
//!         recount(cx, so);
//!     }
//! }
//! fn recount(cx: &mut Context<'_>, so: &SoKey) {
//!     let n = cx.view().shared_object(so).map_or(0, |s| s.subscriber_count());
//!     // Queued: applied right after the hook returns, in the same update.
//!     let _ = cx.set(so, "count", n as f64);
//! }
//!
//! let mut engine = Engine::new(EngineConfig::default(), ());
//! engine.register_factory("presence", |_: &SoKey, setup: &mut SoSetup| {
//!     setup.listener(Presence);
//! });
//! let (mut out, t) = (Vec::new(), Tick(0));
//! let presence = SoKey::new(ScopePath::new("app")?, "presence");
//! for round in 0..2 {
//!     for c in [1, 2] {
//!         engine.handle_input(t, Input::ClientConnected {
//!             client: ClientId(c), scope: ScopePath::new("app")?,
//!             encoding: Encoding::Amf3, args: vec![],
//!         }, &mut out)?;
//!         engine.handle_input(t, Input::SharedObject { client: ClientId(c), message: SharedObjectMessage {
//!             name: "presence".into(), version: 0, persistent: false, events: vec![SoEvent::Use],
//!         }}, &mut out)?;
//!     }
//!     assert_eq!(engine.view().get(&presence, "count"), Some(&Value::Number(2.0)), "round {round}");
//!     for c in [1, 2] {
//!         engine.handle_input(t, Input::ClientLeft { client: ClientId(c) }, &mut out)?;
//!     }
//!     assert!(!engine.view().has(&presence)); // destroyed; rebuilt next round, listener and all
//! }
//! # Ok::<(), EngineMisuse>(())
//! ```
//!
//! A security handler (the third scenario): SOs named `readonly.*` may be
//! used but not written by clients; the server may write them. A denied
//! writer gets `SharedObject.NoWriteAccess` and the authoritative value.
//!
//! ```
//! use so_engine::*;
//! use rtmp_proto::amf::{Encoding, Value};
//! use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
//!
//! struct ReadOnly;
//! impl SharedObjectSecurity for ReadOnly {
//!     fn is_write_allowed(&mut self, _: &View<'_>, so: &SoKey, _: ClientId,
//!                         _: &str, _: &Value) -> bool {
//!         !so.name.starts_with("readonly.")
//!     }
//! }
//!
//! let mut engine = Engine::new(EngineConfig::default(), ());
//! engine.register_security(ReadOnly);
//! let (mut out, t) = (Vec::new(), Tick(0));
//! let app = ScopePath::new("app")?;
//! let news = SoKey::new(app.clone(), "readonly.news");
//! engine.handle_input(t, Input::ClientConnected {
//!     client: ClientId(1), scope: app, encoding: Encoding::Amf0, args: vec![],
//! }, &mut out)?;
//! {
//!     let mut server = engine.server(t, &mut out);
//!     server.create(&news, false)?;
//!     server.set(&news, "headline", "engine ships")?;
//! }
//! let msg = |events| Input::SharedObject { client: ClientId(1), message: SharedObjectMessage {
//!     name: "readonly.news".into(), version: 0, persistent: false, events,
//! }};
//! engine.handle_input(t, msg(vec![SoEvent::Use]), &mut out)?;
//! engine.handle_input(t, msg(vec![SoEvent::RequestChange {
//!     key: "headline".into(), value: "defaced".into(),
//! }]), &mut out)?;
//! assert_eq!(engine.view().get(&news, "headline"), Some(&Value::from("engine ships")));
//! # Ok::<(), EngineMisuse>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cluster;
mod config;
mod connect;
mod context;
pub mod delivery;
mod engine;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod hooks;
mod interface;
pub mod pattern;
pub mod server;
mod state;
pub mod store;
mod types;
mod values;

pub use config::{EngineConfig, EngineLimits};
pub use connect::{Attributes, ConnectInfo};
pub use context::{Context, ServerApi, ServerSession, SoRef, View};
pub use delivery::{Body, ChangeKey, Recipients};
pub use engine::Engine;
pub use error::EngineMisuse;
pub use hooks::{
    Application, CallRequest, MethodHandler, Retention, SendHandler, SharedObjectListener,
    SharedObjectSecurity, SoFactory, SoSetup, status_object,
};
pub use interface::{Input, Output, ServerOp, Snapshot};
// The store still names the engine's inputs and outputs by their old
// module path.
use interface as io;
pub use types::{CallId, ClientId, Origin, ScopePath, SoKey, Tick};

/// The STATUS codes the engine sends in SharedObject messages.
pub mod status {
    /// USE denied by a security check.
    pub const NO_READ_ACCESS: &str = "SharedObject.NoReadAccess";
    /// Write, delete or send denied by a security check.
    pub const NO_WRITE_ACCESS: &str = "SharedObject.NoWriteAccess";
    /// Creation denied, or impossible (name too long, too many SOs in the scope).
    pub const CREATION_FAILED: &str = "SharedObject.ObjectCreationFailed";
    /// The USE asked for the other persistence than the SO has.
    pub const BAD_PERSISTENCE: &str = "SharedObject.BadPersistence";
    /// A message for an SO the connection has not used (AMS's code for it).
    pub const NO_OBJECT_FOUND: &str = "SharedObject.NoObjectFound";
    /// A message, key, value or SO over a configured limit.
    pub const LIMIT_EXCEEDED: &str = "SharedObject.LimitExceeded";
    /// The server destroyed the SO (level `status`, after a CLEAR).
    pub const OBJECT_DESTROYED: &str = "SharedObject.ObjectDestroyed";
}
