//! What kind of request this is, decided once from the path; also the `route` label.
//! The gateway's own routes come first; every other path is classified by the
//! `BACKEND_ROUTES` rules (`route_rules.rs`).

use strum::{AsRefStr, EnumCount, EnumIter, IntoStaticStr};

use crate::route_rules::{Access, RouteRules};

/// Where the metadata for `/mcp` lives (path-suffixed form, RFC 9728 §3.1).
pub const MCP_METADATA_PATH: &str = "/.well-known/oauth-protected-resource/mcp";
/// The root form, for clients that look there first.
pub const ROOT_METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The `route` label: one value per group of routes (the token endpoints share `auth`, the
/// sign-in endpoints `signin`). The metrics keep per-label series in arrays indexed by it
/// (`as usize`), so the hot path does not look them up by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, EnumCount, IntoStaticStr, AsRefStr)]
#[strum(serialize_all = "snake_case")]
pub enum RouteLabel {
    Healthz,
    Readyz,
    Metrics,
    Auth,
    Page,
    Signin,
    Metadata,
    Mcp,
    Api,
    Other,
    Public,
    NotRouted,
    AmbiguousPath,
}

/// The gateway's view of a request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /healthz`: the process is up.
    Healthz,
    /// `GET /readyz`: the backend answers.
    Readyz,
    /// `/metrics` on the public port (only with METRICS_TOKEN).
    Metrics,
    /// `POST /api/auth/token`: a Hugging Face token in, a gateway token out.
    AuthToken,
    /// `POST /api/auth/refresh`.
    AuthRefresh,
    /// `POST /api/auth/logout`.
    AuthLogout,
    /// `GET /api/auth/session`: who the page's cookie (or a bearer) belongs to.
    AuthSession,
    /// `GET /`, `/index.html`, `/static/…`: the web page (no credential).
    Page,
    /// `GET /auth/config`: which sign-in the page offers and the MCP URL (no credential).
    SignInConfig,
    /// `GET /auth/login`: start the Hugging Face sign-in.
    SignInLogin,
    /// `GET /auth/callback`: the provider's redirect back.
    SignInCallback,
    /// `POST /auth/local`: "continue as local user" (MODE=local, loopback only).
    SignInLocal,
    /// `/.well-known/oauth-protected-resource[/mcp]`: RFC 9728 metadata (with `MCP_OAUTH` only).
    ResourceMetadata,
    /// `/mcp`: the MCP endpoint (both protocol eras).
    Mcp,
    /// `/api/…`: the backend's REST API (bearer or cookie).
    Api,
    /// Anything else: authenticated and forwarded.
    Other,
    /// A `public` rule's path: forwarded without a token and without an identity.
    Public,
    /// A `deny` rule's path, or one no rule covers: 404, never forwarded.
    NotRouted,
    /// A path the gateway cannot read unambiguously where that matters: 400.
    AmbiguousPath,
}

impl Route {
    /// Classifies a request path (without query) with the default rules.
    pub fn classify(path: &str) -> Self {
        static DEFAULT: std::sync::LazyLock<RouteRules> = std::sync::LazyLock::new(RouteRules::default);
        Self::classify_with(path, &DEFAULT)
    }

    /// Classifies a request path (without query): the gateway's own routes, then `rules`.
    pub fn classify_with(path: &str, rules: &RouteRules) -> Self {
        match path {
            "/healthz" => Route::Healthz,
            "/readyz" => Route::Readyz,
            "/metrics" => Route::Metrics,
            "/api/auth/token" => Route::AuthToken,
            "/api/auth/refresh" => Route::AuthRefresh,
            "/api/auth/logout" => Route::AuthLogout,
            "/api/auth/session" => Route::AuthSession,
            "/" | "/index.html" | "/favicon.ico" => Route::Page,
            p if p.starts_with("/static/") => Route::Page,
            "/auth/config" => Route::SignInConfig,
            "/auth/login" => Route::SignInLogin,
            "/auth/callback" => Route::SignInCallback,
            "/auth/local" => Route::SignInLocal,
            MCP_METADATA_PATH | ROOT_METADATA_PATH => Route::ResourceMetadata,
            p => Self::by_rules(p, rules),
        }
    }

    /// Classifies a path that is not one of the gateway's own routes, by `rules` alone.
    pub fn by_rules(path: &str, rules: &RouteRules) -> Self {
        match rules.decide(path) {
            Ok(Access::Mcp) => Route::Mcp,
            Ok(Access::Token) if path.starts_with("/api/") || path == "/api" => Route::Api,
            Ok(Access::Token) => Route::Other,
            Ok(Access::Public) => Route::Public,
            Ok(Access::Deny) => Route::NotRouted,
            Err(_) => Route::AmbiguousPath,
        }
    }

    /// The low-cardinality metric label.
    pub fn label(self) -> &'static str {
        self.group().into()
    }

    /// The label group this route counts under.
    pub fn group(self) -> RouteLabel {
        match self {
            Route::Healthz => RouteLabel::Healthz,
            Route::Readyz => RouteLabel::Readyz,
            Route::Metrics => RouteLabel::Metrics,
            Route::AuthToken | Route::AuthRefresh | Route::AuthLogout | Route::AuthSession => RouteLabel::Auth,
            Route::Page => RouteLabel::Page,
            Route::SignInConfig | Route::SignInLogin | Route::SignInCallback | Route::SignInLocal => RouteLabel::Signin,
            Route::ResourceMetadata => RouteLabel::Metadata,
            Route::Mcp => RouteLabel::Mcp,
            Route::Api => RouteLabel::Api,
            Route::Other => RouteLabel::Other,
            Route::Public => RouteLabel::Public,
            Route::NotRouted => RouteLabel::NotRouted,
            Route::AmbiguousPath => RouteLabel::AmbiguousPath,
        }
    }

    /// Whether the gateway's cookie may authenticate this route (the web page's routes).
    pub fn accepts_cookie(self) -> bool {
        matches!(
            self,
            Route::Api | Route::AuthToken | Route::AuthRefresh | Route::AuthLogout | Route::AuthSession
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_table() {
        for (p, r) in [
            ("/healthz", Route::Healthz),
            ("/readyz", Route::Readyz),
            ("/metrics", Route::Metrics),
            ("/mcp", Route::Mcp),
            ("/mcp/", Route::Mcp),
            ("/mcpx", Route::Other),
            ("/api/notes/a.md", Route::Api),
            ("/api/auth/refresh", Route::AuthRefresh),
            ("/api/auth/logout", Route::AuthLogout),
            ("/api/auth/token", Route::AuthToken),
            ("/", Route::Page),
            ("/static/app.js", Route::Page),
            ("/staticx", Route::Other),
            ("/auth/login", Route::SignInLogin),
            ("/auth/callback", Route::SignInCallback),
            ("/auth/local", Route::SignInLocal),
            ("/auth/config", Route::SignInConfig),
            ("/auth/loginx", Route::Other),
            ("/api/auth/session", Route::AuthSession),
            ("/.well-known/oauth-protected-resource", Route::ResourceMetadata),
            ("/.well-known/oauth-protected-resource/mcp", Route::ResourceMetadata),
            ("/.well-known/oauth-protected-resource/mcpx", Route::Other),
            ("/healthz/", Route::Other),
            ("/mcp/../healthz", Route::Other),
            ("/api/../mcp", Route::Api),
        ] {
            assert_eq!(Route::classify(p), r, "{p}");
        }
    }

    #[test]
    fn gateway_routes_come_before_rules() {
        let specs: Vec<String> = ["mcp:/gradio_api/mcp/", "public:/", "deny:/secret/"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let rules = RouteRules::parse(&specs).unwrap();
        for (p, r) in [
            ("/healthz", Route::Healthz),
            ("/metrics", Route::Metrics),
            ("/api/auth/token", Route::AuthToken),
            ("/gradio_api/mcp/", Route::Mcp),
            ("/gradio_api/mcpx", Route::Public),
            ("/api/notes", Route::Public),
            ("/secret/x", Route::NotRouted),
            ("/x/../gradio_api/mcp/", Route::AmbiguousPath),
            ("/mcp", Route::Public),
        ] {
            assert_eq!(Route::classify_with(p, &rules), r, "{p}");
        }
    }
}
