//! [`ServerHandle`]: server code outside the engine (a timer task, a web
//! backend, an admin command) acting on the running server's SOs, scopes
//! and clients. Each operation runs on the engine thread as one job and
//! answers with its own result.

use std::time::Instant;

use rtmp_proto::amf::{Encoding, Str, Value};
use so_engine::server::{Effects, Hub};
use so_engine::{
    Attributes, ClientId, ConnectInfo, Engine, EngineMisuse, Input, Output, ScopePath, ServerOp,
    Snapshot, SoKey, Tick,
};

use super::engine::{Calls, JobSender};
use crate::sync::oneshot;

/// Why a [`ServerHandle`] operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The scope is not running (declare it with
    /// [`ServerHandle::start_scope`], or wait for a client).
    #[error("scope {0} is not running")]
    NoSuchScope(ScopePath),
    /// The SO does not exist.
    #[error("no shared object {0}")]
    NoSuchSharedObject(SoKey),
    /// The client is not connected.
    #[error("no connected client {0}")]
    NoSuchClient(ClientId),
    /// The operation is not allowed in the object's state: the other
    /// persistence, already locked, not locked, not acquired, unbalanced.
    #[error("refused: {0}")]
    Denied(EngineMisuse),
    /// A key, value, SO, scope or call count over a configured limit.
    #[error("{what} exceeds the configured limit of {max}")]
    LimitExceeded {
        /// Which limit.
        what: &'static str,
        /// Its configured maximum.
        max: u64,
    },
    /// The client answered the call with `_error` (its information object).
    #[error("the client answered with an error: {0:?}")]
    CallFailed(Value),
    /// The client left before it answered the call.
    #[error("the client left before answering")]
    CallAbandoned,
    /// The server stopped (or is stopping): nothing runs any more.
    #[error("the server is gone")]
    ServerGone,
    /// Another misuse of the engine.
    #[error(transparent)]
    Engine(EngineMisuse),
}

impl From<EngineMisuse> for ServerError {
    fn from(misuse: EngineMisuse) -> Self {
        match misuse {
            EngineMisuse::NoSuchScope(scope) | EngineMisuse::ScopeStopping(scope) => {
                Self::NoSuchScope(scope)
            }
            EngineMisuse::NoSuchSharedObject(so) => Self::NoSuchSharedObject(so),
            EngineMisuse::UnknownClient(client) => Self::NoSuchClient(client),
            EngineMisuse::LimitExceeded { what, max } => Self::LimitExceeded { what, max },
            denied @ (EngineMisuse::BadPersistence(_)
            | EngineMisuse::AlreadyLocked(_)
            | EngineMisuse::NotLocked(_)
            | EngineMisuse::NotAcquired(_)
            | EngineMisuse::UnbalancedEndUpdate(_)) => Self::Denied(denied),
            other => Self::Engine(other),
        }
    }
}

/// One change in a [`ServerHandle::batch`].
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Set a key (null removes it).
    Set(Str, Value),
    /// Remove a key.
    Remove(Str),
    /// Remove every key.
    Clear,
    /// Send `method(args)` to the subscribers.
    Send(Str, Vec<Value>),
}

/// A connected client, as [`ServerHandle::clients`] lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSummary {
    /// Its id.
    pub id: ClientId,
    /// The scope it connected to.
    pub scope: ScopePath,
    /// Its encoding.
    pub encoding: Encoding,
    /// What it said when connecting.
    pub info: Option<ConnectInfo>,
    /// What the authorization attached to it.
    pub attributes: Attributes,
}

/// Server code's handle on a server: cheap to clone, `Send + Sync`,
/// obtained before the server runs (`Server::handle`) and usable while it
/// runs, from any task or thread. Every method runs one job on the engine
/// thread and returns its own result: the engine's error
/// ([`ServerError`]) or [`ServerError::ServerGone`] once the server
/// stopped. Changes go through the same path as clients' (listeners see
/// them, subscribers get them, persistent SOs save them), bypassing
/// security, which guards clients.
#[derive(Clone)]
pub struct ServerHandle {
    jobs: JobSender,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle").finish_non_exhaustive()
    }
}

impl ServerHandle {
    pub(super) fn new(jobs: JobSender) -> Self {
        Self { jobs }
    }

    /// Runs `f` on the engine thread with the engine and the time, routing
    /// what it outputs; its result comes back.
    pub async fn with_engine<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine, Tick, &mut Vec<Output>) -> T + Send + 'static,
    ) -> Result<T, ServerError> {
        let (tx, rx) = oneshot();
        let sent = self.jobs.send(Box::new(
            move |hub: &mut Hub, effects: &mut Effects, _: &mut Calls| {
                tx.send(hub.with_engine(Instant::now(), effects, f));
            },
        ));
        if !sent {
            return Err(ServerError::ServerGone);
        }
        rx.recv().await.ok_or(ServerError::ServerGone)
    }

    /// Runs one server operation.
    pub async fn submit(&self, op: ServerOp) -> Result<(), ServerError> {
        self.with_engine(move |engine, now, out| engine.handle_input(now, Input::Server(op), out))
            .await?
            .map_err(ServerError::from)
    }

    /// Creates a transient SO through its factory (nothing if it exists
    /// with the same persistence). It stays while its scope runs.
    pub async fn create_transient(&self, so: &SoKey) -> Result<(), ServerError> {
        self.submit(ServerOp::Create {
            so: so.clone(),
            persistent: false,
        })
        .await
    }

    /// Creates a persistent SO (its stored data comes back with it).
    pub async fn create_persistent(&self, so: &SoKey) -> Result<(), ServerError> {
        self.submit(ServerOp::Create {
            so: so.clone(),
            persistent: true,
        })
        .await
    }

    /// The SO's version and attributes, sorted by key.
    pub async fn snapshot(&self, so: &SoKey) -> Result<Snapshot, ServerError> {
        let so = so.clone();
        self.with_engine(move |engine, _, _| {
            let live = engine
                .view()
                .shared_object(&so)
                .ok_or(ServerError::NoSuchSharedObject(so.clone()))?;
            Ok(Snapshot {
                version: live.version(),
                values: live
                    .attributes()
                    .map(|(k, v)| (Str::from(k), v.clone()))
                    .collect(),
            })
        })
        .await?
    }

    /// One attribute (`None`: the SO has no such key).
    pub async fn get(&self, so: &SoKey, key: &str) -> Result<Option<Value>, ServerError> {
        let (so, key) = (so.clone(), key.to_owned());
        self.with_engine(move |engine, _, _| {
            let live = engine
                .view()
                .shared_object(&so)
                .ok_or(ServerError::NoSuchSharedObject(so.clone()))?;
            Ok(live.get(&key).cloned())
        })
        .await?
    }

    /// Whether the SO is live.
    pub async fn has(&self, so: &SoKey) -> Result<bool, ServerError> {
        let so = so.clone();
        self.with_engine(move |engine, _, _| engine.view().has(&so))
            .await
    }

    /// The names of the live SOs in a running scope, sorted.
    pub async fn names(&self, scope: &ScopePath) -> Result<Vec<String>, ServerError> {
        let scope = scope.clone();
        self.with_engine(move |engine, _, _| {
            let view = engine.view();
            if !view.is_running(&scope) {
                return Err(ServerError::NoSuchScope(scope));
            }
            Ok(view.names(&scope).map(str::to_owned).collect())
        })
        .await?
    }

    /// Sets a key (null removes it): one update.
    pub async fn set(
        &self,
        so: &SoKey,
        key: impl Into<Str>,
        value: impl Into<Value>,
    ) -> Result<(), ServerError> {
        self.submit(ServerOp::Set {
            so: so.clone(),
            key: key.into(),
            value: value.into(),
        })
        .await
    }

    /// Sets several keys as one update (one version, one message).
    pub async fn set_many<K: Into<Str>, V: Into<Value>>(
        &self,
        so: &SoKey,
        values: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), ServerError> {
        self.submit(ServerOp::SetMany {
            so: so.clone(),
            values: values
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        })
        .await
    }

    /// Removes a key if present.
    pub async fn remove(&self, so: &SoKey, key: impl Into<Str>) -> Result<(), ServerError> {
        self.submit(ServerOp::Remove {
            so: so.clone(),
            key: key.into(),
        })
        .await
    }

    /// Removes every key.
    pub async fn clear(&self, so: &SoKey) -> Result<(), ServerError> {
        self.submit(ServerOp::Clear { so: so.clone() }).await
    }

    /// Invokes `method(args)` on every subscriber.
    pub async fn send(
        &self,
        so: &SoKey,
        method: impl Into<Str>,
        args: Vec<Value>,
    ) -> Result<(), ServerError> {
        self.submit(ServerOp::Send {
            so: so.clone(),
            method: method.into(),
            args,
        })
        .await
    }

    /// Destroys the SO (subscribers are told, listeners see `on_destroy`).
    pub async fn destroy(&self, so: &SoKey) -> Result<(), ServerError> {
        self.submit(ServerOp::Destroy { so: so.clone() }).await
    }

    /// Destroys every SO of a running scope whose name matches `pattern`.
    pub async fn destroy_matching(
        &self,
        scope: &ScopePath,
        pattern: &str,
    ) -> Result<(), ServerError> {
        self.submit(ServerOp::DestroyMatching {
            scope: scope.clone(),
            pattern: pattern.into(),
        })
        .await
    }

    /// Clears every SO of a running scope whose name matches `pattern`.
    pub async fn clear_matching(
        &self,
        scope: &ScopePath,
        pattern: &str,
    ) -> Result<(), ServerError> {
        self.submit(ServerOp::ClearMatching {
            scope: scope.clone(),
            pattern: pattern.into(),
        })
        .await
    }

    /// Applies `edits` as one update: one version, one message per
    /// subscriber. An edit that fails ends the batch there (the edits before
    /// it stay) and its error is returned.
    pub async fn batch(&self, so: &SoKey, edits: Vec<Edit>) -> Result<(), ServerError> {
        let so = so.clone();
        self.with_engine(move |engine, now, out| {
            let mut run = |op| engine.handle_input(now, Input::Server(op), out);
            run(ServerOp::BeginUpdate { so: so.clone() })?;
            let mut result = Ok(());
            for edit in edits {
                let op = match edit {
                    Edit::Set(key, value) => ServerOp::Set {
                        so: so.clone(),
                        key,
                        value,
                    },
                    Edit::Remove(key) => ServerOp::Remove {
                        so: so.clone(),
                        key,
                    },
                    Edit::Clear => ServerOp::Clear { so: so.clone() },
                    Edit::Send(method, args) => ServerOp::Send {
                        so: so.clone(),
                        method,
                        args,
                    },
                };
                result = run(op);
                if result.is_err() {
                    break;
                }
            }
            // The SO may be gone (a listener destroyed it): nothing to end.
            let _ = run(ServerOp::EndUpdate { so });
            result.map_err(ServerError::from)
        })
        .await?
    }

    /// Keeps the SO alive without subscribers until [`release`](Self::release).
    pub async fn acquire(&self, so: &SoKey) -> Result<(), ServerError> {
        self.submit(ServerOp::Acquire { so: so.clone() }).await
    }

    /// Undoes one [`acquire`](Self::acquire).
    pub async fn release(&self, so: &SoKey) -> Result<(), ServerError> {
        self.submit(ServerOp::Release { so: so.clone() }).await
    }

    /// Locks the SO (AMS's `lock`): clients' messages for it wait, in
    /// order, until [`unlock`](Self::unlock); this handle's changes go out
    /// as one update then.
    pub async fn lock(&self, so: &SoKey) -> Result<(), ServerError> {
        self.submit(ServerOp::Lock { so: so.clone() }).await
    }

    /// Unlocks the SO.
    pub async fn unlock(&self, so: &SoKey) -> Result<(), ServerError> {
        self.submit(ServerOp::Unlock { so: so.clone() }).await
    }

    /// Starts a scope (and those above it) and keeps it running with no
    /// client until [`stop_scope`](Self::stop_scope).
    pub async fn start_scope(&self, scope: &ScopePath) -> Result<(), ServerError> {
        self.submit(ServerOp::StartScope {
            scope: scope.clone(),
        })
        .await
    }

    /// Stops keeping a scope running: it stops once no client is in it.
    pub async fn stop_scope(&self, scope: &ScopePath) -> Result<(), ServerError> {
        self.submit(ServerOp::StopScope {
            scope: scope.clone(),
        })
        .await
    }

    /// The clients in a running scope (or below it), with what they said
    /// when connecting and what their authorization attached.
    pub async fn clients(&self, scope: &ScopePath) -> Result<Vec<ClientSummary>, ServerError> {
        let scope = scope.clone();
        self.with_engine(move |engine, _, _| {
            let view = engine.view();
            if !view.is_running(&scope) {
                return Err(ServerError::NoSuchScope(scope));
            }
            Ok(view
                .clients_in(&scope)
                .filter(|c| view.is_connected(*c))
                .filter_map(|id| {
                    Some(ClientSummary {
                        id,
                        scope: view.client_scope(id)?.clone(),
                        encoding: view.client_encoding(id)?,
                        info: view.client_info(id).cloned(),
                        attributes: view.client_attributes(id).cloned().unwrap_or_default(),
                    })
                })
                .collect())
        })
        .await?
    }

    /// Disconnects a client now.
    pub async fn disconnect(
        &self,
        client: ClientId,
        reason: impl Into<String>,
    ) -> Result<(), ServerError> {
        self.submit(ServerOp::Disconnect {
            client,
            reason: reason.into(),
        })
        .await
    }

    /// Calls `method(args)` on a client and waits for its answer: the
    /// `_result` values, [`ServerError::CallFailed`] with its `_error`, or
    /// [`ServerError::CallAbandoned`] if it leaves first.
    pub async fn call(
        &self,
        client: ClientId,
        method: impl Into<Str>,
        args: Vec<Value>,
    ) -> Result<Vec<Value>, ServerError> {
        let method = method.into();
        let (tx, rx) = oneshot();
        let sent = self.jobs.send(Box::new(
            move |hub: &mut Hub, effects: &mut Effects, calls: &mut Calls| {
                let started = hub.with_engine(Instant::now(), effects, |engine, now, out| {
                    let before = out.len();
                    if !engine.view().is_connected(client) {
                        return Err(ServerError::NoSuchClient(client));
                    }
                    let op = ServerOp::CallClient {
                        client,
                        method,
                        args,
                    };
                    engine.handle_input(now, Input::Server(op), out)?;
                    out.get(before..)
                        .into_iter()
                        .flatten()
                        .find_map(|o| match o {
                            Output::CallClient {
                                client: c, call, ..
                            } if *c == client => Some(*call),
                            _ => None,
                        })
                        .ok_or(ServerError::NoSuchClient(client))
                });
                match started {
                    Ok(call) => {
                        calls.insert(call, tx);
                    }
                    Err(e) => tx.send(Err(e)),
                }
            },
        ));
        if !sent {
            return Err(ServerError::ServerGone);
        }
        rx.recv().await.ok_or(ServerError::ServerGone)?
    }
}
