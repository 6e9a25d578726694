//! The operator listener (loopback by default, no authentication): `GET /metrics` in the
//! Prometheus text format, `GET /healthz`, `GET /readyz` (deep readiness, also on the main
//! listener), and `GET /admin/usage` (vault sizes per user, for the operator's usage report;
//! never exposed as metric labels).

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use std::sync::Arc;

use super::Body;
use super::respond::{bytes, error, json};
use crate::metrics::Metrics;
use crate::readiness::Readiness;
use crate::service::NoteService;

/// Answers one admin request.
pub async fn handle(
    metrics: &Metrics,
    notes: &Arc<NoteService>,
    readiness: &Arc<Readiness>,
    req: &Request<Incoming>,
) -> Response<Body> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/admin/usage") => {
            let notes = notes.clone();
            let sizes = tokio::task::spawn_blocking(move || notes.index().vault_sizes()).await;
            match sizes {
                Ok(Ok(rows)) => {
                    let vaults: Vec<_> = rows
                        .into_iter()
                        .map(|(user, notes, bytes)| serde_json::json!({"user": user, "notes": notes, "bytes": bytes}))
                        .collect();
                    json(StatusCode::OK, &serde_json::json!({"vaults": vaults}))
                }
                _ => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the index could not be read",
                    "",
                ),
            }
        }
        (&Method::GET, "/metrics") => {
            let dir = notes.index().dir().to_owned();
            if let Ok(Ok(n)) = tokio::task::spawn_blocking(move || dir_bytes(&dir)).await {
                metrics.index_bytes.set(i64::try_from(n).unwrap_or(i64::MAX));
            }
            bytes(StatusCode::OK, "text/plain; version=0.0.4", metrics.render())
        }
        (&Method::GET, "/readyz") => readyz(readiness).await,
        (&Method::GET, "/healthz") => json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
        _ => error(
            StatusCode::NOT_FOUND,
            "not_found",
            "the admin listener serves GET /metrics, GET /healthz, GET /readyz and GET /admin/usage",
            "",
        ),
    }
}

/// `GET /readyz`: 200 with every check when ready, 503 with the failing ones otherwise.
pub async fn readyz(readiness: &Arc<Readiness>) -> Response<Body> {
    let report = readiness.report().await;
    let status = if report.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(status, &*report)
}

/// Bytes of the regular files directly in `dir` (the per-user databases and their journals).
fn dir_bytes(dir: &std::path::Path) -> std::io::Result<u64> {
    let mut total = 0u64;
    for entry in std::fs::read_dir(dir)? {
        let meta = entry?.metadata()?;
        if meta.is_file() {
            total = total.saturating_add(meta.len());
        }
    }
    Ok(total)
}
