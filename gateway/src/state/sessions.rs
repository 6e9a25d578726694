//! The session store's interface: what every store (memory, SQLite, Redis) answers about
//! legacy MCP sessions. `sessions/` holds what the protocol means; this is only where they live.

use async_trait::async_trait;
use vaultgate_shared::UserId;

use super::StateError;

/// What a session id turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Live, owned by this user (and now touched).
    Live(UserId),
    /// Existed, but idled out, outlived its lifetime, or was evicted.
    Expired,
    /// Never issued here (or forgotten long ago).
    Unknown,
}

/// Where sessions live. Small and async so that a shared store (Redis) fits behind it.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Starts a session for `user`, evicting their oldest beyond the per-user cap; returns its id.
    async fn create(&self, user: &UserId) -> Result<String, StateError>;
    /// Resolves `id`, refreshing its idle timer when live.
    async fn lookup(&self, id: &str) -> Result<Lookup, StateError>;
    /// Ends one session; true when it was live.
    async fn end(&self, id: &str) -> Result<bool, StateError>;
    /// Ends every session of `user` (logout); returns how many.
    async fn end_user(&self, user: &UserId) -> Result<usize, StateError>;
    /// `user`'s live sessions, oldest first (for the `sessions` operator command).
    async fn list(&self, user: &UserId) -> Result<Vec<SessionInfo>, StateError>;
    /// Live sessions, approximately (for the gauge).
    fn active(&self) -> u64;
    /// Which store this is (`memory`, `sqlite`, `redis`), as `/readyz` reports it.
    fn store(&self) -> &'static str {
        super::StateBackend::Memory.into()
    }
    /// Whether the store answers a trivial request now (for `/readyz`).
    async fn health(&self) -> Result<(), StateError> {
        Ok(())
    }
}

/// One live session, as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionInfo {
    pub id: String,
    /// When it started (Unix seconds).
    pub created: u64,
}
