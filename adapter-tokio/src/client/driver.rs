//! The connection task: it owns the socket and the [`Connection`], runs the
//! drive loop of [`rtmp_proto::connection`], and talks to the handles
//! through channels.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use rtmp_proto::amf::{Encoding, Str, Value};
use rtmp_proto::connection::{CallId, Connection, Event, call_failed};
use rtmp_proto::message::shared_object::SharedObjectMessage;
use rtmp_proto::remote::{RemoteEvent, RemoteSharedObject};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

use super::shared_object::lock;
use super::{ClientError, IncomingCall, SharedObject};

/// A reply channel for one request.
type Reply<T> = oneshot::Sender<Result<T, ClientError>>;

/// What the handles ask the task to do.
#[derive(Debug)]
pub(crate) enum Command {
    Use {
        name: Str,
        persistent: bool,
        reply: Reply<SharedObject>,
    },
    Set {
        name: Str,
        key: Str,
        value: Value,
        reply: Reply<()>,
    },
    Remove {
        name: Str,
        key: Str,
        reply: Reply<bool>,
    },
    Send {
        name: Str,
        method: Str,
        args: Vec<Value>,
        reply: Reply<()>,
    },
    Release {
        name: Str,
        reply: Reply<()>,
    },
    Call {
        method: Str,
        args: Vec<Value>,
        reply: Reply<Vec<Value>>,
    },
    Answer {
        transaction_id: f64,
        outcome: Result<Value, Value>,
    },
    IncomingCalls(mpsc::Sender<IncomingCall>),
    Close,
}

/// What the task tells [`Client::connect`](super::Client::connect) once
/// `connect` is answered.
pub(crate) struct Connected {
    pub(crate) encoding: Encoding,
    pub(crate) info: Value,
}

/// Everything the task owns.
pub(crate) struct Driver {
    conn: Connection,
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    input: BytesMut,
    output: BytesMut,
    commands: mpsc::UnboundedReceiver<Command>,
    /// For the handles the task makes (SO handles, incoming calls); weak,
    /// so that the task ends once every user handle is gone.
    weak_commands: mpsc::WeakUnboundedSender<Command>,
    connected: Option<oneshot::Sender<Result<Connected, ClientError>>>,
    /// Until `connect` is answered: the caller's deadline.
    connect_deadline: Option<Instant>,
    handshake_done: bool,
    sos: BTreeMap<Str, SoEntry>,
    calls: BTreeMap<CallId, Reply<Vec<Value>>>,
    incoming: Option<mpsc::Sender<IncomingCall>>,
    closed: watch::Sender<Option<ClientError>>,
    timeout: Duration,
    event_capacity: usize,
}

/// One SO in use, and the requests waiting for its answers.
struct SoEntry {
    mirror: Arc<Mutex<RemoteSharedObject>>,
    events: broadcast::Sender<RemoteEvent>,
    /// Waiting for the USE answer, each with a receiver subscribed before
    /// the USE went out.
    using: Vec<(Reply<SharedObject>, broadcast::Receiver<RemoteEvent>)>,
    /// Writes and removals by key, in the mirror's order (see `rtmp_proto::remote`).
    writes: BTreeMap<Str, VecDeque<WriteReply>>,
    /// Sends by method name, in the mirror's order.
    sends: BTreeMap<Str, VecDeque<Reply<()>>>,
}

enum WriteReply {
    Set(Reply<()>),
    Remove(Reply<bool>),
}

pub(crate) struct DriverParts {
    pub(crate) conn: Connection,
    pub(crate) stream: TcpStream,
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    pub(crate) weak_commands: mpsc::WeakUnboundedSender<Command>,
    pub(crate) connected: oneshot::Sender<Result<Connected, ClientError>>,
    pub(crate) connect_deadline: Instant,
    pub(crate) closed: watch::Sender<Option<ClientError>>,
    pub(crate) timeout: Duration,
    pub(crate) event_capacity: usize,
}

impl Driver {
    pub(crate) fn new(parts: DriverParts) -> Self {
        let (reader, writer) = parts.stream.into_split();
        Self {
            conn: parts.conn,
            reader,
            writer,
            input: BytesMut::with_capacity(READ_BUFFER),
            output: BytesMut::new(),
            commands: parts.commands,
            weak_commands: parts.weak_commands,
            connected: Some(parts.connected),
            connect_deadline: Some(parts.connect_deadline),
            handshake_done: false,
            sos: BTreeMap::new(),
            calls: BTreeMap::new(),
            incoming: None,
            closed: parts.closed,
            timeout: parts.timeout,
            event_capacity: parts.event_capacity.max(1),
        }
    }

    /// The drive loop: after every input, command or timer, write what the
    /// connection has to send and handle its events.
    pub(crate) async fn run(mut self) {
        let reason = loop {
            if let Some(reason) = self.drain_events() {
                break reason;
            }
            self.conn.poll_transmit(&mut self.output);
            let timer = [
                self.conn.poll_timeout().map(Instant::from_std),
                self.connect_deadline,
            ]
            .into_iter()
            .flatten()
            .min();
            tokio::select! {
                written = self.writer.write_buf(&mut self.output), if !self.output.is_empty() => {
                    if let Err(e) = written {
                        break ClientError::from(e);
                    }
                }
                read = self.reader.read_buf(&mut self.input) => match read {
                    Ok(0) => break ClientError::Disconnected,
                    Ok(_) => {
                        // A fatal error also arrives as Event::Closed.
                        let _ = self.conn.handle_input(Instant::now().into_std(), &self.input);
                        self.input.clear();
                    }
                    Err(e) => break ClientError::from(e),
                },
                command = self.commands.recv() => match command {
                    Some(Command::Close) | None => {
                        self.conn.close(Instant::now().into_std());
                        break ClientError::Closed;
                    }
                    Some(command) => self.handle_command(command),
                },
                () = sleep_until(timer), if timer.is_some() => {
                    let now = Instant::now();
                    if self.connect_deadline.is_some_and(|d| now >= d) {
                        break ClientError::Timeout(if self.handshake_done {
                            "the server's answer to connect"
                        } else {
                            "the handshake"
                        });
                    }
                    self.conn.handle_timeout(now.into_std());
                }
            }
        };
        self.finish(reason).await;
    }

    /// Handles every pending connection event; `Some` once the connection closed.
    fn drain_events(&mut self) -> Option<ClientError> {
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::HandshakeDone => self.handshake_done = true,
                Event::Connected { encoding, info } => {
                    self.connect_deadline = None;
                    if let Some(reply) = self.connected.take() {
                        let _ = reply.send(Ok(Connected { encoding, info }));
                    }
                }
                Event::SharedObject(message) => self.on_shared_object(&message),
                Event::Call(call) => self.on_call(call),
                Event::CallResult { id, outcome } => {
                    if let Some(reply) = self.calls.remove(&id) {
                        let _ = reply.send(outcome.map_err(ClientError::CallFailed));
                    }
                }
                Event::Closed(reason) => return Some(reason.into()),
                // Server-side events never reach a client connection.
                _ => {}
            }
        }
        None
    }

    fn handle_command(&mut self, command: Command) {
        let now = Instant::now().into_std();
        match command {
            Command::Use {
                name,
                persistent,
                reply,
            } => self.use_so(now, name, persistent, reply),
            Command::Set {
                name,
                key,
                value,
                reply,
            } => {
                let Some(entry) = in_use(&mut self.sos, &name) else {
                    return not_in_use(reply, &name);
                };
                let message = lock(&entry.mirror).set_message(key.clone(), value);
                match self.conn.send_shared_object(now, &message) {
                    Ok(()) => push(&mut entry.writes, key, WriteReply::Set(reply)),
                    Err(e) => {
                        lock(&entry.mirror).undo_last(&key);
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Command::Remove { name, key, reply } => {
                let Some(entry) = in_use(&mut self.sos, &name) else {
                    return not_in_use(reply, &name);
                };
                let (present, message) = {
                    let mut mirror = lock(&entry.mirror);
                    (
                        mirror.get(&key).is_some(),
                        mirror.remove_message(key.clone()),
                    )
                };
                match self.conn.send_shared_object(now, &message) {
                    Ok(()) if present => push(&mut entry.writes, key, WriteReply::Remove(reply)),
                    Ok(()) => {
                        let _ = reply.send(Ok(false));
                    }
                    Err(e) => {
                        lock(&entry.mirror).undo_last(&key);
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Command::Send {
                name,
                method,
                args,
                reply,
            } => {
                let Some(entry) = in_use(&mut self.sos, &name) else {
                    return not_in_use(reply, &name);
                };
                let message = lock(&entry.mirror).send_message(method.clone(), args);
                match self.conn.send_shared_object(now, &message) {
                    Ok(()) => push(&mut entry.sends, method, reply),
                    Err(e) => {
                        lock(&entry.mirror).undo_last(&method);
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Command::Release { name, reply } => {
                let Some(entry) = in_use(&mut self.sos, &name) else {
                    return not_in_use(reply, &name);
                };
                let message = lock(&entry.mirror).release_message();
                let sent = self.conn.send_shared_object(now, &message);
                if let Some(entry) = self.sos.remove(&name) {
                    entry.fail(&ClientError::NotInUse(name.to_string()));
                }
                let _ = reply.send(sent.map_err(ClientError::from));
            }
            Command::Call {
                method,
                args,
                reply,
            } => match self.conn.call(now, &method, args) {
                Ok(id) => {
                    self.calls.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                }
            },
            Command::Answer {
                transaction_id,
                outcome,
            } => {
                // The connection may have closed meanwhile: nobody to answer.
                let _ = match outcome {
                    Ok(result) => self.conn.reply(now, transaction_id, result),
                    Err(info) => self.conn.reply_error(now, transaction_id, info),
                };
            }
            Command::IncomingCalls(sender) => self.incoming = Some(sender),
            // Handled by the loop.
            Command::Close => {}
        }
    }

    fn use_so(
        &mut self,
        now: std::time::Instant,
        name: Str,
        persistent: bool,
        reply: Reply<SharedObject>,
    ) {
        let idle = |entry: &SoEntry| entry.using.is_empty() && !lock(&entry.mirror).is_connected();
        let stale = self
            .sos
            .get(&name)
            .is_some_and(|entry| idle(entry) && lock(&entry.mirror).is_persistent() != persistent);
        if stale {
            // Not in use (refused, or destroyed by the server): start afresh
            // with the persistence asked for now.
            if let Some(entry) = self.sos.remove(&name) {
                entry.fail(&ClientError::NotInUse(name.to_string()));
            }
        }
        let capacity = self.event_capacity;
        let entry = self.sos.entry(name.clone()).or_insert_with(|| SoEntry {
            mirror: Arc::new(Mutex::new(RemoteSharedObject::new(
                name.clone(),
                persistent,
            ))),
            events: broadcast::channel(capacity).0,
            using: Vec::new(),
            writes: BTreeMap::new(),
            sends: BTreeMap::new(),
        });
        let (connected, same_persistence, message) = {
            let mirror = lock(&entry.mirror);
            (
                mirror.is_connected(),
                mirror.is_persistent() == persistent,
                mirror.use_message(),
            )
        };
        if !same_persistence {
            // One SO per name on a connection, as on the server (which would
            // answer SharedObject.BadPersistence).
            let used_as = if persistent {
                "transient"
            } else {
                "persistent"
            };
            let _ = reply.send(Err(ClientError::NotInUse(format!(
                "{name} (in use as {used_as})"
            ))));
            return;
        }
        let events = entry.events.subscribe();
        if connected {
            let mirror = Arc::clone(&entry.mirror);
            let _ = reply.send(Ok(self.handle(mirror, events)));
            return;
        }
        let first = entry.using.is_empty();
        entry.using.push((reply, events));
        if first && let Err(e) = self.conn.send_shared_object(now, &message) {
            entry.fail_using(&ClientError::from(e));
        }
    }

    fn on_shared_object(&mut self, message: &SharedObjectMessage) {
        let Some(entry) = self.sos.get(&message.name) else {
            tracing::debug!(name = %message.name, "SharedObject message for an SO not in use");
            return;
        };
        let (events, connected) = {
            let mut mirror = lock(&entry.mirror);
            (mirror.apply(message), mirror.is_connected())
        };
        let mirror = Arc::clone(&entry.mirror);
        let Some(entry) = self.sos.get_mut(&message.name) else {
            return;
        };
        for event in &events {
            entry.settle(event);
            // No receiver is fine: the state is kept anyway.
            let _ = entry.events.send(event.clone());
        }
        if entry.using.is_empty() {
            return;
        }
        let refusal = events.iter().find_map(|e| match e {
            RemoteEvent::Status { code, level } if level == "error" => Some(code.clone()),
            _ => None,
        });
        let using = if connected {
            std::mem::take(&mut entry.using)
        } else if let Some(code) = refusal {
            let denied = ClientError::Denied {
                code: code.to_string(),
            };
            entry.fail_using(&denied);
            return;
        } else {
            return;
        };
        for (reply, events) in using {
            let _ = reply.send(Ok(self.handle(Arc::clone(&mirror), events)));
        }
    }

    fn on_call(&mut self, call: rtmp_proto::connection::Call) {
        let now = Instant::now().into_std();
        let transaction_id = call.transaction_id;
        if let (Some(incoming), Some(commands)) = (&self.incoming, self.weak_commands.upgrade()) {
            // A call that cannot be queued is dropped, and answers `_error` itself.
            match incoming.try_send(IncomingCall::new(call, commands)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(call)) => {
                    tracing::debug!(method = %call.method, "incoming call queue full");
                }
                Err(mpsc::error::TrySendError::Closed(_)) => self.incoming = None,
            }
            return;
        }
        tracing::debug!(method = %call.method, "server call with nobody taking calls");
        let info = call_failed("this client takes no calls");
        let _ = self.conn.reply_error(now, transaction_id, info);
    }

    /// A handle to `mirror`, whose events go to `events`.
    fn handle(
        &self,
        mirror: Arc<Mutex<RemoteSharedObject>>,
        events: broadcast::Receiver<RemoteEvent>,
    ) -> SharedObject {
        let commands = match self.weak_commands.upgrade() {
            Some(commands) => commands,
            // Every user handle is gone and the task is ending: this handle
            // only ever sees a closed connection.
            None => mpsc::unbounded_channel().0,
        };
        SharedObject::new(mirror, events, commands, self.timeout)
    }

    /// Writes out what is left, closes the socket and fails every waiter.
    async fn finish(mut self, reason: ClientError) {
        tracing::debug!(%reason, "client connection closed");
        self.conn.poll_transmit(&mut self.output);
        if !self.output.is_empty() {
            let flush = self.writer.write_all(&self.output);
            let _ = tokio::time::timeout(FLUSH_TIMEOUT, flush).await;
        }
        let _ = self.writer.shutdown().await;
        if let Some(reply) = self.connected.take() {
            let _ = reply.send(Err(reason.clone()));
        }
        for (_, reply) in std::mem::take(&mut self.calls) {
            let _ = reply.send(Err(reason.clone()));
        }
        for (_, entry) in std::mem::take(&mut self.sos) {
            lock(&entry.mirror).release_message();
            entry.fail(&reason);
        }
        self.closed.send_replace(Some(reason));
    }
}

impl SoEntry {
    /// Answers the request a settling event belongs to (same order as the mirror's).
    fn settle(&mut self, event: &RemoteEvent) {
        match event {
            RemoteEvent::Accepted { key } => match pop(&mut self.writes, key) {
                Some(WriteReply::Set(reply)) => {
                    let _ = reply.send(Ok(()));
                }
                Some(WriteReply::Remove(reply)) => {
                    let _ = reply.send(Ok(true));
                }
                None => {}
            },
            RemoteEvent::Rejected { key, code } => {
                let denied = ClientError::Denied {
                    code: code.to_string(),
                };
                match pop(&mut self.writes, key) {
                    Some(WriteReply::Set(reply)) => {
                        let _ = reply.send(Err(denied));
                    }
                    Some(WriteReply::Remove(reply)) => {
                        let _ = reply.send(Err(denied));
                    }
                    None => {}
                }
            }
            RemoteEvent::Message { method, .. } => {
                if let Some(reply) = pop(&mut self.sends, method) {
                    let _ = reply.send(Ok(()));
                }
            }
            RemoteEvent::SendRejected { method, code } => {
                if let Some(reply) = pop(&mut self.sends, method) {
                    let _ = reply.send(Err(ClientError::Denied {
                        code: code.to_string(),
                    }));
                }
            }
            _ => {}
        }
    }

    fn fail_using(&mut self, error: &ClientError) {
        for (reply, _) in self.using.drain(..) {
            let _ = reply.send(Err(error.clone()));
        }
    }

    /// Fails every waiter; dropping the entry ends its event receivers.
    fn fail(mut self, error: &ClientError) {
        self.fail_using(error);
        for (_, replies) in std::mem::take(&mut self.writes) {
            for reply in replies {
                let _ = match reply {
                    WriteReply::Set(reply) => reply.send(Err(error.clone())).map_err(drop),
                    WriteReply::Remove(reply) => reply.send(Err(error.clone())).map_err(drop),
                };
            }
        }
        for (_, replies) in std::mem::take(&mut self.sends) {
            for reply in replies {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}

/// Bytes read from the socket at a time.
const READ_BUFFER: usize = 64 * 1024;
/// How long closing waits for the last bytes to go out.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// The SO `name` if it is in use.
fn in_use<'a>(sos: &'a mut BTreeMap<Str, SoEntry>, name: &str) -> Option<&'a mut SoEntry> {
    sos.get_mut(name)
        .filter(|entry| lock(&entry.mirror).is_connected())
}

fn not_in_use<T>(reply: Reply<T>, name: &str) {
    let _ = reply.send(Err(ClientError::NotInUse(name.to_owned())));
}

fn push<T>(queues: &mut BTreeMap<Str, VecDeque<T>>, key: Str, item: T) {
    queues.entry(key).or_default().push_back(item);
}

fn pop<T>(queues: &mut BTreeMap<Str, VecDeque<T>>, key: &str) -> Option<T> {
    let queue = queues.get_mut(key)?;
    let item = queue.pop_front();
    if queue.is_empty() {
        queues.remove(key);
    }
    item
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
