//! Hugging Face access tokens (`hf_…`): checked against `HF_API_URL/api/whoami-v2`,
//! the user being the account's stable `id`. Answers are cached by a hash of the
//! token (never the token itself): accepted for a few minutes, refused for less.
//! Hugging Face being unreachable is a 503, never a pass.

use std::time::{Duration, Instant};

use moka::Expiry;
use sha2::{Digest, Sha256};
use vaultgate_shared::UserId;

/// How long an accepted token is trusted without asking Hugging Face again.
pub const ACCEPT_TTL: Duration = Duration::from_secs(300);
/// How long a refused token stays refused without asking again.
pub const REFUSE_TTL: Duration = Duration::from_secs(30);

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
    #[error("Hugging Face could not be reached to check this token")]
    Unavailable,
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
    cache: moka::future::Cache<[u8; 32], Answer>,
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

    /// The account behind `token`.
    pub async fn verify(&self, token: &str) -> Result<HfUser, HfError> {
        let key = Self::fingerprint(token);
        if let Some(answer) = self.cache.get(&key).await {
            return answer;
        }
        let answer = self.ask(token).await;
        // An outage is not cached: the next request asks again.
        if answer != Err(HfError::Unavailable) {
            self.cache.insert(key, answer.clone()).await;
        }
        answer
    }

    async fn ask(&self, token: &str) -> Result<HfUser, HfError> {
        let resp = match self.client.get(&self.whoami_url).bearer_auth(token).send().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "Hugging Face whoami unreachable");
                return Err(HfError::Unavailable);
            }
        };
        match resp.status().as_u16() {
            200 => {}
            401 | 403 => return Err(HfError::Rejected),
            s => {
                tracing::warn!(status = s, "Hugging Face whoami answered unexpectedly");
                return Err(HfError::Unavailable);
            }
        }
        let who: WhoAmI = resp.json().await.map_err(|_| HfError::Unavailable)?;
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
