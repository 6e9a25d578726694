//! The operator listener (loopback by default, no authentication): `GET /metrics` in the
//! Prometheus text format and `GET /healthz`.

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::Body;
use super::respond::{bytes, error, json};
use crate::metrics::Metrics;

pub fn handle(metrics: &Metrics, req: &Request<Incoming>) -> Response<Body> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => bytes(StatusCode::OK, "text/plain; version=0.0.4", metrics.render()),
        (&Method::GET, "/healthz") => json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
        _ => error(
            StatusCode::NOT_FOUND,
            "not_found",
            "the admin listener serves GET /metrics and GET /healthz",
            "",
        ),
    }
}
