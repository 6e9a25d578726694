//! Where the gateway's state lives: sessions, revoked token ids and (for several replicas)
//! rate-limit counters. `memory` (moka) for tests and throwaway runs; `sqlite` (the default)
//! keeps sessions and revocations on disk so that a revoked token stays revoked and a session
//! survives a restart, with the in-memory stores in front as the read path; `redis` shares
//! all three between gateway replicas.

pub mod counters;
pub mod memory;
pub mod migrations;
pub mod redis;
pub mod revocations;
pub mod sessions;
pub mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use prometheus::IntCounterVec;
use vaultgate_shared::config::Secret;

use self::counters::SharedCounters;
use self::memory::{MemoryRevocations, MemorySessions};
use self::revocations::Revocations;
use self::sessions::SessionStore;

/// A failure of a state store itself (not of the session or token it was asked about).
#[derive(Debug, thiserror::Error)]
#[error("state store {backend} failed during {op}: {message}")]
pub struct StateError {
    pub backend: StateBackend,
    pub op: StateOp,
    pub message: String,
}

/// Which store: the `backend` label of `vaultgate_gateway_state_errors_total`, the `store` that
/// `/readyz` reports, and the name in errors and operator messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::IntoStaticStr, strum::AsRefStr, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum StateBackend {
    Memory,
    Sqlite,
    Redis,
}

/// What a store was doing when it failed: the `op` label of
/// `vaultgate_gateway_state_errors_total` and the word in `StateError`'s message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::IntoStaticStr, strum::AsRefStr, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum StateOp {
    Create,
    Lookup,
    End,
    EndUser,
    Revoke,
    Touch,
    RevokeUser,
    RevocationCheck,
    RateLimit,
    List,
    Watch,
    Health,
    /// Opening the store at start: refused there and then, never counted.
    Open,
}

impl StateOp {
    /// Whether a failure of this operation is counted (all but `open`, which stops the start).
    pub fn is_counted(self) -> bool {
        self != StateOp::Open
    }
}

/// Which store, with its parameters.
#[derive(Debug, Clone)]
pub enum StateConfig {
    Memory,
    Sqlite(std::path::PathBuf),
    Redis {
        url: Secret,
        /// The longest any one state operation may take, connecting included.
        timeout: Duration,
    },
}

impl StateConfig {
    /// The `backend` label of `vaultgate_gateway_state_errors_total`.
    pub fn name(&self) -> StateBackend {
        match self {
            StateConfig::Memory => StateBackend::Memory,
            StateConfig::Sqlite(_) => StateBackend::Sqlite,
            StateConfig::Redis { .. } => StateBackend::Redis,
        }
    }
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
    /// Rate-limit counters shared between replicas (Redis only; otherwise each process limits alone).
    pub counters: Option<Arc<dyn SharedCounters>>,
    /// The `backend` label of `vaultgate_gateway_state_errors_total`.
    pub name: StateBackend,
}

/// Counts a store failure under `vaultgate_gateway_state_errors_total{backend,op}` (when a
/// counter was given) and passes it on: every failure is counted once, where it happens.
#[derive(Clone, Default)]
pub struct ErrorCount(Option<IntCounterVec>);

impl ErrorCount {
    /// Counts into `counter` (the gateway's `state_errors`).
    pub fn new(counter: IntCounterVec) -> Self {
        Self(Some(counter))
    }

    /// Counts `e` and returns it.
    pub fn count(&self, e: StateError) -> StateError {
        if let Some(c) = &self.0 {
            c.with_label_values(&[e.backend.as_ref(), e.op.as_ref()]).inc();
        }
        e
    }
}

/// Opens the configured store (creating the SQLite file and its folder when needed; a Redis
/// store connects lazily, so the gateway starts — and answers 503 — while Redis is down).
pub fn open(config: &StateConfig, limits: SessionLimits, errors: ErrorCount) -> Result<Stores, StateError> {
    Ok(match config {
        StateConfig::Memory => Stores {
            sessions: Arc::new(MemorySessions::new(limits.idle, limits.max, limits.per_user)),
            revocations: Arc::new(MemoryRevocations::new()),
            counters: None,
            name: StateBackend::Memory,
        },
        StateConfig::Sqlite(path) => {
            let (sessions, revocations) = sqlite::open(path, limits, errors)?;
            Stores {
                sessions: Arc::new(sessions),
                revocations: Arc::new(revocations),
                counters: None,
                name: StateBackend::Sqlite,
            }
        }
        StateConfig::Redis { url, timeout } => {
            let store = redis::RedisState::open(url, *timeout, limits, errors)?;
            Stores {
                sessions: store.clone(),
                revocations: store.clone(),
                counters: Some(store),
                name: StateBackend::Redis,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The dependency rule of docs/architecture.md: `sessions`, `auth` and `ratelimit` use
    /// `state`, never the reverse, so no file under `state/` names another gateway module.
    #[test]
    fn state_depends_on_no_other_gateway_module() {
        // Spelled in two halves so that this test does not find itself.
        const NEEDLE: &str = concat!("crate", "::");
        fn walk(dir: &Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("state/ is readable") {
                let path = entry.expect("a directory entry").path();
                if path.is_dir() {
                    walk(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).expect("a source file");
                    for (n, line) in text.lines().enumerate() {
                        let mut rest = line;
                        while let Some(at) = rest.find(NEEDLE) {
                            rest = &rest[at + NEEDLE.len()..];
                            if !rest.starts_with("state") {
                                found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                            }
                        }
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/state"), &mut found);
        assert!(found.is_empty(), "state/ reaches outside itself:\n{}", found.join("\n"));
    }
}
