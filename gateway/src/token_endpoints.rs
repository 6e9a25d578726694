//! `POST /api/auth/token`, `POST /api/auth/refresh` and `POST /api/auth/logout`: the
//! token lifecycle for a caller who already proved who they are (a Hugging Face token,
//! or a valid gateway token). Nothing here mints a token for a user the caller merely names.

use pingora::http::RequestHeader;
use vaultgate_shared::jwt::now_secs;

use crate::answer::Answer;
use crate::audit;
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
    request_id: &str,
) -> Answer {
    if req.method != http::Method::POST {
        return Answer::error(405, "method_not_allowed", "use POST", None).header("allow", "POST");
    }
    match route {
        Route::AuthToken if principal.kind != TokenKind::HuggingFace => Answer::error(
            400,
            "invalid_request",
            "send a Hugging Face access token (hf_…) as the bearer; use /api/auth/refresh for gateway tokens",
            None,
        ),
        Route::AuthToken => issue(gw, principal, "exchange", "token_issue", request_id),
        Route::AuthRefresh => issue(gw, principal, "refresh", "token_refresh", request_id),
        _ => logout(gw, principal, request_id).await,
    }
}

/// Mints a gateway token for the caller's own user id.
fn issue(gw: &Gateway, p: &Principal, via: &str, event: &str, request_id: &str) -> Answer {
    let minted = gw.auth.keys.mint(&p.user, p.name.as_deref(), None);
    gw.metrics.tokens_issued.with_label_values(&[via]).inc();
    audit::token_event(event, &p.user, via, request_id);
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
    if p.from_cookie {
        a.header("set-cookie", cookie_header(&minted.token, expires_in))
    } else {
        a
    }
}

async fn logout(gw: &Gateway, p: &Principal, request_id: &str) -> Answer {
    if let Err(e) = gw.auth.revocations.revoke(&p.jti, p.expires_at).await {
        tracing::error!(error = %e, "could not record a revocation");
        return Answer::error(
            503,
            "state_unavailable",
            "the logout could not be recorded; try again",
            None,
        );
    }
    audit::token_event("token_revoke", &p.user, "logout", request_id);
    let ended = match gw.sessions.end_user(&p.user).await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "could not end sessions at logout");
            0
        }
    };
    if ended > 0 {
        audit::session_event("session_end", &p.user, Some("logout"), None, request_id);
    }
    Answer::json(200, &serde_json::json!({"revoked": true, "sessions_ended": ended}))
        .header("set-cookie", cookie_header("", 0))
}
