//! The gateway's state, built once at start and shared by every request: what the pipeline's
//! stages and the proxy phases read. It holds no per-request state (that is `RequestCtx`).

use std::sync::Arc;
use std::time::Duration;

use vaultgate_shared::config::Secret;

use crate::auth::Authenticator;
use crate::client_ip::TrustedProxies;
use crate::endpoints::TokenIssuer;
use crate::endpoints::resource_metadata::ResourceMetadata;
use crate::endpoints::signin::SignIn;
use crate::endpoints::token_endpoints::Lifecycle;
use crate::identity::IdentitySigner;
use crate::metrics::Metrics;
use crate::origin::Origins;
use crate::ratelimit::RateLimiter;
use crate::route_rules::RouteRules;
use crate::state::sessions::SessionStore;
use crate::upstream::Backend;
use crate::usage::Usage;

/// Everything the gateway needs, built once at start.
pub struct Gateway {
    pub auth: Authenticator,
    pub signer: IdentitySigner,
    pub sessions: Arc<dyn SessionStore>,
    pub limits: RateLimiter,
    pub metrics: Arc<Metrics>,
    pub usage: Arc<Usage>,
    pub backend: Backend,
    pub origins: Origins,
    pub proxies: TrustedProxies,
    pub metrics_token: Option<Secret>,
    pub sniff_max: usize,
    /// `BACKEND_ROUTES`: which forwarded paths are public, need a token, are MCP, or are refused.
    pub routes: RouteRules,
    /// Token ids whose success, and users or IPs whose rate limiting, were audited recently:
    /// one audit line per token (or limited client) per few minutes.
    pub audited: moka::sync::Cache<String, ()>,
    /// Browser sign-in (Hugging Face OAuth or local).
    pub signin: SignIn,
    /// Whether the gateway serves the web page at `/` (off when fronting a backend that has its own).
    pub web_ui: bool,
    /// The public MCP URL, as the page shows it to people.
    pub mcp_url: String,
    /// RFC 9728 metadata when `MCP_OAUTH=huggingface`; `None` publishes nothing.
    pub resource_metadata: Option<ResourceMetadata>,
    /// The public listener's port (the local sign-in checks the request's `Host` against it).
    pub listen_port: u16,
    /// `ACCESS_LOG`: one JSON line per request on stderr.
    pub access_log: bool,
}

impl Gateway {
    /// The token issuer sign-in and the token endpoints mint with.
    pub fn issuer(&self) -> TokenIssuer<'_> {
        TokenIssuer::new(&self.auth.keys, &self.metrics, &self.mcp_url)
    }

    /// What the token endpoints act on.
    pub fn lifecycle(&self) -> Lifecycle<'_> {
        Lifecycle {
            issuer: self.issuer(),
            allow: &self.auth.allow,
            revocations: self.auth.revocations.as_ref(),
            sessions: self.sessions.as_ref(),
        }
    }
}

/// How long a successful authentication is remembered for the audit log's de-duplication.
pub const AUDIT_SUCCESS_EVERY: Duration = Duration::from_secs(300);
