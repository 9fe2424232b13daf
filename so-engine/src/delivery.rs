//! Turning one update into outputs: the message is encoded once per
//! encoding, and each encoding's body goes out once, with its list of
//! recipients ([`Recipients`]) and, when it is exactly one CHANGE, its
//! [`ChangeKey`].

use std::iter::FusedIterator;

use bytes::{Bytes, BytesMut};
use rtmp_proto::amf::Encoding;
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};

use crate::interface::Output;
use crate::types::ClientId;

/// An encoded SharedObject message body (type 19 for AMF0, type 16 for
/// AMF3, without the chunk header), shared by all its recipients.
pub type Body = Bytes;

/// The clients one [`Output::SharedObject`] goes to, each once.
///
/// The engine never emits an empty list, and lists recipients in a
/// deterministic order (the same inputs give the same order). A single
/// recipient, the common case of a reply to one client, is held without
/// allocating. Iterate it by value (`for client in recipients`) or by
/// reference ([`Recipients::iter`]), or read it as a slice.
#[derive(Clone)]
pub struct Recipients(Repr);

#[derive(Clone)]
enum Repr {
    One(ClientId),
    Many(Vec<ClientId>),
}

impl Recipients {
    /// The recipients as a slice, in order.
    pub fn as_slice(&self) -> &[ClientId] {
        match &self.0 {
            Repr::One(client) => std::slice::from_ref(client),
            Repr::Many(clients) => clients,
        }
    }

    /// Iterates over the recipients, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, ClientId> {
        self.as_slice().iter()
    }

    /// How many recipients there are.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether there are none (never so for the engine's outputs).
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// Whether `client` is one of them.
    pub fn contains(&self, client: ClientId) -> bool {
        self.as_slice().contains(&client)
    }
}

impl From<ClientId> for Recipients {
    fn from(client: ClientId) -> Self {
        Self(Repr::One(client))
    }
}

impl From<Vec<ClientId>> for Recipients {
    fn from(clients: Vec<ClientId>) -> Self {
        Self(Repr::Many(clients))
    }
}

impl FromIterator<ClientId> for Recipients {
    fn from_iter<I: IntoIterator<Item = ClientId>>(iter: I) -> Self {
        Self::from(iter.into_iter().collect::<Vec<_>>())
    }
}

/// Equal when they list the same clients in the same order.
impl PartialEq for Recipients {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Recipients {}

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a Recipients {
    type Item = &'a ClientId;
    type IntoIter = std::slice::Iter<'a, ClientId>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl IntoIterator for Recipients {
    type Item = ClientId;
    type IntoIter = IntoIter;

    fn into_iter(self) -> IntoIter {
        IntoIter(match self.0 {
            Repr::One(client) => IterRepr::One(Some(client)),
            Repr::Many(clients) => IterRepr::Many(clients.into_iter()),
        })
    }
}

/// The recipients of a [`Recipients`], by value, in order.
#[derive(Debug, Clone)]
pub struct IntoIter(IterRepr);

#[derive(Debug, Clone)]
enum IterRepr {
    One(Option<ClientId>),
    Many(std::vec::IntoIter<ClientId>),
}

impl Iterator for IntoIter {
    type Item = ClientId;

    fn next(&mut self) -> Option<ClientId> {
        match &mut self.0 {
            IterRepr::One(client) => client.take(),
            IterRepr::Many(clients) => clients.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            IterRepr::One(client) => {
                let n = usize::from(client.is_some());
                (n, Some(n))
            }
            IterRepr::Many(clients) => clients.size_hint(),
        }
    }
}

impl ExactSizeIterator for IntoIter {}

impl FusedIterator for IntoIter {}

/// The SO name and key of a body that is exactly one CHANGE of one key:
/// where they sit in the body, and a hash of both. Whoever holds such a
/// body for a client may replace it by a newer one of the same name and
/// key (see the server's coalescing rule), without reading the body.
///
/// It comes from the message the body was encoded from
/// ([`ChangeKey::of_message`]), so nothing downstream parses a body; it
/// is `Copy`, so every recipient gets it for the price of the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeKey {
    name: (usize, usize),
    key: (usize, usize),
    /// FNV-1a of name and key: most comparisons stop at it.
    hash: u64,
}

impl ChangeKey {
    /// The key of `message` encoded in `encoding`: `Some` when its events
    /// are exactly one CHANGE. The positions follow from the layout of a
    /// SharedObject body (type 16's leading byte; name with its u16
    /// length; version, flags and reserved words; the event's type and
    /// u32 length; the key with its u16 length).
    pub fn of_message(message: &SharedObjectMessage, encoding: Encoding) -> Option<Self> {
        let [SoEvent::Change { key, .. }] = message.events.as_slice() else {
            return None;
        };
        let start: usize = match encoding {
            Encoding::Amf0 => 0,
            Encoding::Amf3 => 1,
        };
        let name_at = start + 2;
        let name_end = name_at.checked_add(message.name.len())?;
        let key_at = name_end.checked_add(12 + 5 + 2)?;
        let key_end = key_at.checked_add(key.len())?;
        Some(Self {
            name: (name_at, name_end),
            key: (key_at, key_end),
            hash: fnv1a(
                fnv1a(FNV_OFFSET, message.name.as_bytes()) ^ 0xFF,
                key.as_bytes(),
            ),
        })
    }

    /// The SO name and the key, read from `body` (the body this key came
    /// with, or a copy of it); empty slices if `body` is too short.
    pub fn slices<'b>(&self, body: &'b [u8]) -> (&'b [u8], &'b [u8]) {
        let get = |(from, to): (usize, usize)| body.get(from..to).unwrap_or_default();
        (get(self.name), get(self.key))
    }

    /// Whether `self` (the key of `body`) and `other` (of `other_body`)
    /// name the same SO and key.
    pub fn same(&self, body: &[u8], other: &ChangeKey, other_body: &[u8]) -> bool {
        self.hash == other.hash
            && self.fits(body)
            && other.fits(other_body)
            && self.slices(body) == other.slices(other_body)
    }

    /// The hash of name and key.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Whether both positions lie inside `body`.
    pub fn fits(&self, body: &[u8]) -> bool {
        self.name.0 <= self.name.1 && self.key.0 <= self.key.1 && self.key.1 <= body.len()
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Sends `message` to every recipient: encoded at most once per encoding,
/// one output per encoding, holding the body and its recipients.
///
/// This is the fan-out hot path: per recipient, one client id pushed into
/// a list allocated once (not at all for a single recipient); nothing else
/// is allocated or copied.
pub(crate) fn fan_out(
    out: &mut Vec<Output>,
    message: &SharedObjectMessage,
    mut recipients: impl Iterator<Item = (ClientId, Encoding)>,
) {
    if recipients.size_hint().1.is_some_and(|most| most <= 1) {
        // A reply to one client: no list to allocate.
        if let Some((to, encoding)) = recipients.next() {
            push(out, message, encoding, Recipients::from(to));
        }
        return;
    }
    let mut amf0 = Vec::new();
    let mut amf3 = Vec::new();
    while let Some((to, encoding)) = recipients.next() {
        let list = match encoding {
            Encoding::Amf0 => &mut amf0,
            Encoding::Amf3 => &mut amf3,
        };
        if list.is_empty() {
            // Room for everybody left, so that the list is allocated once.
            let (least, most) = recipients.size_hint();
            list.reserve_exact(most.unwrap_or(least).saturating_add(1));
        }
        list.push(to);
    }
    // Each recipient is in one list only, so the order of the outputs
    // changes no client's order of messages.
    for (encoding, list) in [(Encoding::Amf0, amf0), (Encoding::Amf3, amf3)] {
        if !list.is_empty() {
            push(out, message, encoding, Recipients::from(list));
        }
    }
}

/// Encodes `message` for `to` and pushes the output (unless unencodable,
/// see [`encode`]).
fn push(out: &mut Vec<Output>, message: &SharedObjectMessage, encoding: Encoding, to: Recipients) {
    if let Some(body) = encode(message, encoding) {
        let key = ChangeKey::of_message(message, encoding);
        out.push(Output::SharedObject {
            to,
            encoding,
            body,
            key,
        });
    }
}

/// Encodes one message body for one encoding.
///
/// `None` only for what the wire cannot carry (a name or key over 65,535
/// bytes, an event over 4 GiB), which never gets this far: names and keys
/// are checked against their (capped) limits where they enter the engine,
/// values against limits far below 4 GiB.
fn encode(message: &SharedObjectMessage, encoding: Encoding) -> Option<Body> {
    let mut buf = BytesMut::with_capacity(256);
    message.encode(encoding, &mut buf).ok()?;
    Some(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtmp_proto::message::shared_object::SoEvent;

    fn message() -> SharedObjectMessage {
        SharedObjectMessage {
            name: "chat".into(),
            version: 1,
            persistent: false,
            events: vec![SoEvent::Clear],
        }
    }

    #[test]
    fn one_output_per_encoding_lists_its_recipients_in_order() {
        let mut out = Vec::new();
        let recipients = [
            (ClientId(4), Encoding::Amf3),
            (ClientId(1), Encoding::Amf0),
            (ClientId(2), Encoding::Amf3),
            (ClientId(3), Encoding::Amf0),
            (ClientId(5), Encoding::Amf0),
        ];
        fan_out(&mut out, &message(), recipients.into_iter());
        let got: Vec<_> = out
            .iter()
            .map(|o| match o {
                Output::SharedObject { to, encoding, .. } => (*encoding, to.as_slice().to_vec()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            [
                (Encoding::Amf0, vec![ClientId(1), ClientId(3), ClientId(5)]),
                (Encoding::Amf3, vec![ClientId(4), ClientId(2)]),
            ]
        );
    }

    #[test]
    fn a_change_key_names_the_so_and_key_inside_the_body() {
        use rtmp_proto::amf::Value;
        let change = |name: &str, key: &str| SharedObjectMessage {
            name: name.into(),
            version: 7,
            persistent: true,
            events: vec![SoEvent::Change {
                key: key.into(),
                value: Value::Number(1.0),
            }],
        };
        for encoding in [Encoding::Amf0, Encoding::Amf3] {
            for (name, key) in [("chat", "k"), ("", ""), ("a.much.longer.name", "ключ")] {
                let message = change(name, key);
                let body = encode(&message, encoding).unwrap();
                let found = ChangeKey::of_message(&message, encoding).unwrap();
                assert!(found.fits(&body));
                assert_eq!(found.slices(&body), (name.as_bytes(), key.as_bytes()));
                let other = ChangeKey::of_message(&change(name, "other"), encoding).unwrap();
                let other_body = encode(&change(name, "other"), encoding).unwrap();
                assert!(found.same(&body, &found, &body));
                assert!(!found.same(&body, &other, &other_body));
            }
            // Anything but exactly one CHANGE has no key.
            let mut two = change("chat", "k");
            two.events.push(SoEvent::Clear);
            assert_eq!(ChangeKey::of_message(&two, encoding), None);
            let success = SharedObjectMessage {
                events: vec![SoEvent::Success { key: "k".into() }],
                ..change("chat", "k")
            };
            assert_eq!(ChangeKey::of_message(&success, encoding), None);
            assert_eq!(ChangeKey::of_message(&message(), encoding), None);
        }
    }

    #[test]
    fn no_recipients_no_output() {
        let mut out = Vec::new();
        fan_out(&mut out, &message(), std::iter::empty());
        assert!(out.is_empty());
    }

    #[test]
    fn recipients_read_the_same_however_built() {
        let one = Recipients::from(ClientId(7));
        let listed = Recipients::from(vec![ClientId(7)]);
        assert_eq!(one, listed);
        assert_eq!(one.len(), 1);
        assert!(one.contains(ClientId(7)) && !one.contains(ClientId(8)));
        assert_eq!(format!("{one:?}"), format!("{:?}", [ClientId(7)]));
        let pushed = Recipients::from(vec![ClientId(1), ClientId(2), ClientId(3)]);
        let collected: Recipients = (1..=3).map(ClientId).collect();
        assert_eq!(pushed, collected);
        let by_value = pushed.clone().into_iter();
        assert_eq!(by_value.len(), 3);
        assert_eq!(by_value.collect::<Vec<_>>(), pushed.as_slice());
        let mut single = one.into_iter();
        assert_eq!(single.size_hint(), (1, Some(1)));
        assert_eq!(single.next(), Some(ClientId(7)));
        assert_eq!((single.next(), single.len()), (None, 0));
        assert!(Recipients::from_iter(std::iter::empty()).is_empty());
    }
}
