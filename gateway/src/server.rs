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
use crate::auth::allow::AllowList;
use crate::auth::hf::HfTokens;
use crate::auth::jwt::TokenKeys;
use crate::client_ip::TrustedProxies;
use crate::config::{GatewayConfig, HfTokenKinds};
use crate::endpoints::resource_metadata::ResourceMetadata;
use crate::endpoints::signin::provider::Provider;
use crate::endpoints::signin::{LocalCode, SignIn};
use crate::gateway::{AUDIT_SUCCESS_EVERY, Gateway};
use crate::identity::IdentitySigner;
use crate::metrics::Metrics;
use crate::origin::Origins;
use crate::ratelimit::RateLimiter;
use crate::state::{self, ErrorCount};
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

impl StartError {
    /// The exit status: a weak key is configuration; a store that cannot be opened is a runtime failure.
    pub fn failure(&self) -> vaultgate_shared::exit::Failure {
        match self {
            StartError::Identity(_) => vaultgate_shared::exit::Failure::Config,
            StartError::State(_) => vaultgate_shared::exit::Failure::Runtime,
        }
    }
}

/// Builds the gateway's state from the resolved configuration.
pub fn build_gateway(config: &GatewayConfig) -> Result<(Gateway, Admin), StartError> {
    let metrics = Arc::new(Metrics::new());
    let usage = Arc::new(Usage::new());
    let backend = Backend::new(config.backend.addr.clone(), config.backend.upstream_timeout);
    let stores = state::open(
        &config.state.to_state_config(),
        config.sessions.limits(),
        ErrorCount::new(metrics.state_errors.clone()),
    )?;
    let sessions = stores.sessions.clone();
    metrics.register_state_backend(stores.name);
    let auth = &config.auth;
    let keys = TokenKeys::new(
        &auth.jwt_key,
        auth.jwt_previous.as_ref(),
        &config.public_url,
        auth.token_ttl,
    )
    .with_max_session_age(auth.max_session_age);
    let signin = signin_of(config);
    // GatewayConfig::resolve refused a bad list already; this cannot fail here.
    if let Err(e) = crate::endpoints::web::set_frame_ancestors(&config.web.frame_ancestors) {
        tracing::error!(error = %e, "FRAME_ANCESTORS ignored");
    }
    let limits = &config.limits;
    let gateway = Gateway {
        auth: Authenticator {
            keys,
            hf: HfTokens::new(&auth.hf_api_url),
            revocations: stores.revocations,
            allow: signin.allow_list().clone(),
            hf_oauth_only: auth.hf_tokens == HfTokenKinds::Oauth,
            local_user: auth.local_auth_user.clone(),
        },
        signer: IdentitySigner::new(IdentityKey::new(auth.identity_secret.expose())?),
        sessions: sessions.clone(),
        limits: RateLimiter::new(
            limits.per_user_per_minute,
            limits.per_user_burst,
            limits.per_ip_per_minute,
            limits.auth_failures_per_minute,
        )
        .with_shared(stores.counters.clone()),
        metrics: metrics.clone(),
        usage: usage.clone(),
        backend: backend.clone(),
        origins: Origins::new(&config.origins.allowed, &config.public_url),
        proxies: TrustedProxies::new(config.origins.trusted_proxies.clone(), config.origins.client_ip_header),
        metrics_token: config.observability.metrics_token.clone(),
        sniff_max: config.backend.mcp_sniff_max_bytes,
        routes: config.routes.parsed.clone(),
        audited: moka::sync::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(AUDIT_SUCCESS_EVERY)
            .build(),
        signin,
        web_ui: config.web.ui,
        mcp_url: config.web.mcp_url.clone(),
        resource_metadata: config
            .signin
            .mcp_oauth_issuer
            .as_deref()
            .map(|issuer| ResourceMetadata::new(&config.public_url, issuer, &["openid", "profile"])),
        listen_port: config.listen.port,
        access_log: config.observability.access_log,
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .build()
        .unwrap_or_default();
    let admin = Admin {
        metrics,
        sessions,
        backend,
        usage,
        backend_admin_url: config.backend.admin_url.clone(),
        client,
    };
    Ok((gateway, admin))
}

/// Browser sign-in, as resolved: Hugging Face OAuth, or in `MODE=local` the local user.
fn signin_of(config: &GatewayConfig) -> SignIn {
    let s = &config.signin;
    let provider = s.provider.as_ref().map(|p| {
        Provider::new(
            &p.url,
            &p.client_id,
            p.client_secret.clone(),
            &p.scopes,
            p.redirect_uri.clone(),
        )
    });
    let local = s
        .local
        .as_ref()
        .map(|l| (l.user.clone(), LocalCode::new(l.code.expose_str().to_owned())));
    let signin = SignIn::new(provider, local, AllowList::new(&s.allowed_users, &s.allowed_orgs));
    if let Some(link) = signin.local_link(&format!("http://localhost:{}", config.listen.port)) {
        // The one way to hand the code to the person at this machine, as Jupyter does.
        tracing::info!("local sign-in: open {link} in a browser on this machine");
    }
    signin
}

/// Runs until SIGTERM (graceful, `SHUTDOWN_GRACE_SECS`) or SIGINT (immediate); exits the process.
pub fn run(config: &GatewayConfig) -> Result<(), StartError> {
    let (gateway, admin) = build_gateway(config)?;
    let conf = ServerConf {
        threads: config.listen.threads,
        // Measured faster on two cores (docs/bench/gateway.md); requests are short and independent.
        work_stealing: false,
        grace_period_seconds: Some(config.listen.shutdown_grace_secs),
        // In-flight requests had the grace period; what is left after it (idle keep-alive
        // connections, background tasks) is not worth another wait.
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = pingora::proxy::http_proxy_service_with_name(&server.configuration, gateway, "vaultgate-gateway");
    proxy.add_tcp(&config.listen.public_addr());
    let mut admin_service = Service::new("vaultgate-admin".to_owned(), admin);
    admin_service.add_tcp(&config.listen.admin_addr.to_string());
    server.add_service(proxy);
    server.add_service(admin_service);
    tracing::info!(
        listen = %config.listen.public_addr(),
        admin = %config.listen.admin_addr,
        backend = %config.backend.addr,
        public_url = %config.public_url,
        "vaultgate gateway starting"
    );
    // `run`, not `run_forever` (which exits the process): `main` still has the trace spans to flush.
    server.run(pingora::server::RunArgs::default());
    Ok(())
}
