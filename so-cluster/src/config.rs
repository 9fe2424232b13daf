//! The protocol's timings and limits.

/// A process that tried to acquire an SO's lease within this many lease
/// times counts as having subscribers to it: a non-persistent SO's stored
/// state is dropped only when no other process did (followers retry about
/// once a lease time).
pub const INTEREST_LEASES: u64 = 3;

/// Timings and limits of one process's ownership protocol. Every limit that
/// bounds memory is here, with a default that serves real deployments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The lease's time to live: a dead owner is replaced after about this.
    pub lease_ttl_ms: u64,
    /// How often an owner renews its leases (well under the TTL, so that one
    /// lost renewal does not lose the lease).
    pub renew_every_ms: u64,
    /// The largest random delay added to a takeover attempt, so that the
    /// followers of an SO do not all try at the same instant.
    pub takeover_jitter_ms: u64,
    /// A write forwarded to an owner and not answered after this is refused
    /// (longer than a takeover, so that failover does not refuse writes).
    pub forward_timeout_ms: u64,
    /// Writes waiting for an answer, on this process: past it, writes are
    /// refused.
    pub max_pending_writes: usize,
    /// Updates buffered per SO while an earlier one is missing: past it,
    /// the replica reloads the state.
    pub max_early_updates: usize,
    /// Updates an owner keeps per SO while it cannot publish (Redis lost):
    /// past it, its clients' writes are refused.
    pub max_backlog_updates: usize,
    /// Writer processes remembered per SO for dedupe (the least recently
    /// seen is forgotten first).
    pub max_dedupe_origins: usize,
    /// Applied writes remembered per writer process and SO above the oldest
    /// one it waits for. Keep it at least `max_pending_writes +
    /// max_backlog_updates` (all a writer can have in flight): past it, the
    /// oldest are taken as done, and a write still waited for behind them
    /// would be taken for a duplicate. Normally a handful are remembered.
    pub max_dedupe_window: usize,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            lease_ttl_ms: 5_000,
            renew_every_ms: 1_666,
            takeover_jitter_ms: 500,
            forward_timeout_ms: 11_000,
            max_pending_writes: 4_096,
            max_early_updates: 256,
            max_backlog_updates: 1_024,
            max_dedupe_origins: 64,
            max_dedupe_window: 4_096 + 1_024,
        }
    }
}
