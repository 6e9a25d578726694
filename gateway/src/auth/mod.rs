//! Who is calling: the one place that turns a request's credential into a user.

pub mod bearer;
pub mod jwt;
pub mod revocation;

use std::sync::Arc;

use pingora::http::RequestHeader;
use vaultgate_shared::UserId;
use vaultgate_shared::jwt::JwtError;

use self::bearer::{BearerError, Credential};
use self::jwt::TokenKeys;
use self::revocation::Revocations;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: UserId,
    /// The token's id, for logout/revocation.
    pub jti: String,
    /// When the token expires (Unix seconds).
    pub expires_at: u64,
    /// Whether the token came from the cookie (browser) or a header.
    pub from_cookie: bool,
    /// The display name the token carries, if any.
    pub name: Option<String>,
}

/// A refused credential: status, metric reason, and a description safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure {
    pub status: u16,
    pub reason: &'static str,
    pub description: String,
}

impl From<BearerError> for AuthFailure {
    fn from(e: BearerError) -> Self {
        Self {
            status: e.status(),
            reason: e.reason(),
            description: e.to_string(),
        }
    }
}

impl From<JwtError> for AuthFailure {
    fn from(e: JwtError) -> Self {
        Self {
            status: 401,
            reason: e.reason(),
            description: e.to_string(),
        }
    }
}

/// Token keys plus revocations: everything needed to decide who a request belongs to.
pub struct Authenticator {
    pub keys: TokenKeys,
    pub revocations: Arc<dyn Revocations>,
}

impl Authenticator {
    /// Authenticates `req`; the cookie counts only when `allow_cookie` (web routes).
    pub async fn authenticate(&self, req: &RequestHeader, allow_cookie: bool) -> Result<Principal, AuthFailure> {
        let credential = bearer::extract(req, allow_cookie)?;
        self.check_token(credential).await
    }

    /// Verifies one credential's token and its revocation.
    pub async fn check_token(&self, credential: Credential<'_>) -> Result<Principal, AuthFailure> {
        let verified = self.keys.verify(credential.token())?;
        if self.revocations.is_revoked(&verified.jti).await {
            return Err(AuthFailure {
                status: 401,
                reason: "revoked",
                description: "token has been revoked".into(),
            });
        }
        Ok(Principal {
            user: verified.user,
            jti: verified.jti,
            expires_at: verified.expires_at,
            from_cookie: matches!(credential, Credential::Cookie(_)),
            name: verified.name,
        })
    }
}
