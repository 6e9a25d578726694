//! What kind of request this is, decided once from the path; also the `route` label.

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
}

impl Route {
    /// Classifies a request path (without query).
    pub fn classify(path: &str) -> Self {
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
            crate::resource_metadata::MCP_METADATA_PATH | crate::resource_metadata::ROOT_METADATA_PATH => {
                Route::ResourceMetadata
            }
            "/mcp" | "/mcp/" => Route::Mcp,
            p if p.starts_with("/api/") || p == "/api" => Route::Api,
            _ => Route::Other,
        }
    }

    /// The low-cardinality metric label.
    pub fn label(self) -> &'static str {
        match self {
            Route::Healthz => "healthz",
            Route::Readyz => "readyz",
            Route::Metrics => "metrics",
            Route::AuthToken | Route::AuthRefresh | Route::AuthLogout | Route::AuthSession => "auth",
            Route::Page => "page",
            Route::SignInConfig | Route::SignInLogin | Route::SignInCallback | Route::SignInLocal => "signin",
            Route::ResourceMetadata => "metadata",
            Route::Mcp => "mcp",
            Route::Api => "api",
            Route::Other => "other",
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
        ] {
            assert_eq!(Route::classify(p), r, "{p}");
        }
    }
}
