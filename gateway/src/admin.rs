//! The admin listener (`ADMIN_ADDR`, loopback by default): `/metrics`, `/healthz`,
//! `/readyz` for operators and Prometheus, never exposed publicly.

use std::sync::Arc;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::metrics::Metrics;
use crate::sessions::SessionStore;
use crate::upstream::Backend;

/// The admin HTTP app.
pub struct Admin {
    pub metrics: Arc<Metrics>,
    pub sessions: Arc<dyn SessionStore>,
    pub backend: Backend,
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
            "/metrics" => {
                self.metrics.sessions_active.set(self.sessions.active() as i64);
                reply(200, "text/plain; version=0.0.4", self.metrics.render())
            }
            "/healthz" => reply(200, "application/json", br#"{"status":"ok"}"#.to_vec()),
            "/readyz" => {
                if self.backend.ready().await {
                    reply(200, "application/json", br#"{"status":"ready"}"#.to_vec())
                } else {
                    reply(
                        503,
                        "application/json",
                        br#"{"error":"backend_unavailable","message":"the backend is not answering"}"#.to_vec(),
                    )
                }
            }
            _ => reply(
                404,
                "application/json",
                br#"{"error":"not_found","message":"admin routes: /metrics, /healthz, /readyz"}"#.to_vec(),
            ),
        }
    }
}
