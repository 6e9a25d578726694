//! The main listener: identity first, then `/mcp` or the REST API; plus the admin listener.

pub mod admin;
pub mod respond;
pub mod routes;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use vaultgate_shared::headers::REQUEST_ID;
use vaultgate_shared::identity::IdentityKey;

use crate::api;
use crate::bulkhead::Bulkhead;
use crate::identity::authenticate;
use crate::mcp::{McpService, accept};
use crate::metrics::Metrics;
use crate::service::NoteService;
use respond::{error, json};
pub use routes::Route;

pub type Body = BoxBody<Bytes, Infallible>;

/// What the main listener needs.
pub struct App {
    pub notes: Arc<NoteService>,
    /// Where every request's blocking work runs.
    pub bulkhead: Arc<Bulkhead>,
    pub key: IdentityKey,
    pub metrics: Metrics,
    pub mcp: McpService,
    /// Largest REST request body.
    pub max_body: usize,
    /// Exports being sent, one per user at a time.
    pub exports: Arc<crate::lifecycle::ExportsInFlight>,
    /// Writes the audit lines of REST writes (MCP tools have their own handle).
    pub audit: Arc<crate::audit::Auditor>,
    /// `GET /readyz`.
    pub readiness: Arc<crate::readiness::Readiness>,
    /// Imports being received or written, one per user at a time.
    pub imports: Arc<crate::lifecycle::ExportsInFlight>,
    /// Largest import upload.
    pub import_max_bytes: u64,
    /// Most entries in one import.
    pub import_max_entries: usize,
}

impl App {
    /// Handles one request inside its trace span (when tracing is on).
    pub async fn handle(self: Arc<Self>, mut req: Request<Incoming>) -> Response<Body> {
        // The route is decided here once; the span, the metrics, the dispatch and the audit
        // line all use it.
        let path = req.uri().path().to_owned();
        let route = Route::of(&path);
        if !vaultgate_shared::telemetry::enabled() {
            return self.serve(req, route).await;
        }
        let label = route.label(req.method());
        let span = crate::trace::request(&mut req, label);
        let response = tracing::Instrument::instrument(self.serve(req, route), span.clone()).await;
        crate::trace::finish(&span, response.status().as_u16());
        response
    }

    /// Handles one request and counts it.
    async fn serve(self: Arc<Self>, mut req: Request<Incoming>, route: Route<'_>) -> Response<Body> {
        let started = std::time::Instant::now();
        let label = route.label(req.method());
        let method = method_label(req.method());
        let request_id = req
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| vaultgate_shared::headers::is_valid_request_id(v))
            .map(str::to_owned)
            .unwrap_or_default();
        let response = match route {
            Route::Healthz if req.method() == Method::GET => json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
            Route::Readyz if req.method() == Method::GET => admin::readyz(&self.readiness).await,
            _ => match authenticate(&self.key, &self.metrics, req.headers(), &request_id) {
                Err(e) => error(StatusCode::UNAUTHORIZED, "unauthorized", &e.to_string(), &request_id),
                Ok(_) if route == Route::Mcp && req.method() == Method::POST && !accept::admit(req.headers_mut()) => {
                    error(
                        StatusCode::NOT_ACCEPTABLE,
                        "not_acceptable",
                        accept::NOT_ACCEPTABLE,
                        &request_id,
                    )
                }
                Ok(identity) if route == Route::Mcp => {
                    req.extensions_mut().insert(identity);
                    self.mcp.handle(req).await
                }
                Ok(identity) => api::route(&self, req, route, identity, &request_id).await,
            },
        };
        self.metrics
            .http_requests
            .with_label_values(&[label, response.status().as_str()])
            .inc();
        self.metrics
            .http_duration
            .with_label_values(&[label, method])
            .observe(started.elapsed().as_secs_f64());
        response
    }
}

/// The low-cardinality `method` label of `vaultgate_backend_http_request_duration_seconds`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Serves `listener` until `shutdown` resolves, then lets in-flight requests finish (briefly).
pub async fn serve<F>(
    listener: TcpListener,
    handler: Arc<dyn Fn(Request<Incoming>) -> futures_like::BoxFuture<Response<Body>> + Send + Sync>,
    shutdown: F,
) where
    F: std::future::Future<Output = ()>,
{
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer): (_, SocketAddr) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let handler = handler.clone();
                let service = hyper::service::service_fn(move |req| {
                    let fut = handler(req);
                    async move { Ok::<_, Infallible>(fut.await) }
                });
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still busy after 5 s; closing them");
    }
}

/// A boxed future, without pulling in the `futures` crate.
pub mod futures_like {
    pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;
}
