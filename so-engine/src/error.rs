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
    /// A hook panicked. The engine caught it, dropped what the hook had
    /// queued, failed the request the way its kind fails, and carried on.
    #[error("{0}")]
    HookPanicked(Box<HookPanic>),
    /// `lock` on an SO whose lock is already held (see
    /// [`ServerOp::Lock`](crate::ServerOp::Lock)): locks do not nest.
    #[error("shared object {0} is already locked")]
    AlreadyLocked(SoKey),
    /// `unlock` on an SO that is not locked.
    #[error("shared object {0} is not locked")]
    NotLocked(SoKey),
    /// A server operation that needs a running scope (or a connected client)
    /// named one that is being stopped or is gone.
    #[error("scope {0} is stopping")]
    ScopeStopping(ScopePath),
}

/// Where a hook panicked: which hook, and the scope, SO and client of the
/// request it was handling (those that apply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookPanic {
    /// The hook: `app_connect`, `on_update`, `is_write_allowed`, `factory`, ...
    pub hook: &'static str,
    /// The scope involved.
    pub scope: Option<ScopePath>,
    /// The SO involved.
    pub so: Option<SoKey>,
    /// The client whose request it was.
    pub client: Option<ClientId>,
    /// The panic's message (its payload, if it was a string).
    pub message: String,
}

impl std::fmt::Display for HookPanic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "hook {} panicked", self.hook)?;
        if let Some(so) = &self.so {
            write!(f, " on {so}")?;
        } else if let Some(scope) = &self.scope {
            write!(f, " in {scope}")?;
        }
        if let Some(client) = self.client {
            write!(f, " for {client}")?;
        }
        write!(f, ": {}", self.message)
    }
}
