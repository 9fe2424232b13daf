//! One task per connection: the socket, the [`Connection`] (decoding and
//! encoding happen here, on whichever core runs the task), the
//! [`ClientLink`], and the drive loop of `rtmp_proto::connection`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use rtmp_proto::connection::{self, CloseReason, Connection, Event, Side};
use so_engine::ClientId;
use so_engine::host::{ClientCommand, ClientLink};
use tokio::net::TcpStream;
use tracing::{debug, error, info};

use super::engine::{Mailbox, ToEngine};
use super::{Config, EngineSender};

/// Bytes read from the socket per read call (the buffer is reused).
const READ_BUFFER: usize = 64 << 10;
/// Where the timer starts; the connection's own deadlines move it.
const IDLE_TIMER: Duration = Duration::from_secs(3600);

/// Serves one accepted socket until it closes.
pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    client: ClientId,
    engine: EngineSender,
    config: Arc<Config>,
    connection_config: Arc<connection::Config>,
) {
    // Every log line names the connection itself: a span entered on every
    // poll would cost more than the rest of a small delivery's bookkeeping.
    let id = client.0;
    // Small SO messages must leave at once, not wait for Nagle.
    if let Err(e) = stream.set_nodelay(true) {
        debug!(client = id, %peer, error = %e, "TCP_NODELAY not set");
    }
    let mut seed = [0u8; 32];
    if let Err(e) = getrandom::fill(&mut seed) {
        error!(client = id, %peer, error = %e, "no OS randomness for the handshake: connection dropped");
        return;
    }
    let mailbox = Arc::new(Mailbox::new(config.queue));
    let register = ToEngine::Register(client, mailbox.clone());
    if engine.send(register).await.is_err() {
        return;
    }
    info!(client = id, %peer, "connection opened");
    let mut task = Task {
        conn: Connection::new(connection_config, Side::Server, Instant::now(), seed),
        link: ClientLink::new(client),
        peer,
        engine,
        mailbox,
        config,
        why: None,
        close_by: None,
    };
    task.run(stream).await;
    let why = task.why.take().unwrap_or_else(|| "closed".into());
    info!(client = id, %peer, reason = %why, "connection closed");
    let _ = task.engine.send(ToEngine::Gone(client)).await;
}

struct Task {
    conn: Connection,
    link: ClientLink,
    peer: SocketAddr,
    engine: EngineSender,
    mailbox: Arc<Mailbox>,
    config: Arc<Config>,
    /// Why the connection closed (the first reason wins).
    why: Option<String>,
    /// Once closed: write what is left until then.
    close_by: Option<Instant>,
}

impl Task {
    async fn run(&mut self, stream: TcpStream) {
        let mut read_buf = BytesMut::with_capacity(READ_BUFFER);
        let mut write_buf = BytesMut::new();
        let mut commands = Vec::new();
        let mut inputs = Vec::new();
        // The queue has (or may have) something: take it once the socket
        // has room.
        let mut wake = false;
        let mut shutdown = false;
        // One timer for the connection's life, moved with its deadline
        // (moving it later is an atomic store, not a timer-wheel update).
        let timer = tokio::time::sleep(IDLE_TIMER);
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if wake && write_buf.len() < self.config.max_unsent_bytes {
                wake = false;
                self.mailbox.lock().queue.drain_into(&mut commands);
                for command in commands.drain(..) {
                    if let ClientCommand::Disconnect(reason) = &command {
                        self.why
                            .get_or_insert_with(|| format!("disconnected: {reason}"));
                    }
                    // Fails only once the connection is closed: nothing to do.
                    let _ = self.link.handle_command(&mut self.conn, now, command);
                }
            }
            if shutdown && !wake && !self.conn.is_closed() {
                self.close("the server is shutting down");
            }
            self.conn.poll_transmit(&mut write_buf);
            while let Some(event) = self.conn.poll_event() {
                if let Event::Closed(reason) = &event {
                    self.closed(now, reason);
                }
                inputs.extend(self.link.handle_event(&mut self.conn, now, event));
                // A refused connect was answered just now.
                self.conn.poll_transmit(&mut write_buf);
            }
            for input in inputs.drain(..) {
                // Only fails once the engine stopped (shutdown): nobody to tell.
                let _ = self.engine.send(ToEngine::Input(input)).await;
            }
            // Everything pending in one write, right away: the socket
            // usually has room, and writing now saves a wake-up.
            if !write_buf.is_empty() {
                self.write(&stream, &mut write_buf);
            }
            if self
                .close_by
                .is_some_and(|by| write_buf.is_empty() || now >= by)
            {
                return;
            }
            let open = !self.conn.is_closed();
            let room = write_buf.len() < self.config.max_unsent_bytes;
            let deadline = self.close_by.or_else(|| self.conn.poll_timeout());
            if let Some(at) = deadline
                && armed != Some(at)
            {
                timer.as_mut().reset(at.into());
                armed = Some(at);
            }
            tokio::select! {
                biased;
                ready = stream.writable(), if !write_buf.is_empty() => match ready {
                    Ok(()) => self.write(&stream, &mut write_buf),
                    Err(e) => self.abort(&format!("socket error: {e}"), &mut write_buf),
                },
                () = self.mailbox.notify.notified(), if open => {
                    let (overflowed, shutting_down) = {
                        let state = self.mailbox.lock();
                        (state.queue.is_overflowed(), state.shutdown)
                    };
                    if overflowed {
                        let limit = self.config.queue.max_queued_bytes;
                        let why = format!("slow reader: over {limit} bytes queued");
                        self.abort(&why, &mut write_buf);
                    }
                    // On shutdown, what is queued (the engine's disconnect)
                    // still goes out before the close.
                    shutdown |= shutting_down;
                    wake = true;
                }
                ready = stream.readable(), if open && room => match ready {
                    Ok(()) => self.read(&stream, &mut read_buf, &mut write_buf),
                    Err(e) => self.abort(&format!("socket error: {e}"), &mut write_buf),
                },
                () = &mut timer, if deadline.is_some() => {
                    armed = None;
                    self.conn.handle_timeout(Instant::now());
                }
            }
        }
    }

    /// Writes what the socket takes now.
    fn write(&mut self, stream: &TcpStream, write_buf: &mut BytesMut) {
        match stream.try_write(write_buf) {
            Ok(0) => self.abort("the socket accepts no more bytes", write_buf),
            Ok(n) => write_buf.advance(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => self.abort(&format!("write failed: {e}"), write_buf),
        }
    }

    /// Reads what the socket has and hands it to the connection.
    fn read(&mut self, stream: &TcpStream, read_buf: &mut BytesMut, write_buf: &mut BytesMut) {
        match stream.try_read_buf(read_buf) {
            Ok(0) => self.close("the client closed the socket"),
            Ok(_) => {
                // Errors also arrive as Event::Closed.
                let _ = self.conn.handle_input(Instant::now(), read_buf);
                read_buf.clear();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => self.abort(&format!("read failed: {e}"), write_buf),
        }
    }

    /// Closes from our side for `why`; what is pending is still written.
    fn close(&mut self, why: &str) {
        self.why.get_or_insert_with(|| why.to_owned());
        self.conn.close(Instant::now());
    }

    /// Closes for `why` and drops what is pending: the peer is not
    /// reading, or the socket is broken.
    fn abort(&mut self, why: &str, write_buf: &mut BytesMut) {
        self.close(why);
        write_buf.clear();
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
