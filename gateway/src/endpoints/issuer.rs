//! The one way a token is issued: the signing keys, the `tokens_issued` counter and the audit
//! line, together. Sign-in and the token endpoints get a [`TokenIssuer`], never the gateway.

use pingora::http::RequestHeader;
use prometheus::IntCounterVec;
use vaultgate_shared::UserId;

use crate::audit::{self, Event, RequestIds};
use crate::auth::bearer::CookieScope;
use crate::auth::jwt::{Lineage, MintedToken, TokenKeys};

/// Mints gateway tokens, counting and auditing each (a borrowed view: built per request for free).
#[derive(Clone, Copy)]
pub struct TokenIssuer<'a> {
    keys: &'a TokenKeys,
    issued: &'a IntCounterVec,
    /// The public MCP URL (`…/mcp`): where cookies are scoped from.
    mcp_url: &'a str,
}

impl<'a> TokenIssuer<'a> {
    /// An issuer signing with `keys`, counting into `issued` (`vaultgate_gateway_tokens_issued_total`).
    pub fn new(keys: &'a TokenKeys, issued: &'a IntCounterVec, mcp_url: &'a str) -> Self {
        Self { keys, issued, mcp_url }
    }

    /// The signing keys' limits (maximum session age).
    pub fn keys(&self) -> &TokenKeys {
        self.keys
    }

    /// Mints a token for `user` in `lineage`, counted under `via` and audited as `event`.
    pub fn issue(
        &self,
        user: &UserId,
        name: Option<&str>,
        lineage: Lineage,
        (via, event): (&str, Event),
        ids: RequestIds<'_>,
    ) -> MintedToken {
        let minted = self.keys.mint_in(user, name, None, lineage);
        self.issued.with_label_values(&[via]).inc();
        audit::token_event(event, user, via, ids);
        minted
    }

    /// How the page's cookie is scoped for `req` (see [`CookieScope`]).
    pub fn cookie_scope(&self, req: &RequestHeader) -> CookieScope {
        CookieScope::of(self.mcp_url.trim_end_matches("/mcp"), Some(req))
    }
}
