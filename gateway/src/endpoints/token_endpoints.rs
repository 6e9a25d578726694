//! `POST /api/auth/token`, `POST /api/auth/refresh`, `POST /api/auth/logout` and
//! `GET /api/auth/session`: the token lifecycle for a caller who already proved who they
//! are (a Hugging Face token, a valid gateway token, or the web page's session cookie).
//! Nothing here mints a token for a user the caller merely names.

use pingora::http::RequestHeader;
use vaultgate_shared::jwt::now_secs;

use crate::answer::Answer;
use crate::audit::{self, Event, RequestIds};
use crate::auth::allow::{Account, AllowList};
use crate::auth::bearer::{CookieScope, clear_cookie_headers, cookie_header};
use crate::auth::{Principal, TokenKind};
use crate::endpoints::TokenIssuer;
use crate::metrics::labels::TokenVia;
use crate::routes::Route;
use crate::state::revocations::Revocations;
use crate::state::sessions::SessionStore;

/// What the token endpoints act on: the issuer, the allow-list a refresh re-checks, and the
/// stores a refresh or logout writes to.
pub struct Lifecycle<'a> {
    pub issuer: TokenIssuer<'a>,
    pub allow: &'a AllowList,
    pub revocations: &'a dyn Revocations,
    pub sessions: &'a dyn SessionStore,
}

/// Answers a token-lifecycle request from an authenticated `principal`.
pub async fn handle(
    gw: &Lifecycle<'_>,
    route: Route,
    req: &RequestHeader,
    principal: &Principal,
    ids: RequestIds<'_>,
) -> Answer {
    if route == Route::AuthSession {
        if req.method != http::Method::GET {
            return Answer::error(405, "method_not_allowed", "use GET", None).header("allow", "GET");
        }
        return Answer::json(
            200,
            &serde_json::json!({
                "user": principal.user.as_str(),
                "name": principal.name,
                "expires_at": principal.expires_at,
                "via": if principal.from_cookie { "cookie" } else { "bearer" },
            }),
        );
    }
    if req.method != http::Method::POST {
        return Answer::error(405, "method_not_allowed", "use POST", None).header("allow", "POST");
    }
    let scope = gw.issuer.cookie_scope(req);
    match route {
        // A token for an MCP client, made from the web page's session; the page keeps its cookie.
        Route::AuthToken if principal.from_cookie => {
            issue(gw, principal, (TokenVia::Exchange, Event::TokenIssue), ids, None)
        }
        Route::AuthToken if principal.kind != TokenKind::HuggingFace => Answer::error(
            400,
            "invalid_request",
            "send a Hugging Face access token (hf_…) as the bearer; use /api/auth/refresh for gateway tokens",
            None,
        ),
        Route::AuthToken => issue(gw, principal, (TokenVia::Exchange, Event::TokenIssue), ids, None),
        Route::AuthRefresh => refresh(gw, principal, ids, scope).await,
        _ => logout(gw, principal, ids, scope).await,
    }
}

/// Why a refresh is refused: the lineage is over, or its person is no longer allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshRefusal {
    /// Past `MAX_SESSION_AGE` since the sign-in, or past the Hugging Face token it came from.
    TooOld,
    /// A Hugging Face identity the allow-list no longer admits (or cannot confirm without
    /// asking Hugging Face again, for `ALLOWED_ORGS`).
    NotAllowed,
}

impl RefreshRefusal {
    fn answer(self) -> Answer {
        match self {
            RefreshRefusal::TooOld => Answer::unauthorized(
                401,
                "this sign-in is older than the gateway's maximum session age (or than the Hugging Face token it came from); sign in again",
                None,
            ),
            RefreshRefusal::NotAllowed => Answer::error(
                403,
                "not_allowed",
                "this account is no longer allowed here, or its organisation must be confirmed by signing in again",
                None,
            ),
        }
    }
}

/// Whether `p`'s lineage may get another token now (refresh, or an exchange of the page's session): before its deadline (with a minute to
/// spare, so a refresh never mints a token that is already dead), and for a Hugging Face
/// identity still on the allow-list by id or name (organisations are only known at sign-in).
pub fn may_refresh(
    p: &Principal,
    max_age: std::time::Duration,
    allow: &AllowList,
    now: u64,
) -> Result<(), RefreshRefusal> {
    if p.lineage.deadline(max_age) <= now + 60 {
        return Err(RefreshRefusal::TooOld);
    }
    let account = Account {
        id: p.user.as_str(),
        username: p.name.as_deref(),
        orgs: &[],
    };
    // A Hugging Face token was just checked against the allow-list with its organisations.
    if p.lineage.hf && p.kind == TokenKind::Gateway && !allow.permits(account) {
        return Err(RefreshRefusal::NotAllowed);
    }
    Ok(())
}

/// `POST /api/auth/refresh`: a new token of the same lineage; the presented one is revoked
/// (until its own expiry, so the entry goes away with it).
async fn refresh(gw: &Lifecycle<'_>, p: &Principal, ids: RequestIds<'_>, scope: CookieScope) -> Answer {
    if let Err(r) = may_refresh(p, gw.issuer.keys().max_session_age(), gw.allow, now_secs()) {
        audit::token_event(Event::TokenRefreshRefused, &p.user, "refresh", ids);
        return r.answer();
    }
    if p.kind == TokenKind::Gateway
        && let Err(e) = gw.revocations.revoke(&p.jti, p.expires_at).await
    {
        tracing::error!(error = %e, "could not revoke a refreshed token");
        return Answer::error(
            503,
            "state_unavailable",
            "the refresh could not be recorded; try again",
            None,
        )
        .header("retry-after", "5");
    }
    // The page's cookie is renewed; and the page inside a frame turns the token its own sign-in
    // tab handed it into a cookie of its own (partitioned: see `CookieScope`).
    let set_cookie = (p.from_cookie || scope.partitioned).then_some(scope);
    issue(gw, p, (TokenVia::Refresh, Event::TokenRefresh), ids, set_cookie)
}

/// Mints a gateway token for the caller's own user id, in the caller's lineage; with a cookie
/// scope it also becomes the page's session.
fn issue(
    gw: &Lifecycle<'_>,
    p: &Principal,
    (via, event): (TokenVia, Event),
    ids: RequestIds<'_>,
    set_cookie: Option<CookieScope>,
) -> Answer {
    if let Err(r) = may_refresh(p, gw.issuer.keys().max_session_age(), gw.allow, now_secs()) {
        audit::token_event(Event::TokenRefreshRefused, &p.user, via.into(), ids);
        return r.answer();
    }
    let minted = gw
        .issuer
        .issue(&p.user, p.name.as_deref(), p.lineage, (via, event), ids);
    let expires_in = minted.expires_at.saturating_sub(now_secs());
    let a = Answer::json(
        200,
        &serde_json::json!({
            "access_token": minted.token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "expires_at": minted.expires_at,
            "user": p.user.as_str(),
        }),
    );
    match set_cookie {
        Some(scope) => a.header("set-cookie", cookie_header(&minted.token, expires_in, scope)),
        None => a,
    }
}

async fn logout(gw: &Lifecycle<'_>, p: &Principal, ids: RequestIds<'_>, scope: CookieScope) -> Answer {
    if let Err(e) = gw.revocations.revoke(&p.jti, p.expires_at).await {
        tracing::error!(error = %e, "could not record a revocation");
        return Answer::error(
            503,
            "state_unavailable",
            "the logout could not be recorded; try again",
            None,
        );
    }
    audit::token_event(Event::TokenRevoke, &p.user, "logout", ids);
    let ended = match gw.sessions.end_user(&p.user).await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "could not end sessions at logout");
            0
        }
    };
    if ended > 0 {
        audit::session_event(Event::SessionEnd, &p.user, Some("logout"), None, ids);
    }
    clear_cookie_headers(scope).into_iter().fold(
        Answer::json(200, &serde_json::json!({"revoked": true, "sessions_ended": ended})),
        |a, c| a.header("set-cookie", c),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::Lineage;
    use std::time::Duration;
    use vaultgate_shared::UserId;

    fn principal(kind: TokenKind, lineage: Lineage, name: Option<&str>) -> Principal {
        Principal {
            user: UserId::parse("64a1b2c3d4e5f6a7b8c9d0e1").unwrap(),
            jti: "j".into(),
            expires_at: 0,
            issued_at: 0,
            from_cookie: false,
            name: name.map(str::to_owned),
            kind,
            lineage,
        }
    }

    #[test]
    fn refresh_table() {
        use RefreshRefusal::*;
        const DAY: u64 = 86_400;
        let now = 1_000 * DAY;
        let age = Duration::from_secs(30 * DAY);
        let open = AllowList::default();
        let alice_only = AllowList::new(&["alice-hf".into()], &[]);
        let team_only = AllowList::new(&[], &["team".into()]);
        let l = |days_ago: u64, max_exp: Option<u64>, hf: bool| Lineage {
            auth_time: now - days_ago * DAY,
            max_exp,
            hf,
        };
        let gw = TokenKind::Gateway;
        let cases = [
            ("fresh sign-in", principal(gw, l(0, None, false), None), &open, Ok(())),
            ("29 days old", principal(gw, l(29, None, false), None), &open, Ok(())),
            (
                "30 days old",
                principal(gw, l(30, None, false), None),
                &open,
                Err(TooOld),
            ),
            (
                "a year old",
                principal(gw, l(365, None, false), None),
                &open,
                Err(TooOld),
            ),
            (
                "HF token gone",
                principal(gw, l(0, Some(now - 1), true), None),
                &open,
                Err(TooOld),
            ),
            (
                "HF token ends within the minute",
                principal(gw, l(0, Some(now + 30), true), None),
                &open,
                Err(TooOld),
            ),
            (
                "HF token alive",
                principal(gw, l(0, Some(now + 3600), true), None),
                &open,
                Ok(()),
            ),
            (
                "still listed",
                principal(gw, l(0, None, true), Some("alice-hf")),
                &alice_only,
                Ok(()),
            ),
            (
                "struck from the list",
                principal(gw, l(0, None, true), Some("bob-hf")),
                &alice_only,
                Err(NotAllowed),
            ),
            (
                "orgs need a new sign-in",
                principal(gw, l(0, None, true), Some("alice-hf")),
                &team_only,
                Err(NotAllowed),
            ),
            (
                "local lineage: no allow-list",
                principal(gw, l(0, None, false), Some("x")),
                &alice_only,
                Ok(()),
            ),
            (
                "an HF token was just checked",
                principal(TokenKind::HuggingFace, l(0, Some(now + 3600), true), None),
                &team_only,
                Ok(()),
            ),
        ];
        for (name, p, allow, want) in cases {
            assert_eq!(may_refresh(&p, age, allow, now), want, "{name}");
        }
    }
}
