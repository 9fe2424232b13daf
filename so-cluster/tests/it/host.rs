//! What a server does with a [`Node`]'s events, reduced to a model: an
//! authoritative copy per owned SO (its "security" refuses keys starting
//! with `ro.`), a replica per SO that serves the clients here, and the
//! answers every write got. It checks that replica versions never go back
//! and that no write is answered twice.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use so_cluster::{Applied, ApplyOp, Event, Node, Role, SoId, WriteRef};

/// An SO's attributes as the modelled engine keeps them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Model {
    pub(crate) version: u32,
    pub(crate) data: BTreeMap<String, String>,
}

pub(crate) fn encode(data: &BTreeMap<String, String>) -> Bytes {
    let text: Vec<String> = data.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Bytes::from(text.join("\n"))
}

pub(crate) fn decode(bytes: &[u8]) -> BTreeMap<String, String> {
    std::str::from_utf8(bytes)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `key=value` sets, `key=` removes.
pub(crate) fn apply_delta(data: &mut BTreeMap<String, String>, delta: &[u8]) {
    let text = std::str::from_utf8(delta).unwrap();
    if let Some((k, v)) = text.split_once('=') {
        if v.is_empty() {
            data.remove(k);
        } else {
            data.insert(k.to_owned(), v.to_owned());
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// SUCCESS from its update; `degraded_owner`: applied here by an owner
    /// that could not publish.
    Ack {
        degraded_owner: bool,
    },
    /// Processed by the owner, its outcome folded into a state this
    /// process loaded.
    Settled,
    /// The owner's answer without an update.
    Answered,
    Refused,
    /// The process stopped taking part in the SO (its last client left)
    /// before an answer came: nobody waits for one.
    Abandoned,
}

#[derive(Debug, Default)]
pub(crate) struct Host {
    pub(crate) authority: BTreeMap<SoId, Model>,
    pub(crate) replicas: BTreeMap<SoId, Model>,
    /// The writes made here, by sequence.
    pub(crate) writes: BTreeMap<u64, SoId>,
    pub(crate) answers: BTreeMap<u64, Answer>,
    /// Writes this process's authoritative copy found already in place
    /// (applied again after an outage, their value was there).
    pub(crate) in_place: BTreeSet<WriteRef>,
    /// Writes this process's authoritative copy answered without an update
    /// (refused, or nothing to change).
    pub(crate) no_update: BTreeSet<WriteRef>,
}

impl Host {
    /// Carry out one event; a line for the transcript.
    pub(crate) fn on_event(&mut self, node: &mut Node, now: u64, event: Event) -> String {
        let id = node.id();
        match event {
            Event::Rebuild { so, state } => {
                let model = state.map_or_else(Model::default, |s| Model {
                    version: s.version,
                    data: decode(&s.data),
                });
                let line = format!("rebuild {so} v{}", model.version);
                self.authority.insert(so, model);
                line
            }
            Event::Dismiss { so } => {
                self.authority.remove(&so);
                format!("dismiss {so}")
            }
            Event::Apply { so, op } => {
                let auth = self
                    .authority
                    .get_mut(&so)
                    .expect("apply without a rebuild");
                let applied = match &op {
                    ApplyOp::Write { payload, .. } => {
                        let text = std::str::from_utf8(payload).unwrap();
                        let (k, v) = text.split_once('=').unwrap();
                        let current = auth.data.get(k).map(String::as_str).unwrap_or("");
                        if k.starts_with("ro.") {
                            Applied::NoUpdate {
                                answer: Bytes::from_static(b"denied"),
                            }
                        } else if current == v {
                            Applied::NoUpdate {
                                answer: Bytes::from_static(b"same"),
                            }
                        } else {
                            apply_delta(&mut auth.data, payload);
                            auth.version += 1;
                            Applied::Update {
                                version: auth.version,
                                delta: payload.clone(),
                                data: encode(&auth.data),
                            }
                        }
                    }
                    ApplyOp::Raise { version } if auth.version < *version => {
                        auth.version = *version;
                        Applied::Update {
                            version: *version,
                            delta: Bytes::new(),
                            data: encode(&auth.data),
                        }
                    }
                    ApplyOp::Raise { .. } => Applied::NoUpdate {
                        answer: Bytes::new(),
                    },
                };
                if let (ApplyOp::Write { write, .. }, Applied::NoUpdate { answer }) =
                    (&op, &applied)
                {
                    self.no_update.insert(*write);
                    if answer.as_ref() == b"same" {
                        self.in_place.insert(*write);
                    }
                }
                let line = format!("apply {so} {op:?} -> {applied:?}");
                node.handle_applied(now, applied);
                line
            }
            Event::ReplicaUpdate {
                so,
                version,
                delta,
                writer,
            } => {
                let degraded = matches!(node.role(&so), Role::Owner { degraded: true, .. });
                let rep = self.replicas.entry(so.clone()).or_default();
                assert!(
                    version >= rep.version,
                    "{id}: {so} went back from v{} to v{version}",
                    rep.version
                );
                apply_delta(&mut rep.data, &delta);
                rep.version = version;
                if let Some(w) = writer {
                    self.answer(
                        w,
                        Answer::Ack {
                            degraded_owner: degraded,
                        },
                    );
                }
                format!("replica {so} v{version} {writer:?}")
            }
            Event::ReplicaReset { so, version, data } => {
                let rep = self.replicas.entry(so.clone()).or_default();
                assert!(
                    version >= rep.version,
                    "{id}: {so} reset back from v{} to v{version}",
                    rep.version
                );
                *rep = Model {
                    version,
                    data: decode(&data),
                };
                format!("reset {so} v{version}")
            }
            Event::Answered { write, .. } => {
                self.answer(write, Answer::Answered);
                format!("answered #{}", write.seq)
            }
            Event::Settled { write, .. } => {
                self.answer(write, Answer::Settled);
                format!("settled #{}", write.seq)
            }
            Event::Refused { write, reason, .. } => {
                self.answer(write, Answer::Refused);
                format!("refused #{} {reason:?}", write.seq)
            }
            Event::OwnerChanged { so, owner } => format!("owner {so} {owner:?}"),
        }
    }

    fn answer(&mut self, write: WriteRef, answer: Answer) {
        if let Some(first) = self.answers.insert(write.seq, answer)
            && first != Answer::Abandoned
        {
            panic!("{write:?} answered twice: {first:?} then {answer:?}");
        }
    }
}
