//! Where the gateway's state lives: sessions and revoked token ids. `memory` (moka)
//! for tests and throwaway runs; `sqlite` (the default) keeps both on disk so that a
//! revoked token stays revoked and a session survives a restart, with the in-memory
//! stores in front as the read path.

pub mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use crate::auth::revocation::{MemoryRevocations, Revocations};
use crate::sessions::{MemorySessions, SessionStore};

/// A failure of a state store itself (not of the session or token it was asked about).
#[derive(Debug, thiserror::Error)]
#[error("state store {backend} failed during {op}: {message}")]
pub struct StateError {
    pub backend: &'static str,
    pub op: &'static str,
    pub message: String,
}

/// Which store, with its parameters.
#[derive(Debug, Clone)]
pub enum StateConfig {
    Memory,
    Sqlite(std::path::PathBuf),
}

/// Session limits every store enforces.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    pub idle: Duration,
    pub max: Duration,
    pub per_user: usize,
}

/// The opened stores.
pub struct Stores {
    pub sessions: Arc<dyn SessionStore>,
    pub revocations: Arc<dyn Revocations>,
    /// The `backend` label of `vaultgate_gateway_state_errors_total`.
    pub name: &'static str,
}

/// Opens the configured store (creating the SQLite file and its folder when needed).
pub fn open(config: &StateConfig, limits: SessionLimits) -> Result<Stores, StateError> {
    Ok(match config {
        StateConfig::Memory => Stores {
            sessions: Arc::new(MemorySessions::new(limits.idle, limits.max, limits.per_user)),
            revocations: Arc::new(MemoryRevocations::new()),
            name: "memory",
        },
        StateConfig::Sqlite(path) => {
            let (sessions, revocations) = sqlite::open(path, limits)?;
            Stores {
                sessions: Arc::new(sessions),
                revocations: Arc::new(revocations),
                name: "sqlite",
            }
        }
    })
}
