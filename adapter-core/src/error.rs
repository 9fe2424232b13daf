//! Why a server could not start or stopped early.

use so_engine::store::StoreError;

/// Why a server could not start (or a socket operation failed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The store could not be loaded.
    #[error("cannot load the store: {0}")]
    Store(#[from] StoreError),
    /// The engine thread stopped: before it was ready, or while serving
    /// (a panic in server code).
    #[error("the engine thread stopped")]
    EngineGone,
    /// The TLS certificate or key could not be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// Cluster mode: Redis could not be reached at start (the message
    /// names the URL, without its password, and the error).
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    /// A system call failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
