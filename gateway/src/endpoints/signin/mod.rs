//! Signing in with a browser: the Hugging Face OAuth authorization-code flow with PKCE
//! and state (`GET /auth/login`, `GET /auth/callback`), and in `MODE=local` without
//! OAuth settings the "continue as local user" button (`POST /auth/local`: only for a browser
//! on this machine talking to the gateway directly — see [`local_only`]).
//! Both end with the gateway's HttpOnly session cookie holding a gateway token.
//!
//! The state and the PKCE verifier travel in a short-lived HttpOnly cookie scoped to
//! `/auth`, not in gateway memory: any replica, or a restarted gateway, can finish a
//! sign-in, and a callback can only be completed by the browser that started it.

pub mod page;
pub mod provider;

use pingora::http::RequestHeader;
use vaultgate_shared::UserId;
use vaultgate_shared::config::generate_secret;
use vaultgate_shared::jwt::now_secs;
use vaultgate_shared::query::Query;

use self::provider::{Provider, ProviderError};

use crate::answer::Answer;
use crate::audit::{self, Event, RequestIds};
use crate::auth::allow::{Account, AllowList};
use crate::auth::bearer::{cookie_header, cookie_value};
use crate::client_ip::ClientAddr;
use crate::endpoints::TokenIssuer;
use crate::metrics::Metrics;
use crate::metrics::labels::{SignInOutcome, TokenVia};
use crate::origin::Origins;
use crate::refusal::Refusal;
use crate::refusal::Shape;

/// Cookie carrying `state.verifier` between `/auth/login` and `/auth/callback`.
pub const STATE_COOKIE: &str = "vaultgate_oauth";
/// How long a started sign-in may take.
const STATE_TTL_SECS: u64 = 600;
/// Default scopes when `OAUTH_SCOPES` is unset.
pub const DEFAULT_SCOPES: &str = "openid profile";

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

/// The header the page sends the local sign-in code in (it has it from the link's `?code=`).
pub const LOCAL_CODE_HEADER: &str = "x-vaultgate-local-code";

/// The code "continue as local user" asks for. The header and Host checks cannot tell a browser
/// on this machine from a reverse proxy on it (nginx's default `proxy_pass` adds no forwarding
/// header and sends our own Host), so knowing the code printed at start is what proves presence.
pub struct LocalCode(String);

impl LocalCode {
    /// Wraps a configured code.
    pub fn new(code: String) -> Self {
        Self(code)
    }

    /// A fresh random code: 128 bits, hex.
    pub fn generate() -> String {
        let bytes: [u8; 16] = rand::random();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn matches(&self, given: &[u8]) -> bool {
        crate::auth::constant_time_eq(self.0.as_bytes(), given)
    }
}

/// The browser sign-in flows.
pub struct SignIn {
    provider: Option<Provider>,
    local_user: Option<(UserId, LocalCode)>,
    allow: AllowList,
}

impl SignIn {
    /// Sign-in with an OAuth provider, a local user (and the code it asks for), or neither.
    pub fn new(provider: Option<Provider>, local_user: Option<(UserId, LocalCode)>, allow: AllowList) -> Self {
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

    /// The link that signs a browser on this machine in (`base` + `/?code=…`), when local
    /// sign-in is offered.
    pub fn local_link(&self, base: &str) -> Option<String> {
        self.local_user
            .as_ref()
            .filter(|_| self.provider.is_none())
            .map(|(_, code)| format!("{base}/?code={}", code.0))
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
    /// Counts into `vaultgate_gateway_signins_total`.
    pub async fn callback(
        &self,
        issuer: &TokenIssuer<'_>,
        metrics: &Metrics,
        req: &RequestHeader,
        ip: Option<ClientAddr>,
        ids: RequestIds<'_>,
    ) -> Answer {
        let fail = |outcome: SignInOutcome, status: u16, title: &str, message: &str, detail: &str| {
            metrics.signin(outcome);
            audit::signin_event(outcome.into(), None, Some(detail), ip, ids);
            page::message(status, title, message).header("set-cookie", state_cookie("", 0))
        };
        let Some(p) = &self.provider else {
            return page::message(404, "Sign-in is not configured", "This gateway has no OAuth client.");
        };
        let q = query(req);
        let get = |k: &str| q.get(k);
        let expected = cookie_value(req, STATE_COOKIE).and_then(|v| v.split_once('.'));
        let (Some((want_state, verifier)), Some(got_state)) = (expected, get("state")) else {
            return fail(
                SignInOutcome::BadState,
                400,
                "Sign-in expired",
                "This sign-in was not started here, or took longer than 10 minutes. Please sign in again.",
                "missing state or state cookie",
            );
        };
        if !crate::auth::constant_time_eq(want_state.as_bytes(), got_state.as_bytes()) {
            return fail(
                SignInOutcome::BadState,
                400,
                "Sign-in could not be verified",
                "The answer from Hugging Face does not belong to the sign-in this browser started. Please sign in again.",
                "state mismatch",
            );
        }
        if let Some(err) = get("error") {
            let (outcome, title) = if err == "access_denied" {
                (SignInOutcome::Denied, "Sign-in cancelled")
            } else {
                (SignInOutcome::ProviderError, "Sign-in failed")
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
                SignInOutcome::ProviderError,
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
                    SignInOutcome::ProviderError,
                    status,
                    "Sign-in failed",
                    &format!("{e}. Please try again in a moment."),
                    &e.to_string(),
                );
            }
        };
        let Ok(user) = UserId::parse(&info.sub) else {
            return fail(
                SignInOutcome::BadSubject,
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
            metrics.signin(SignInOutcome::Forbidden);
            audit::signin_event(SignInOutcome::Forbidden.into(), Some(&user), None, ip, ids);
            return page::message(
                403,
                "Not allowed",
                "This Space is restricted to certain Hugging Face users or organisations, and your account is not one of them.",
            )
            .header("set-cookie", state_cookie("", 0));
        }
        let name = info.preferred_username.as_deref().or(info.name.as_deref());
        let cookie = session_cookie(
            (issuer, metrics),
            req,
            &user,
            name,
            (TokenVia::Oauth, SignInOutcome::Success),
            ip,
            ids,
        );
        Answer::raw(302, "text/plain; charset=utf-8", bytes::Bytes::new())
            .header("location", "/")
            .header("set-cookie", cookie)
            .header("set-cookie", state_cookie("", 0))
    }

    /// `POST /auth/local`: signs a browser on this machine in as the local user (MODE=local
    /// without OAuth only). `peer` is the socket's address, `port` the public listener's.
    #[allow(clippy::too_many_arguments)]
    pub fn local(
        &self,
        issuer: &TokenIssuer<'_>,
        metrics: &Metrics,
        origins: &Origins,
        req: &RequestHeader,
        (peer, port): (Option<std::net::IpAddr>, u16),
        ip: Option<ClientAddr>,
        ids: RequestIds<'_>,
    ) -> Answer {
        if req.method != http::Method::POST {
            return Answer::error(405, "method_not_allowed", "use POST", None).header("allow", "POST");
        }
        let Some((user, code)) = &self.local_user else {
            return Answer::error(
                404,
                "not_found",
                "local sign-in is only offered in MODE=local without OAuth",
                None,
            );
        };
        // Anyone who can reach the port could press the button: only this machine may, and
        // only directly — through a tunnel or proxy every remote visitor is a loopback peer.
        if let Err(why) = local_only(req, peer, port) {
            audit::signin_event(SignInOutcome::Forbidden.into(), None, Some(why), ip, ids);
            metrics.signin(SignInOutcome::Forbidden);
            return Answer::error(403, "forbidden", LOCAL_REFUSED, None);
        }
        if let Err(r) = origins.check_browser_request(req) {
            return Refusal::Browser(r).answer(Shape::default());
        }
        let given = req.headers.get(LOCAL_CODE_HEADER).map_or(&b""[..], |v| v.as_bytes());
        if !code.matches(given) {
            audit::signin_event(
                SignInOutcome::Forbidden.into(),
                None,
                Some("local sign-in without the start-up code"),
                ip,
                ids,
            );
            metrics.signin(SignInOutcome::Forbidden);
            return Answer::error(403, "forbidden", LOCAL_CODE_MISSING, None);
        }
        let cookie = session_cookie(
            (issuer, metrics),
            req,
            user,
            Some("local user"),
            (TokenVia::Local, SignInOutcome::Local),
            ip,
            ids,
        );
        Answer::json(200, &serde_json::json!({"user": user.as_str()})).header("set-cookie", cookie)
    }
}

/// What a local sign-in without the right code is told.
pub const LOCAL_CODE_MISSING: &str = "local sign-in needs the code this gateway printed when it started: open the \
     link it logged (\"local sign-in: open http://localhost:PORT/?code=…\"), or set LOCAL_SIGNIN_CODE";

/// What a refused local sign-in tells the person (and so the operator).
pub const LOCAL_REFUSED: &str = "local sign-in only works in a browser on the gateway's own machine opening \
     http://localhost:PORT directly; this request came from elsewhere or through a proxy or tunnel. \
     To let people sign in from other machines, set up real sign-in: Hugging Face OAuth \
     (OPENID_PROVIDER_URL, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET), or give them tokens \
     (vaultgate-gateway mint-token)";

/// Whether a request may use the local sign-in: from a loopback peer, with no forwarding
/// header, and addressed to `localhost`, `127.0.0.1` or `[::1]` on our `port`. A tunnel
/// (cloudflared, ngrok) or a local reverse proxy connects from loopback, but adds forwarding
/// headers or keeps the public host name; `Err` says which check failed, for the audit line.
pub fn local_only(req: &RequestHeader, peer: Option<std::net::IpAddr>, port: u16) -> Result<(), &'static str> {
    if !peer.is_some_and(|p| p.to_canonical().is_loopback()) {
        return Err("local sign-in from a non-loopback client");
    }
    if crate::client_ip::is_forwarded(req) {
        return Err("local sign-in through a forwarder");
    }
    let mut hosts = req.headers.get_all(http::header::HOST).iter();
    let (Some(host), None) = (hosts.next(), hosts.next()) else {
        return Err("local sign-in without exactly one Host");
    };
    let host = std::str::from_utf8(host.as_bytes()).unwrap_or("").to_ascii_lowercase();
    let (name, host_port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.ends_with(':') || n.starts_with('[') => (n, p.parse::<u16>().ok()),
        _ => (host.as_str(), Some(80)),
    };
    if !matches!(name, "localhost" | "127.0.0.1" | "[::1]") || host_port != Some(port) {
        return Err("local sign-in for a foreign Host");
    }
    Ok(())
}

/// Mints the page's session token for `user`, counts and audits it (`via`, sign-in `outcome`),
/// and returns the `Set-Cookie` value carrying it (marked for `req`, see [`CookieScope`]).
fn session_cookie(
    (issuer, metrics): (&TokenIssuer<'_>, &Metrics),
    req: &RequestHeader,
    user: &UserId,
    name: Option<&str>,
    (via, outcome): (TokenVia, SignInOutcome),
    ip: Option<ClientAddr>,
    ids: RequestIds<'_>,
) -> String {
    // A new sign-in starts a lineage; Hugging Face's is re-checked against the allow-list on refresh.
    let lineage = crate::auth::jwt::Lineage::signed_in_now(via == TokenVia::Oauth);
    metrics.signin(outcome);
    audit::signin_event(outcome.into(), Some(user), None, ip, ids);
    let minted = issuer.issue(user, name, lineage, (via, Event::TokenIssue), ids);
    let scope = issuer.cookie_scope(req);
    cookie_header(&minted.token, minted.expires_at.saturating_sub(now_secs()), scope)
}

/// The state cookie: HttpOnly, scoped to /auth, cross-site capable (the Space runs in an iframe).
fn state_cookie(value: &str, max_age: u64) -> String {
    format!("{STATE_COOKIE}={value}; Path=/auth; HttpOnly; Secure; SameSite=None; Max-Age={max_age}")
}

/// The request's query parameters; a malformed query counts as none (the callback then lacks
/// its `state` and is refused).
fn query(req: &RequestHeader) -> Query {
    Query::parse(req.uri.query().unwrap_or("")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("POST", b"/auth/local", None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    #[test]
    fn local_only_table() {
        let lo: Option<std::net::IpAddr> = Some("127.0.0.1".parse().unwrap());
        let v6: Option<std::net::IpAddr> = Some("::1".parse().unwrap());
        let remote: Option<std::net::IpAddr> = Some("203.0.113.9".parse().unwrap());
        let host = |h: &'static str| ("host", h);
        type Case = (Option<std::net::IpAddr>, Vec<(&'static str, &'static str)>, bool);
        let cases: Vec<Case> = vec![
            (lo, vec![host("localhost:7860")], true),
            (lo, vec![host("127.0.0.1:7860")], true),
            (v6, vec![host("[::1]:7860")], true),
            (lo, vec![host("LOCALHOST:7860")], true),
            (remote, vec![host("localhost:7860")], false),
            (None, vec![host("localhost:7860")], false),
            (lo, vec![], false),
            (lo, vec![host("localhost:7860"), host("localhost:7860")], false),
            (lo, vec![host("localhost")], false),
            (lo, vec![host("localhost:7861")], false),
            (lo, vec![host("me.trycloudflare.com")], false),
            (lo, vec![host("abc.ngrok-free.app:7860")], false),
            (lo, vec![host("localhost.evil.example:7860")], false),
            (lo, vec![host("[::1]")], false),
        ];
        for (peer, headers, ok) in cases {
            assert_eq!(
                local_only(&req(&headers), peer, 7860).is_ok(),
                ok,
                "{peer:?} {headers:?}"
            );
        }
        for forwarding in [
            "forwarded",
            "x-forwarded-for",
            "x-forwarded-host",
            "x-forwarded-proto",
            "x-real-ip",
            "cf-connecting-ip",
            "true-client-ip",
        ] {
            let r = req(&[host("localhost:7860"), (forwarding, "203.0.113.9")]);
            assert_eq!(
                local_only(&r, lo, 7860),
                Err("local sign-in through a forwarder"),
                "{forwarding}"
            );
        }
        assert!(local_only(&req(&[host("localhost")]), lo, 80).is_ok());
    }
}
