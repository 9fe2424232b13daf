//! The SharedObject server: a builder, the accept loop and the graceful
//! shutdown. The engine runs in [`engine`], each connection in
//! [`connection`], and between them sit the [`mailbox`]es.

mod authorize;
mod cluster;
mod connection;
mod direct;
mod engine;
mod handle;
mod mailbox;
mod tls;
mod web;

pub use self::authorize::{Authorization, Verdict};
pub use self::handle::{ClientSummary, Edit, ServerError, ServerHandle};

use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use so_engine::server::{HubConfig, QueueLimits};
use so_engine::store::{MemoryStore, Store};
use so_engine::{Application, ClientId, Engine, EngineConfig};
use so_store::SqliteStore;
use tracing::{error, info, warn};

use self::engine::EngineHandle;
use self::mailbox::{Live, Mailbox};
use crate::Error;
use crate::runtime::{Runtime, until};
use crate::sync::Signal;

/// Everything a server can be tuned with. Start from [`Default`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Per connection: handshake and connect timeouts, message size and
    /// chunk stream limits, AMF limits, pings.
    pub connection: rtmp_proto::connection::Config,
    /// The engine: limits on SOs, keys, values; linger; how often a
    /// changed persistent SO is snapshotted (`persist_interval_ms`).
    pub engine: EngineConfig,
    /// Per client: how many bytes may wait for a slow reader before it is
    /// disconnected.
    pub queue: QueueLimits,
    /// Store batching (the write-behind's flush interval).
    pub hub: HubConfig,
    /// Most admitted connections at once (those whose `connect` got a
    /// slot); more are refused (closed at once, logged), and a `connect`
    /// that finds the server full is rejected.
    pub max_connections: usize,
    /// Most connections still in their handshake or waiting for their
    /// `connect`, counted apart from [`Config::max_connections`]: past it,
    /// the oldest of them is dropped for the newcomer, so that idle or
    /// stalling sockets never keep a real client out.
    pub max_handshaking: usize,
    /// Per connection: while this many encoded bytes wait for the socket,
    /// the connection takes no more from its queue and reads no more
    /// requests (a slow reader's backlog waits in its bounded,
    /// coalescing queue instead).
    pub max_unsent_bytes: usize,
    /// How long a closing connection may take to write its last bytes
    /// (a rejection, a final answer).
    pub close_grace: Duration,
    /// Least time from the end of one hand-over of the engine's
    /// deliveries to the start of the next. An update after a quiet spell
    /// goes out at once; while updates keep coming, each client gets what
    /// a tick gathered in one hand-over (coalesced, one socket write)
    /// instead of one per update, trading up to this much latency for far
    /// less work per delivery. Counting from the end lets what arrives
    /// during a long hand-over (to many clients) go out together. Zero
    /// hands over after every engine turn.
    pub delivery_tick: Duration,
    /// Whether the engine thread writes SharedObject updates straight to
    /// a plain RTMP client's socket while its connection has nothing else
    /// to send (one vectored write per client and hand-over, no task
    /// wake-up), instead of queueing every update for the connection's
    /// task. Updates a socket does not take at once are queued either
    /// way. On by default; off mainly to compare the two paths.
    pub direct_writes: bool,
    /// How long a connect's authorization ([`ServerBuilder::authorize`])
    /// may take; past it the client is rejected.
    pub authorize_timeout: Duration,
    /// WebSocket clients (`/so`): frame limits and the connect timeout.
    pub web: so_web::Config,
}

impl Config {
    /// Default connection cap: 4096.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
    /// Default cap of connections being admitted: 256. A real client's
    /// handshake and `connect` take a few round trips; 256 newer sockets
    /// would have to arrive meanwhile to push it out.
    pub const DEFAULT_MAX_HANDSHAKING: usize = 256;
    /// Default unsent-bytes mark: 256 KiB, many socket buffers' worth.
    pub const DEFAULT_MAX_UNSENT_BYTES: usize = 256 << 10;
    /// Default close grace: 2 s.
    pub const DEFAULT_CLOSE_GRACE: Duration = Duration::from_secs(2);
    /// Default delivery tick: 2 ms, well under what a person notices and
    /// under a Flash client's own update interval.
    pub const DEFAULT_DELIVERY_TICK: Duration = Duration::from_millis(2);
    /// Default authorization timeout: 5 s, within a Flash client's own
    /// connect timeout.
    pub const DEFAULT_AUTHORIZE_TIMEOUT: Duration = Duration::from_secs(5);
}

impl Default for Config {
    fn default() -> Self {
        Self {
            connection: rtmp_proto::connection::Config::default(),
            engine: EngineConfig::default(),
            queue: QueueLimits::default(),
            hub: HubConfig::default(),
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            max_handshaking: Self::DEFAULT_MAX_HANDSHAKING,
            max_unsent_bytes: Self::DEFAULT_MAX_UNSENT_BYTES,
            close_grace: Self::DEFAULT_CLOSE_GRACE,
            delivery_tick: Self::DEFAULT_DELIVERY_TICK,
            direct_writes: true,
            authorize_timeout: Self::DEFAULT_AUTHORIZE_TIMEOUT,
            web: so_web::Config::default(),
        }
    }
}

type EngineFactory = Box<dyn FnOnce(EngineConfig) -> Engine + Send>;
type EngineSetup = Box<dyn FnOnce(&mut Engine) + Send>;

/// Builds a [`Server`]: [`Server::builder`], then options, then
/// [`ServerBuilder::bind`].
pub struct ServerBuilder<R> {
    addr: String,
    http_addr: Option<String>,
    admin_token: Option<String>,
    tls: Option<(String, PathBuf, PathBuf)>,
    engine: EngineFactory,
    setups: Vec<EngineSetup>,
    store: Box<dyn Store + Send>,
    config: Config,
    authorizer: Option<authorize::Authorizer>,
    cluster: Option<crate::cluster::ClusterOptions>,
    runtime: PhantomData<fn() -> R>,
}

impl<R: Runtime> ServerBuilder<R> {
    /// The address to listen on (default `127.0.0.1:1935`; port 0 picks one).
    pub fn bind_addr(mut self, addr: impl Into<String>) -> Self {
        self.addr = addr.into();
        self
    }

    /// Also serves HTTP on `addr` (`host:port`; port 0 picks one): the
    /// WebSocket endpoint `/so` for browsers, `/healthz`, `/metrics` and
    /// the `/admin` page. `None` (the default) serves RTMP only.
    pub fn http_addr(mut self, addr: Option<String>) -> Self {
        self.http_addr = addr;
        self
    }

    /// Lets `/admin` set, remove and destroy with this token (without
    /// one, the page is read-only).
    pub fn admin_token(mut self, token: Option<String>) -> Self {
        self.admin_token = token;
        self
    }

    /// Also serves RTMPS (RTMP inside TLS) on `addr`, with the PEM
    /// certificate chain in `cert` and its private key in `key`.
    pub fn tls(
        mut self,
        addr: impl Into<String>,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.tls = Some((addr.into(), cert.into(), key.into()));
        self
    }

    /// The application hooks (default: none, everything accepted). Only
    /// this value crosses to the engine thread; the engine itself is built
    /// there.
    pub fn application<A: Application + Send + 'static>(mut self, app: A) -> Self {
        self.engine = Box::new(move |config| Engine::new(config, app));
        self
    }

    /// Registers factories, security checks or methods on the engine (runs
    /// on the engine thread, before anything else; setups run in order).
    pub fn setup(mut self, setup: impl FnOnce(&mut Engine) + Send + 'static) -> Self {
        self.setups.push(Box::new(setup));
        self
    }

    /// Authorizes every `connect` with `check`, which gets what the client
    /// said ([`so_engine::ConnectInfo`]: peer address, scope, tcUrl,
    /// pageUrl, swfUrl, flashVer, encoding, extra arguments) and answers,
    /// asynchronously, the client's attributes (hooks read them with
    /// [`so_engine::View::client_attributes`])
    /// or a rejection's description. It runs on the connection's task, off
    /// the engine thread, before the engine hears of the client, within
    /// [`Config::authorize_timeout`].
    pub fn authorize<F, Fut>(mut self, check: F) -> Self
    where
        F: Fn(so_engine::ConnectInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Verdict> + Send + 'static,
    {
        self.authorizer = Some(Arc::new(move |info| Box::pin(check(info)) as Authorization));
        self
    }

    /// Sets [`Config::authorize_timeout`].
    pub fn authorize_timeout(mut self, timeout: Duration) -> Self {
        self.config.authorize_timeout = timeout;
        self
    }

    /// Keeps persistent SOs in the SQLite database in `dir` (both created
    /// if missing; see [`so_store`] for the file, its durability and its
    /// lock). The database is opened and checked when the server binds.
    pub fn data_dir(self, dir: impl Into<PathBuf>) -> Self {
        self.store(SqliteStore::new(dir))
    }

    /// Keeps persistent SOs in memory only (the default): they survive
    /// their clients, not the process.
    pub fn memory_store(self) -> Self {
        self.store(MemoryStore::new())
    }

    /// Keeps persistent SOs in `store`.
    pub fn store(mut self, store: impl Store + Send + 'static) -> Self {
        self.store = Box::new(store);
        self
    }

    /// Cluster mode: this process shares its SharedObjects with every
    /// other server process given the same Redis server (see
    /// [`crate::cluster`] and the repository's `docs/CLUSTER.md`).
    /// Persistent SOs are then stored in Redis, not in the
    /// [`ServerBuilder::store`]. [`ServerBuilder::bind`] fails with
    /// [`Error::Cluster`] when Redis cannot be reached.
    pub fn cluster(mut self, options: crate::cluster::ClusterOptions) -> Self {
        self.cluster = Some(options);
        self
    }

    /// Replaces the whole configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Sets [`Config::max_connections`].
    pub fn max_connections(mut self, max: usize) -> Self {
        self.config.max_connections = max;
        self
    }

    /// Sets the handshake timeout (a client that does not finish its
    /// handshake in time is dropped).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.connection.handshake_timeout = timeout;
        self
    }

    /// Sets the connect timeout (after the handshake, `connect` must come
    /// within it).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connection.connect_timeout = timeout;
        self
    }

    /// Sets the largest RTMP message a client may send.
    pub fn max_message_size(mut self, bytes: u32) -> Self {
        self.config.connection.chunk_limits.max_message_size = bytes;
        self
    }

    /// Sets [`Config::delivery_tick`].
    pub fn delivery_tick(mut self, tick: Duration) -> Self {
        self.config.delivery_tick = tick;
        self
    }

    /// Sets [`Config::direct_writes`].
    pub fn direct_writes(mut self, on: bool) -> Self {
        self.config.direct_writes = on;
        self
    }

    /// Sets [`QueueLimits::max_queued_bytes`].
    pub fn max_queued_bytes(mut self, bytes: usize) -> Self {
        self.config.queue.max_queued_bytes = bytes;
        self
    }

    /// How long a changed persistent SO waits before it is written (the
    /// engine's `persist_interval_ms`): changes in between coalesce, and a
    /// crash loses at most this plus the write in progress.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.config.engine.persist_interval_ms =
            u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Binds the listener, starts the engine thread, loads the store and
    /// restores it into the engine. No connection is accepted before
    /// [`Server::run_until`]; clients that connect meanwhile wait in the
    /// listen backlog.
    pub async fn bind(mut self) -> Result<Server<R>, Error> {
        // Cluster mode first: without Redis the server does not start.
        let cluster = match self.cluster.take() {
            Some(options) => {
                self.config.engine.cluster = true;
                // Persistent SOs live in Redis (their stored state).
                self.store = Box::new(MemoryStore::new());
                Some(cluster::ClusterStart::connect::<R>(options).await?)
            }
            None => None,
        };
        let client_base = cluster
            .as_ref()
            .map_or(0, cluster::ClusterStart::client_base);
        let listener = R::bind(self.addr.clone())
            .await
            .map_err(|source| Error::Bind {
                addr: self.addr.clone(),
                source,
            })?;
        let local_addr = R::local_addr(&listener)?;
        let http = match self.http_addr.clone() {
            Some(addr) => {
                let listener = R::bind(addr.clone())
                    .await
                    .map_err(|source| Error::Bind { addr, source })?;
                let http_addr = R::local_addr(&listener)?;
                Some((listener, http_addr))
            }
            None => None,
        };
        let tls = match self.tls.clone() {
            Some((addr, cert, key)) => {
                let tls_config = tls::server_config(&cert, &key)?;
                let listener = R::bind(addr.clone())
                    .await
                    .map_err(|source| Error::Bind { addr, source })?;
                let tls_addr = R::local_addr(&listener)?;
                info!(%tls_addr, "listening for RTMPS");
                Some((listener, tls_addr, tls_config))
            }
            None => None,
        };
        let config = Arc::new(self.config);
        let stats = Arc::new(web::Stats::default());
        let admin = Arc::new(web::AdminView::default());
        let setups = self.setups;
        let factory = self.engine;
        let build = move |config: EngineConfig| {
            let mut engine = factory(config);
            for setup in setups {
                setup(&mut engine);
            }
            engine
        };
        let engine = EngineHandle::start::<R>(
            build,
            self.store,
            config.clone(),
            stats.clone(),
            admin.clone(),
            cluster,
        )
        .await?;
        info!(%local_addr, "listening");
        let http = http.map(|(listener, http_addr)| {
            info!(%http_addr, "listening for HTTP and WebSocket (/so, /healthz, /metrics, /admin)");
            let shared = Arc::new(web::WebShared {
                session: config.web.clone(),
                stats: stats.clone(),
                admin,
                admin_token: self.admin_token,
                engine: engine.sender(),
            });
            (listener, http_addr, shared)
        });
        Ok(Server {
            listener,
            local_addr,
            http,
            tls,
            stats,
            engine,
            config,
            authorizer: self.authorizer,
            shutdown: ShutdownHandle(Arc::new(Signal::default())),
            client_base,
        })
    }
}

/// A bound SharedObject server. Run it with [`Server::run_until`] or
/// [`Server::run`].
pub struct Server<R: Runtime> {
    listener: R::Listener,
    local_addr: SocketAddr,
    /// The HTTP listener, its address, and what its connections share.
    http: Option<(R::Listener, SocketAddr, Arc<web::WebShared>)>,
    /// The RTMPS listener, its address, and its TLS configuration.
    tls: Option<(R::Listener, SocketAddr, Arc<rustls::ServerConfig>)>,
    stats: Arc<web::Stats>,
    engine: EngineHandle,
    config: Arc<Config>,
    authorizer: Option<authorize::Authorizer>,
    shutdown: ShutdownHandle,
    /// The first client id (cluster mode: unique across the processes).
    client_base: u64,
}

/// Asks a running server to shut down gracefully (cloneable, any thread).
#[derive(Debug, Clone)]
pub struct ShutdownHandle(Arc<Signal>);

impl ShutdownHandle {
    /// Starts the graceful shutdown (also before the server runs).
    pub fn shutdown(&self) {
        self.0.notify();
    }
}

/// Which listener a socket came from.
enum Via {
    Rtmp,
    Web(Arc<web::WebShared>),
    Tls(Arc<rustls::ServerConfig>),
}

/// Why the accept loop stopped.
enum Stop {
    /// A shutdown was asked for.
    Asked,
    /// The engine thread ended on its own (server code panicked).
    EngineGone,
}

impl<R: Runtime> Server<R> {
    /// A builder with the defaults: `127.0.0.1:1935`, no hooks, memory
    /// store, [`Config::default`].
    pub fn builder() -> ServerBuilder<R> {
        ServerBuilder {
            addr: "127.0.0.1:1935".into(),
            http_addr: None,
            admin_token: None,
            tls: None,
            engine: Box::new(|config| Engine::new(config, ())),
            setups: Vec::new(),
            store: Box::new(MemoryStore::new()),
            config: Config::default(),
            authorizer: None,
            cluster: None,
            runtime: PhantomData,
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address the HTTP listener (WebSocket, metrics, admin) listens
    /// on, if there is one.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|(_, addr, _)| *addr)
    }

    /// The address the RTMPS listener listens on, if there is one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().map(|(_, addr, _)| *addr)
    }

    /// A handle that shuts the server down.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// A handle for server code to act on the server while it runs (see
    /// [`ServerHandle`]); get it before [`Server::run_until`].
    pub fn handle(&self) -> ServerHandle {
        ServerHandle::new(self.engine.jobs())
    }

    /// Serves until SIGINT (Ctrl-C) or SIGTERM, or the [`ShutdownHandle`],
    /// then shuts down gracefully.
    pub async fn run(self) -> Result<(), Error> {
        self.run_until(R::termination()).await
    }

    /// Serves until `shutdown` completes (or the [`ShutdownHandle`] is
    /// used), then shuts down gracefully: stops accepting, disconnects
    /// every client, saves every persistent SO, writes every pending store
    /// operation, and waits for the connections to close.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let Self {
            listener,
            http,
            tls,
            stats,
            engine,
            config,
            authorizer,
            shutdown: handle,
            client_base,
            ..
        } = self;
        let connection_config = Arc::new(config.connection.clone());
        let live = Arc::new(Live::default());
        let mut next_client = client_base;
        let mut shutdown = pin!(shutdown);
        // After a failed accept (out of file descriptors and the like):
        // wait a little rather than spin.
        let mut backoff: Option<R::Timer> = None;
        let stop = poll_fn(|cx| {
            loop {
                if shutdown.as_mut().poll(cx).is_ready() || handle.0.poll_notified(cx).is_ready()
                {
                    return Poll::Ready(Stop::Asked);
                }
                // Only a panic in server code (a hook) ends the engine early.
                if engine.poll_gone(cx).is_ready() {
                    return Poll::Ready(Stop::EngineGone);
                }
                if let Some(timer) = &mut backoff {
                    std::task::ready!(R::poll_timer(timer, cx));
                    backoff = None;
                }
                // Every listener, taking turns to be first, so that a flood
                // on one does not starve the others.
                let first = usize::try_from(next_client % 3).unwrap_or(0);
                let mut accepted = None;
                for turn in 0..3 {
                    let polled = match (first + turn) % 3 {
                        0 => R::poll_accept(&listener, cx).map(|r| (r, Via::Rtmp)),
                        1 => match &http {
                            Some((http, _, shared)) => {
                                R::poll_accept(http, cx).map(|r| (r, Via::Web(shared.clone())))
                            }
                            None => continue,
                        },
                        _ => match &tls {
                            Some((tls, _, config)) => {
                                R::poll_accept(tls, cx).map(|r| (r, Via::Tls(config.clone())))
                            }
                            None => continue,
                        },
                    };
                    if let Poll::Ready(ready) = polled {
                        accepted = Some(ready);
                        break;
                    }
                }
                let Some((result, via)) = accepted else {
                    return Poll::Pending;
                };
                let (stream, peer) = match result {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        warn!(%error, "accept failed");
                        backoff = Some(R::timer(Instant::now() + ACCEPT_BACKOFF));
                        continue;
                    }
                };
                if live.admitted() >= config.max_connections {
                    warn!(%peer, max = config.max_connections, "connection refused: too many connections");
                    continue;
                }
                next_client += 1;
                let client = ClientId(next_client);
                let mailbox = Arc::new(Mailbox::new(config.queue));
                let (slot, evicted) = live.insert(client, mailbox.clone(), config.max_handshaking);
                if let Some(oldest) = evicted {
                    warn!(
                        client = oldest.0,
                        max = config.max_handshaking,
                        "dropped the oldest connection still in its handshake or connect: too many"
                    );
                }
                let accepted = connection::Accepted {
                    peer,
                    client,
                    mailbox,
                    live: live.clone(),
                    engine: engine.sender(),
                    config: config.clone(),
                    authorizer: authorizer.clone(),
                };
                match via {
                    Via::Web(shared) => {
                        let open = stats.open(web::Transport::Http);
                        let conn = web::WebConnection::new(shared, Instant::now());
                        let task = connection::run::<R, _>(stream, accepted, conn);
                        R::spawn(async move {
                            task.await;
                            drop((slot, open));
                        });
                    }
                    Via::Tls(tls_config) => {
                        let open = stats.open(web::Transport::Rtmp);
                        let Some(conn) =
                            connection::rtmp_connection(client, peer, &connection_config)
                                .and_then(|inner| tls::TlsConnection::new(tls_config, inner).ok())
                        else {
                            continue;
                        };
                        let task = connection::run::<R, _>(stream, accepted, conn);
                        R::spawn(async move {
                            task.await;
                            drop((slot, open));
                        });
                    }
                    Via::Rtmp => {
                        let open = stats.open(web::Transport::Rtmp);
                        let task =
                            connection::serve::<R>(stream, accepted, connection_config.clone());
                        R::spawn(async move {
                            task.await;
                            drop((slot, open));
                        });
                    }
                }
            }
        })
        .await;
        drop(listener);
        drop(http);
        drop(tls);
        if let Stop::EngineGone = stop {
            error!("the engine thread stopped: shutting down");
            live.kill_all();
            engine.join::<R>().await;
            return Err(Error::EngineGone);
        }
        info!(connections = live.len(), "shutting down");
        engine.shutdown().await;
        // Every connection was told to close; give them their grace period.
        let wait = Instant::now() + config.close_grace + Duration::from_secs(1);
        if until::<R, _>(wait, live.all_closed()).await.is_none() {
            warn!(
                left = live.len(),
                "connections still open after the grace period: dropped"
            );
            live.kill_all();
        }
        engine.join::<R>().await;
        info!("stopped");
        Ok(())
    }
}

/// How long the accept loop pauses after a failed accept.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
