//! What the Redis link reports back: command answers, the SOs' update
//! streams and this process's inbox, applied to the [`Node`].

use super::*;

impl Node {
    pub(super) fn on_reply(&mut self, now_ms: u64, reply: Reply) {
        let Some(kind) = self.inflight.remove(&reply.id) else {
            return;
        };
        match (kind, reply.result) {
            (InFlight::Acquire(so, token), Ok(Outcome::Acquired { term, state, end })) => {
                self.on_acquired(now_ms, &so, token, term, state, end)
            }
            (
                InFlight::Acquire(so, _),
                Ok(Outcome::Held {
                    holder,
                    remaining_ms,
                }),
            ) => self.on_held(now_ms, &so, holder, remaining_ms),
            (InFlight::Acquire(so, _), _) => {
                let retry = now_ms + self.jitter();
                if let Some(st) = self.sos.get_mut(&so) {
                    st.acquiring = false;
                    st.next_attempt = Some(retry);
                }
            }
            (InFlight::Renew(so), Ok(Outcome::Renewed)) => {
                let next = now_ms + self.config.renew_every_ms;
                if let Some(owned) = self.owned_mut(&so) {
                    owned.renewing = false;
                    owned.next_renew = next;
                }
                self.send_publishes(&so);
                self.try_release(&so);
            }
            (InFlight::Renew(so), Ok(_)) => {
                if let Some(owned) = self.owned_mut(&so) {
                    owned.renewing = false;
                    owned.lost = true;
                }
                self.acquire(&so);
            }
            (InFlight::Renew(so), Err(LinkError)) => {
                if let Some(owned) = self.owned_mut(&so) {
                    owned.renewing = false;
                }
            }
            (InFlight::Publish(so, seq), Ok(Outcome::Published | Outcome::AlreadyPublished)) => {
                self.confirm(&so, seq);
            }
            (InFlight::Publish(so, _), Ok(Outcome::Fenced)) => {
                let Some(owned) = self.owned_mut(&so) else {
                    return;
                };
                owned.lost = true;
                owned.unconfirmed.iter_mut().for_each(|u| u.sent = false);
                self.acquire(&so);
            }
            (InFlight::Publish(so, _), _) => {
                // The answer was lost or the order broke: publish again, in
                // order, after a renewal (retries are recognised by Redis).
                let Some(owned) = self.owned_mut(&so) else {
                    return;
                };
                owned.unconfirmed.iter_mut().for_each(|u| u.sent = false);
                owned.next_renew = now_ms;
            }
            (InFlight::Load(so), Ok(Outcome::Loaded { state, end })) => {
                if let Some(st) = self.sos.get_mut(&so) {
                    st.replica.loading = false;
                    self.on_state(&so, state, end);
                }
            }
            (InFlight::Load(so), _) => {
                if let Some(st) = self.sos.get_mut(&so) {
                    st.replica.loading = false;
                }
            }
            (InFlight::Append(Some(seq)), Err(LinkError)) => {
                if let Some(p) = self.pending.get_mut(&seq) {
                    p.sent_to = None;
                    let so = p.so.clone();
                    self.route(&so);
                }
            }
            (InFlight::Append(_) | InFlight::Release, _) => {}
        }
    }

    pub(super) fn on_entry(&mut self, now_ms: u64, entry: StreamEntry) {
        match entry {
            StreamEntry::Released { so } => {
                let at = now_ms + self.jitter();
                if let Some(st) = self.sos.get_mut(&so)
                    && st.owner.is_none()
                    && !st.acquiring
                {
                    st.next_attempt = Some(at);
                }
            }
            StreamEntry::Update(update) => {
                let so = update.so.clone();
                if self.sos.contains_key(&so) {
                    self.replica_update(&so, update);
                }
            }
        }
    }

    pub(super) fn on_inbox(&mut self, now_ms: u64, msg: InboxMsg) {
        match msg {
            InboxMsg::Forward {
                so,
                write,
                oldest,
                payload,
            } => {
                if self.owned_mut(&so).is_some_and(|o| !o.lost) {
                    self.queue_apply(&so, ApplyOp::Write { write, payload }, oldest);
                } else if self.link_up {
                    let msg = InboxMsg::Answer {
                        so,
                        write,
                        answer: WriteAnswer::NotOwner,
                    };
                    self.append(write.node, msg, None);
                }
            }
            InboxMsg::Answer { so, write, answer } => {
                if write.node != self.id {
                    return;
                }
                match answer {
                    WriteAnswer::NoUpdate(answer) => {
                        if let Some(p) = self.pending.remove(&write.seq)
                            && !p.answered
                        {
                            self.event(Event::Answered { so, write, answer });
                        }
                    }
                    // Its update is on the stream or in the stored state:
                    // the state tells for sure.
                    WriteAnswer::Duplicate => {
                        if self.pending.contains_key(&write.seq)
                            && self.sos.get(&so).is_some_and(|st| st.replica.loaded)
                        {
                            self.load(&so);
                        }
                    }
                    WriteAnswer::NotOwner => {
                        let at = now_ms + self.jitter();
                        if let Some(p) = self.pending.get_mut(&write.seq) {
                            p.sent_to = None;
                        }
                        if let Some(st) = self.sos.get_mut(&so)
                            && st.owner.is_none()
                            && !st.acquiring
                        {
                            st.known_owner = None;
                            st.next_attempt = Some(st.next_attempt.map_or(at, |t| t.min(at)));
                        }
                    }
                }
            }
            InboxMsg::Floor { so, version } => self.on_floor(&so, version),
        }
    }
}
