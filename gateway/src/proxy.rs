//! The gateway's `ProxyHttp`: each phase, in the order a request lives through it,
//! is a few lines that call one module per concern; `request_filter` runs the stages of
//! [`crate::pipeline`].

use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType};
use vaultgate_shared::headers;

use crate::answer::Answer;
use crate::audit::{self, Event};
use crate::gateway::Gateway;
use crate::identity::{self};
use crate::pipeline::{Flow, Refusal, RequestCtx};
use crate::refusal::Shape;
use crate::routes::Route;
use crate::sessions::Era;
use crate::sessions::era::{MCP_SESSION_ID, RpcMethod, scan_method};
use crate::upstream::UpstreamFailure;

impl Gateway {
    /// Writes a local answer and stops the request.
    async fn answer(&self, s: &mut Session, ctx: &RequestCtx, mut a: Answer) -> pingora::Result<bool> {
        if let Some(code) = a.code {
            ctx.trace.refused(code);
        }
        // A refusal that carries its own RateLimit fields (a 429) keeps them; a 204 gets none.
        if let Some(near) = ctx
            .near_limit
            .filter(|_| a.header_value("ratelimit").is_none() && !a.is_bare())
        {
            for (name, value) in near.headers() {
                a = a.header(name, value);
            }
        }
        a.send(s, ctx.rid(), ctx.body_read).await?;
        Ok(true)
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::default()
    }

    /// Decides everything about a request before it may go upstream: the stages of
    /// [`crate::pipeline::STAGES`], in order. Returns true when it answered locally.
    async fn request_filter(&self, s: &mut Session, ctx: &mut RequestCtx) -> pingora::Result<bool> {
        let a = match self.run_stages(s, ctx).await {
            Flow::Continue | Flow::Forward => return Ok(false),
            Flow::Answer(a) => a,
            Flow::Refuse(r) => self.refuse(ctx, &r),
            Flow::Fail(e) => return Err(e),
        };
        self.answer(s, ctx, a).await
    }

    async fn upstream_peer(&self, s: &mut Session, ctx: &mut RequestCtx) -> pingora::Result<Box<HttpPeer>> {
        ctx.upstream_started = Some(Instant::now());
        ctx.trace.upstream();
        let streaming = ctx.route == Route::Mcp && s.as_downstream().req_header().method == http::Method::GET;
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
                    audit::session_event(Event::SessionStart, &user, None, ctx.client_ip, ctx.ids());
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
                self.metrics.upstream_error(f);
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
            (None, _) if e.esource() == &ErrorSource::Downstream => Refusal::BAD_REQUEST,
            (None, _) => Refusal::INTERNAL,
        };
        if code > 0 && s.response_written().is_none() {
            let a = Refusal::Upstream(code).answer(Shape {
                rpc_id: ctx.rpc_id(),
                mcp_challenge: None,
            });
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
