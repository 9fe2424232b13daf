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
            superseded,
            run,
        } = self;
        mark_superseded(deliveries, superseded);
        for (i, delivery) in deliveries.iter().enumerate() {
            if !superseded[i] {
                order.extend(delivery.to.iter().map(|&to| (to, i)));
            }
        }
        // By client, each client's deliveries in their order (the index
        // breaks ties). Often already sorted (one update: the writer's
        // answer, then the others in ascending order), which the sort
        // finds in one pass; it allocates nothing.
        order.sort_unstable();
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
        superseded.clear();
    }
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
