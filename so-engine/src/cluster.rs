//! Cluster mode's side of the engine: what it needs so that several
//! server processes serve one set of SOs (the ownership protocol is the
//! `so-cluster` crate; the design is the repository's `docs/CLUSTER.md`).
//!
//! With [`EngineConfig::cluster`](crate::EngineConfig::cluster) on, every
//! process keeps each SO its clients use as a **replica**:
//!
//! * a client's writes (REQUEST_CHANGE, REQUEST_REMOVE, SEND_MESSAGE of
//!   an SO it uses) are not applied where the client is: they come out as
//!   [`Output::ClusterWrite`](crate::Output::ClusterWrite) (a
//!   [`ForwardedWrite`]) for the caller to hand to the SO's owner;
//! * on the **owner**, [`Engine::handle_forwarded_write`](crate::Engine::handle_forwarded_write) applies one
//!   through the security hooks, listeners and send handlers, exactly like
//!   a client message of a single server, and returns the
//!   [`WriteOutcome`]: the update to publish (its version, the
//!   [`ReplicaDelta`] and the SO's full state), or the answer for the
//!   writer when nothing changed. Nobody is shown it yet: every
//!   process's subscribers, the owner's included, see an update once it is
//!   published, as [`Input::ReplicaUpdate`](crate::Input::ReplicaUpdate);
//!   [`Input::Owned`](crate::Input::Owned) tells the engine which SOs it
//!   owns, so that their published updates are shown to the clients here
//!   without being applied twice;
//! * an SO created here waits for its state from the cluster
//!   ([`Input::ReplicaReset`](crate::Input::ReplicaReset),
//!   [`Input::ReplicaLoaded`](crate::Input::ReplicaLoaded) or
//!   [`Input::Owned`](crate::Input::Owned)) before its subscribers get their
//!   USE answer, at most
//!   [`EngineConfig::cluster_load_wait_ms`](crate::EngineConfig::cluster_load_wait_ms);
//! * everywhere else, [`Input::ReplicaUpdate`](crate::Input::ReplicaUpdate)
//!   applies a published update (the writer, if connected here, gets its
//!   answer, the others the CHANGE, all at the update's version) and
//!   [`Input::ReplicaReset`](crate::Input::ReplicaReset) replaces the state
//!   (CLEAR and every attribute). Versions never go back: an update or a
//!   state below the replica's version is ignored;
//! * a forwarded write answered without an update reaches its writer with
//!   [`Input::WriteAnswered`](crate::Input::WriteAnswered).
//!
//! Server code's changes to an SO (a [`ServerOp`](crate::ServerOp), or a
//! hook's change) are forwarded the same way, unless they join the update
//! the owner is applying (a listener or send handler reacting to a
//! forwarded write): every change of an SO is made by its owner, so that
//! all processes see the same versions.
//!
//! Listeners, security and send handlers run on the owner only; a
//! forwarded write's hooks see the writer's [`ClientId`], which is not
//! connected to the owner's process (its connect info and attributes are
//! on the writer's process). Connection hooks and an SO listener's
//! subscriber events run where the client is.
//!
//! The records below travel through Redis as bytes: events as a
//! SharedObject message body in AMF3, states as a
//! [`store::format`](crate::store::format) snapshot.

use bytes::{BufMut, Bytes, BytesMut};
use rtmp_proto::amf::{Encoding, Limits};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};

use crate::interface::Snapshot;
use crate::store::format::{SnapshotError, decode_snapshot_with, encode_snapshot};
use crate::types::{ClientId, SoKey};

/// A client's write to an SO, made on one process and applied by the
/// SO's owner (maybe another process).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ForwardedWrite {
    /// The writing client (client ids are unique across the cluster's
    /// processes: the caller numbers them so), or `None` for server code
    /// (a [`ServerOp`](crate::ServerOp) or a hook's change to an SO whose
    /// update is not being applied here: the owner applies it as server
    /// code, without security checks and without SUCCESS).
    pub writer: Option<ClientId>,
    /// The persistence flag of the client's message.
    pub persistent: bool,
    /// REQUEST_CHANGE, REQUEST_REMOVE and SEND_MESSAGE events, in order
    /// (server code's writes also CLEAR): one message, one update.
    pub events: Vec<SoEvent>,
}

/// What one update changed, for the replicas: what its writer gets and
/// what every other subscriber gets.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ReplicaDelta {
    /// The writer's answer (SUCCESS, STATUS and rollbacks, and the changes
    /// hooks made in the same update).
    pub writer_events: Vec<SoEvent>,
    /// The changes (CHANGE, REMOVE, CLEAR, SEND_MESSAGE), for everyone
    /// else, and what a replica applies to its state.
    pub events: Vec<SoEvent>,
}

impl ReplicaDelta {
    /// Whether it changes the SO's state (a send alone does not).
    pub fn changes_state(&self) -> bool {
        self.events.iter().any(|e| {
            matches!(
                e,
                SoEvent::Change { .. } | SoEvent::Remove { .. } | SoEvent::Clear
            )
        })
    }
}

/// What the owner's [`Engine::handle_forwarded_write`](crate::Engine::handle_forwarded_write)
/// (or [`Engine::handle_raise`](crate::Engine::handle_raise)) did.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    /// The SO changed, or a send went out: publish this.
    Update {
        /// The SO's version after it.
        version: u32,
        /// The changes, for the replicas.
        delta: ReplicaDelta,
        /// The SO's full state after it, for the stored state.
        state: Snapshot,
    },
    /// Nothing to publish (refused, or nothing changed): the writer's
    /// answer.
    NoUpdate {
        /// SUCCESS, or STATUS and the authoritative value, and so on.
        answer: Vec<SoEvent>,
    },
}

/// How a forwarded write that published nothing reaches its writer
/// ([`Input::WriteAnswered`](crate::Input::WriteAnswered)).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum WriterAnswer {
    /// The owner's answer ([`WriteOutcome::NoUpdate`]).
    Events(Vec<SoEvent>),
    /// The write was applied, and its outcome reached this process folded
    /// into a full state: SUCCESS for every key it wrote.
    Settled(ForwardedWrite),
    /// The write could not reach the owner (the cluster is unavailable, or
    /// it timed out): STATUS `SharedObject.NoWriteAccess` and the
    /// authoritative value of every key it wrote, like a denied write.
    Refused(ForwardedWrite),
}

/// A cluster record that cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Empty, or the kind byte is not the one expected.
    #[error("not a cluster {0} record")]
    Kind(&'static str),
    /// Shorter than its lengths say.
    #[error("truncated cluster record")]
    Truncated,
    /// The events could not be decoded.
    #[error("cluster record events: {0}")]
    Events(#[from] rtmp_proto::error::DecodeError),
    /// The state could not be decoded.
    #[error("cluster record state: {0}")]
    State(#[from] SnapshotError),
    /// Bytes that the record could not carry (a name or key over 65,535
    /// bytes): the engine's limits keep every real one below.
    #[error("cannot encode a cluster record: {0}")]
    Encode(String),
}

const WRITE: u8 = b'W';
const DELTA: u8 = b'D';
const ANSWER: u8 = b'A';

/// Encodes a [`ForwardedWrite`].
pub fn encode_write(write: &ForwardedWrite) -> Result<Bytes, RecordError> {
    let mut out = BytesMut::new();
    out.put_u8(WRITE);
    match write.writer {
        Some(client) => {
            out.put_u8(1);
            out.put_u64(client.0);
        }
        None => out.put_u8(0),
    }
    put_events(&mut out, write.persistent, 0, &write.events)?;
    Ok(out.freeze())
}

/// Decodes what [`encode_write`] wrote.
pub fn decode_write(bytes: &[u8], limits: &Limits) -> Result<ForwardedWrite, RecordError> {
    let rest = kind(bytes, WRITE, "write")?;
    let (writer, rest) = match rest.split_first() {
        Some((0, rest)) => (None, rest),
        Some((1, rest)) => {
            let (id, rest) = rest
                .split_first_chunk::<8>()
                .ok_or(RecordError::Truncated)?;
            (Some(ClientId(u64::from_be_bytes(*id))), rest)
        }
        Some(_) => return Err(RecordError::Kind("write")),
        None => return Err(RecordError::Truncated),
    };
    let message = SharedObjectMessage::decode(rest, Encoding::Amf3, limits)?;
    Ok(ForwardedWrite {
        writer,
        persistent: message.persistent,
        events: message.events,
    })
}

/// Encodes a [`ReplicaDelta`].
pub fn encode_delta(delta: &ReplicaDelta) -> Result<Bytes, RecordError> {
    let mut first = BytesMut::new();
    put_events(&mut first, false, 0, &delta.writer_events)?;
    let mut out = BytesMut::with_capacity(first.len() + 64);
    out.put_u8(DELTA);
    let len = u32::try_from(first.len()).map_err(|_| RecordError::Encode("delta".into()))?;
    out.put_u32(len);
    out.put_slice(&first);
    put_events(&mut out, false, 0, &delta.events)?;
    Ok(out.freeze())
}

/// Decodes what [`encode_delta`] wrote.
pub fn decode_delta(bytes: &[u8], limits: &Limits) -> Result<ReplicaDelta, RecordError> {
    let rest = kind(bytes, DELTA, "delta")?;
    let (len, rest) = rest
        .split_first_chunk::<4>()
        .ok_or(RecordError::Truncated)?;
    let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| RecordError::Truncated)?;
    if rest.len() < len {
        return Err(RecordError::Truncated);
    }
    let (first, second) = rest.split_at(len);
    Ok(ReplicaDelta {
        writer_events: SharedObjectMessage::decode(first, Encoding::Amf3, limits)?.events,
        events: SharedObjectMessage::decode(second, Encoding::Amf3, limits)?.events,
    })
}

/// Encodes a writer's answer ([`WriteOutcome::NoUpdate`]).
pub fn encode_answer(answer: &[SoEvent]) -> Result<Bytes, RecordError> {
    let mut out = BytesMut::new();
    out.put_u8(ANSWER);
    put_events(&mut out, false, 0, answer)?;
    Ok(out.freeze())
}

/// Decodes what [`encode_answer`] wrote.
pub fn decode_answer(bytes: &[u8], limits: &Limits) -> Result<Vec<SoEvent>, RecordError> {
    let rest = kind(bytes, ANSWER, "answer")?;
    Ok(SharedObjectMessage::decode(rest, Encoding::Amf3, limits)?.events)
}

/// Encodes an SO's full state (a [`store::format`](crate::store::format)
/// snapshot: its checksum guards what Redis keeps).
pub fn encode_state(so: &SoKey, snapshot: &Snapshot) -> Bytes {
    encode_snapshot(so, snapshot).into()
}

/// Decodes what [`encode_state`] wrote.
pub fn decode_state(bytes: &[u8], limits: &Limits) -> Result<Snapshot, RecordError> {
    Ok(decode_snapshot_with(bytes, limits)?.1)
}

fn kind<'a>(bytes: &'a [u8], want: u8, what: &'static str) -> Result<&'a [u8], RecordError> {
    match bytes.split_first() {
        Some((&k, rest)) if k == want => Ok(rest),
        _ => Err(RecordError::Kind(what)),
    }
}

fn put_events(
    out: &mut BytesMut,
    persistent: bool,
    version: u32,
    events: &[SoEvent],
) -> Result<(), RecordError> {
    let message = SharedObjectMessage {
        name: Default::default(),
        version,
        persistent,
        events: events.to_vec(),
    };
    message
        .encode(Encoding::Amf3, out)
        .map_err(|e| RecordError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use rtmp_proto::amf::Value;

    use super::*;
    use crate::types::ScopePath;

    fn limits() -> Limits {
        Limits::default()
    }

    #[test]
    fn records_round_trip() {
        let write = ForwardedWrite {
            writer: Some(ClientId(0xdead_beef_0000_0007)),
            persistent: true,
            events: vec![
                SoEvent::RequestChange {
                    key: "k".into(),
                    value: Value::Integer(7),
                },
                SoEvent::RequestRemove { key: "gone".into() },
                SoEvent::SendMessage {
                    method: "chat.say".into(),
                    args: vec![Value::String("hi".into()), Value::Number(-0.0)],
                },
            ],
        };
        let bytes = encode_write(&write).unwrap();
        assert_eq!(decode_write(&bytes, &limits()).unwrap(), write);
        let server = ForwardedWrite {
            writer: None,
            persistent: false,
            events: vec![SoEvent::Clear],
        };
        let bytes = encode_write(&server).unwrap();
        assert_eq!(decode_write(&bytes, &limits()).unwrap(), server);

        let delta = ReplicaDelta {
            writer_events: vec![SoEvent::Success { key: "k".into() }],
            events: vec![
                SoEvent::Change {
                    key: "k".into(),
                    value: Value::Number(1.5),
                },
                SoEvent::Remove { key: "r".into() },
            ],
        };
        assert!(delta.changes_state());
        let bytes = encode_delta(&delta).unwrap();
        assert_eq!(decode_delta(&bytes, &limits()).unwrap(), delta);

        let answer = vec![SoEvent::Success { key: "same".into() }];
        let bytes = encode_answer(&answer).unwrap();
        assert_eq!(decode_answer(&bytes, &limits()).unwrap(), answer);

        let so = SoKey::new(ScopePath::new("app/room").unwrap(), "chat");
        let snapshot = Snapshot {
            version: 42,
            values: vec![("a".into(), Value::Bool(true))],
        };
        let bytes = encode_state(&so, &snapshot);
        assert_eq!(decode_state(&bytes, &limits()).unwrap(), snapshot);
    }

    #[test]
    fn a_send_alone_changes_no_state() {
        let delta = ReplicaDelta {
            writer_events: vec![],
            events: vec![SoEvent::SendMessage {
                method: "m".into(),
                args: vec![],
            }],
        };
        assert!(!delta.changes_state());
    }

    #[test]
    fn bad_records_are_errors_not_panics() {
        let write = encode_write(&ForwardedWrite {
            writer: Some(ClientId(1)),
            persistent: false,
            events: vec![SoEvent::RequestRemove { key: "k".into() }],
        })
        .unwrap();
        assert_eq!(
            decode_delta(&write, &limits()),
            Err(RecordError::Kind("delta"))
        );
        assert_eq!(
            decode_answer(&[], &limits()),
            Err(RecordError::Kind("answer"))
        );
        assert_eq!(
            decode_write(&[WRITE, 7], &limits()),
            Err(RecordError::Kind("write"))
        );
        for cut in 0..20 {
            assert!(decode_write(&write[..cut], &limits()).is_err(), "cut {cut}");
        }
        assert_eq!(
            decode_delta(&[DELTA, 0, 0, 1, 0, 1], &limits()),
            Err(RecordError::Truncated)
        );
        assert!(decode_state(b"RSO1", &limits()).is_err());
    }
}
