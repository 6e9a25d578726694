//! The admin listener (`ADMIN_ADDR`, loopback by default): `/metrics`, `/healthz`,
//! `/readyz` and `/admin/usage` for operators and Prometheus, never exposed publicly.

use std::sync::Arc;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use vaultgate_shared::query::Query;

use crate::metrics::Metrics;
use crate::state::sessions::SessionStore;
use crate::upstream::Backend;
use crate::usage::Usage;

/// How many users `/admin/usage` lists by default (`?top=N`, at most 1000).
const DEFAULT_TOP: usize = 20;

/// The admin HTTP app.
pub struct Admin {
    pub metrics: Arc<Metrics>,
    pub sessions: Arc<dyn SessionStore>,
    pub backend: Backend,
    pub usage: Arc<Usage>,
    /// The backend's admin listener, asked for vault sizes (`/admin/usage`).
    pub backend_admin_url: String,
    pub client: reqwest::Client,
}

impl Admin {
    /// The usage report: the gateway's own counts plus the backend's vault sizes when it answers.
    async fn usage(&self, query: Option<&str>) -> serde_json::Value {
        let top = query
            .and_then(|q| Query::parse(q).ok())
            .and_then(|q| q.get("top").and_then(|n| n.parse::<usize>().ok()))
            .unwrap_or(DEFAULT_TOP)
            .min(1000);
        let report = self.usage.report(top);
        let vaults = match self
            .client
            .get(format!("{}/admin/usage", self.backend_admin_url))
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => r.json::<serde_json::Value>().await.unwrap_or(serde_json::Value::Null),
            _ => serde_json::Value::Null,
        };
        serde_json::json!({
            "active_users_1h": report.active_users_1h,
            "active_users_24h": report.active_users_24h,
            "top_users": report.top_users,
            "sessions_active": self.sessions.active(),
            "backend": vaults,
        })
    }
}

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut r = Response::new(body);
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    let len = r.body().len();
    r.headers_mut()
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    r
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        match session.req_header().uri.path() {
            "/metrics" => reply(
                200,
                "text/plain; version=0.0.4",
                self.metrics.render(&self.usage, self.sessions.active()),
            ),
            "/admin/usage" => {
                let q = session.req_header().uri.query().map(str::to_owned);
                let body = self.usage(q.as_deref()).await;
                reply(200, "application/json", body.to_string().into_bytes())
            }
            "/healthz" => reply(200, "application/json", br#"{"status":"ok"}"#.to_vec()),
            "/readyz" => {
                let (status, body) = crate::endpoints::readiness::check(&self.backend, self.sessions.as_ref()).await;
                reply(status, "application/json", body.to_string().into_bytes())
            }
            _ => reply(
                404,
                "application/json",
                br#"{"error":"not_found","message":"admin routes: /metrics, /healthz, /readyz, /admin/usage"}"#
                    .to_vec(),
            ),
        }
    }
}
