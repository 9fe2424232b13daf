//! What goes into the engine ([`Input`], [`ServerOp`]) and what comes out
//! ([`Output`]).

use rtmp_proto::amf::{Encoding, Str, Value};
use rtmp_proto::message::shared_object::SharedObjectMessage;

use crate::cluster::{ForwardedWrite, ReplicaDelta, WriterAnswer};
use crate::connect::{Attributes, ConnectInfo};
use crate::delivery::{Body, ChangeKey, Recipients};
use crate::error::EngineMisuse;
use crate::types::{CallId, ClientId, ScopePath, SoKey};

/// One thing that happened, fed to [`Engine::handle_input`](crate::Engine::handle_input).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Input {
    /// A client sent `connect` to `scope`. Answered by
    /// [`Output::ConnectAccepted`] or [`Output::ConnectRejected`].
    ClientConnected {
        /// The id the caller gives this connection.
        client: ClientId,
        /// The scope from the connect path (`app` or `app/room/...`).
        scope: ScopePath,
        /// The encoding the client asked for (`objectEncoding`).
        encoding: Encoding,
        /// The extra `connect` arguments, for the application's hooks.
        args: Vec<Value>,
    },
    /// A client sent `connect`, and the application's authorization (if
    /// any) let it in with these attributes: like
    /// [`Input::ClientConnected`], with everything the client said and the
    /// attributes, for hooks to read.
    ClientConnectedWith {
        /// The id the caller gives this connection.
        client: ClientId,
        /// What the client sent (its scope, encoding and arguments included).
        info: Box<ConnectInfo>,
        /// What the authorization attached.
        attributes: Attributes,
    },
    /// The connection is gone (closed by either side, or after an
    /// [`Output::Disconnect`]). Releases every SO it used.
    ClientLeft {
        /// The connection.
        client: ClientId,
    },
    /// A SharedObject message (type 19 or 16) from a client.
    SharedObject {
        /// The sender.
        client: ClientId,
        /// The decoded message.
        message: SharedObjectMessage,
    },
    /// A client called a method (`NetConnection.call`).
    Call {
        /// The caller.
        client: ClientId,
        /// The transaction id; 0 means no answer is expected.
        transaction_id: f64,
        /// The method name.
        method: Str,
        /// The arguments (after the command object).
        args: Vec<Value>,
    },
    /// A client answered a call the server made ([`Output::CallClient`]).
    CallResult {
        /// The client.
        client: ClientId,
        /// The id from [`Output::CallClient`].
        call: CallId,
        /// `Ok` with the `_result` values, `Err` with the `_error` information.
        outcome: Result<Vec<Value>, Value>,
    },
    /// A persistent SO's data, loaded from the store. Give every snapshot
    /// before serving: restoring an SO that is live is a misuse.
    Restored {
        /// The SO.
        so: SoKey,
        /// Its data.
        snapshot: Snapshot,
    },
    /// Time passed: fires due lingers and persists (see
    /// [`Engine::poll_timeout`](crate::Engine::poll_timeout)).
    Tick,
    /// Emit [`Output::Persist`] for every persistent SO with unsaved changes
    /// now, whatever the interval (before a graceful shutdown).
    Flush,
    /// Disconnect every client, stop every scope and flush: the engine is
    /// empty afterwards, every persistent SO is saved.
    Shutdown,
    /// A server-side operation, as server code outside hooks issues it.
    Server(ServerOp),
    /// Cluster mode: this process owns the SO (`true`, from now on its
    /// published updates coming back are not applied again) or no longer
    /// does (`false`). See [`cluster`](crate::cluster).
    Owned {
        /// The SO.
        so: SoKey,
        /// Whether this process owns it now.
        owned: bool,
    },
    /// Cluster mode: this process now owns the SO, and its authoritative
    /// copy becomes `snapshot`, the last published state (`None`: nothing
    /// is stored, a new SO), whatever the copy here held. Like
    /// [`Input::Owned`] with `true`; its clients here are shown the state
    /// if it is newer than what they saw (a USE waiting for it is
    /// answered with it).
    Rebuild {
        /// The SO.
        so: SoKey,
        /// The last published state.
        snapshot: Option<Snapshot>,
    },
    /// Cluster mode: apply an update the SO's owner published: `writer`
    /// (if connected here) gets the delta's writer events, every other
    /// subscriber its events, all at `version`. Ignored below the SO's
    /// version (a send, which keeps the version, is delivered at the same
    /// version). On the owner, the update was applied when the owner made
    /// it: it is only delivered to the clients here (the owner's clients
    /// see its updates once they are published).
    ReplicaUpdate {
        /// The SO.
        so: SoKey,
        /// Its version after the update.
        version: u32,
        /// What changed.
        delta: ReplicaDelta,
        /// The writer, if the write was made here.
        writer: Option<ClientId>,
    },
    /// Cluster mode: replace the SO's state with `snapshot` if its version
    /// is above the SO's: every subscriber gets CLEAR and every attribute,
    /// at that version (a subscriber whose USE answer waited for the
    /// state gets its USE answer with it instead). On the owner, the SO's
    /// state is not changed (it is the authoritative copy): its clients
    /// are shown the published state if it is newer than what they saw.
    ReplicaReset {
        /// The SO.
        so: SoKey,
        /// The state.
        snapshot: Snapshot,
    },
    /// Cluster mode: the cluster has no stored state for the SO (a new
    /// one): the USE answers waiting for its state go out with the SO as
    /// this process has it.
    ReplicaLoaded {
        /// The SO.
        so: SoKey,
    },
    /// Cluster mode: the answer to a client's write that published nothing.
    WriteAnswered {
        /// The writer.
        client: ClientId,
        /// The SO.
        so: SoKey,
        /// The answer.
        answer: WriterAnswer,
    },
}

/// A server-side operation on SOs, scopes or clients: what Red5's
/// `ISharedObjectService` and `ISharedObject` offer, plus what they lack.
///
/// Server operations bypass the security hooks (those guard clients) and go
/// through the same code path as client messages, with
/// [`Origin::Server`](crate::Origin::Server): listeners see them, persistent
/// SOs save them, subscribers receive them (as CHANGE, REMOVE, CLEAR or
/// SEND_MESSAGE; the server gets no SUCCESS).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ServerOp {
    /// Create the SO through its factory unless it exists (then nothing
    /// happens, or [`EngineMisuse::BadPersistence`] if its persistence
    /// differs). A server-created SO stays while its scope runs unless its
    /// factory says otherwise.
    Create {
        /// The SO.
        so: SoKey,
        /// Whether it is persistent.
        persistent: bool,
    },
    /// Set `key` to `value` (null or undefined removes it). One update.
    Set {
        /// The SO.
        so: SoKey,
        /// The attribute.
        key: Str,
        /// The value.
        value: Value,
    },
    /// Set several attributes as one update (one message per subscriber,
    /// every changed key in it; Red5's bulk set notifies nobody).
    SetMany {
        /// The SO.
        so: SoKey,
        /// The attributes, applied in order.
        values: Vec<(Str, Value)>,
    },
    /// Remove `key` if present. One update.
    Remove {
        /// The SO.
        so: SoKey,
        /// The attribute.
        key: Str,
    },
    /// Remove every attribute: subscribers get CLEAR, a persistent SO's
    /// stored data is deleted.
    Clear {
        /// The SO.
        so: SoKey,
    },
    /// Invoke `method(args)` on every subscriber (flushed at once, or at the
    /// end of the open update; Red5 forgets to flush it).
    Send {
        /// The SO.
        so: SoKey,
        /// The handler name.
        method: Str,
        /// The arguments.
        args: Vec<Value>,
    },
    /// Open a batch: changes until the matching [`ServerOp::EndUpdate`] go
    /// out as one update. Batches nest; the outermost end flushes.
    BeginUpdate {
        /// The SO.
        so: SoKey,
    },
    /// Close a batch opened by [`ServerOp::BeginUpdate`].
    EndUpdate {
        /// The SO.
        so: SoKey,
    },
    /// Destroy the SO now. Subscribers get CLEAR and a STATUS
    /// `SharedObject.ObjectDestroyed` and are detached; listeners see
    /// `on_destroy`; a persistent SO's stored data is deleted.
    Destroy {
        /// The SO.
        so: SoKey,
    },
    /// [`ServerOp::Clear`] every SO in `scope` whose name matches `pattern`
    /// (`*`, `?`; see [`matches`](crate::pattern::matches)).
    ClearMatching {
        /// The scope.
        scope: ScopePath,
        /// The name pattern.
        pattern: Str,
    },
    /// [`ServerOp::Destroy`] every SO in `scope` whose name matches `pattern`.
    DestroyMatching {
        /// The scope.
        scope: ScopePath,
        /// The name pattern.
        pattern: Str,
    },
    /// Keep the SO alive without subscribers until a matching
    /// [`ServerOp::Release`] (counted).
    Acquire {
        /// The SO.
        so: SoKey,
    },
    /// Undo one [`ServerOp::Acquire`]; the SO may then linger and go.
    Release {
        /// The SO.
        so: SoKey,
    },
    /// Call `method(args)` on a client; its answer arrives as
    /// [`Input::CallResult`] and reaches
    /// [`Application::call_result`](crate::Application::call_result), under
    /// the id [`ServerApi::call_client`](crate::ServerApi::call_client) returns.
    CallClient {
        /// The client.
        client: ClientId,
        /// The method.
        method: Str,
        /// The arguments.
        args: Vec<Value>,
    },
    /// Disconnect a client now: it leaves every SO and scope at once and the
    /// caller gets [`Output::Disconnect`]. Its later
    /// [`Input::ClientLeft`] is accepted.
    Disconnect {
        /// The client.
        client: ClientId,
        /// Why, for logs.
        reason: String,
    },
    /// Start `scope` (and the scopes above it that are not running) and keep
    /// it running with no client in it, until [`ServerOp::StopScope`]: an
    /// application scope (or room) the application declares. Its start hook
    /// runs once, when it starts; a scope already running is only kept.
    StartScope {
        /// The scope.
        scope: ScopePath,
    },
    /// Stop keeping `scope` running: it stops now if no client is in it or
    /// below it (and no kept room below it), else when the last one leaves.
    StopScope {
        /// The scope.
        scope: ScopePath,
    },
    /// Lock the SO for server code (AMS's `SharedObject.lock`): until
    /// [`ServerOp::Unlock`], clients' messages for it are held, in arrival
    /// order, and server changes to it gather into one update. A lock held
    /// past [`EngineConfig::max_lock_ms`](crate::EngineConfig::max_lock_ms)
    /// is released with [`Output::LockExpired`].
    Lock {
        /// The SO.
        so: SoKey,
    },
    /// Release the lock: the server's changes go out as one update, then the
    /// held client messages apply in the order they arrived.
    Unlock {
        /// The SO.
        so: SoKey,
    },
}

/// The data of a persistent SO: what the store saves and restores.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Snapshot {
    /// The SO's version.
    pub version: u32,
    /// Its attributes, sorted by key.
    pub values: Vec<(Str, Value)>,
}

/// One effect of an input, for the caller to carry out. Outputs come in the
/// order the engine produced them; per client, that order is the wire order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Output {
    /// Send this SharedObject message body (type 19 for AMF0, 16 for AMF3) to
    /// every client in `to`. An update is encoded once per encoding and
    /// comes out as one such output per encoding, whatever the number of
    /// recipients; each of them is in one output only.
    SharedObject {
        /// The recipients (at least one), all using `encoding`.
        to: Recipients,
        /// Their encoding, which picks the message type.
        encoding: Encoding,
        /// The encoded body, the same bytes for all of them.
        body: Body,
        /// Where the SO name and key sit in `body` when it is exactly one
        /// CHANGE (what a newer CHANGE of the same key may replace).
        key: Option<ChangeKey>,
    },
    /// Answer the client's `connect` with `_result`
    /// `NetConnection.Connect.Success`.
    ConnectAccepted {
        /// The client.
        client: ClientId,
    },
    /// Answer the client's `connect` with `_error`
    /// `NetConnection.Connect.Rejected` and close it. The client is not in
    /// the engine; no [`Input::ClientLeft`] is needed (one is accepted).
    ConnectRejected {
        /// The client.
        client: ClientId,
        /// The description to send.
        reason: String,
    },
    /// Answer a client's call: `_result` (`Ok`) or `_error` (`Err`, an
    /// information object with `level`, `code` and `description`).
    CallReply {
        /// The caller.
        client: ClientId,
        /// The call's transaction id.
        transaction_id: f64,
        /// The answer.
        reply: Result<Value, Value>,
    },
    /// Call a method on a client; report its answer as [`Input::CallResult`].
    CallClient {
        /// The client.
        client: ClientId,
        /// The id to report the answer under.
        call: CallId,
        /// The method.
        method: Str,
        /// The arguments.
        args: Vec<Value>,
    },
    /// Close this client's connection (server code asked for it). The
    /// engine already treats it as gone.
    Disconnect {
        /// The client.
        client: ClientId,
        /// Why.
        reason: String,
    },
    /// Save this persistent SO's data (replacing what is stored).
    Persist {
        /// The SO.
        so: SoKey,
        /// Its data.
        snapshot: Box<Snapshot>,
    },
    /// Delete this SO's stored data (server code destroyed it; a cleared SO
    /// is persisted empty instead, keeping its version).
    DeletePersisted {
        /// The SO.
        so: SoKey,
    },
    /// A scope started (its first client arrived).
    ScopeStarted {
        /// The scope.
        scope: ScopePath,
    },
    /// A scope stopped (its last client left).
    ScopeStopped {
        /// The scope.
        scope: ScopePath,
    },
    /// An SO was created.
    SoCreated {
        /// The SO.
        so: SoKey,
    },
    /// An SO was destroyed (or, if persistent, unloaded with its scope).
    SoDestroyed {
        /// The SO.
        so: SoKey,
        /// Whether it was persistent (a non-persistent SO's state is gone
        /// with it).
        persistent: bool,
    },
    /// A change server code queued in a hook could not be applied (the
    /// error it would have returned), or a hook panicked
    /// ([`EngineMisuse::HookPanicked`]). For logs: nothing else happened.
    HookFailed {
        /// What went wrong.
        error: EngineMisuse,
    },
    /// A client answered a server call, or a call a hook queued could not
    /// be made when applied (`Err`, `NetConnection.Call.Failed`), after
    /// [`Application::call_result`](crate::Application::call_result) ran:
    /// for adapters that hand the answer to whoever made the call.
    CallResult {
        /// The client.
        client: ClientId,
        /// The call's id (from [`Output::CallClient`]).
        call: CallId,
        /// `Ok` with the `_result` values, `Err` with the `_error` information.
        outcome: Result<Vec<Value>, Value>,
    },
    /// A server call will never be answered: its client left first.
    CallAbandoned {
        /// The client.
        client: ClientId,
        /// The call's id.
        call: CallId,
    },
    /// A lock was held past its time limit and released (a warning for
    /// logs: server code forgot to unlock, or took too long).
    LockExpired {
        /// The SO.
        so: SoKey,
    },
    /// Cluster mode: a client's writes to an SO it uses, or server code's
    /// changes, not applied here: hand them to the SO's owner (see
    /// [`cluster`](crate::cluster)).
    ClusterWrite {
        /// The SO.
        so: SoKey,
        /// The write.
        write: ForwardedWrite,
    },
}
