//! How server code reads the state ([`View`], [`SoRef`]) and changes it
//! ([`ServerApi`], implemented by [`Context`] inside hooks and by [`ServerSession`]
//! outside them).

use rtmp_proto::amf::{Encoding, Str, Value};

use crate::connect::{Attributes, ConnectInfo};
use crate::engine::Engine;
use crate::error::EngineMisuse;
use crate::hooks::Retention;
use crate::interface::{Input, Output, ServerOp};
use crate::state::{Phase, SharedObject, State};
use crate::types::{CallId, ClientId, ScopePath, SoKey, Tick};

/// A read-only look at the engine's state.
#[derive(Clone, Copy)]
pub struct View<'a> {
    state: &'a State,
}

impl<'a> View<'a> {
    pub(crate) fn new(state: &'a State) -> Self {
        Self { state }
    }

    /// The live SO `so`, if it exists.
    pub fn shared_object(&self, so: &SoKey) -> Option<SoRef<'a>> {
        let id = self.state.so_id(so)?;
        self.state.sos.get(&id).map(|so| SoRef { so })
    }

    /// Whether the SO `so` is live.
    pub fn has(&self, so: &SoKey) -> bool {
        self.state.so_id(so).is_some()
    }

    /// The value of attribute `key` of SO `so`.
    pub fn get(&self, so: &SoKey, key: &str) -> Option<&'a Value> {
        self.shared_object(so)?.get(key)
    }

    /// The names of the live SOs in `scope`, sorted.
    pub fn names(&self, scope: &ScopePath) -> impl Iterator<Item = &'a str> + 'a {
        self.state
            .scopes
            .get(scope)
            .into_iter()
            .flat_map(|s| s.sos.keys().map(|k| k.as_str()))
    }

    /// The running scopes, sorted.
    pub fn scopes(&self) -> impl Iterator<Item = &'a ScopePath> + 'a {
        self.state.scopes.keys()
    }

    /// Whether `scope` is running.
    pub fn is_running(&self, scope: &ScopePath) -> bool {
        self.state.scopes.contains_key(scope)
    }

    /// The clients in `scope` or below it, sorted.
    pub fn clients_in(&self, scope: &ScopePath) -> impl Iterator<Item = ClientId> + 'a {
        self.state
            .scopes
            .get(scope)
            .into_iter()
            .flat_map(|s| s.clients.iter().copied())
    }

    /// The scope a client connected to (also while it connects).
    pub fn client_scope(&self, client: ClientId) -> Option<&'a ScopePath> {
        self.state.clients.get(&client).map(|c| &c.scope)
    }

    /// What a client said when it connected, if the adapter passed it on
    /// ([`Input::ClientConnectedWith`](crate::Input::ClientConnectedWith));
    /// readable from its connect hooks to its disconnect hooks.
    pub fn client_info(&self, client: ClientId) -> Option<&'a ConnectInfo> {
        let c = self.state.clients.get(&client)?;
        c.info.as_deref().map(|(info, _)| info)
    }

    /// What the application's authorization attached to a client.
    pub fn client_attributes(&self, client: ClientId) -> Option<&'a Attributes> {
        let c = self.state.clients.get(&client)?;
        c.info.as_deref().map(|(_, attributes)| attributes)
    }

    /// The encoding a client connected with.
    pub fn client_encoding(&self, client: ClientId) -> Option<Encoding> {
        self.state.clients.get(&client).map(|c| c.encoding)
    }

    /// Whether the client is connected (its `connect` was accepted and it
    /// has not left).
    pub fn is_connected(&self, client: ClientId) -> bool {
        self.state
            .clients
            .get(&client)
            .is_some_and(|c| c.phase == Phase::Connected)
    }

    /// The snapshot stored for a persistent SO that is not live.
    pub fn stored(&self, so: &SoKey) -> Option<&'a crate::Snapshot> {
        self.state.stored.get(so)
    }
}

/// A read-only look at one live SO.
#[derive(Clone, Copy)]
pub struct SoRef<'a> {
    so: &'a SharedObject,
}

impl<'a> SoRef<'a> {
    /// Its scope and name.
    pub fn key(&self) -> &'a SoKey {
        &self.so.key
    }

    /// Its version: +1 for every update that changed it.
    pub fn version(&self) -> u32 {
        self.so.version
    }

    /// Whether it is persistent.
    pub fn is_persistent(&self) -> bool {
        self.so.persistent
    }

    /// The value of attribute `key`.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.so.attrs.get(key)
    }

    /// Whether it has attribute `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.so.attrs.contains_key(key)
    }

    /// Its attributes, sorted by key.
    pub fn attributes(&self) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        self.so.attrs.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many attributes it has.
    pub fn len(&self) -> usize {
        self.so.attrs.len()
    }

    /// Whether it has no attributes.
    pub fn is_empty(&self) -> bool {
        self.so.attrs.is_empty()
    }

    /// Its subscribers, sorted.
    pub fn subscribers(&self) -> impl Iterator<Item = ClientId> + 'a {
        self.so.subscribers.keys()
    }

    /// How many clients subscribe to it.
    pub fn subscriber_count(&self) -> usize {
        self.so.subscribers.len()
    }

    /// How many acquires hold it.
    pub fn acquire_count(&self) -> u32 {
        self.so.acquired
    }

    /// How long it stays without subscribers.
    pub fn retention(&self) -> Retention {
        self.so.retention
    }

    /// When it will be destroyed unless someone subscribes or acquires it.
    pub fn expires_at(&self) -> Option<Tick> {
        self.so.expires_at
    }
}

/// The server-side API: create, read, change, clear, send on and destroy
/// SOs; acquire them; call and disconnect clients.
///
/// Inside a hook, [`Context`] queues these operations (they apply after the
/// hook returns). Its `Result` reports at once what the queue can already
/// tell: an SO that is neither live nor queued for creation
/// ([`EngineMisuse::NoSuchSharedObject`]), a scope that is neither running
/// nor queued to start ([`EngineMisuse::NoSuchScope`]), an unknown client
/// ([`EngineMisuse::UnknownClient`]); an operation that fails when it is
/// applied is reported as [`Output::HookFailed`](crate::Output::HookFailed).
/// Outside hooks, [`ServerSession`] applies each at once and returns its error.
/// Each operation is one [`ServerOp`]; reads see the state as it is.
pub trait ServerApi {
    /// Submit one operation.
    fn submit(&mut self, op: ServerOp) -> Result<(), EngineMisuse>;

    /// A read-only look at the state.
    fn view(&self) -> View<'_>;

    /// See [`ServerOp::Create`].
    fn create(&mut self, so: &SoKey, persistent: bool) -> Result<(), EngineMisuse> {
        self.submit(ServerOp::Create {
            so: so.clone(),
            persistent,
        })
    }

    /// See [`ServerOp::Set`].
    fn set(
        &mut self,
        so: &SoKey,
        key: impl Into<Str>,
        value: impl Into<Value>,
    ) -> Result<(), EngineMisuse> {
        self.submit(ServerOp::Set {
            so: so.clone(),
            key: key.into(),
            value: value.into(),
        })
    }

    /// See [`ServerOp::SetMany`].
    fn set_many<K: Into<Str>, V: Into<Value>>(
        &mut self,
        so: &SoKey,
        values: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), EngineMisuse> {
        self.submit(ServerOp::SetMany {
            so: so.clone(),
            values: values
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        })
    }

    /// See [`ServerOp::Remove`].
    fn remove(&mut self, so: &SoKey, key: impl Into<Str>) -> Result<(), EngineMisuse> {
        self.submit(ServerOp::Remove {
            so: so.clone(),
            key: key.into(),
        })
    }

    /// See [`ServerOp::Clear`].
    fn clear(&mut self, so: &SoKey) -> Result<(), EngineMisuse> {
        self.submit(ServerOp::Clear { so: so.clone() })
    }

    /// See [`ServerOp::Send`].
    fn send(
        &mut self,
        so: &SoKey,
        method: impl Into<Str>,
        args: Vec<Value>,
    ) -> Result<(), EngineMisuse> {
        self.submit(ServerOp::Send {
            so: so.clone(),
            method: method.into(),
            args,
        })
    }

    /// See [`ServerOp::BeginUpdate`].
    fn begin_update(&mut self, so: &SoKey) -> Result<(), EngineMisuse> {
        self.submit(ServerOp::BeginUpdate { so: so.clone() })
    }

    /// See [`ServerOp::EndUpdate`].
    fn end_update(&mut self, so: &SoKey) -> Result<(), EngineMisuse> {
        self.submit(ServerOp::EndUpdate { so: so.clone() })
    }

    /// See [`ServerOp::Destroy`].
    fn destroy(&mut self, so: &SoKey) -> Result<(), EngineMisuse> {
        self.submit(ServerOp::Destroy { so: so.clone() })
    }

    /// See [`ServerOp::ClearMatching`].
    fn clear_matching(&mut self, scope: &ScopePath, pattern: &str) -> Result<(), EngineMisuse> {
        self.submit(ServerOp::ClearMatching {
            scope: scope.clone(),
            pattern: pattern.into(),
        })
    }

    /// See [`ServerOp::DestroyMatching`].
    fn destroy_matching(&mut self, scope: &ScopePath, pattern: &str) -> Result<(), EngineMisuse> {
        self.submit(ServerOp::DestroyMatching {
            scope: scope.clone(),
            pattern: pattern.into(),
        })
    }

    /// See [`ServerOp::Acquire`].
    fn acquire(&mut self, so: &SoKey) -> Result<(), EngineMisuse> {
        self.submit(ServerOp::Acquire { so: so.clone() })
    }

    /// See [`ServerOp::Release`].
    fn release(&mut self, so: &SoKey) -> Result<(), EngineMisuse> {
        self.submit(ServerOp::Release { so: so.clone() })
    }

    /// See [`ServerOp::CallClient`]. Returns the id the answer will come
    /// back under ([`Application::call_result`](crate::Application::call_result),
    /// [`Output::CallResult`]), so that server code can pair answers with
    /// its calls.
    fn call_client(
        &mut self,
        client: ClientId,
        method: impl Into<Str>,
        args: Vec<Value>,
    ) -> Result<CallId, EngineMisuse>;

    /// See [`ServerOp::StartScope`].
    fn start_scope(&mut self, scope: &ScopePath) -> Result<(), EngineMisuse> {
        self.submit(ServerOp::StartScope {
            scope: scope.clone(),
        })
    }

    /// See [`ServerOp::StopScope`].
    fn stop_scope(&mut self, scope: &ScopePath) -> Result<(), EngineMisuse> {
        self.submit(ServerOp::StopScope {
            scope: scope.clone(),
        })
    }

    /// See [`ServerOp::Lock`].
    fn lock(&mut self, so: &SoKey) -> Result<(), EngineMisuse> {
        self.submit(ServerOp::Lock { so: so.clone() })
    }

    /// See [`ServerOp::Unlock`].
    fn unlock(&mut self, so: &SoKey) -> Result<(), EngineMisuse> {
        self.submit(ServerOp::Unlock { so: so.clone() })
    }

    /// See [`ServerOp::Disconnect`].
    fn disconnect(
        &mut self,
        client: ClientId,
        reason: impl Into<String>,
    ) -> Result<(), EngineMisuse> {
        self.submit(ServerOp::Disconnect {
            client,
            reason: reason.into(),
        })
    }
}

/// What a hook gets: a read-only view of the state as it was when the hook
/// was called, and a queue for changes (through [`ServerApi`]).
pub struct Context<'a> {
    state: &'a State,
    queue: &'a mut Vec<Queued>,
    /// The engine's call-id counter: a queued call gets its id at once.
    next_call: &'a mut u64,
    now: Tick,
}

/// An operation a hook queued; a [`ServerOp::CallClient`] carries the id
/// [`ServerApi::call_client`] already returned.
pub(crate) struct Queued {
    pub(crate) op: ServerOp,
    pub(crate) call: Option<CallId>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(
        state: &'a State,
        queue: &'a mut Vec<Queued>,
        next_call: &'a mut u64,
        now: Tick,
    ) -> Self {
        Self {
            state,
            queue,
            next_call,
            now,
        }
    }

    /// The time of the input being applied.
    pub fn now(&self) -> Tick {
        self.now
    }

    /// How many operations are queued (to drop a panicking hook's own).
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Drops the operations queued after the first `len`.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.queue.truncate(len);
    }
}

impl Context<'_> {
    /// What can be told of `op` before it is applied: its SO, scope or
    /// client must exist, or be queued to (by an earlier operation).
    fn check(&self, op: &ServerOp) -> Result<(), EngineMisuse> {
        let scope_ok = |scope: &ScopePath| {
            self.state.scopes.get(scope).is_some_and(|s| !s.stopping)
                || self.queue.iter().any(
                    |q| matches!(&q.op, ServerOp::StartScope { scope: s } if s.lineage().contains(scope)),
                )
        };
        match op {
            ServerOp::Create { so, .. } if !scope_ok(&so.scope) => {
                Err(EngineMisuse::NoSuchScope(so.scope.clone()))
            }
            ServerOp::Create { .. } | ServerOp::StartScope { .. } => Ok(()),
            ServerOp::ClearMatching { scope, .. }
            | ServerOp::DestroyMatching { scope, .. }
            | ServerOp::StopScope { scope }
                if !scope_ok(scope) =>
            {
                Err(EngineMisuse::NoSuchScope(scope.clone()))
            }
            ServerOp::ClearMatching { .. }
            | ServerOp::DestroyMatching { .. }
            | ServerOp::StopScope { .. } => Ok(()),
            ServerOp::CallClient { client, .. } | ServerOp::Disconnect { client, .. } => {
                if self.state.clients.contains_key(client) {
                    Ok(())
                } else {
                    Err(EngineMisuse::UnknownClient(*client))
                }
            }
            ServerOp::Set { so, .. }
            | ServerOp::SetMany { so, .. }
            | ServerOp::Remove { so, .. }
            | ServerOp::Clear { so }
            | ServerOp::Send { so, .. }
            | ServerOp::BeginUpdate { so }
            | ServerOp::EndUpdate { so }
            | ServerOp::Destroy { so }
            | ServerOp::Acquire { so }
            | ServerOp::Release { so }
            | ServerOp::Lock { so }
            | ServerOp::Unlock { so } => {
                let queued = self
                    .queue
                    .iter()
                    .any(|q| matches!(&q.op, ServerOp::Create { so: s, .. } if s == so));
                if self.state.so_id(so).is_some() || queued {
                    Ok(())
                } else {
                    Err(EngineMisuse::NoSuchSharedObject(so.clone()))
                }
            }
        }
    }
}

impl ServerApi for Context<'_> {
    fn submit(&mut self, op: ServerOp) -> Result<(), EngineMisuse> {
        self.check(&op)?;
        // A call submitted as a plain op still needs an id to run under.
        let call = matches!(op, ServerOp::CallClient { .. }).then(|| self.reserve_call());
        self.queue.push(Queued { op, call });
        Ok(())
    }

    fn call_client(
        &mut self,
        client: ClientId,
        method: impl Into<Str>,
        args: Vec<Value>,
    ) -> Result<CallId, EngineMisuse> {
        let op = ServerOp::CallClient {
            client,
            method: method.into(),
            args,
        };
        self.check(&op)?;
        // The id is taken now, not when the call is applied, because hooks
        // that run in between may call clients too.
        let call = self.reserve_call();
        self.queue.push(Queued {
            op,
            call: Some(call),
        });
        Ok(call)
    }

    fn view(&self) -> View<'_> {
        View::new(self.state)
    }
}

/// The server-side API outside hooks: every operation applies at once, as
/// [`Input::Server`], at time `now`, appending to `out`. Get one from
/// [`Engine::server`].
pub struct ServerSession<'e> {
    pub(crate) engine: &'e mut Engine,
    pub(crate) now: Tick,
    pub(crate) out: &'e mut Vec<Output>,
}

impl Context<'_> {
    fn reserve_call(&mut self) -> CallId {
        let call = CallId(*self.next_call);
        *self.next_call += 1;
        call
    }
}

impl ServerApi for ServerSession<'_> {
    fn submit(&mut self, op: ServerOp) -> Result<(), EngineMisuse> {
        self.engine
            .handle_input(self.now, Input::Server(op), self.out)
    }

    fn call_client(
        &mut self,
        client: ClientId,
        method: impl Into<Str>,
        args: Vec<Value>,
    ) -> Result<CallId, EngineMisuse> {
        self.engine
            .call_now(self.now, client, method.into(), args, self.out)
    }

    fn view(&self) -> View<'_> {
        self.engine.view()
    }
}
