//! Revoked token ids, kept until the token would have expired anyway.
//!
//! In memory (moka) here; `state::sqlite` keeps them on disk behind the same trait,
//! with this in-memory copy in front so the hot path never touches the disk.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::Expiry;
use vaultgate_shared::jwt::now_secs;

use crate::state::StateError;

/// Where revoked `jti`s live.
#[async_trait]
pub trait Revocations: Send + Sync {
    /// Marks `jti` revoked until `until` (Unix seconds).
    async fn revoke(&self, jti: &str, until: u64) -> Result<(), StateError>;
    /// True when `jti` has been revoked and is not yet past its expiry.
    async fn is_revoked(&self, jti: &str) -> bool;
}

struct UntilExpiry;

impl Expiry<String, u64> for UntilExpiry {
    fn expire_after_create(&self, _key: &String, until: &u64, _now: Instant) -> Option<Duration> {
        // Keep the entry past the token's expiry plus leeway, so a token in its leeway stays refused.
        Some(Duration::from_secs(
            until.saturating_sub(now_secs()) + super::jwt::LEEWAY_SECS + 1,
        ))
    }
}

/// The in-memory store.
pub struct MemoryRevocations {
    cache: moka::sync::Cache<String, u64>,
}

impl MemoryRevocations {
    /// Records a revocation in memory only (the durable stores call this after writing it down).
    pub fn remember(&self, jti: &str, until: u64) {
        self.cache.insert(jti.to_owned(), until);
    }

    /// An empty store.
    pub fn new() -> Self {
        Self {
            cache: moka::sync::Cache::builder().expire_after(UntilExpiry).build(),
        }
    }
}

impl Default for MemoryRevocations {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Revocations for MemoryRevocations {
    async fn revoke(&self, jti: &str, until: u64) -> Result<(), StateError> {
        self.remember(jti, until);
        Ok(())
    }

    async fn is_revoked(&self, jti: &str) -> bool {
        self.cache.contains_key(jti)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn revoke_and_check() {
        let r = MemoryRevocations::new();
        assert!(!r.is_revoked("a").await);
        r.revoke("a", now_secs() + 60).await.unwrap();
        assert!(r.is_revoked("a").await);
        assert!(!r.is_revoked("b").await);
    }
}
