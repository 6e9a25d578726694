//! The stages themselves: one arm of [`Gateway::stage`] each, in [`STAGES`] order.

use http::HeaderValue;
use pingora::http::RequestHeader;
use vaultgate_shared::headers;

use super::refusal::{Shape, Subject};
use super::{BodyError, Downstream, Flow, McpCall, Refusal, RequestCtx, STAGES, SessionRejection, Stage};
use crate::answer::Answer;
use crate::audit;
use crate::auth::{AuthFailure, AuthReason, RemoteBudget};
use crate::endpoints;
use crate::metrics::HttpMethod;
use crate::proxy::Gateway;
use crate::request_trace::RequestTrace;
use crate::routes::Route;
use crate::sessions::Lookup;
use crate::sessions::era::{Era, MCP_METHOD, MCP_SESSION_ID, RpcMethod, RpcPeek};

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
                    if audit::first_in_window(&self.audited, p.jti.clone()) {
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
            Stage::McpSession => match (ctx.route, ctx.user.clone()) {
                (Route::Mcp, Some(user)) => self.mcp_session(d, ctx, &user).await,
                _ => Flow::Continue,
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
            Route::Page => crate::web::serve(&req.method, req.uri.path()),
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
                    .callback(&self.issuer(), &self.metrics.signins, req, ctx.client_ip, ctx.ids())
                    .await
            }
            Route::SignInLocal => self.signin.local(
                &self.issuer(),
                &self.metrics.signins,
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
        if f.status == 503 {
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
                ctx.trace.body(&body);
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
