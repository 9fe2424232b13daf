use bytes::BytesMut;
use rtmp_proto::amf::{Encoding, Limits, Value};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};

use super::*;

fn body(encoding: Encoding, name: &str, version: u32, events: Vec<SoEvent>) -> Bytes {
    let message = SharedObjectMessage {
        name: name.into(),
        version,
        persistent: false,
        events,
    };
    let mut out = BytesMut::new();
    message.encode(encoding, &mut out).unwrap();
    out.freeze()
}

fn change(encoding: Encoding, name: &str, version: u32, key: &str, value: f64) -> ClientCommand {
    ClientCommand::SharedObject(body(
        encoding,
        name,
        version,
        vec![SoEvent::Change {
            key: key.into(),
            value: Value::Number(value),
        }],
    ))
}

fn decode(encoding: Encoding, command: &ClientCommand) -> SharedObjectMessage {
    let ClientCommand::SharedObject(body) = command else {
        panic!("not a body: {command:?}");
    };
    SharedObjectMessage::decode(body, encoding, &Limits::default()).unwrap()
}

/// The key the engine gives a body (the tests build bodies by hand).
fn key_of(encoding: Encoding, command: &ClientCommand) -> Option<ChangeKey> {
    let ClientCommand::SharedObject(body) = command else {
        return None;
    };
    let message = SharedObjectMessage::decode(body, encoding, &Limits::default()).ok()?;
    ChangeKey::of_message(&message, encoding)
}

impl OutboundQueue {
    /// [`OutboundQueue::push`] with the key the engine would give.
    fn push_as(&mut self, encoding: Encoding, command: ClientCommand) -> Result<Pushed, Overflow> {
        let key = key_of(encoding, &command);
        self.push(command, key)
    }
}

fn drain(queue: &mut OutboundQueue) -> Vec<ClientCommand> {
    let mut out = Vec::new();
    queue.drain_into(&mut out);
    out
}

#[test]
fn a_newer_change_of_a_key_replaces_the_pending_one_at_the_back() {
    let e = Encoding::Amf0;
    let mut queue = OutboundQueue::new(QueueLimits::default());
    assert_eq!(
        queue.push_as(e, change(e, "so", 5, "k", 1.0)),
        Ok(Pushed::Queued)
    );
    assert_eq!(
        queue.push_as(e, change(e, "so", 6, "j", 1.0)),
        Ok(Pushed::Queued)
    );
    assert_eq!(
        queue.push_as(e, change(e, "other", 2, "k", 1.0)),
        Ok(Pushed::Queued)
    );
    assert_eq!(
        queue.push_as(e, change(e, "so", 7, "k", 2.0)),
        Ok(Pushed::Coalesced)
    );
    assert_eq!(
        queue.push_as(e, change(e, "so", 8, "k", 3.0)),
        Ok(Pushed::Coalesced)
    );
    assert_eq!(queue.len(), 3);
    assert_eq!(queue.coalesced(), 2);
    let got: Vec<_> = drain(&mut queue)
        .iter()
        .map(|c| {
            let m = decode(e, c);
            let SoEvent::Change { key, value } = &m.events[0] else {
                panic!("{m:?}")
            };
            (
                m.name.to_string(),
                m.version,
                key.to_string(),
                value.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("so".into(), 6, "j".into(), Value::Number(1.0)),
            ("other".into(), 2, "k".into(), Value::Number(1.0)),
            ("so".into(), 8, "k".into(), Value::Number(3.0)),
        ]
    );
    assert_eq!((queue.len(), queue.queued_bytes()), (0, 0));
}

#[test]
fn a_key_read_once_serves_every_copy_of_the_body() {
    for e in [Encoding::Amf0, Encoding::Amf3] {
        let first = change(e, "so", 5, "k", 1.0);
        let newer = change(e, "so", 6, "k", 2.0);
        let key = key_of(e, &newer);
        assert!(key.is_some());
        assert_eq!(key_of(e, &ClientCommand::Accept), None);
        let mut queue = OutboundQueue::new(QueueLimits::default());
        // Several clients' queues get clones of one body and one key.
        for _ in 0..2 {
            assert_eq!(queue.push_as(e, first.clone()), Ok(Pushed::Queued));
            assert_eq!(queue.push(newer.clone(), key), Ok(Pushed::Coalesced));
            assert_eq!(drain(&mut queue), std::slice::from_ref(&newer));
        }
        // Without a key nothing coalesces; a key that does not fit the
        // body (read from a longer one) is ignored.
        assert_eq!(queue.push_as(e, first.clone()), Ok(Pushed::Queued));
        assert_eq!(queue.push(newer.clone(), None), Ok(Pushed::Queued));
        let long = change(e, "a_much_longer_name", 1, "a_longer_key", 1.0);
        let ClientCommand::SharedObject(short) = &first else {
            unreachable!()
        };
        let cut = ClientCommand::SharedObject(short.slice(..8));
        assert_eq!(queue.push(cut, key_of(e, &long)), Ok(Pushed::Queued));
        assert_eq!(queue.len(), 3);
    }
}

#[test]
fn other_messages_keep_their_place() {
    let e = Encoding::Amf3;
    let mut queue = OutboundQueue::new(QueueLimits::default());
    let multi = ClientCommand::SharedObject(body(
        e,
        "so",
        6,
        vec![
            SoEvent::Change {
                key: "k".into(),
                value: Value::Null,
            },
            SoEvent::SendMessage {
                method: "m".into(),
                args: vec![],
            },
        ],
    ));
    let success =
        ClientCommand::SharedObject(body(e, "so", 7, vec![SoEvent::Success { key: "k".into() }]));
    queue.push_as(e, ClientCommand::Accept).unwrap();
    queue.push_as(e, multi.clone()).unwrap();
    queue.push_as(e, success.clone()).unwrap();
    queue.push_as(e, multi.clone()).unwrap();
    assert_eq!(
        drain(&mut queue),
        [ClientCommand::Accept, multi.clone(), success, multi]
    );
}

#[test]
fn coalescing_is_the_same_scanned_or_indexed() {
    let e = Encoding::Amf3;
    let mut queue = OutboundQueue::new(QueueLimits::default());
    for round in 0..2u32 {
        for k in 0..INDEX_FROM as u32 + 8 {
            let v = round * 100 + k;
            queue
                .push_as(e, change(e, "so", v, &format!("k{k}"), 0.0))
                .unwrap();
            assert_eq!(queue.index.is_some(), queue.len() >= INDEX_FROM);
        }
        // An early key and a late one, replaced while indexed.
        let v = round * 100 + 90;
        assert_eq!(
            queue.push_as(e, change(e, "so", v, "k0", 1.0)),
            Ok(Pushed::Coalesced)
        );
        assert_eq!(
            queue.push_as(e, change(e, "so", v + 1, "k39", 1.0)),
            Ok(Pushed::Coalesced)
        );
        let versions: Vec<u32> = std::iter::from_fn(|| queue.pop())
            .map(|c| decode(e, &c).version)
            .collect();
        let mut expected: Vec<u32> = (1..INDEX_FROM as u32 + 7)
            .map(|k| round * 100 + k)
            .collect();
        expected.extend([v, v + 1]);
        assert_eq!(versions, expected);
        assert!(queue.index.is_none());
    }
}

#[test]
fn pop_keeps_the_index_right() {
    let e = Encoding::Amf0;
    let mut queue = OutboundQueue::new(QueueLimits::default());
    queue.push_as(e, change(e, "so", 1, "k", 1.0)).unwrap();
    assert_eq!(queue.pop(), Some(change(e, "so", 1, "k", 1.0)));
    // The popped one is on its way: the next is not coalesced with it.
    assert_eq!(
        queue.push_as(e, change(e, "so", 2, "k", 2.0)),
        Ok(Pushed::Queued)
    );
    assert_eq!(
        queue.push_as(e, change(e, "so", 3, "k", 3.0)),
        Ok(Pushed::Coalesced)
    );
    assert_eq!(queue.pop(), Some(change(e, "so", 3, "k", 3.0)));
    assert_eq!(queue.pop(), None);
    assert_eq!(queue.queued_bytes(), 0);
    // Likewise after a drain, and after the holes coalescing left behind.
    for version in 4..8 {
        queue
            .push_as(e, change(e, "so", version, "k", 4.0))
            .unwrap();
    }
    assert_eq!(drain(&mut queue), [change(e, "so", 7, "k", 4.0)]);
    assert_eq!(
        queue.push_as(e, change(e, "so", 8, "k", 8.0)),
        Ok(Pushed::Queued)
    );
    assert_eq!(queue.len(), 1);
}

/// A random mix of keys, SOs and other messages, drained at random
/// points: versions per SO never go backwards, and the last value of
/// every key is what the client ends with.
#[test]
fn coalescing_keeps_order_and_final_state() {
    let e = Encoding::Amf0;
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut queue = OutboundQueue::new(QueueLimits::default());
    let mut version = BTreeMap::<String, u32>::new();
    let mut expected = BTreeMap::<(String, String), f64>::new();
    let mut seen_version = BTreeMap::<String, u32>::new();
    let mut seen = BTreeMap::<(String, String), f64>::new();
    let mut coalesced = 0;
    for step in 0..5000 {
        let name = ["a", "b"][(next() % 2) as usize].to_string();
        let v = version.entry(name.clone()).or_insert(0);
        *v += 1;
        let key = format!("k{}", next() % 4);
        let value = step as f64;
        let command = if next() % 5 == 0 {
            // Two keys in one update: never coalesced.
            expected.insert((name.clone(), key.clone()), value);
            expected.insert((name.clone(), "z".into()), value);
            ClientCommand::SharedObject(body(
                e,
                &name,
                *v,
                vec![
                    SoEvent::Change {
                        key: key.clone().into(),
                        value: Value::Number(value),
                    },
                    SoEvent::Change {
                        key: "z".into(),
                        value: Value::Number(value),
                    },
                ],
            ))
        } else {
            expected.insert((name.clone(), key.clone()), value);
            change(e, &name, *v, &key, value)
        };
        if queue.push_as(e, command).unwrap() == Pushed::Coalesced {
            coalesced += 1;
        }
        if next() % 50 == 0 {
            for command in drain(&mut queue) {
                let m = decode(e, &command);
                let last = seen_version.entry(m.name.to_string()).or_insert(0);
                assert!(
                    m.version > *last,
                    "{} went from {last} to {}",
                    m.name,
                    m.version
                );
                *last = m.version;
                for event in m.events {
                    let SoEvent::Change { key, value } = event else {
                        unreachable!()
                    };
                    seen.insert(
                        (m.name.to_string(), key.to_string()),
                        value.as_f64().unwrap(),
                    );
                }
            }
        }
    }
    for command in drain(&mut queue) {
        let m = decode(e, &command);
        for event in m.events {
            let SoEvent::Change { key, value } = event else {
                unreachable!()
            };
            seen.insert(
                (m.name.to_string(), key.to_string()),
                value.as_f64().unwrap(),
            );
        }
    }
    assert_eq!(seen, expected);
    assert!(coalesced > 1000, "only {coalesced} coalesced");
}

#[test]
fn overflow_is_reported_once_then_everything_is_dropped() {
    let e = Encoding::Amf0;
    let one = change(e, "so", 1, "k0", 0.0);
    let size = command_size(&one) + QueueLimits::ENTRY_OVERHEAD;
    let mut queue = OutboundQueue::new(QueueLimits {
        max_queued_bytes: 3 * size,
    });
    for i in 0..3 {
        queue
            .push_as(e, change(e, "so", 1, &format!("k{i}"), 0.0))
            .unwrap();
    }
    assert_eq!(queue.queued_bytes(), 3 * size);
    // Coalescing frees the old one first: this fits.
    assert_eq!(
        queue.push_as(e, change(e, "so", 2, "k0", 1.0)),
        Ok(Pushed::Coalesced)
    );
    assert_eq!(
        queue.push_as(e, change(e, "so", 3, "k3", 1.0)),
        Err(Overflow {
            queued_bytes: 4 * size,
            limit: 3 * size
        })
    );
    assert!(queue.is_overflowed());
    assert_eq!((queue.len(), queue.queued_bytes()), (0, 0));
    assert_eq!(queue.push_as(e, ClientCommand::Accept), Ok(Pushed::Dropped));
    assert_eq!(queue.pop(), None);
}

#[test]
fn one_large_message_fits_an_empty_queue() {
    let e = Encoding::Amf0;
    let mut queue = OutboundQueue::new(QueueLimits {
        max_queued_bytes: 10,
    });
    assert_eq!(
        queue.push_as(e, change(e, "so", 1, "k", 0.0)),
        Ok(Pushed::Queued)
    );
    assert!(queue.push_as(e, change(e, "so", 2, "j", 0.0)).is_err());
}

/// A stalled reader of a hot key holds one message, and the holes
/// coalescing leaves behind stay bounded.
#[test]
fn a_hot_key_for_a_stalled_reader_stays_small() {
    let e = Encoding::Amf0;
    let mut queue = OutboundQueue::new(QueueLimits::default());
    queue.push_as(e, change(e, "other", 1, "x", 0.0)).unwrap();
    for v in 1..=10_000 {
        queue
            .push_as(e, change(e, "so", v, "k", f64::from(v)))
            .unwrap();
    }
    assert_eq!(queue.len(), 2);
    assert!(queue.entries.len() <= 40, "{} slots", queue.entries.len());
    let last = drain(&mut queue).pop().unwrap();
    assert_eq!(decode(e, &last).version, 10_000);
}

/// Pushes, pops and drains at random against the rule applied to a plain
/// list (remove the pending single CHANGE of the same SO and key, append):
/// the queue hands out exactly what the list does, through compactions,
/// the index coming and going, and pops of the front.
#[test]
fn the_queue_hands_out_what_the_rule_on_a_plain_list_does() {
    let e = Encoding::Amf0;
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut queue = OutboundQueue::new(QueueLimits::default());
    let mut model: Vec<(Option<(String, String)>, ClientCommand)> = Vec::new();
    let mut version = 0;
    let (mut indexed, mut holes) = (false, false);
    for _ in 0..20_000 {
        version += 1;
        let name = ["a", "b"][usize::try_from(next(2)).unwrap()];
        // Few keys at times (holes, compactions), many at others (index).
        let keys = if version % 3000 < 1500 { 3 } else { 48 };
        let key = format!("k{}", next(keys));
        let (tag, command) = match next(10) {
            0 => (None, ClientCommand::Accept),
            1 => (
                None,
                ClientCommand::SharedObject(body(
                    e,
                    name,
                    version,
                    vec![SoEvent::Success {
                        key: key.clone().into(),
                    }],
                )),
            ),
            _ => (
                Some((name.to_string(), key.clone())),
                change(e, name, version, &key, f64::from(version)),
            ),
        };
        if let Some(tag) = &tag
            && let Some(at) = model.iter().position(|(t, _)| t.as_ref() == Some(tag))
        {
            model.remove(at);
        }
        model.push((tag, command.clone()));
        queue.push_as(e, command).unwrap();
        match next(40) {
            0 => assert_eq!(
                drain(&mut queue),
                model.drain(..).map(|(_, c)| c).collect::<Vec<_>>()
            ),
            1..=4 => {
                let expected = (!model.is_empty()).then(|| model.remove(0).1);
                assert_eq!(queue.pop(), expected);
            }
            _ => {}
        }
        assert_eq!(queue.len(), model.len());
        indexed |= queue.index.is_some();
        holes |= queue.entries.len() > queue.len();
    }
    assert!(indexed && holes, "indexed {indexed}, holes {holes}");
}
