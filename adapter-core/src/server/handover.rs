//! How a tick's deliveries reach the clients: each client's share in one
//! hand-over, and only what coalescing leaves of it.

use bytes::Bytes;
use rtmp_proto::amf::Encoding;
use so_engine::ClientId;
use so_engine::server::{ChangeKey, ClientCommand, Delivery, coalesce_run};

/// Splits a tick's deliveries by client, keeping the buffers it needs
/// between ticks for their capacity.
#[derive(Default)]
pub(super) struct Handover {
    /// (client, index in the deliveries).
    order: Vec<(ClientId, usize)>,
    /// Each delivery's coalescing key, by index.
    keys: Vec<Option<ChangeKey>>,
    /// One client's share.
    run: Vec<(ClientCommand, Option<ChangeKey>)>,
    /// The tick's single-CHANGE broadcasts, in order.
    broadcasts: Vec<Broadcast>,
}

/// One client's share of a tick, each command with its coalescing key.
pub(super) type Run = Vec<(ClientCommand, Option<ChangeKey>)>;

impl Handover {
    /// Empties `deliveries` into `each` client's share, in the client's
    /// order, with what a later delivery of the tick would coalesce away
    /// already left out (as the client's queue would).
    pub(super) fn split(
        &mut self,
        deliveries: &mut Vec<Delivery>,
        mut each: impl FnMut(ClientId, &mut Run),
    ) {
        let Self {
            order,
            keys,
            run,
            broadcasts,
        } = self;
        // Keys are read in emission order, where one update's recipients
        // follow each other with one body (read once).
        let mut cache = KeyCache::default();
        for delivery in deliveries.iter() {
            keys.push(cache.key(delivery.encoding, &delivery.command));
        }
        find_broadcasts(deliveries, keys, broadcasts);
        drop_superseded(deliveries, broadcasts);
        let mut next = broadcasts.iter().filter(|b| b.superseded).peekable();
        for (i, delivery) in deliveries.iter().enumerate() {
            while next.next_if(|b| b.end <= i).is_some() {}
            if next.peek().is_some_and(|b| b.start <= i) {
                continue;
            }
            order.push((delivery.to, i));
        }
        // By client, each client's deliveries in their order: a stable
        // sort of what are sorted runs (one per update) merges them.
        order.sort_by_key(|&(to, _)| to);
        let mut at = 0;
        while let Some(&(to, _)) = order.get(at) {
            let end = at + order[at..].partition_point(|&(client, _)| client == to);
            for &(_, i) in &order[at..end] {
                let command = std::mem::replace(&mut deliveries[i].command, ClientCommand::Accept);
                run.push((command, keys[i]));
            }
            coalesce_run(run);
            each(to, run);
            run.clear();
            at = end;
        }
        deliveries.clear();
        order.clear();
        keys.clear();
        broadcasts.clear();
    }
}

/// One update's single CHANGE as the engine emitted it: the same body to
/// consecutive recipients.
struct Broadcast {
    /// Where its deliveries start and end.
    start: usize,
    end: usize,
    key: ChangeKey,
    /// A later broadcast of the same key reaches each of its recipients:
    /// every one of its deliveries would be coalesced away.
    superseded: bool,
}

/// The runs of deliveries that share one single-CHANGE body.
fn find_broadcasts(deliveries: &[Delivery], keys: &[Option<ChangeKey>], out: &mut Vec<Broadcast>) {
    let mut i = 0;
    while i < deliveries.len() {
        let (ClientCommand::SharedObject(body), Some(key)) = (&deliveries[i].command, keys[i])
        else {
            i += 1;
            continue;
        };
        let start = i;
        i += 1;
        while let Some(ClientCommand::SharedObject(next)) = deliveries.get(i).map(|d| &d.command)
            && next.as_ptr() == body.as_ptr()
            && next.len() == body.len()
        {
            i += 1;
        }
        out.push(Broadcast {
            start,
            end: i,
            key,
            superseded: false,
        });
    }
}

/// Most distinct keys [`drop_superseded`] compares a tick's broadcasts
/// against; older broadcasts of further keys are left to coalescing per
/// client.
const SUPERSEDED_KEYS: usize = 16;

/// Marks each broadcast whose every recipient also gets a later
/// broadcast of the same SO and key in this tick: per client, coalescing
/// would remove all of its deliveries, so they are dropped at once (a
/// comparison of two sorted recipient lists instead of work per client).
fn drop_superseded(deliveries: &[Delivery], broadcasts: &mut [Broadcast]) {
    let mut latest = [0usize; SUPERSEDED_KEYS];
    let mut keys = 0;
    for b in (0..broadcasts.len()).rev() {
        let body = |b: &Broadcast| match &deliveries[b.start].command {
            ClientCommand::SharedObject(body) => body.as_ref(),
            _ => &[][..],
        };
        let this = &broadcasts[b];
        let same = latest[..keys].iter().copied().find(|&l| {
            let later = &broadcasts[l];
            ChangeKey::same(later.key, body(later), this.key, body(this))
        });
        match same {
            Some(l) => {
                let later = &broadcasts[l];
                let covered = recipients_cover(
                    &deliveries[later.start..later.end],
                    &deliveries[this.start..this.end],
                );
                broadcasts[b].superseded = covered;
            }
            None if keys < SUPERSEDED_KEYS => {
                latest[keys] = b;
                keys += 1;
            }
            None => {}
        }
    }
}

/// Whether every recipient of `older` is one of `later`'s; both as the
/// engine emits them, in ascending client order (otherwise: no).
fn recipients_cover(later: &[Delivery], older: &[Delivery]) -> bool {
    let mut later = later.iter().map(|d| d.to);
    let mut previous = None;
    for to in older.iter().map(|d| d.to) {
        if previous.is_some_and(|p| p >= to) {
            return false;
        }
        previous = Some(to);
        loop {
            match later.next() {
                Some(other) if other < to => {}
                Some(other) if other == to => break,
                _ => return false,
            }
        }
    }
    true
}

/// The coalescing key of the last body seen: one update's body goes to
/// every recipient (cloned, the same bytes), so its header is read once.
#[derive(Default)]
struct KeyCache {
    /// The body (held, so that its address is not reused meanwhile), its
    /// encoding and its key.
    last: Option<(Bytes, Encoding, Option<ChangeKey>)>,
}

impl KeyCache {
    fn key(&mut self, encoding: Encoding, command: &ClientCommand) -> Option<ChangeKey> {
        let ClientCommand::SharedObject(body) = command else {
            return None;
        };
        if let Some((last, last_encoding, key)) = &self.last
            && *last_encoding == encoding
            && last.as_ptr() == body.as_ptr()
            && last.len() == body.len()
        {
            return *key;
        }
        let key = ChangeKey::of(encoding, command);
        self.last = Some((body.clone(), encoding, key));
        key
    }
}

#[cfg(test)]
#[path = "handover_tests.rs"]
mod tests;
