//! A fake Hugging Face OpenID provider and authorization server: discovery (OpenID and
//! RFC 8414), dynamic client registration, `/oauth/authorize` (which approves or denies at
//! once and redirects back, as a person clicking would), `/oauth/token` (checking the
//! client's credentials, the code, the redirect URI and the PKCE verifier, like the real
//! one), `/oauth/userinfo`, and `/api/whoami-v2` for the `hf_oauth_…` tokens it issued.
//! No real network is needed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use hyper::{Request, Response};

use crate::serve::Loopback;

use sha2::{Digest, Sha256};

/// The OAuth client the fake knows.
pub const CLIENT_ID: &str = "vaultgate-test-client";
/// Its secret.
pub const CLIENT_SECRET: &str = "vaultgate-test-client-secret";

/// A person who can sign in at the fake provider.
#[derive(Debug, Clone)]
pub struct FakeUser {
    pub sub: String,
    pub username: String,
    pub name: String,
    pub orgs: Vec<String>,
}

impl FakeUser {
    /// A user with a 24-hex-digit id like Hugging Face's.
    pub fn new(sub: &str, username: &str, orgs: &[&str]) -> Self {
        Self {
            sub: sub.to_owned(),
            username: username.to_owned(),
            name: format!("{username} (display)"),
            orgs: orgs.iter().map(|o| o.to_string()).collect(),
        }
    }
}

/// What the next authorization request does.
#[derive(Debug, Clone)]
pub enum Consent {
    /// The person approves, as this user.
    Approve(FakeUser),
    /// The person clicks "deny".
    Deny,
}

/// A client registered through `/oauth/register`: its secret (none for a public client) and redirect URIs.
#[derive(Clone)]
struct Registered {
    secret: Option<String>,
    redirect_uris: Vec<String>,
}

#[derive(Default)]
struct Shared {
    consent: Option<Consent>,
    registered: HashMap<String, Registered>,
    codes: HashMap<String, (String, String, FakeUser)>,
    access: HashMap<String, FakeUser>,
    authorize_queries: Vec<HashMap<String, String>>,
    token_failures: Vec<String>,
    discovery_hits: usize,
}

/// A running fake provider; stops when dropped.
pub struct FakeOidc {
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
    _server: Loopback,
}

impl FakeOidc {
    /// Starts on a free loopback port; the first consent approves `user`.
    pub fn start(user: FakeUser) -> Self {
        let shared = Arc::new(Mutex::new(Shared {
            consent: Some(Consent::Approve(user)),
            ..Shared::default()
        }));
        let s2 = shared.clone();
        let server = Loopback::start(0, move |port| move |req| handle(req, s2.clone(), port));
        Self {
            port: server.port,
            shared,
            _server: server,
        }
    }

    /// The provider's base URL (what `OPENID_PROVIDER_URL` is set to).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sets what the next authorization requests do.
    pub fn set_consent(&self, c: Consent) {
        self.lock().consent = Some(c);
    }

    /// The query parameters of every authorization request so far.
    pub fn authorize_queries(&self) -> Vec<HashMap<String, String>> {
        self.lock().authorize_queries.clone()
    }

    /// Why token requests were refused, in order.
    pub fn token_failures(&self) -> Vec<String> {
        self.lock().token_failures.clone()
    }

    /// How many times discovery was asked.
    pub fn discovery_hits(&self) -> usize {
        self.lock().discovery_hits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn random() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn bearer(headers: &hyper::HeaderMap) -> &str {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
}

fn json(status: u16, v: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(v.to_string())))
        .expect("response")
}

fn redirect(to: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(302)
        .header("location", to)
        .body(Full::new(Bytes::new()))
        .expect("response")
}

fn pairs(s: &str) -> HashMap<String, String> {
    url_pairs(s).into_iter().collect()
}

fn url_pairs(s: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{s}"))
        .map(|u| u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default()
}

fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    reqwest::Url::parse_with_params(base, params)
        .map(String::from)
        .unwrap_or_else(|_| base.to_owned())
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Mutex<Shared>>,
    port: u16,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let base = format!("http://127.0.0.1:{port}");
    let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
    let resp = match parts.uri.path() {
        "/.well-known/oauth-authorization-server" => json(
            200,
            serde_json::json!({
                "issuer": base,
                "authorization_endpoint": format!("{base}/oauth/authorize"),
                "token_endpoint": format!("{base}/oauth/token"),
                "registration_endpoint": format!("{base}/oauth/register"),
                "userinfo_endpoint": format!("{base}/oauth/userinfo"),
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code"],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": ["openid", "profile", "email"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            }),
        ),
        "/oauth/register" => {
            let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let redirect_uris: Vec<String> = req["redirect_uris"]
                .as_array()
                .map(|a| a.iter().filter_map(|u| u.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            if redirect_uris.is_empty() {
                json(400, serde_json::json!({"error": "invalid_redirect_uri"}))
            } else {
                let method = req["token_endpoint_auth_method"]
                    .as_str()
                    .unwrap_or("client_secret_basic")
                    .to_owned();
                let id = format!("dyn-{}", random());
                let secret = (method != "none").then(random);
                s.registered.insert(
                    id.clone(),
                    Registered {
                        secret: secret.clone(),
                        redirect_uris: redirect_uris.clone(),
                    },
                );
                let mut answer = req.clone();
                answer["client_id"] = serde_json::json!(id);
                answer["client_id_issued_at"] = serde_json::json!(1);
                answer["token_endpoint_auth_method"] = serde_json::json!(method);
                answer["redirect_uris"] = serde_json::json!(redirect_uris);
                if let Some(secret) = secret {
                    answer["client_secret"] = serde_json::json!(secret);
                    answer["client_secret_expires_at"] = serde_json::json!(0);
                }
                json(201, answer)
            }
        }
        "/api/whoami-v2" => {
            let token = bearer(&parts.headers);
            match s.access.get(token) {
                Some(u) => json(
                    200,
                    serde_json::json!({
                        "id": u.sub, "name": u.username, "fullname": u.name, "type": "user",
                        "orgs": u.orgs.iter().map(|o| serde_json::json!({"name": o})).collect::<Vec<_>>(),
                        "auth": {"type": "oauth"},
                    }),
                ),
                None => json(
                    401,
                    serde_json::json!({"error": "Invalid credentials in Authorization header"}),
                ),
            }
        }
        "/.well-known/openid-configuration" => {
            s.discovery_hits += 1;
            json(
                200,
                serde_json::json!({
                    "issuer": base,
                    "authorization_endpoint": format!("{base}/oauth/authorize"),
                    "token_endpoint": format!("{base}/oauth/token"),
                    "userinfo_endpoint": format!("{base}/oauth/userinfo"),
                    "jwks_uri": format!("{base}/oauth/jwks"),
                    "response_types_supported": ["code"],
                    "code_challenge_methods_supported": ["S256"],
                    "scopes_supported": ["openid", "profile", "email"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
                }),
            )
        }
        "/oauth/authorize" => {
            let q = pairs(parts.uri.query().unwrap_or(""));
            s.authorize_queries.push(q.clone());
            let get = |k: &str| q.get(k).cloned().unwrap_or_default();
            let redirect_uri = get("redirect_uri");
            let known = get("client_id") == CLIENT_ID
                || s.registered
                    .get(&get("client_id"))
                    .is_some_and(|c| c.redirect_uris.contains(&redirect_uri));
            if !known || redirect_uri.is_empty() {
                json(400, serde_json::json!({"error": "invalid_client"}))
            } else if get("response_type") != "code"
                || get("code_challenge_method") != "S256"
                || get("code_challenge").is_empty()
            {
                json(400, serde_json::json!({"error": "invalid_request"}))
            } else {
                let state = get("state");
                match s.consent.clone() {
                    Some(Consent::Approve(user)) => {
                        let code = random();
                        s.codes
                            .insert(code.clone(), (get("code_challenge"), redirect_uri.clone(), user));
                        redirect(&with_query(&redirect_uri, &[("code", &code), ("state", &state)]))
                    }
                    _ => redirect(&with_query(
                        &redirect_uri,
                        &[
                            ("error", "access_denied"),
                            ("error_description", "The user denied access"),
                            ("state", &state),
                        ],
                    )),
                }
            }
        }
        "/oauth/token" => {
            let form = pairs(std::str::from_utf8(&body).unwrap_or(""));
            let basic = parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Basic "))
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            let get = |k: &str| form.get(k).cloned().unwrap_or_default();
            // The client: Basic (client_secret_basic), form fields (client_secret_post), or a public
            // registered client naming itself.
            let (client_id, secret) = match basic.as_deref().and_then(|b| b.split_once(':')) {
                Some((id, secret)) => (id.to_owned(), Some(secret.to_owned())),
                None => (get("client_id"), form.get("client_secret").cloned()),
            };
            let expected = if client_id == CLIENT_ID {
                Some(Some(CLIENT_SECRET.to_owned()))
            } else {
                s.registered.get(&client_id).map(|c| c.secret.clone())
            };
            if expected.is_none() || expected != Some(secret) {
                s.token_failures.push("client".into());
                json(401, serde_json::json!({"error": "invalid_client"}))
            } else if get("grant_type") != "authorization_code" {
                s.token_failures.push("grant_type".into());
                json(400, serde_json::json!({"error": "unsupported_grant_type"}))
            } else {
                // A code is good once, whatever happens next (RFC 6749 §4.1.2).
                match s.codes.remove(&get("code")) {
                    None => {
                        s.token_failures.push("code".into());
                        json(400, serde_json::json!({"error": "invalid_grant"}))
                    }
                    Some((_, uri, _)) if uri != get("redirect_uri") => {
                        s.token_failures.push("redirect_uri".into());
                        json(400, serde_json::json!({"error": "invalid_grant"}))
                    }
                    Some((challenge, _, user)) => {
                        let got = base64::engine::general_purpose::URL_SAFE_NO_PAD
                            .encode(Sha256::digest(get("code_verifier").as_bytes()));
                        if got != challenge {
                            s.token_failures.push("pkce".into());
                            json(
                                400,
                                serde_json::json!({"error": "invalid_grant", "error_description": "PKCE verification failed"}),
                            )
                        } else {
                            let access = format!("hf_oauth_{}", random());
                            s.access.insert(access.clone(), user);
                            json(
                                200,
                                serde_json::json!({"access_token": access, "token_type": "bearer", "expires_in": 28800, "scope": "openid profile"}),
                            )
                        }
                    }
                }
            }
        }
        "/oauth/userinfo" => {
            let token = bearer(&parts.headers);
            match s.access.get(token) {
                Some(u) => json(
                    200,
                    serde_json::json!({
                        "sub": u.sub,
                        "preferred_username": u.username,
                        "name": u.name,
                        "picture": format!("{base}/avatars/{}.png", u.username),
                        "profile": format!("{base}/{}", u.username),
                        "orgs": u.orgs.iter().map(|o| serde_json::json!({"sub": format!("org-{o}"), "preferred_username": o, "name": o})).collect::<Vec<_>>(),
                    }),
                ),
                None => json(401, serde_json::json!({"error": "invalid_token"})),
            }
        }
        _ => json(404, serde_json::json!({"error": "not_found"})),
    };
    Ok(resp)
}

/// The query parameters of a URL.
pub fn query_of(url: &str) -> HashMap<String, String> {
    url.split_once('?').map(|(_, q)| pairs(q)).unwrap_or_default()
}
