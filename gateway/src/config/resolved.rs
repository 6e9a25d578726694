//! [`GatewayConfig`]: the settings resolved once at start — defaults derived (port, public URL,
//! origins, trusted proxies, OAuth issuer), secrets checked or generated, rules parsed — and
//! grouped by the part of the gateway that uses them. Nothing after the start reads [`Settings`].
//!
//! It serializes for `config --print`: secrets print as `[redacted]` (see `Secret`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::Serialize;
use vaultgate_shared::UserId;
use vaultgate_shared::config::print;
use vaultgate_shared::config::{LogFormat, Mode, Secret};
use vaultgate_shared::jwt::MIN_SECRET_BYTES;

use super::{ConfigError, HfTokenKinds, McpOauth, Settings, StateKind, backend_addr};
use crate::client_ip::ForwardHeader;
use crate::route_rules::RouteRules;
use crate::state::{SessionLimits, StateConfig};

/// Hugging Face's OpenID provider, when Spaces did not inject `OPENID_PROVIDER_URL`.
pub const DEFAULT_HF_ISSUER: &str = "https://huggingface.co";

/// Everything `serve` runs with, checked.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayConfig {
    /// `MODE`.
    #[serde(serialize_with = "print::value_enum")]
    pub mode: Mode,
    /// The listeners and the server around them.
    pub listen: Listen,
    /// `PUBLIC_URL`, else `https://$SPACE_HOST`, else `http://localhost:$PORT`; no trailing slash.
    pub public_url: String,
    /// Where requests go.
    pub backend: BackendTarget,
    /// `BACKEND_ROUTES`.
    pub routes: Routes,
    /// Tokens and the identity assertion.
    pub auth: Auth,
    /// Rate limits.
    pub limits: Limits,
    /// Legacy MCP sessions.
    pub sessions: Sessions,
    /// Browser and MCP-client sign-in.
    pub signin: SignInConfig,
    /// `GATEWAY_STATE` and its store.
    pub state: StateStore,
    /// Browser origins and the proxies in front.
    pub origins: OriginsConfig,
    /// The web page.
    pub web: Web,
    /// Logs and metrics.
    pub observability: Observability,
}

/// The listeners.
#[derive(Debug, Clone, Serialize)]
pub struct Listen {
    /// `LISTEN_HOST`.
    pub host: String,
    /// `PORT`, else `MCP_PORT`, else 7860.
    pub port: u16,
    /// `ADMIN_ADDR`.
    pub admin_addr: SocketAddr,
    /// `GATEWAY_THREADS`.
    pub threads: usize,
    /// `SHUTDOWN_GRACE_SECS`.
    pub shutdown_grace_secs: u64,
    /// `MODE=local` on an address other machines can reach: said loudly at start.
    pub local_mode_exposed: bool,
}

impl Listen {
    /// `host:port` of the public listener.
    pub fn public_addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// The backend behind the gateway.
#[derive(Debug, Clone, Serialize)]
pub struct BackendTarget {
    /// `BACKEND_URL` as given.
    pub url: String,
    /// Its `host:port`.
    pub addr: String,
    /// `BACKEND_ADMIN_URL`, without a trailing slash.
    pub admin_url: String,
    /// `UPSTREAM_TIMEOUT`.
    #[serde(serialize_with = "print::duration")]
    pub upstream_timeout: Duration,
    /// `MCP_SNIFF_MAX_BYTES`.
    pub mcp_sniff_max_bytes: usize,
}

/// `BACKEND_ROUTES`, parsed.
#[derive(Debug, Clone, Serialize)]
pub struct Routes {
    /// The rules as given.
    pub rules: Vec<String>,
    /// What the proxy applies.
    #[serde(skip)]
    pub parsed: RouteRules,
}

/// Tokens and the identity assertion.
#[derive(Debug, Clone, Serialize)]
pub struct Auth {
    /// `JWT_SECRET_KEY` (generated in `MODE=local` when unset).
    pub jwt_key: Secret,
    /// True when `jwt_key` was generated for this run.
    pub jwt_key_generated: bool,
    /// `JWT_SECRET_KEY_PREVIOUS`.
    pub jwt_previous: Option<Secret>,
    /// `TOKEN_TTL`.
    #[serde(serialize_with = "print::duration")]
    pub token_ttl: Duration,
    /// `MAX_SESSION_AGE`.
    #[serde(serialize_with = "print::duration")]
    pub max_session_age: Duration,
    /// `IDENTITY_SECRET`.
    pub identity_secret: Secret,
    /// `HF_API_URL`.
    pub hf_api_url: String,
    /// `HF_TOKENS`.
    #[serde(serialize_with = "print::value_enum")]
    pub hf_tokens: HfTokenKinds,
    /// `LOCAL_AUTH_USER`, checked: who credential-less requests act as (tests on loopback only).
    pub local_auth_user: Option<UserId>,
}

/// Rate limits.
#[derive(Debug, Clone, Serialize)]
pub struct Limits {
    /// `RATE_LIMIT_PER_MINUTE`.
    pub per_user_per_minute: u32,
    /// `RATE_LIMIT_BURST`.
    pub per_user_burst: u32,
    /// `IP_RATE_LIMIT_PER_MINUTE`.
    pub per_ip_per_minute: u32,
    /// `AUTH_FAILURE_LIMIT_PER_MINUTE`.
    pub auth_failures_per_minute: u32,
}

/// Legacy MCP sessions.
#[derive(Debug, Clone, Serialize)]
pub struct Sessions {
    /// `SESSION_IDLE_SECS`.
    #[serde(serialize_with = "print::duration")]
    pub idle: Duration,
    /// `SESSION_MAX_SECS`.
    #[serde(serialize_with = "print::duration")]
    pub max: Duration,
    /// `SESSIONS_PER_USER`.
    pub per_user: usize,
}

impl Sessions {
    /// The session settings (the operator commands need them and the state store, nothing else).
    pub fn resolve(s: &Settings) -> Self {
        Self {
            idle: Duration::from_secs(s.session_idle_secs),
            max: Duration::from_secs(s.session_max_secs),
            per_user: s.sessions_per_user,
        }
    }

    /// What the state stores take.
    pub fn limits(&self) -> SessionLimits {
        SessionLimits {
            idle: self.idle,
            max: self.max,
            per_user: self.per_user,
        }
    }
}

/// Sign-in.
#[derive(Debug, Clone, Serialize)]
pub struct SignInConfig {
    /// Hugging Face OAuth on the page: `OPENID_PROVIDER_URL` and `OAUTH_CLIENT_ID` both set.
    pub provider: Option<OAuthProvider>,
    /// `MODE=local` without OAuth: "continue as local user".
    pub local: Option<LocalSignIn>,
    /// `ALLOWED_USERS`.
    pub allowed_users: Vec<String>,
    /// `ALLOWED_ORGS`.
    pub allowed_orgs: Vec<String>,
    /// `MCP_OAUTH=huggingface`: the authorization server MCP clients are sent to.
    pub mcp_oauth_issuer: Option<String>,
}

/// The OAuth provider of the page's sign-in.
#[derive(Debug, Clone, Serialize)]
pub struct OAuthProvider {
    /// `OPENID_PROVIDER_URL`.
    pub url: String,
    /// `OAUTH_CLIENT_ID`.
    pub client_id: String,
    /// `OAUTH_CLIENT_SECRET` (none: a public client, PKCE only).
    pub client_secret: Option<Secret>,
    /// `OAUTH_SCOPES`, else `openid profile`.
    pub scopes: String,
    /// `$PUBLIC_URL/auth/callback`.
    pub redirect_uri: String,
}

/// "Continue as local user".
#[derive(Debug, Clone, Serialize)]
pub struct LocalSignIn {
    /// `LOCAL_USER`.
    pub user: UserId,
    /// `LOCAL_SIGNIN_CODE`, else a random one for this run.
    pub code: Secret,
    /// True when `code` was generated for this run.
    pub code_generated: bool,
}

/// `GATEWAY_STATE`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StateStore {
    /// `GATEWAY_STATE_PATH`.
    Sqlite { path: PathBuf },
    /// `REDIS_URL`, `STATE_TIMEOUT`.
    Redis {
        url: Secret,
        #[serde(serialize_with = "print::duration")]
        timeout: Duration,
    },
    /// Inside this process.
    Memory,
}

impl StateStore {
    /// The configured state store (the operator commands need it and the session settings only).
    pub fn resolve(s: &Settings) -> Result<Self, ConfigError> {
        Ok(match s.gateway_state {
            StateKind::Memory => Self::Memory,
            StateKind::Sqlite => Self::Sqlite {
                path: s.gateway_state_path.clone(),
            },
            StateKind::Redis => {
                if !(Duration::from_millis(10)..=Duration::from_secs(30)).contains(&s.state_timeout) {
                    return Err(ConfigError::StateTimeout);
                }
                match &s.redis_url {
                    Some(url) if !url.is_empty() => Self::Redis {
                        url: url.clone(),
                        timeout: s.state_timeout,
                    },
                    _ => return Err(ConfigError::MissingRedisUrl),
                }
            }
        })
    }

    /// What `state::open` takes.
    pub fn to_state_config(&self) -> StateConfig {
        match self {
            Self::Memory => StateConfig::Memory,
            Self::Sqlite { path } => StateConfig::Sqlite(path.clone()),
            Self::Redis { url, timeout } => StateConfig::Redis {
                url: url.clone(),
                timeout: *timeout,
            },
        }
    }
}

/// Browser origins and client addresses.
#[derive(Debug, Clone, Serialize)]
pub struct OriginsConfig {
    /// `ALLOWED_ORIGINS`, else the public URL (and its loopback twins when it is the local default).
    pub allowed: Vec<String>,
    /// `TRUSTED_PROXIES`, else on a Space the private ranges its proxies connect from.
    #[serde(serialize_with = "print::display_list")]
    pub trusted_proxies: Vec<IpNet>,
    /// `CLIENT_IP_HEADER`.
    #[serde(serialize_with = "print::value_enum")]
    pub client_ip_header: ForwardHeader,
}

/// The web page.
#[derive(Debug, Clone, Serialize)]
pub struct Web {
    /// `WEB_UI`.
    pub ui: bool,
    /// `FRAME_ANCESTORS`, checked.
    pub frame_ancestors: Vec<String>,
    /// `$PUBLIC_URL/mcp`, shown on the page.
    pub mcp_url: String,
}

/// Logs and metrics.
#[derive(Debug, Clone, Serialize)]
pub struct Observability {
    /// `LOG_FORMAT`.
    #[serde(serialize_with = "print::value_enum")]
    pub log_format: LogFormat,
    /// `ACCESS_LOG`.
    pub access_log: bool,
    /// `METRICS_TOKEN`: `/metrics` on the public port too.
    pub metrics_token: Option<Secret>,
}

/// What `mint-token` needs: a given signing key (an ephemeral one would mint useless tokens).
#[derive(Debug, Clone)]
pub struct Minting {
    pub key: Secret,
    pub previous: Option<Secret>,
    pub issuer: String,
    pub ttl: Duration,
    pub max_session_age: Duration,
}

impl Minting {
    /// Resolves what `mint-token` needs, and nothing else (no `IDENTITY_SECRET`).
    pub fn resolve(s: &Settings) -> Result<Self, ConfigError> {
        let key = match &s.jwt_secret_key {
            Some(k) if k.len() >= MIN_SECRET_BYTES => k.clone(),
            other => return Err(ConfigError::WeakJwtKey(describe_len(other))),
        };
        Ok(Self {
            key,
            previous: s.jwt_secret_key_previous.clone(),
            issuer: public_url_of(s),
            ttl: s.token_ttl,
            max_session_age: s.max_session_age,
        })
    }
}

pub(super) fn describe_len(s: &Option<Secret>) -> String {
    match s {
        None => "unset".to_owned(),
        Some(s) => format!("{} bytes", s.len()),
    }
}

fn is_set(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|v| !v.is_empty())
}

/// A set, non-blank value, trimmed.
fn trimmed(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// The public port: PORT, else MCP_PORT, else 7860.
fn port_of(s: &Settings) -> u16 {
    s.port.or(s.mcp_port).unwrap_or(7860)
}

/// PUBLIC_URL, else https://SPACE_HOST, else http://localhost:PORT; no trailing slash.
fn public_url_of(s: &Settings) -> String {
    let url = match (&s.public_url, &s.space_host) {
        (Some(u), _) if !u.is_empty() => u.clone(),
        (_, Some(h)) if !h.is_empty() => format!("https://{h}"),
        _ => format!("http://localhost:{}", port_of(s)),
    };
    url.trim_end_matches('/').to_owned()
}

/// The public URL; when it is the implicit `http://localhost:PORT` (or that URL in MODE=local),
/// also the same listener reached as 127.0.0.1 or [::1] (a local page or client may use either name).
fn default_origins(s: &Settings, public_url: &str) -> Vec<String> {
    let port = port_of(s);
    let implicit = !is_set(&s.public_url) && !is_set(&s.space_host);
    // An explicit PUBLIC_URL=http://localhost:PORT in MODE=local is the local default too.
    let local_default = s.mode == Mode::Local && public_url == format!("http://localhost:{port}");
    if !implicit && !local_default {
        return vec![public_url.to_owned()];
    }
    ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .map(|h| format!("http://{h}:{port}"))
        .collect()
}

/// TRUSTED_PROXIES as given; unset on a Space (SPACE_HOST set), the private ranges the
/// Space's proxies connect from, so that each visitor gets their own rate-limit bucket.
fn trusted_proxies_of(s: &Settings) -> Vec<IpNet> {
    if !s.trusted_proxies.is_empty() || s.space_host.as_deref().is_none_or(|h| h.trim().is_empty()) {
        return s.trusted_proxies.clone();
    }
    crate::client_ip::SPACE_DEFAULT_PROXIES
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

fn is_loopback_literal(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// LOCAL_AUTH_USER, allowed only where no one but this machine can reach the listener: MODE=local,
/// a loopback LISTEN_HOST (an IP literal: a name could resolve elsewhere), no trusted proxy
/// (it would forward remote clients from loopback) and no Space.
fn local_auth_user_of(s: &Settings) -> Result<Option<UserId>, ConfigError> {
    let Some(user) = s.local_auth_user.as_deref().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    if s.mode != Mode::Local {
        return Err(ConfigError::LocalAuthRefused("it is only allowed in MODE=local"));
    }
    if !is_loopback_literal(&s.listen_host) {
        return Err(ConfigError::LocalAuthRefused(
            "LISTEN_HOST must be a loopback address (127.0.0.1 or ::1)",
        ));
    }
    if !s.trusted_proxies.is_empty() {
        return Err(ConfigError::LocalAuthRefused(
            "TRUSTED_PROXIES is set, so remote clients may arrive through a local proxy",
        ));
    }
    if is_set(&s.space_host) {
        return Err(ConfigError::LocalAuthRefused("SPACE_HOST is set (this is a Space)"));
    }
    UserId::parse(user)
        .map(Some)
        .map_err(|_| ConfigError::LocalAuthUser(user.to_owned()))
}

/// Browser sign-in: Hugging Face OAuth when the provider and client id are set; else, in
/// `MODE=local`, the local user (a configured LOCAL_USER was checked before).
fn signin_of(s: &Settings, public_url: &str) -> SignInConfig {
    let provider = match (trimmed(&s.openid_provider_url), trimmed(&s.oauth_client_id)) {
        (Some(url), Some(client_id)) => Some(OAuthProvider {
            url,
            client_id,
            client_secret: s.oauth_client_secret.clone().filter(|c| !c.is_empty()),
            scopes: trimmed(&s.oauth_scopes).unwrap_or_else(|| crate::endpoints::signin::DEFAULT_SCOPES.to_owned()),
            redirect_uri: format!("{public_url}/auth/callback"),
        }),
        _ => None,
    };
    // With a provider the local button is never offered (`SignIn::new` drops it): no code then.
    let local = (s.mode == Mode::Local && provider.is_none())
        .then(|| UserId::parse(&s.local_user).ok())
        .flatten()
        .map(|user| match s.local_signin_code.as_ref().filter(|c| !c.is_empty()) {
            Some(code) => LocalSignIn {
                user,
                code: code.clone(),
                code_generated: false,
            },
            None => LocalSignIn {
                user,
                code: Secret::new(crate::endpoints::signin::LocalCode::generate()),
                code_generated: true,
            },
        });
    SignInConfig {
        provider,
        local,
        allowed_users: s.allowed_users.clone(),
        allowed_orgs: s.allowed_orgs.clone(),
        mcp_oauth_issuer: (s.mcp_oauth == McpOauth::Huggingface)
            .then(|| trimmed(&s.openid_provider_url).unwrap_or_else(|| DEFAULT_HF_ISSUER.to_owned())),
    }
}

impl GatewayConfig {
    /// Checks everything `serve` needs and derives every default, once.
    pub fn resolve(s: Settings) -> Result<Self, ConfigError> {
        let public_url = public_url_of(&s);
        let after_scheme = public_url
            .strip_prefix("https://")
            .or_else(|| public_url.strip_prefix("http://"));
        if after_scheme.is_none_or(|h| h.is_empty()) {
            return Err(ConfigError::BadPublicUrl(public_url));
        }
        let backend_addr = backend_addr(&s.backend_url)?;
        let (jwt_key, jwt_key_generated) = match (&s.jwt_secret_key, s.mode) {
            (Some(k), _) if k.len() >= MIN_SECRET_BYTES => (k.clone(), false),
            (None, Mode::Local) => (vaultgate_shared::config::generate_secret(), true),
            (Some(k), Mode::Local) if !k.is_empty() => {
                return Err(ConfigError::WeakJwtKey(describe_len(&Some(k.clone()))));
            }
            (None, Mode::Space) | (Some(_), _) => {
                return Err(ConfigError::WeakJwtKey(describe_len(&s.jwt_secret_key)));
            }
        };
        let jwt_previous = match &s.jwt_secret_key_previous {
            Some(p) if p.is_empty() => None,
            Some(p) if p.len() < MIN_SECRET_BYTES => return Err(ConfigError::WeakPreviousKey(p.len())),
            other => other.clone(),
        };
        let identity_secret = match &s.identity_secret {
            Some(k) if k.len() >= MIN_SECRET_BYTES => k.clone(),
            other => return Err(ConfigError::WeakIdentitySecret(describe_len(other))),
        };
        if s.metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(ConfigError::WeakMetricsToken);
        }
        let state = StateStore::resolve(&s)?;
        for (name, v) in [
            ("RATE_LIMIT_PER_MINUTE", u64::from(s.rate_limit_per_minute)),
            ("IP_RATE_LIMIT_PER_MINUTE", u64::from(s.ip_rate_limit_per_minute)),
            (
                "AUTH_FAILURE_LIMIT_PER_MINUTE",
                u64::from(s.auth_failure_limit_per_minute),
            ),
            ("SESSION_IDLE_SECS", s.session_idle_secs),
            ("SESSION_MAX_SECS", s.session_max_secs),
            ("SESSIONS_PER_USER", s.sessions_per_user as u64),
            ("MAX_SESSION_AGE", s.max_session_age.as_secs()),
            ("GATEWAY_THREADS", s.threads as u64),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        if s.max_session_age > crate::state::revocations::USER_REVOCATION_KEEP {
            return Err(ConfigError::SessionAgeTooLong);
        }
        if UserId::parse(&s.local_user).is_err() {
            return Err(ConfigError::BadLocalUser(s.local_user.clone()));
        }
        if !(1024..=64 * 1024).contains(&s.mcp_sniff_max_bytes) {
            return Err(ConfigError::SniffLimit);
        }
        crate::endpoints::web::csp_for(&s.frame_ancestors)?;
        let allowed = if s.allowed_origins.iter().all(|o| o.trim().is_empty()) {
            default_origins(&s, &public_url)
        } else {
            s.allowed_origins
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect()
        };
        let routes = Routes {
            parsed: RouteRules::parse(&s.backend_routes)?,
            rules: s.backend_routes.iter().map(|r| r.trim().to_owned()).collect(),
        };
        let local_auth_user = local_auth_user_of(&s)?;
        let local_mode_exposed = s.mode == Mode::Local && !is_loopback_literal(&s.listen_host);
        Ok(Self {
            mode: s.mode,
            listen: Listen {
                port: port_of(&s),
                host: s.listen_host.clone(),
                admin_addr: s.admin_addr,
                threads: s.threads,
                shutdown_grace_secs: s.shutdown_grace_secs,
                local_mode_exposed,
            },
            backend: BackendTarget {
                url: s.backend_url.clone(),
                addr: backend_addr,
                admin_url: s.backend_admin_url.trim_end_matches('/').to_owned(),
                upstream_timeout: s.upstream_timeout,
                mcp_sniff_max_bytes: s.mcp_sniff_max_bytes,
            },
            routes,
            auth: Auth {
                jwt_key,
                jwt_key_generated,
                jwt_previous,
                token_ttl: s.token_ttl,
                max_session_age: s.max_session_age,
                identity_secret,
                hf_api_url: s.hf_api_url.clone(),
                hf_tokens: s.hf_tokens,
                local_auth_user,
            },
            limits: Limits {
                per_user_per_minute: s.rate_limit_per_minute,
                per_user_burst: s.rate_limit_burst,
                per_ip_per_minute: s.ip_rate_limit_per_minute,
                auth_failures_per_minute: s.auth_failure_limit_per_minute,
            },
            sessions: Sessions::resolve(&s),
            signin: signin_of(&s, &public_url),
            state,
            origins: OriginsConfig {
                allowed,
                trusted_proxies: trusted_proxies_of(&s),
                client_ip_header: s.client_ip_header,
            },
            web: Web {
                ui: s.web_ui,
                frame_ancestors: s.frame_ancestors.clone(),
                mcp_url: format!("{public_url}/mcp"),
            },
            observability: Observability {
                log_format: s.log_format,
                access_log: s.access_log,
                metrics_token: s.metrics_token.clone(),
            },
            public_url,
        })
    }
}
