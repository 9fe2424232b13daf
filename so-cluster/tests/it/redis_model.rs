//! A model of the Redis side: leases with TTLs in Redis time, terms, stored
//! states, capped-nowhere streams (the full history, for the invariants)
//! and the scripts' semantics as docs/CLUSTER.md states them. It checks,
//! at every publish, that only the lease holder of a term publishes, that
//! publish sequences are contiguous and that versions only go up.

use std::collections::BTreeMap;

use so_cluster::{
    Command, InboxMsg, NodeId, Outcome, SoId, StoredState, StreamEntry, StreamPos, Token, Update,
    UpdateBody,
};

#[derive(Default)]
pub(crate) struct Redis {
    pub(crate) now: u64,
    leases: BTreeMap<SoId, (Token, u64)>,
    terms: BTreeMap<SoId, u64>,
    /// Who acquired each (SO, term).
    term_holder: BTreeMap<(SoId, u64), Token>,
    pub(crate) states: BTreeMap<SoId, StoredState>,
    pub(crate) streams: BTreeMap<SoId, Vec<StreamEntry>>,
    pub(crate) inboxes: BTreeMap<NodeId, Vec<InboxMsg>>,
    /// Every accepted publish, in order.
    pub(crate) published: BTreeMap<SoId, Vec<Update>>,
    /// Processes interested in each SO, with when they last tried to
    /// acquire it.
    interest: BTreeMap<SoId, BTreeMap<NodeId, u64>>,
}

impl Redis {
    fn lease(&mut self, so: &SoId) -> Option<(Token, u64)> {
        let now = self.now;
        if self.leases.get(so).is_some_and(|(_, exp)| *exp <= now) {
            self.leases.remove(so);
        }
        self.leases.get(so).copied()
    }

    /// The current lease holder (for tests' checks).
    pub(crate) fn holder(&mut self, so: &SoId) -> Option<Token> {
        self.lease(so).map(|(t, _)| t)
    }

    fn end(&self, so: &SoId) -> StreamPos {
        StreamPos {
            ms: 0,
            seq: self.streams.get(so).map_or(0, |s| s.len() as u64),
        }
    }

    /// Run one command; `None` for the link-local ones (Watch, Unwatch).
    pub(crate) fn exec(&mut self, command: &Command) -> Option<Outcome> {
        let now = self.now;
        Some(match command {
            Command::Acquire {
                so,
                token,
                ttl_ms,
                interest_ms,
                ..
            } => {
                let seen = self.interest.entry(so.clone()).or_default();
                seen.insert(token.node, now);
                seen.retain(|_, at| *at + interest_ms > now);
                match self.lease(so) {
                    Some((holder, exp)) => Outcome::Held {
                        holder,
                        remaining_ms: exp - now,
                    },
                    None => {
                        self.leases.insert(so.clone(), (*token, now + ttl_ms));
                        let term = self.terms.entry(so.clone()).or_default();
                        *term += 1;
                        let term = *term;
                        self.term_holder.insert((so.clone(), term), *token);
                        Outcome::Acquired {
                            term,
                            state: self.states.get(so).cloned(),
                            end: self.end(so),
                        }
                    }
                }
            }
            Command::Renew {
                so, token, ttl_ms, ..
            } => match self.lease(so) {
                Some((t, _)) if t == *token => {
                    self.leases.insert(so.clone(), (t, now + ttl_ms));
                    Outcome::Renewed
                }
                _ => Outcome::Lost,
            },
            Command::Release {
                so, token, discard, ..
            } => {
                if self.lease(so).is_some_and(|(t, _)| t == *token) {
                    self.leases.remove(so);
                    let seen = self.interest.entry(so.clone()).or_default();
                    seen.remove(&token.node);
                    let nobody = discard.is_some_and(|window| {
                        seen.retain(|_, at| *at + window > now);
                        seen.is_empty()
                    });
                    if nobody {
                        // A non-persistent SO nobody uses: gone, as on a
                        // single server.
                        self.states.remove(so);
                        self.streams.remove(so);
                        self.published.remove(so);
                        self.interest.remove(so);
                    } else {
                        self.streams
                            .entry(so.clone())
                            .or_default()
                            .push(StreamEntry::Released { so: so.clone() });
                    }
                }
                Outcome::Released
            }
            Command::Publish {
                token,
                update,
                state,
                ..
            } => {
                let so = &update.so;
                if self.lease(so).is_none_or(|(t, _)| t != *token) {
                    return Some(Outcome::Fenced);
                }
                let stored = self.states.get(so).map_or(0, |s| s.seq);
                if update.seq <= stored {
                    return Some(Outcome::AlreadyPublished);
                }
                if update.seq != stored + 1 {
                    return Some(Outcome::OutOfOrder);
                }
                // At most one process publishes per (SO, term): the one that
                // acquired it.
                let holder = self.term_holder.get(&(so.clone(), update.term));
                assert_eq!(
                    holder,
                    Some(token),
                    "publish under a term not acquired by its token"
                );
                assert_eq!(state.seq, update.seq);
                assert_eq!(state.version, update.version);
                if let Some(prev) = self.published.get(so).and_then(|p| p.last()) {
                    match update.body {
                        UpdateBody::Delta(_) => assert_eq!(
                            update.version,
                            prev.version + 1,
                            "a published change must bump the version by one"
                        ),
                        UpdateBody::Reset(_) => assert!(update.version > prev.version),
                    }
                    assert!(update.term >= prev.term, "terms never go back");
                }
                self.states.insert(so.clone(), state.clone());
                self.streams
                    .entry(so.clone())
                    .or_default()
                    .push(StreamEntry::Update(update.clone()));
                self.published
                    .entry(so.clone())
                    .or_default()
                    .push(update.clone());
                Outcome::Published
            }
            Command::Append { to, msg, .. } => {
                self.inboxes.entry(*to).or_default().push(msg.clone());
                Outcome::Appended
            }
            Command::Load { so, .. } => Outcome::Loaded {
                state: self.states.get(so).cloned(),
                end: self.end(so),
            },
            Command::Watch { .. } | Command::Unwatch { .. } => return None,
        })
    }
}
