//! The request path as an explicit pipeline: `request_filter` runs [`STAGES`] in order, and
//! each stage either lets the request go on, forwards it as it is, answers it locally, or
//! refuses it with one typed [`Refusal`].
//!
//! Stages are a `match` over [`Stage`], not boxed closures or futures: nothing is allocated
//! per stage per request. Each stage sees the request through [`Downstream`], so it can be
//! unit-tested with a `RequestHeader`, a body and a [`RequestCtx`], without a socket.

pub mod context;
pub mod downstream;
mod stages;

use crate::answer::Answer;

pub use crate::refusal::{Refusal, SessionRejection};
pub use context::RequestCtx;
pub use downstream::{BodyError, Downstream};

/// What a stage decided.
#[derive(Debug)]
pub enum Flow {
    /// On to the next stage (after the last one, the request is forwarded).
    Continue,
    /// Forward now, skipping the remaining stages (a `public` path: no credential, no identity).
    Forward,
    /// Answer locally (a local endpoint).
    Answer(Answer),
    /// Refuse: the refusal counts, audits and answers itself.
    Refuse(Refusal),
    /// The connection failed while a stage read the body: nothing can be answered.
    Fail(Box<pingora::Error>),
}

/// The stages of the request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Route, method, request ids, client address and the trace span.
    Classify,
    /// RFC 9728 metadata: public, credential-free, any origin.
    ResourceMetadata,
    /// A request carrying a disallowed `Origin` is refused (403).
    Origin,
    /// The per-IP limit of the routes that need no credential (the page's own, larger, bucket).
    IpLimit,
    /// The gateway's own credential-free endpoints, refused paths, and public paths.
    LocalEndpoints,
    /// The credential: a gateway token, a Hugging Face token, or the page's cookie.
    Authenticate,
    /// A cookie-authenticated unsafe request must come from our page, with a JSON body.
    CookieOrigin,
    /// The admitted user: audited once per token per few minutes, counted for usage.
    Admit,
    /// The user's rate limit (and the RateLimit fields when nearly spent).
    UserLimit,
    /// `/api/auth/*`: the token lifecycle, answered by the gateway.
    TokenEndpoints,
    /// `/mcp`: protocol era; for the session era, the session rules.
    McpSession,
}

/// The stages, in order. The ordering rules, written once:
///
/// - `Classify` first: every later stage (and every refusal's answer) depends on the route.
/// - `ResourceMetadata` before `Origin`: browser-based MCP clients of any origin read it.
/// - `Origin` before everything that costs: a disallowed origin is refused before a limit is
///   spent or a token is checked (MCP 2025-11-25 requires the 403).
/// - `IpLimit` before `LocalEndpoints`: readiness, sign-in, metrics and refused paths are
///   credential-free, so only the client's address can bound them (`/healthz` is exempt).
/// - `LocalEndpoints` before `Authenticate`: they need no credential; a public path is
///   forwarded from there without one.
/// - `Authenticate` before `CookieOrigin`: only a cookie credential needs the browser checks.
/// - `CookieOrigin` before `Admit`: a cross-site request is not a success to audit or count.
/// - `UserLimit` after `Admit` and before the endpoints and the MCP session: a user over the
///   limit gets nothing minted, and no session looked up.
/// - `TokenEndpoints` and `McpSession` last: they act for the admitted user.
///
/// To add a stage: add its variant to [`Stage`], its place (and why there) to this list, its
/// arm to `Gateway::stage`, and a table-driven test in `stages.rs`. A refusal it needs goes to
/// [`Refusal`] with its status, code, counter, audit event and headers.
pub const STAGES: [Stage; 11] = [
    Stage::Classify,
    Stage::ResourceMetadata,
    Stage::Origin,
    Stage::IpLimit,
    Stage::LocalEndpoints,
    Stage::Authenticate,
    Stage::CookieOrigin,
    Stage::Admit,
    Stage::UserLimit,
    Stage::TokenEndpoints,
    Stage::McpSession,
];
