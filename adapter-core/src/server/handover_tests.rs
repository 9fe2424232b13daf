use std::collections::BTreeMap;

use bytes::BytesMut;
use rtmp_proto::amf::Value;
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};
use so_engine::server::{OutboundQueue, QueueLimits};

use super::*;

fn body(encoding: Encoding, version: u32, events: Vec<SoEvent>) -> Bytes {
    let message = SharedObjectMessage {
        name: "so".into(),
        version,
        persistent: false,
        events,
    };
    let mut out = BytesMut::new();
    message.encode(encoding, &mut out).unwrap();
    out.freeze()
}

fn change(key: &str, value: f64) -> SoEvent {
    SoEvent::Change {
        key: key.into(),
        value: Value::Number(value),
    }
}

/// A tick as the engine emits it: each update one body to its
/// recipients in client order (the writer gets its own answer), with
/// now and then a command for one client.
fn tick(seed: u64, updates: u32) -> Vec<Delivery> {
    let mut state = seed | 1;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let encoding = |c: u64| {
        if c.is_multiple_of(3) {
            Encoding::Amf3
        } else {
            Encoding::Amf0
        }
    };
    let mut out = Vec::new();
    for version in 1..=updates {
        let writer = next(6);
        let key = ["a", "b", "c"][usize::try_from(next(3)).unwrap()];
        let events = if next(5) == 0 {
            vec![change(key, 1.0), change("z", 2.0)]
        } else {
            vec![change(key, f64::from(version))]
        };
        let mut bodies = BTreeMap::new();
        // Now and then a client left the SO: not every update reaches
        // every client.
        let absent = next(8);
        for c in 0..6u64 {
            if c == absent {
                continue;
            }
            let encoding = encoding(c);
            let command = if c == writer {
                let answer = vec![SoEvent::Success { key: key.into() }];
                ClientCommand::SharedObject(body(encoding, version, answer))
            } else {
                let shared = bodies
                    .entry(encoding)
                    .or_insert_with(|| body(encoding, version, events.clone()));
                ClientCommand::SharedObject(shared.clone())
            };
            out.push(Delivery {
                to: ClientId(c),
                encoding,
                command,
            });
        }
        if next(4) == 0 {
            out.push(Delivery {
                to: ClientId(next(6)),
                encoding: Encoding::Amf0,
                command: ClientCommand::Accept,
            });
        }
    }
    out
}

/// What each client's queue holds after every delivery was pushed into
/// it one by one.
fn one_by_one(deliveries: &[Delivery]) -> BTreeMap<ClientId, Vec<ClientCommand>> {
    let mut queues = BTreeMap::new();
    for d in deliveries {
        queues
            .entry(d.to)
            .or_insert_with(|| OutboundQueue::new(QueueLimits::default()))
            .push(d.encoding, d.command.clone())
            .unwrap();
    }
    drain_all(queues)
}

fn drain_all(queues: BTreeMap<ClientId, OutboundQueue>) -> BTreeMap<ClientId, Vec<ClientCommand>> {
    queues
        .into_iter()
        .map(|(to, mut queue)| {
            let mut out = Vec::new();
            queue.drain_into(&mut out);
            (to, out)
        })
        .collect()
}

#[test]
fn a_split_tick_leaves_each_queue_as_pushing_one_by_one_would() {
    let mut handover = Handover::default();
    let mut fewer = false;
    for seed in 1..200 {
        for updates in [1, 2, 5, 20] {
            let mut deliveries = tick(seed * 7919, updates);
            let expected = one_by_one(&deliveries);
            let total = deliveries.len();
            let mut handed = 0;
            let mut queues = BTreeMap::new();
            handover.split(&mut deliveries, |to, run| {
                handed += run.len();
                let queue = queues
                    .entry(to)
                    .or_insert_with(|| OutboundQueue::new(QueueLimits::default()));
                for (command, key) in run.drain(..) {
                    queue.push_keyed(command, key).unwrap();
                }
            });
            assert!(deliveries.is_empty());
            assert_eq!(
                drain_all(queues),
                expected,
                "seed {seed}, {updates} updates"
            );
            fewer |= handed < total;
        }
    }
    assert!(fewer, "nothing was ever coalesced before the queue");
}

#[test]
fn a_broadcast_is_dropped_only_when_a_later_one_reaches_all_its_recipients() {
    let to = |ids: &[u64]| -> Vec<Delivery> {
        ids.iter()
            .map(|&c| Delivery {
                to: ClientId(c),
                encoding: Encoding::Amf0,
                command: ClientCommand::Accept,
            })
            .collect()
    };
    assert!(recipients_cover(&to(&[1, 2, 3]), &to(&[1, 3])));
    assert!(recipients_cover(&to(&[1, 2, 3]), &to(&[1, 2, 3])));
    assert!(!recipients_cover(&to(&[1, 3]), &to(&[1, 2])));
    assert!(!recipients_cover(&to(&[2, 3]), &to(&[1])));
    // Out of order: no claim.
    assert!(!recipients_cover(&to(&[1, 2, 3]), &to(&[3, 1])));

    let e = Encoding::Amf0;
    let older = body(e, 1, vec![change("a", 1.0)]);
    let newer = body(e, 2, vec![change("a", 2.0)]);
    let other = body(e, 3, vec![change("b", 2.0)]);
    let deliveries: Vec<_> = [(&older, [1, 2]), (&newer, [1, 2]), (&other, [1, 2])]
        .into_iter()
        .flat_map(|(b, ids)| {
            ids.map(|c| Delivery {
                to: ClientId(c),
                encoding: e,
                command: ClientCommand::SharedObject(b.clone()),
            })
        })
        .collect();
    let keys: Vec<_> = deliveries
        .iter()
        .map(|d| ChangeKey::of(d.encoding, &d.command))
        .collect();
    let mut broadcasts = Vec::new();
    find_broadcasts(&deliveries, &keys, &mut broadcasts);
    drop_superseded(&deliveries, &mut broadcasts);
    let found: Vec<_> = broadcasts
        .iter()
        .map(|b| (b.start, b.end, b.superseded))
        .collect();
    assert_eq!(found, [(0, 2, true), (2, 4, false), (4, 6, false)]);
}
