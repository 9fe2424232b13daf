//! The RTMP SharedObject client on tokio: connect to a server, use remote
//! SharedObjects, call server methods and answer the server's calls.
//!
//! One background task per [`Client`] owns the TCP socket and the sans-IO
//! [`Connection`] and runs its drive
//! loop; the [`Client`], each [`SharedObject`] and each [`IncomingCall`]
//! are handles that talk to it through channels. Each SO's state is a
//! [`RemoteSharedObject`](rtmp_proto::remote::RemoteSharedObject) mirror,
//! kept as Flash keeps it: writes apply locally at once and are confirmed
//! or rolled back by the server.
//!
//! ```no_run
//! use adapter_tokio::client::{Client, ClientOptions};
//! use rtmp_proto::Value;
//!
//! # async fn demo() -> Result<(), adapter_tokio::client::ClientError> {
//! let client = Client::connect("rtmp://127.0.0.1/chat/room1", ClientOptions::default()).await?;
//! let so = client.shared_object("messages", false).await?;
//! println!("version {}: {:?}", so.version(), so.snapshot());
//!
//! let mut events = so.events();
//! so.set("topic", "hello").await?; // resolves once the server confirms it
//! so.send("newMessage", vec![Value::from("hi all")]).await?;
//! while let Ok(event) = events.recv().await {
//!     println!("{event:?}");
//! }
//!
//! let answer = client.call("echo", vec![Value::from(42.0)]).await?;
//! assert_eq!(answer, [Value::from(42.0)]);
//! client.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! The task ends, and the connection closes, when [`Client::close`] is
//! called or when the client and every handle made from it are dropped.
//! Every wait is bounded by [`ClientOptions::timeout`].

mod calls;
mod driver;
mod error;
mod shared_object;
mod url;

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use rtmp_proto::amf::{Encoding, Str, Value};
use rtmp_proto::connection::{Config, ConnectParams, Connection, Side};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use calls::IncomingCall;
pub use error::ClientError;
pub use rtmp_proto::remote::RemoteEvent;
pub use shared_object::SharedObject;

use driver::{Command, Driver, DriverParts};

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
#[derive(Debug)]
pub struct Client {
    commands: mpsc::UnboundedSender<Command>,
    closed: watch::Receiver<Option<ClientError>>,
    task: JoinHandle<()>,
    encoding: Encoding,
    info: Value,
    timeout: Duration,
}

impl Client {
    /// Connects to `url` (`rtmp://host[:port]/app[/room...]`, port 1935 by
    /// default): TCP connect, handshake, then `connect` to the URL's
    /// application path, all within `options.timeout`.
    ///
    /// Fails with [`ClientError::Connect`] if the TCP connection is refused
    /// or unreachable, [`ClientError::Rejected`] with the server's
    /// description, [`ClientError::Timeout`] naming the step that did not
    /// finish, or [`ClientError::Protocol`].
    pub async fn connect(url: &str, options: ClientOptions) -> Result<Self, ClientError> {
        let deadline = Instant::now() + options.timeout;
        let (host, port) = url::host_and_port(url)?;
        let mut params = ConnectParams::from_url(url, options.encoding)
            .ok_or_else(|| ClientError::InvalidUrl(url.to_owned()))?;
        params.args = options.connect_args;
        let addr = format!("{host}:{port}");
        let stream =
            match tokio::time::timeout_at(deadline, TcpStream::connect((&*host, port))).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    return Err(ClientError::Connect {
                        addr,
                        source: Arc::new(e),
                    });
                }
                Err(_) => return Err(ClientError::Timeout("the TCP connection")),
            };
        // SharedObject updates are small and latency matters more than packing.
        let _ = stream.set_nodelay(true);
        let now = Instant::now().into_std();
        let mut conn = Connection::new(Arc::new(options.config), Side::Client, now, seed());
        conn.connect(now, params)?;

        let (commands, receiver) = mpsc::unbounded_channel();
        let (closed_tx, closed) = watch::channel(None);
        let (connected_tx, connected) = oneshot::channel();
        let driver = Driver::new(DriverParts {
            conn,
            stream,
            commands: receiver,
            weak_commands: commands.downgrade(),
            connected: connected_tx,
            connect_deadline: deadline,
            closed: closed_tx,
            timeout: options.timeout,
            event_capacity: options.event_capacity,
        });
        let task = tokio::spawn(driver.run());
        // The task enforces the deadline itself and says which step timed out.
        let connected = connected.await.map_err(|_| ClientError::Disconnected)??;
        Ok(Self {
            commands,
            closed,
            task,
            encoding: connected.encoding,
            info: connected.info,
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
    ) -> Result<SharedObject, ClientError> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Use {
            name: name.into(),
            persistent,
            reply,
        };
        self.request(command, answer, "the answer to USE").await
    }

    /// Calls `method` on the server (`NetConnection.call`): `Ok` with the
    /// `_result` values, or [`ClientError::CallFailed`] with the `_error` information.
    pub async fn call(
        &self,
        method: impl Into<Str>,
        args: Vec<Value>,
    ) -> Result<Vec<Value>, ClientError> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Call {
            method: method.into(),
            args,
            reply,
        };
        self.request(command, answer, "the call's answer").await
    }

    /// Calls from the server, from now on, up to `capacity` waiting at once.
    /// Until this is called, and past that capacity, the server's calls are
    /// answered with `_error` `NetConnection.Call.Failed`. A later call
    /// replaces the receiver.
    pub fn incoming_calls(&self, capacity: usize) -> mpsc::Receiver<IncomingCall> {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let _ = self.commands.send(Command::IncomingCalls(sender));
        receiver
    }

    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.closed.borrow().is_some()
    }

    /// Waits until the connection closes, and says why.
    pub async fn closed(&self) -> ClientError {
        let mut closed = self.closed.clone();
        match closed.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or(ClientError::Disconnected),
            Err(_) => ClientError::Disconnected,
        }
    }

    /// Closes the connection after writing out what was already sent, and
    /// waits for the task to end. Every pending request fails with
    /// [`ClientError::Closed`].
    pub async fn close(self) {
        let _ = self.commands.send(Command::Close);
        let _ = self.task.await;
    }

    async fn request<T>(
        &self,
        command: Command,
        answer: oneshot::Receiver<Result<T, ClientError>>,
        what: &'static str,
    ) -> Result<T, ClientError> {
        if self.commands.send(command).is_err() {
            return Err(self.closed_reason());
        }
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(self.closed_reason()),
            Err(_) => Err(ClientError::Timeout(what)),
        }
    }

    fn closed_reason(&self) -> ClientError {
        self.closed
            .borrow()
            .clone()
            .unwrap_or(ClientError::Disconnected)
    }
}

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
