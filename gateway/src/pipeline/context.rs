//! What the stages learn about one request, filled stage by stage and read by the later
//! proxy phases (upstream request, response, logging).

use std::net::IpAddr;
use std::time::Instant;

use http::HeaderValue;
use vaultgate_shared::UserId;

use crate::audit::RequestIds;
use crate::auth::Principal;
use crate::client_ip::ClientAddr;
use crate::metrics::HttpMethod;
use crate::ratelimit::NearLimit;
use crate::request_trace::RequestTrace;
use crate::routes::Route;
use crate::sessions::era::McpCall;

/// Per-request state, filled stage by stage.
pub struct RequestCtx {
    pub started: Instant,
    pub route: Route,
    pub method: HttpMethod,
    /// The gateway's own id, always fresh; kept as the header value it is sent as, upstream
    /// and back (a clone shares the bytes).
    pub request_id: HeaderValue,
    /// The `X-Request-Id` the client sent, only ever logged (as `client_request_id`).
    pub client_request_id: Option<HeaderValue>,
    /// The socket peer's address.
    pub peer: Option<IpAddr>,
    pub client_ip: Option<ClientAddr>,
    /// Who the credential belongs to (set by `authenticate`).
    pub principal: Option<Principal>,
    /// The admitted user (set once the credential passed every check).
    pub user: Option<UserId>,
    pub session: Option<String>,
    pub mcp: Option<McpCall>,
    pub body_read: bool,
    pub upstream_started: Option<Instant>,
    /// The user's bucket is nearly spent: its RateLimit fields go on the response.
    pub near_limit: Option<NearLimit>,
    /// The request's trace spans (none when tracing is off).
    pub trace: RequestTrace,
}

impl Default for RequestCtx {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            route: Route::Other,
            method: HttpMethod::of(&http::Method::GET),
            request_id: HeaderValue::from_static(""),
            client_request_id: None,
            peer: None,
            client_ip: None,
            principal: None,
            user: None,
            session: None,
            mcp: None,
            body_read: false,
            upstream_started: None,
            near_limit: None,
            trace: RequestTrace::default(),
        }
    }
}

impl RequestCtx {
    /// The request id as text, for answers and audit lines.
    pub fn rid(&self) -> &str {
        // Always ASCII: ours is a UUID.
        self.request_id.to_str().unwrap_or("")
    }

    /// Both request ids, for audit lines.
    pub fn ids(&self) -> RequestIds<'_> {
        RequestIds {
            ours: self.rid(),
            client: self.client_request_id.as_ref().and_then(|v| v.to_str().ok()),
        }
    }

    /// The JSON-RPC id an answer on `/mcp` carries (`null` when unknown); `None` off `/mcp`.
    pub fn rpc_id(&self) -> Option<&serde_json::Value> {
        static NULL: serde_json::Value = serde_json::Value::Null;
        match (&self.mcp, self.route) {
            (Some(m), _) => Some(m.rpc_id.as_ref().unwrap_or(&NULL)),
            (None, Route::Mcp) => Some(&NULL),
            _ => None,
        }
    }
}
