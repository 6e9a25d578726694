//! The OpenID provider (Hugging Face) as the sign-in flow uses it: endpoint discovery,
//! the authorization URL, the code exchange and the userinfo call. Only HTTP lives here;
//! the decisions (state, allow-list, cookies) are in `signin`.

use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;
use vaultgate_shared::config::Secret;

/// How long discovered endpoints are used before asking again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// How long the fallback endpoints are used after discovery failed, before trying again.
const FALLBACK_TTL: Duration = Duration::from_secs(60);

/// Where the provider's three endpoints are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub authorize: String,
    pub token: String,
    pub userinfo: String,
}

/// Why a call to the provider did not give what sign-in needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("the sign-in provider could not be reached")]
    Unreachable,
    #[error("the sign-in provider refused: {0}")]
    Refused(String),
    #[error("the sign-in provider answered something unexpected")]
    BadAnswer,
}

/// What `/oauth/userinfo` says about the person who signed in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct UserInfo {
    pub sub: String,
    #[serde(default)]
    pub preferred_username: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub picture: Option<String>,
    #[serde(default, deserialize_with = "org_names")]
    pub orgs: Vec<String>,
}

/// Hugging Face lists organisations as objects; only their names matter here.
fn org_names<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v: Vec<serde_json::Value> = serde::Deserialize::deserialize(d)?;
    Ok(v.iter()
        .filter_map(|o| {
            o.get("preferred_username")
                .or_else(|| o.get("name"))
                .and_then(|n| n.as_str())
                .map(str::to_owned)
        })
        .collect())
}

/// The configured OAuth client of one provider.
pub struct Provider {
    base: String,
    client_id: String,
    client_secret: Option<Secret>,
    scopes: String,
    redirect_uri: String,
    http: reqwest::Client,
    endpoints: RwLock<Option<(Instant, Duration, Endpoints)>>,
}

/// The PKCE S256 challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[derive(serde::Deserialize)]
struct Discovery {
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
}

impl Provider {
    /// A client of the provider at `base` (e.g. https://huggingface.co).
    pub fn new(base: &str, client_id: &str, client_secret: Option<Secret>, scopes: &str, redirect_uri: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("vaultgate-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
            scopes: scopes.to_owned(),
            redirect_uri,
            http,
            endpoints: RwLock::new(None),
        }
    }

    /// The provider's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn fallback(&self) -> Endpoints {
        Endpoints {
            authorize: format!("{}/oauth/authorize", self.base),
            token: format!("{}/oauth/token", self.base),
            userinfo: format!("{}/oauth/userinfo", self.base),
        }
    }

    /// The endpoints from `/.well-known/openid-configuration`, or the Hugging Face defaults when it is unreachable.
    pub async fn endpoints(&self) -> Endpoints {
        if let Some((at, ttl, e)) = self.endpoints.read().await.as_ref()
            && at.elapsed() < *ttl
        {
            return e.clone();
        }
        let url = format!("{}/.well-known/openid-configuration", self.base);
        let found = async {
            let r = self.http.get(&url).send().await.ok()?;
            if !r.status().is_success() {
                return None;
            }
            r.json::<Discovery>().await.ok()
        }
        .await;
        let (ttl, e) = match found {
            Some(d) => (
                DISCOVERY_TTL,
                Endpoints {
                    authorize: d.authorization_endpoint,
                    token: d.token_endpoint,
                    userinfo: d.userinfo_endpoint,
                },
            ),
            None => {
                tracing::warn!(url, "OpenID discovery failed; using the default Hugging Face endpoints");
                (FALLBACK_TTL, self.fallback())
            }
        };
        *self.endpoints.write().await = Some((Instant::now(), ttl, e.clone()));
        e
    }

    /// Where to send the browser: the authorization request with `state` and the PKCE challenge.
    pub async fn authorize_url(&self, state: &str, verifier: &str) -> Result<String, ProviderError> {
        let e = self.endpoints().await;
        let challenge = pkce_challenge(verifier);
        reqwest::Url::parse_with_params(
            &e.authorize,
            &[
                ("response_type", "code"),
                ("client_id", self.client_id.as_str()),
                ("redirect_uri", self.redirect_uri.as_str()),
                ("scope", self.scopes.as_str()),
                ("state", state),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
        )
        .map(String::from)
        .map_err(|_| ProviderError::BadAnswer)
    }

    /// Exchanges an authorization code (and the PKCE verifier) for an access token.
    pub async fn exchange(&self, code: &str, verifier: &str) -> Result<String, ProviderError> {
        let e = self.endpoints().await;
        let mut req = self.http.post(&e.token).form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("client_id", self.client_id.as_str()),
            ("code_verifier", verifier),
        ]);
        if let Some(secret) = &self.client_secret {
            let secret = String::from_utf8_lossy(secret.expose()).into_owned();
            req = req.basic_auth(&self.client_id, Some(secret));
        }
        let r = req.send().await.map_err(|_| ProviderError::Unreachable)?;
        let status = r.status();
        if status.is_client_error() {
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            let why = body["error"].as_str().unwrap_or("invalid_grant");
            return Err(ProviderError::Refused(why.chars().take(100).collect()));
        }
        if !status.is_success() {
            return Err(ProviderError::Unreachable);
        }
        let t: TokenAnswer = r.json().await.map_err(|_| ProviderError::BadAnswer)?;
        Ok(t.access_token)
    }

    /// Who the access token belongs to.
    pub async fn userinfo(&self, access_token: &str) -> Result<UserInfo, ProviderError> {
        let e = self.endpoints().await;
        let r = self
            .http
            .get(&e.userinfo)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|_| ProviderError::Unreachable)?;
        match r.status().as_u16() {
            200 => r.json().await.map_err(|_| ProviderError::BadAnswer),
            401 | 403 => Err(ProviderError::Refused("userinfo refused the token".into())),
            _ => Err(ProviderError::Unreachable),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_unpadded_base64url_sha256() {
        // Expected value computed independently: base64.urlsafe_b64encode(hashlib.sha256(v).digest()) in Python.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mJ0kTA5gSTgWsHQ9a7QhVE6RTOTwU"),
            "r8Iw290mlSh8R_0Nma-FObYXVrqcA4YsXkL6Zf1HG0g"
        );
    }

    #[test]
    fn userinfo_reads_hugging_face_orgs() {
        let u: UserInfo = serde_json::from_str(
            r#"{"sub":"64aa","preferred_username":"alice","name":"Alice","orgs":[{"sub":"1","preferred_username":"team"},{"name":"lab"}]}"#,
        )
        .unwrap();
        assert_eq!(u.orgs, ["team", "lab"]);
        let u: UserInfo = serde_json::from_str(r#"{"sub":"64aa"}"#).unwrap();
        assert!(u.orgs.is_empty() && u.name.is_none());
    }
}
