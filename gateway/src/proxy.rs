//! The gateway's `ProxyHttp`: each phase, in the order a request lives through it,
//! is a few lines that call one module per concern.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use http::HeaderValue;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType};
use vaultgate_shared::UserId;
use vaultgate_shared::config::Secret;
use vaultgate_shared::headers;

use crate::answer::Answer;
use crate::audit::{self, RequestIds};
use crate::auth::{AuthFailure, Authenticator, Principal, RemoteBudget};
use crate::client_ip::{ClientAddr, TrustedProxies};
use crate::identity::{self, IdentitySigner};
use crate::metrics::{HttpMethod, Metrics};
use crate::origin::Origins;
use crate::ratelimit::{Limited, NearLimit, RateLimiter};
use crate::request_trace::RequestTrace;
use crate::resource_metadata::{self, ResourceMetadata};
use crate::route_rules::RouteRules;
use crate::routes::Route;
use crate::sessions::Era;
use crate::sessions::era::{MCP_METHOD, MCP_SESSION_ID, MISSING_SESSION, RpcMethod, RpcPeek, scan_method};
use crate::signin::SignIn;
use crate::state::sessions::{Lookup, SessionStore};
use crate::token_endpoints;
use crate::upstream::{Backend, UpstreamFailure};
use crate::usage::Usage;

/// Everything the gateway needs, built once at start.
pub struct Gateway {
    pub auth: Authenticator,
    pub signer: IdentitySigner,
    pub sessions: Arc<dyn SessionStore>,
    pub limits: RateLimiter,
    pub metrics: Arc<Metrics>,
    pub usage: Arc<Usage>,
    pub backend: Backend,
    pub origins: Origins,
    pub proxies: TrustedProxies,
    pub metrics_token: Option<Secret>,
    pub sniff_max: usize,
    /// `BACKEND_ROUTES`: which forwarded paths are public, need a token, are MCP, or are refused.
    pub routes: RouteRules,
    /// Token ids whose success, and users or IPs whose rate limiting, were audited recently:
    /// one audit line per token (or limited client) per few minutes.
    pub audited: moka::sync::Cache<String, ()>,
    /// Browser sign-in (Hugging Face OAuth or local).
    pub signin: SignIn,
    /// Whether the gateway serves the web page at `/` (off when fronting a backend that has its own).
    pub web_ui: bool,
    /// The public MCP URL, as the page shows it to people.
    pub mcp_url: String,
    /// RFC 9728 metadata when `MCP_OAUTH=huggingface`; `None` publishes nothing.
    pub resource_metadata: Option<ResourceMetadata>,
    /// The public listener's port (the local sign-in checks the request's `Host` against it).
    pub listen_port: u16,
    /// `ACCESS_LOG`: one JSON line per request on stderr.
    pub access_log: bool,
}

/// What one MCP request is.
#[derive(Debug, Clone)]
pub struct McpCall {
    pub era: Era,
    /// The JSON-RPC method, as its (bounded) metric label.
    pub method: RpcMethod,
    pub rpc_id: Option<serde_json::Value>,
    /// A legacy `initialize` without a session: mint one if the backend answers 200.
    pub mint_session: bool,
}

/// Per-request state, filled phase by phase.
pub struct RequestCtx {
    started: Instant,
    route: Route,
    method: HttpMethod,
    /// The gateway's own id, always fresh; kept as the header value it is sent as, upstream
    /// and back (a clone shares the bytes).
    request_id: HeaderValue,
    /// The `X-Request-Id` the client sent, only ever logged (as `client_request_id`).
    client_request_id: Option<HeaderValue>,
    /// The socket peer's address.
    peer: Option<IpAddr>,
    client_ip: Option<ClientAddr>,
    user: Option<UserId>,
    session: Option<String>,
    mcp: Option<McpCall>,
    body_read: bool,
    upstream_started: Option<Instant>,
    /// The user's bucket is nearly spent: its RateLimit fields go on the response.
    near_limit: Option<NearLimit>,
    /// The request's trace spans (none when tracing is off).
    trace: RequestTrace,
}

impl RequestCtx {
    /// The request id as text, for answers and audit lines.
    fn rid(&self) -> &str {
        // Always ASCII: ours is a UUID.
        self.request_id.to_str().unwrap_or("")
    }

    /// Both request ids, for audit lines.
    fn ids(&self) -> RequestIds<'_> {
        RequestIds {
            ours: self.rid(),
            client: self.client_request_id.as_ref().and_then(|v| v.to_str().ok()),
        }
    }
}

/// Why reading a request body in the gateway failed.
enum BodyError {
    TooLarge,
    Io(Box<Error>),
}

impl Gateway {
    /// Writes a local answer and stops the request.
    async fn answer(&self, s: &mut Session, ctx: &RequestCtx, mut a: Answer) -> pingora::Result<bool> {
        if let Some(code) = a.code {
            ctx.trace.refused(code);
        }
        if let Some(near) = ctx.near_limit.filter(|_| a.status != 429) {
            for (name, value) in near.headers() {
                a = a.header(name, value);
            }
        }
        a.send(s, ctx.rid(), ctx.body_read).await?;
        Ok(true)
    }

    fn rpc_id<'a>(&self, ctx: &'a RequestCtx) -> Option<&'a serde_json::Value> {
        const NULL: serde_json::Value = serde_json::Value::Null;
        static NULL_REF: serde_json::Value = NULL;
        match (&ctx.mcp, ctx.route) {
            (Some(m), _) => Some(m.rpc_id.as_ref().unwrap_or(&NULL_REF)),
            (None, Route::Mcp) => Some(&NULL_REF),
            _ => None,
        }
    }

    /// Reads the whole request body (kept by Pingora for replay upstream), refusing more than `sniff_max`.
    async fn read_body(&self, s: &mut Session, ctx: &mut RequestCtx) -> Result<Bytes, BodyError> {
        let declared = s
            .req_header()
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.sniff_max as u64) {
            return Err(BodyError::TooLarge);
        }
        s.enable_retry_buffering();
        let mut body = bytes::BytesMut::new();
        loop {
            match s.read_request_body().await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    if body.len() > self.sniff_max {
                        return Err(BodyError::TooLarge);
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(BodyError::Io(e)),
            }
        }
        ctx.body_read = true;
        Ok(body.freeze())
    }

    /// The budget a remote token check of this request is admitted against.
    fn budget(&self, ctx: &RequestCtx) -> RemoteBudget<'_> {
        RemoteBudget {
            limits: &self.limits,
            client: ctx.client_ip,
        }
    }

    async fn refuse_auth(&self, s: &mut Session, ctx: &mut RequestCtx, f: AuthFailure) -> pingora::Result<bool> {
        ctx.trace.refused(f.reason);
        if let Some(limited) = f.limited {
            // Over its budget of remote token checks: nothing was asked, nothing else to count.
            return self.refuse_limited(s, ctx, limited, None).await;
        }
        if f.status == 503 {
            // The identity provider is down: not the client's failure, so neither counted nor limited.
            audit::auth_unavailable(f.reason, ctx.route.label(), ctx.client_ip, ctx.ids());
            let retry = f.retry_after.unwrap_or(5).to_string();
            let a = Answer::error(503, f.reason, &f.description, self.rpc_id(ctx)).header("retry-after", retry);
            return self.answer(s, ctx, a).await;
        }
        self.metrics.auth_failures.with_label_values(&[f.reason]).inc();
        audit::auth_failure(f.reason, ctx.route.label(), ctx.client_ip, ctx.ids());
        if let Some(ip) = ctx.client_ip {
            // No credential at all is how OAuth discovery starts, not a guess: it draws on the
            // client's unauthenticated bucket instead of its failed-auth one.
            let counted = if f.is_missing() {
                self.limits.check_ip(ip).await
            } else {
                self.limits.auth_failed(ip).await
            };
            if let Err(limited) = counted {
                return self.refuse_limited(s, ctx, limited, None).await;
            }
        }
        if ctx.route == Route::Mcp && s.req_header().method == http::Method::POST && !ctx.body_read {
            // Answer with the request's JSON-RPC id when the (small) body tells it.
            if let Ok(body) = self.read_body(s, ctx).await {
                ctx.mcp = Some(McpCall {
                    era: Era::of(s.req_header()),
                    method: RpcMethod::NONE,
                    rpc_id: RpcPeek::parse(&body).id,
                    mint_session: false,
                });
            }
        }
        let mut a = if f.is_missing() {
            Answer::no_credential(&f.description, self.rpc_id(ctx))
        } else {
            Answer::unauthorized(f.status, &f.description, self.rpc_id(ctx))
        };
        if let (Route::Mcp, 401, Some(m)) = (ctx.route, f.status, &self.resource_metadata) {
            // Tells an OAuth-capable MCP client where to sign in (MCP authorization, RFC 9728 §5.1).
            a = a.challenge_params(m.challenge());
        }
        self.answer(s, ctx, a).await
    }

    async fn refuse_limited(
        &self,
        s: &mut Session,
        ctx: &RequestCtx,
        l: Limited,
        user: Option<&UserId>,
    ) -> pingora::Result<bool> {
        self.metrics.rate_limited.with_label_values(&[l.scope.label()]).inc();
        // One audit line per limited user or IP per few minutes: a flood must not become a log flood
        // (the metric counts every refusal).
        let who = match (user, ctx.client_ip) {
            (Some(u), _) => format!("rl:{}:{u}", l.scope.label()),
            (None, Some(ip)) => format!("rl:{}:{ip}", l.scope.label()),
            (None, None) => format!("rl:{}", l.scope.label()),
        };
        if !self.audited.contains_key(&who) {
            self.audited.insert(who, ());
            audit::rate_limited(l.scope.label(), user, ctx.client_ip, ctx.ids());
        }
        let mut a = Answer::error(
            429,
            "rate_limited",
            "too many requests; retry after the time in Retry-After",
            self.rpc_id(ctx),
        );
        for (name, value) in l.headers() {
            a = a.header(name, value);
        }
        self.answer(s, ctx, a).await
    }

    async fn refuse_session(
        &self,
        s: &mut Session,
        ctx: &RequestCtx,
        user: &UserId,
        reason: &'static str,
    ) -> pingora::Result<bool> {
        self.metrics.session_rejections.with_label_values(&[reason]).inc();
        ctx.trace.refused(reason);
        let event = if reason == "wrong_user" {
            "session_hijack_attempt"
        } else {
            "session_rejected"
        };
        audit::session_event(event, user, Some(reason), ctx.client_ip, ctx.ids());
        let (status, message) = match reason {
            "missing" => (400, MISSING_SESSION),
            _ => (404, "session not found; send a new initialize request"),
        };
        let a = Answer::error(
            status,
            if status == 400 {
                "missing_session"
            } else {
                "session_not_found"
            },
            message,
            self.rpc_id(ctx),
        );
        self.answer(s, ctx, a).await
    }

    /// Refuses a path the route rules do not forward (404) or cannot read unambiguously (400).
    async fn refuse_path(&self, s: &mut Session, ctx: &RequestCtx) -> pingora::Result<bool> {
        let reason = ctx.route.label();
        // One audit line per client IP and reason per few minutes: scanners must not flood the log
        // (requests_total{route=reason} counts every refusal).
        let who = format!(
            "path:{reason}:{}",
            ctx.client_ip.map(|i| i.to_string()).unwrap_or_default()
        );
        if !self.audited.contains_key(&who) {
            self.audited.insert(who, ());
            audit::path_refused(reason, ctx.client_ip, ctx.ids());
        }
        let a = if ctx.route == Route::AmbiguousPath {
            Answer::error(
                400,
                "ambiguous_path",
                "this path has '..', '.', '//', ';' or encoded characters the gateway will not forward",
                None,
            )
        } else {
            Answer::error(404, "not_found", "no such route", None)
        };
        self.answer(s, ctx, a).await
    }

    /// Local routes that need no credential: health, readiness, public metrics; and the
    /// rule-made ones: refused paths and public paths (`Some(false)`: forward without identity).
    async fn local_route(&self, s: &mut Session, ctx: &mut RequestCtx) -> pingora::Result<Option<bool>> {
        match ctx.route {
            Route::Public | Route::NotRouted | Route::AmbiguousPath => {
                if let Some(ip) = ctx.client_ip
                    && let Err(l) = self.limits.check_ip(ip).await
                {
                    return Ok(Some(self.refuse_limited(s, ctx, l, None).await?));
                }
                if ctx.route == Route::Public {
                    return Ok(Some(false));
                }
                Ok(Some(self.refuse_path(s, ctx).await?))
            }
            Route::Healthz => {
                let a = Answer::json(200, &serde_json::json!({"status": "ok"}));
                Ok(Some(self.answer(s, ctx, a).await?))
            }
            Route::Readyz => {
                if let Some(ip) = ctx.client_ip
                    && let Err(l) = self.limits.check_ip(ip).await
                {
                    return Ok(Some(self.refuse_limited(s, ctx, l, None).await?));
                }
                let (status, body) = crate::readiness::check(&self.backend, self.sessions.as_ref()).await;
                let a = Answer::json(status, &body);
                Ok(Some(self.answer(s, ctx, a).await?))
            }
            Route::Page | Route::SignInConfig | Route::SignInLogin | Route::SignInCallback | Route::SignInLocal => {
                if let Some(ip) = ctx.client_ip {
                    let checked = if ctx.route == Route::Page {
                        self.limits.check_asset(ip).await
                    } else {
                        self.limits.check_ip(ip).await
                    };
                    if let Err(l) = checked {
                        return Ok(Some(self.refuse_limited(s, ctx, l, None).await?));
                    }
                }
                let req = s.req_header();
                let a = match ctx.route {
                    Route::Page => crate::web::serve(&req.method, req.uri.path()),
                    Route::SignInConfig => {
                        // The page asks once who it is signed in as; no cookie (or a dead one) is not an error here.
                        let session = match crate::auth::bearer::cookie_value(req, crate::auth::bearer::COOKIE_NAME) {
                            Some(_) => self.auth.authenticate(req, true, self.budget(ctx)).await.ok(),
                            None => None,
                        };
                        let session = session.map(|p| {
                            serde_json::json!({"user": p.user.as_str(), "name": p.name, "expires_at": p.expires_at})
                        });
                        Answer::json(
                            200,
                            &serde_json::json!({
                                "signin": self.signin.method(),
                                "mcp_url": self.mcp_url,
                                "mcp_oauth": self.resource_metadata.is_some(),
                                "session": session,
                            }),
                        )
                    }
                    Route::SignInLogin => self.signin.login(req).await,
                    Route::SignInCallback => self.signin.callback(self, req, ctx.client_ip, ctx.ids()).await,
                    _ => self
                        .signin
                        .local(self, req, (ctx.peer, self.listen_port), ctx.client_ip, ctx.ids()),
                };
                Ok(Some(self.answer(s, ctx, a).await?))
            }
            Route::Metrics => {
                if let Some(ip) = ctx.client_ip
                    && let Err(l) = self.limits.check_ip(ip).await
                {
                    return Ok(Some(self.refuse_limited(s, ctx, l, None).await?));
                }
                let a = match &self.metrics_token {
                    None => Answer::error(404, "not_found", "metrics are served on the admin listener", None),
                    Some(expected) => match crate::auth::bearer::extract(s.req_header(), false) {
                        Ok(c) if crate::auth::constant_time_eq(c.token().as_bytes(), expected.expose()) => {
                            let text = self.metrics.render(&self.usage, self.sessions.active());
                            Answer::raw(200, "text/plain; version=0.0.4", Bytes::from(text))
                        }
                        Err(crate::auth::bearer::BearerError::Missing) => {
                            Answer::no_credential("a METRICS_TOKEN bearer is required", None)
                        }
                        _ => Answer::unauthorized(401, "a valid METRICS_TOKEN bearer is required", None),
                    },
                };
                Ok(Some(self.answer(s, ctx, a).await?))
            }
            _ => Ok(None),
        }
    }

    /// The MCP phase: era, and for the legacy era the session rules.
    async fn mcp_phase(&self, s: &mut Session, ctx: &mut RequestCtx, user: &UserId) -> pingora::Result<Option<bool>> {
        let req = s.req_header();
        let era = Era::of(req);
        ctx.mcp = Some(McpCall {
            era,
            method: RpcMethod::of(req.headers.get(MCP_METHOD).and_then(|v| v.to_str().ok())),
            rpc_id: None,
            mint_session: false,
        });
        if era == Era::Modern {
            return Ok(None);
        }
        let sid = req.headers.get(MCP_SESSION_ID).map(|v| v.as_bytes().to_vec());
        let method = req.method.clone();
        let Some(sid) = sid else {
            if method != http::Method::POST {
                return Ok(Some(self.refuse_session(s, ctx, user, "missing").await?));
            }
            let body = match self.read_body(s, ctx).await {
                Ok(b) => b,
                Err(BodyError::TooLarge) => {
                    let a = Answer::error(
                        413,
                        "body_too_large",
                        &format!(
                            "an MCP request without a session may be at most {} bytes",
                            self.sniff_max
                        ),
                        self.rpc_id(ctx),
                    );
                    return Ok(Some(self.answer(s, ctx, a).await?));
                }
                Err(BodyError::Io(e)) => return Err(e),
            };
            let peek = RpcPeek::parse(&body);
            ctx.trace.body(&body);
            let is_init = peek.is_initialize();
            if let Some(m) = ctx.mcp.as_mut() {
                m.method = RpcMethod::of(peek.method.as_deref());
                m.rpc_id = peek.id;
                m.mint_session = is_init;
            }
            if !is_init {
                return Ok(Some(self.refuse_session(s, ctx, user, "missing").await?));
            }
            return Ok(None);
        };
        let sid = std::str::from_utf8(&sid)
            .ok()
            .filter(|v| valid_session_id(v))
            .map(str::to_owned);
        let lookup = match &sid {
            Some(id) => match self.sessions.lookup(id).await {
                Ok(l) => l,
                Err(e) => {
                    // Fail closed (the store counted the error): a session that cannot be
                    // checked is not accepted.
                    tracing::error!(error = %e, "session store lookup failed");
                    audit::auth_unavailable("state_unavailable", ctx.route.label(), ctx.client_ip, ctx.ids());
                    let a = Answer::error(
                        503,
                        "state_unavailable",
                        "session store unavailable; retry shortly",
                        self.rpc_id(ctx),
                    )
                    .header("retry-after", "5");
                    return Ok(Some(self.answer(s, ctx, a).await?));
                }
            },
            None => Lookup::Unknown,
        };
        match lookup {
            Lookup::Live(owner) if &owner == user => {
                if method == http::Method::DELETE {
                    if let Some(id) = &sid
                        && let Err(e) = self.sessions.end(id).await
                    {
                        tracing::error!(error = %e, "could not end an MCP session");
                    }
                    audit::session_event("session_end", user, Some("client_delete"), ctx.client_ip, ctx.ids());
                    let mut resp = ResponseHeader::build(204, Some(2))?;
                    resp.insert_header(headers::REQUEST_ID, ctx.request_id.clone())?;
                    s.write_response_header(Box::new(resp), true).await?;
                    return Ok(Some(true));
                }
                ctx.session = sid;
                Ok(None)
            }
            Lookup::Live(_) => Ok(Some(self.refuse_session(s, ctx, user, "wrong_user").await?)),
            Lookup::Expired => Ok(Some(self.refuse_session(s, ctx, user, "expired").await?)),
            Lookup::Unknown => Ok(Some(self.refuse_session(s, ctx, user, "unknown").await?)),
        }
    }

    fn audit_success(&self, p: &Principal, ctx: &RequestCtx) {
        if !self.audited.contains_key(&p.jti) {
            self.audited.insert(p.jti.clone(), ());
            audit::auth_success(&p.user, ctx.route.label(), ctx.client_ip, ctx.ids());
        }
    }
}

fn valid_session_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The client's own `X-Request-Id`, when it is short printable text: logged beside ours as
/// `client_request_id`, never sent on or used as the gateway's id (a client could otherwise
/// make its requests' audit lines collide with another's).
fn client_request_id(req: &RequestHeader) -> Option<HeaderValue> {
    const REQUEST_ID: http::HeaderName = http::HeaderName::from_static(headers::REQUEST_ID);
    req.headers
        .get(REQUEST_ID)
        .filter(|v| v.len() <= 128 && v.to_str().is_ok())
        .cloned()
}

/// A fresh random (v4) UUID for a request. Its bits come from the thread's userspace CSPRNG
/// (`rand`'s ChaCha, seeded from the OS) rather than `Uuid::new_v4`, which asks the kernel
/// (`getrandom`) on every call: a system call per request on the hot path. A request id only
/// correlates logs; session ids, which must be unguessable, still come from `new_v4`.
fn new_request_id() -> HeaderValue {
    let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut buf)).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            started: Instant::now(),
            route: Route::Other,
            method: HttpMethod::of(&http::Method::GET),
            request_id: HeaderValue::from_static(""),
            client_request_id: None,
            peer: None,
            client_ip: None,
            user: None,
            session: None,
            mcp: None,
            body_read: false,
            upstream_started: None,
            near_limit: None,
            trace: RequestTrace::default(),
        }
    }

    /// Decides everything about a request before it may go upstream: route, origin,
    /// credential, rate limit, MCP session. Returns true when it answered locally.
    async fn request_filter(&self, s: &mut Session, ctx: &mut RequestCtx) -> pingora::Result<bool> {
        let req = s.req_header();
        let path = req.uri.path();
        ctx.route = match Route::classify_with(path, &self.routes) {
            // Without the page, its paths belong to the backend like any other.
            Route::Page if !self.web_ui => Route::by_rules(path, &self.routes),
            r => r,
        };
        ctx.method = HttpMethod::of(&req.method);
        ctx.trace = RequestTrace::start(req, ctx.route, ctx.method);
        ctx.request_id = new_request_id();
        ctx.client_request_id = client_request_id(req);
        ctx.peer = s.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip());
        ctx.client_ip = self.proxies.client(ctx.peer, s.req_header());

        if ctx.route == Route::ResourceMetadata {
            // Public, credential-free and read by browser-based clients of any origin: no Origin check.
            let a = match &self.resource_metadata {
                Some(m) => m.serve(&s.req_header().method),
                None => resource_metadata::not_published(),
            };
            return self.answer(s, ctx, a).await;
        }
        if let Some(origin) = s.req_header().headers.get(http::header::ORIGIN)
            && !self.origins.allows(origin.as_bytes())
        {
            audit::origin_refused(&String::from_utf8_lossy(origin.as_bytes()), ctx.client_ip, ctx.ids());
            let a = Answer::error(403, "forbidden_origin", "this Origin is not allowed", self.rpc_id(ctx));
            return self.answer(s, ctx, a).await;
        }
        if let Some(done) = self.local_route(s, ctx).await? {
            return Ok(done);
        }

        let principal = match self
            .auth
            .authenticate(s.req_header(), ctx.route.accepts_cookie(), self.budget(ctx))
            .await
        {
            Ok(p) => p,
            Err(f) => return self.refuse_auth(s, ctx, f).await,
        };
        if principal.from_cookie
            && let Err(refusal) = self.origins.check_browser_request(s.req_header())
        {
            // Browsers send the cookie on cross-site requests too: unsafe ones must prove they
            // come from our page, with a body no cross-site form can send.
            return self.answer(s, ctx, refusal.answer()).await;
        }
        self.audit_success(&principal, ctx);
        self.usage.record(&principal.user);
        ctx.user = Some(principal.user.clone());

        match self.limits.check_user(&principal.user).await {
            Ok(near) => ctx.near_limit = near,
            Err(l) => return self.refuse_limited(s, ctx, l, Some(&principal.user)).await,
        }
        match ctx.route {
            Route::AuthToken | Route::AuthRefresh | Route::AuthLogout | Route::AuthSession => {
                let a = token_endpoints::handle(self, ctx.route, s.req_header(), &principal, ctx.ids()).await;
                return self.answer(s, ctx, a).await;
            }
            Route::Mcp => {
                if let Some(done) = self.mcp_phase(s, ctx, &principal.user).await? {
                    return Ok(done);
                }
            }
            _ => {}
        }
        Ok(false)
    }

    async fn upstream_peer(&self, s: &mut Session, ctx: &mut RequestCtx) -> pingora::Result<Box<HttpPeer>> {
        ctx.upstream_started = Some(Instant::now());
        ctx.trace.upstream();
        let streaming = ctx.route == Route::Mcp && s.req_header().method == http::Method::GET;
        self.backend.peer(streaming).await
    }

    /// Replaces whatever identity the client sent with the gateway's signed one.
    async fn upstream_request_filter(
        &self,
        _s: &mut Session,
        up: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        identity::strip_client_identity(up);
        ctx.trace.inject(up)?;
        if ctx.route == Route::Public {
            // A public path carries no identity, even when the client sent a token.
            return identity::inject_anonymous(up, &ctx.request_id);
        }
        if ctx.mcp.as_ref().is_some_and(|m| m.era == Era::Modern) {
            // Modern clients have no sessions; a stray id must not reach the backend.
            up.remove_header(&MCP_SESSION_ID);
        }
        let Some(user) = &ctx.user else {
            return Error::e_explain(ErrorType::InternalError, "forwarding without an authenticated user");
        };
        identity::inject(up, &self.signer, user, ctx.session.as_deref(), &ctx.request_id)
    }

    async fn request_body_filter(
        &self,
        _s: &mut Session,
        body: &mut Option<Bytes>,
        end: bool,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        if let (Some(m), Some(chunk)) = (ctx.mcp.as_mut(), body.as_ref())
            && m.method == RpcMethod::NONE
        {
            m.method = RpcMethod::of(scan_method(chunk));
        }
        ctx.trace.body_chunk(body.as_deref(), end, ctx.mcp.as_ref());
        Ok(())
    }

    /// Mints the legacy session on a successful `initialize`; the gateway alone owns session ids.
    async fn upstream_response_filter(
        &self,
        _s: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        resp.remove_header(&MCP_SESSION_ID);
        ctx.trace.upstream_done(resp.status.as_u16());
        let mint = ctx.mcp.as_ref().is_some_and(|m| m.mint_session) && resp.status == 200;
        if let (true, Some(user)) = (mint, ctx.user.clone()) {
            match self.sessions.create(&user).await {
                Ok(id) => {
                    self.metrics.sessions_created.inc();
                    audit::session_event("session_start", &user, None, ctx.client_ip, ctx.ids());
                    resp.insert_header("mcp-session-id", id.as_str())?;
                    ctx.session = Some(id);
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not create an MCP session");
                }
            }
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _s: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        if let Some(started) = ctx.upstream_started.take() {
            self.metrics.observe_upstream(ctx.route, started.elapsed());
        }
        resp.insert_header(headers::REQUEST_ID, ctx.request_id.clone())?;
        if let Some(near) = ctx.near_limit {
            for (name, value) in near.headers() {
                resp.insert_header(name, value)?;
            }
        }
        Ok(())
    }

    /// Backend failures become quick JSON 502/504 answers.
    async fn fail_to_proxy(&self, s: &mut Session, e: &Error, ctx: &mut RequestCtx) -> FailToProxy {
        let code = match (UpstreamFailure::classify(e), e.etype()) {
            (Some(f), _) => {
                self.metrics.upstream_errors.with_label_values(&[f.kind()]).inc();
                ctx.trace.upstream_failed(f.kind());
                tracing::warn!(kind = f.kind(), error = %e, request_id = %ctx.rid(), "backend request failed");
                f.status()
            }
            (None, ErrorType::HTTPStatus(code)) => *code,
            (None, ErrorType::ReadError | ErrorType::WriteError | ErrorType::ConnectionClosed)
                if e.esource() == &ErrorSource::Downstream =>
            {
                0
            }
            (None, _) if e.esource() == &ErrorSource::Downstream => 400,
            (None, _) => 500,
        };
        if code > 0 && s.response_written().is_none() {
            let message = match code {
                502 => "the backend is unavailable",
                504 => "the backend did not answer in time",
                400 => "bad request",
                _ => "the gateway could not complete the request",
            };
            let a = Answer::error(
                code,
                if code >= 500 { "upstream_error" } else { "bad_request" },
                message,
                self.rpc_id(ctx),
            );
            if let Err(err) = a.send(s, ctx.rid(), true).await {
                tracing::debug!(error = %err, "could not write the error response");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, s: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        let status = s.response_written().map(|r| r.status.as_u16()).unwrap_or(0);
        self.metrics
            .observe_request(ctx.route, ctx.method, status, ctx.started.elapsed());
        if let Some(m) = &ctx.mcp {
            self.metrics.count_mcp(m.era, m.method);
        }
        ctx.trace
            .finish(s.req_header(), status, ctx.mcp.as_ref(), ctx.user.as_ref());
        if self.access_log {
            crate::access_log::Entry {
                method: ctx.method.label(),
                route: ctx.route.label(),
                status,
                duration: ctx.started.elapsed(),
                bytes_in: s.body_bytes_read(),
                bytes_out: s.body_bytes_sent(),
                request_id: ctx.rid(),
                trace_id: ctx.trace.trace_id(),
                client: ctx.client_ip,
                mcp_method: ctx.mcp.as_ref().map(|m| m.method.label()),
            }
            .write();
        }
    }
}

/// How long a successful authentication is remembered for the audit log's de-duplication.
pub const AUDIT_SUCCESS_EVERY: Duration = Duration::from_secs(300);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_id_table() {
        assert!(valid_session_id("0b8f6f5e-9c1e-4a57-8b7e-0a8e6d3c2b1a"));
        assert!(!valid_session_id("a/b") && !valid_session_id("") && !valid_session_id(&"a".repeat(65)));
    }
}
