//! The revocation store's interface: revoked token ids, kept until the token would have
//! expired anyway, and per-user revocation instants.

use std::time::Duration;

use async_trait::async_trait;
use vaultgate_shared::UserId;

use super::StateError;

/// Where revoked `jti`s live.
#[async_trait]
pub trait Revocations: Send + Sync {
    /// Marks `jti` revoked until `until` (Unix seconds).
    async fn revoke(&self, jti: &str, until: u64) -> Result<(), StateError>;
    /// Refuses every token of `user` issued at or before `at` (Unix seconds).
    async fn revoke_user(&self, user: &UserId, at: u64) -> Result<(), StateError>;
    /// True when `jti` was revoked (and is not yet past its expiry), or `user` was revoked at
    /// or after `issued_at`. An `Err` means the store could not tell: callers fail closed.
    async fn is_revoked(&self, jti: &str, user: &UserId, issued_at: u64) -> Result<bool, StateError>;
}

/// How long a user revocation is kept: longer than any token's lifetime (TOKEN_TTL is 7 days
/// by default), and bounded so that revoked users do not accumulate for ever.
pub const USER_REVOCATION_KEEP: Duration = Duration::from_secs(400 * 86_400);

/// How long past its token's expiry a revoked `jti` is kept, so that a token still inside the
/// verifier's leeway stays refused. `auth::jwt` asserts at compile time that this covers its
/// `LEEWAY_SECS` (the store does not depend on the verifier).
pub const KEEP_PAST_EXPIRY_SECS: u64 = 60;
