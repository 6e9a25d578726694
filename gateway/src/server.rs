//! Builds the Pingora server: the public proxy service and the admin service, with
//! the settings that matter on a small machine (threads, grace period).

use std::sync::Arc;
use std::time::Duration;

use pingora::server::Server;
use pingora::server::configuration::ServerConf;
use pingora::services::listening::Service;
use vaultgate_shared::UserId;
use vaultgate_shared::config::Mode;
use vaultgate_shared::identity::IdentityKey;

use crate::admin::Admin;
use crate::auth::Authenticator;
use crate::auth::allow::AllowList;
use crate::auth::hf::HfTokens;
use crate::auth::jwt::TokenKeys;
use crate::client_ip::TrustedProxies;
use crate::config::{HfTokenKinds, McpOauth, Resolved, Settings};
use crate::identity::IdentitySigner;
use crate::metrics::Metrics;
use crate::origin::Origins;
use crate::proxy::{AUDIT_SUCCESS_EVERY, Gateway};
use crate::ratelimit::RateLimiter;
use crate::resource_metadata::ResourceMetadata;
use crate::signin::provider::Provider;
use crate::signin::{DEFAULT_SCOPES, LocalCode, SignIn};
use crate::state::{self, ErrorCount, SessionLimits};
use crate::upstream::Backend;
use crate::usage::Usage;

/// Hugging Face's OpenID provider, when Spaces did not inject `OPENID_PROVIDER_URL`.
const DEFAULT_HF_ISSUER: &str = "https://huggingface.co";

/// Why the server could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("IDENTITY_SECRET: {0}")]
    Identity(#[from] vaultgate_shared::identity::WeakSecret),
    #[error("GATEWAY_STATE: {0}")]
    State(#[from] crate::state::StateError),
}

impl StartError {
    /// The exit status: a weak key is configuration; a store that cannot be opened is a runtime failure.
    pub fn failure(&self) -> vaultgate_shared::exit::Failure {
        match self {
            StartError::Identity(_) => vaultgate_shared::exit::Failure::Config,
            StartError::State(_) => vaultgate_shared::exit::Failure::Runtime,
        }
    }
}

/// Builds the gateway's state from checked settings.
pub fn build_gateway(settings: &Settings, resolved: &Resolved) -> Result<(Gateway, Admin), StartError> {
    let metrics = Arc::new(Metrics::new());
    let usage = Arc::new(Usage::new());
    let backend = Backend::new(resolved.backend_addr.clone(), settings.upstream_timeout);
    let limits = SessionLimits {
        idle: Duration::from_secs(settings.session_idle_secs),
        max: Duration::from_secs(settings.session_max_secs),
        per_user: settings.sessions_per_user,
    };
    let stores = state::open(&resolved.state, limits, ErrorCount::new(metrics.state_errors.clone()))?;
    let sessions = stores.sessions.clone();
    metrics.register_state_backend(stores.name);
    let keys = TokenKeys::new(
        &resolved.jwt_key,
        resolved.jwt_previous.as_ref(),
        &resolved.public_url,
        settings.token_ttl,
    )
    .with_max_session_age(settings.max_session_age);
    let signin = signin_of(settings, resolved);
    // Settings::resolve refused a bad list already; this cannot fail here.
    if let Err(e) = crate::web::set_frame_ancestors(&settings.frame_ancestors) {
        tracing::error!(error = %e, "FRAME_ANCESTORS ignored");
    }
    let gateway = Gateway {
        auth: Authenticator {
            keys,
            hf: HfTokens::new(&settings.hf_api_url),
            revocations: stores.revocations,
            allow: signin.allow_list().clone(),
            hf_oauth_only: settings.hf_tokens == HfTokenKinds::Oauth,
            local_user: resolved.local_user.clone(),
        },
        signer: IdentitySigner::new(IdentityKey::new(resolved.identity_secret.expose())?),
        sessions: sessions.clone(),
        limits: RateLimiter::new(
            settings.rate_limit_per_minute,
            settings.rate_limit_burst,
            settings.ip_rate_limit_per_minute,
            settings.auth_failure_limit_per_minute,
        )
        .with_shared(stores.counters.clone()),
        metrics: metrics.clone(),
        usage: usage.clone(),
        backend: backend.clone(),
        origins: Origins::new(&resolved.allowed_origins, &resolved.public_url),
        proxies: TrustedProxies::new(resolved.trusted_proxies.clone(), settings.client_ip_header),
        metrics_token: settings.metrics_token.clone(),
        sniff_max: settings.mcp_sniff_max_bytes,
        routes: resolved.routes.clone(),
        audited: moka::sync::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(AUDIT_SUCCESS_EVERY)
            .build(),
        signin,
        web_ui: settings.web_ui,
        mcp_url: format!("{}/mcp", resolved.public_url),
        resource_metadata: (settings.mcp_oauth == McpOauth::Huggingface).then(|| {
            let issuer = settings
                .openid_provider_url
                .as_deref()
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .unwrap_or(DEFAULT_HF_ISSUER);
            ResourceMetadata::new(&resolved.public_url, issuer, &["openid", "profile"])
        }),
        listen_port: resolved.port,
        access_log: settings.access_log,
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .build()
        .unwrap_or_default();
    let backend_admin_url = settings.backend_admin_url.trim_end_matches('/').to_owned();
    let admin = Admin {
        metrics,
        sessions,
        backend,
        usage,
        backend_admin_url,
        client,
    };
    Ok((gateway, admin))
}

/// Browser sign-in: Hugging Face OAuth when the provider and client id are set; else, in
/// `MODE=local`, the local user.
fn signin_of(settings: &Settings, resolved: &Resolved) -> SignIn {
    let set = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let provider = match (set(&settings.openid_provider_url), set(&settings.oauth_client_id)) {
        (Some(url), Some(client_id)) => Some(Provider::new(
            &url,
            &client_id,
            settings.oauth_client_secret.clone().filter(|s| !s.is_empty()),
            set(&settings.oauth_scopes).as_deref().unwrap_or(DEFAULT_SCOPES),
            format!("{}/auth/callback", resolved.public_url),
        )),
        _ => None,
    };
    let local = (settings.mode == Mode::Local)
        .then(|| UserId::parse(&settings.local_user).ok())
        .flatten()
        .map(|user| {
            let code = match settings.local_signin_code.as_ref().filter(|c| !c.is_empty()) {
                Some(c) => c.expose_str().to_owned(),
                None => LocalCode::generate(),
            };
            (user, LocalCode::new(code))
        });
    let signin = SignIn::new(
        provider,
        local,
        AllowList::new(&settings.allowed_users, &settings.allowed_orgs),
    );
    if let Some(link) = signin.local_link(&format!("http://localhost:{}", settings.effective_port())) {
        // The one way to hand the code to the person at this machine, as Jupyter does.
        tracing::info!("local sign-in: open {link} in a browser on this machine");
    }
    signin
}

/// Runs until SIGTERM (graceful, `SHUTDOWN_GRACE_SECS`) or SIGINT (immediate); exits the process.
pub fn run(settings: &Settings, resolved: &Resolved) -> Result<(), StartError> {
    let (gateway, admin) = build_gateway(settings, resolved)?;
    let conf = ServerConf {
        threads: settings.threads,
        // Measured faster on two cores (docs/bench/gateway.md); requests are short and independent.
        work_stealing: false,
        grace_period_seconds: Some(settings.shutdown_grace_secs),
        // In-flight requests had the grace period; what is left after it (idle keep-alive
        // connections, background tasks) is not worth another wait.
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = pingora::proxy::http_proxy_service_with_name(&server.configuration, gateway, "vaultgate-gateway");
    proxy.add_tcp(&format!("{}:{}", settings.listen_host, resolved.port));
    let mut admin_service = Service::new("vaultgate-admin".to_owned(), admin);
    admin_service.add_tcp(&settings.admin_addr.to_string());
    server.add_service(proxy);
    server.add_service(admin_service);
    tracing::info!(
        listen = %format!("{}:{}", settings.listen_host, resolved.port),
        admin = %settings.admin_addr,
        backend = %resolved.backend_addr,
        public_url = %resolved.public_url,
        "vaultgate gateway starting"
    );
    // `run`, not `run_forever` (which exits the process): `main` still has the trace spans to flush.
    server.run(pingora::server::RunArgs::default());
    Ok(())
}
