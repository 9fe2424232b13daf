//! The one error the engine returns: the caller's (or server code's) misuse.
//!
//! Peers never cause an `Err`: a client's bad request becomes a STATUS
//! message or a rejection in the outputs.

use crate::types::{ClientId, ScopePath, SoKey, Tick};

/// The caller, or server code through a hook, asked for something impossible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineMisuse {
    /// `now` was earlier than the previous input's.
    #[error("time went backwards: {now} after {last}")]
    TimeWentBackwards {
        /// The previous input's time.
        last: Tick,
        /// This input's time.
        now: Tick,
    },
    /// A client id the engine does not know (never connected, or already left).
    #[error("unknown {0}")]
    UnknownClient(ClientId),
    /// A client id that is already connected.
    #[error("{0} is already connected")]
    DuplicateClient(ClientId),
    /// A scope path that is empty or contains `.`, `..` or NUL.
    #[error("invalid scope path")]
    InvalidScopePath,
    /// A scope that is not running (no client is in it or below it).
    #[error("scope {0} is not running")]
    NoSuchScope(ScopePath),
    /// An SO that does not exist.
    #[error("no shared object {0}")]
    NoSuchSharedObject(SoKey),
    /// A restored snapshot for an SO that is already live.
    #[error("shared object {0} is live; restore snapshots before serving them")]
    AlreadyLive(SoKey),
    /// An SO exists (or its factory builds it) with the other persistence.
    #[error("shared object {0} exists with the other persistence")]
    BadPersistence(SoKey),
    /// `end_update` without a matching `begin_update`.
    #[error("end_update on {0} without begin_update")]
    UnbalancedEndUpdate(SoKey),
    /// `release` on an SO that is not acquired.
    #[error("release on {0}, which is not acquired")]
    NotAcquired(SoKey),
    /// A name or key longer than the configured limit, or an SO over its
    /// attribute or per-scope limit.
    #[error("{what} exceeds the configured limit of {max}")]
    LimitExceeded {
        /// Which limit.
        what: &'static str,
        /// Its configured maximum.
        max: u64,
    },
    /// Server code queued changes that trigger more changes without end
    /// (past the hook depth or the per-input operation limit).
    #[error("hooks queued too many changes ({0})")]
    HookOverflow(&'static str),
}
