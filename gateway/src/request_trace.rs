//! One OpenTelemetry span per request, the backend call as its child, and the W3C
//! `traceparent` sent toward the backend.
//!
//! When tracing is off every method is one branch on [`telemetry::enabled`] and the spans
//! are `Span::none()`. Client-sent `traceparent`/`tracestate` never reach the backend: they
//! are removed and, when tracing is on, replaced with the gateway's own. A client's trace is
//! only linked to the gateway's span, unless `OTEL_TRUST_CLIENT_TRACE=true` makes it the
//! parent (a client could otherwise choose our trace ids and sampling).
//!
//! Attributes carry route labels, statuses and method names only: no user id (unless
//! `OTEL_RECORD_USER=true`), path, query, body or token (docs/operations.md lists them).

use http::{HeaderName, HeaderValue};
use pingora::http::RequestHeader;
use tracing::Span;
use tracing::field::Empty;
use vaultgate_shared::UserId;
use vaultgate_shared::telemetry;

use crate::metrics::HttpMethod;
use crate::routes::Route;
use crate::sessions::Era;
use crate::sessions::era::McpCall;
use crate::sessions::era::{MCP_NAME, TraceMeta};

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// The spans of one request (both `Span::none()` when tracing is off).
pub struct RequestTrace {
    span: Span,
    upstream: Span,
    /// Why the gateway refused the request, if it did (the first reason noted wins).
    refusal: std::sync::OnceLock<&'static str>,
    /// A client trace was already taken from the headers (the body's `_meta` is then ignored).
    has_client_trace: bool,
    /// The first body chunk went by.
    body_seen: bool,
    /// A legacy `tools/call`'s tool name, read from a body that came in one piece.
    tool: Option<String>,
}

impl Default for RequestTrace {
    fn default() -> Self {
        Self {
            span: Span::none(),
            upstream: Span::none(),
            refusal: std::sync::OnceLock::new(),
            has_client_trace: false,
            body_seen: false,
            tool: None,
        }
    }
}

impl RequestTrace {
    /// Opens the request's span, continuing or linking the client's `traceparent` header.
    /// Liveness probes (`/healthz`) get no span: they would drown the traces that matter.
    pub fn start(req: &RequestHeader, route: Route, method: HttpMethod) -> Self {
        if !telemetry::enabled() || route == Route::Healthz {
            return Self::default();
        }
        let span = tracing::info_span!(
            "gateway.request",
            otel.kind = "server",
            otel.status_code = Empty,
            http.request.method = method.label(),
            http.route = route.label(),
            http.response.status_code = Empty,
            mcp.method.name = Empty,
            mcp.tool.name = Empty,
            mcp.protocol.era = Empty,
            vaultgate.refusal = Empty,
            vaultgate.client_trace = Empty,
        );
        let mut t = Self {
            span,
            ..Self::default()
        };
        if let Some(cx) = telemetry::remote_parent(&req.headers) {
            t.adopt(cx);
        }
        t
    }

    fn adopt(&mut self, cx: telemetry::Context) {
        self.has_client_trace = true;
        if telemetry::trust_client_trace() {
            telemetry::continue_from(&self.span, cx);
            self.span.record("vaultgate.client_trace", "continued");
        } else {
            telemetry::link_to(&self.span, &cx);
            self.span.record("vaultgate.client_trace", "linked");
        }
    }

    /// The trace context of a JSON-RPC body the gateway read anyway (its `params._meta`,
    /// taken by [`crate::sessions::era::RpcPeek`] in its one parse), when the headers had none.
    pub fn body_meta(&mut self, meta: Option<&TraceMeta>) {
        if !telemetry::enabled() || self.has_client_trace {
            return;
        }
        if let Some(m) = meta
            && let Some(cx) = telemetry::parse_traceparent(&m.traceparent, m.tracestate.as_deref())
        {
            self.adopt(cx);
        }
    }

    /// A forwarded body chunk: a legacy `tools/call` (which has no `Mcp-Name` header) whose
    /// whole body is this first chunk gives its tool name (a real parse, so never a value from
    /// the arguments; larger bodies are not parsed and leave the name to the backend's span).
    pub fn body_chunk(&mut self, chunk: Option<&[u8]>, end: bool, mcp: Option<&McpCall>) {
        if !telemetry::enabled() || self.body_seen {
            return;
        }
        self.body_seen = true;
        let (Some(chunk), true, Some(m)) = (chunk, end, mcp) else {
            return;
        };
        if m.era != Era::Legacy || m.method.label() != "tools/call" {
            return;
        }
        #[derive(serde::Deserialize)]
        struct Msg {
            params: Params,
        }
        #[derive(serde::Deserialize)]
        struct Params {
            name: String,
        }
        if let Ok(msg) = serde_json::from_slice::<Msg>(chunk) {
            self.tool = tool_name(msg.params.name.as_bytes()).map(str::to_owned);
        }
    }

    /// Notes why the gateway refused the request (the first reason wins).
    pub fn refused(&self, reason: &'static str) {
        if telemetry::enabled() {
            let _ = self.refusal.set(reason);
        }
    }

    /// Opens the backend call's span (again on a retry).
    pub fn upstream(&mut self) {
        if telemetry::enabled() {
            self.upstream = tracing::info_span!(
                parent: &self.span,
                "gateway.upstream",
                otel.kind = "client",
                otel.status_code = Empty,
                http.response.status_code = Empty,
                vaultgate.upstream_error = Empty,
            );
        }
    }

    /// Replaces any client trace headers on the backend request with the upstream span's.
    pub fn inject(&self, up: &mut RequestHeader) -> pingora::Result<()> {
        up.remove_header(&TRACEPARENT);
        up.remove_header(&TRACESTATE);
        if telemetry::enabled() {
            for (name, value) in telemetry::traceparent_of(&self.upstream) {
                if let Ok(v) = HeaderValue::from_str(&value) {
                    up.insert_header(name, v)?;
                }
            }
        }
        Ok(())
    }

    /// The backend answered: its status ends the upstream span.
    pub fn upstream_done(&mut self, status: u16) {
        if telemetry::enabled() {
            self.upstream.record("http.response.status_code", status);
            if status >= 500 {
                self.upstream.record("otel.status_code", "error");
            }
            self.upstream = Span::none();
        }
    }

    /// The backend call failed (`kind` is the upstream error label).
    pub fn upstream_failed(&mut self, kind: &'static str) {
        if telemetry::enabled() {
            self.upstream.record("vaultgate.upstream_error", kind);
            self.upstream.record("otel.status_code", "error");
            self.upstream = Span::none();
        }
    }

    /// The request is over: records what it turned out to be and ends the spans.
    pub fn finish(&mut self, req: &RequestHeader, status: u16, mcp: Option<&McpCall>, user: Option<&UserId>) {
        if !telemetry::enabled() {
            return;
        }
        let span = &self.span;
        span.record("http.response.status_code", status);
        if status >= 500 || status == 0 {
            span.record("otel.status_code", "error");
        }
        if let Some(reason) = self.refusal.get().copied() {
            span.record("vaultgate.refusal", reason);
        }
        if let Some(m) = mcp {
            span.record("mcp.method.name", m.method.label());
            span.record("mcp.protocol.era", m.era.label());
            if let Some(tool) = req.headers.get(MCP_NAME).and_then(|v| tool_name(v.as_bytes())) {
                span.record("mcp.tool.name", tool);
            } else if let Some(tool) = &self.tool {
                span.record("mcp.tool.name", tool.as_str());
            }
        }
        if let Some(u) = user {
            telemetry::record_user_on(span, u.as_str());
        }
        self.upstream = Span::none();
    }

    /// The trace id, for the access log (None when tracing is off or the span is not sampled).
    pub fn trace_id(&self) -> Option<String> {
        if telemetry::enabled() {
            telemetry::trace_id(&self.span)
        } else {
            None
        }
    }
}

/// A tool name as the client declared it in `Mcp-Name`, when it looks like one (a name, not data).
fn tool_name(v: &[u8]) -> Option<&str> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'));
    ok.then(|| std::str::from_utf8(v).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_are_names() {
        assert_eq!(tool_name(b"search_notes"), Some("search_notes"));
        assert_eq!(tool_name(b"a.b/c-d"), Some("a.b/c-d"));
        for bad in [&b""[..], b"has space", b"quote\"", &[b'a'; 65], "caf\u{e9}".as_bytes()] {
            assert_eq!(tool_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn off_strips_client_trace_headers() {
        let mut up = RequestHeader::build("POST", b"/mcp", None).unwrap();
        up.insert_header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .unwrap();
        up.insert_header("tracestate", "k=v").unwrap();
        let t = RequestTrace::start(&up, Route::Mcp, HttpMethod::of(&http::Method::POST));
        t.inject(&mut up).unwrap();
        assert!(up.headers.get("traceparent").is_none());
        assert!(up.headers.get("tracestate").is_none());
    }
}
