//! The [`Node`]'s inner steps: routing writes, ownership changes,
//! publishing, and the replica.

use super::{InFlight, Node, Owned, PendingWrite, Queued, Seen};
use crate::config::INTEREST_LEASES;
use crate::event::{ApplyOp, Event, Refusal};
use crate::redis::{Command, CommandId, StreamPos};
use crate::types::{
    InboxMsg, NodeId, SoId, StoredState, Token, Update, UpdateBody, WriteAnswer, WriteRef,
};

impl Node {
    pub(super) fn event(&mut self, event: Event) {
        self.events.push_back(Queued::Event(event));
    }

    pub(super) fn jitter(&mut self) -> u64 {
        self.random() % (self.config.takeover_jitter_ms + 1)
    }

    fn random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(super) fn command_id(&mut self, kind: InFlight) -> CommandId {
        let id = CommandId(self.next_command);
        self.next_command += 1;
        self.inflight.insert(id, kind);
        id
    }

    pub(super) fn owned_mut(&mut self, so: &SoId) -> Option<&mut Owned> {
        self.sos.get_mut(so).and_then(|st| st.owner.as_mut())
    }

    pub(super) fn is_owner(&self, so: &SoId) -> bool {
        self.sos.get(so).is_some_and(|st| st.owner.is_some())
    }

    /// A write made here must be routed again.
    pub(super) fn unsend(&mut self, write: WriteRef) {
        if write.node == self.id
            && let Some(p) = self.pending.get_mut(&write.seq)
        {
            p.sent_to = None;
        }
    }

    pub(super) fn append(&mut self, to: NodeId, msg: InboxMsg, write: Option<u64>) {
        let id = self.command_id(InFlight::Append(write));
        self.commands.push_back(Command::Append { id, to, msg });
    }

    /// Send the writes made here for `so` that are not on their way: to
    /// this process's authoritative copy if it owns the SO, to the owner's
    /// inbox if one is known, else keep them until one is.
    pub(super) fn route(&mut self, so: &SoId) {
        let me = self.id;
        let Some(st) = self.sos.get(so) else {
            return;
        };
        // An owner whose lease is in doubt still applies its own clients'
        // writes (served here, published once the lease is settled).
        let target = match (&st.owner, st.known_owner) {
            (Some(_), _) => me,
            (None, Some(t)) if self.link_up && t.node != me => t.node,
            _ => return,
        };
        let unsent: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.sent_to.is_none() && p.so == *so)
            .map(|(s, _)| *s)
            .collect();
        let oldest = self
            .pending
            .iter()
            .find(|(_, p)| p.so == *so)
            .map_or(0, |(s, _)| *s);
        for seq in unsent {
            let Some(p) = self.pending.get_mut(&seq) else {
                continue;
            };
            p.sent_to = Some(target);
            let write = WriteRef { node: me, seq };
            let payload = p.payload.clone();
            if target == me {
                self.queue_apply(so, ApplyOp::Write { write, payload }, oldest);
            } else {
                let msg = InboxMsg::Forward {
                    so: so.clone(),
                    write,
                    oldest,
                    payload,
                };
                self.append(target, msg, Some(seq));
            }
        }
    }

    /// Queue an apply on the owned SO's authoritative copy; a write already
    /// applied (a re-sent or duplicated forward) is answered as a duplicate
    /// instead. `oldest`: the writer's oldest write still waiting.
    pub(super) fn queue_apply(&mut self, so: &SoId, op: ApplyOp, oldest: u64) {
        let max_origins = self.config.max_dedupe_origins;
        let window = self.config.max_dedupe_window;
        let Some(owned) = self.owned_mut(so) else {
            return;
        };
        if let ApplyOp::Write { write, .. } = &op {
            let write = *write;
            let done = owned
                .applied
                .get(&write.node)
                .is_some_and(|e| write.seq < e.floor || e.seqs.contains(&write.seq));
            if done {
                if write.node != self.id && self.link_up {
                    let msg = InboxMsg::Answer {
                        so: so.clone(),
                        write,
                        answer: WriteAnswer::Duplicate,
                    };
                    self.append(write.node, msg, None);
                }
                return;
            }
            let last = owned.last_seq;
            let e = owned
                .applied
                .entry(write.node)
                .or_insert_with(Seen::default);
            e.seqs.insert(write.seq);
            e.last_used = last;
            if oldest > e.floor {
                e.floor = oldest;
                e.seqs = e.seqs.split_off(&oldest);
            }
            while e.seqs.len() > window {
                if let Some(first) = e.seqs.pop_first() {
                    e.floor = e.floor.max(first + 1);
                }
            }
            if owned.applied.len() > max_origins
                && let Some(stalest) = owned
                    .applied
                    .iter()
                    .filter(|(n, _)| **n != write.node)
                    .min_by_key(|(_, e)| e.last_used)
                    .map(|(n, _)| *n)
            {
                owned.applied.remove(&stalest);
            }
        }
        owned.applies += 1;
        if let ApplyOp::Write { write, .. } = &op {
            owned.queued.insert(*write);
        }
        let epoch = owned.epoch;
        self.events.push_back(Queued::Apply {
            so: so.clone(),
            epoch,
            op,
        });
    }

    /// Publish the owned SO's updates not on their way yet, in order.
    pub(super) fn send_publishes(&mut self, so: &SoId) {
        if !self.link_up {
            return;
        }
        let Some(owned) = self.owned_mut(so).filter(|o| !o.lost) else {
            return;
        };
        let (token, term) = (owned.token, owned.term);
        let mut out = Vec::new();
        for u in owned.unconfirmed.iter_mut().filter(|u| !u.sent) {
            u.sent = true;
            u.update.term = term;
            u.state.term = term;
            out.push((u.update.clone(), u.state.clone()));
        }
        for (update, state) in out {
            let id = self.command_id(InFlight::Publish(so.clone(), update.seq));
            self.commands.push_back(Command::Publish {
                id,
                token,
                update,
                state,
            });
        }
    }

    /// Redis stored the owned SO's updates up to `seq`: serve them here.
    pub(super) fn confirm(&mut self, so: &SoId, seq: u64) {
        let mut done = Vec::new();
        if let Some(owned) = self.owned_mut(so) {
            while owned
                .unconfirmed
                .front()
                .is_some_and(|u| u.update.seq <= seq)
            {
                if let Some(u) = owned.unconfirmed.pop_front() {
                    done.push(u.update);
                }
            }
            if owned.unconfirmed.is_empty() {
                owned.base_seq = owned.last_seq;
                owned.base_term = owned.term;
                owned.terms = vec![owned.term];
            }
        }
        for update in done {
            self.replica_update(so, update);
        }
        self.try_release(so);
    }

    /// Release the lease of an owned SO nobody here uses any more, once
    /// its updates are stored.
    pub(super) fn try_release(&mut self, so: &SoId) {
        let link_up = self.link_up;
        let interest_ms = self.interest_ms();
        let Some(st) = self.sos.get_mut(so) else {
            return;
        };
        let ready = st.owner.as_ref().is_some_and(|o| {
            o.releasing && link_up && !o.lost && o.unconfirmed.is_empty() && o.applies == 0
        });
        let awaited = self.awaiting.as_ref().is_some_and(|a| a.so == *so);
        if !ready || awaited {
            return;
        }
        let Some(owned) = st.owner.take() else {
            return;
        };
        let discard = st.discard.then_some(interest_ms);
        let id = self.command_id(InFlight::Release);
        self.commands.push_back(Command::Release {
            id,
            so: so.clone(),
            token: owned.token,
            discard,
        });
        self.event(Event::Dismiss { so: so.clone() });
        self.forget(so);
    }

    /// Forget the SOs nobody here uses any more once the writes made here
    /// for them are settled (writes an owner applied during an outage must
    /// reach the new owner even after their clients left).
    pub(super) fn sweep(&mut self) {
        let idle: Vec<SoId> = self
            .sos
            .iter()
            .filter(|(so, st)| !st.interest && st.owner.is_none() && !self.has_pending(so))
            .map(|(so, _)| so.clone())
            .collect();
        for so in idle {
            self.forget(&so);
        }
    }

    /// Whether writes made here for `so` wait for an answer.
    pub(super) fn has_pending(&self, so: &SoId) -> bool {
        self.pending.values().any(|p| p.so == *so)
    }

    /// Drop everything about `so` (nobody here uses it).
    pub(super) fn forget(&mut self, so: &SoId) {
        if self.sos.remove(so).is_some() {
            self.commands.push_back(Command::Unwatch { so: so.clone() });
        }
        self.pending.retain(|_, p| p.so != *so);
    }

    pub(super) fn acquire(&mut self, so: &SoId) {
        if !self.link_up {
            return;
        }
        let nonce = self.random();
        let token = Token {
            node: self.id,
            nonce,
        };
        let ttl_ms = self.config.lease_ttl_ms;
        let Some(st) = self.sos.get_mut(so) else {
            return;
        };
        if st.acquiring {
            return;
        }
        st.acquiring = true;
        st.next_attempt = None;
        let id = self.command_id(InFlight::Acquire(so.clone(), token));
        self.commands.push_back(Command::Acquire {
            id,
            so: so.clone(),
            token,
            ttl_ms,
            interest_ms: self.interest_ms(),
        });
    }

    /// How long a process's interest in an SO lasts in Redis.
    pub(super) fn interest_ms(&self) -> u64 {
        self.config.lease_ttl_ms.saturating_mul(INTEREST_LEASES)
    }

    pub(super) fn load(&mut self, so: &SoId) {
        if !self.link_up {
            return;
        }
        let Some(st) = self.sos.get_mut(so) else {
            return;
        };
        if st.replica.loading {
            return;
        }
        st.replica.loading = true;
        let id = self.command_id(InFlight::Load(so.clone()));
        self.commands
            .push_back(Command::Load { id, so: so.clone() });
    }

    pub(super) fn on_acquired(
        &mut self,
        now_ms: u64,
        so: &SoId,
        token: Token,
        term: u64,
        state: Option<StoredState>,
        end: StreamPos,
    ) {
        let renew_every = self.config.renew_every_ms;
        let Some(st) = self.sos.get_mut(so) else {
            // Nobody here needs it any more.
            let id = self.command_id(InFlight::Release);
            self.commands.push_back(Command::Release {
                id,
                so: so.clone(),
                token,
                discard: None,
            });
            return;
        };
        st.acquiring = false;
        let Some(owned) = st.owner.as_mut() else {
            self.become_owner(now_ms, so, token, term, state, end);
            return;
        };
        // A rejoin after the lease was in doubt: the ownership goes on if
        // nobody published since this process last did.
        let (seq, stored_term) = state.as_ref().map_or((0, 0), |s| (s.seq, s.term));
        let ours = seq >= owned.base_seq
            && seq <= owned.last_seq
            && ((seq == owned.base_seq && stored_term == owned.base_term)
                || owned.terms.contains(&stored_term));
        if ours {
            owned.token = token;
            owned.term = term;
            owned.terms.push(term);
            owned.lost = false;
            owned.renewing = false;
            owned.next_renew = now_ms + renew_every;
            owned.unconfirmed.iter_mut().for_each(|u| u.sent = false);
            self.confirm(so, seq);
            self.send_publishes(so);
            self.route(so);
            self.try_release(so);
            return;
        }
        // Someone else published meanwhile: this process's unstored
        // updates are void; its own writes among them are applied again on
        // the stored state, above the versions its clients saw.
        self.end_ownership(now_ms, so);
        self.become_owner(now_ms, so, token, term, state, end);
    }

    fn become_owner(
        &mut self,
        now_ms: u64,
        so: &SoId,
        token: Token,
        term: u64,
        state: Option<StoredState>,
        end: StreamPos,
    ) {
        let epoch = self.next_epoch;
        self.next_epoch += 1;
        let me = self.id;
        let renew_every = self.config.renew_every_ms;
        let base = state.clone().unwrap_or_default();
        let Some(st) = self.sos.get_mut(so) else {
            return;
        };
        st.owner = Some(Owned {
            token,
            term,
            epoch,
            base_seq: base.seq,
            base_term: base.term,
            terms: vec![term],
            last_seq: base.seq,
            version: base.version,
            applied: base
                .applied
                .iter()
                .map(|d| {
                    let seen = Seen {
                        floor: d.floor,
                        seqs: d.seen.iter().copied().collect(),
                        last_used: base.seq,
                    };
                    (d.node, seen)
                })
                .collect(),
            unconfirmed: Default::default(),
            next_renew: now_ms + renew_every,
            renewing: false,
            lost: false,
            releasing: !st.interest,
            applies: 0,
            queued: Default::default(),
        });
        let changed = st.known_owner.is_none_or(|t| t.node != me);
        st.known_owner = Some(token);
        st.next_attempt = None;
        self.event(Event::Rebuild {
            so: so.clone(),
            state: state.clone(),
        });
        if changed {
            self.event(Event::OwnerChanged {
                so: so.clone(),
                owner: Some(me),
            });
        }
        self.on_state(so, state, end);
        for p in self.pending.values_mut().filter(|p| p.so == *so) {
            p.sent_to = None;
        }
        let floor = self.sos.get(so).and_then(|st| st.replica.floor);
        if let Some(version) = floor {
            self.on_floor(so, version);
        }
        self.route(so);
        self.try_release(so);
    }

    /// Stop owning `so` with updates maybe not stored: drop the
    /// authoritative copy, keep this process's own writes to apply them
    /// again, and remember the versions its clients saw.
    fn end_ownership(&mut self, _now_ms: u64, so: &SoId) {
        let me = self.id;
        let Some(st) = self.sos.get_mut(so) else {
            return;
        };
        let Some(owned) = st.owner.take() else {
            return;
        };
        let replica = &mut st.replica;
        let mut again = Vec::new();
        for u in &owned.unconfirmed {
            if let (Some(write), Some(payload)) = (u.update.write, &u.payload)
                && write.node == me
            {
                again.push((write.seq, payload.clone(), u.update.seq <= replica.seq));
            }
        }
        if let Some(first) = owned.unconfirmed.front().map(|u| u.update.seq)
            && first <= replica.seq
        {
            // What the clients here saw past the stored state is void: the
            // replica follows the stored sequence again, and shows nothing
            // until a state above their versions.
            replica.floor = Some(replica.floor.unwrap_or(0).max(replica.version));
            replica.seq = first - 1;
            replica.early.clear();
        }
        self.event(Event::Dismiss { so: so.clone() });
        // Writes whose clients got their answer here already are applied
        // again without a second answer (and without a deadline).
        for (seq, payload, answered) in again {
            match self.pending.get_mut(&seq) {
                Some(p) => p.sent_to = None,
                None if answered => {
                    self.pending.insert(
                        seq,
                        PendingWrite {
                            so: so.clone(),
                            payload,
                            sent_to: None,
                            deadline: u64::MAX,
                            answered: true,
                        },
                    );
                }
                None => {}
            }
        }
        for p in self.pending.values_mut().filter(|p| p.so == *so) {
            if p.sent_to == Some(me) {
                p.sent_to = None;
            }
        }
    }

    pub(super) fn on_held(&mut self, now_ms: u64, so: &SoId, holder: Token, remaining_ms: u64) {
        let me = self.id;
        let jitter = self.jitter();
        let Some(st) = self.sos.get_mut(so) else {
            return;
        };
        st.acquiring = false;
        st.next_attempt = Some(now_ms + remaining_ms + jitter);
        if let Some(owned) = st.owner.as_mut()
            && owned.token == holder
        {
            // The lease stayed ours all along: nobody else published.
            owned.lost = false;
            owned.next_renew = now_ms;
            owned.unconfirmed.iter_mut().for_each(|u| u.sent = false);
            self.send_publishes(so);
            self.route(so);
            self.try_release(so);
            return;
        }
        if st.owner.is_some() {
            self.end_ownership(now_ms, so);
            if let Some(st) = self.sos.get_mut(so) {
                // Reload: what this process served may not be what was
                // stored.
                st.replica.loaded = false;
            }
        }
        let Some(st) = self.sos.get_mut(so) else {
            return;
        };
        let owner = (holder.node != me).then_some(holder);
        if st.known_owner != owner {
            st.known_owner = owner;
            let floor = st.replica.floor;
            self.event(Event::OwnerChanged {
                so: so.clone(),
                owner: owner.map(|t| t.node),
            });
            for p in self.pending.values_mut().filter(|p| p.so == *so) {
                p.sent_to = None;
            }
            if let (Some(version), Some(t)) = (floor, owner) {
                self.append(
                    t.node,
                    InboxMsg::Floor {
                        so: so.clone(),
                        version,
                    },
                    None,
                );
            }
        }
        if self
            .sos
            .get(so)
            .is_some_and(|st| !st.replica.loaded && !st.replica.loading)
        {
            self.load(so);
        }
        self.route(so);
    }

    /// A former owner's clients saw versions up to `version`: if this
    /// owner is not above it, raise the SO's version past it.
    pub(super) fn on_floor(&mut self, so: &SoId, version: u32) {
        let Some(owned) = self.owned_mut(so) else {
            return;
        };
        if owned.version <= version {
            // Counted as the target now, so that a repeated floor does not
            // queue a second raise.
            owned.version = version.saturating_add(1);
            let op = ApplyOp::Raise {
                version: version.saturating_add(1),
            };
            self.queue_apply(so, op, 0);
        }
    }

    /// The stored state (and the stream's end when it was read) arrived:
    /// start or resync the replica from it.
    pub(super) fn on_state(&mut self, so: &SoId, state: Option<StoredState>, end: StreamPos) {
        let me = self.id;
        let state = state.unwrap_or_default();
        let Some(st) = self.sos.get_mut(so) else {
            return;
        };
        let rep = &mut st.replica;
        let mut reset = None;
        if !rep.loaded || state.seq > rep.seq {
            let above_floor = rep.floor.is_none_or(|f| state.version > f);
            if above_floor && (!rep.loaded || state.version >= rep.version) {
                reset = Some((state.version, state.data.clone()));
                rep.version = state.version;
                rep.floor = None;
            } else {
                rep.floor = Some(rep.floor.unwrap_or(0).max(rep.version));
            }
            rep.seq = state.seq;
        }
        rep.loaded = true;
        self.commands.push_back(Command::Watch {
            so: so.clone(),
            after: end,
        });
        if let Some((version, data)) = reset {
            self.event(Event::ReplicaReset {
                so: so.clone(),
                version,
                data,
            });
        }
        let folded: Vec<u64> = self
            .pending
            .iter()
            .filter(|(seq, p)| {
                p.so == *so
                    && state.has_applied(WriteRef {
                        node: me,
                        seq: **seq,
                    })
            })
            .map(|(s, _)| *s)
            .collect();
        for seq in folded {
            self.settle(so, seq);
        }
        self.drain_early(so);
    }

    /// Refuse these writes made here (those answered already go silently).
    pub(super) fn refuse(&mut self, seqs: Vec<u64>, reason: Refusal) {
        for seq in seqs {
            if let Some(p) = self.pending.remove(&seq)
                && !p.answered
            {
                let write = WriteRef { node: self.id, seq };
                self.event(Event::Refused {
                    so: p.so,
                    write,
                    reason,
                });
            }
        }
    }

    /// A write made here reached this process folded into a state.
    fn settle(&mut self, so: &SoId, seq: u64) {
        if let Some(p) = self.pending.remove(&seq)
            && !p.answered
        {
            self.event(Event::Settled {
                so: so.clone(),
                write: WriteRef { node: self.id, seq },
            });
        }
    }

    /// A published update (from the stream, or confirmed to its owner):
    /// apply it in publish order, ignoring what was seen, buffering what
    /// came early and reloading the state on a gap.
    pub(super) fn replica_update(&mut self, so: &SoId, update: Update) {
        let max_early = self.config.max_early_updates;
        let Some(st) = self.sos.get_mut(so) else {
            return;
        };
        let rep = &mut st.replica;
        if !rep.loaded || update.seq > rep.seq + 1 {
            if update.seq > rep.seq && rep.early.len() < max_early {
                rep.early.insert(update.seq, update);
            }
            if rep.loaded && !rep.loading {
                self.load(so);
            }
            return;
        }
        if update.seq <= rep.seq {
            return;
        }
        self.apply_replica(so, update);
        self.drain_early(so);
    }

    fn drain_early(&mut self, so: &SoId) {
        loop {
            let Some(st) = self.sos.get_mut(so) else {
                return;
            };
            let rep = &mut st.replica;
            let stale: Vec<u64> = rep.early.range(..=rep.seq).map(|(s, _)| *s).collect();
            for s in stale {
                rep.early.remove(&s);
            }
            let Some(next) = rep.early.remove(&(rep.seq + 1)) else {
                return;
            };
            self.apply_replica(so, next);
        }
    }

    fn apply_replica(&mut self, so: &SoId, update: Update) {
        let me = self.id;
        let writer = update
            .write
            .filter(|w| w.node == me)
            .and_then(|w| self.pending.remove(&w.seq).map(|p| (w, p.answered)));
        let Some(st) = self.sos.get_mut(so) else {
            return;
        };
        let rep = &mut st.replica;
        rep.seq = update.seq;
        let shown = match &update.body {
            UpdateBody::Delta(_) => rep.floor.is_none() && update.version >= rep.version,
            UpdateBody::Reset(_) => {
                rep.floor.is_none_or(|f| update.version > f) && update.version >= rep.version
            }
        };
        if !shown {
            // The cluster went past what the clients here saw: a state
            // above it resets them.
            let reload = rep.floor.is_some_and(|f| update.version > f) && !rep.loading;
            if let Some((write, false)) = writer {
                self.event(Event::Settled {
                    so: so.clone(),
                    write,
                });
            }
            if reload {
                self.load(so);
            }
            return;
        }
        rep.version = update.version;
        match update.body {
            UpdateBody::Delta(delta) => {
                let writer = writer.filter(|(_, answered)| !answered).map(|(w, _)| w);
                self.event(Event::ReplicaUpdate {
                    so: so.clone(),
                    version: update.version,
                    delta,
                    writer,
                });
            }
            UpdateBody::Reset(data) => {
                rep.floor = None;
                self.event(Event::ReplicaReset {
                    so: so.clone(),
                    version: update.version,
                    data,
                });
                if let Some((write, false)) = writer {
                    self.event(Event::Settled {
                        so: so.clone(),
                        write,
                    });
                }
            }
        }
    }
}
