//! Deterministic RTMP Remote SharedObject engine (manual below, to be written).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod context;
mod delivery;
mod engine;
mod error;
mod hooks;
mod io;
pub mod pattern;
mod state;
pub mod store;
mod types;
mod values;

pub use config::{EngineConfig, EngineLimits};
pub use context::{Context, Server, ServerApi, SoRef, View};
pub use delivery::Body;
pub use engine::Engine;
pub use error::EngineMisuse;
pub use hooks::{
    Application, CallRequest, MethodHandler, Retention, SendHandler, SharedObjectListener,
    SharedObjectSecurity, SoFactory, SoSetup, status_object,
};
pub use io::{Input, Output, ServerOp, Snapshot};
pub use types::{CallId, ClientId, Origin, ScopePath, SoKey, Tick};

/// The STATUS codes the engine sends in SharedObject messages.
pub mod status {
    /// USE denied by a security check.
    pub const NO_READ_ACCESS: &str = "SharedObject.NoReadAccess";
    /// Write, delete or send denied by a security check.
    pub const NO_WRITE_ACCESS: &str = "SharedObject.NoWriteAccess";
    /// Creation denied, or impossible (name too long, too many SOs in the scope).
    pub const CREATION_FAILED: &str = "SharedObject.ObjectCreationFailed";
    /// The USE asked for the other persistence than the SO has.
    pub const BAD_PERSISTENCE: &str = "SharedObject.BadPersistence";
    /// A message for an SO the connection has not used (AMS's code).
    pub const NO_OBJECT_FOUND: &str = "SharedObject.NoObjectFound";
    /// A message, key, value or SO over a configured limit.
    pub const LIMIT_EXCEEDED: &str = "SharedObject.LimitExceeded";
    /// The server destroyed the SO (level `status`, after a CLEAR).
    pub const OBJECT_DESTROYED: &str = "SharedObject.ObjectDestroyed";
}
