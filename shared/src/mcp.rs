//! The MCP protocol vocabulary both programs read: kept here once so the gateway's idea of an
//! era and the backend's choice of error codes cannot drift apart.

/// The header carrying the client's MCP protocol revision.
pub const PROTOCOL_VERSION: &str = "mcp-protocol-version";
/// The header carrying an MCP session id (protocol revisions before [`MODERN_REVISION`]).
pub const SESSION_ID: &str = "mcp-session-id";
/// The first revision without sessions or `initialize`; revisions are dates, so later ones
/// compare greater as text.
pub const MODERN_REVISION: &str = "2026-07-28";

/// True when `revision` is a well-formed revision date at or after [`MODERN_REVISION`].
pub fn is_modern(revision: &str) -> bool {
    revision.len() == MODERN_REVISION.len() && revision >= MODERN_REVISION
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modern_revisions_table() {
        for (rev, modern) in [
            ("2026-07-28", true),
            ("2027-01-01", true),
            ("2025-11-25", false),
            ("2025-06-18", false),
            ("2026-07-2", false),
            ("2026-07-28x", false),
            ("", false),
        ] {
            assert_eq!(is_modern(rev), modern, "{rev:?}");
        }
    }
}
