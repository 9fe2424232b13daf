//! Persistent SharedObjects: the snapshot format, the [`Store`] trait,
//! write-behind batching, and a store's contents as text. Sans-IO: the
//! stores that touch a disk live outside this crate (the embedded default
//! is the `so-store` crate's SQLite store).
//!
//! The engine says *what* to store ([`Output::Persist`],
//! [`Output::DeletePersisted`]) and restores what was stored
//! ([`Input::Restored`]); this module says *how*:
//!
//! - [`format`](mod@format): one SO per blob, a magic, a format version,
//!   the SO's key and version, the values in AMF3 (every [`rtmp_proto::amf::Value`] type,
//!   AMF3-only ones included), and a CRC-32. A store keeps these blobs.
//! - [`Store`]: load everything, apply a batch of saves and deletes (one
//!   transaction where the backend has them). Backends: [`MemoryStore`]
//!   (tests), the SQLite store, and others later (Redis) behind the same
//!   trait.
//! - [`WriteBehind`]: coalesces persist/delete outputs per SO and says when
//!   each is due, so a hot SO is written at most once per interval and
//!   never starved; a failed flush is retried after an exponential
//!   [`RetryBackoff`]. Sans-IO: time is an argument, the engine's [`Tick`].
//! - [`dump()`]: a load's result as text, for people.
//!
//! # Wiring it up (what an adapter does)
//!
//! 1. Before accepting connections: `store.load_all()`, log every
//!    [`SetAside`] entry, and apply [`LoadReport::take_restore_inputs`] to
//!    the engine.
//! 2. Route the engine's persist/delete outputs into a [`WriteBehind`]
//!    ([`WriteBehind::offer`] takes any output and hands back the others).
//! 3. Wake up at [`WriteBehind::next_deadline`], take
//!    [`WriteBehind::due`] and run the ops as one batch on a blocking
//!    thread ([`Store::apply_batch`]); a batch that failed goes back with
//!    [`WriteBehind::batch_failed`], which starts the backoff. Keep one
//!    batch in flight at a time, so that an SO's older op never lands
//!    after a newer one; what arrives meanwhile coalesces in the
//!    write-behind.
//! 4. On a graceful shutdown: `Input::Shutdown` to the engine, its outputs
//!    into the write-behind, then [`WriteBehind::drain_all`] to the store.
//!
//! # Two intervals, and what a crash loses
//!
//! The engine coalesces too (`EngineConfig::persist_interval_ms`, default
//! 500 ms): it snapshots a changed SO once per interval, not once per
//! change, which saves cloning a large hot SO on every write. The delays
//! add up, so keep the sum within the contract's one second. The
//! cheapest setup keeps the engine's interval and runs
//! `WriteBehind::new(Duration::ZERO)`: the write-behind then only merges
//! ops that arrive while the previous batch is still being written. With
//! the engine's interval at 0, [`DEFAULT_FLUSH_INTERVAL`] here batches
//! instead. Either way a crash loses at most the changes of the last
//! interval plus the batch in flight (a transaction: all of it or none).
//!
//! [`Output::Persist`]: crate::Output::Persist
//! [`Output::DeletePersisted`]: crate::Output::DeletePersisted
//! [`Input::Restored`]: crate::Input::Restored
//! [`Tick`]: crate::Tick

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;

use crate::io::{Input, Snapshot};
use crate::types::SoKey;

mod dump;
pub mod format;
mod write_behind;

pub use dump::{ValueText, dump};
pub use format::{SnapshotError, decode_snapshot, encode_snapshot};
pub use write_behind::{DEFAULT_FLUSH_INTERVAL, FailedBatch, RetryBackoff, StoreOp, WriteBehind};

/// Where persistent SOs live between runs. Implementations do blocking I/O:
/// adapters call them off their event loop.
pub trait Store {
    /// Every stored snapshot, plus the entries that could not be read, which
    /// were set aside (kept, never deleted) and are reported for the log.
    /// An error here (the store cannot be opened) stops the server at
    /// start: serving without the stored data would overwrite it later.
    fn load_all(&mut self) -> Result<LoadReport, StoreError>;

    /// Stores `snapshot` as the data of `so`, replacing what was there.
    /// When it returns `Ok`, the data survives a crash.
    fn save(&mut self, so: &SoKey, snapshot: &Snapshot) -> Result<(), StoreError>;

    /// Removes the data of `so`; nothing stored is fine.
    fn delete(&mut self, so: &SoKey) -> Result<(), StoreError>;

    /// Carries out `ops` in order, as one flush. A store that can (the
    /// SQLite store) makes it one transaction: all of them or none, with
    /// one sync to disk. This default applies them one by one and stops at
    /// the first error.
    fn apply_batch(&mut self, ops: &[StoreOp]) -> Result<(), StoreError> {
        ops.iter().try_for_each(|op| op.apply(self))
    }
}

/// What [`Store::load_all`] found.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// The readable snapshots, sorted by key, one per SO.
    pub snapshots: Vec<(SoKey, Snapshot)>,
    /// The entries that could not be used, each with its reason.
    pub set_aside: Vec<SetAside>,
}

impl LoadReport {
    /// Takes the snapshots as [`Input::Restored`] inputs for the engine,
    /// leaving the problems for the log.
    pub fn take_restore_inputs(&mut self) -> Vec<Input> {
        std::mem::take(&mut self.snapshots)
            .into_iter()
            .map(|(so, snapshot)| Input::Restored { so, snapshot })
            .collect()
    }
}

/// One stored entry that could not be used.
#[derive(Debug)]
pub struct SetAside {
    /// Which entry it was (for the SQLite store: its scope and SO name).
    pub location: String,
    /// Where it is now, if it was moved out of the way; `None` when it
    /// stayed (a read-only inspection, or the move failed).
    pub moved_to: Option<String>,
    /// Why it was not used.
    pub reason: StoreError,
}

impl fmt::Display for SetAside {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.reason)?;
        if let Some(to) = &self.moved_to {
            write!(f, " (moved to {to})")?;
        }
        Ok(())
    }
}

/// Why a store operation failed, or why an entry was set aside.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The stored bytes are not a readable snapshot.
    #[error("unreadable snapshot: {0}")]
    Corrupt(#[from] SnapshotError),
    /// The entry is larger than the store reads.
    #[error("{size} bytes, over the limit of {max}")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The configured maximum.
        max: u64,
    },
    /// Another entry holds the same SO and was preferred (it sits where the
    /// SO belongs, or has a higher version).
    #[error("duplicate of {0}, which is stored elsewhere too")]
    Duplicate(SoKey),
    /// Another backend's error.
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

/// A [`Store`] in memory, for tests: it keeps the encoded bytes, so what
/// comes back went through the format like any real store's data.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    entries: BTreeMap<SoKey, Vec<u8>>,
    set_aside: Vec<(SoKey, Vec<u8>)>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many SOs are stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no SO is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The stored bytes of `so`.
    pub fn raw(&self, so: &SoKey) -> Option<&[u8]> {
        self.entries.get(so).map(Vec::as_slice)
    }

    /// Stores raw bytes under `so`, as a damaged backend might hold them.
    pub fn insert_raw(&mut self, so: SoKey, bytes: Vec<u8>) {
        self.entries.insert(so, bytes);
    }

    /// The entries [`Store::load_all`] set aside, with their bytes.
    pub fn set_aside(&self) -> &[(SoKey, Vec<u8>)] {
        &self.set_aside
    }

    fn put_aside(
        &mut self,
        report: &mut LoadReport,
        location: SoKey,
        bytes: Vec<u8>,
        reason: StoreError,
    ) {
        report.set_aside.push(SetAside {
            location: location.to_string(),
            moved_to: Some(format!("set-aside #{}", self.set_aside.len())),
            reason,
        });
        self.set_aside.push((location, bytes));
    }
}

impl Store for MemoryStore {
    fn load_all(&mut self) -> Result<LoadReport, StoreError> {
        let mut report = LoadReport::default();
        let mut loaded = BTreeMap::new();
        let mut misplaced = Vec::new();
        for (location, bytes) in std::mem::take(&mut self.entries) {
            match decode_snapshot(&bytes) {
                Ok((so, snapshot)) if so == location => {
                    loaded.insert(so, snapshot);
                    self.entries.insert(location, bytes);
                }
                Ok((so, snapshot)) => misplaced.push((location, so, snapshot, bytes)),
                Err(error) => self.put_aside(&mut report, location, bytes, error.into()),
            }
        }
        // An entry is loaded by the key inside it, and moved where that key
        // belongs unless an entry already sits there.
        for (location, so, snapshot, bytes) in misplaced {
            match loaded.entry(so) {
                Entry::Occupied(home) => {
                    let reason = StoreError::Duplicate(home.key().clone());
                    self.put_aside(&mut report, location, bytes, reason);
                }
                Entry::Vacant(home) => {
                    self.entries.insert(home.key().clone(), bytes);
                    home.insert(snapshot);
                }
            }
        }
        report.snapshots = loaded.into_iter().collect();
        Ok(report)
    }

    fn save(&mut self, so: &SoKey, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.entries
            .insert(so.clone(), encode_snapshot(so, snapshot));
        Ok(())
    }

    fn delete(&mut self, so: &SoKey) -> Result<(), StoreError> {
        self.entries.remove(so);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
