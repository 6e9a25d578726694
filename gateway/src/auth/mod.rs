//! Who is calling: the one place that turns a request's credential into a user.

pub mod allow;
pub mod bearer;
pub mod hf;
pub mod jwt;

use std::sync::Arc;

use subtle::ConstantTimeEq;

use pingora::http::RequestHeader;
use vaultgate_shared::UserId;
use vaultgate_shared::jwt::JwtError;

use self::allow::{Account, AllowList};
use self::bearer::{BearerError, Credential};
use self::hf::{HfError, HfTokens};
use self::jwt::{Lineage, TokenKeys};
use crate::client_ip::ClientAddr;
use crate::ratelimit::{Limited, RateLimiter};
use crate::state::revocations::Revocations;

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
    /// The sign-in this credential descends from, and its bounds: what a token minted from
    /// this one (refresh, exchange) inherits.
    pub lineage: Lineage,
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

/// How long a gateway token minted from a Hugging Face token may live at most (refreshes
/// included). Hugging Face's whoami does not say when a token expires, so a token made from
/// one gets this short bound; the client exchanges its Hugging Face token again after it.
pub const HF_DERIVED_MAX_SECS: u64 = 8 * 3600;

/// The reason (and error code) of a 503 when the state store cannot answer.
pub const STATE_UNAVAILABLE: &str = AuthReason::StateUnavailable.label();

/// Why a credential was refused: the `reason` label of `vaultgate_gateway_auth_failures_total`
/// and of the audit line (labels are a public interface: never renamed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthReason {
    Missing,
    Malformed,
    BadSignature,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    BadSubject,
    Revoked,
    HfRejected,
    TooLarge,
    NotAllowed,
    /// Hugging Face could not be asked (503, not counted as a failure).
    HfUnavailable,
    /// The state store could not be asked (503, not counted as a failure).
    StateUnavailable,
    /// Over the budget of remote token checks (429, counted as a rate limit).
    RateLimited,
}

impl AuthReason {
    /// Every reason, the counted ones first (in the order they are pre-registered).
    pub const ALL: [AuthReason; 15] = [
        AuthReason::Missing,
        AuthReason::Malformed,
        AuthReason::BadSignature,
        AuthReason::Expired,
        AuthReason::NotYetValid,
        AuthReason::WrongIssuer,
        AuthReason::WrongAudience,
        AuthReason::BadSubject,
        AuthReason::Revoked,
        AuthReason::HfRejected,
        AuthReason::TooLarge,
        AuthReason::NotAllowed,
        AuthReason::HfUnavailable,
        AuthReason::StateUnavailable,
        AuthReason::RateLimited,
    ];

    /// The metric and audit label.
    pub const fn label(self) -> &'static str {
        match self {
            AuthReason::Missing => "missing",
            AuthReason::Malformed => "malformed",
            AuthReason::BadSignature => "bad_signature",
            AuthReason::Expired => "expired",
            AuthReason::NotYetValid => "not_yet_valid",
            AuthReason::WrongIssuer => "wrong_issuer",
            AuthReason::WrongAudience => "wrong_audience",
            AuthReason::BadSubject => "bad_subject",
            AuthReason::Revoked => "revoked",
            AuthReason::HfRejected => "hf_rejected",
            AuthReason::TooLarge => "too_large",
            AuthReason::NotAllowed => "not_allowed",
            AuthReason::HfUnavailable => "hf_unavailable",
            AuthReason::StateUnavailable => "state_unavailable",
            AuthReason::RateLimited => "rate_limited",
        }
    }

    /// Whether a refusal for this reason counts in `vaultgate_gateway_auth_failures_total`
    /// (an unreachable provider is not the client's failure; a rate limit has its own counter).
    pub const fn counted(self) -> bool {
        !matches!(
            self,
            AuthReason::HfUnavailable | AuthReason::StateUnavailable | AuthReason::RateLimited
        )
    }

    fn of_jwt(e: &JwtError) -> Self {
        match e {
            JwtError::TooLarge => AuthReason::TooLarge,
            JwtError::Malformed | JwtError::MissingClaim(_) => AuthReason::Malformed,
            JwtError::AlgorithmNone | JwtError::WrongAlgorithm | JwtError::UnknownKey | JwtError::BadSignature => {
                AuthReason::BadSignature
            }
            JwtError::Expired => AuthReason::Expired,
            JwtError::NotYetValid => AuthReason::NotYetValid,
            JwtError::WrongIssuer => AuthReason::WrongIssuer,
            JwtError::WrongAudience => AuthReason::WrongAudience,
            JwtError::BadSubject => AuthReason::BadSubject,
        }
    }
}

/// A refused credential: status, metric reason, and a description safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure {
    pub status: u16,
    pub reason: AuthReason,
    pub description: String,
    /// For a 503: when to come back (`Retry-After`).
    pub retry_after: Option<u64>,
    /// The client is over its budget of remote token checks: answered 429, nothing was asked.
    pub limited: Option<Limited>,
}

impl AuthFailure {
    /// A refusal with `status`, metric `reason` and `description`.
    pub fn new(status: u16, reason: AuthReason, description: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            description: description.into(),
            retry_after: None,
            limited: None,
        }
    }

    /// True when the request carried no credential at all: the first step of OAuth discovery,
    /// not a failed authentication (it is not counted against the client's failed-auth limit).
    pub fn is_missing(&self) -> bool {
        self.reason == AuthReason::Missing
    }
}

/// What a remote token check (a call to Hugging Face) is admitted against: the client's
/// address and the gateway's limits.
#[derive(Clone, Copy)]
pub struct RemoteBudget<'a> {
    pub limits: &'a RateLimiter,
    pub client: Option<ClientAddr>,
}

impl RemoteBudget<'_> {
    async fn admit(&self) -> Result<(), AuthFailure> {
        // A request without a peer address (never over TCP) shares one budget.
        let client = self.client.unwrap_or(ClientAddr::Opaque(0));
        self.limits.admit_remote_check(client).await.map_err(|l| AuthFailure {
            limited: Some(l),
            ..AuthFailure::new(429, AuthReason::RateLimited, "too many token checks from this address")
        })
    }
}

impl From<BearerError> for AuthFailure {
    fn from(e: BearerError) -> Self {
        let reason = match e {
            BearerError::Missing => AuthReason::Missing,
            _ => AuthReason::Malformed,
        };
        Self::new(e.status(), reason, e.to_string())
    }
}

impl From<HfError> for AuthFailure {
    fn from(e: HfError) -> Self {
        match e {
            HfError::Rejected => Self::new(401, AuthReason::HfRejected, e.to_string()),
            HfError::Unavailable { retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::new(503, AuthReason::HfUnavailable, e.to_string())
            },
        }
    }
}

impl From<JwtError> for AuthFailure {
    fn from(e: JwtError) -> Self {
        Self::new(401, AuthReason::of_jwt(&e), e.to_string())
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
    /// Authenticates `req`; the cookie counts only when `allow_cookie` (web routes). A token
    /// that needs a call to Hugging Face is first admitted against `budget`.
    pub async fn authenticate(
        &self,
        req: &RequestHeader,
        allow_cookie: bool,
        budget: RemoteBudget<'_>,
    ) -> Result<Principal, AuthFailure> {
        let credential = match (bearer::extract(req, allow_cookie), &self.local_user) {
            (Ok(c), _) => c,
            // Only a missing credential falls back, and only for a request that did not come
            // through a forwarder (a tunnel to the loopback listener would make anyone local).
            (Err(BearerError::Missing), Some(user)) if !crate::client_ip::is_forwarded(req) => {
                return Ok(Self::local_principal(user));
            }
            (Err(e), _) => return Err(e.into()),
        };
        self.check_token(credential, budget).await
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
            lineage: Lineage::signed_in_now(false),
        }
    }

    /// Verifies one credential's token and its revocation.
    pub async fn check_token(
        &self,
        credential: Credential<'_>,
        budget: RemoteBudget<'_>,
    ) -> Result<Principal, AuthFailure> {
        let token = credential.token();
        let from_cookie = matches!(credential, Credential::Cookie(_));
        let principal = if HfTokens::recognises(token) {
            if self.hf_oauth_only && !HfTokens::is_oauth(token) {
                // 401 (not 403) so an OAuth-capable client signs in and comes back with an OAuth token.
                return Err(AuthFailure::new(
                    401,
                    AuthReason::HfRejected,
                    "Hugging Face personal access tokens are not accepted here; connect with OAuth",
                ));
            }
            let user = match self.hf.cached(token).await {
                Some(answer) => answer?,
                None => {
                    if let Some(retry_after) = self.hf.paused() {
                        return Err(HfError::Unavailable { retry_after }.into());
                    }
                    budget.admit().await?;
                    self.hf.verify(token).await?
                }
            };
            let account = Account {
                id: user.id.as_str(),
                username: user.name.as_deref(),
                orgs: &user.orgs,
            };
            if !self.allow.permits(account) {
                return Err(AuthFailure::new(
                    403,
                    AuthReason::NotAllowed,
                    "this Hugging Face account is not allowed on this gateway",
                ));
            }
            let fp = HfTokens::fingerprint(token);
            Principal {
                user: user.id,
                jti: format!("hf-{}", hex::encode(&fp[..16])),
                expires_at: vaultgate_shared::jwt::now_secs() + HF_REVOKE_SECS,
                // When Hugging Face issued the token is unknown, so it counts as issued
                // `HF_REVOKE_SECS` ago: a user revocation (`revoke --user`) then refuses the
                // user's Hugging Face tokens for that long, like a logout does for one of them.
                issued_at: vaultgate_shared::jwt::now_secs().saturating_sub(HF_REVOKE_SECS),
                from_cookie,
                name: user.name,
                kind: TokenKind::HuggingFace,
                lineage: Lineage {
                    auth_time: vaultgate_shared::jwt::now_secs(),
                    max_exp: Some(vaultgate_shared::jwt::now_secs() + HF_DERIVED_MAX_SECS),
                    hf: true,
                },
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
                lineage: verified.lineage,
            }
        };
        match self
            .revocations
            .is_revoked(&principal.jti, &principal.user, principal.issued_at)
            .await
        {
            Ok(false) => Ok(principal),
            Ok(true) => Err(AuthFailure::new(401, AuthReason::Revoked, "token has been revoked")),
            // Fail closed: a token whose revocation cannot be checked is not accepted.
            Err(_) => Err(AuthFailure::new(
                503,
                AuthReason::StateUnavailable,
                "the gateway's state store is unavailable; retry shortly",
            )),
        }
    }
}

/// Compares secrets without leaking where they differ (`subtle`: no early exit for the
/// optimiser to find). Only the length may show, and secrets of one kind share a length.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_errors_map_to_their_reason_labels() {
        for e in [
            JwtError::Expired,
            JwtError::UnknownKey,
            JwtError::MissingClaim("sub".into()),
        ] {
            assert_eq!(AuthReason::of_jwt(&e).label(), e.reason(), "{e:?}");
        }
    }

    #[test]
    fn constant_time_eq_table() {
        for (a, b, eq) in [
            (&b"abc"[..], &b"abc"[..], true),
            (b"abc", b"abd", false),
            (b"abc", b"abcd", false),
            (b"", b"", true),
            (b"", b"a", false),
        ] {
            assert_eq!(constant_time_eq(a, b), eq, "{a:?} {b:?}");
        }
    }
}
