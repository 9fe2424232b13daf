//! Write-behind batching: the engine's persist/delete outputs, coalesced
//! per SO and released once they have waited the flush interval. Sans-IO:
//! time is an argument, the same [`Tick`] the engine is given, so one timer
//! serves both (`engine.next_deadline()` and [`WriteBehind::next_deadline`]).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Store, StoreError};
use crate::io::{Output, Snapshot};
use crate::types::{SoKey, Tick};

/// Default flush interval: 500 ms, half of the contract's one-second bound on
/// what a crash may lose, which leaves the other half for the write itself
/// (a transaction's sync takes milliseconds on an SSD, tens on a
/// busy disk) and for the op that was waiting behind it.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(500);

/// One thing to do to a [`Store`].
#[derive(Debug, Clone, PartialEq)]
pub enum StoreOp {
    /// Store this snapshot as the SO's data.
    Save {
        /// The SO.
        so: SoKey,
        /// Its data.
        snapshot: Box<Snapshot>,
    },
    /// Remove the SO's data.
    Delete {
        /// The SO.
        so: SoKey,
    },
}

impl StoreOp {
    /// The SO it is about.
    pub fn so(&self) -> &SoKey {
        match self {
            Self::Save { so, .. } | Self::Delete { so } => so,
        }
    }

    /// Carries it out on `store`.
    pub fn apply(&self, store: &mut (impl Store + ?Sized)) -> Result<(), StoreError> {
        match self {
            Self::Save { so, snapshot } => store.save(so, snapshot),
            Self::Delete { so } => store.delete(so),
        }
    }
}

/// How a failed flush is retried: `first` after the first failure, twice as
/// long after each further one in a row, at most `max`. A store that keeps
/// failing (a full disk, a broken database) is so tried a few times a
/// minute, one log line each time, never in a tight loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBackoff {
    /// The wait after the first failure.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl RetryBackoff {
    /// Default first wait: 250 ms, long enough not to spin, short enough
    /// that a passing hiccup (a busy disk) costs little.
    pub const DEFAULT_FIRST: Duration = Duration::from_millis(250);
    /// Default longest wait: 30 s.
    pub const DEFAULT_MAX: Duration = Duration::from_secs(30);

    /// The wait after `failures` failures in a row (at least 1).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.first
            .checked_mul(1 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

impl Default for RetryBackoff {
    fn default() -> Self {
        Self {
            first: Self::DEFAULT_FIRST,
            max: Self::DEFAULT_MAX,
        }
    }
}

/// A flush that failed: its ops, to be retried, and the store's error.
#[derive(Debug)]
pub struct FailedBatch {
    /// The ops of the batch (none of them counts as done).
    pub ops: Vec<StoreOp>,
    /// Why it failed.
    pub error: StoreError,
}

/// Pending store operations, at most one per SO.
///
/// The latest change of an SO wins: a later save replaces an earlier one, a
/// delete replaces a save (the stored data must go, whatever was pending),
/// a save replaces a delete (it overwrites the stored data anyway). An SO's
/// op is due once the interval has passed since its *first* unflushed
/// change, so an SO that changes all the time is still written once per
/// interval, never postponed forever.
#[derive(Debug)]
pub struct WriteBehind {
    interval: Duration,
    /// The interval in whole milliseconds, the unit of [`Tick`].
    interval_ms: u64,
    pending: BTreeMap<SoKey, StoreOp>,
    /// The pending SOs by (first change, arrival): the oldest first.
    order: BTreeMap<(Tick, u64), SoKey>,
    next_seq: u64,
    backoff: RetryBackoff,
    /// Failed flushes in a row.
    failures: u32,
    /// Failed flushes since the start.
    total_failures: u64,
    /// Nothing is due before this, after a failed flush.
    retry_at: Option<Tick>,
}

impl WriteBehind {
    /// An empty queue releasing each SO's op `flush_interval` after its
    /// first unflushed change ([`DEFAULT_FLUSH_INTERVAL`] is a good start;
    /// `Duration::ZERO` releases at once and only merges while the caller
    /// holds ops back). Counted in whole milliseconds, like [`Tick`].
    pub fn new(flush_interval: Duration) -> Self {
        Self {
            interval: flush_interval,
            interval_ms: u64::try_from(flush_interval.as_millis()).unwrap_or(u64::MAX),
            pending: BTreeMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            backoff: RetryBackoff::default(),
            failures: 0,
            total_failures: 0,
            retry_at: None,
        }
    }

    /// Retries failed flushes after these waits instead of the default's.
    pub fn with_backoff(mut self, backoff: RetryBackoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// A flush failed: puts its ops back (unless newer ones replaced them)
    /// and holds every op back for the next backoff step. Returns that
    /// wait.
    pub fn batch_failed(&mut self, ops: Vec<StoreOp>, now: Tick) -> Duration {
        for op in ops {
            self.retry(op, now);
        }
        self.failures = self.failures.saturating_add(1);
        self.total_failures = self.total_failures.saturating_add(1);
        let delay = self.backoff.delay(self.failures);
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.retry_at = Some(now.plus_millis(ms));
        delay
    }

    /// A flush succeeded: ends the backoff. Returns how many flushes had
    /// failed in a row before it.
    pub fn batch_succeeded(&mut self) -> u32 {
        self.retry_at = None;
        std::mem::take(&mut self.failures)
    }

    /// Failed flushes in a row (0 once one succeeds).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Failed flushes since the start: a counter for metrics.
    pub fn total_failures(&self) -> u64 {
        self.total_failures
    }

    /// The flush interval.
    pub fn flush_interval(&self) -> Duration {
        self.interval
    }

    /// Records the engine's [`Output::Persist`] for `so`.
    pub fn record_persist(&mut self, so: SoKey, snapshot: Box<Snapshot>, now: Tick) {
        self.record(StoreOp::Save { so, snapshot }, now);
    }

    /// Records the engine's [`Output::DeletePersisted`] for `so`.
    pub fn record_delete(&mut self, so: SoKey, now: Tick) {
        self.record(StoreOp::Delete { so }, now);
    }

    /// Records `output` if it is a persist or delete, and hands any other
    /// output back for the caller to route.
    pub fn offer(&mut self, output: Output, now: Tick) -> Option<Output> {
        match output {
            Output::Persist { so, snapshot } => self.record_persist(so, snapshot, now),
            Output::DeletePersisted { so } => self.record_delete(so, now),
            other => return Some(other),
        }
        None
    }

    /// Puts back an op whose store call failed, to be tried again one
    /// interval from `now`, unless a newer op for its SO arrived meanwhile
    /// (that one replaces it).
    pub fn retry(&mut self, op: StoreOp, now: Tick) {
        if !self.pending.contains_key(op.so()) {
            self.record(op, now);
        }
    }

    /// When the oldest pending op is due; `None` when nothing is pending.
    pub fn next_deadline(&self) -> Option<Tick> {
        let (&(first_change, _), _) = self.order.first_key_value()?;
        let due = first_change.plus_millis(self.interval_ms);
        Some(self.retry_at.map_or(due, |at| due.max(at)))
    }

    /// Takes the ops that have waited at least the interval by `now`, the
    /// oldest first; none while a failed flush's backoff lasts.
    pub fn due(&mut self, now: Tick) -> Vec<StoreOp> {
        let mut out = Vec::new();
        if self.retry_at.is_some_and(|at| now < at) {
            return out;
        }
        while let Some(entry) = self.order.first_entry() {
            let (first_change, _) = *entry.key();
            if first_change.plus_millis(self.interval_ms) > now {
                break;
            }
            let so = entry.remove();
            out.extend(self.pending.remove(&so));
        }
        out
    }

    /// Takes every pending op, the oldest first, whatever the time and any
    /// backoff (for a graceful shutdown).
    pub fn drain_all(&mut self) -> Vec<StoreOp> {
        let order = std::mem::take(&mut self.order);
        let mut out = Vec::with_capacity(order.len());
        for so in order.into_values() {
            out.extend(self.pending.remove(&so));
        }
        out
    }

    /// How many SOs have a pending op.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    fn record(&mut self, op: StoreOp, now: Tick) {
        if let Some(pending) = self.pending.get_mut(op.so()) {
            // The first change's time stays: that is what bounds the loss.
            *pending = op;
            return;
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.order.insert((now, seq), op.so().clone());
        self.pending.insert(op.so().clone(), op);
    }
}

impl Default for WriteBehind {
    fn default() -> Self {
        Self::new(DEFAULT_FLUSH_INTERVAL)
    }
}

#[cfg(test)]
mod tests {
    use rtmp_proto::amf::Value;

    use super::*;
    use crate::store::MemoryStore;
    use crate::types::ScopePath;

    fn key(name: &str) -> SoKey {
        SoKey::new(ScopePath::new("app").unwrap(), name)
    }

    fn snap(version: u32) -> Box<Snapshot> {
        Box::new(Snapshot {
            version,
            values: vec![("v".into(), Value::Integer(version as i32))],
        })
    }

    fn save(name: &str, version: u32) -> StoreOp {
        StoreOp::Save {
            so: key(name),
            snapshot: snap(version),
        }
    }

    fn delete(name: &str) -> StoreOp {
        StoreOp::Delete { so: key(name) }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }
    #[test]
    fn the_latest_change_wins() {
        let t = Tick(1000);
        let mut wb = WriteBehind::new(ms(500));
        wb.record_persist(key("a"), snap(1), t);
        wb.record_persist(key("a"), snap(2), t.plus_millis(10));
        wb.record_persist(key("a"), snap(3), t.plus_millis(20));
        // A delete after a save cancels the save, and the reverse.
        wb.record_persist(key("b"), snap(1), t.plus_millis(1));
        wb.record_delete(key("b"), t.plus_millis(2));
        wb.record_delete(key("c"), t.plus_millis(3));
        wb.record_persist(key("c"), snap(5), t.plus_millis(4));
        assert_eq!(wb.len(), 3);
        assert_eq!(
            wb.drain_all(),
            vec![save("a", 3), delete("b"), save("c", 5)]
        );
        assert!(wb.is_empty());
        assert_eq!(wb.next_deadline(), None);
    }

    #[test]
    fn ops_are_due_one_interval_after_the_first_change() {
        let t = Tick(1000);
        let mut wb = WriteBehind::new(ms(500));
        assert_eq!(wb.next_deadline(), None);
        wb.record_persist(key("a"), snap(1), t);
        wb.record_persist(key("b"), snap(1), t.plus_millis(100));
        assert_eq!(wb.next_deadline(), Some(t.plus_millis(500)));
        assert_eq!(wb.due(t.plus_millis(499)), vec![]);
        assert_eq!(wb.due(t.plus_millis(500)), vec![save("a", 1)]);
        assert_eq!(wb.next_deadline(), Some(t.plus_millis(600)));
        assert_eq!(wb.due(t.plus_millis(10_000)), vec![save("b", 1)]);
        assert_eq!(wb.due(t.plus_millis(20_000)), vec![]);
    }

    /// An SO written every 100 ms is still saved every 500 ms: later
    /// changes never push its deadline back.
    #[test]
    fn a_constantly_changing_object_is_not_starved() {
        let t = Tick(1000);
        let mut wb = WriteBehind::new(ms(500));
        let mut saved = Vec::new();
        for step in 0..=20u32 {
            let now = t.plus_millis(u64::from(step) * 100);
            for op in wb.due(now) {
                saved.push((step, op));
            }
            wb.record_persist(key("hot"), snap(step), now);
        }
        assert_eq!(
            saved,
            vec![
                (5, save("hot", 4)),
                (10, save("hot", 9)),
                (15, save("hot", 14)),
                (20, save("hot", 19)),
            ]
        );
    }

    #[test]
    fn due_ops_come_oldest_first() {
        let t = Tick(1000);
        let mut wb = WriteBehind::new(ms(500));
        wb.record_persist(key("z"), snap(1), t);
        wb.record_delete(key("a"), t.plus_millis(1));
        wb.record_persist(key("m"), snap(1), t.plus_millis(1));
        wb.record_persist(key("z"), snap(2), t.plus_millis(2));
        assert_eq!(
            wb.due(t.plus_millis(501)),
            vec![save("z", 2), delete("a"), save("m", 1)]
        );
    }

    #[test]
    fn a_zero_interval_releases_at_once() {
        let t = Tick(1000);
        let mut wb = WriteBehind::new(Duration::ZERO);
        wb.record_persist(key("a"), snap(1), t);
        wb.record_persist(key("a"), snap(2), t);
        assert_eq!(wb.next_deadline(), Some(t));
        assert_eq!(wb.due(t), vec![save("a", 2)]);
    }

    #[test]
    fn failed_ops_are_retried_unless_replaced() {
        let t = Tick(1000);
        let mut wb = WriteBehind::default();
        assert_eq!(wb.flush_interval(), DEFAULT_FLUSH_INTERVAL);
        wb.retry(save("a", 1), t);
        wb.record_persist(key("b"), snap(2), t);
        wb.retry(save("b", 1), t.plus_millis(1));
        assert_eq!(wb.due(t.plus_millis(500)), vec![save("a", 1), save("b", 2)]);
    }

    /// A failing store is retried after 250 ms, 500 ms, 1 s, ... at most
    /// 30 s, whatever the flush interval; a success ends the backoff.
    #[test]
    fn failed_flushes_back_off_exponentially() {
        let t = Tick(1000);
        let mut wb = WriteBehind::new(Duration::ZERO);
        wb.record_persist(key("a"), snap(1), t);
        let mut now = t;
        let mut waits = Vec::new();
        for _ in 0..10 {
            let ops = wb.due(now);
            assert_eq!(ops.len(), 1, "one attempt per step");
            let wait = wb.batch_failed(ops, now);
            let wait_ms = wait.as_millis() as u64;
            waits.push(wait_ms);
            assert_eq!(wb.next_deadline(), Some(now.plus_millis(wait_ms)));
            assert_eq!(wb.due(now.plus_millis(wait_ms - 1)), vec![]);
            now = now.plus_millis(wait_ms);
        }
        // A new change waits for the backoff too.
        wb.record_persist(key("b"), snap(1), now);
        let ops = wb.due(now);
        let wait = wb.batch_failed(ops, now);
        waits.push(wait.as_millis() as u64);
        assert_eq!(wb.due(now.plus_millis(29_999)), vec![]);
        now = now.plus_millis(30_000);
        assert_eq!(
            waits,
            vec![
                250, 500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000, 30_000
            ]
        );
        assert_eq!((wb.failures(), wb.total_failures()), (11, 11));
        assert_eq!(wb.due(now), vec![save("a", 1), save("b", 1)]);
        assert_eq!(wb.batch_succeeded(), 11);
        assert_eq!((wb.failures(), wb.total_failures()), (0, 11));
        wb.record_persist(key("c"), snap(1), now);
        assert_eq!(
            wb.due(now),
            vec![save("c", 1)],
            "no backoff after a success"
        );
    }

    #[test]
    fn outputs_are_sorted_into_ops_and_the_rest() {
        let t = Tick(1000);
        let mut wb = WriteBehind::default();
        let other = Output::ScopeStarted {
            scope: ScopePath::new("app").unwrap(),
        };
        assert_eq!(wb.offer(other.clone(), t), Some(other));
        let persist = Output::Persist {
            so: key("a"),
            snapshot: snap(1),
        };
        assert_eq!(wb.offer(persist, t), None);
        assert_eq!(wb.offer(Output::DeletePersisted { so: key("b") }, t), None);
        let mut store = MemoryStore::new();
        for op in wb.drain_all() {
            op.apply(&mut store).unwrap();
        }
        assert_eq!(store.len(), 1);
        assert!(store.raw(&key("a")).is_some());
    }
}
