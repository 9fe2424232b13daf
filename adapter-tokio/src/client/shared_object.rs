//! The handle to one remote SharedObject.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rtmp_proto::amf::{Str, Value};
use rtmp_proto::remote::{RemoteEvent, RemoteSharedObject};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::ClientError;
use super::driver::Command;

/// A remote SharedObject in use: its live state and its requests.
///
/// The state ([`get`](Self::get), [`snapshot`](Self::snapshot),
/// [`version`](Self::version)) is the local mirror the connection task
/// keeps up to date; it includes our writes the server has not confirmed
/// yet (see [`rtmp_proto::remote`]). Cloning gives another handle to the
/// same SO.
#[derive(Debug)]
pub struct SharedObject {
    name: Str,
    mirror: Arc<Mutex<RemoteSharedObject>>,
    /// The receiver subscribed before the USE went out, so the first
    /// [`events`](Self::events) call sees the USE answer; then a template.
    events: Mutex<(
        Option<broadcast::Receiver<RemoteEvent>>,
        broadcast::Receiver<RemoteEvent>,
    )>,
    commands: mpsc::UnboundedSender<Command>,
    timeout: Duration,
}

impl SharedObject {
    pub(crate) fn new(
        mirror: Arc<Mutex<RemoteSharedObject>>,
        events: broadcast::Receiver<RemoteEvent>,
        commands: mpsc::UnboundedSender<Command>,
        timeout: Duration,
    ) -> Self {
        let name = lock(&mirror).name().into();
        let template = events.resubscribe();
        Self {
            name,
            mirror,
            events: Mutex::new((Some(events), template)),
            commands,
            timeout,
        }
    }

    /// The SO's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it was used as a persistent SO.
    pub fn is_persistent(&self) -> bool {
        lock(&self.mirror).is_persistent()
    }

    /// Whether it is in use: false after [`release`](Self::release), after
    /// the server destroyed it, or once the connection closed.
    pub fn is_connected(&self) -> bool {
        lock(&self.mirror).is_connected()
    }

    /// What happens to the SO, in order, from the server's messages.
    ///
    /// The first call on a handle whose [`Client::shared_object`](super::Client::shared_object)
    /// sent the USE starts with the answer to it (`Connected`, `Cleared`,
    /// one `Changed` per attribute, `Version`); other calls, clones, and
    /// handles to an SO already in use see events from then on. The receiver ends when the connection closes or
    /// the SO is released; a receiver that falls more than
    /// [`ClientOptions::event_capacity`](super::ClientOptions::event_capacity)
    /// events behind gets `Lagged` and misses them (the state itself is
    /// always complete).
    pub fn events(&self) -> broadcast::Receiver<RemoteEvent> {
        let mut slot = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.0.take() {
            Some(first) => first,
            None => slot.1.resubscribe(),
        }
    }

    /// The value of attribute `key`.
    pub fn get(&self, key: &str) -> Option<Value> {
        lock(&self.mirror).get(key).cloned()
    }

    /// Every attribute, ordered by key.
    pub fn snapshot(&self) -> BTreeMap<Str, Value> {
        lock(&self.mirror).values().clone()
    }

    /// The version of the last update received.
    pub fn version(&self) -> u32 {
        lock(&self.mirror).version()
    }

    /// Sets `key` to `value` (null deletes it). The local copy changes at
    /// once; this resolves when the server confirms (SUCCESS), or fails with
    /// [`ClientError::Denied`] when it refuses, after the local copy took
    /// the server's value back.
    pub async fn set(
        &self,
        key: impl Into<Str>,
        value: impl Into<Value>,
    ) -> Result<(), ClientError> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Set {
            name: self.name.clone(),
            key: key.into(),
            value: value.into(),
            reply,
        };
        self.request(command, answer).await
    }

    /// Deletes `key`. Resolves with `true` once the server removed it,
    /// `false` at once if the key is not there (nothing to wait for: the
    /// server answers the removal of a missing key with nothing), or fails
    /// with [`ClientError::Denied`].
    pub async fn remove(&self, key: impl Into<Str>) -> Result<bool, ClientError> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Remove {
            name: self.name.clone(),
            key: key.into(),
            reply,
        };
        self.request(command, answer).await
    }

    /// Invokes `method(args)` on every subscriber, this one included.
    /// Resolves when our own message comes back, or fails with
    /// [`ClientError::Denied`].
    pub async fn send(&self, method: impl Into<Str>, args: Vec<Value>) -> Result<(), ClientError> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Send {
            name: self.name.clone(),
            method: method.into(),
            args,
            reply,
        };
        self.request(command, answer).await
    }

    /// Stops using the SO (RELEASE). Every handle to it stops receiving;
    /// unanswered requests fail with [`ClientError::NotInUse`].
    pub async fn release(self) -> Result<(), ClientError> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Release {
            name: self.name.clone(),
            reply,
        };
        self.request(command, answer).await
    }

    async fn request<T>(
        &self,
        command: Command,
        answer: oneshot::Receiver<Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        self.commands
            .send(command)
            .map_err(|_| ClientError::Disconnected)?;
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(Ok(outcome)) => outcome,
            // The task ended without answering: the connection is gone.
            Ok(Err(_)) => Err(ClientError::Disconnected),
            Err(_) => Err(ClientError::Timeout("the server's answer")),
        }
    }
}

impl Clone for SharedObject {
    fn clone(&self) -> Self {
        let template = self
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .resubscribe();
        Self {
            name: self.name.clone(),
            mirror: Arc::clone(&self.mirror),
            events: Mutex::new((None, template)),
            commands: self.commands.clone(),
            timeout: self.timeout,
        }
    }
}

/// The mirror's lock; a panic elsewhere while holding it leaves a state
/// that is still a valid mirror, so poisoning is ignored.
pub(crate) fn lock(mirror: &Mutex<RemoteSharedObject>) -> MutexGuard<'_, RemoteSharedObject> {
    mirror.lock().unwrap_or_else(PoisonError::into_inner)
}
