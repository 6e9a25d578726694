//! A recording upstream: answers every request with 200 JSON and remembers exactly
//! what arrived (method, path, every header copy, the body), so tests can see what
//! the gateway forwards. `x-echo-delay-ms` delays the answer; `x-echo-status` sets it.
//!
//! It also plays Hugging Face's `GET /api/whoami-v2` (see [`HF_USERS`]), so one fake
//! serves as both the backend and the identity provider in gateway tests.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Channel, Full};
use hyper::body::Incoming;

use hyper::{Request, Response};

use crate::serve::Loopback;

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// Every value of header `name` (case-insensitive).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A running echo upstream; stops when dropped.
pub struct Echo {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Recorded>>>,
    /// Lets a held SSE stream (`x-echo-sse`) send its second event.
    pub release: Arc<tokio::sync::Notify>,
    _server: Loopback,
}

impl Echo {
    /// Starts on a free loopback port.
    pub fn start() -> Self {
        Self::start_on(0)
    }

    /// Starts on `port` (0 = any free one).
    pub fn start_on(port: u16) -> Self {
        let seen: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let release: Arc<tokio::sync::Notify> = Arc::default();
        let (seen2, release2) = (seen.clone(), release.clone());
        let server = Loopback::start(port, move |_| move |req| handle(req, seen2.clone(), release2.clone()));
        Self {
            port: server.port,
            seen,
            release,
            _server: server,
        }
    }

    /// The upstream's URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.seen.lock().map(|v| v.len()).unwrap_or(0)
    }

    /// The last request that arrived.
    pub fn last(&self) -> Option<Recorded> {
        self.seen.lock().ok()?.last().cloned()
    }
}

/// Tokens the fake whoami accepts: (token, account id, name, type).
pub const HF_USERS: [(&str, &str, &str, &str); 3] = [
    ("hf_alice_token_0001", "64a1b2c3d4e5f6a7b8c9d0e1", "alice-hf", "user"),
    ("hf_bob_token_0002", "64a1b2c3d4e5f6a7b8c9d0e2", "bob-hf", "user"),
    ("hf_org_token_0003", "64a1b2c3d4e5f6a7b8c9d0e3", "some-org", "org"),
];

/// Tokens starting with this, then a status (`hf_status_429_…`), make the fake whoami answer
/// that status with `Retry-After: 7`, as Hugging Face does when it rate-limits a caller.
pub const HF_STATUS_PREFIX: &str = "hf_status_";

fn whoami(headers: &hyper::HeaderMap) -> (u16, serde_json::Value) {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(status) = token
        .and_then(|t| t.strip_prefix(HF_STATUS_PREFIX))
        .and_then(|rest| rest.get(..3)?.parse::<u16>().ok())
    {
        return (status, serde_json::json!({"error": "slow down"}));
    }
    match HF_USERS.iter().find(|(t, ..)| Some(*t) == token) {
        Some((_, id, name, kind)) => (
            200,
            serde_json::json!({"id": id, "name": name, "type": kind, "orgs": []}),
        ),
        None => (
            401,
            serde_json::json!({"error": "Invalid credentials in Authorization header"}),
        ),
    }
}

type Body = BoxBody<Bytes, Infallible>;

/// An SSE answer: one event now, the second only after [`Echo::release`] is notified.
fn held_sse(release: Arc<tokio::sync::Notify>) -> Response<Body> {
    let (mut tx, body) = Channel::<Bytes, Infallible>::new(4);
    tokio::spawn(async move {
        let _ = tx
            .send_data(Bytes::from_static(b"event: message\ndata: {\"n\":1}\n\n"))
            .await;
        release.notified().await;
        let _ = tx
            .send_data(Bytes::from_static(b"event: message\ndata: {\"n\":2}\n\n"))
            .await;
    });
    let mut resp = Response::new(body.boxed());
    resp.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("text/event-stream"),
    );
    resp
}

async fn handle(
    req: Request<Incoming>,
    seen: Arc<Mutex<Vec<Recorded>>>,
    release: Arc<tokio::sync::Notify>,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let delay = parts
        .headers
        .get("x-echo-delay-ms")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let status = parts
        .headers
        .get("x-echo-status")
        .and_then(|v| v.to_str().ok()?.parse::<u16>().ok())
        .unwrap_or(200);
    let id = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("id").cloned())
        .unwrap_or(serde_json::Value::Null);
    let rec = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.to_string(),
        headers,
        body: body.clone(),
    };
    if let Ok(mut v) = seen.lock() {
        v.push(rec);
    }
    if parts.headers.contains_key("x-echo-sse") {
        return Ok(held_sse(release));
    }
    if let Some(ms) = delay {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let (status, answer) = if parts.uri.path() == "/api/whoami-v2" {
        whoami(&parts.headers)
    } else {
        (
            status,
            serde_json::json!({"jsonrpc": "2.0", "id": id, "result": {"echo": true, "body_len": body.len()}}),
        )
    };
    let mut resp = Response::new(Full::new(Bytes::from(answer.to_string())).boxed());
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    if status == 429 || status >= 500 {
        resp.headers_mut()
            .insert("retry-after", hyper::header::HeaderValue::from_static("7"));
    }
    resp.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    // A backend must not be able to set the gateway's session id.
    resp.headers_mut().insert(
        "mcp-session-id",
        hyper::header::HeaderValue::from_static("from-backend"),
    );
    Ok(resp)
}
