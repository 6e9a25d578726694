//! The stages themselves: one arm of [`Gateway::stage`] each, in [`STAGES`] order.

use http::HeaderValue;
use pingora::http::RequestHeader;
use vaultgate_shared::headers;

use super::{BodyError, Downstream, Flow, Refusal, RequestCtx, STAGES, SessionRejection, Stage};
use crate::answer::Answer;
use crate::audit;
use crate::auth::{AuthFailure, AuthReason, RemoteBudget};
use crate::endpoints;
use crate::gateway::Gateway;
use crate::metrics::HttpMethod;
use crate::refusal::{Shape, Subject};
use crate::request_trace::RequestTrace;
use crate::routes::Route;
use crate::sessions::era::McpCall;
use crate::sessions::era::{Era, MCP_METHOD, MCP_SESSION_ID, RpcMethod, RpcPeek};
use crate::state::sessions::Lookup;

impl Gateway {
    /// Runs the stages until one decides; `Continue` at the end means forward.
    pub async fn run_stages<D: Downstream>(&self, d: &mut D, ctx: &mut RequestCtx) -> Flow {
        for stage in STAGES {
            match self.stage(stage, d, ctx).await {
                Flow::Continue => {}
                decided => return decided,
            }
        }
        Flow::Continue
    }

    /// Counts and audits a refusal, notes it on the trace, and builds its answer.
    pub fn refuse(&self, ctx: &RequestCtx, r: &Refusal) -> Answer {
        ctx.trace.refused(r.trace_reason());
        r.record(
            &self.metrics,
            &self.audited,
            Subject {
                route: ctx.route,
                client_ip: ctx.client_ip,
                ids: ctx.ids(),
            },
        );
        let mcp_challenge = match (ctx.route, &self.resource_metadata) {
            (Route::Mcp, Some(m)) => Some(m.challenge()),
            _ => None,
        };
        r.answer(Shape {
            rpc_id: ctx.rpc_id(),
            mcp_challenge,
        })
    }

    /// One stage.
    pub async fn stage<D: Downstream>(&self, stage: Stage, d: &mut D, ctx: &mut RequestCtx) -> Flow {
        match stage {
            Stage::Classify => {
                self.classify(d, ctx);
                Flow::Continue
            }
            Stage::ResourceMetadata => match ctx.route {
                Route::ResourceMetadata => Flow::Answer(endpoints::resource_metadata::serve(
                    self.resource_metadata.as_ref(),
                    &d.req_header().method,
                )),
                _ => Flow::Continue,
            },
            Stage::Origin => match d.req_header().headers.get(http::header::ORIGIN) {
                Some(origin) if !self.origins.allows(origin.as_bytes()) => Flow::Refuse(Refusal::ForeignOrigin(
                    String::from_utf8_lossy(origin.as_bytes()).into_owned(),
                )),
                _ => Flow::Continue,
            },
            Stage::IpLimit => self.ip_limit(ctx).await,
            Stage::LocalEndpoints => self.local_endpoint(d, ctx).await,
            Stage::Authenticate => self.authenticate(d, ctx).await,
            Stage::CookieOrigin => match &ctx.principal {
                // Browsers send the cookie on cross-site requests too: unsafe ones must prove they
                // come from our page, with a body no cross-site form can send.
                Some(p) if p.from_cookie => match self.origins.check_browser_request(d.req_header()) {
                    Ok(()) => Flow::Continue,
                    Err(b) => Flow::Refuse(Refusal::Browser(b)),
                },
                _ => Flow::Continue,
            },
            Stage::Admit => {
                if let Some(p) = &ctx.principal {
                    if audit::first_in_window(&self.audited, &p.jti) {
                        audit::auth_success(&p.user, ctx.route.label(), ctx.client_ip, ctx.ids());
                    }
                    self.usage.record(&p.user);
                    ctx.user = Some(p.user.clone());
                }
                Flow::Continue
            }
            Stage::UserLimit => {
                let Some(user) = &ctx.user else {
                    return Flow::Continue;
                };
                match self.limits.check_user(user).await {
                    Ok(near) => {
                        ctx.near_limit = near;
                        Flow::Continue
                    }
                    Err(limit) => Flow::Refuse(Refusal::Limited {
                        limit,
                        user: Some(user.clone()),
                        after: None,
                    }),
                }
            }
            Stage::TokenEndpoints => match (ctx.route, &ctx.principal) {
                (Route::AuthToken | Route::AuthRefresh | Route::AuthLogout | Route::AuthSession, Some(p)) => {
                    Flow::Answer(
                        endpoints::token_endpoints::handle(&self.lifecycle(), ctx.route, d.req_header(), p, ctx.ids())
                            .await,
                    )
                }
                _ => Flow::Continue,
            },
            Stage::McpSession => match (ctx.route, ctx.user.take()) {
                (Route::Mcp, Some(user)) => {
                    // Lent out for the stage (no clone per request), and back before anything reads it.
                    let flow = self.mcp_session(d, ctx, &user).await;
                    ctx.user = Some(user);
                    flow
                }
                (_, user) => {
                    ctx.user = user;
                    Flow::Continue
                }
            },
        }
    }

    fn classify<D: Downstream>(&self, d: &D, ctx: &mut RequestCtx) {
        let req = d.req_header();
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
        ctx.peer = d.peer();
        ctx.client_ip = self.proxies.client(ctx.peer, req);
    }

    /// The per-IP limit of the credential-free routes; the page and its files draw on their own,
    /// larger bucket (a browser fetches several at once). `/healthz` is never limited: probes
    /// must not fail under a flood.
    async fn ip_limit(&self, ctx: &RequestCtx) -> Flow {
        let Some(ip) = ctx.client_ip else {
            return Flow::Continue;
        };
        let checked = match ctx.route {
            Route::Page => self.limits.check_asset(ip).await,
            Route::Public
            | Route::NotRouted
            | Route::AmbiguousPath
            | Route::Readyz
            | Route::Metrics
            | Route::SignInConfig
            | Route::SignInLogin
            | Route::SignInCallback
            | Route::SignInLocal => self.limits.check_ip(ip).await,
            _ => Ok(()),
        };
        match checked {
            Ok(()) => Flow::Continue,
            Err(limit) => Flow::Refuse(Refusal::Limited {
                limit,
                user: None,
                after: None,
            }),
        }
    }

    async fn local_endpoint<D: Downstream>(&self, d: &D, ctx: &RequestCtx) -> Flow {
        let req = d.req_header();
        let a = match ctx.route {
            Route::Public => return Flow::Forward,
            Route::NotRouted => return Flow::Refuse(Refusal::NotRouted),
            Route::AmbiguousPath => return Flow::Refuse(Refusal::AmbiguousPath),
            Route::Healthz => endpoints::health(),
            Route::Readyz => endpoints::readyz(&self.backend, self.sessions.as_ref()).await,
            Route::Page => endpoints::web::serve(&req.method, req.uri.path()),
            Route::SignInConfig => {
                endpoints::signin_config(
                    &self.auth,
                    self.budget(ctx),
                    &self.signin,
                    &self.mcp_url,
                    self.resource_metadata.is_some(),
                    req,
                )
                .await
            }
            Route::SignInLogin => self.signin.login(req).await,
            Route::SignInCallback => {
                self.signin
                    .callback(&self.issuer(), &self.metrics, req, ctx.client_ip, ctx.ids())
                    .await
            }
            Route::SignInLocal => self.signin.local(
                &self.issuer(),
                &self.metrics,
                &self.origins,
                req,
                (ctx.peer, self.listen_port),
                ctx.client_ip,
                ctx.ids(),
            ),
            Route::Metrics => endpoints::metrics(
                req,
                self.metrics_token.as_ref(),
                &self.metrics,
                &self.usage,
                self.sessions.as_ref(),
            ),
            _ => return Flow::Continue,
        };
        Flow::Answer(a)
    }

    /// The budget a remote token check of this request is admitted against.
    pub fn budget(&self, ctx: &RequestCtx) -> RemoteBudget<'_> {
        RemoteBudget {
            limits: &self.limits,
            client: ctx.client_ip,
        }
    }

    async fn authenticate<D: Downstream>(&self, d: &mut D, ctx: &mut RequestCtx) -> Flow {
        match self
            .auth
            .authenticate(d.req_header(), ctx.route.accepts_cookie(), self.budget(ctx))
            .await
        {
            Ok(p) => {
                ctx.principal = Some(p);
                Flow::Continue
            }
            Err(f) => self.auth_refusal(d, ctx, f).await,
        }
    }

    /// Turns a refused credential into its refusal: over the remote-check budget (429), the
    /// identity provider down (503, neither counted nor limited), or a failure that is counted
    /// against the client's address first.
    async fn auth_refusal<D: Downstream>(&self, d: &mut D, ctx: &mut RequestCtx, f: AuthFailure) -> Flow {
        if let Some(limit) = f.limited {
            // Over its budget of remote token checks: nothing was asked, nothing else to count.
            return Flow::Refuse(Refusal::Limited {
                limit,
                user: None,
                after: None,
            });
        }
        if matches!(f.reason, AuthReason::HfUnavailable | AuthReason::StateUnavailable) {
            return Flow::Refuse(Refusal::Unavailable {
                reason: f.reason,
                message: f.description.into(),
                retry_after: f.retry_after.unwrap_or(5),
            });
        }
        if let Some(ip) = ctx.client_ip {
            // No credential at all is how OAuth discovery starts, not a guess: it draws on the
            // client's unauthenticated bucket instead of its failed-auth one.
            let counted = if f.reason == AuthReason::Missing {
                self.limits.check_ip(ip).await
            } else {
                self.limits.auth_failed(ip).await
            };
            if let Err(limit) = counted {
                return Flow::Refuse(Refusal::Limited {
                    limit,
                    user: None,
                    after: Some(f.reason),
                });
            }
        }
        if ctx.route == Route::Mcp && d.req_header().method == http::Method::POST && !ctx.body_read {
            // Answer with the request's JSON-RPC id when the (small) body tells it.
            if let Ok(body) = self.read_body(d, ctx).await {
                ctx.mcp = Some(McpCall {
                    era: Era::of(d.req_header()),
                    method: RpcMethod::NONE,
                    rpc_id: RpcPeek::parse(&body).id,
                    mint_session: false,
                });
            }
        }
        Flow::Refuse(Refusal::Credential(f))
    }

    async fn read_body<D: Downstream>(&self, d: &mut D, ctx: &mut RequestCtx) -> Result<bytes::Bytes, BodyError> {
        let body = d.read_body(self.sniff_max).await?;
        ctx.body_read = true;
        Ok(body)
    }

    /// The MCP stage: era, and for the legacy era the session rules.
    async fn mcp_session<D: Downstream>(
        &self,
        d: &mut D,
        ctx: &mut RequestCtx,
        user: &vaultgate_shared::UserId,
    ) -> Flow {
        let req = d.req_header();
        let era = Era::of(req);
        ctx.mcp = Some(McpCall {
            era,
            method: RpcMethod::of(req.headers.get(MCP_METHOD).and_then(|v| v.to_str().ok())),
            rpc_id: None,
            mint_session: false,
        });
        if era == Era::Modern {
            return Flow::Continue;
        }
        let refuse = |reason| {
            Flow::Refuse(Refusal::Session {
                reason,
                user: user.clone(),
            })
        };
        let is_delete = req.method == http::Method::DELETE;
        let sid = match req.headers.get(MCP_SESSION_ID) {
            Some(v) => std::str::from_utf8(v.as_bytes())
                .ok()
                .filter(|v| valid_session_id(v))
                .map(str::to_owned),
            None => {
                if req.method != http::Method::POST {
                    return refuse(SessionRejection::Missing);
                }
                let body = match self.read_body(d, ctx).await {
                    Ok(b) => b,
                    Err(BodyError::TooLarge) => return Flow::Refuse(Refusal::BodyTooLarge { max: self.sniff_max }),
                    Err(BodyError::Io(e)) => return Flow::Fail(e),
                };
                let peek = RpcPeek::parse(&body);
                ctx.trace.body_meta(peek.trace.as_ref());
                let is_init = peek.is_initialize();
                if let Some(m) = ctx.mcp.as_mut() {
                    m.method = RpcMethod::of(peek.method.as_deref());
                    m.rpc_id = peek.id;
                    m.mint_session = is_init;
                }
                if !is_init {
                    return refuse(SessionRejection::Missing);
                }
                return Flow::Continue;
            }
        };
        let lookup = match &sid {
            Some(id) => match self.sessions.lookup(id).await {
                Ok(l) => l,
                Err(e) => {
                    // Fail closed (the store counted the error): a session that cannot be
                    // checked is not accepted.
                    tracing::error!(error = %e, "session store lookup failed");
                    return Flow::Refuse(Refusal::Unavailable {
                        reason: AuthReason::StateUnavailable,
                        message: "session store unavailable; retry shortly".into(),
                        retry_after: 5,
                    });
                }
            },
            None => Lookup::Unknown,
        };
        match lookup {
            Lookup::Live(owner) if &owner == user => {
                if is_delete {
                    if let Some(id) = &sid
                        && let Err(e) = self.sessions.end(id).await
                    {
                        tracing::error!(error = %e, "could not end an MCP session");
                    }
                    audit::session_event(
                        audit::Event::SessionEnd,
                        user,
                        Some("client_delete"),
                        ctx.client_ip,
                        ctx.ids(),
                    );
                    return Flow::Answer(Answer::no_content());
                }
                ctx.session = sid;
                Flow::Continue
            }
            Lookup::Live(_) => refuse(SessionRejection::WrongUser),
            Lookup::Expired => refuse(SessionRejection::Expired),
            Lookup::Unknown => refuse(SessionRejection::Unknown),
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use vaultgate_shared::UserId;
    use vaultgate_shared::config::Secret;
    use vaultgate_shared::identity::IdentityKey;

    use super::*;
    use crate::audit::Event;
    use crate::auth::Authenticator;
    use crate::auth::allow::AllowList;
    use crate::auth::hf::HfTokens;
    use crate::auth::jwt::{AUDIENCE, GatewayClaims, TokenKeys};
    use crate::client_ip::{ClientAddr, TrustedProxies};
    use crate::endpoints::signin::SignIn;
    use crate::identity::IdentitySigner;
    use crate::metrics::Metrics;
    use crate::origin::Origins;
    use crate::pipeline::downstream::Fake;
    use crate::ratelimit::{RateLimiter, Scope};
    use crate::route_rules::RouteRules;
    use crate::state::memory::MemoryRevocations;
    use crate::state::memory::MemorySessions;
    use crate::upstream::Backend;
    use crate::usage::Usage;

    const SECRET: &str = "a-test-signing-secret-of-at-least-32-bytes";
    const PUBLIC: &str = "https://gw.example";

    /// Per-user `per_minute`/`burst`, per-IP `ip`, failed-auth `fail` per minute.
    fn gateway(per_minute: u32, burst: u32, ip: u32, fail: u32) -> Gateway {
        let specs: Vec<String> = ["public:/pub/", "deny:/secret/", "mcp:/mcp", "token:/"]
            .map(str::to_owned)
            .to_vec();
        Gateway {
            auth: Authenticator {
                keys: TokenKeys::new(&Secret::new(SECRET), None, PUBLIC, Duration::from_secs(3600)),
                hf: HfTokens::new("http://127.0.0.1:9"),
                revocations: Arc::new(MemoryRevocations::new()),
                allow: AllowList::default(),
                hf_oauth_only: false,
                local_user: None,
            },
            signer: IdentitySigner::new(IdentityKey::new(SECRET.as_bytes()).unwrap()),
            sessions: Arc::new(MemorySessions::new(
                Duration::from_secs(60),
                Duration::from_secs(600),
                4,
            )),
            limits: RateLimiter::new(per_minute, burst, ip, fail),
            metrics: Arc::new(Metrics::new()),
            usage: Arc::new(Usage::new()),
            backend: Backend::new("127.0.0.1:9".into(), Duration::from_secs(1)),
            origins: Origins::new(&[PUBLIC.into()], PUBLIC),
            proxies: TrustedProxies::new(vec![], Default::default()),
            metrics_token: None,
            sniff_max: 256,
            routes: RouteRules::parse(&specs).unwrap(),
            audited: moka::sync::Cache::new(100),
            signin: SignIn::new(None, None, AllowList::default()),
            web_ui: true,
            mcp_url: format!("{PUBLIC}/mcp"),
            resource_metadata: None,
            listen_port: 7860,
            access_log: false,
        }
    }

    fn user(name: &str) -> UserId {
        UserId::parse(name).unwrap()
    }

    fn bearer(gw: &Gateway, who: &str) -> String {
        format!("Bearer {}", gw.auth.keys.mint(&user(who), None, None).token)
    }

    /// A correctly signed token that expired two minutes past the leeway.
    fn expired(gw: &Gateway) -> String {
        let now = vaultgate_shared::jwt::now_secs();
        let claims = GatewayClaims {
            sub: "alice".into(),
            iat: now - 3600,
            nbf: None,
            exp: now - 600,
            iss: PUBLIC.into(),
            aud: AUDIENCE.into(),
            jti: "old".into(),
            name: None,
            auth_time: None,
            max_exp: None,
            idp: None,
        };
        let _ = gw;
        use sha2::Digest;
        let kid = format!("k-{}", hex::encode(&sha2::Sha256::digest(SECRET.as_bytes())[..8]));
        let token = vaultgate_shared::jwt::HmacKey::new(SECRET.as_bytes()).sign(&claims, Some(&kid));
        format!("Bearer {token}")
    }

    /// Runs every stage on `d`.
    async fn run(gw: &Gateway, d: &mut Fake) -> (Flow, RequestCtx) {
        let mut ctx = RequestCtx::default();
        let flow = gw.run_stages(d, &mut ctx).await;
        (flow, ctx)
    }

    fn refusal(flow: Flow) -> Refusal {
        match flow {
            Flow::Refuse(r) => r,
            other => panic!("not a refusal: {other:?}"),
        }
    }

    #[test]
    fn classify_table() {
        let gw = gateway(60, 10, 100, 10);
        let mut no_page = gateway(60, 10, 100, 10);
        no_page.web_ui = false;
        let cases = [
            ("/healthz", Route::Healthz, Route::Healthz),
            ("/mcp", Route::Mcp, Route::Mcp),
            ("/", Route::Page, Route::Other),
            ("/static/app.js", Route::Page, Route::Other),
            ("/pub/x", Route::Public, Route::Public),
            ("/secret/x", Route::NotRouted, Route::NotRouted),
            ("/api/notes", Route::Api, Route::Api),
            ("/api/auth/refresh", Route::AuthRefresh, Route::AuthRefresh),
            (
                "/.well-known/oauth-protected-resource/mcp",
                Route::ResourceMetadata,
                Route::ResourceMetadata,
            ),
        ];
        for (path, with_page, without) in cases {
            for (g, want) in [(&gw, with_page), (&no_page, without)] {
                let d = Fake::new("GET", path, &[("x-request-id", "client-1")], "");
                let mut ctx = RequestCtx::default();
                g.classify(&d, &mut ctx);
                assert_eq!(ctx.route, want, "{path} web_ui={}", g.web_ui);
                assert_eq!(ctx.rid().len(), 36, "{path}: a fresh UUID");
                assert_eq!(ctx.ids().client, Some("client-1"));
                assert!(ctx.client_ip.is_some());
            }
        }
    }

    #[tokio::test]
    async fn origin_table() {
        let gw = gateway(60, 10, 100, 10);
        let cases: [(&[(&str, &str)], bool); 4] = [
            (&[], true),
            (&[("origin", PUBLIC)], true),
            (&[("origin", "https://GW.example")], true),
            (&[("origin", "https://evil.example")], false),
        ];
        for (headers, passes) in cases {
            let mut d = Fake::new("POST", "/mcp", headers, "");
            let mut ctx = RequestCtx::default();
            match gw.stage(Stage::Origin, &mut d, &mut ctx).await {
                Flow::Continue => assert!(passes, "{headers:?}"),
                Flow::Refuse(r) => {
                    assert!(!passes, "{headers:?}");
                    assert_eq!(r, Refusal::ForeignOrigin("https://evil.example".into()));
                    assert_eq!(r.event(), Some(Event::OriginRefused));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn ip_limit_table() {
        // 40 per minute: a burst of 10 for the IP bucket, 100 for the page's own.
        let cases = [
            (Route::Readyz, 10, true),
            (Route::Public, 10, true),
            (Route::NotRouted, 10, true),
            (Route::SignInLogin, 10, true),
            (Route::Metrics, 10, true),
            (Route::Page, 100, true),
            (Route::Healthz, 0, false),
            (Route::Api, 0, false),
            (Route::Mcp, 0, false),
        ];
        for (route, burst, limited) in cases {
            let gw = gateway(60, 10, 40, 10);
            let mut ctx = RequestCtx {
                route,
                client_ip: Some(ClientAddr::Opaque(9)),
                ..RequestCtx::default()
            };
            for i in 0..burst {
                assert!(matches!(gw.ip_limit(&ctx).await, Flow::Continue), "{route:?} #{i}");
            }
            match gw.ip_limit(&ctx).await {
                Flow::Refuse(Refusal::Limited {
                    limit,
                    user: None,
                    after: None,
                }) => {
                    assert!(limited, "{route:?}");
                    assert_eq!(limit.scope, Scope::Ip);
                }
                Flow::Continue => assert!(!limited, "{route:?}"),
                other => panic!("{other:?}"),
            }
            // Without an address there is nothing to key a limit on.
            ctx.client_ip = None;
            assert!(matches!(gw.ip_limit(&ctx).await, Flow::Continue));
        }
    }

    #[tokio::test]
    async fn authenticate_table() {
        let gw = gateway(60, 10, 100, 10);
        let revoked = gw.auth.keys.mint(&user("alice"), None, None);
        gw.auth
            .revocations
            .revoke(&revoked.jti, revoked.expires_at)
            .await
            .unwrap();
        let revoked = format!("Bearer {}", revoked.token);
        let good = bearer(&gw, "alice");
        let bad_sig = {
            let other = TokenKeys::new(
                &Secret::new("another-secret-of-at-least-32-bytes!!"),
                None,
                PUBLIC,
                Duration::from_secs(60),
            );
            format!("Bearer {}", other.mint(&user("alice"), None, None).token)
        };
        let expired = expired(&gw);
        type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<(u16, AuthReason)>);
        let cases: Vec<Case> = vec![
            ("valid", vec![("authorization", &good)], None),
            ("missing", vec![], Some((401, AuthReason::Missing))),
            (
                "not a JWT",
                vec![("authorization", "Bearer garbage")],
                Some((401, AuthReason::Malformed)),
            ),
            (
                "basic",
                vec![("authorization", "Basic YTpi")],
                Some((401, AuthReason::Malformed)),
            ),
            (
                "two headers",
                vec![("authorization", &good), ("authorization", &good)],
                Some((400, AuthReason::Malformed)),
            ),
            (
                "foreign key",
                vec![("authorization", &bad_sig)],
                Some((401, AuthReason::BadSignature)),
            ),
            (
                "expired",
                vec![("authorization", &expired)],
                Some((401, AuthReason::Expired)),
            ),
            (
                "revoked",
                vec![("authorization", &revoked)],
                Some((401, AuthReason::Revoked)),
            ),
        ];
        for (name, headers, want) in cases {
            let mut d = Fake::new("GET", "/api/notes", &headers, "");
            let (flow, ctx) = run(&gw, &mut d).await;
            match want {
                None => {
                    assert!(matches!(flow, Flow::Continue), "{name}: {flow:?}");
                    assert_eq!(ctx.user, Some(user("alice")), "{name}");
                }
                Some((status, reason)) => {
                    let Refusal::Credential(f) = refusal(flow) else {
                        panic!("{name}: not a credential refusal");
                    };
                    assert_eq!((f.status, f.reason), (status, reason), "{name}");
                    assert_eq!(ctx.user, None, "{name}");
                }
            }
        }
    }

    #[tokio::test]
    async fn failed_credentials_are_limited_per_ip() {
        // Two failures a minute: the third is a 429 that still counts its failure.
        let gw = gateway(60, 10, 100, 2);
        for i in 0..2 {
            let mut d = Fake::new("GET", "/api/notes", &[("authorization", "Bearer garbage")], "");
            let (flow, _) = run(&gw, &mut d).await;
            assert!(matches!(refusal(flow), Refusal::Credential(_)), "#{i}");
        }
        let mut d = Fake::new("GET", "/api/notes", &[("authorization", "Bearer garbage")], "");
        let (flow, ctx) = run(&gw, &mut d).await;
        let r = refusal(flow);
        let Refusal::Limited { limit, after, .. } = &r else {
            panic!("{r:?}");
        };
        assert_eq!((limit.scope, *after), (Scope::AuthFailure, Some(AuthReason::Malformed)));
        gw.refuse(&ctx, &r);
        assert_eq!(gw.metrics.auth_failures.with_label_values(&["malformed"]).get(), 1);
        assert_eq!(gw.metrics.rate_limited.with_label_values(&["auth_failure"]).get(), 1);
    }

    #[tokio::test]
    async fn a_refused_mcp_credential_answers_with_the_request_id() {
        let gw = gateway(60, 10, 100, 10);
        let mut d = Fake::new(
            "POST",
            "/mcp",
            &[],
            r#"{"jsonrpc":"2.0","id":42,"method":"tools/list"}"#,
        );
        let (flow, ctx) = run(&gw, &mut d).await;
        assert!(matches!(refusal(flow), Refusal::Credential(_)));
        assert_eq!((d.reads, ctx.body_read), (1, true));
        assert_eq!(ctx.rpc_id(), Some(&serde_json::json!(42)));
    }

    #[tokio::test]
    async fn user_limit() {
        let gw = gateway(60, 2, 100, 10);
        let token = bearer(&gw, "alice");
        let other = bearer(&gw, "bob");
        for i in 0..2 {
            let mut d = Fake::new("GET", "/api/notes", &[("authorization", &token)], "");
            assert!(matches!(run(&gw, &mut d).await.0, Flow::Continue), "#{i}");
        }
        let mut d = Fake::new("GET", "/api/notes", &[("authorization", &token)], "");
        match refusal(run(&gw, &mut d).await.0) {
            Refusal::Limited {
                limit,
                user: Some(u),
                after: None,
            } => {
                assert_eq!((limit.scope, u), (Scope::User, user("alice")));
            }
            r => panic!("{r:?}"),
        }
        // Users are limited separately.
        let mut d = Fake::new("GET", "/api/notes", &[("authorization", &other)], "");
        assert!(matches!(run(&gw, &mut d).await.0, Flow::Continue));
    }

    const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}"#;
    const LIST: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;

    #[tokio::test]
    async fn mcp_session_table() {
        let gw = gateway(600, 100, 100, 10);
        let alice = user("alice");
        let live = gw.sessions.create(&alice).await.unwrap();
        let bobs = gw.sessions.create(&user("bob")).await.unwrap();
        let ended = gw.sessions.create(&alice).await.unwrap();
        gw.sessions.end(&ended).await.unwrap();
        let token = bearer(&gw, "alice");
        let big = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"initialize\",\"pad\":\"{}\"}}",
            "x".repeat(300)
        );
        enum Want {
            Forward { mint: bool, session: bool },
            Reject(SessionRejection),
            TooLarge,
        }
        let cases: Vec<(&str, &str, Option<&str>, &str, Want)> = vec![
            (
                "initialize mints",
                "POST",
                None,
                INIT,
                Want::Forward {
                    mint: true,
                    session: false,
                },
            ),
            (
                "no id, not initialize",
                "POST",
                None,
                LIST,
                Want::Reject(SessionRejection::Missing),
            ),
            ("no id on GET", "GET", None, "", Want::Reject(SessionRejection::Missing)),
            ("body over the sniff size", "POST", None, &big, Want::TooLarge),
            (
                "live session",
                "POST",
                Some(&live),
                LIST,
                Want::Forward {
                    mint: false,
                    session: true,
                },
            ),
            (
                "unknown id",
                "POST",
                Some("0b8f6f5e-9c1e-4a57-8b7e-0a8e6d3c2b1a"),
                LIST,
                Want::Reject(SessionRejection::Unknown),
            ),
            (
                "malformed id",
                "POST",
                Some("a/b"),
                LIST,
                Want::Reject(SessionRejection::Unknown),
            ),
            (
                "ended session",
                "POST",
                Some(&ended),
                LIST,
                Want::Reject(SessionRejection::Expired),
            ),
            (
                "another user's",
                "POST",
                Some(&bobs),
                LIST,
                Want::Reject(SessionRejection::WrongUser),
            ),
        ];
        for (name, method, sid, body, want) in cases {
            let mut headers = vec![("authorization", token.as_str())];
            if let Some(sid) = sid {
                headers.push(("mcp-session-id", sid));
            }
            let mut d = Fake::new(method, "/mcp", &headers, body);
            let (flow, ctx) = run(&gw, &mut d).await;
            match (want, flow) {
                (Want::Forward { mint, session }, Flow::Continue) => {
                    let m = ctx.mcp.as_ref().unwrap();
                    assert_eq!((m.mint_session, ctx.session.is_some()), (mint, session), "{name}");
                }
                (Want::Reject(reason), Flow::Refuse(r)) => {
                    let event = r.event();
                    assert_eq!(
                        r,
                        Refusal::Session {
                            reason,
                            user: alice.clone()
                        },
                        "{name}"
                    );
                    let hijack = reason == SessionRejection::WrongUser;
                    assert_eq!(event == Some(Event::SessionHijackAttempt), hijack, "{name}");
                }
                (Want::TooLarge, Flow::Refuse(r)) => assert_eq!(r, Refusal::BodyTooLarge { max: 256 }, "{name}"),
                (_, flow) => panic!("{name}: {flow:?}"),
            }
        }
        // A modern request has no session at all.
        let mut d = Fake::new(
            "POST",
            "/mcp",
            &[
                ("authorization", &token),
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/list"),
            ],
            LIST,
        );
        let (flow, ctx) = run(&gw, &mut d).await;
        assert!(matches!(flow, Flow::Continue));
        assert_eq!((ctx.mcp.unwrap().era, d.reads), (Era::Modern, 0));
    }

    #[tokio::test]
    async fn delete_ends_the_session_with_a_bare_204() {
        let gw = gateway(600, 100, 100, 10);
        let sid = gw.sessions.create(&user("alice")).await.unwrap();
        let token = bearer(&gw, "alice");
        let mut d = Fake::new(
            "DELETE",
            "/mcp",
            &[("authorization", &token), ("mcp-session-id", &sid)],
            "",
        );
        match run(&gw, &mut d).await.0 {
            Flow::Answer(a) => assert_eq!((a.status, a.is_bare()), (204, true)),
            other => panic!("{other:?}"),
        }
        assert_eq!(gw.sessions.lookup(&sid).await.unwrap(), Lookup::Expired);
        // Bob cannot end Alice's session.
        let sid = gw.sessions.create(&user("alice")).await.unwrap();
        let bob = bearer(&gw, "bob");
        let mut d = Fake::new(
            "DELETE",
            "/mcp",
            &[("authorization", &bob), ("mcp-session-id", &sid)],
            "",
        );
        assert!(matches!(
            refusal(run(&gw, &mut d).await.0),
            Refusal::Session {
                reason: SessionRejection::WrongUser,
                ..
            }
        ));
        assert_eq!(gw.sessions.lookup(&sid).await.unwrap(), Lookup::Live(user("alice")));
    }

    #[tokio::test]
    async fn local_endpoints_and_public_paths() {
        let gw = gateway(60, 10, 100, 10);
        let cases = [
            ("/healthz", Some(200)),
            ("/.well-known/oauth-protected-resource", Some(404)),
            ("/secret/x", None),
            ("/pub/x", None),
        ];
        for (path, status) in cases {
            let mut d = Fake::new("GET", path, &[], "");
            match (run(&gw, &mut d).await.0, status) {
                (Flow::Answer(a), Some(s)) => assert_eq!(a.status, s, "{path}"),
                (Flow::Refuse(Refusal::NotRouted), None) => assert_eq!(path, "/secret/x"),
                (Flow::Forward, None) => assert_eq!(path, "/pub/x"),
                (other, _) => panic!("{path}: {other:?}"),
            }
        }
    }
}
