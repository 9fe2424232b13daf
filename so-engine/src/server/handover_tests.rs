use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use rtmp_proto::amf::{Encoding, Value};
use rtmp_proto::message::shared_object::{SharedObjectMessage, SoEvent};

use super::*;
use crate::delivery::Recipients;
use crate::server::{OutboundQueue, QueueLimits};

fn message(version: u32, events: Vec<SoEvent>) -> SharedObjectMessage {
    SharedObjectMessage {
        name: "so".into(),
        version,
        persistent: false,
        events,
    }
}

fn encode(message: &SharedObjectMessage, encoding: Encoding) -> Bytes {
    let mut out = BytesMut::new();
    message.encode(encoding, &mut out).unwrap();
    out.freeze()
}

/// One delivery of `message` in `encoding` to `to`, as the hub makes it.
fn delivery(message: &SharedObjectMessage, encoding: Encoding, to: Vec<ClientId>) -> Delivery {
    Delivery {
        to: Recipients::from(to),
        command: ClientCommand::SharedObject(encode(message, encoding)),
        key: ChangeKey::of_message(message, encoding),
    }
}

fn change(key: &str, value: f64) -> SoEvent {
    SoEvent::Change {
        key: key.into(),
        value: Value::Number(value),
    }
}

/// Deliveries as the engine emits them: each update one body per
/// encoding to its recipients in client order (the writer gets its own
/// answer), with now and then a command for one client.
fn tick(seed: u64, updates: u32) -> Vec<Delivery> {
    let mut state = seed | 1;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
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
        // Now and then a client left the SO: not every update reaches
        // every client.
        let absent = next(8);
        let mut lists: BTreeMap<Encoding, Vec<ClientId>> = BTreeMap::new();
        for c in (0..6u64).filter(|&c| c != absent && c != writer) {
            let encoding = if c.is_multiple_of(3) {
                Encoding::Amf3
            } else {
                Encoding::Amf0
            };
            lists.entry(encoding).or_default().push(ClientId(c));
        }
        if writer != absent {
            let answer = message(version, vec![SoEvent::Success { key: key.into() }]);
            out.push(delivery(&answer, Encoding::Amf0, vec![ClientId(writer)]));
        }
        let update = message(version, events);
        for (encoding, to) in lists {
            out.push(delivery(&update, encoding, to));
        }
        if next(4) == 0 {
            out.push(Delivery {
                to: Recipients::from(ClientId(next(6))),
                command: ClientCommand::Accept,
                key: None,
            });
        }
    }
    out
}

/// What each client's queue holds after every delivery was pushed into
/// it one by one, one recipient at a time.
fn one_by_one(deliveries: &[Delivery]) -> BTreeMap<ClientId, Vec<ClientCommand>> {
    let mut queues = BTreeMap::new();
    for d in deliveries {
        for &to in &d.to {
            queues
                .entry(to)
                .or_insert_with(|| OutboundQueue::new(QueueLimits::default()))
                .push(d.command.clone(), d.key)
                .unwrap();
        }
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
fn a_split_leaves_each_queue_as_pushing_one_by_one_would() {
    let mut handover = Handover::default();
    let mut fewer = false;
    for seed in 1..200 {
        for updates in [1, 2, 5, 20] {
            let mut deliveries = tick(seed * 7919, updates);
            let expected = one_by_one(&deliveries);
            let total: usize = deliveries.iter().map(|d| d.to.len()).sum();
            let mut handed = 0;
            let mut queues = BTreeMap::new();
            let mut last = None;
            handover.split(&mut deliveries, |to, run| {
                assert!(last < Some(to), "one run per client, in client order");
                last = Some(to);
                handed += run.len();
                let queue = queues
                    .entry(to)
                    .or_insert_with(|| OutboundQueue::new(QueueLimits::default()));
                for (command, key) in run.drain(..) {
                    queue.push(command, key).unwrap();
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
    assert!(fewer, "nothing was ever dropped before the queues");
}

#[test]
fn a_change_is_dropped_whole_only_when_a_later_one_reaches_all_its_recipients() {
    let ids = |ids: &[u64]| -> Vec<ClientId> { ids.iter().copied().map(ClientId).collect() };
    assert!(covers(&ids(&[1, 2, 3]), &ids(&[1, 3])));
    assert!(covers(&ids(&[1, 2, 3]), &ids(&[1, 2, 3])));
    assert!(!covers(&ids(&[1, 3]), &ids(&[1, 2])));
    assert!(!covers(&ids(&[2, 3]), &ids(&[1])));
    // Out of order: no claim.
    assert!(!covers(&ids(&[1, 2, 3]), &ids(&[3, 1])));

    let e = Encoding::Amf0;
    let older = message(1, vec![change("a", 1.0)]);
    let newer = message(2, vec![change("a", 2.0)]);
    let other = message(3, vec![change("b", 2.0)]);
    let deliveries = [
        delivery(&older, e, ids(&[1, 2])),
        delivery(&newer, e, ids(&[1, 2])),
        delivery(&other, e, ids(&[1, 2])),
        delivery(&older, e, ids(&[1, 3])),
    ];
    let mut superseded = Vec::new();
    mark_superseded(&deliveries[..3], &mut superseded);
    assert_eq!(superseded, [true, false, false]);
    // Compared with the latest CHANGE of the key only, which misses
    // client 3: nothing is dropped.
    mark_superseded(&deliveries[1..], &mut superseded);
    assert_eq!(superseded, [false, false, false]);
}

#[test]
fn runs_merge_into_client_order_with_the_delivery_order_kept_per_client() {
    let pairs = |v: &[(u64, usize)]| -> Vec<(ClientId, usize)> {
        v.iter().map(|&(c, i)| (ClientId(c), i)).collect()
    };
    let (mut ends, mut scratch) = (vec![3, 5, 6, 9], Vec::new());
    let mut order = pairs(&[
        (1, 0),
        (4, 0),
        (9, 0),
        (2, 1),
        (4, 1),
        (4, 2),
        (1, 3),
        (4, 3),
        (5, 3),
    ]);
    merge_runs(&mut order, &mut ends, &mut scratch);
    let mut expected = order.clone();
    expected.sort_unstable();
    assert_eq!(order, expected);
    assert_eq!(
        order,
        pairs(&[
            (1, 0),
            (1, 3),
            (2, 1),
            (4, 0),
            (4, 1),
            (4, 2),
            (4, 3),
            (5, 3),
            (9, 0)
        ])
    );
    // Already in order: left as it is.
    let mut ends = vec![1, 3];
    let mut order = pairs(&[(1, 0), (2, 1), (3, 1)]);
    merge_runs(&mut order, &mut ends, &mut scratch);
    assert_eq!(order, pairs(&[(1, 0), (2, 1), (3, 1)]));
}

#[test]
fn recipients_out_of_order_are_still_handed_over_once_per_client_in_order() {
    let e = Encoding::Amf0;
    let first = message(1, vec![change("a", 1.0)]);
    let second = message(2, vec![change("b", 1.0)]);
    let ids = |ids: &[u64]| -> Vec<ClientId> { ids.iter().copied().map(ClientId).collect() };
    let mut deliveries = vec![
        delivery(&first, e, ids(&[3, 1, 2])),
        delivery(&second, e, ids(&[2, 1])),
    ];
    let mut seen = Vec::new();
    Handover::default().split(&mut deliveries, |to, run| seen.push((to, run.len())));
    assert_eq!(seen, [(ClientId(1), 2), (ClientId(2), 2), (ClientId(3), 1)]);
}
