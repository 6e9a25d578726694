//! The audit log: JSON-able `tracing` events in the shared format ([`vaultgate_shared::audit`]),
//! one per security decision. Never a token or a secret; a user id and a client IP are fine.

use vaultgate_shared::UserId;
use vaultgate_shared::audit::TARGET;

use crate::client_ip::ClientAddr;

/// Every audit event; [`Event::name`] is its `event` field (a public interface: never renamed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    AuthFailure,
    AuthUnavailable,
    AuthSuccess,
    RateLimited,
    OriginRefused,
    PathRefused,
    TokenIssue,
    TokenRefresh,
    TokenRefreshRefused,
    TokenRevoke,
    SessionStart,
    SessionEnd,
    SessionRejected,
    SessionHijackAttempt,
    Signin,
}

impl Event {
    /// Every event.
    pub const ALL: [Event; 15] = [
        Event::AuthFailure,
        Event::AuthUnavailable,
        Event::AuthSuccess,
        Event::RateLimited,
        Event::OriginRefused,
        Event::PathRefused,
        Event::TokenIssue,
        Event::TokenRefresh,
        Event::TokenRefreshRefused,
        Event::TokenRevoke,
        Event::SessionStart,
        Event::SessionEnd,
        Event::SessionRejected,
        Event::SessionHijackAttempt,
        Event::Signin,
    ];

    /// The `event` field of the audit line.
    pub const fn name(self) -> &'static str {
        match self {
            Event::AuthFailure => "auth_failure",
            Event::AuthUnavailable => "auth_unavailable",
            Event::AuthSuccess => "auth_success",
            Event::RateLimited => "rate_limited",
            Event::OriginRefused => "origin_refused",
            Event::PathRefused => "path_refused",
            Event::TokenIssue => "token_issue",
            Event::TokenRefresh => "token_refresh",
            Event::TokenRefreshRefused => "token_refresh_refused",
            Event::TokenRevoke => "token_revoke",
            Event::SessionStart => "session_start",
            Event::SessionEnd => "session_end",
            Event::SessionRejected => "session_rejected",
            Event::SessionHijackAttempt => "session_hijack_attempt",
            Event::Signin => "signin",
        }
    }
}

/// The de-duplication policy of repeated audit lines: true the first time `key` is seen within
/// the cache's time to live (a few minutes), so a flood of one kind from one client or one
/// token writes one line, while its metric still counts every request.
pub fn first_in_window(audited: &moka::sync::Cache<String, ()>, key: &str) -> bool {
    if audited.contains_key(key) {
        return false;
    }
    audited.insert(key.to_owned(), ());
    true
}

/// The ids an audit line carries: the gateway's own (always fresh), and — as its own field,
/// never trusted for anything — the `X-Request-Id` the client sent, if any.
#[derive(Debug, Clone, Copy)]
pub struct RequestIds<'a> {
    pub ours: &'a str,
    pub client: Option<&'a str>,
}

impl<'a> From<&'a str> for RequestIds<'a> {
    fn from(ours: &'a str) -> Self {
        Self { ours, client: None }
    }
}

/// A refused authentication.
pub fn auth_failure(reason: &str, route: &str, ip: Option<ClientAddr>, ids: RequestIds<'_>) {
    tracing::warn!(target: TARGET, event = Event::AuthFailure.name(), reason, route, ip = ip.map(display_ip), request_id = ids.ours, client_request_id = ids.client);
}

/// A credential that could not be checked because its identity provider is unreachable.
pub fn auth_unavailable(reason: &str, route: &str, ip: Option<ClientAddr>, ids: RequestIds<'_>) {
    tracing::warn!(target: TARGET, event = Event::AuthUnavailable.name(), reason, route, ip = ip.map(display_ip), request_id = ids.ours, client_request_id = ids.client);
}

/// A successful authentication (logged once per token per few minutes, not per request).
pub fn auth_success(user: &UserId, route: &str, ip: Option<ClientAddr>, ids: RequestIds<'_>) {
    tracing::info!(target: TARGET, event = Event::AuthSuccess.name(), user = user.as_str(), route, ip = ip.map(display_ip), request_id = ids.ours, client_request_id = ids.client);
}

/// A request refused with 429.
pub fn rate_limited(scope: &str, user: Option<&UserId>, ip: Option<ClientAddr>, ids: RequestIds<'_>) {
    tracing::warn!(target: TARGET, event = Event::RateLimited.name(), scope, user = user.map(UserId::as_str), ip = ip.map(display_ip), request_id = ids.ours, client_request_id = ids.client);
}

/// A refused browser origin.
pub fn origin_refused(origin: &str, ip: Option<ClientAddr>, ids: RequestIds<'_>) {
    let origin: String = origin.chars().take(200).collect();
    tracing::warn!(target: TARGET, event = Event::OriginRefused.name(), origin, ip = ip.map(display_ip), request_id = ids.ours, client_request_id = ids.client);
}

/// A path refused by the route rules: `not_routed` (404) or `ambiguous_path` (400).
pub fn path_refused(reason: &str, ip: Option<ClientAddr>, ids: RequestIds<'_>) {
    tracing::warn!(target: TARGET, event = Event::PathRefused.name(), reason, ip = ip.map(display_ip), request_id = ids.ours, client_request_id = ids.client);
}

/// A token minted, refreshed or revoked.
pub fn token_event(event: Event, user: &UserId, via: &str, ids: RequestIds<'_>) {
    tracing::info!(target: TARGET, event = event.name(), user = user.as_str(), via, request_id = ids.ours, client_request_id = ids.client);
}

/// An MCP session started, ended, or refused.
pub fn session_event(event: Event, user: &UserId, reason: Option<&str>, ip: Option<ClientAddr>, ids: RequestIds<'_>) {
    tracing::info!(target: TARGET, event = event.name(), user = user.as_str(), reason, ip = ip.map(display_ip), request_id = ids.ours, client_request_id = ids.client);
}

/// A browser sign-in finished (or failed), with the outcome label of `vaultgate_gateway_signins_total`.
pub fn signin_event(
    outcome: &str,
    user: Option<&UserId>,
    detail: Option<&str>,
    ip: Option<ClientAddr>,
    ids: RequestIds<'_>,
) {
    let detail: Option<String> = detail.map(|d| d.chars().take(200).collect());
    tracing::info!(target: TARGET, event = Event::Signin.name(), outcome, user = user.map(UserId::as_str), detail, ip = ip.map(display_ip), request_id = ids.ours, client_request_id = ids.client);
}

fn display_ip(ip: ClientAddr) -> String {
    ip.to_string()
}
