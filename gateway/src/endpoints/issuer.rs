//! The one way a token is issued: the signing keys, the `tokens_issued` counter and the audit
//! line, together. Sign-in and the token endpoints get a [`TokenIssuer`], never the gateway.

use pingora::http::RequestHeader;
use vaultgate_shared::UserId;

use crate::audit::{self, Event, RequestIds};
use crate::auth::bearer::CookieScope;
use crate::auth::jwt::{Lineage, MintedToken, TokenKeys};
use crate::metrics::Metrics;
use crate::metrics::labels::TokenVia;

/// Mints gateway tokens, counting and auditing each (a borrowed view: built per request for free).
#[derive(Clone, Copy)]
pub struct TokenIssuer<'a> {
    keys: &'a TokenKeys,
    metrics: &'a Metrics,
    /// The public MCP URL (`…/mcp`): where cookies are scoped from.
    mcp_url: &'a str,
}

impl<'a> TokenIssuer<'a> {
    /// An issuer signing with `keys`, counting into `vaultgate_gateway_tokens_issued_total`.
    pub fn new(keys: &'a TokenKeys, metrics: &'a Metrics, mcp_url: &'a str) -> Self {
        Self { keys, metrics, mcp_url }
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
        (via, event): (TokenVia, Event),
        ids: RequestIds<'_>,
    ) -> MintedToken {
        let minted = self.keys.mint_in(user, name, None, lineage);
        self.metrics.token_issued(via);
        audit::token_event(event, user, via.into(), ids);
        minted
    }

    /// How the page's cookie is scoped for `req` (see [`CookieScope`]).
    pub fn cookie_scope(&self, req: &RequestHeader) -> CookieScope {
        CookieScope::of(self.mcp_url.trim_end_matches("/mcp"), Some(req))
    }
}
