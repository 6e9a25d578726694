//! The main listener's one route table: every route, decided once from the path, with its
//! `route` metric label. [`crate::http::App`] answers health and readiness and hands `/mcp` to
//! rmcp; [`crate::api`] dispatches the rest on the same [`Route`].

use http::Method;

/// A route of the main listener. Paths inside the `/api/notes/` and `/api/backlinks/` routes
/// are still percent-encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /healthz` (liveness, no identity).
    Healthz,
    /// `GET /readyz` (readiness, no identity).
    Readyz,
    /// `/mcp` (also `/mcp/`): rmcp's Streamable HTTP endpoint.
    Mcp,
    /// `GET /api/notes` (also `/api/notes/`): a page of notes.
    Notes,
    /// `GET /api/search`.
    Search,
    /// `GET /api/tags`.
    Tags,
    /// `GET /api/me`.
    Me,
    /// `GET /api/export`: the vault as a zip.
    Export,
    /// `POST /api/render`: a draft as HTML.
    Render,
    /// `POST /api/import`: a vault from a zip.
    Import,
    /// `GET /api/backlinks/{path}`.
    Backlinks(&'a str),
    /// `POST /api/notes/{path}/move`. Note paths end in `.md`, so `.md/move` can only be this.
    Move(&'a str),
    /// `GET|PUT|DELETE /api/notes/{path}`.
    Note(&'a str),
    /// Anything else: 404 once the identity is checked.
    Other,
}

impl<'a> Route<'a> {
    /// The route of `path`. Methods are checked by each route's handler (405), not here.
    pub fn of(path: &'a str) -> Self {
        match path {
            "/healthz" => Route::Healthz,
            "/readyz" => Route::Readyz,
            // MCP has one endpoint: any other path under it is a 404 like every unknown route,
            // so nothing reaches rmcp but what the gateway's MCP handling sends to `/mcp`.
            "/mcp" | "/mcp/" => Route::Mcp,
            "/api/notes" | "/api/notes/" => Route::Notes,
            "/api/search" => Route::Search,
            "/api/tags" => Route::Tags,
            "/api/me" => Route::Me,
            "/api/export" => Route::Export,
            "/api/render" => Route::Render,
            "/api/import" => Route::Import,
            _ => {
                if let Some(rest) = path.strip_prefix("/api/backlinks/") {
                    Route::Backlinks(rest)
                } else if let Some(rest) = path.strip_prefix("/api/notes/") {
                    match rest.strip_suffix("/move").filter(|n| n.ends_with(".md")) {
                        Some(note) => Route::Move(note),
                        None => Route::Note(rest),
                    }
                } else {
                    Route::Other
                }
            }
        }
    }

    /// The low-cardinality `route` label of `vaultgate_backend_http_requests_total`.
    ///
    /// A note route is `api_move` for a `POST` to a path ending in `/move` — also one that is
    /// not a note's (refused as 405) — and `api_note` otherwise.
    pub fn label(&self, method: &Method) -> &'static str {
        match self {
            Route::Healthz => "healthz",
            Route::Readyz => "readyz",
            Route::Mcp => "mcp",
            Route::Notes => "api_notes",
            Route::Search => "api_search",
            Route::Tags => "api_tags",
            Route::Me => "api_me",
            Route::Export => "api_export",
            Route::Render => "api_render",
            Route::Import => "api_import",
            Route::Backlinks(_) => "api_backlinks",
            Route::Move(_) if method == Method::POST => "api_move",
            Route::Note(rest) if method == Method::POST && rest.ends_with("/move") => "api_move",
            Route::Move(_) | Route::Note(_) => "api_note",
            Route::Other => "other",
        }
    }

    /// The (still encoded) note a REST write names, for its audit line: `PUT`/`DELETE` on a
    /// note path, or `POST` on one ending in `/move`. Empty for `/api/notes/` itself.
    pub fn written_note(&self, method: &Method, path: &'a str) -> Option<&'a str> {
        let rest = match self {
            Route::Notes | Route::Move(_) | Route::Note(_) => path.strip_prefix("/api/notes/")?,
            _ => return None,
        };
        match *method {
            Method::PUT | Method::DELETE => Some(rest),
            Method::POST => rest.strip_suffix("/move"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_table() {
        // (method, path, route, label)
        let cases = [
            (Method::GET, "/healthz", Route::Healthz, "healthz"),
            (Method::POST, "/healthz", Route::Healthz, "healthz"),
            (Method::GET, "/readyz", Route::Readyz, "readyz"),
            (Method::POST, "/mcp", Route::Mcp, "mcp"),
            (Method::POST, "/mcp/", Route::Mcp, "mcp"),
            (Method::POST, "/mcp/x", Route::Other, "other"),
            (Method::GET, "/api/notes", Route::Notes, "api_notes"),
            (Method::PUT, "/api/notes/", Route::Notes, "api_notes"),
            (Method::GET, "/api/search", Route::Search, "api_search"),
            (Method::GET, "/api/tags", Route::Tags, "api_tags"),
            (Method::GET, "/api/me", Route::Me, "api_me"),
            (Method::GET, "/api/export", Route::Export, "api_export"),
            (Method::POST, "/api/render", Route::Render, "api_render"),
            (Method::POST, "/api/import", Route::Import, "api_import"),
            (
                Method::GET,
                "/api/backlinks/a%20b.md",
                Route::Backlinks("a%20b.md"),
                "api_backlinks",
            ),
            (
                Method::POST,
                "/api/notes/a/b.md/move",
                Route::Move("a/b.md"),
                "api_move",
            ),
            (Method::GET, "/api/notes/a/b.md/move", Route::Move("a/b.md"), "api_note"),
            (Method::POST, "/api/notes/a/move", Route::Note("a/move"), "api_move"),
            (Method::GET, "/api/notes/a.md", Route::Note("a.md"), "api_note"),
            (Method::PUT, "/api/notes/a.md", Route::Note("a.md"), "api_note"),
            (Method::GET, "/api/nope", Route::Other, "other"),
            (Method::GET, "/", Route::Other, "other"),
        ];
        for (method, path, route, label) in cases {
            assert_eq!(Route::of(path), route, "{method} {path}");
            assert_eq!(Route::of(path).label(&method), label, "{method} {path}");
        }
    }

    #[test]
    fn written_note_table() {
        let cases = [
            (Method::PUT, "/api/notes/a.md", Some("a.md")),
            (Method::DELETE, "/api/notes/a.md", Some("a.md")),
            (Method::GET, "/api/notes/a.md", None),
            (Method::POST, "/api/notes/a.md/move", Some("a.md")),
            (Method::POST, "/api/notes/a/move", Some("a")),
            (Method::PUT, "/api/notes/a.md/move", Some("a.md/move")),
            (Method::PUT, "/api/notes/", Some("")),
            (Method::PUT, "/api/notes", None),
            (Method::POST, "/api/notes/", None),
            (Method::PUT, "/api/tags", None),
            (Method::DELETE, "/api/backlinks/a.md", None),
        ];
        for (method, path, want) in cases {
            assert_eq!(Route::of(path).written_note(&method, path), want, "{method} {path}");
        }
    }
}
