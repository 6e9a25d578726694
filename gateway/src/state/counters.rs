//! The shared rate-limit counters' interface: GCRA buckets kept outside this process (Redis),
//! so every gateway replica draws on the same bucket. `ratelimit.rs` decides what the limits are.

use std::time::Duration;

use async_trait::async_trait;

use super::StateError;

/// GCRA buckets kept outside this process, shared by every gateway replica.
#[async_trait]
pub trait SharedCounters: Send + Sync {
    /// Takes one request from bucket `key` (`per_minute` steady, `burst` at once): `None` when
    /// allowed, else how long until the next request would be.
    async fn take(&self, key: &str, per_minute: u32, burst: u32) -> Result<Option<Duration>, StateError>;
}
