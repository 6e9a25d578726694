//! The gateway's settings: parsed once at start (flags, environment, optional TOML
//! file), checked, and turned into typed values so that bad configuration fails the
//! start, not a request.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;
use vaultgate_shared::config::{LogFormat, Mode, Secret, parse_duration};
use vaultgate_shared::jwt::MIN_SECRET_BYTES;

use crate::route_rules::{DEFAULT_RULES, RuleError};

pub mod resolved;
pub use resolved::GatewayConfig;

/// vaultgate's public gateway: authenticates MCP and web clients, holds MCP sessions,
/// rate-limits, and forwards to the backend with a signed identity.
#[derive(Debug, Parser)]
#[command(name = "vaultgate-gateway", version, about, long_about = None, after_help = vaultgate_shared::exit::HELP)]
pub struct Cli {
    /// Optional TOML file whose keys are the environment variable names below (e.g. PORT = 7860).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub settings: Settings,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do; serving is the default.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the public listener and the admin listener (the default).
    Serve,
    /// Print a gateway token for USER signed with JWT_SECRET_KEY (for operators and tests).
    MintToken(MintArgs),
    /// Print who uses this gateway: active users, the busiest users, vault sizes (asks ADMIN_ADDR).
    Usage(UsageArgs),
    /// Revoke a token (--jti) or everything a user holds (--user) in the configured state store.
    Revoke(RevokeArgs),
    /// List a user's live MCP sessions in the configured state store.
    Sessions(SessionsArgs),
    /// Check a deployment with two users' tokens: health, both MCP eras, isolation, refusals.
    Smoke(crate::smoke::SmokeArgs),
    /// Print the configuration `serve` would run with, resolved and checked, secrets redacted.
    Config(vaultgate_shared::config::print::PrintArgs),
}

/// Arguments of `revoke`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RevokeArgs {
    /// The `jti` of one gateway token to refuse from now on.
    #[arg(long)]
    pub jti: Option<String>,
    /// A user id: every token issued to them until now is refused and their sessions end.
    #[arg(long)]
    pub user: Option<String>,
}

/// Arguments of `sessions`.
#[derive(Debug, Args)]
pub struct SessionsArgs {
    /// The user whose live sessions to list.
    #[arg(long)]
    pub user: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `usage`.
#[derive(Debug, Args)]
pub struct UsageArgs {
    /// How many of the busiest users to list.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Print the raw JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `mint-token`.
#[derive(Debug, Args)]
pub struct MintArgs {
    /// The user id the token is for ([A-Za-z0-9_-]{1,64}).
    #[arg(long)]
    pub user: String,
    /// Lifetime, e.g. 7d, 12h, 90s (default: TOKEN_TTL).
    #[arg(long, value_parser = parse_duration)]
    pub ttl: Option<Duration>,
    /// Optional display name carried in the token.
    #[arg(long)]
    pub name: Option<String>,
}

/// Every setting, each with its environment variable.
#[derive(Debug, Args)]
pub struct Settings {
    /// `space` = production: refuses weak or missing secrets; `local` generates what is missing.
    #[arg(long, env = "MODE", value_enum, default_value = "local")]
    pub mode: Mode,

    /// Public listener port.
    #[arg(long, env = "PORT")]
    pub port: Option<u16>,

    /// Alias of PORT (used when PORT is unset).
    #[arg(long, env = "MCP_PORT", hide_short_help = true)]
    pub mcp_port: Option<u16>,

    /// Address the public listener binds to.
    #[arg(long, env = "LISTEN_HOST", default_value = "0.0.0.0")]
    pub listen_host: String,

    /// Admin listener: /metrics, /healthz, /readyz for operators.
    #[arg(long, env = "ADMIN_ADDR", default_value = "127.0.0.1:9091")]
    pub admin_addr: SocketAddr,

    /// Public URL of this gateway (token issuer, redirect URIs, default allowed origin).
    /// Default: https://$SPACE_HOST when set, else http://localhost:$PORT.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Where requests are forwarded (HTTP/1.1).
    #[arg(long, env = "BACKEND_URL", default_value = "http://127.0.0.1:8001")]
    pub backend_url: String,

    /// Which forwarded paths are public, need a token, are MCP endpoints or are refused:
    /// comma-separated ACCESS:PREFIX rules (ACCESS = public, token, mcp, deny).
    #[arg(long, env = "BACKEND_ROUTES", value_delimiter = ',', default_value = DEFAULT_RULES)]
    pub backend_routes: Vec<String>,

    /// The backend's admin listener, asked for vault sizes by /admin/usage.
    #[arg(long, env = "BACKEND_ADMIN_URL", default_value = "http://127.0.0.1:9092")]
    pub backend_admin_url: String,

    /// Signs gateway tokens (HS256, ≥32 bytes in MODE=space; generated when unset in MODE=local).
    #[arg(long, env = "JWT_SECRET_KEY", hide_env_values = true)]
    pub jwt_secret_key: Option<Secret>,

    /// The previous signing key: tokens signed with it still validate during a rotation.
    #[arg(long, env = "JWT_SECRET_KEY_PREVIOUS", hide_env_values = true)]
    pub jwt_secret_key_previous: Option<Secret>,

    /// Lifetime of minted tokens.
    #[arg(long, env = "TOKEN_TTL", default_value = "7d", value_parser = parse_duration)]
    pub token_ttl: Duration,

    /// How long after signing in any token of that sign-in may live: refresh never extends past it.
    #[arg(long, env = "MAX_SESSION_AGE", default_value = "30d", value_parser = parse_duration)]
    pub max_session_age: Duration,

    /// Signs the X-Vault-Identity assertion the backend verifies (≥32 bytes, required).
    #[arg(long, env = "IDENTITY_SECRET", hide_env_values = true)]
    pub identity_secret: Option<Secret>,

    /// Requests per minute per user.
    #[arg(long, env = "RATE_LIMIT_PER_MINUTE", default_value_t = 600)]
    pub rate_limit_per_minute: u32,

    /// Burst allowance per user on top of the steady rate.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 60)]
    pub rate_limit_burst: u32,

    /// Requests per minute per client IP on unauthenticated routes.
    #[arg(long, env = "IP_RATE_LIMIT_PER_MINUTE", default_value_t = 120)]
    pub ip_rate_limit_per_minute: u32,

    /// Failed authentications per minute per client IP before 429.
    #[arg(long, env = "AUTH_FAILURE_LIMIT_PER_MINUTE", default_value_t = 20)]
    pub auth_failure_limit_per_minute: u32,

    /// Legacy MCP session idle timeout, seconds.
    #[arg(long, env = "SESSION_IDLE_SECS", default_value_t = 1800)]
    pub session_idle_secs: u64,

    /// Legacy MCP session absolute lifetime, seconds.
    #[arg(long, env = "SESSION_MAX_SECS", default_value_t = 86400)]
    pub session_max_secs: u64,

    /// Live legacy MCP sessions per user; the oldest is evicted beyond this.
    #[arg(long, env = "SESSIONS_PER_USER", default_value_t = 32)]
    pub sessions_per_user: usize,

    /// Allowed browser origins, comma-separated (default: the public URL).
    #[arg(long, env = "ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// CIDRs whose X-Forwarded-For (or Forwarded) is believed, comma-separated. Default: none;
    /// on a Hugging Face Space (SPACE_HOST set), the private ranges its proxies connect from.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpNet>,

    /// Which header trusted proxies write the client into: `x-forwarded-for` or `forwarded` (RFC 7239).
    #[arg(long, env = "CLIENT_IP_HEADER", value_enum, default_value = "x-forwarded-for")]
    pub client_ip_header: crate::client_ip::ForwardHeader,

    /// When set, /metrics is also served on the public port behind this bearer token.
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,

    /// Hugging Face API base, for checking hf_ tokens.
    #[arg(long, env = "HF_API_URL", default_value = "https://huggingface.co")]
    pub hf_api_url: String,

    /// Hugging Face OpenID provider (injected by Spaces).
    #[arg(long, env = "OPENID_PROVIDER_URL")]
    pub openid_provider_url: Option<String>,

    /// OAuth client id (injected by Spaces).
    #[arg(long, env = "OAUTH_CLIENT_ID")]
    pub oauth_client_id: Option<String>,

    /// OAuth client secret (injected by Spaces).
    #[arg(long, env = "OAUTH_CLIENT_SECRET", hide_env_values = true)]
    pub oauth_client_secret: Option<Secret>,

    /// OAuth scopes (injected by Spaces).
    #[arg(long, env = "OAUTH_SCOPES")]
    pub oauth_scopes: Option<String>,

    /// Only these Hugging Face users (names or account ids, comma-separated) may sign in; empty = anyone.
    #[arg(long, env = "ALLOWED_USERS", value_delimiter = ',')]
    pub allowed_users: Vec<String>,

    /// Only members of these Hugging Face organisations (comma-separated) may sign in; empty = anyone.
    #[arg(long, env = "ALLOWED_ORGS", value_delimiter = ',')]
    pub allowed_orgs: Vec<String>,

    /// `huggingface`: MCP clients discover Hugging Face as the authorization server (RFC 9728
    /// metadata, `resource_metadata` in 401 challenges) and sign in by themselves; `off` publishes nothing.
    #[arg(long, env = "MCP_OAUTH", value_enum, default_value = "off")]
    pub mcp_oauth: McpOauth,

    /// Which Hugging Face tokens are accepted as bearer: `all`, or only OAuth tokens (`hf_oauth_…`), not personal access tokens.
    #[arg(long, env = "HF_TOKENS", value_enum, default_value = "all")]
    pub hf_tokens: HfTokenKinds,

    /// MODE=local: the user of the page's "continue as local user" (loopback browsers only).
    #[arg(long, env = "LOCAL_USER", default_value = "local")]
    pub local_user: String,

    /// MODE=local: the code "continue as local user" asks for, handed to the browser as the
    /// link http://localhost:PORT/?code=… printed at start [default: a random one per run].
    #[arg(long, env = "LOCAL_SIGNIN_CODE", hide_env_values = true)]
    pub local_signin_code: Option<Secret>,

    /// Origins that may show the web page in a frame (CSP `frame-ancestors`), comma-separated;
    /// `none`: no other site may.
    #[arg(long, env = "FRAME_ANCESTORS", value_delimiter = ',', default_value = crate::endpoints::web::DEFAULT_FRAME_ANCESTORS)]
    pub frame_ancestors: Vec<String>,

    /// Serve the web page at `/` and `/static/` (turn off when the backend serves its own page there).
    #[arg(long, env = "WEB_UI", default_value_t = true, action = clap::ArgAction::Set)]
    pub web_ui: bool,

    /// The Space's host name (injected by Spaces), used for the default PUBLIC_URL.
    #[arg(long, env = "SPACE_HOST")]
    pub space_host: Option<String>,

    /// Where sessions, revoked tokens (and, for redis, rate limits) live: `sqlite` (survives
    /// restarts), `redis` (shared by several replicas; needs REDIS_URL) or `memory`.
    #[arg(long, env = "GATEWAY_STATE", value_enum, default_value = "sqlite")]
    pub gateway_state: StateKind,

    /// File of the sqlite state store.
    #[arg(long, env = "GATEWAY_STATE_PATH", default_value = "./data/gateway.db")]
    pub gateway_state_path: std::path::PathBuf,

    /// Redis URL of the shared state store (GATEWAY_STATE=redis), e.g. redis://redis:6379/0.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<Secret>,

    /// Longest wait for any one state-store operation (Redis), connecting included; past it the
    /// request is answered 503.
    #[arg(long, env = "STATE_TIMEOUT", default_value = "500ms", value_parser = parse_duration)]
    pub state_timeout: Duration,

    /// Worker threads of the public listener (1 is fastest when the backend shares two cores).
    #[arg(long, env = "GATEWAY_THREADS", default_value_t = 1)]
    pub threads: usize,

    /// Longest wait for each read from the backend before answering 504 (SSE streams excepted).
    #[arg(long, env = "UPSTREAM_TIMEOUT", default_value = "120s", value_parser = parse_duration)]
    pub upstream_timeout: Duration,

    /// Largest POST /mcp body the gateway reads to find an `initialize` (bytes; ≤ 64 KiB, Pingora's buffer).
    #[arg(long, env = "MCP_SNIFF_MAX_BYTES", default_value_t = 64 * 1024)]
    pub mcp_sniff_max_bytes: usize,

    /// One JSON line per request on stderr (method, route label, status, duration, bytes, request
    /// and trace id, client address class; never the path, query, address or token).
    #[arg(long, env = "ACCESS_LOG", default_value_t = false, action = clap::ArgAction::Set)]
    pub access_log: bool,

    /// Seconds to let in-flight requests finish after SIGTERM.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 5)]
    pub shutdown_grace_secs: u64,

    /// Log format: text or json (JSON lines).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Test harnesses only: requests without any credential act as this user. Refused unless
    /// MODE=local, LISTEN_HOST is a loopback address, and no proxy or Space is in front.
    #[arg(long, env = "LOCAL_AUTH_USER")]
    pub local_auth_user: Option<String>,
}

/// Whether MCP clients are told to sign in with Hugging Face by themselves.
/// `GATEWAY_STATE`: which state store holds sessions, revocations and (redis) rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StateKind {
    /// One file (GATEWAY_STATE_PATH); survives restarts; one gateway process.
    Sqlite,
    /// Shared by several gateway replicas; needs REDIS_URL.
    Redis,
    /// Inside this process; lost on restart (tests and throwaway runs).
    Memory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum McpOauth {
    /// Publish no OAuth metadata: clients send a token they were given.
    Off,
    /// Hugging Face is the authorization server for `/mcp`.
    Huggingface,
}

/// Which Hugging Face bearer tokens are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HfTokenKinds {
    /// Personal access tokens and OAuth tokens.
    All,
    /// Only OAuth access tokens (`hf_oauth_…`), which a person granted to a client by signing in.
    Oauth,
}

/// Why the configuration cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "JWT_SECRET_KEY must be set to at least {MIN_SECRET_BYTES} bytes in MODE=space (it is {0}). \
         Generate one with: openssl rand -base64 48"
    )]
    WeakJwtKey(String),
    #[error(
        "JWT_SECRET_KEY_PREVIOUS must be at least {MIN_SECRET_BYTES} bytes ({0} given). \
         Generate keys with: openssl rand -base64 48"
    )]
    WeakPreviousKey(usize),
    #[error(
        "IDENTITY_SECRET must be set to at least {MIN_SECRET_BYTES} bytes and shared with the backend (it is {0}). \
         Generate one with: openssl rand -base64 48"
    )]
    WeakIdentitySecret(String),
    #[error("METRICS_TOKEN must be at least 16 bytes when set")]
    WeakMetricsToken,
    #[error("BACKEND_URL '{0}' must look like http://host:port (TLS to the backend is not supported)")]
    BadBackendUrl(String),
    #[error("PUBLIC_URL '{0}' must start with http:// or https:// and have a host")]
    BadPublicUrl(String),
    #[error("LOCAL_USER '{0}' must match [A-Za-z0-9_-]{{1,64}}")]
    BadLocalUser(String),
    #[error("GATEWAY_STATE=redis needs REDIS_URL (e.g. redis://127.0.0.1:6379/0)")]
    MissingRedisUrl,
    #[error("STATE_TIMEOUT must be between 10ms and 30s")]
    StateTimeout,
    #[error("MAX_SESSION_AGE must be at most 400 days (a user revocation is remembered that long)")]
    SessionAgeTooLong,
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    #[error("MCP_SNIFF_MAX_BYTES must be between 1 KiB and 64 KiB (Pingora's request body buffer)")]
    SniffLimit,
    #[error(transparent)]
    FrameAncestors(#[from] crate::endpoints::web::BadFrameAncestor),
    #[error(transparent)]
    Routes(#[from] RuleError),
    #[error("LOCAL_AUTH_USER is refused: {0}")]
    LocalAuthRefused(&'static str),
    #[error("LOCAL_AUTH_USER '{0}' is not a valid user id ([A-Za-z0-9_-]{{1,64}})")]
    LocalAuthUser(String),
}

/// A `host:port` split out of an http:// URL.
pub fn backend_addr(url: &str) -> Result<String, ConfigError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| ConfigError::BadBackendUrl(url.to_owned()))?;
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') || authority.contains('@') {
        return Err(ConfigError::BadBackendUrl(url.to_owned()));
    }
    if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        Ok(authority.to_owned())
    } else {
        Ok(format!("{authority}:80"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::route_rules::RouteRules;

    /// The resolvable settings of a command line (the environment is not read).
    struct Parsed(Settings);

    impl Parsed {
        fn resolve(self) -> Result<GatewayConfig, ConfigError> {
            GatewayConfig::resolve(self.0)
        }
    }

    fn settings(args: &[&str]) -> Parsed {
        let mut v = vec!["vaultgate-gateway"];
        v.extend_from_slice(args);
        Parsed(
            vaultgate_shared::config::try_parse_from_env::<Cli>(&v, &[])
                .unwrap()
                .settings,
        )
    }

    const K: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn space_mode_needs_strong_keys() {
        let e = settings(&["--mode", "space", "--identity-secret", K])
            .resolve()
            .unwrap_err();
        assert!(e.to_string().contains("openssl rand"), "{e}");
        let e = settings(&["--mode", "space", "--identity-secret", K, "--jwt-secret-key", "short"])
            .resolve()
            .unwrap_err();
        assert!(matches!(e, ConfigError::WeakJwtKey(_)));
        assert!(
            settings(&["--mode", "space", "--identity-secret", K, "--jwt-secret-key", K])
                .resolve()
                .is_ok()
        );
    }

    #[test]
    fn local_mode_generates_a_jwt_key_but_not_the_identity_secret() {
        let r = settings(&["--identity-secret", K]).resolve().unwrap();
        assert!(r.auth.jwt_key_generated && r.auth.jwt_key.len() >= 32);
        assert!(matches!(
            settings(&[]).resolve(),
            Err(ConfigError::WeakIdentitySecret(_))
        ));
        assert!(matches!(
            settings(&["--identity-secret", K, "--jwt-secret-key", "short"]).resolve(),
            Err(ConfigError::WeakJwtKey(_))
        ));
    }

    #[test]
    fn session_age_is_bounded_by_how_long_user_revocations_are_kept() {
        let age = |a: &str| settings(&["--identity-secret", K, "--max-session-age", a]).resolve();
        assert!(age("400d").is_ok());
        assert!(matches!(age("401d"), Err(ConfigError::SessionAgeTooLong)));
        assert!(matches!(age("0s"), Err(ConfigError::Zero("MAX_SESSION_AGE"))));
    }

    #[test]
    fn urls_and_ports() {
        let r = settings(&["--mcp-port", "9000", "--identity-secret", K])
            .resolve()
            .unwrap();
        assert_eq!(r.listen.port, 9000);
        assert_eq!(r.public_url, "http://localhost:9000");
        let r = settings(&[
            "--port",
            "1",
            "--mcp-port",
            "9000",
            "--space-host",
            "a-b.hf.space",
            "--identity-secret",
            K,
        ])
        .resolve()
        .unwrap();
        assert_eq!(r.listen.port, 1);
        assert_eq!(r.public_url, "https://a-b.hf.space");
        assert_eq!(backend_addr("http://127.0.0.1:8001/").unwrap(), "127.0.0.1:8001");
        assert_eq!(backend_addr("http://backend").unwrap(), "backend:80");
        for bad in ["https://x:1", "127.0.0.1:8001", "http://", "http://a/b", "http://u@h:1"] {
            assert!(backend_addr(bad).is_err(), "{bad}");
        }
        let r = settings(&[
            "--identity-secret",
            K,
            "--allowed-origins",
            "https://a.example/, https://b.example",
        ])
        .resolve()
        .unwrap();
        assert_eq!(r.origins.allowed, ["https://a.example", "https://b.example"]);
        // Default origins: the public URL; the implicit localhost one also under its loopback addresses.
        let r = settings(&["--port", "9000", "--identity-secret", K]).resolve().unwrap();
        assert_eq!(
            r.origins.allowed,
            ["http://localhost:9000", "http://127.0.0.1:9000", "http://[::1]:9000"]
        );
        // The local run's explicit PUBLIC_URL=http://localhost:PORT too, but not in MODE=space.
        let r = settings(&[
            "--port",
            "9000",
            "--identity-secret",
            K,
            "--public-url",
            "http://localhost:9000",
        ])
        .resolve()
        .unwrap();
        assert_eq!(r.origins.allowed.len(), 3);
        let r = settings(&[
            "--port",
            "9000",
            "--identity-secret",
            K,
            "--jwt-secret-key",
            K,
            "--mode",
            "space",
            "--public-url",
            "http://localhost:9000",
        ])
        .resolve()
        .unwrap();
        assert_eq!(r.origins.allowed, ["http://localhost:9000"]);
        let r = settings(&["--identity-secret", K, "--space-host", "a-b.hf.space"])
            .resolve()
            .unwrap();
        assert_eq!(r.origins.allowed, ["https://a-b.hf.space"]);
    }

    #[test]
    fn backend_routes_default_to_the_old_behaviour_and_bad_rules_stop_the_start() {
        let r = settings(&["--identity-secret", K]).resolve().unwrap();
        assert_eq!(r.routes.parsed, RouteRules::default());
        let r = settings(&[
            "--identity-secret",
            K,
            "--backend-routes",
            "mcp:/gradio_api/mcp/,public:/",
        ])
        .resolve()
        .unwrap();
        assert_eq!(
            r.routes.parsed.decide("/gradio_api/mcp/"),
            Ok(crate::route_rules::Access::Mcp)
        );
        assert!(matches!(
            settings(&["--identity-secret", K, "--backend-routes", "open:/"]).resolve(),
            Err(ConfigError::Routes(RuleError::Syntax(_)))
        ));
    }

    #[test]
    fn local_auth_user_only_on_loopback_in_local_mode() {
        let base = [
            "--identity-secret",
            K,
            "--jwt-secret-key",
            K,
            "--local-auth-user",
            "conformance",
        ];
        let with = |extra: &[&str]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            settings(&v).resolve()
        };
        for (extra, allowed) in [
            (&["--listen-host", "127.0.0.1"][..], true),
            (&["--listen-host", "127.0.0.2"], true),
            (&["--listen-host", "::1"], true),
            (&["--listen-host", "[::1]"], true),
            (&[], false), // the default 0.0.0.0
            (&["--listen-host", "0.0.0.0"], false),
            (&["--listen-host", "::"], false),
            (&["--listen-host", "192.168.1.5"], false),
            (&["--listen-host", "localhost"], false), // a name, not an address
            (&["--listen-host", "127.0.0.1.evil.example"], false),
            (&["--listen-host", "127.0.0.1", "--mode", "space"], false),
            (
                &["--listen-host", "127.0.0.1", "--trusted-proxies", "127.0.0.1/32"],
                false,
            ),
            (&["--listen-host", "127.0.0.1", "--space-host", "a-b.hf.space"], false),
        ] {
            let r = with(extra);
            assert_eq!(r.is_ok(), allowed, "{extra:?}: {r:?}");
            if let Ok(r) = r {
                assert_eq!(r.auth.local_auth_user.as_ref().map(|u| u.as_str()), Some("conformance"));
            } else {
                let e = r.unwrap_err().to_string();
                assert!(e.starts_with("LOCAL_AUTH_USER is refused"), "{extra:?}: {e}");
            }
        }
        let e = settings(&[
            "--identity-secret",
            K,
            "--listen-host",
            "127.0.0.1",
            "--local-auth-user",
            "a/b",
        ])
        .resolve()
        .unwrap_err();
        assert!(matches!(e, ConfigError::LocalAuthUser(_)), "{e}");
        // Unset or empty: no local user, whatever the listener.
        assert!(
            settings(&["--identity-secret", K])
                .resolve()
                .unwrap()
                .auth
                .local_auth_user
                .is_none()
        );
        assert!(
            settings(&["--identity-secret", K, "--local-auth-user", ""])
                .resolve()
                .unwrap()
                .auth
                .local_auth_user
                .is_none()
        );
    }

    #[test]
    fn trusted_proxies_default_on_a_space_only() {
        let r = settings(&["--identity-secret", K]).resolve().unwrap();
        assert!(r.origins.trusted_proxies.is_empty());
        let r = settings(&["--identity-secret", K, "--space-host", "a-b.hf.space"])
            .resolve()
            .unwrap();
        assert!(
            r.origins
                .trusted_proxies
                .iter()
                .any(|n| n.contains(&"10.16.3.80".parse::<std::net::IpAddr>().unwrap()))
        );
        assert!(
            !r.origins
                .trusted_proxies
                .iter()
                .any(|n| n.contains(&"127.0.0.1".parse::<std::net::IpAddr>().unwrap()))
        );
        let r = settings(&[
            "--identity-secret",
            K,
            "--space-host",
            "a-b.hf.space",
            "--trusted-proxies",
            "192.0.2.0/24",
        ])
        .resolve()
        .unwrap();
        assert_eq!(r.origins.trusted_proxies, ["192.0.2.0/24".parse::<IpNet>().unwrap()]);
    }

    #[test]
    fn local_mode_on_a_public_listener_is_flagged() {
        let exposed = |extra: &[&str]| {
            let mut v = vec!["--identity-secret", K, "--jwt-secret-key", K];
            v.extend_from_slice(extra);
            settings(&v).resolve().unwrap().listen.local_mode_exposed
        };
        assert!(exposed(&[]), "the default 0.0.0.0");
        assert!(!exposed(&["--listen-host", "127.0.0.1"]));
        assert!(!exposed(&["--listen-host", "[::1]"]));
        assert!(!exposed(&["--mode", "space"]));
    }
}
