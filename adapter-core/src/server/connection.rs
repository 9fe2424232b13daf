//! One task per connection: the socket, the [`Connection`] (decoding and
//! encoding happen here, on whichever worker runs the task), the
//! [`ClientLink`], and the drive loop of `rtmp_proto::connection`.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use rtmp_proto::connection::{self, CloseReason, Connection, Event, Side};
use so_engine::server::{ClientCommand, ClientLink, Peer};
use so_engine::{ClientId, Input};
use tracing::{debug, error, info};

use super::Config;
use super::authorize::{Authorizer, Authorizing, connect_info};
use super::direct::Direct;
use super::engine::{EngineSender, ToEngine};
use super::mailbox::{Live, Mailbox, Notice};
use crate::runtime::Runtime;

/// Bytes read from the socket per read call.
const READ_BUFFER: usize = 64 << 10;

thread_local! {
    /// One read buffer per worker thread, shared by the connections it
    /// runs: a read hands its bytes to the connection before the next
    /// read, so a buffer per connection would only hold `READ_BUFFER`
    /// bytes of memory per idle client (64 MiB at 1,000 clients).
    static READ_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_BUFFER].into_boxed_slice());
}
/// Where the timer starts; the connection's own deadlines move it.
const IDLE_TIMER: Duration = Duration::from_secs(3600);
/// Loop turns per poll before the task yields to others, so that a
/// client that never pauses cannot hold a worker thread.
const TURNS_PER_POLL: usize = 64;

/// What the accept loop hands a connection task, once.
pub(super) struct Accepted {
    /// The peer's address.
    pub(super) peer: SocketAddr,
    /// The engine's id for the client.
    pub(super) client: ClientId,
    /// Where the engine's deliveries for it go.
    pub(super) mailbox: Arc<Mailbox>,
    /// Where the connection asks for its slot when its `connect` comes.
    pub(super) live: Arc<Live>,
    /// The engine.
    pub(super) engine: EngineSender,
    /// The server's configuration.
    pub(super) config: Arc<Config>,
    /// The application's connect authorization, if any.
    pub(super) authorizer: Option<Authorizer>,
}

/// Serves one accepted RTMP socket until it closes.
pub(super) async fn serve<R: Runtime>(
    stream: R::Stream,
    accepted: Accepted,
    connection_config: Arc<connection::Config>,
) {
    let Some(conn) = rtmp_connection(accepted.client, accepted.peer, &connection_config) else {
        return;
    };
    run::<R, Connection>(stream, accepted, conn).await;
}

/// A server-side RTMP [`Connection`] with a fresh handshake seed; `None`
/// (logged) without OS randomness.
pub(super) fn rtmp_connection(
    client: ClientId,
    peer: SocketAddr,
    connection_config: &Arc<connection::Config>,
) -> Option<Connection> {
    let mut seed = [0u8; 32];
    if let Err(e) = getrandom::fill(&mut seed) {
        error!(client = client.0, %peer, error = %e, "no OS randomness for the handshake: connection dropped");
        return None;
    }
    Some(Connection::new(
        connection_config.clone(),
        Side::Server,
        Instant::now(),
        seed,
    ))
}

/// Serves one accepted socket with `conn` (an RTMP [`Connection`], an
/// RTMPS one, or an HTTP/WebSocket connection) until it closes: the same
/// loop, queue, backpressure, authorization and close handling for every
/// transport.
pub(super) async fn run<R: Runtime, W: Wire>(stream: R::Stream, accepted: Accepted, conn: W) {
    let Accepted {
        peer,
        client,
        mailbox,
        live,
        engine,
        config,
        authorizer,
    } = accepted;
    // Every log line names the connection itself: a span entered on every
    // poll would cost more than the rest of a small delivery's bookkeeping.
    let id = client.0;
    // Small SO messages must leave at once, not wait for Nagle.
    if let Err(e) = R::set_nodelay(&stream) {
        debug!(client = id, %peer, error = %e, "TCP_NODELAY not set");
    }
    engine.send(ToEngine::Register(client, mailbox.clone()));
    info!(client = id, %peer, transport = W::TRANSPORT, "connection opened");
    // The socket, shared, for the engine's direct writes, where the
    // transport's bytes are the connection's own (not inside TLS).
    let socket = if W::DIRECT && config.direct_writes {
        R::shared_socket(&stream)
    } else {
        None
    };
    let now = Instant::now();
    let mut task = Task::<R, W> {
        conn,
        link: ClientLink::new(client),
        peer,
        engine,
        mailbox,
        live,
        config,
        stream,
        write_buf: BytesMut::new(),
        socket,
        direct: false,
        claimed: false,
        commands: Vec::new(),
        inputs: Vec::new(),
        wake: false,
        registered: None,
        shutdown: false,
        timer: R::timer(now + IDLE_TIMER),
        armed: None,
        timer_waker: None,
        why: None,
        close_by: None,
        authorizer,
        connect_info: None,
        authorizing: None,
        refused: false,
    };
    poll_fn(|cx| task.poll_run(cx)).await;
    if task.direct {
        task.mailbox.unregister_direct(&mut BytesMut::new());
    }
    let why = task.why.take().unwrap_or_else(|| "closed".into());
    info!(client = id, %peer, reason = %why, "connection closed");
    task.engine.send(ToEngine::Gone(client));
}

/// What the connection loop drives: the sans-IO state of one client's
/// socket, bytes in and out, events to the [`ClientLink`], commands back
/// through [`Peer`].
pub(super) trait Wire: Peer + Send + 'static {
    /// The transport's name, for the log.
    const TRANSPORT: &'static str;
    /// Bytes from the socket (errors arrive as [`Event::Closed`]).
    fn handle_input(&mut self, now: Instant, bytes: &[u8]);
    /// The deadline from [`Wire::poll_timeout`] passed.
    fn handle_timeout(&mut self, now: Instant);
    /// Appends what is to be written to `out`.
    fn poll_transmit(&mut self, out: &mut BytesMut);
    /// The next event for the link.
    fn poll_event(&mut self) -> Option<Event>;
    /// When [`Wire::handle_timeout`] wants to be called.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Whether the connection is over.
    fn is_closed(&self) -> bool;
    /// Whether the engine may write SharedObject messages straight to
    /// the socket ([direct writes](super::direct)): the connection's bytes
    /// are the socket's.
    const DIRECT: bool = false;
    /// Whether bytes wait in the connection for [`Wire::poll_transmit`]
    /// (only direct writers must know; true is always safe).
    fn has_pending_transmit(&self) -> bool {
        true
    }
    /// For direct writes, once the connection is accepted: the message
    /// type of its SharedObject encoding and the chunk size it announced.
    fn direct_framing(&self) -> Option<(u8, u32)> {
        None
    }
}

impl Wire for Connection {
    const TRANSPORT: &'static str = "rtmp";
    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        // Errors also arrive as Event::Closed.
        let _ = Connection::handle_input(self, now, bytes);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Connection::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self, out: &mut BytesMut) {
        Connection::poll_transmit(self, out);
    }
    fn poll_event(&mut self) -> Option<Event> {
        Connection::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Connection::poll_timeout(self)
    }
    fn is_closed(&self) -> bool {
        Connection::is_closed(self)
    }
    const DIRECT: bool = true;
    fn has_pending_transmit(&self) -> bool {
        self.pending_transmit() > 0
    }
    fn direct_framing(&self) -> Option<(u8, u32)> {
        use rtmp_proto::message::types::{SHARED_OBJECT_AMF0, SHARED_OBJECT_AMF3};
        if !self.is_connected() {
            return None;
        }
        let type_id = match self.encoding() {
            rtmp_proto::Encoding::Amf0 => SHARED_OBJECT_AMF0,
            rtmp_proto::Encoding::Amf3 => SHARED_OBJECT_AMF3,
        };
        Some((type_id, self.send_chunk_size()))
    }
}

struct Task<R: Runtime, W> {
    conn: W,
    link: ClientLink,
    peer: SocketAddr,
    engine: EngineSender,
    mailbox: Arc<Mailbox>,
    /// Where the connection asks for its slot when its `connect` comes.
    live: Arc<Live>,
    config: Arc<Config>,
    stream: R::Stream,
    write_buf: BytesMut,
    /// The socket, shared, until it is handed to the mailbox for the
    /// engine's direct writes.
    socket: Option<Arc<dyn crate::runtime::SocketWriter>>,
    /// The engine may write to the socket directly: this task claims it
    /// before writing bytes of its own (see [`Mailbox::claim`]).
    direct: bool,
    /// This task holds the claim.
    claimed: bool,
    commands: Vec<ClientCommand>,
    inputs: Vec<Input>,
    /// The queue has (or may have) something: take it once the socket
    /// has room.
    wake: bool,
    /// The waker this task left in its mailbox.
    registered: Option<Waker>,
    /// The server is shutting down.
    shutdown: bool,
    /// One timer for the connection's life, moved with its deadline.
    timer: R::Timer,
    armed: Option<Instant>,
    /// The waker the timer holds for `armed`: until then, polling it
    /// again would only register the same waker (a cost on every turn of
    /// a busy connection).
    timer_waker: Option<Waker>,
    /// Why the connection closed (the first reason wins).
    why: Option<String>,
    /// Once closed: write what is left until then.
    close_by: Option<Instant>,
    /// The application's connect authorization, if any.
    authorizer: Option<Authorizer>,
    /// The connect request's details, between the request and its input.
    connect_info: Option<so_engine::ConnectInfo>,
    /// The connect being authorized.
    authorizing: Option<Authorizing<R>>,
    /// The authorization rejected the connect: the engine never hears of
    /// this client.
    refused: bool,
}

impl<R: Runtime, W: Wire> Task<R, W> {
    /// The drive loop: after every input, command or timer, hand the
    /// engine what the connection reported and write what it has to send.
    /// Sources in priority order: the socket's room, the mailbox, the
    /// socket's bytes, the timer.
    fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // The clock is read once per poll and again only after an input or
        // a timeout: a turn that takes commands or writes takes
        // microseconds.
        let mut now = Instant::now();
        for _ in 0..TURNS_PER_POLL {
            if self.wake && self.write_buf.len() < self.config.max_unsent_bytes {
                self.wake = false;
                self.take_commands(now);
            }
            if self.shutdown && !self.wake && !self.conn.is_closed() {
                self.close("the server is shutting down");
            }
            self.transmit();
            while let Some(event) = self.conn.poll_event() {
                if let Event::Closed(reason) = &event {
                    self.closed(now, reason);
                }
                if matches!(event, Event::ConnectRequest(_))
                    && !self
                        .live
                        .try_admit(self.link.client(), self.config.max_connections)
                {
                    // Full: refused here, the engine never hears of it.
                    let _ = self.conn.reject(now, "the server is full");
                    self.transmit();
                    continue;
                }
                if let (Some(_), Event::ConnectRequest(request)) = (&self.authorizer, &event) {
                    self.connect_info = connect_info(request, self.peer);
                }
                self.inputs
                    .extend(self.link.handle_event(&mut self.conn, now, event));
                // A refused connect was answered just now.
                self.transmit();
            }
            for input in std::mem::take(&mut self.inputs) {
                self.forward(now, input);
            }
            // Everything pending in one write, right away: the socket
            // usually has room, and writing now saves a wake-up.
            self.write(cx);
            self.hand_socket_back();
            if self
                .close_by
                .is_some_and(|by| self.write_buf.is_empty() || now >= by)
            {
                return Poll::Ready(());
            }
            let open = !self.conn.is_closed();
            let room = self.write_buf.len() < self.config.max_unsent_bytes;
            // Commands are taken with the notification, under its lock,
            // when the socket has room for them.
            let take = (room && self.commands.is_empty())
                .then_some((&mut self.commands, &mut self.write_buf));
            if let Poll::Ready(notice) = self.mailbox.poll_notified(cx, &mut self.registered, take)
            {
                // Taking claims the socket.
                self.claimed |= self.direct;
                if self.notified(notice) {
                    return Poll::Ready(());
                }
                continue;
            }
            // While its connect is being authorized, a client has nothing
            // to say (it waits for the answer): its socket waits too.
            if open
                && room
                && self.authorizing.is_none()
                && self.engine.poll_room(cx).is_ready()
                && let Some(read_at) = self.read(cx)
            {
                now = read_at;
                continue;
            }
            if let Some(authorizing) = &mut self.authorizing
                && let Poll::Ready(verdict) = authorizing.poll(cx)
            {
                now = Instant::now();
                self.authorized(now, verdict);
                continue;
            }
            // Only when about to wait: the deadline of the connection's
            // state after everything this poll did.
            let deadline = self.close_by.or_else(|| self.conn.poll_timeout());
            if let Some(at) = deadline
                && self.armed != Some(at)
            {
                R::reset_timer(&mut self.timer, at);
                self.armed = Some(at);
                self.timer_waker = None;
            }
            if deadline.is_some() && self.timer_fired(cx, now) {
                self.armed = None;
                now = Instant::now();
                self.conn.handle_timeout(now);
                continue;
            }
            return Poll::Pending;
        }
        // Yield: the work left is picked up on the next poll.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Hands an input to the engine, unless the connect is being (or was
    /// not) authorized: a connect starts its authorization, what comes
    /// after it waits for the verdict.
    fn forward(&mut self, now: Instant, input: Input) {
        if self.refused {
            return;
        }
        if let Some(authorizing) = &mut self.authorizing {
            authorizing.held.push(input);
            return;
        }
        if let (Input::ClientConnected { .. }, Some(authorizer), Some(info)) =
            (&input, &self.authorizer, self.connect_info.take())
        {
            let deadline = now + self.config.authorize_timeout;
            self.authorizing = Some(Authorizing::start(authorizer, info, deadline));
            return;
        }
        self.engine.send(ToEngine::Input(input));
    }

    /// The authorization's verdict: the engine hears of the client (with
    /// what it said and its attributes), or the client is rejected.
    fn authorized(&mut self, now: Instant, verdict: Result<so_engine::Attributes, String>) {
        let Some(authorizing) = self.authorizing.take() else {
            return;
        };
        match verdict {
            Ok(attributes) => {
                self.engine
                    .send(ToEngine::Input(Input::ClientConnectedWith {
                        client: self.link.client(),
                        info: Box::new(authorizing.info),
                        attributes,
                    }));
                for input in authorizing.held {
                    self.engine.send(ToEngine::Input(input));
                }
            }
            Err(description) => {
                self.refused = true;
                // Fails only if the connection closed meanwhile.
                let _ = self.conn.reject(now, &description);
            }
        }
    }

    /// Whether the timer fired; polls it only when that can have changed
    /// (a new deadline, a new waker, or the deadline reached).
    fn timer_fired(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let registered = self
            .timer_waker
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()));
        if registered && self.armed.is_some_and(|at| now < at) {
            return false;
        }
        if R::poll_timer(&mut self.timer, cx).is_ready() {
            self.timer_waker = None;
            return true;
        }
        if !registered {
            self.timer_waker = Some(cx.waker().clone());
        }
        false
    }

    /// Applies what the engine queued for this client (taken already when
    /// the wake-up was, under the same lock, if the socket had room).
    fn take_commands(&mut self, now: Instant) {
        if self.commands.is_empty() {
            self.mailbox
                .drain_into(&mut self.commands, &mut self.write_buf);
            self.claimed |= self.direct;
        } else {
            self.claim();
        }
        for command in self.commands.drain(..) {
            if let ClientCommand::Disconnect(reason) = &command {
                self.why
                    .get_or_insert_with(|| format!("disconnected: {reason}"));
            }
            // Fails only once the connection is closed: nothing to do.
            let _ = self.link.handle_command(&mut self.conn, now, command);
        }
    }

    /// The mailbox was notified (and what it queued taken, if the socket
    /// had room): a slow reader past its cap is cut off; on shutdown, what
    /// is queued (the engine's disconnect) still goes out before the
    /// close. True if the server gave up on the connection.
    fn notified(&mut self, notice: Notice) -> bool {
        if notice.killed {
            self.why.get_or_insert_with(|| "dropped at shutdown".into());
            return true;
        }
        if self.conn.is_closed() {
            return false;
        }
        if notice.overflowed {
            let limit = self.config.queue.max_queued_bytes;
            self.abort(&format!("slow reader: over {limit} bytes queued"));
        }
        self.shutdown |= notice.shutdown;
        self.wake = true;
        false
    }

    /// Moves what the connection has to send into the write buffer,
    /// claiming the socket first while the engine writes to it directly.
    fn transmit(&mut self) {
        if self.conn.has_pending_transmit() {
            self.claim();
            self.conn.poll_transmit(&mut self.write_buf);
        }
    }

    /// Claims the socket, if the engine writes to it and this task does
    /// not hold it yet, before bytes of its own enter the write buffer.
    fn claim(&mut self) {
        if self.direct && !self.claimed {
            self.mailbox.claim(&mut self.write_buf);
            self.claimed = true;
        }
    }

    /// Once everything this task had is written: gives the socket back to
    /// the engine's direct writes, or hands it over the first time (the
    /// connection accepted and its chunk size announced). A closed
    /// connection's socket is taken back from the engine.
    fn hand_socket_back(&mut self) {
        let idle = self.write_buf.is_empty()
            && self.commands.is_empty()
            && !self.conn.has_pending_transmit();
        if self.conn.is_closed() {
            if self.direct {
                // A rest can only wait while this task held no claim, that
                // is with an empty write buffer: it goes out first.
                self.mailbox.unregister_direct(&mut self.write_buf);
                self.direct = false;
            }
            self.socket = None;
            return;
        }
        if !idle {
            return;
        }
        if self.claimed {
            self.mailbox.release();
            self.claimed = false;
        } else if self.socket.is_some()
            && let Some((type_id, chunk_size)) = self.conn.direct_framing()
            && let Some(socket) = self.socket.take()
        {
            self.mailbox
                .register_direct(Direct::new(socket, type_id, chunk_size));
            self.direct = true;
        }
    }

    /// Writes what the socket takes now.
    fn write(&mut self, cx: &mut Context<'_>) {
        while !self.write_buf.is_empty() {
            match R::poll_write(&mut self.stream, cx, &self.write_buf) {
                Poll::Ready(Ok(0)) => self.abort("the socket accepts no more bytes"),
                Poll::Ready(Ok(n)) => self.write_buf.advance(n),
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => self.abort(&format!("write failed: {e}")),
                Poll::Pending => return,
            }
        }
    }

    /// Reads what the socket has and hands it to the connection; if
    /// anything happened, the time it did (the clock is read only then).
    fn read(&mut self, cx: &mut Context<'_>) -> Option<Instant> {
        let mut input_at = None;
        let read = READ_BUF.with_borrow_mut(|buf| {
            let read = R::poll_read(&mut self.stream, cx, buf);
            if let Poll::Ready(Ok(n)) = read
                && n > 0
            {
                let now = Instant::now();
                input_at = Some(now);
                self.conn.handle_input(now, &buf[..n]);
            }
            read
        });
        match read {
            Poll::Ready(Ok(0)) => self.close("the client closed the socket"),
            Poll::Ready(Ok(_)) => {}
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Poll::Ready(Err(e)) => self.abort(&format!("read failed: {e}")),
            Poll::Pending => return None,
        }
        Some(input_at.unwrap_or_else(Instant::now))
    }

    /// Closes from our side for `why`; what is pending is still written.
    fn close(&mut self, why: &str) {
        self.why.get_or_insert_with(|| why.to_owned());
        self.conn.close(Instant::now());
    }

    /// Closes for `why` and drops what is pending: the peer is not
    /// reading, or the socket is broken.
    fn abort(&mut self, why: &str) {
        self.close(why);
        self.write_buf.clear();
        self.close_by = Some(Instant::now());
    }

    /// The connection reported its end: log it, arm the close grace.
    fn closed(&mut self, now: Instant, reason: &CloseReason) {
        let why = match reason {
            CloseReason::Local => "closed by the server".to_owned(),
            CloseReason::Rejected(description) => {
                let (client, peer) = (self.link.client().0, self.peer);
                info!(client, %peer, %description, "connect rejected");
                format!("connect rejected: {description}")
            }
            CloseReason::PeerClosed => "the client closed the connection".to_owned(),
            CloseReason::Error(e) => e.to_string(),
            other => format!("{other:?}"),
        };
        self.why.get_or_insert(why);
        self.close_by.get_or_insert(now + self.config.close_grace);
    }
}
