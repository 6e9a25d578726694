//! Hugging Face access tokens (`hf_…`): checked against `HF_API_URL/api/whoami-v2`,
//! the user being the account's stable `id`. Answers are cached by a hash of the
//! token (never the token itself): accepted for a few minutes, refused for less.
//! Hugging Face being unreachable is a 503, never a pass.
//!
//! A flood of made-up `hf_…` tokens must not become a flood of calls to Hugging Face (which
//! would get this host's egress rate-limited, and then every real user refused): concurrent
//! checks of one token share one call (moka's `try_get_with`), at most `MAX_CONCURRENT_CHECKS`
//! calls run at once, an answer of 429 or 5xx (or no answer) stops all calls for a few seconds,
//! and the caller admits each uncached check against the client's budget first (`auth/mod.rs`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;
use sha2::{Digest, Sha256};
use vaultgate_shared::UserId;

/// How long an accepted token is trusted without asking Hugging Face again.
pub const ACCEPT_TTL: Duration = Duration::from_secs(300);
/// How long a refused token stays refused without asking again.
pub const REFUSE_TTL: Duration = Duration::from_secs(30);

/// Calls to Hugging Face in flight at once, for all clients together.
pub const MAX_CONCURRENT_CHECKS: usize = 16;
/// How long a check waits for a free call slot before answering 503.
const QUEUE_WAIT: Duration = Duration::from_secs(2);
/// How long calls stop after Hugging Face answered 429/5xx or could not be reached (when it
/// did not say with `Retry-After`); at most `OUTAGE_MAX_SECS`.
const OUTAGE_SECS: u64 = 10;
const OUTAGE_MAX_SECS: u64 = 60;

/// Prefix of Hugging Face user access tokens.
pub const TOKEN_PREFIX: &str = "hf_";
/// Prefix of the access tokens Hugging Face's OAuth server issues to apps (as opposed to personal access tokens).
pub const OAUTH_TOKEN_PREFIX: &str = "hf_oauth_";

/// The Hugging Face account behind a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfUser {
    /// The account's stable id (24 hex digits), used as the vault's user id.
    pub id: UserId,
    /// The user name (may change; for display and the allow-list).
    pub name: Option<String>,
    /// Names of the account's organisations (for `ALLOWED_ORGS`).
    pub orgs: Vec<String>,
}

/// Why a Hugging Face token did not yield a user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HfError {
    #[error("Hugging Face refused this token")]
    Rejected,
    #[error("Hugging Face could not be reached to check this token; retry in {retry_after} s")]
    Unavailable { retry_after: u64 },
}

#[derive(serde::Deserialize)]
struct WhoAmI {
    id: String,
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    orgs: Vec<WhoAmIOrg>,
}

#[derive(serde::Deserialize)]
struct WhoAmIOrg {
    name: Option<String>,
}

type Answer = Result<HfUser, HfError>;

struct AnswerExpiry;

impl Expiry<[u8; 32], Answer> for AnswerExpiry {
    fn expire_after_create(&self, _k: &[u8; 32], v: &Answer, _at: Instant) -> Option<Duration> {
        Some(if v.is_ok() { ACCEPT_TTL } else { REFUSE_TTL })
    }
}

/// Checks Hugging Face tokens, with a cache in front.
pub struct HfTokens {
    whoami_url: String,
    client: reqwest::Client,
    /// Accepted and refused answers (an outage is never cached here).
    cache: moka::future::Cache<[u8; 32], Answer>,
    permits: tokio::sync::Semaphore,
    /// Unix second until which no call is made (Hugging Face said 429/5xx, or did not answer).
    down_until: AtomicU64,
}

impl HfTokens {
    /// A checker asking `api_url` (e.g. https://huggingface.co).
    pub fn new(api_url: &str) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .user_agent(concat!("vaultgate-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            whoami_url: format!("{}/api/whoami-v2", api_url.trim_end_matches('/')),
            client,
            cache: moka::future::Cache::builder()
                .max_capacity(100_000)
                .expire_after(AnswerExpiry)
                .build(),
            permits: tokio::sync::Semaphore::new(MAX_CONCURRENT_CHECKS),
            down_until: AtomicU64::new(0),
        }
    }

    /// True for tokens this checker is responsible for.
    pub fn recognises(token: &str) -> bool {
        token.starts_with(TOKEN_PREFIX)
    }

    /// True for OAuth access tokens (granted to an app by the person signing in).
    pub fn is_oauth(token: &str) -> bool {
        token.starts_with(OAUTH_TOKEN_PREFIX)
    }

    /// A stable, non-reversible name for a token (cache key, revocation id).
    pub fn fingerprint(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// The cached answer for `token`, if any: a hit costs no call and no budget.
    pub async fn cached(&self, token: &str) -> Option<Result<HfUser, HfError>> {
        self.cache.get(&Self::fingerprint(token)).await
    }

    /// While calls are paused (Hugging Face answered 429/5xx or did not answer), the seconds
    /// left: the caller answers 503 at once, without spending the client's budget.
    pub fn paused(&self) -> Option<u64> {
        let now = vaultgate_shared::jwt::now_secs();
        let down = self.down_until.load(Ordering::Relaxed);
        (down > now).then(|| down - now)
    }

    /// The account behind `token`: the cached answer, else one call to Hugging Face shared by
    /// every concurrent request for the same token. The caller has admitted the call.
    pub async fn verify(&self, token: &str) -> Result<HfUser, HfError> {
        let key = Self::fingerprint(token);
        let check = async {
            if let Some(retry_after) = self.paused() {
                return Err(HfError::Unavailable { retry_after });
            }
            let Ok(Ok(_permit)) = tokio::time::timeout(QUEUE_WAIT, self.permits.acquire()).await else {
                return Err(HfError::Unavailable { retry_after: 1 });
            };
            match self.ask(token).await {
                Err(HfError::Unavailable { retry_after }) => {
                    let until = vaultgate_shared::jwt::now_secs() + retry_after;
                    self.down_until.fetch_max(until, Ordering::Relaxed);
                    Err(HfError::Unavailable { retry_after })
                }
                answer => Ok(answer),
            }
        };
        // Only `Ok` (accepted or refused) is cached; an outage lives in `down_until` instead.
        self.cache
            .try_get_with(key, check)
            .await
            .map_err(|e: std::sync::Arc<HfError>| (*e).clone())?
    }

    async fn ask(&self, token: &str) -> Result<HfUser, HfError> {
        let resp = match self.client.get(&self.whoami_url).bearer_auth(token).send().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "Hugging Face whoami unreachable");
                return Err(HfError::Unavailable {
                    retry_after: OUTAGE_SECS,
                });
            }
        };
        match resp.status().as_u16() {
            200 => {}
            401 | 403 => return Err(HfError::Rejected),
            s => {
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
                    .unwrap_or(OUTAGE_SECS)
                    .clamp(1, OUTAGE_MAX_SECS);
                tracing::warn!(
                    status = s,
                    retry_after,
                    "Hugging Face whoami refused to answer; pausing checks"
                );
                return Err(HfError::Unavailable { retry_after });
            }
        }
        let who: WhoAmI = resp.json().await.map_err(|_| HfError::Unavailable {
            retry_after: OUTAGE_SECS,
        })?;
        if who.kind.as_deref().is_some_and(|k| k != "user") {
            // Organisation or app tokens do not name a person with a vault.
            return Err(HfError::Rejected);
        }
        let id = UserId::parse(&who.id).map_err(|_| HfError::Rejected)?;
        let orgs = who.orgs.into_iter().filter_map(|o| o.name).collect();
        Ok(HfUser {
            id,
            name: who.name,
            orgs,
        })
    }
}
