//! [`Node`]: one process's side of the ownership protocol.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;

use crate::config::ClusterConfig;
use crate::event::{Applied, ApplyOp, Event, Refusal, Role};
use crate::redis::{Command, CommandId, LinkError, Outcome, Reply};
use crate::types::{
    Dedupe, InboxMsg, NodeId, SoId, StoredState, StreamEntry, Token, Update, UpdateBody,
    WriteAnswer, WriteRef,
};

mod internal;
mod redis_input;

/// One server process's side of the ownership protocol: a state machine
/// with no I/O, no clock and no randomness of its own (time is `now_ms`,
/// milliseconds since a start the caller chose; randomness comes from the
/// seed given to [`Node::new`]).
///
/// Call order: feed what happens with the `handle_*` methods, then drain
/// [`Node::poll_command`] (to the Redis link) and [`Node::poll_event`] (to
/// the engine), and call [`Node::handle_timeout`] at [`Node::poll_timeout`].
/// An [`Event::Apply`] must be answered with [`Node::handle_applied`] before
/// the next event is polled (`poll_event` returns `None` until then).
#[derive(Debug)]
pub struct Node {
    config: ClusterConfig,
    id: NodeId,
    rng: u64,
    link_up: bool,
    next_write: u64,
    next_command: u64,
    next_epoch: u64,
    sos: BTreeMap<SoId, SoState>,
    /// Writes made here, not answered yet, by write sequence.
    pending: BTreeMap<u64, PendingWrite>,
    inflight: BTreeMap<CommandId, InFlight>,
    commands: VecDeque<Command>,
    events: VecDeque<Queued>,
    awaiting: Option<Awaiting>,
}

#[derive(Debug)]
struct PendingWrite {
    so: SoId,
    payload: Bytes,
    /// Where it was forwarded (this process itself: queued for its own
    /// authoritative copy); `None`: to be routed.
    sent_to: Option<NodeId>,
    deadline: u64,
    /// Its writer was answered already (applied here during an outage and
    /// being applied again at the new owner): settle it silently.
    answered: bool,
}

#[derive(Debug)]
enum Queued {
    Event(Event),
    Apply { so: SoId, epoch: u64, op: ApplyOp },
}

#[derive(Debug)]
struct Awaiting {
    so: SoId,
    epoch: u64,
    op: ApplyOp,
}

#[derive(Debug)]
enum InFlight {
    Acquire(SoId, Token),
    Renew(SoId),
    Release,
    Publish(SoId, u64),
    Append(Option<u64>),
    Load(SoId),
}

#[derive(Debug)]
struct SoState {
    interest: bool,
    /// Non-persistent, and its last subscriber here left: released with
    /// [`Command::Release`]'s `discard`.
    discard: bool,
    owner: Option<Owned>,
    /// The lease holder as last seen (followers).
    known_owner: Option<Token>,
    next_attempt: Option<u64>,
    acquiring: bool,
    replica: Replica,
}

#[derive(Debug)]
struct Owned {
    token: Token,
    term: u64,
    /// Changes when the authoritative copy is rebuilt: answers to applies of
    /// an older copy are ignored.
    epoch: u64,
    /// The stored state this ownership started from.
    base_seq: u64,
    base_term: u64,
    /// The terms this ownership published under (a rejoin after an outage
    /// keeps the ownership with a new term).
    terms: Vec<u64>,
    last_seq: u64,
    version: u32,
    /// Writer process → what of its writes was applied, for dedupe.
    applied: BTreeMap<NodeId, Seen>,
    /// Updates not confirmed stored by Redis, in publish order.
    unconfirmed: VecDeque<Unconfirmed>,
    next_renew: u64,
    renewing: bool,
    /// The lease is in doubt (a renewal found it lost, or a publish was
    /// fenced): nothing is published until an acquisition settles it.
    lost: bool,
    releasing: bool,
    /// Applies queued or awaiting an answer.
    applies: usize,
    /// Writes queued for an apply and not applied yet: in `applied` (so
    /// that they are not queued twice) but not in a stored state's dedupe
    /// table (a state published before they are applied must not claim
    /// them, or an owner rebuilt from it would drop them as applied).
    queued: BTreeSet<WriteRef>,
}

/// One writer process's writes an owner applied (see [`Dedupe`]).
#[derive(Debug, Default)]
struct Seen {
    floor: u64,
    seqs: BTreeSet<u64>,
    /// The publish sequence when last used, to forget the stalest writer
    /// first.
    last_used: u64,
}

#[derive(Debug)]
struct Unconfirmed {
    update: Update,
    state: StoredState,
    /// The write's payload, for a write made here (to apply it again if
    /// this ownership ends before it was stored).
    payload: Option<Bytes>,
    sent: bool,
}

#[derive(Debug, Default)]
struct Replica {
    loaded: bool,
    loading: bool,
    seq: u64,
    version: u32,
    /// Clients here saw versions up to this that the cluster never stored
    /// (an owner's outage backlog, lost to another owner): deltas wait for a
    /// full state above it.
    floor: Option<u32>,
    early: BTreeMap<u64, Update>,
}

impl Node {
    /// A process's protocol state, `id` fresh for every start, `seed` for
    /// lease nonces and takeover jitter.
    pub fn new(config: ClusterConfig, id: NodeId, seed: u64) -> Self {
        Self {
            config,
            id,
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            link_up: true,
            next_write: 1,
            next_command: 1,
            next_epoch: 1,
            sos: BTreeMap::new(),
            pending: BTreeMap::new(),
            inflight: BTreeMap::new(),
            commands: VecDeque::new(),
            events: VecDeque::new(),
            awaiting: None,
        }
    }

    /// This process.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Whether the Redis link is up (as last reported).
    pub fn link_up(&self) -> bool {
        self.link_up
    }

    /// Writes made here that wait for an answer.
    pub fn pending_writes(&self) -> usize {
        self.pending.len()
    }

    /// This process's part in `so`.
    pub fn role(&self, so: &SoId) -> Role {
        match self.sos.get(so) {
            None => Role::None,
            Some(SoState { owner: Some(o), .. }) => Role::Owner {
                term: o.term,
                degraded: o.lost || !self.link_up,
            },
            Some(st) => Role::Follower {
                owner: st.known_owner.map(|t| t.node),
            },
        }
    }

    /// The SOs this process holds state for, with their replica's version
    /// (`None` until loaded).
    pub fn replicas(&self) -> impl Iterator<Item = (&SoId, Option<u32>)> {
        self.sos
            .iter()
            .map(|(so, st)| (so, st.replica.loaded.then_some(st.replica.version)))
    }

    /// The first local subscriber of `so` arrived (`true`), or the last one
    /// left (`false`). A process takes part in an SO only while it has
    /// subscribers to it (or, as its owner, until its updates are stored).
    pub fn handle_interest(&mut self, now_ms: u64, so: &SoId, subscribed: bool) {
        if subscribed {
            if let Some(st) = self.sos.get_mut(so) {
                st.interest = true;
                st.discard = false;
                if let Some(owned) = st.owner.as_mut() {
                    owned.releasing = false;
                }
                return;
            }
            self.sos.insert(
                so.clone(),
                SoState {
                    interest: true,
                    discard: false,
                    owner: None,
                    known_owner: None,
                    next_attempt: Some(now_ms),
                    acquiring: false,
                    replica: Replica::default(),
                },
            );
            self.handle_timeout(now_ms);
            return;
        }
        let Some(st) = self.sos.get_mut(so) else {
            return;
        };
        st.interest = false;
        match st.owner.as_mut() {
            Some(owned) => {
                owned.releasing = true;
                self.try_release(so);
            }
            None => {
                // Nobody waits for the answers any more; writes already
                // answered here still go to the owner before it is
                // forgotten.
                self.pending.retain(|_, p| p.so != *so || p.answered);
                self.sweep();
            }
        }
    }

    /// The last local subscriber of the non-persistent `so` left and the
    /// engine destroyed it: as [`Node::handle_interest`] with `false`, and
    /// if this process releases its lease for it, the SO's stored state goes
    /// too unless another process has subscribers to it.
    pub fn handle_gone(&mut self, now_ms: u64, so: &SoId) {
        if let Some(st) = self.sos.get_mut(so) {
            st.discard = true;
        }
        self.handle_interest(now_ms, so, false);
    }

    /// A client here wrote to `so` (one client message, encoded by the
    /// caller). Its answer comes as [`Event::ReplicaUpdate`] (with this
    /// write as `writer`), [`Event::Answered`], [`Event::Settled`] or
    /// [`Event::Refused`]: exactly one of them.
    pub fn handle_write(&mut self, now_ms: u64, so: &SoId, payload: Bytes) -> WriteRef {
        let write = WriteRef {
            node: self.id,
            seq: self.next_write,
        };
        self.next_write += 1;
        let refusal = match self.sos.get(so) {
            None => Some(Refusal::Unavailable),
            Some(_) if self.pending.len() >= self.config.max_pending_writes => {
                Some(Refusal::Overloaded)
            }
            Some(SoState { owner: Some(o), .. })
                if (o.lost || !self.link_up)
                    && o.unconfirmed.len() >= self.config.max_backlog_updates =>
            {
                Some(Refusal::BacklogFull)
            }
            Some(SoState { owner: None, .. }) if !self.link_up => Some(Refusal::Unavailable),
            Some(_) => None,
        };
        if let Some(reason) = refusal {
            self.event(Event::Refused {
                so: so.clone(),
                write,
                reason,
            });
            return write;
        }
        self.pending.insert(
            write.seq,
            PendingWrite {
                so: so.clone(),
                payload,
                sent_to: None,
                deadline: now_ms.saturating_add(self.config.forward_timeout_ms),
                answered: false,
            },
        );
        self.route(so);
        write
    }

    /// The result of the last [`Event::Apply`] polled.
    pub fn handle_applied(&mut self, _now_ms: u64, applied: Applied) {
        let Some(aw) = self.awaiting.take() else {
            return;
        };
        let me = self.id;
        let Some(st) = self.sos.get_mut(&aw.so) else {
            return;
        };
        let Some(owned) = st.owner.as_mut().filter(|o| o.epoch == aw.epoch) else {
            // The copy it was applied to is gone: a write made here is
            // applied again wherever the SO is owned now.
            if let ApplyOp::Write { write, .. } = aw.op {
                self.unsend(write);
                self.route(&aw.so);
            }
            return;
        };
        owned.applies = owned.applies.saturating_sub(1);
        if let ApplyOp::Write { write, .. } = &aw.op {
            owned.queued.remove(write);
        }
        match (aw.op, applied) {
            (ApplyOp::Write { write, .. }, Applied::NoUpdate { answer }) => {
                if write.node == me {
                    if let Some(p) = self.pending.remove(&write.seq)
                        && !p.answered
                    {
                        self.event(Event::Answered {
                            so: aw.so.clone(),
                            write,
                            answer,
                        });
                    }
                } else if self.link_up {
                    let msg = InboxMsg::Answer {
                        so: aw.so.clone(),
                        write,
                        answer: WriteAnswer::NoUpdate(answer),
                    };
                    self.append(write.node, msg, None);
                }
            }
            (ApplyOp::Raise { .. }, Applied::NoUpdate { .. }) => {}
            (
                op,
                Applied::Update {
                    version,
                    delta,
                    data,
                },
            ) => {
                let seq = owned.last_seq + 1;
                owned.last_seq = seq;
                owned.version = version;
                let (write, payload, body) = match op {
                    ApplyOp::Write { write, payload } => {
                        if let Some(e) = owned.applied.get_mut(&write.node) {
                            e.last_used = seq;
                        }
                        let own = (write.node == me).then_some(payload);
                        (Some(write), own, UpdateBody::Delta(delta))
                    }
                    ApplyOp::Raise { .. } => (None, None, UpdateBody::Reset(data.clone())),
                };
                let update = Update {
                    so: aw.so.clone(),
                    seq,
                    version,
                    term: owned.term,
                    write,
                    body,
                };
                let state = StoredState {
                    seq,
                    version,
                    term: owned.term,
                    applied: owned
                        .applied
                        .iter()
                        .map(|(node, s)| Dedupe {
                            node: *node,
                            floor: s.floor,
                            seen: s
                                .seqs
                                .iter()
                                .copied()
                                .filter(|&seq| {
                                    !owned.queued.contains(&WriteRef { node: *node, seq })
                                })
                                .collect(),
                        })
                        .collect(),
                    data,
                };
                owned.unconfirmed.push_back(Unconfirmed {
                    update: update.clone(),
                    state,
                    payload,
                    sent: false,
                });
                if self.link_up && !owned.lost {
                    self.send_publishes(&aw.so);
                } else {
                    // Redis is out of reach: this process's clients are
                    // served from the backlog until it can publish.
                    self.replica_update(&aw.so, update);
                }
            }
        }
        self.try_release(&aw.so);
    }

    /// The Redis link's answer to a command.
    pub fn handle_reply(&mut self, now_ms: u64, reply: Reply) {
        self.on_reply(now_ms, reply);
        self.sweep();
    }

    /// An entry of a watched SO's update stream.
    pub fn handle_entry(&mut self, now_ms: u64, entry: StreamEntry) {
        self.on_entry(now_ms, entry);
        self.sweep();
    }

    /// An entry of this process's inbox stream.
    pub fn handle_inbox(&mut self, now_ms: u64, msg: InboxMsg) {
        self.on_inbox(now_ms, msg);
        self.sweep();
    }

    /// The Redis link went down (`false`) or came back (`true`). Commands
    /// in flight when it went down get no answer any more: the protocol
    /// treats them as maybe done.
    pub fn handle_link(&mut self, now_ms: u64, up: bool) {
        if up == self.link_up {
            return;
        }
        self.link_up = up;
        if !up {
            self.inflight.clear();
            let sos: Vec<SoId> = self.sos.keys().cloned().collect();
            for so in &sos {
                let Some(st) = self.sos.get_mut(so) else {
                    continue;
                };
                st.acquiring = false;
                st.replica.loading = false;
                if let Some(owned) = st.owner.as_mut() {
                    // The lease is in doubt until an acquisition settles it.
                    owned.lost = true;
                    owned.renewing = false;
                    owned.unconfirmed.iter_mut().for_each(|u| u.sent = false);
                    let backlog: Vec<Update> =
                        owned.unconfirmed.iter().map(|u| u.update.clone()).collect();
                    for update in backlog {
                        self.replica_update(so, update);
                    }
                }
            }
            // Writes not forwarded yet cannot be: refuse them now (those
            // already answered here wait for Redis: they must reach the
            // owner).
            let unsent: Vec<u64> = self
                .pending
                .iter()
                .filter(|(_, p)| p.sent_to.is_none() && !p.answered && !self.is_owner(&p.so))
                .map(|(s, _)| *s)
                .collect();
            self.refuse(unsent, Refusal::Unavailable);
            return;
        }
        // Back: owners renew at once; followers leave the previous owners a
        // lease time to claim their SOs back before trying to take over.
        let wait = self.config.lease_ttl_ms;
        let sos: Vec<SoId> = self.sos.keys().cloned().collect();
        for so in &sos {
            let jitter = self.jitter();
            let Some(st) = self.sos.get_mut(so) else {
                continue;
            };
            match st.owner {
                Some(_) => self.acquire(so),
                None => st.next_attempt = Some(now_ms + wait + jitter),
            }
        }
        // Forwards whose append may not have happened are sent again
        // (the owner drops duplicates).
        let me = self.id;
        for p in self.pending.values_mut() {
            if p.sent_to.is_some_and(|n| n != me) {
                p.sent_to = None;
            }
        }
        for so in &sos {
            self.route(so);
        }
        self.handle_timeout(now_ms);
    }

    /// Time passed: refuse writes past their deadline, renew leases, try
    /// takeovers, reload replicas.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now_ms)
            .map(|(s, _)| *s)
            .collect();
        self.refuse(expired, Refusal::Timeout);
        self.sweep();
        if !self.link_up {
            return;
        }
        let sos: Vec<SoId> = self.sos.keys().cloned().collect();
        for so in &sos {
            let Some(st) = self.sos.get_mut(so) else {
                continue;
            };
            match st.owner.as_mut() {
                Some(owned) => {
                    if !owned.lost && !owned.renewing && now_ms >= owned.next_renew {
                        owned.renewing = true;
                        let (token, ttl_ms) = (owned.token, self.config.lease_ttl_ms);
                        let id = self.command_id(InFlight::Renew(so.clone()));
                        self.commands.push_back(Command::Renew {
                            id,
                            so: so.clone(),
                            token,
                            ttl_ms,
                        });
                    }
                }
                None => {
                    let needed = st.interest || self.has_pending(so);
                    let Some(st) = self.sos.get_mut(so) else {
                        continue;
                    };
                    if needed && !st.acquiring && st.next_attempt.is_some_and(|t| now_ms >= t) {
                        self.acquire(so);
                    } else if !st.replica.loaded && !st.replica.loading && !st.acquiring {
                        self.load(so);
                    }
                }
            }
        }
    }

    /// A clean stop: release every lease held (followers take over at
    /// once) and drop every authoritative copy.
    pub fn handle_stop(&mut self, _now_ms: u64) {
        let interest_ms = self.interest_ms();
        let sos: Vec<SoId> = self.sos.keys().cloned().collect();
        for so in sos {
            let Some(st) = self.sos.get_mut(&so) else {
                continue;
            };
            // A non-persistent SO whose last subscriber here left goes as
            // it would have without the stop (unless another process has
            // subscribers): the release that would have discarded it may
            // still have been waiting for its last update to be stored.
            let discard = st.discard.then_some(interest_ms);
            if let Some(owned) = st.owner.take() {
                if self.link_up && !owned.lost {
                    let id = self.command_id(InFlight::Release);
                    self.commands.push_back(Command::Release {
                        id,
                        so: so.clone(),
                        token: owned.token,
                        discard,
                    });
                }
                self.event(Event::Dismiss { so: so.clone() });
            }
            self.forget(&so);
        }
    }

    /// The next command for the Redis link.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// The next event for the caller; `None` while an [`Event::Apply`]
    /// waits for its [`Node::handle_applied`].
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.awaiting.is_some() {
            return None;
        }
        while let Some(queued) = self.events.pop_front() {
            match queued {
                Queued::Event(event) => return Some(event),
                Queued::Apply { so, epoch, op } => {
                    let current = self
                        .sos
                        .get(&so)
                        .and_then(|st| st.owner.as_ref())
                        .is_some_and(|o| o.epoch == epoch);
                    if current {
                        self.awaiting = Some(Awaiting {
                            so: so.clone(),
                            epoch,
                            op: op.clone(),
                        });
                        return Some(Event::Apply { so, op });
                    }
                    if let ApplyOp::Write { write, .. } = op {
                        self.unsend(write);
                        self.route(&so);
                    }
                }
            }
        }
        None
    }

    /// When [`Node::handle_timeout`] is next due, if anything waits.
    pub fn poll_timeout(&self) -> Option<u64> {
        let mut next = self.pending.values().map(|p| p.deadline).min();
        let mut at = |t: u64| next = Some(next.map_or(t, |n| n.min(t)));
        if self.link_up {
            for st in self.sos.values() {
                match &st.owner {
                    Some(o) if !o.lost && !o.renewing => at(o.next_renew),
                    Some(_) => {}
                    None if !st.acquiring => {
                        if let Some(t) = st.next_attempt {
                            at(t);
                        }
                    }
                    None => {}
                }
            }
        }
        next
    }
}
