//! The audit log: JSON-able `tracing` events with target `audit`, one per security
//! decision. Never a token or a secret; a user id and a client IP are fine.

use std::net::IpAddr;

use vaultgate_shared::UserId;

/// A refused authentication.
pub fn auth_failure(reason: &str, route: &str, ip: Option<IpAddr>, request_id: &str) {
    tracing::warn!(target: "audit", event = "auth_failure", reason, route, ip = ip.map(display_ip), request_id);
}

/// A credential that could not be checked because its identity provider is unreachable.
pub fn auth_unavailable(reason: &str, route: &str, ip: Option<IpAddr>, request_id: &str) {
    tracing::warn!(target: "audit", event = "auth_unavailable", reason, route, ip = ip.map(display_ip), request_id);
}

/// A successful authentication (logged once per token per few minutes, not per request).
pub fn auth_success(user: &UserId, route: &str, ip: Option<IpAddr>, request_id: &str) {
    tracing::info!(target: "audit", event = "auth_success", user = user.as_str(), route, ip = ip.map(display_ip), request_id);
}

/// A request refused with 429.
pub fn rate_limited(scope: &str, user: Option<&UserId>, ip: Option<IpAddr>, request_id: &str) {
    tracing::warn!(target: "audit", event = "rate_limited", scope, user = user.map(UserId::as_str), ip = ip.map(display_ip), request_id);
}

/// A refused browser origin.
pub fn origin_refused(origin: &str, ip: Option<IpAddr>, request_id: &str) {
    let origin: String = origin.chars().take(200).collect();
    tracing::warn!(target: "audit", event = "origin_refused", origin, ip = ip.map(display_ip), request_id);
}

/// A path refused by the route rules: `not_routed` (404) or `ambiguous_path` (400).
pub fn path_refused(reason: &str, ip: Option<IpAddr>, request_id: &str) {
    tracing::warn!(target: "audit", event = "path_refused", reason, ip = ip.map(display_ip), request_id);
}

/// A token minted, refreshed or revoked.
pub fn token_event(event: &str, user: &UserId, via: &str, request_id: &str) {
    tracing::info!(target: "audit", event, user = user.as_str(), via, request_id);
}

/// An MCP session started, ended, or refused.
pub fn session_event(event: &str, user: &UserId, reason: Option<&str>, ip: Option<IpAddr>, request_id: &str) {
    tracing::info!(target: "audit", event, user = user.as_str(), reason, ip = ip.map(display_ip), request_id);
}

/// A browser sign-in finished (or failed), with the outcome label of `vaultgate_gateway_signins_total`.
pub fn signin_event(outcome: &str, user: Option<&UserId>, detail: Option<&str>, ip: Option<IpAddr>, request_id: &str) {
    let detail: Option<String> = detail.map(|d| d.chars().take(200).collect());
    tracing::info!(target: "audit", event = "signin", outcome, user = user.map(UserId::as_str), detail, ip = ip.map(display_ip), request_id);
}

fn display_ip(ip: IpAddr) -> String {
    ip.to_string()
}
