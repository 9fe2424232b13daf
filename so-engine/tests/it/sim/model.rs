//! A client as the simulation models it: the SOs it holds, rebuilt only
//! from what it sent and received.

use std::collections::{BTreeMap, VecDeque};

use rtmp_proto::amf::{Str, Value};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use so_engine::status;

use super::NAMES;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// USE sent, no USE_SUCCESS yet.
    Connecting,
    Open,
}

/// One SO as a client holds it.
pub(super) struct Link {
    pub(super) state: State,
    pub(super) attrs: BTreeMap<Str, Value>,
    pub(super) version: u32,
    /// Values written and not yet answered, per key, oldest first.
    pub(super) pending: BTreeMap<Str, VecDeque<Value>>,
}

impl Link {
    pub(super) fn connecting() -> Self {
        Self {
            state: State::Connecting,
            attrs: BTreeMap::new(),
            version: 0,
            pending: BTreeMap::new(),
        }
    }

    pub(super) fn put(&mut self, key: &Str, value: &Value) {
        if value.is_null_or_undefined() {
            self.attrs.remove(key);
        } else {
            self.attrs.insert(key.clone(), value.clone());
        }
    }

    pub(super) fn answered(&mut self, key: &Str) -> Option<Value> {
        self.pending.get_mut(key)?.pop_front()
    }
}

/// What one client believes, built only from what it sent and received,
/// with the rule the crate docs give for rebuilding an SO: apply events in
/// order; a SUCCESS means the key now holds the value this client wrote
/// (re-applied, since another client's CHANGE may have arrived after the
/// local write); a refused write is a STATUS followed by the key's
/// authoritative value.
#[derive(Default)]
pub(super) struct ClientModel {
    pub(super) scope: Option<&'static str>,
    pub(super) links: BTreeMap<&'static str, Link>,
    /// Messages on their way to the server.
    pub(super) inflight: VecDeque<SharedObjectMessage>,
    pub(super) history: Vec<String>,
}

impl ClientModel {
    pub(super) fn receive(&mut self, m: &SharedObjectMessage) {
        self.history.push(format!("recv {m:?}"));
        let Some(name) = NAMES.iter().find(|n| **n == m.name) else {
            panic!("message for unexpected SO {:?}", m.name);
        };
        let Some(link) = self.links.get_mut(name) else {
            return; // closed locally: ignored, as a real client does
        };
        if link.state == State::Connecting && !m.events.contains(&SoEvent::UseSuccess) {
            // Either the USE is refused, or a write sent before the SO was
            // destroyed finds nothing (ignored: the USE is still coming).
            let [SoEvent::Status { code, .. }] = &m.events[..] else {
                panic!("unexpected before USE_SUCCESS: {m:?}");
            };
            if code != status::NO_OBJECT_FOUND {
                self.links.remove(name);
            }
            return;
        }
        let mut refused = false;
        for event in &m.events {
            let was_refused = std::mem::take(&mut refused);
            match event {
                SoEvent::UseSuccess => {
                    link.state = State::Open;
                    link.version = m.version;
                }
                SoEvent::Clear => link.attrs.clear(),
                SoEvent::Change { key, value } => {
                    if was_refused {
                        link.answered(key);
                    }
                    link.put(key, value);
                }
                SoEvent::Remove { key } => {
                    if was_refused {
                        link.answered(key);
                    }
                    link.attrs.remove(key);
                }
                SoEvent::Success { key } => {
                    let value = link.answered(key).expect("SUCCESS answers a write");
                    link.put(key, &value);
                }
                SoEvent::Status { code, .. } if code == status::OBJECT_DESTROYED => {
                    // A USE still on its way will be answered: wait for it.
                    let using = self
                        .inflight
                        .iter()
                        .any(|i| i.name == *name && i.events.contains(&SoEvent::Use));
                    if using {
                        *link = Link::connecting();
                    } else {
                        self.links.remove(name);
                    }
                    return;
                }
                SoEvent::Status { code, .. } => {
                    refused = code == status::NO_WRITE_ACCESS || code == status::LIMIT_EXCEEDED;
                }
                _ => {}
            }
        }
        if m.version != 0 {
            assert!(
                m.version >= link.version,
                "version went back from {} to {}",
                link.version,
                m.version
            );
            link.version = m.version;
        }
    }
}
