//! Revoked token ids in memory (moka), kept until the token would have expired anyway;
//! `state::sqlite` and `state::redis` keep them durably behind the same trait, with this
//! in-memory copy in front so the hot path never touches the disk.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::Expiry;
use vaultgate_shared::UserId;
use vaultgate_shared::jwt::now_secs;

use crate::state::StateError;
use crate::state::revocations::{KEEP_PAST_EXPIRY_SECS, Revocations, USER_REVOCATION_KEEP};

struct UntilExpiry;

impl Expiry<String, u64> for UntilExpiry {
    fn expire_after_create(&self, _key: &String, until: &u64, _now: Instant) -> Option<Duration> {
        // Keep the entry past the token's expiry plus leeway, so a token in its leeway stays refused.
        Some(Duration::from_secs(
            until.saturating_sub(now_secs()) + KEEP_PAST_EXPIRY_SECS + 1,
        ))
    }
}

/// The in-memory store.
pub struct MemoryRevocations {
    cache: moka::sync::Cache<String, u64>,
    users: moka::sync::Cache<UserId, u64>,
}

impl MemoryRevocations {
    /// Records a revocation in memory only (the durable stores call this after writing it down).
    pub fn remember(&self, jti: &str, until: u64) {
        self.cache.insert(jti.to_owned(), until);
    }

    /// Records a user revocation in memory only; a later instant wins over an earlier one.
    pub fn remember_user(&self, user: &UserId, at: u64) {
        let at = self.users.get(user).map_or(at, |old| old.max(at));
        self.users.insert(user.clone(), at);
    }

    /// Whether `jti` is known revoked here (no user check).
    pub fn has_jti(&self, jti: &str) -> bool {
        self.cache.contains_key(jti)
    }

    /// The synchronous form of `is_revoked`, for the stores that keep this copy in front.
    pub fn check(&self, jti: &str, user: &UserId, issued_at: u64) -> bool {
        self.cache.contains_key(jti) || self.users.get(user).is_some_and(|at| issued_at <= at)
    }

    /// An empty store.
    pub fn new() -> Self {
        Self {
            cache: moka::sync::Cache::builder().expire_after(UntilExpiry).build(),
            users: moka::sync::Cache::builder().time_to_live(USER_REVOCATION_KEEP).build(),
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

    async fn revoke_user(&self, user: &UserId, at: u64) -> Result<(), StateError> {
        self.remember_user(user, at);
        Ok(())
    }

    async fn is_revoked(&self, jti: &str, user: &UserId, issued_at: u64) -> Result<bool, StateError> {
        Ok(self.check(jti, user, issued_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn revoke_and_check() {
        let r = MemoryRevocations::new();
        let (alice, bob) = (UserId::parse("alice").unwrap(), UserId::parse("bob").unwrap());
        let now = now_secs();
        assert!(!r.is_revoked("a", &alice, now).await.unwrap());
        r.revoke("a", now + 60).await.unwrap();
        assert!(r.is_revoked("a", &alice, now).await.unwrap());
        assert!(!r.is_revoked("b", &alice, now).await.unwrap());
        r.revoke_user(&alice, now).await.unwrap();
        r.revoke_user(&alice, now - 100).await.unwrap(); // an older revocation does not shorten it
        assert!(
            r.is_revoked("b", &alice, now).await.unwrap(),
            "issued at the revocation"
        );
        assert!(!r.is_revoked("b", &alice, now + 1).await.unwrap(), "issued after it");
        assert!(!r.is_revoked("b", &bob, now).await.unwrap());
    }
}
