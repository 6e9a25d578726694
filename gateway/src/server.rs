//! Builds the Pingora server: the public proxy service and the admin service, with
//! the settings that matter on a small machine (threads, grace period).

use std::sync::Arc;
use std::time::Duration;

use pingora::server::Server;
use pingora::server::configuration::ServerConf;
use pingora::services::listening::Service;
use vaultgate_shared::identity::IdentityKey;

use crate::admin::Admin;
use crate::auth::Authenticator;
use crate::auth::hf::HfTokens;
use crate::auth::jwt::TokenKeys;
use crate::client_ip::TrustedProxies;
use crate::config::{Resolved, Settings};
use crate::identity::IdentitySigner;
use crate::metrics::Metrics;
use crate::origin::Origins;
use crate::proxy::{AUDIT_SUCCESS_EVERY, Gateway};
use crate::ratelimit::RateLimiter;
use crate::state::{self, SessionLimits};
use crate::upstream::Backend;
use crate::usage::Usage;

/// Why the server could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("IDENTITY_SECRET: {0}")]
    Identity(#[from] vaultgate_shared::identity::WeakSecret),
    #[error("GATEWAY_STATE: {0}")]
    State(#[from] crate::state::StateError),
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
    let stores = state::open(&resolved.state, limits)?;
    let sessions = stores.sessions.clone();
    metrics.register_state_backend(stores.name);
    let keys = TokenKeys::new(
        &resolved.jwt_key,
        resolved.jwt_previous.as_ref(),
        &resolved.public_url,
        settings.token_ttl,
    );
    let gateway = Gateway {
        auth: Authenticator {
            keys,
            hf: HfTokens::new(&settings.hf_api_url),
            revocations: stores.revocations,
            local_user: resolved.local_user.clone(),
        },
        signer: IdentitySigner::new(IdentityKey::new(resolved.identity_secret.expose())?),
        sessions: sessions.clone(),
        limits: RateLimiter::new(
            settings.rate_limit_per_minute,
            settings.rate_limit_burst,
            settings.ip_rate_limit_per_minute,
            settings.auth_failure_limit_per_minute,
        ),
        metrics: metrics.clone(),
        usage: usage.clone(),
        backend: backend.clone(),
        origins: Origins::new(&resolved.allowed_origins),
        proxies: TrustedProxies::new(settings.trusted_proxies.clone()),
        metrics_token: settings.metrics_token.clone(),
        sniff_max: settings.mcp_sniff_max_bytes,
        audited: moka::sync::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(AUDIT_SUCCESS_EVERY)
            .build(),
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

/// Runs until SIGTERM (graceful, `SHUTDOWN_GRACE_SECS`) or SIGINT (immediate); exits the process.
pub fn run(settings: &Settings, resolved: &Resolved) -> Result<(), StartError> {
    let (gateway, admin) = build_gateway(settings, resolved)?;
    let conf = ServerConf {
        threads: settings.threads,
        // Measured faster on two cores (NOTES.md); requests are short and independent.
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
    server.run_forever()
}
