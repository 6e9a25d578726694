//! Every way the gateway refuses a request, as one typed reason that owns its whole answer:
//! HTTP status, error code, the metric it counts under (and its label), the audit line (and
//! its de-duplication), the extra headers (Retry-After, RateLimit fields, the
//! `WWW-Authenticate` challenge) and the body (the shared JSON error body, or on `/mcp` a
//! JSON-RPC error object carrying the request's id).

use std::borrow::Cow;

use vaultgate_shared::UserId;

use crate::answer::Answer;
use crate::audit::{self, Event, RequestIds};
use crate::auth::{AuthFailure, AuthReason};
use crate::client_ip::ClientAddr;
use crate::metrics::Metrics;
use crate::origin::{BrowserRefusal, IMPORT_MAX_BYTES};
use crate::ratelimit::{Limited, Scope};
use crate::routes::Route;
use crate::sessions::era::MISSING_SESSION;

pub use crate::metrics::labels::SessionRejection;

/// The counter a refusal increments, with its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// `vaultgate_gateway_auth_failures_total{reason}`.
    AuthFailures(AuthReason),
    /// `vaultgate_gateway_rate_limited_total{scope}`.
    RateLimited(Scope),
    /// `vaultgate_gateway_session_rejections_total{reason}`.
    SessionRejections(SessionRejection),
}

impl Counter {
    fn inc(self, m: &Metrics) {
        match self {
            Counter::AuthFailures(r) => m.auth_failure(r),
            Counter::RateLimited(s) => m.limited(s),
            Counter::SessionRejections(r) => m.session_rejected(r),
        }
    }
}

/// A refused request.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// A path no route rule forwards (a `deny` rule, or none): 404.
    NotRouted,
    /// A path the gateway cannot read unambiguously: 400.
    AmbiguousPath,
    /// An `Origin` that is not allowed (the header's value, for the audit line): 403.
    ForeignOrigin(String),
    /// Over a rate limit: 429. `after` is the failed (or missing) credential whose counting
    /// put the client over its limit: it is counted and audited first, as any other.
    Limited {
        limit: Limited,
        user: Option<UserId>,
        after: Option<AuthReason>,
    },
    /// A refused credential (400, 401 or 403, with its challenge).
    Credential(AuthFailure),
    /// A credential or session that could not be checked because a dependency is down
    /// (Hugging Face, the state store): 503 with `Retry-After`, not the client's failure.
    Unavailable {
        reason: AuthReason,
        message: Cow<'static, str>,
        retry_after: u64,
    },
    /// A cookie-authenticated (browser) request that did not prove it comes from our page.
    Browser(BrowserRefusal),
    /// A session-era MCP request without a usable session of its user's.
    Session { reason: SessionRejection, user: UserId },
    /// A body the gateway must read (an MCP request without a session) over `MCP_SNIFF_MAX_BYTES`.
    BodyTooLarge { max: usize },
    /// The backend failed (502/504), or the request could not be read (400) or completed (500).
    Upstream(u16),
}

/// Who and what a refusal is about, for its counter and audit line.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub route: Route,
    pub client_ip: Option<ClientAddr>,
    pub ids: RequestIds<'a>,
}

/// What the answer's shape depends on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shape<'a> {
    /// `Some` on `/mcp`: the JSON-RPC id to answer with (`null` when unknown).
    pub rpc_id: Option<&'a serde_json::Value>,
    /// The RFC 9728 challenge parameters added to an `/mcp` 401 (`MCP_OAUTH` on).
    pub mcp_challenge: Option<&'a str>,
}

impl Refusal {
    /// The status of a request Pingora could not read (an [`Refusal::Upstream`] of the client's making).
    pub const BAD_REQUEST: u16 = 400;
    /// The status of a request the gateway could not complete for a reason of its own.
    pub const INTERNAL: u16 = 500;

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::NotRouted => 404,
            Refusal::AmbiguousPath => 400,
            Refusal::ForeignOrigin(_) => 403,
            Refusal::Limited { .. } => 429,
            Refusal::Credential(f) => f.status,
            Refusal::Unavailable { .. } => 503,
            Refusal::Browser(b) => match b {
                BrowserRefusal::OriginRequired | BrowserRefusal::ForeignOrigin => 403,
                BrowserRefusal::NotJson => 415,
                BrowserRefusal::LengthRequired => 411,
                BrowserRefusal::TooLarge => 413,
            },
            Refusal::Session { reason, .. } => match reason {
                SessionRejection::Missing => 400,
                _ => 404,
            },
            Refusal::BodyTooLarge { .. } => 413,
            Refusal::Upstream(status) => *status,
        }
    }

    /// The error code (`error` of the body, `error.data.error` in JSON-RPC).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NotRouted => "not_found",
            Refusal::AmbiguousPath => "ambiguous_path",
            Refusal::ForeignOrigin(_) => "forbidden_origin",
            Refusal::Limited { .. } => "rate_limited",
            Refusal::Credential(f) if f.status == 400 => "invalid_request",
            Refusal::Credential(_) => "invalid_token",
            Refusal::Unavailable { reason, .. } => reason.label(),
            Refusal::Browser(b) => match b {
                BrowserRefusal::OriginRequired => "origin_required",
                BrowserRefusal::ForeignOrigin => "forbidden_origin",
                BrowserRefusal::NotJson => "unsupported_media_type",
                BrowserRefusal::LengthRequired => "length_required",
                BrowserRefusal::TooLarge => "body_too_large",
            },
            Refusal::Session {
                reason: SessionRejection::Missing,
                ..
            } => "missing_session",
            Refusal::Session { .. } => "session_not_found",
            Refusal::BodyTooLarge { .. } => "body_too_large",
            Refusal::Upstream(status) if *status >= 500 => "upstream_error",
            Refusal::Upstream(_) => "bad_request",
        }
    }

    /// The reason a trace records (`vaultgate.refusal`): the typed reason where there is one.
    pub fn trace_reason(&self) -> &'static str {
        match self {
            Refusal::Limited { after: Some(r), .. } => r.label(),
            Refusal::Credential(f) => f.reason.label(),
            Refusal::Session { reason, .. } => reason.label(),
            _ => self.code(),
        }
    }

    /// The counter this refusal increments, if any.
    pub fn counter(&self) -> Option<Counter> {
        match self {
            Refusal::Limited { limit, .. } => Some(Counter::RateLimited(limit.scope)),
            Refusal::Credential(f) => Some(Counter::AuthFailures(f.reason)),
            Refusal::Session { reason, .. } => Some(Counter::SessionRejections(*reason)),
            // Path refusals are counted by `requests_total{route}`; the others by status.
            _ => None,
        }
    }

    /// The audit event this refusal writes, if any (before de-duplication).
    pub fn event(&self) -> Option<Event> {
        match self {
            Refusal::NotRouted | Refusal::AmbiguousPath => Some(Event::PathRefused),
            Refusal::ForeignOrigin(_) => Some(Event::OriginRefused),
            Refusal::Limited { .. } => Some(Event::RateLimited),
            Refusal::Credential(_) => Some(Event::AuthFailure),
            Refusal::Unavailable { .. } => Some(Event::AuthUnavailable),
            Refusal::Session {
                reason: SessionRejection::WrongUser,
                ..
            } => Some(Event::SessionHijackAttempt),
            Refusal::Session { .. } => Some(Event::SessionRejected),
            Refusal::Browser(_) | Refusal::BodyTooLarge { .. } | Refusal::Upstream(_) => None,
        }
    }

    /// The de-duplication key of the audit line, for refusals a flood repeats: one line per
    /// limited user or IP (per scope), and per refused path reason and IP, per few minutes.
    fn audit_key(&self, who: &Subject<'_>) -> Option<String> {
        match self {
            Refusal::Limited { limit, user, .. } => {
                let scope = limit.scope.label();
                Some(match (user, who.client_ip) {
                    (Some(u), _) => format!("rl:{scope}:{u}"),
                    (None, Some(ip)) => format!("rl:{scope}:{ip}"),
                    (None, None) => format!("rl:{scope}"),
                })
            }
            Refusal::NotRouted | Refusal::AmbiguousPath => Some(format!(
                "path:{}:{}",
                who.route.label(),
                who.client_ip.map(|i| i.to_string()).unwrap_or_default()
            )),
            _ => None,
        }
    }

    /// Counts the refusal and writes its audit line (once per window for the repeated kinds).
    pub fn record(&self, metrics: &Metrics, audited: &moka::sync::Cache<String, ()>, who: Subject<'_>) {
        if let Refusal::Limited { after: Some(r), .. } = self {
            // The failed credential that tipped the client over its limit is a failure too.
            Refusal::Credential(AuthFailure::new(401, *r, "")).record(metrics, audited, who);
        }
        if let Some(c) = self.counter() {
            c.inc(metrics);
        }
        if let Some(key) = self.audit_key(&who)
            && !audit::first_in_window(audited, &key)
        {
            return;
        }
        let (route, ip, ids) = (who.route.label(), who.client_ip, who.ids);
        match self {
            Refusal::NotRouted | Refusal::AmbiguousPath => audit::path_refused(route, ip, ids),
            Refusal::ForeignOrigin(origin) => audit::origin_refused(origin, ip, ids),
            Refusal::Limited { limit, user, .. } => audit::rate_limited(limit.scope.label(), user.as_ref(), ip, ids),
            Refusal::Credential(f) => audit::auth_failure(f.reason.label(), route, ip, ids),
            Refusal::Unavailable { reason, .. } => audit::auth_unavailable(reason.label(), route, ip, ids),
            Refusal::Session { reason, user } => {
                if let Some(event) = self.event() {
                    audit::session_event(event, user, Some(reason.label()), ip, ids);
                }
            }
            Refusal::Browser(_) | Refusal::BodyTooLarge { .. } | Refusal::Upstream(_) => {}
        }
    }

    /// The message a person reads.
    fn message(&self) -> Cow<'_, str> {
        Cow::Borrowed(match self {
            Refusal::NotRouted => "no such route",
            Refusal::AmbiguousPath => {
                "this path has '..', '.', '//', ';' or encoded characters the gateway will not forward"
            }
            Refusal::ForeignOrigin(_) => "this Origin is not allowed",
            Refusal::Limited { .. } => "too many requests; retry after the time in Retry-After",
            Refusal::Credential(f) if f.status == 400 => return Cow::Borrowed(&f.description),
            Refusal::Credential(f) if f.is_missing() => {
                return Cow::Owned(format!("authentication required: {}", f.description));
            }
            Refusal::Credential(f) => return Cow::Owned(format!("authentication failed: {}", f.description)),
            Refusal::Unavailable { message, .. } => return Cow::Borrowed(message),
            Refusal::Browser(b) => match b {
                BrowserRefusal::OriginRequired => "requests authenticated by cookie must carry an Origin header",
                BrowserRefusal::ForeignOrigin => {
                    "requests authenticated by cookie must come from this gateway's own page"
                }
                BrowserRefusal::NotJson => "send the body as Content-Type: application/json",
                BrowserRefusal::LengthRequired => "an import zip must be sent with a Content-Length",
                BrowserRefusal::TooLarge => {
                    return Cow::Owned(format!(
                        "an import zip may be at most {IMPORT_MAX_BYTES} bytes (50 MiB)"
                    ));
                }
            },
            Refusal::Session {
                reason: SessionRejection::Missing,
                ..
            } => MISSING_SESSION,
            Refusal::Session { .. } => "session not found; send a new initialize request",
            Refusal::BodyTooLarge { max } => {
                return Cow::Owned(format!("an MCP request without a session may be at most {max} bytes"));
            }
            Refusal::Upstream(502) => "the backend is unavailable",
            Refusal::Upstream(504) => "the backend did not answer in time",
            Refusal::Upstream(400) => "bad request",
            Refusal::Upstream(_) => "the gateway could not complete the request",
        })
    }

    /// The answer: status, body, and the refusal's own headers.
    pub fn answer(&self, shape: Shape<'_>) -> Answer {
        // Path and browser refusals never answer in JSON-RPC (as before: they are not MCP errors).
        let rpc = match self {
            Refusal::NotRouted | Refusal::AmbiguousPath | Refusal::Browser(_) => None,
            _ => shape.rpc_id,
        };
        let status = self.status();
        let a = Answer::error(status, self.code(), &self.message(), rpc);
        match self {
            Refusal::Limited { limit, .. } => limit.headers().into_iter().fold(a, |a, (n, v)| a.header(n, v)),
            Refusal::Credential(f) => {
                let a = if f.is_missing() {
                    // RFC 6750 §3.1: a request without authentication information gets no error code.
                    a.header("www-authenticate", "Bearer realm=\"vaultgate\"")
                } else {
                    let code = self.code();
                    let quoted = f.description.replace(['"', '\\'], "'");
                    a.header(
                        "www-authenticate",
                        format!("Bearer realm=\"vaultgate\", error=\"{code}\", error_description=\"{quoted}\""),
                    )
                };
                match shape.mcp_challenge {
                    // Tells an OAuth-capable MCP client where to sign in (MCP authorization, RFC 9728 §5.1).
                    Some(params) if status == 401 => a.challenge_params(params),
                    _ => a,
                }
            }
            Refusal::Unavailable { retry_after, .. } => a.header("retry-after", retry_after.to_string()),
            _ => a,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::Scope;
    use strum::IntoEnumIterator;

    fn user() -> UserId {
        UserId::parse("64a1b2c3d4e5f6a7b8c9d0e1").unwrap()
    }

    fn limited(scope: Scope) -> Limited {
        Limited {
            scope,
            per_minute: 60,
            retry_after_secs: 7,
        }
    }

    /// Every reason: status, code, counter, audit event, and the headers it must carry.
    #[test]
    fn refusal_table() {
        let missing = AuthFailure::new(401, AuthReason::Missing, "send an Authorization: Bearer header");
        let expired = AuthFailure::new(401, AuthReason::Expired, "token has \"expired\"");
        let multiple = AuthFailure::new(400, AuthReason::Malformed, "more than one Authorization header");
        let not_allowed = AuthFailure::new(403, AuthReason::NotAllowed, "not allowed");
        type Case = (
            Refusal,
            u16,
            &'static str,
            Option<Counter>,
            Option<Event>,
            &'static [&'static str],
        );
        let cases: Vec<Case> = vec![
            (
                Refusal::NotRouted,
                404,
                "not_found",
                None,
                Some(Event::PathRefused),
                &[],
            ),
            (
                Refusal::AmbiguousPath,
                400,
                "ambiguous_path",
                None,
                Some(Event::PathRefused),
                &[],
            ),
            (
                Refusal::ForeignOrigin("https://evil.example".into()),
                403,
                "forbidden_origin",
                None,
                Some(Event::OriginRefused),
                &[],
            ),
            (
                Refusal::Limited {
                    limit: limited(Scope::Ip),
                    user: None,
                    after: None,
                },
                429,
                "rate_limited",
                Some(Counter::RateLimited(Scope::Ip)),
                Some(Event::RateLimited),
                &[
                    "retry-after",
                    "ratelimit-policy",
                    "ratelimit",
                    "ratelimit-limit",
                    "ratelimit-remaining",
                    "ratelimit-reset",
                ],
            ),
            (
                Refusal::Limited {
                    limit: limited(Scope::User),
                    user: Some(user()),
                    after: None,
                },
                429,
                "rate_limited",
                Some(Counter::RateLimited(Scope::User)),
                Some(Event::RateLimited),
                &["retry-after", "ratelimit"],
            ),
            (
                Refusal::Limited {
                    limit: limited(Scope::AuthFailure),
                    user: None,
                    after: Some(AuthReason::Expired),
                },
                429,
                "rate_limited",
                Some(Counter::RateLimited(Scope::AuthFailure)),
                Some(Event::RateLimited),
                &["retry-after"],
            ),
            (
                Refusal::Credential(missing),
                401,
                "invalid_token",
                Some(Counter::AuthFailures(AuthReason::Missing)),
                Some(Event::AuthFailure),
                &["www-authenticate"],
            ),
            (
                Refusal::Credential(expired),
                401,
                "invalid_token",
                Some(Counter::AuthFailures(AuthReason::Expired)),
                Some(Event::AuthFailure),
                &["www-authenticate"],
            ),
            (
                Refusal::Credential(multiple),
                400,
                "invalid_request",
                Some(Counter::AuthFailures(AuthReason::Malformed)),
                Some(Event::AuthFailure),
                &["www-authenticate"],
            ),
            (
                Refusal::Credential(not_allowed),
                403,
                "invalid_token",
                Some(Counter::AuthFailures(AuthReason::NotAllowed)),
                Some(Event::AuthFailure),
                &["www-authenticate"],
            ),
            (
                Refusal::Unavailable {
                    reason: AuthReason::HfUnavailable,
                    message: "Hugging Face is unavailable".into(),
                    retry_after: 30,
                },
                503,
                "hf_unavailable",
                None,
                Some(Event::AuthUnavailable),
                &["retry-after"],
            ),
            (
                Refusal::Unavailable {
                    reason: AuthReason::StateUnavailable,
                    message: "session store unavailable; retry shortly".into(),
                    retry_after: 5,
                },
                503,
                "state_unavailable",
                None,
                Some(Event::AuthUnavailable),
                &["retry-after"],
            ),
            (
                Refusal::Browser(BrowserRefusal::OriginRequired),
                403,
                "origin_required",
                None,
                None,
                &[],
            ),
            (
                Refusal::Browser(BrowserRefusal::ForeignOrigin),
                403,
                "forbidden_origin",
                None,
                None,
                &[],
            ),
            (
                Refusal::Browser(BrowserRefusal::NotJson),
                415,
                "unsupported_media_type",
                None,
                None,
                &[],
            ),
            (
                Refusal::Browser(BrowserRefusal::LengthRequired),
                411,
                "length_required",
                None,
                None,
                &[],
            ),
            (
                Refusal::Browser(BrowserRefusal::TooLarge),
                413,
                "body_too_large",
                None,
                None,
                &[],
            ),
            (
                Refusal::Session {
                    reason: SessionRejection::Missing,
                    user: user(),
                },
                400,
                "missing_session",
                Some(Counter::SessionRejections(SessionRejection::Missing)),
                Some(Event::SessionRejected),
                &[],
            ),
            (
                Refusal::Session {
                    reason: SessionRejection::Unknown,
                    user: user(),
                },
                404,
                "session_not_found",
                Some(Counter::SessionRejections(SessionRejection::Unknown)),
                Some(Event::SessionRejected),
                &[],
            ),
            (
                Refusal::Session {
                    reason: SessionRejection::Expired,
                    user: user(),
                },
                404,
                "session_not_found",
                Some(Counter::SessionRejections(SessionRejection::Expired)),
                Some(Event::SessionRejected),
                &[],
            ),
            (
                Refusal::Session {
                    reason: SessionRejection::WrongUser,
                    user: user(),
                },
                404,
                "session_not_found",
                Some(Counter::SessionRejections(SessionRejection::WrongUser)),
                Some(Event::SessionHijackAttempt),
                &[],
            ),
            (
                Refusal::BodyTooLarge { max: 1024 },
                413,
                "body_too_large",
                None,
                None,
                &[],
            ),
            (Refusal::Upstream(502), 502, "upstream_error", None, None, &[]),
            (Refusal::Upstream(504), 504, "upstream_error", None, None, &[]),
            (Refusal::Upstream(400), 400, "bad_request", None, None, &[]),
        ];
        let id = serde_json::json!(7);
        for (r, status, code, counter, event, headers) in cases {
            assert_eq!(r.status(), status, "{r:?}");
            assert_eq!(r.code(), code, "{r:?}");
            assert_eq!(r.counter(), counter, "{r:?}");
            assert_eq!(r.event(), event, "{r:?}");
            // Plain JSON: the shared error body.
            let a = r.answer(Shape::default());
            assert_eq!((a.status, a.code), (status, Some(code)), "{r:?}");
            let body: serde_json::Value = serde_json::from_slice(a.body()).unwrap();
            assert_eq!(body["error"], code, "{r:?}");
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{r:?}");
            for h in headers {
                assert!(a.header_value(h).is_some(), "{r:?} lacks {h}");
            }
            // On /mcp: a JSON-RPC error with the request's id (path and browser refusals excepted).
            let a = r.answer(Shape {
                rpc_id: Some(&id),
                mcp_challenge: None,
            });
            let body: serde_json::Value = serde_json::from_slice(a.body()).unwrap();
            match r {
                Refusal::NotRouted | Refusal::AmbiguousPath | Refusal::Browser(_) => {
                    assert_eq!(body["error"], code, "{r:?}")
                }
                _ => {
                    assert_eq!(body["jsonrpc"], "2.0", "{r:?}");
                    assert_eq!(body["id"], 7, "{r:?}");
                    assert_eq!(body["error"]["code"], crate::answer::JSONRPC_GATEWAY_ERROR, "{r:?}");
                    assert_eq!(body["error"]["data"]["error"], code, "{r:?}");
                    assert_eq!(body["error"]["data"]["status"], status, "{r:?}");
                }
            }
        }
    }

    #[test]
    fn challenges() {
        let missing = Refusal::Credential(AuthFailure::new(401, AuthReason::Missing, "send a bearer"));
        let params = "resource_metadata=\"https://x/.well-known/oauth-protected-resource/mcp\"";
        let a = missing.answer(Shape {
            rpc_id: None,
            mcp_challenge: Some(params),
        });
        assert_eq!(
            a.header_value("www-authenticate"),
            Some(
                "Bearer realm=\"vaultgate\", resource_metadata=\"https://x/.well-known/oauth-protected-resource/mcp\""
            )
        );
        let expired = Refusal::Credential(AuthFailure::new(401, AuthReason::Expired, "token has \"expired\""));
        assert_eq!(
            expired.answer(Shape::default()).header_value("www-authenticate"),
            Some("Bearer realm=\"vaultgate\", error=\"invalid_token\", error_description=\"token has 'expired'\"")
        );
        // A 403 (not allowed) is no invitation to sign in again with OAuth.
        let forbidden = Refusal::Credential(AuthFailure::new(403, AuthReason::NotAllowed, "no"));
        let a = forbidden.answer(Shape {
            rpc_id: None,
            mcp_challenge: Some(params),
        });
        assert!(
            !a.header_value("www-authenticate")
                .unwrap()
                .contains("resource_metadata")
        );
        let limited = Refusal::Limited {
            limit: limited(Scope::Ip),
            user: None,
            after: None,
        };
        let a = limited.answer(Shape::default());
        assert_eq!(a.header_value("retry-after"), Some("7"));
        assert_eq!(a.header_value("ratelimit-policy"), Some("\"ip\";q=60;w=60"));
    }

    #[test]
    fn every_label_is_pre_registered() {
        let labels: Vec<&str> = SessionRejection::iter().map(|r| r.label()).collect();
        assert_eq!(labels, ["missing", "unknown", "expired", "wrong_user"]);
        let text = String::from_utf8(Metrics::new().render(&crate::usage::Usage::new(), 0)).unwrap();
        for r in SessionRejection::iter() {
            let series = format!(
                "vaultgate_gateway_session_rejections_total{{reason=\"{}\"}} 0",
                r.label()
            );
            assert!(text.contains(&series), "{series}");
        }
        for r in AuthReason::ALL.into_iter().filter(|r| r.counted()) {
            let series = format!("vaultgate_gateway_auth_failures_total{{reason=\"{}\"}} 0", r.label());
            assert!(text.contains(&series), "{series}");
        }
    }

    #[test]
    fn floods_are_audited_once_but_counted_always() {
        let metrics = Metrics::new();
        let audited = moka::sync::Cache::new(100);
        let ip = Some(ClientAddr::Opaque(1));
        let who = Subject {
            route: Route::Api,
            client_ip: ip,
            ids: "r".into(),
        };
        let r = Refusal::Limited {
            limit: limited(Scope::AuthFailure),
            user: None,
            after: Some(AuthReason::Expired),
        };
        for _ in 0..3 {
            r.record(&metrics, &audited, who);
        }
        assert_eq!(metrics.rate_limited.with_label_values(&["auth_failure"]).get(), 3);
        assert_eq!(metrics.auth_failures.with_label_values(&["expired"]).get(), 3);
        assert!(audited.contains_key("rl:auth_failure:opaque-0000000000000001"));
    }
}
