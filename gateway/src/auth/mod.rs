//! Who is calling: the one place that turns a request's credential into a user.

pub mod allow;
pub mod bearer;
pub mod hf;
pub mod jwt;
pub mod revocation;

use std::sync::Arc;

use pingora::http::RequestHeader;
use vaultgate_shared::UserId;
use vaultgate_shared::jwt::JwtError;

use self::allow::{Account, AllowList};
use self::bearer::{BearerError, Credential};
use self::hf::{HfError, HfTokens};
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
    /// When the token was issued (Unix seconds; for a Hugging Face token, when it was checked).
    pub issued_at: u64,
    /// Whether the token came from the cookie (browser) or a header.
    pub from_cookie: bool,
    /// The display name the token carries, if any.
    pub name: Option<String>,
    /// Which kind of token authenticated the request.
    pub kind: TokenKind,
}

/// The kinds of bearer token the gateway accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A gateway JWT (minted by this gateway).
    Gateway,
    /// A Hugging Face access token, checked with Hugging Face.
    HuggingFace,
    /// No credential, on a loopback-only test gateway with LOCAL_AUTH_USER set.
    Local,
}

/// How long a logout keeps a Hugging Face token refused (the gateway cannot revoke it at the source).
const HF_REVOKE_SECS: u64 = 30 * 86_400;

/// The reason (and error code) of a 503 when the state store cannot answer.
pub const STATE_UNAVAILABLE: &str = "state_unavailable";

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

impl From<HfError> for AuthFailure {
    fn from(e: HfError) -> Self {
        match e {
            HfError::Rejected => Self {
                status: 401,
                reason: "hf_rejected",
                description: e.to_string(),
            },
            HfError::Unavailable => Self {
                status: 503,
                reason: "hf_unavailable",
                description: e.to_string(),
            },
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

/// Token keys, the Hugging Face checker and revocations: everything needed to decide
/// who a request belongs to.
pub struct Authenticator {
    pub keys: TokenKeys,
    pub hf: HfTokens,
    pub revocations: Arc<dyn Revocations>,
    /// `ALLOWED_USERS` / `ALLOWED_ORGS`, applied to Hugging Face tokens as at sign-in.
    pub allow: AllowList,
    /// `HF_TOKENS=oauth`: only tokens a person granted a client by signing in, not personal access tokens.
    pub hf_oauth_only: bool,
    /// LOCAL_AUTH_USER: who a request without any credential acts as. Only ever set when the
    /// configuration proved the listener is loopback-only in MODE=local (see `config.rs`).
    pub local_user: Option<UserId>,
}

impl Authenticator {
    /// Authenticates `req`; the cookie counts only when `allow_cookie` (web routes).
    pub async fn authenticate(&self, req: &RequestHeader, allow_cookie: bool) -> Result<Principal, AuthFailure> {
        let credential = match (bearer::extract(req, allow_cookie), &self.local_user) {
            (Ok(c), _) => c,
            // Only a missing credential falls back; a wrong or malformed one is still refused.
            (Err(BearerError::Missing), Some(user)) => return Ok(Self::local_principal(user)),
            (Err(e), _) => return Err(e.into()),
        };
        self.check_token(credential).await
    }

    fn local_principal(user: &UserId) -> Principal {
        Principal {
            user: user.clone(),
            jti: format!("local-{user}"),
            // No token was issued, so a user revocation has nothing to cut off (as for HF tokens).
            issued_at: u64::MAX,
            expires_at: vaultgate_shared::jwt::now_secs() + 3600,
            from_cookie: false,
            name: None,
            kind: TokenKind::Local,
        }
    }

    /// Verifies one credential's token and its revocation.
    pub async fn check_token(&self, credential: Credential<'_>) -> Result<Principal, AuthFailure> {
        let token = credential.token();
        let from_cookie = matches!(credential, Credential::Cookie(_));
        let principal = if HfTokens::recognises(token) {
            if self.hf_oauth_only && !HfTokens::is_oauth(token) {
                // 401 (not 403) so an OAuth-capable client signs in and comes back with an OAuth token.
                return Err(AuthFailure {
                    status: 401,
                    reason: "hf_rejected",
                    description: "Hugging Face personal access tokens are not accepted here; connect with OAuth".into(),
                });
            }
            let user = self.hf.verify(token).await?;
            let account = Account {
                id: user.id.as_str(),
                username: user.name.as_deref(),
                orgs: &user.orgs,
            };
            if !self.allow.permits(account) {
                return Err(AuthFailure {
                    status: 403,
                    reason: "not_allowed",
                    description: "this Hugging Face account is not allowed on this gateway".into(),
                });
            }
            let fp = HfTokens::fingerprint(token);
            Principal {
                user: user.id,
                jti: format!("hf-{}", hex::encode(&fp[..16])),
                expires_at: vaultgate_shared::jwt::now_secs() + HF_REVOKE_SECS,
                // Hugging Face tokens are Hugging Face's to revoke: a user revocation here
                // covers the gateway tokens minted before it, not the HF token itself.
                issued_at: u64::MAX,
                from_cookie,
                name: user.name,
                kind: TokenKind::HuggingFace,
            }
        } else {
            let verified = self.keys.verify(token)?;
            Principal {
                user: verified.user,
                jti: verified.jti,
                expires_at: verified.expires_at,
                issued_at: verified.issued_at,
                from_cookie,
                name: verified.name,
                kind: TokenKind::Gateway,
            }
        };
        match self
            .revocations
            .is_revoked(&principal.jti, &principal.user, principal.issued_at)
            .await
        {
            Ok(false) => Ok(principal),
            Ok(true) => Err(AuthFailure {
                status: 401,
                reason: "revoked",
                description: "token has been revoked".into(),
            }),
            // Fail closed: a token whose revocation cannot be checked is not accepted.
            Err(_) => Err(AuthFailure {
                status: 503,
                reason: STATE_UNAVAILABLE,
                description: "the gateway's state store is unavailable; retry shortly".into(),
            }),
        }
    }
}
