//! The RTMP SharedObject client: connect to a server, use remote
//! SharedObjects, call server methods and answer the server's calls.
//!
//! One driver task per [`Client`] owns the TCP socket and runs the drive
//! loop of the sans-IO [`Connection`]; the [`Client`], each
//! [`SharedObject`] and each [`IncomingCall`] are handles that share the
//! connection with it behind one lock (quinn's design: a request is queued
//! on the connection by the handle itself, and the driver writes it out
//! and wakes the handle when the answer comes). Each SO's state is a
//! [`rtmp_proto::mirror::RemoteSharedObject`] mirror,
//! kept as Flash keeps it: writes apply locally at once and are confirmed
//! or rolled back by the server.
//!
//! The driver ends, and the connection closes, when [`Client::close`] is
//! called or when the client and every handle made from it are dropped.
//! Every wait is bounded by [`ClientOptions::timeout`].

mod calls;
mod driver;
mod error;
mod session;
mod shared;
mod shared_object;
mod url;

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtmp_proto::amf::{Encoding, Str, Value};
use rtmp_proto::connection::{Config, ConnectParams, Connection, Side};

pub use self::calls::IncomingCall;
pub use self::error::ClientError;
pub use self::shared_object::SharedObject;
pub use rtmp_proto::mirror::RemoteEvent;

use self::session::{Answer, Session};
use self::shared::{Shared, UserRef};
use crate::runtime::{Runtime, until};

/// How a [`Client`] connects and behaves.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The object encoding to ask for: AMF3 is what Flash Player 9+ uses by
    /// default (`NetConnection.defaultObjectEncoding`), AMF0 is Flash 6–8's.
    pub encoding: Encoding,
    /// Extra `connect` arguments after the command object (what Flash passes
    /// to `NetConnection.connect` after the URL).
    pub connect_args: Vec<Value>,
    /// The longest wait for anything: TCP connect, handshake and `connect`
    /// together, then each answer (USE, write, send, call).
    pub timeout: Duration,
    /// Events buffered per SharedObject for each receiver of
    /// [`SharedObject::events`]; a receiver further behind loses the oldest.
    pub event_capacity: usize,
    /// The connection's limits and timers (handshake style, chunk size, AMF
    /// limits, ping interval).
    pub config: Config,
}

impl ClientOptions {
    /// Default [`timeout`](Self::timeout): 10 s, the connection's own
    /// connect timeout.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default [`event_capacity`](Self::event_capacity): 1024 events.
    pub const DEFAULT_EVENT_CAPACITY: usize = 1024;
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            encoding: Encoding::Amf3,
            connect_args: Vec::new(),
            timeout: Self::DEFAULT_TIMEOUT,
            event_capacity: Self::DEFAULT_EVENT_CAPACITY,
            config: Config::default(),
        }
    }
}

/// A connection to an RTMP server. See the [module docs](self).
pub struct Client<R: Runtime> {
    user: UserRef<R>,
    encoding: Encoding,
    info: Value,
    timeout: Duration,
}

impl<R: Runtime> Client<R> {
    /// Connects to `url` (`rtmp://host[:port]/app[/room...]`, port 1935 by
    /// default): TCP connect, handshake, then `connect` to the URL's
    /// application path, all within `options.timeout`.
    ///
    /// Fails with [`ClientError::Connect`] if the TCP connection is refused
    /// or unreachable, [`ClientError::Rejected`] with the server's
    /// description, [`ClientError::Timeout`] naming the step that did not
    /// finish, or [`ClientError::Protocol`].
    pub async fn connect(url: &str, options: ClientOptions) -> Result<Self, ClientError> {
        Self::connect_inner(url, options, None).await
    }

    /// Connects like [`connect`](Self::connect), taking the server's calls
    /// from the start, up to `capacity` waiting at once: a server may call
    /// a client as soon as it accepted it (from its join hooks, say),
    /// before `connect` returns, and such calls reach the receiver instead
    /// of failing.
    pub async fn connect_taking_calls(
        url: &str,
        options: ClientOptions,
        capacity: usize,
    ) -> Result<(Self, R::IncomingCalls), ClientError> {
        let (sender, receiver) = R::call_channel(capacity.max(1));
        let client = Self::connect_inner(url, options, Some(sender)).await?;
        Ok((client, receiver))
    }

    async fn connect_inner(
        url: &str,
        options: ClientOptions,
        incoming: Option<R::CallSender>,
    ) -> Result<Self, ClientError> {
        let deadline = Instant::now() + options.timeout;
        let (host, port) = url::host_and_port(url)?;
        let mut params = ConnectParams::from_url(url, options.encoding)
            .ok_or_else(|| ClientError::InvalidUrl(url.to_owned()))?;
        params.args = options.connect_args;
        let addr = format!("{host}:{port}");
        let stream = match until::<R, _>(deadline, R::connect(host, port)).await {
            Some(Ok(stream)) => stream,
            Some(Err(e)) => {
                return Err(ClientError::Connect {
                    addr,
                    source: Arc::new(e),
                });
            }
            None => return Err(ClientError::Timeout("the TCP connection")),
        };
        // SharedObject updates are small and latency matters more than packing.
        let _ = R::set_nodelay(&stream);
        let now = Instant::now();
        let mut conn = Connection::new(Arc::new(options.config), Side::Client, now, seed());
        conn.connect(now, params)?;
        let (mut session, connected) = Session::new(options.event_capacity);
        session.incoming = incoming;
        let shared = Shared::new(conn, session);
        let user = UserRef::new(shared.clone());
        R::spawn(driver::drive::<R>(shared, stream, deadline));
        // The driver enforces the deadline itself and says which step timed
        // out; the margin only guards against a driver that never answers.
        let answer = user
            .wait(connected, options.timeout + CONNECT_MARGIN, "the handshake")
            .await?;
        let Answer::Connected { encoding, info } = answer else {
            return Err(ClientError::Disconnected);
        };
        Ok(Self {
            user,
            encoding,
            info,
            timeout: options.timeout,
        })
    }

    /// The encoding the server confirmed (AMF0 if it did not echo `objectEncoding` 3).
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The server's answer to `connect` (`code`, `description`, …).
    pub fn server_info(&self) -> &Value {
        &self.info
    }

    /// Uses the SharedObject `name` in this connection's scope (USE), and
    /// resolves once the server answered with its state. A server refusal
    /// fails with [`ClientError::Denied`] and the STATUS code, such as
    /// `SharedObject.NoReadAccess` or `SharedObject.ObjectCreationFailed`.
    ///
    /// Using a name already in use gives another handle to the same SO.
    pub async fn shared_object(
        &self,
        name: impl Into<Str>,
        persistent: bool,
    ) -> Result<SharedObject<R>, ClientError> {
        let name = name.into();
        let ticket = self
            .user
            .request(|session, conn, now| session.use_so(conn, now, name.clone(), persistent))?;
        match self
            .user
            .wait(ticket, self.timeout, "the answer to USE")
            .await?
        {
            Answer::Used { mirror, events } => Ok(SharedObject::new(
                name,
                mirror,
                events,
                self.user.clone(),
                self.timeout,
            )),
            _ => Err(ClientError::Disconnected),
        }
    }

    /// Calls `method` on the server (`NetConnection.call`): `Ok` with the
    /// `_result` values, or [`ClientError::CallFailed`] with the `_error` information.
    pub async fn call(
        &self,
        method: impl Into<Str>,
        args: Vec<Value>,
    ) -> Result<Vec<Value>, ClientError> {
        let method = method.into();
        let ticket = self
            .user
            .request(|session, conn, now| session.call(conn, now, &method, args))?;
        match self
            .user
            .wait(ticket, self.timeout, "the call's answer")
            .await?
        {
            Answer::Values(values) => Ok(values),
            _ => Err(ClientError::Disconnected),
        }
    }

    /// Calls from the server, from now on, up to `capacity` waiting at once.
    /// Until this is called, and past that capacity, the server's calls are
    /// answered with `_error` `NetConnection.Call.Failed`. A later call
    /// replaces the receiver.
    pub fn incoming_calls(&self, capacity: usize) -> R::IncomingCalls {
        let (sender, receiver) = R::call_channel(capacity.max(1));
        let old = self.user.shared().lock().session.incoming.replace(sender);
        drop(old);
        receiver
    }

    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.user.shared().lock().closed.is_some()
    }

    /// Waits until the connection closes, and says why.
    pub async fn closed(&self) -> ClientError {
        self.user.until_state(|state| state.closed.is_some()).await;
        let state = self.user.shared().lock();
        state.closed.clone().unwrap_or(ClientError::Disconnected)
    }

    /// Closes the connection after writing out what was already sent, and
    /// waits for the driver to end. Every pending request fails with
    /// [`ClientError::Closed`].
    pub async fn close(self) {
        self.user.shared().lock().close_requested = true;
        self.user.shared().driver.notify();
        self.user.until_state(|state| state.finished).await;
    }
}

impl<R: Runtime> std::fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("encoding", &self.encoding)
            .field("info", &self.info)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// How long [`Client::connect`] waits past its timeout for the driver's
/// own verdict.
const CONNECT_MARGIN: Duration = Duration::from_secs(1);

/// 32 bytes for the handshake's random fields. They need to be unpredictable
/// for nobody (RTMP's handshake has no secrets), only different per
/// connection: std's `RandomState` is seeded from the OS once per thread
/// and differs per instance, which is enough without another dependency.
fn seed() -> [u8; 32] {
    let state = std::collections::hash_map::RandomState::new();
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut hasher = state.build_hasher();
        hasher.write_usize(i);
        chunk.copy_from_slice(&hasher.finish().to_le_bytes());
    }
    out
}
