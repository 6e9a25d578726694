//! `POST /api/auth/token`, `POST /api/auth/refresh`, `POST /api/auth/logout` and
//! `GET /api/auth/session`: the token lifecycle for a caller who already proved who they
//! are (a Hugging Face token, a valid gateway token, or the web page's session cookie).
//! Nothing here mints a token for a user the caller merely names.

use pingora::http::RequestHeader;
use vaultgate_shared::jwt::now_secs;

use crate::answer::Answer;
use crate::audit::{self, RequestIds};
use crate::auth::bearer::cookie_header;
use crate::auth::{Principal, TokenKind};
use crate::proxy::Gateway;
use crate::routes::Route;

/// Answers a token-lifecycle request from an authenticated `principal`.
pub async fn handle(
    gw: &Gateway,
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
    match route {
        // A token for an MCP client, made from the web page's session; the page keeps its cookie.
        Route::AuthToken if principal.from_cookie => issue(gw, principal, "exchange", "token_issue", ids, false),
        Route::AuthToken if principal.kind != TokenKind::HuggingFace => Answer::error(
            400,
            "invalid_request",
            "send a Hugging Face access token (hf_…) as the bearer; use /api/auth/refresh for gateway tokens",
            None,
        ),
        Route::AuthToken => issue(gw, principal, "exchange", "token_issue", ids, false),
        Route::AuthRefresh => issue(gw, principal, "refresh", "token_refresh", ids, principal.from_cookie),
        _ => logout(gw, principal, ids).await,
    }
}

/// Mints a gateway token for the caller's own user id; `set_cookie` also makes it the page's session.
fn issue(gw: &Gateway, p: &Principal, via: &str, event: &str, ids: RequestIds<'_>, set_cookie: bool) -> Answer {
    let minted = gw.auth.keys.mint(&p.user, p.name.as_deref(), None);
    gw.metrics.tokens_issued.with_label_values(&[via]).inc();
    audit::token_event(event, &p.user, via, ids);
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
    if set_cookie {
        a.header("set-cookie", cookie_header(&minted.token, expires_in))
    } else {
        a
    }
}

async fn logout(gw: &Gateway, p: &Principal, ids: RequestIds<'_>) -> Answer {
    if let Err(e) = gw.auth.revocations.revoke(&p.jti, p.expires_at).await {
        tracing::error!(error = %e, "could not record a revocation");
        return Answer::error(
            503,
            "state_unavailable",
            "the logout could not be recorded; try again",
            None,
        );
    }
    audit::token_event("token_revoke", &p.user, "logout", ids);
    let ended = match gw.sessions.end_user(&p.user).await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "could not end sessions at logout");
            0
        }
    };
    if ended > 0 {
        audit::session_event("session_end", &p.user, Some("logout"), None, ids);
    }
    Answer::json(200, &serde_json::json!({"revoked": true, "sessions_ended": ended}))
        .header("set-cookie", cookie_header("", 0))
}
