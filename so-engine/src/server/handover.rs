//! [`Handover`]: how the deliveries the [`Hub`](super::Hub) gathered reach
//! the clients' queues: each client's share in one hand-over, in its
//! order, without what the [coalescing rule](super#coalescing) removes.

use crate::delivery::ChangeKey;
use crate::types::ClientId;

use super::Delivery;
use super::link::ClientCommand;

/// One client's share of the deliveries handed over at once, in order,
/// each command with its [`ChangeKey`] (for [`OutboundQueue::push`]).
///
/// [`OutboundQueue::push`]: super::OutboundQueue::push
pub type Run = Vec<(ClientCommand, Option<ChangeKey>)>;

/// Splits gathered deliveries by client, keeping its buffers between
/// hand-overs for their capacity.
#[derive(Debug, Default)]
pub struct Handover {
    /// (client, index in the deliveries), sorted by client.
    order: Vec<(ClientId, usize)>,
    /// Where each delivery's recipients end in `order` (each delivery's
    /// are one ascending run), then the merged runs' ends.
    ends: Vec<usize>,
    /// Where runs are merged to.
    scratch: Vec<(ClientId, usize)>,
    /// Whether each delivery is superseded (dropped for every recipient).
    superseded: Vec<bool>,
    /// One client's share.
    run: Run,
}

impl Handover {
    /// Empties `deliveries` into `each` client's [`Run`], in the order
    /// the engine emitted them, by ascending client id. A single CHANGE
    /// whose every recipient also gets a later single CHANGE of the same
    /// SO and key among `deliveries` is left out at once (the rule's
    /// first half, for a whole recipient list at the cost of comparing
    /// two sorted lists); the rest is coalesced as each client's queue
    /// takes it.
    pub fn split(
        &mut self,
        deliveries: &mut Vec<Delivery>,
        mut each: impl FnMut(ClientId, &mut Run),
    ) {
        let Self {
            order,
            ends,
            scratch,
            superseded,
            run,
        } = self;
        mark_superseded(deliveries, superseded);
        let mut ascending = true;
        for (i, delivery) in deliveries.iter().enumerate() {
            if !superseded[i] && !delivery.to.is_empty() {
                let start = order.len();
                order.extend(delivery.to.iter().map(|&to| (to, i)));
                ascending &= order[start..].is_sorted();
                ends.push(order.len());
            }
        }
        // By client, each client's deliveries in their order (the index
        // breaks ties). The engine lists recipients in ascending order, so
        // each delivery's share is a sorted run: merging them costs a
        // pass per doubling (three passes for a tick of 8 updates), where
        // a sort would compare each pair about log2(n) times. Often
        // already in order (one update: the writer's answer, then the
        // others), which costs one comparison per run.
        if ascending {
            merge_runs(order, ends, scratch);
        } else {
            order.sort_unstable();
        }
        let mut at = 0;
        while let Some(&(to, _)) = order.get(at) {
            // A client's share is short (often one): a scan beats a search.
            let end = at + order[at..].iter().take_while(|&&(c, _)| c == to).count();
            for &(_, i) in &order[at..end] {
                let delivery = &mut deliveries[i];
                // A body is shared (a reference count); anything else has
                // one recipient and is moved.
                let command = if delivery.to.len() == 1 {
                    std::mem::replace(&mut delivery.command, ClientCommand::Accept)
                } else {
                    delivery.command.clone()
                };
                run.push((command, delivery.key));
            }
            each(to, run);
            run.clear();
            at = end;
        }
        deliveries.clear();
        order.clear();
        ends.clear();
        superseded.clear();
    }
}

/// Sorts `order`, made of ascending runs ending at `ends`, by merging
/// neighbouring runs pairwise through `scratch` until one is left. Both
/// buffers keep their capacity: no allocation once they have grown.
fn merge_runs(
    order: &mut Vec<(ClientId, usize)>,
    ends: &mut Vec<usize>,
    scratch: &mut Vec<(ClientId, usize)>,
) {
    let in_order = ends.windows(2).all(|w| order[w[0] - 1] <= order[w[0]]);
    if in_order {
        return;
    }
    while ends.len() > 1 {
        scratch.clear();
        let (mut start, mut read, mut write) = (0, 0, 0);
        while read < ends.len() {
            let end = ends[read];
            match ends.get(read + 1) {
                Some(&next) => {
                    merge(&order[start..end], &order[end..next], scratch);
                    start = next;
                    read += 2;
                }
                None => {
                    scratch.extend_from_slice(&order[start..end]);
                    start = end;
                    read += 1;
                }
            }
            ends[write] = start;
            write += 1;
        }
        ends.truncate(write);
        std::mem::swap(order, scratch);
    }
}

/// Appends the merge of the sorted `a` and `b` to `out` (`a` first on
/// ties).
fn merge<T: Ord + Copy>(mut a: &[T], mut b: &[T], out: &mut Vec<T>) {
    out.reserve(a.len() + b.len());
    while let (Some(&x), Some(&y)) = (a.first(), b.first()) {
        if y < x {
            out.push(y);
            b = &b[1..];
        } else {
            out.push(x);
            a = &a[1..];
        }
    }
    out.extend_from_slice(a);
    out.extend_from_slice(b);
}

/// Most distinct keys [`mark_superseded`] compares against; older
/// CHANGEs of further keys are left to the queues.
const SUPERSEDED_KEYS: usize = 16;

/// Marks each single CHANGE whose every recipient also gets a later
/// single CHANGE of the same SO and key.
fn mark_superseded(deliveries: &[Delivery], superseded: &mut Vec<bool>) {
    superseded.clear();
    superseded.resize(deliveries.len(), false);
    let mut latest = [0usize; SUPERSEDED_KEYS];
    let mut keys = 0;
    for i in (0..deliveries.len()).rev() {
        let Some((key, body)) = keyed(&deliveries[i]) else {
            continue;
        };
        let same = latest[..keys].iter().copied().find(|&l| {
            keyed(&deliveries[l])
                .is_some_and(|(later, later_body)| later.same(later_body, &key, body))
        });
        match same {
            Some(l) => {
                superseded[i] = covers(deliveries[l].to.as_slice(), deliveries[i].to.as_slice());
            }
            None if keys < SUPERSEDED_KEYS => {
                latest[keys] = i;
                keys += 1;
            }
            None => {}
        }
    }
}

/// A delivery's body and key, if it is a single CHANGE.
fn keyed(delivery: &Delivery) -> Option<(ChangeKey, &[u8])> {
    match (&delivery.command, delivery.key) {
        (ClientCommand::SharedObject(body), Some(key)) => Some((key, body)),
        _ => None,
    }
}

/// Whether every client of `older` is one of `later`'s; both in ascending
/// order, as the engine lists recipients (otherwise: no claim).
fn covers(later: &[ClientId], older: &[ClientId]) -> bool {
    let mut later = later.iter();
    let mut previous = None;
    for &to in older {
        if previous.is_some_and(|p| p >= to) {
            return false;
        }
        previous = Some(to);
        loop {
            match later.next() {
                Some(&other) if other < to => {}
                Some(&other) if other == to => break,
                _ => return false,
            }
        }
    }
    true
}

#[cfg(test)]
#[path = "handover_tests.rs"]
mod tests;
