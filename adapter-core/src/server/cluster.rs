//! Cluster mode's wiring ([`ServerBuilder::cluster`](super::ServerBuilder::cluster)):
//! the [`so_cluster::Node`] lives on the engine thread beside the engine
//! (both sans-IO, driven together), and two threads of its own carry out
//! its Redis commands ([`RedisLink`], in order) and read the streams it
//! watches ([`StreamReader`]), sending what they get back through the
//! engine's inbox.
//!
//! * A client's write (or server code's change) comes out of the engine
//!   as `Output::ClusterWrite` and goes to [`Node::handle_write`]; the node applies it here if this
//!   process owns the SO ([`Event::Apply`], through
//!   `Engine::handle_forwarded_write`) or forwards it to the owner.
//! * [`Event::ReplicaUpdate`] / [`Event::ReplicaReset`] feed the engine's
//!   replica; [`Event::Answered`], [`Event::Settled`], [`Event::Refused`]
//!   answer the writer.
//! * The first subscriber of an SO here (the engine's `SoCreated`) makes
//!   the process take part in it ([`Node::handle_interest`]); its
//!   destruction ends that.
//! * Client ids are unique across the cluster: each process numbers its
//!   connections from its node id shifted 32 bits left, so the owner's
//!   hooks never take a remote writer for one of its own clients.
//! * Redis lost while running: SOs this process owns keep serving; writes
//!   to SOs others own are refused with STATUS
//!   `SharedObject.NoWriteAccess` and the authoritative value ("cluster
//!   unavailable"); one log line at each transition and the gauge
//!   `rtmp_so_cluster_redis_up`. The link threads reconnect by themselves.
//! * A clean stop releases every lease and deletes the process's inbox
//!   stream; a killed process's inbox expires
//!   ([`DEFAULT_INBOX_TTL`](crate::cluster::DEFAULT_INBOX_TTL)).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use rtmp_proto::amf::Limits;
use so_cluster::{
    Applied, ApplyOp, Command, Event, LinkError, Node, NodeId, Reply, SoId, WriteRef,
};
use so_engine::cluster::{
    ForwardedWrite, WriteOutcome, WriterAnswer, decode_answer, decode_delta, decode_state,
    decode_write, encode_answer, encode_delta, encode_state, encode_write,
};
use so_engine::server::{Effects, Hub, HubEvent};
use so_engine::{ClientId, Input, Output, ScopePath, SoKey};
use tracing::{debug, info, warn};

use super::engine::ClusterSender;
use super::web::Stats;
use crate::Error;
use crate::cluster::{ClusterError, ClusterOptions, Delivery, RedisLink, StreamReader, redacted};
use crate::runtime::Runtime;
use crate::sync::lock;

/// How long one `XREAD` blocks: a new watch waits at most this long to be
/// read (the stream keeps everything meanwhile).
const READ_BLOCK: Duration = Duration::from_millis(100);
/// How often a lost link tries to reconnect.
const RECONNECT_EVERY: Duration = Duration::from_millis(250);
/// How long a clean stop waits for the leases to be released.
const STOP_WAIT: Duration = Duration::from_secs(3);

/// Cluster mode, connected: what [`ServerBuilder::bind`](super::ServerBuilder::bind)
/// checked before anything else starts.
pub(super) struct ClusterStart {
    options: ClusterOptions,
    node: NodeId,
    seed: u64,
    link: RedisLink,
    reader: StreamReader,
}

impl ClusterStart {
    /// Draws this process's id and connects both links (on the blocking
    /// pool): `Err` names the URL (without its password) and the error.
    pub(super) async fn connect<R: Runtime>(options: ClusterOptions) -> Result<Self, Error> {
        let url = options.redis_url.clone();
        let connected = R::spawn_blocking(move || {
            let mut random = [0u8; 12];
            getrandom::fill(&mut random).map_err(|e| std::io::Error::other(e.to_string()))?;
            let [a, b, c, d, seed @ ..] = random;
            // Never 0, so that client ids never start at 0.
            let node = NodeId(u64::from(u32::from_be_bytes([a, b, c, d]).max(1)));
            let seed = u64::from_be_bytes(seed);
            let link = RedisLink::connect(&options.redis_url)?;
            let reader = StreamReader::connect(&options.redis_url, node)?;
            Ok::<_, Error>(Self {
                options,
                node,
                seed,
                link,
                reader,
            })
        })
        .await;
        connected.unwrap_or_else(|| {
            Err(Error::Io(std::io::Error::other(format!(
                "connecting to Redis at {} did not finish",
                redacted(&url)
            ))))
        })
    }

    /// The first client id of this process (see the module docs).
    pub(super) fn client_base(&self) -> u64 {
        self.node.0 << 32
    }
}

/// What the link threads tell the engine thread.
#[derive(Debug)]
pub(super) enum FromLink {
    /// A command's answer.
    Reply(Reply),
    /// A stream entry or an inbox message.
    Delivery(Delivery),
    /// One of the two links went down or came back.
    Link {
        /// The stream reader's link (else the command link).
        reader: bool,
        /// Up or down.
        up: bool,
    },
}

enum ToLink {
    Command(Command),
    /// The reader lost Redis: the command connection is likely dead too;
    /// open a new one before reporting the link up again (so that the
    /// first command after Redis returns does not fail).
    Reconnect,
    /// Run what is queued, delete the inbox, answer, end.
    Stop(mpsc::Sender<()>),
}

/// A write made here that waits for its answer.
struct Waiting {
    /// `None`: server code's.
    client: Option<ClientId>,
    so: SoKey,
    write: ForwardedWrite,
}

/// The node and its links, on the engine thread.
pub(super) struct ClusterDriver {
    node: Node,
    epoch: Instant,
    pending: BTreeMap<WriteRef, Waiting>,
    commands: mpsc::Sender<ToLink>,
    watches: Arc<Mutex<Vec<Command>>>,
    stop: Arc<AtomicBool>,
    command_up: bool,
    reader_up: bool,
    up: bool,
    url: String,
    stats: Arc<Stats>,
    limits: Limits,
    stopped: bool,
}

impl ClusterDriver {
    /// Starts the link threads.
    pub(super) fn start(start: ClusterStart, sender: ClusterSender, stats: Arc<Stats>) -> Self {
        let ClusterStart {
            options,
            node,
            seed,
            link,
            reader,
        } = start;
        let url = options.redis_url.clone();
        let (commands, rx) = mpsc::channel();
        let watches = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (sender, watches, url) = (sender.clone(), watches.clone(), url.clone());
            let spawned = thread::Builder::new()
                .name("so-cluster-link".into())
                .spawn(move || command_thread(link, node, &url, &rx, &sender, &watches));
            if let Err(e) = spawned {
                warn!(error = %e, "cannot start the Redis command thread");
            }
        }
        {
            let (watches, stop, url) = (watches.clone(), stop.clone(), url.clone());
            let spawned = thread::Builder::new()
                .name("so-cluster-read".into())
                .spawn(move || reader_thread(reader, &url, &sender, &watches, &stop));
            if let Err(e) = spawned {
                warn!(error = %e, "cannot start the Redis stream reader");
            }
        }
        stats.cluster_on(true);
        info!(node = %node, redis = %redacted(&url), "cluster mode: Redis reached");
        Self {
            node: Node::new(options.config, node, seed),
            epoch: Instant::now(),
            pending: BTreeMap::new(),
            commands,
            watches,
            stop,
            command_up: true,
            reader_up: true,
            up: true,
            url,
            stats,
            limits: Limits::default(),
            stopped: false,
        }
    }

    fn now_ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// When [`ClusterDriver::handle_timeout`] is next due.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.node
            .poll_timeout()
            .map(|ms| self.epoch + Duration::from_millis(ms))
    }

    /// Time passed.
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        let ms = self.now_ms(now);
        self.node.handle_timeout(ms);
    }

    /// Something the link threads reported.
    pub(super) fn handle_link(&mut self, now: Instant, message: FromLink) {
        let ms = self.now_ms(now);
        match message {
            FromLink::Reply(reply) => self.node.handle_reply(ms, reply),
            FromLink::Delivery(Delivery::Entry(entry)) => self.node.handle_entry(ms, entry),
            FromLink::Delivery(Delivery::Inbox(msg)) => self.node.handle_inbox(ms, msg),
            FromLink::Link { reader, up } => {
                if reader {
                    self.reader_up = up;
                    if !up {
                        let _ = self.commands.send(ToLink::Reconnect);
                    }
                } else {
                    self.command_up = up;
                }
                let all = self.command_up && self.reader_up;
                if all != self.up {
                    self.up = all;
                    self.stats.cluster_redis_up(all);
                    let redis = redacted(&self.url);
                    if all {
                        info!(%redis, "Redis is back: cluster available");
                    } else {
                        warn!(%redis, "lost Redis: cluster unavailable (owned SOs keep serving, writes to others' SOs are refused)");
                    }
                    self.node.handle_link(ms, all);
                }
            }
        }
    }

    /// Feeds the engine's cluster outputs (in `effects`, not logged yet)
    /// to the node and the node's events to the engine, until neither has
    /// anything left; sends the node's commands to the links.
    pub(super) fn turn(&mut self, now: Instant, hub: &mut Hub, effects: &mut Effects) {
        let ms = self.now_ms(now);
        let mut from = 0;
        loop {
            let mut i = from;
            while i < effects.events.len() {
                match &effects.events[i] {
                    HubEvent::Engine(Output::ClusterWrite { .. }) => {
                        if let HubEvent::Engine(Output::ClusterWrite { so, write }) =
                            effects.events.remove(i)
                        {
                            self.write(ms, so, write);
                        }
                        continue;
                    }
                    HubEvent::Engine(Output::SoCreated { so }) => {
                        self.node.handle_interest(ms, &so_id(so), true);
                    }
                    HubEvent::Engine(Output::SoDestroyed { so, persistent }) => {
                        if *persistent {
                            self.node.handle_interest(ms, &so_id(so), false);
                        } else {
                            self.node.handle_gone(ms, &so_id(so));
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            from = effects.events.len();
            while let Some(event) = self.node.poll_event() {
                self.apply(now, ms, event, hub, effects);
            }
            self.send_commands();
            if effects.events.len() == from {
                break;
            }
        }
    }

    fn write(&mut self, ms: u64, so: SoKey, write: ForwardedWrite) {
        let payload = match encode_write(&write) {
            Ok(payload) => payload,
            Err(e) => {
                warn!(%so, error = %e, "a write could not be encoded for the cluster");
                return;
            }
        };
        let id = so_id(&so);
        let client = write.writer;
        let wref = self.node.handle_write(ms, &id, payload);
        self.pending.insert(wref, Waiting { client, so, write });
    }

    fn send_commands(&mut self) {
        while let Some(command) = self.node.poll_command() {
            if matches!(command, Command::Watch { .. } | Command::Unwatch { .. }) {
                lock(&self.watches).push(command);
            } else if self.commands.send(ToLink::Command(command)).is_err() {
                // The command thread is gone: its replies never come.
                warn!("the Redis command thread stopped");
            }
        }
    }

    fn apply(&mut self, now: Instant, ms: u64, event: Event, hub: &mut Hub, effects: &mut Effects) {
        match event {
            Event::Rebuild { so, state } => {
                let Some(key) = so_key(&so) else { return };
                let snapshot =
                    state.filter(|s| !s.data.is_empty()).and_then(|s| {
                        match decode_state(&s.data, &self.limits) {
                            Ok(snapshot) => Some(snapshot),
                            Err(e) => {
                                warn!(%key, error = %e, "unreadable stored cluster state");
                                None
                            }
                        }
                    });
                hub.handle_input(now, Input::Rebuild { so: key, snapshot }, effects);
                debug!(%so, "owning");
            }
            Event::Dismiss { so } => {
                if let Some(key) = so_key(&so) {
                    hub.handle_input(
                        now,
                        Input::Owned {
                            so: key,
                            owned: false,
                        },
                        effects,
                    );
                }
            }
            Event::Apply { so, op } => {
                let applied = self.apply_op(now, &so, op, hub, effects);
                self.node.handle_applied(ms, applied);
            }
            Event::ReplicaUpdate {
                so,
                version,
                delta,
                writer,
            } => {
                let Some(key) = so_key(&so) else { return };
                let writer = writer
                    .and_then(|w| self.pending.remove(&w))
                    .and_then(|w| w.client);
                match decode_delta(&delta, &self.limits) {
                    Ok(delta) => hub.handle_input(
                        now,
                        Input::ReplicaUpdate {
                            so: key,
                            version,
                            delta,
                            writer,
                        },
                        effects,
                    ),
                    Err(e) => warn!(%key, error = %e, "unreadable cluster update"),
                }
            }
            Event::ReplicaReset { so, data, .. } => {
                let Some(key) = so_key(&so) else { return };
                let snapshot = if data.is_empty() {
                    // No stored state: a new SO.
                    None
                } else {
                    decode_state(&data, &self.limits)
                        .inspect_err(|e| warn!(%key, error = %e, "unreadable cluster state"))
                        .ok()
                };
                let input = match snapshot {
                    Some(snapshot) => Input::ReplicaReset { so: key, snapshot },
                    // The USE answers waiting for the state go out with
                    // what this process has.
                    None => Input::ReplicaLoaded { so: key },
                };
                hub.handle_input(now, input, effects);
            }
            Event::Answered { write, answer, .. } => {
                let Some(w) = self.pending.remove(&write) else {
                    return;
                };
                let answer = decode_answer(&answer, &self.limits).unwrap_or_else(|e| {
                    warn!(so = %w.so, error = %e, "unreadable answer to a write");
                    Vec::new()
                });
                self.answer(now, w, WriterAnswer::Events(answer), hub, effects);
            }
            Event::Settled { write, .. } => {
                if let Some(w) = self.pending.remove(&write) {
                    let answer = WriterAnswer::Settled(w.write.clone());
                    self.answer(now, w, answer, hub, effects);
                }
            }
            Event::Refused { write, reason, .. } => {
                if let Some(w) = self.pending.remove(&write) {
                    debug!(so = %w.so, ?reason, "write refused: cluster unavailable");
                    let answer = WriterAnswer::Refused(w.write.clone());
                    self.answer(now, w, answer, hub, effects);
                }
            }
            Event::OwnerChanged { so, owner } => {
                debug!(%so, owner = ?owner, "owner changed");
            }
        }
    }

    fn answer(
        &mut self,
        now: Instant,
        waiting: Waiting,
        answer: WriterAnswer,
        hub: &mut Hub,
        effects: &mut Effects,
    ) {
        let Some(client) = waiting.client else {
            // Server code's write: nobody to answer.
            if let WriterAnswer::Refused(_) = answer {
                warn!(so = %waiting.so, "a change made by server code was refused: cluster unavailable");
            }
            return;
        };
        let input = Input::WriteAnswered {
            client,
            so: waiting.so,
            answer,
        };
        hub.handle_input(now, input, effects);
    }

    fn apply_op(
        &mut self,
        now: Instant,
        so: &SoId,
        op: ApplyOp,
        hub: &mut Hub,
        effects: &mut Effects,
    ) -> Applied {
        let nothing = || Applied::NoUpdate {
            answer: encode_answer(&[]).unwrap_or_default(),
        };
        let Some(key) = so_key(so) else {
            return nothing();
        };
        let outcome = match op {
            ApplyOp::Write { payload, .. } => {
                // A writer connected here is answered like any other: by
                // the update once published (`Event::ReplicaUpdate`), or
                // by `Event::Answered`.
                let forwarded = match decode_write(&payload, &self.limits) {
                    Ok(forwarded) => forwarded,
                    Err(e) => {
                        warn!(%key, error = %e, "unreadable forwarded write");
                        return nothing();
                    }
                };
                hub.with_engine(now, effects, |engine, tick, out| {
                    engine.handle_forwarded_write(tick, &key, forwarded, out)
                })
            }
            ApplyOp::Raise { version } => hub.with_engine(now, effects, |engine, tick, out| {
                engine.handle_raise(tick, &key, version, out)
            }),
        };
        match outcome {
            Ok(WriteOutcome::Update {
                version,
                delta,
                state,
            }) => match encode_delta(&delta) {
                Ok(delta) => Applied::Update {
                    version,
                    delta,
                    data: encode_state(&key, &state),
                },
                Err(e) => {
                    warn!(%key, error = %e, "an update could not be encoded for the cluster");
                    nothing()
                }
            },
            Ok(WriteOutcome::NoUpdate { answer }) => Applied::NoUpdate {
                answer: encode_answer(&answer).unwrap_or_default(),
            },
            Err(misuse) => {
                warn!(%key, %misuse, "the engine refused a cluster write");
                nothing()
            }
        }
    }

    /// A clean stop: releases every lease held, deletes the inbox, and
    /// waits (a little) for Redis to have done it.
    pub(super) fn stop(&mut self, now: Instant) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let ms = self.now_ms(now);
        self.node.handle_stop(ms);
        while self.node.poll_event().is_some() {}
        self.send_commands();
        let (done, wait) = mpsc::channel();
        if self.commands.send(ToLink::Stop(done)).is_ok() && wait.recv_timeout(STOP_WAIT).is_err() {
            warn!("Redis did not confirm the release of this process's leases");
        }
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for ClusterDriver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The cluster's name of an SO.
pub(super) fn so_id(so: &SoKey) -> SoId {
    SoId::new(so.scope.as_str(), &so.name)
}

/// The SO a cluster name stands for (`None`: not one of ours).
pub(super) fn so_key(so: &SoId) -> Option<SoKey> {
    let (len, rest) = so.as_str().split_once(':')?;
    let len: usize = len.parse().ok()?;
    let scope = rest.get(..len)?;
    let name = rest.get(len + 1..)?;
    Some(SoKey::new(ScopePath::new(scope).ok()?, name))
}

/// Runs the node's commands in order; reconnects when the link fails.
fn command_thread(
    link: RedisLink,
    node: NodeId,
    url: &str,
    rx: &mpsc::Receiver<ToLink>,
    sender: &ClusterSender,
    watches: &Mutex<Vec<Command>>,
) {
    let mut link = Some(link);
    loop {
        let message = match &link {
            Some(_) => rx.recv().ok(),
            None => match rx.recv_timeout(RECONNECT_EVERY) {
                Ok(message) => Some(message),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(fresh) = RedisLink::connect(url) {
                        link = Some(fresh);
                        if !sender.send(FromLink::Link {
                            reader: false,
                            up: true,
                        }) {
                            return;
                        }
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => None,
            },
        };
        let Some(message) = message else { return };
        match message {
            ToLink::Command(command) => {
                if matches!(command, Command::Watch { .. } | Command::Unwatch { .. }) {
                    lock(watches).push(command);
                    continue;
                }
                let Some(id) = command.id() else { continue };
                let result = match link.as_mut() {
                    None => Err(LinkError),
                    Some(l) => match l.execute(&command) {
                        Ok(Some(outcome)) => Ok(outcome),
                        Ok(None) => continue,
                        Err(ClusterError::Link(e)) => {
                            debug!(error = %e, "Redis command failed");
                            link = None;
                            // The reply first: the node may re-route it;
                            // then the link's state.
                            let reply = Reply {
                                id,
                                result: Err(LinkError),
                            };
                            if !sender.send(FromLink::Reply(reply))
                                || !sender.send(FromLink::Link {
                                    reader: false,
                                    up: false,
                                })
                            {
                                return;
                            }
                            continue;
                        }
                        Err(e) => {
                            warn!(error = %e, "Redis answered a cluster command unexpectedly");
                            Err(LinkError)
                        }
                    },
                };
                if !sender.send(FromLink::Reply(Reply { id, result })) {
                    return;
                }
            }
            ToLink::Reconnect => {
                if link.take().is_some()
                    && !sender.send(FromLink::Link {
                        reader: false,
                        up: false,
                    })
                {
                    return;
                }
            }
            ToLink::Stop(done) => {
                if let Some(l) = link.as_mut()
                    && let Err(e) = l.delete_inbox(node)
                {
                    debug!(error = %e, "could not delete this process's inbox");
                }
                let _ = done.send(());
                return;
            }
        }
    }
}

/// Tails the inbox and the watched update streams; reconnects when the
/// link fails, keeping its positions.
fn reader_thread(
    mut reader: StreamReader,
    url: &str,
    sender: &ClusterSender,
    watches: &Mutex<Vec<Command>>,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::Relaxed) {
        for command in lock(watches).drain(..) {
            reader.apply(&command);
        }
        match reader.read(READ_BLOCK) {
            Ok(deliveries) => {
                for delivery in deliveries {
                    if !sender.send(FromLink::Delivery(delivery)) {
                        return;
                    }
                }
            }
            Err(e) => {
                debug!(error = %e, "reading Redis streams failed");
                if !sender.send(FromLink::Link {
                    reader: true,
                    up: false,
                }) {
                    return;
                }
                loop {
                    thread::sleep(RECONNECT_EVERY);
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    if reader.reconnect(url).is_ok() {
                        break;
                    }
                }
                if !sender.send(FromLink::Link {
                    reader: true,
                    up: true,
                }) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn so_names_round_trip() {
        for (scope, name) in [("app", "chat"), ("app/room/deep", "a/b:c"), ("x", "")] {
            let key = SoKey::new(ScopePath::new(scope).unwrap(), name);
            assert_eq!(so_key(&so_id(&key)), Some(key));
        }
        assert_eq!(so_key(&SoId::new("", "x")), None);
    }
}
