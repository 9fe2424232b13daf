//! Engine configuration: timing defaults and the limits that bound memory.

/// How the engine behaves and what it allows. Start from [`Default`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// How long a transient SO a *client* created stays alive with no
    /// subscribers, in milliseconds. 0 (the default) destroys it at the end of
    /// the input that emptied it. Factories may set their own retention.
    pub default_linger_ms: u64,
    /// How long after the first unsaved change of a persistent SO the engine
    /// emits its [`Output::Persist`](crate::Output::Persist), in milliseconds.
    /// Changes in between are coalesced into one snapshot. 0 persists at the
    /// end of every input that changed it.
    pub persist_interval_ms: u64,
    /// Longest a server lock on an SO ([`ServerOp::Lock`](crate::ServerOp::Lock))
    /// may be held, in milliseconds; past it the engine releases it and emits
    /// [`Output::LockExpired`](crate::Output::LockExpired).
    pub max_lock_ms: u64,
    /// The limits.
    pub limits: EngineLimits,
    /// Cluster mode (see [`cluster`](crate::cluster)): clients' writes come
    /// out as [`Output::ClusterWrite`](crate::Output::ClusterWrite) instead
    /// of being applied here. Off by default.
    pub cluster: bool,
    /// Cluster mode: how long the USE answer of an SO's first subscriber on
    /// this process waits for the SO's state from the cluster
    /// ([`Input::ReplicaReset`](crate::Input::ReplicaReset),
    /// [`Input::ReplicaLoaded`](crate::Input::ReplicaLoaded) or
    /// [`Input::Owned`](crate::Input::Owned)), in milliseconds. Past it
    /// (Redis out of reach), the USE is answered with the SO as this process
    /// has it, and the state follows (CLEAR and every attribute) when it
    /// arrives.
    pub cluster_load_wait_ms: u64,
}

impl EngineConfig {
    /// Default persist interval: 500 ms, so that with the store's own write
    /// time a crash loses well under the contract's one second.
    pub const DEFAULT_PERSIST_INTERVAL_MS: u64 = 500;
    /// Default lock time limit: 10 s, far beyond any batch of changes, short
    /// enough that a forgotten unlock does not freeze an SO for its clients.
    pub const DEFAULT_MAX_LOCK_MS: u64 = 10_000;
    /// Default [`EngineConfig::cluster_load_wait_ms`]: 2 s, hundreds of
    /// Redis round trips.
    pub const DEFAULT_CLUSTER_LOAD_WAIT_MS: u64 = 2_000;
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            default_linger_ms: 0,
            persist_interval_ms: Self::DEFAULT_PERSIST_INTERVAL_MS,
            max_lock_ms: Self::DEFAULT_MAX_LOCK_MS,
            limits: EngineLimits::default(),
            cluster: false,
            cluster_load_wait_ms: Self::DEFAULT_CLUSTER_LOAD_WAIT_MS,
        }
    }
}

/// Limits on what clients (and server code) may build. A client that goes
/// past one gets a STATUS error and nothing changes; server code gets
/// [`EngineMisuse::LimitExceeded`](crate::EngineMisuse::LimitExceeded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineLimits {
    /// Most segments in a scope path (`app/room/sub` has 3).
    pub max_scope_depth: usize,
    /// Most bytes in one scope path.
    pub max_scope_path_bytes: usize,
    /// Most live SOs in one scope.
    pub max_shared_objects_per_scope: usize,
    /// Most attributes in one SO.
    pub max_attributes_per_so: usize,
    /// Most bytes in an SO name (the wire field holds at most 65,535, which
    /// caps any larger setting).
    pub max_name_bytes: usize,
    /// Most bytes in an attribute key or a send handler name (capped at 65,535
    /// like names).
    pub max_key_bytes: usize,
    /// Most bytes one value may take on the wire (an upper bound of its
    /// encoding, in either AMF version).
    pub max_value_bytes: usize,
    /// Most bytes the attributes of one SO may take on the wire (the CHANGE
    /// events of a USE reply), so that any SO's full state fits one message.
    pub max_so_bytes: usize,
    /// Most bytes one client message may make the engine send, to the
    /// writer and to each other subscriber: one small message can never be
    /// amplified into a huge answer (a thousand USEs of a full SO, a
    /// thousand writes of a large value). Past it, the rest of the message
    /// is refused and the writer gets its SO's full state again.
    pub max_update_bytes: usize,
    /// Most events in one client SharedObject message.
    pub max_events_per_message: usize,
    /// Most server calls a client may have outstanding; more fail at once.
    pub max_pending_calls_per_client: usize,
    /// Deepest nesting of hooks triggering hooks through queued changes.
    pub max_hook_depth: usize,
    /// Most queued server operations one input may run, all hooks together.
    pub max_hook_ops_per_input: usize,
    /// Most bytes of client messages held for one locked SO (an upper bound
    /// of their wire size); past it a writer's message is refused with
    /// STATUS `SharedObject.LimitExceeded` and the authoritative values.
    pub max_held_bytes_per_so: usize,
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            max_scope_depth: 8,
            max_scope_path_bytes: 1024,
            max_shared_objects_per_scope: 1024,
            max_attributes_per_so: 4096,
            max_name_bytes: 1024,
            max_key_bytes: 1024,
            // The contract's "a 1 MB value is accepted", with room for overhead.
            max_value_bytes: 4 << 20,
            max_so_bytes: 8 << 20,
            // Below the 16 MiB an RTMP message can carry, with room for the
            // envelope: every message the engine builds from a client's fits.
            max_update_bytes: 15 << 20,
            max_events_per_message: 1024,
            max_pending_calls_per_client: 64,
            max_hook_depth: 32,
            max_hook_ops_per_input: 100_000,
            max_held_bytes_per_so: 4 << 20,
        }
    }
}

impl EngineLimits {
    /// The name limit, capped by the u16 length field.
    pub(crate) fn name_bytes(&self) -> usize {
        self.max_name_bytes.min(usize::from(u16::MAX))
    }

    /// The key limit, capped by the u16 length field.
    pub(crate) fn key_bytes(&self) -> usize {
        self.max_key_bytes.min(usize::from(u16::MAX))
    }
}
