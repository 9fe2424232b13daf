//! The handle to one remote SharedObject.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rtmp_proto::amf::{Str, Value};
use rtmp_proto::mirror::RemoteSharedObject;

use super::ClientError;
use super::session::{Answer, Ticket, mirror};
use super::shared::UserRef;
use crate::runtime::Runtime;
use crate::sync::lock;

/// A remote SharedObject in use: its live state and its requests.
///
/// The state ([`get`](Self::get), [`snapshot`](Self::snapshot),
/// [`version`](Self::version)) is the local mirror the driver keeps up to
/// date; it includes our writes the server has not confirmed yet (see
/// [`rtmp_proto::mirror`]). Cloning gives another handle to the same SO.
pub struct SharedObject<R: Runtime> {
    name: Str,
    mirror: Arc<Mutex<RemoteSharedObject>>,
    /// The receiver subscribed before the USE went out, so that the first
    /// [`events`](Self::events) call sees the USE answer.
    first_events: Mutex<Option<R::Events>>,
    user: UserRef<R>,
    timeout: Duration,
}

impl<R: Runtime> SharedObject<R> {
    pub(crate) fn new(
        name: Str,
        mirror: Arc<Mutex<RemoteSharedObject>>,
        events: R::Events,
        user: UserRef<R>,
        timeout: Duration,
    ) -> Self {
        Self {
            name,
            mirror,
            first_events: Mutex::new(Some(events)),
            user,
            timeout,
        }
    }

    /// The SO's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it was used as a persistent SO.
    pub fn is_persistent(&self) -> bool {
        mirror(&self.mirror).is_persistent()
    }

    /// Whether it is in use: false after [`release`](Self::release), after
    /// the server destroyed it, or once the connection closed.
    pub fn is_connected(&self) -> bool {
        mirror(&self.mirror).is_connected()
    }

    /// What happens to the SO, in order, from the server's messages.
    ///
    /// The first call on a handle whose [`Client::shared_object`](super::Client::shared_object)
    /// sent the USE starts with the answer to it (`Connected`, `Cleared`,
    /// one `Changed` per attribute, `Version`); other calls, clones, and
    /// handles to an SO already in use see events from then on. The
    /// receiver ends when the connection closes or the SO is released; a
    /// receiver that falls more than
    /// [`ClientOptions::event_capacity`](super::ClientOptions::event_capacity)
    /// events behind misses the oldest and is told how many (the state
    /// itself is always complete).
    pub fn events(&self) -> R::Events {
        if let Some(first) = lock(&self.first_events).take() {
            return first;
        }
        let state = self.user.shared().lock();
        state
            .session
            .subscribe(&self.name, &self.mirror)
            .unwrap_or_else(|| {
                // Released or closed: a receiver that has already ended.
                let sender = R::event_channel(1);
                R::subscribe(&sender)
            })
    }

    /// The value of attribute `key`.
    pub fn get(&self, key: &str) -> Option<Value> {
        mirror(&self.mirror).get(key).cloned()
    }

    /// Every attribute, ordered by key.
    pub fn snapshot(&self) -> BTreeMap<Str, Value> {
        mirror(&self.mirror).values().clone()
    }

    /// The version of the last update received.
    pub fn version(&self) -> u32 {
        mirror(&self.mirror).version()
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
        let (key, value) = (key.into(), value.into());
        let ticket = self
            .user
            .request(|session, conn, now| session.set(conn, now, &self.name, key, value))?;
        self.answer(ticket).await.map(drop)
    }

    /// Deletes `key`. Resolves with `true` once the server removed it,
    /// `false` at once if the key is not there (nothing to wait for: the
    /// server answers the removal of a missing key with nothing), or fails
    /// with [`ClientError::Denied`].
    pub async fn remove(&self, key: impl Into<Str>) -> Result<bool, ClientError> {
        let key = key.into();
        let ticket = self
            .user
            .request(|session, conn, now| session.remove(conn, now, &self.name, key))?;
        Ok(matches!(self.answer(ticket).await?, Answer::Removed(true)))
    }

    /// Invokes `method(args)` on every subscriber, this one included.
    /// Resolves when our own message comes back, or fails with
    /// [`ClientError::Denied`].
    pub async fn send(&self, method: impl Into<Str>, args: Vec<Value>) -> Result<(), ClientError> {
        let method = method.into();
        let ticket = self
            .user
            .request(|session, conn, now| session.send(conn, now, &self.name, method, args))?;
        self.answer(ticket).await.map(drop)
    }

    /// Stops using the SO (RELEASE). Every handle to it stops receiving;
    /// unanswered requests fail with [`ClientError::NotInUse`].
    pub async fn release(self) -> Result<(), ClientError> {
        let ticket = self
            .user
            .request(|session, conn, now| session.release(conn, now, &self.name))?;
        self.answer(ticket).await.map(drop)
    }

    async fn answer(&self, ticket: Ticket) -> Result<Answer<R>, ClientError> {
        self.user
            .wait(ticket, self.timeout, "the server's answer")
            .await
    }
}

impl<R: Runtime> Clone for SharedObject<R> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            mirror: Arc::clone(&self.mirror),
            first_events: Mutex::new(None),
            user: self.user.clone(),
            timeout: self.timeout,
        }
    }
}

impl<R: Runtime> std::fmt::Debug for SharedObject<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedObject")
            .field("name", &self.name)
            .field("mirror", &self.mirror)
            .finish_non_exhaustive()
    }
}
