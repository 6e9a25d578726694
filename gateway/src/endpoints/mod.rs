//! The gateway's own endpoints: each returns its [`Answer`]; the proxy writes it. None of
//! them sees the whole gateway: each gets what it answers from.

pub mod issuer;
pub mod readiness;
pub mod resource_metadata;
pub mod signin;
pub mod token_endpoints;
pub mod web;

use bytes::Bytes;
use pingora::http::RequestHeader;
use vaultgate_shared::config::Secret;

use crate::answer::Answer;
use crate::auth::{Authenticator, RemoteBudget};
use crate::endpoints::signin::SignIn;
use crate::metrics::Metrics;
use crate::state::sessions::SessionStore;
use crate::upstream::Backend;
use crate::usage::Usage;

pub use issuer::TokenIssuer;

/// `GET /healthz`: the process is up.
pub fn health() -> Answer {
    Answer::json(200, &serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: the backend and the state store, each reported on its own.
pub async fn readyz(backend: &Backend, sessions: &dyn SessionStore) -> Answer {
    let (status, body) = readiness::check(backend, sessions).await;
    Answer::json(status, &body)
}

/// `GET /auth/config`: which sign-in the page offers, the MCP URL, and who the page's cookie
/// belongs to. No cookie (or a dead one) is not an error here.
pub async fn signin_config(
    auth: &Authenticator,
    budget: RemoteBudget<'_>,
    signin: &SignIn,
    mcp_url: &str,
    mcp_oauth: bool,
    req: &RequestHeader,
) -> Answer {
    let session = match crate::auth::bearer::cookie_value(req, crate::auth::bearer::COOKIE_NAME) {
        Some(_) => auth.authenticate(req, true, budget).await.ok(),
        None => None,
    };
    let session =
        session.map(|p| serde_json::json!({"user": p.user.as_str(), "name": p.name, "expires_at": p.expires_at}));
    Answer::json(
        200,
        &serde_json::json!({
            "signin": signin.method(),
            "mcp_url": mcp_url,
            "mcp_oauth": mcp_oauth,
            "session": session,
        }),
    )
}

/// `/metrics` on the public port: only with `METRICS_TOKEN`, and only for its bearer.
pub fn metrics(
    req: &RequestHeader,
    token: Option<&Secret>,
    metrics: &Metrics,
    usage: &Usage,
    sessions: &dyn SessionStore,
) -> Answer {
    let Some(expected) = token else {
        return Answer::error(404, "not_found", "metrics are served on the admin listener", None);
    };
    match crate::auth::bearer::extract(req, false) {
        Ok(c) if crate::auth::constant_time_eq(c.token().as_bytes(), expected.expose()) => {
            let text = metrics.render(usage, sessions.active());
            Answer::raw(200, "text/plain; version=0.0.4", Bytes::from(text))
        }
        Err(crate::auth::bearer::BearerError::Missing) => {
            Answer::no_credential("a METRICS_TOKEN bearer is required", None)
        }
        _ => Answer::unauthorized(401, "a valid METRICS_TOKEN bearer is required", None),
    }
}
