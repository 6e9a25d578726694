//! The backend's trace spans: one per request (continuing the gateway's `traceparent`), one
//! per MCP tool call, one per storage step that matters (`index.query`, `index.update`,
//! `note.write`, `reconcile`, `rebuild`).
//!
//! With tracing off (no `OTEL_EXPORTER_OTLP_ENDPOINT`) each of these is one branch and
//! `Span::none()`. Attributes are labels only: never the user id (unless
//! `OTEL_RECORD_USER=true`), a note path, a query or any content.

use http::Request;
use tracing::Span;
use tracing::field::Empty;
use tracing::span::EnteredSpan;
use vaultgate_shared::telemetry;

/// The request's span, carried in the request's extensions to the MCP handlers (rmcp runs
/// them on its own tasks, outside the request's future).
#[derive(Clone)]
pub struct RequestSpan(pub Span);

/// Opens the span of one request, as a child of the gateway's span when its `traceparent`
/// came along, and puts it in the request's extensions.
/// Liveness probes (`healthz`) get no span.
pub fn request<B>(req: &mut Request<B>, route: &'static str) -> Span {
    if !telemetry::enabled() || route == "healthz" {
        return Span::none();
    }
    let method = match *req.method() {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        http::Method::HEAD => "HEAD",
        _ => "other",
    };
    let span = tracing::info_span!(
        "backend.request",
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = route,
        http.response.status_code = Empty,
    );
    if let Some(cx) = telemetry::remote_parent(req.headers()) {
        telemetry::continue_from(&span, cx);
    }
    req.extensions_mut().insert(RequestSpan(span.clone()));
    span
}

/// Records the response status on a request span.
pub fn finish(span: &Span, status: u16) {
    if telemetry::enabled() {
        span.record("http.response.status_code", status);
        if status >= 500 {
            span.record("otel.status_code", "error");
        }
    }
}

/// Opens the span of one MCP tool call under the request's span found in `parts`.
pub fn tool(parts: Option<&http::request::Parts>, tool: &'static str) -> Span {
    if !telemetry::enabled() {
        return Span::none();
    }
    let parent = parts
        .and_then(|p| p.extensions.get::<RequestSpan>())
        .map(|s| s.0.clone());
    let parent = parent.unwrap_or_else(Span::current);
    let span = tracing::info_span!(
        parent: &parent,
        "mcp.tool",
        otel.status_code = Empty,
        mcp.tool.name = tool,
        vaultgate.outcome = Empty,
    );
    if let Some(user) = parts.and_then(|p| p.extensions.get::<vaultgate_shared::Identity>()) {
        telemetry::record_user_on(&span, user.user.as_str());
    }
    span
}

/// Records a tool call's outcome label (`ok`, `not_found`, …).
pub fn outcome(span: &Span, outcome: &'static str) {
    if telemetry::enabled() {
        span.record("vaultgate.outcome", outcome);
        if !matches!(
            outcome,
            "ok" | "not_found" | "conflict" | "invalid_path" | "bad_request" | "too_large" | "invalid_arguments"
        ) {
            span.record("otel.status_code", "error");
        }
    }
}

/// Enters the span of one storage step (a static name) until the guard drops.
pub fn step(name: &'static str) -> EnteredSpan {
    if !telemetry::enabled() {
        return Span::none().entered();
    }
    tracing::info_span!("backend.step", otel.name = name).entered()
}

/// The current span, to carry onto a blocking thread (none when tracing is off).
pub fn current() -> Span {
    if telemetry::enabled() {
        Span::current()
    } else {
        Span::none()
    }
}
