//! Signing in with a browser: the Hugging Face OAuth authorization-code flow with PKCE
//! and state (`GET /auth/login`, `GET /auth/callback`), and in `MODE=local` without
//! OAuth settings the "continue as local user" button (`POST /auth/local`, loopback only).
//! Both end with the gateway's HttpOnly session cookie holding a gateway token.
//!
//! The state and the PKCE verifier travel in a short-lived HttpOnly cookie scoped to
//! `/auth`, not in gateway memory: any replica, or a restarted gateway, can finish a
//! sign-in, and a callback can only be completed by the browser that started it.

pub mod page;
pub mod provider;

use std::net::IpAddr;

use pingora::http::RequestHeader;
use vaultgate_shared::UserId;
use vaultgate_shared::config::generate_secret;
use vaultgate_shared::jwt::now_secs;

use self::provider::{Provider, ProviderError};
use crate::answer::Answer;
use crate::audit;
use crate::auth::allow::{Account, AllowList};
use crate::auth::bearer::{cookie_header, cookie_value};
use crate::proxy::Gateway;

/// Cookie carrying `state.verifier` between `/auth/login` and `/auth/callback`.
pub const STATE_COOKIE: &str = "vaultgate_oauth";
/// How long a started sign-in may take.
const STATE_TTL_SECS: u64 = 600;
/// Default scopes when `OAUTH_SCOPES` is unset.
pub const DEFAULT_SCOPES: &str = "openid profile";

/// Every outcome label of `vaultgate_gateway_signins_total`.
pub const OUTCOMES: [&str; 7] = [
    "success",
    "denied",
    "bad_state",
    "provider_error",
    "forbidden",
    "bad_subject",
    "local",
];

/// How people can sign in on the web page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// "Sign in with Hugging Face" (OAuth configured).
    Huggingface,
    /// "Continue as local user" (`MODE=local`, no OAuth settings, loopback clients only).
    Local,
    /// Neither: the page can only explain how to use a token.
    None,
}

/// The browser sign-in flows.
pub struct SignIn {
    provider: Option<Provider>,
    local_user: Option<UserId>,
    allow: AllowList,
}

impl SignIn {
    /// Sign-in with an OAuth provider, a local user, or neither.
    pub fn new(provider: Option<Provider>, local_user: Option<UserId>, allow: AllowList) -> Self {
        let local_user = if provider.is_some() { None } else { local_user };
        Self {
            provider,
            local_user,
            allow,
        }
    }

    /// Which sign-in the page offers.
    pub fn method(&self) -> Method {
        match (&self.provider, &self.local_user) {
            (Some(_), _) => Method::Huggingface,
            (None, Some(_)) => Method::Local,
            (None, None) => Method::None,
        }
    }

    /// The allow-list that also applies to Hugging Face bearer tokens.
    pub fn allow_list(&self) -> &AllowList {
        &self.allow
    }

    /// `GET /auth/login`: a redirect to the provider, with a fresh state and PKCE verifier in a cookie.
    pub async fn login(&self, req: &RequestHeader) -> Answer {
        if req.method != http::Method::GET && req.method != http::Method::HEAD {
            return Answer::error(405, "method_not_allowed", "use GET", None).header("allow", "GET");
        }
        let Some(p) = &self.provider else {
            return page::message(
                404,
                "Sign-in is not configured",
                "This gateway has no OAuth client (OAUTH_CLIENT_ID and OPENID_PROVIDER_URL). Use a token instead.",
            );
        };
        let state = generate_secret();
        let verifier = generate_secret();
        let state = String::from_utf8_lossy(state.expose()).into_owned();
        let verifier = String::from_utf8_lossy(verifier.expose()).into_owned();
        match p.authorize_url(&state, &verifier).await {
            Ok(url) => Answer::raw(302, "text/plain; charset=utf-8", bytes::Bytes::new())
                .header("location", url)
                .header(
                    "set-cookie",
                    state_cookie(&format!("{state}.{verifier}"), STATE_TTL_SECS),
                ),
            Err(e) => page::message(502, "Sign-in is unavailable", &e.to_string()),
        }
    }

    /// `GET /auth/callback`: checks state, exchanges the code, reads who signed in, sets the session cookie.
    pub async fn callback(&self, gw: &Gateway, req: &RequestHeader, ip: Option<IpAddr>, request_id: &str) -> Answer {
        let fail = |outcome: &'static str, status: u16, title: &str, message: &str, detail: &str| {
            gw.metrics.signins.with_label_values(&[outcome]).inc();
            audit::signin_event(outcome, None, Some(detail), ip, request_id);
            page::message(status, title, message).header("set-cookie", state_cookie("", 0))
        };
        let Some(p) = &self.provider else {
            return page::message(404, "Sign-in is not configured", "This gateway has no OAuth client.");
        };
        let q = query_pairs(req);
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let expected = cookie_value(req, STATE_COOKIE).and_then(|v| v.split_once('.'));
        let (Some((want_state, verifier)), Some(got_state)) = (expected, get("state")) else {
            return fail(
                "bad_state",
                400,
                "Sign-in expired",
                "This sign-in was not started here, or took longer than 10 minutes. Please sign in again.",
                "missing state or state cookie",
            );
        };
        if !crate::proxy::constant_time_eq(want_state.as_bytes(), got_state.as_bytes()) {
            return fail(
                "bad_state",
                400,
                "Sign-in could not be verified",
                "The answer from Hugging Face does not belong to the sign-in this browser started. Please sign in again.",
                "state mismatch",
            );
        }
        if let Some(err) = get("error") {
            let (outcome, title) = if err == "access_denied" {
                ("denied", "Sign-in cancelled")
            } else {
                ("provider_error", "Sign-in failed")
            };
            let err: String = err.chars().take(64).collect();
            return fail(
                outcome,
                403,
                title,
                "Hugging Face did not grant access, so you are not signed in. You can try again.",
                &err,
            );
        }
        let Some(code) = get("code").filter(|c| !c.is_empty() && c.len() <= 2048) else {
            return fail(
                "provider_error",
                400,
                "Sign-in failed",
                "Hugging Face sent no authorization code.",
                "no code",
            );
        };
        let info = match p.exchange(code, verifier).await {
            Ok(access) => p.userinfo(&access).await,
            Err(e) => Err(e),
        };
        let info = match info {
            Ok(i) => i,
            Err(e) => {
                let status = if matches!(e, ProviderError::Refused(_)) {
                    400
                } else {
                    502
                };
                return fail(
                    "provider_error",
                    status,
                    "Sign-in failed",
                    &format!("{e}. Please try again in a moment."),
                    &e.to_string(),
                );
            }
        };
        let Ok(user) = UserId::parse(&info.sub) else {
            return fail(
                "bad_subject",
                400,
                "Sign-in failed",
                "The account id from Hugging Face is not usable here.",
                "unusable sub",
            );
        };
        let account = Account {
            id: &info.sub,
            username: info.preferred_username.as_deref(),
            orgs: &info.orgs,
        };
        if !self.allow.permits(account) {
            gw.metrics.signins.with_label_values(&["forbidden"]).inc();
            audit::signin_event("forbidden", Some(&user), None, ip, request_id);
            return page::message(
                403,
                "Not allowed",
                "This Space is restricted to certain Hugging Face users or organisations, and your account is not one of them.",
            )
            .header("set-cookie", state_cookie("", 0));
        }
        let name = info.preferred_username.as_deref().or(info.name.as_deref());
        let cookie = session_cookie(gw, &user, name, ("oauth", "success"), ip, request_id);
        Answer::raw(302, "text/plain; charset=utf-8", bytes::Bytes::new())
            .header("location", "/")
            .header("set-cookie", cookie)
            .header("set-cookie", state_cookie("", 0))
    }

    /// `POST /auth/local`: signs a loopback browser in as the local user (MODE=local without OAuth only).
    pub fn local(&self, gw: &Gateway, req: &RequestHeader, ip: Option<IpAddr>, request_id: &str) -> Answer {
        if req.method != http::Method::POST {
            return Answer::error(405, "method_not_allowed", "use POST", None).header("allow", "POST");
        }
        let Some(user) = &self.local_user else {
            return Answer::error(
                404,
                "not_found",
                "local sign-in is only offered in MODE=local without OAuth",
                None,
            );
        };
        // Anyone who can reach the port could press the button: only this machine may.
        if !ip.is_some_and(|ip| ip.is_loopback()) {
            audit::signin_event(
                "forbidden",
                None,
                Some("local sign-in from a non-loopback client"),
                ip,
                request_id,
            );
            gw.metrics.signins.with_label_values(&["forbidden"]).inc();
            return Answer::error(
                403,
                "forbidden",
                "local sign-in is only allowed from this machine",
                None,
            );
        }
        if crate::origin::unsafe_without_origin(req) {
            return Answer::error(
                403,
                "origin_required",
                "local sign-in must come from the web page",
                None,
            );
        }
        let cookie = session_cookie(gw, user, Some("local user"), ("local", "local"), ip, request_id);
        Answer::json(200, &serde_json::json!({"user": user.as_str()})).header("set-cookie", cookie)
    }
}

/// Mints the page's session token for `user`, counts and audits it (`via`, sign-in `outcome`),
/// and returns the `Set-Cookie` value carrying it.
fn session_cookie(
    gw: &Gateway,
    user: &UserId,
    name: Option<&str>,
    (via, outcome): (&str, &str),
    ip: Option<IpAddr>,
    request_id: &str,
) -> String {
    let minted = gw.auth.keys.mint(user, name, None);
    gw.metrics.tokens_issued.with_label_values(&[via]).inc();
    gw.metrics.signins.with_label_values(&[outcome]).inc();
    audit::signin_event(outcome, Some(user), None, ip, request_id);
    audit::token_event("token_issue", user, via, request_id);
    cookie_header(&minted.token, minted.expires_at.saturating_sub(now_secs()))
}

/// The state cookie: HttpOnly, scoped to /auth, cross-site capable (the Space runs in an iframe).
fn state_cookie(value: &str, max_age: u64) -> String {
    format!("{STATE_COOKIE}={value}; Path=/auth; HttpOnly; Secure; SameSite=None; Max-Age={max_age}")
}

/// The request's query parameters, percent-decoded.
fn query_pairs(req: &RequestHeader) -> Vec<(String, String)> {
    let Some(q) = req.uri.query() else {
        return Vec::new();
    };
    reqwest::Url::parse(&format!("http://q/?{q}"))
        .map(|u| u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default()
}
