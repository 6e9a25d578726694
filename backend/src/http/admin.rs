//! The operator listener (loopback by default, no authentication): `GET /metrics` in the
//! Prometheus text format, `GET /healthz`, and `GET /admin/usage` (vault sizes per user,
//! for the operator's usage report; never exposed as metric labels).

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use std::sync::Arc;

use super::Body;
use super::respond::{bytes, error, json};
use crate::metrics::Metrics;
use crate::service::NoteService;

/// Answers one admin request.
pub async fn handle(metrics: &Metrics, notes: &Arc<NoteService>, req: &Request<Incoming>) -> Response<Body> {
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
        (&Method::GET, "/metrics") => bytes(StatusCode::OK, "text/plain; version=0.0.4", metrics.render()),
        (&Method::GET, "/healthz") => json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
        _ => error(
            StatusCode::NOT_FOUND,
            "not_found",
            "the admin listener serves GET /metrics, GET /healthz and GET /admin/usage",
            "",
        ),
    }
}
