//! Which forwarded paths are public, need a token, are MCP endpoints, or are refused
//! (`BACKEND_ROUTES`), so the gateway can front a backend it was not built with — for
//! example a Gradio app whose MCP server lives at `/gradio_api/mcp/`.
//!
//! A rule is `ACCESS:PREFIX`. `PREFIX` ending in `/` covers that folder and everything
//! under it (`/gradio_api/mcp/` matches `/gradio_api/mcp`, `/gradio_api/mcp/` and
//! `/gradio_api/mcp/sse`, not `/gradio_api/mcpx`); without the slash it covers exactly that
//! path, with or without a trailing slash; `/` covers everything. The most specific rule
//! wins: an exact rule, else the longest folder. A path no rule covers is refused (404).
//!
//! A path the gateway cannot read the same way every backend would (`..`, `.`, `//`,
//! encoded `/` `\` `.` or letters, `;`, control characters) is never given an exemption:
//! it is handled as the catch-all `/` rule says when that rule requires a token, and
//! refused (400) otherwise. The defaults (`mcp:/mcp`, `token:/`) are the gateway's
//! behaviour before rules existed.

/// What the gateway does with a request whose path a rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Forwarded without a token: client identity headers stripped, no identity injected.
    Public,
    /// A gateway token is required; the signed identity is injected.
    Token,
    /// Like `Token`, plus MCP sessions and JSON-RPC inspection.
    Mcp,
    /// Refused by the gateway (404), never forwarded.
    Deny,
}

impl Access {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(Self::Public),
            "token" => Some(Self::Token),
            "mcp" => Some(Self::Mcp),
            "deny" => Some(Self::Deny),
            _ => None,
        }
    }

    /// Whether a request with this access must carry a valid token.
    pub fn needs_token(self) -> bool {
        matches!(self, Self::Token | Self::Mcp)
    }
}

/// A path the gateway refuses to interpret (answered with 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmbiguousPath;

/// Why `BACKEND_ROUTES` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("BACKEND_ROUTES: '{0}' is not ACCESS:PREFIX (ACCESS is public, token, mcp or deny)")]
    Syntax(String),
    #[error(
        "BACKEND_ROUTES: prefix '{0}' must start with '/' and use only letters, digits and - . _ ~ = : @ + \
         (no '..', '.', '//' or percent-escapes)"
    )]
    BadPrefix(String),
    #[error("BACKEND_ROUTES: '{0}' is listed twice")]
    Duplicate(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    /// Without its trailing slash ("" for the catch-all `/`).
    stem: String,
    /// Covers the folder and everything under it.
    folder: bool,
    access: Access,
}

impl Rule {
    fn covers(&self, path: &str) -> bool {
        match path.strip_prefix(self.stem.as_str()) {
            None => false,
            Some(rest) if self.folder => rest.is_empty() || rest.starts_with('/'),
            Some(rest) => rest.is_empty() || rest == "/",
        }
    }
}

/// The parsed rules, most specific first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRules {
    rules: Vec<Rule>,
}

/// The rules the gateway has always applied: `/mcp` is the MCP endpoint, every other path needs a token.
pub const DEFAULT_RULES: &str = "mcp:/mcp,token:/";

impl Default for RouteRules {
    fn default() -> Self {
        let specs: Vec<String> = DEFAULT_RULES.split(',').map(str::to_owned).collect();
        // The default is a constant checked by a test; it always parses.
        Self::parse(&specs).unwrap_or(Self { rules: vec![] })
    }
}

fn prefix_ok(prefix: &str) -> bool {
    prefix.starts_with('/')
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~/=:@+".contains(&b))
        && is_canonical(prefix)
}

impl RouteRules {
    /// Parses `ACCESS:PREFIX` items (blank items are ignored).
    pub fn parse(specs: &[String]) -> Result<Self, RuleError> {
        let mut rules: Vec<Rule> = vec![];
        for spec in specs.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            let (access, prefix) = spec.split_once(':').ok_or_else(|| RuleError::Syntax(spec.to_owned()))?;
            let access = Access::parse(access.trim()).ok_or_else(|| RuleError::Syntax(spec.to_owned()))?;
            let prefix = prefix.trim();
            if !prefix_ok(prefix) {
                return Err(RuleError::BadPrefix(prefix.to_owned()));
            }
            let folder = prefix.ends_with('/');
            let stem = prefix.trim_end_matches('/').to_owned();
            if rules.iter().any(|r| r.stem == stem && r.folder == folder) {
                return Err(RuleError::Duplicate(prefix.to_owned()));
            }
            rules.push(Rule { stem, folder, access });
        }
        // Exact rules first, then folders from the longest down to the catch-all.
        rules.sort_by(|a, b| a.folder.cmp(&b.folder).then(b.stem.len().cmp(&a.stem.len())));
        Ok(Self { rules })
    }

    /// What to do with `path` (the request path without its query).
    pub fn decide(&self, path: &str) -> Result<Access, AmbiguousPath> {
        if !is_canonical(path) {
            return match self.catch_all() {
                Some(a) if a.needs_token() => Ok(a),
                _ => Err(AmbiguousPath),
            };
        }
        Ok(self
            .rules
            .iter()
            .find(|r| r.covers(path))
            .map_or(Access::Deny, |r| r.access))
    }

    fn catch_all(&self) -> Option<Access> {
        self.rules
            .iter()
            .find(|r| r.folder && r.stem.is_empty())
            .map(|r| r.access)
    }
}

/// True when every backend reads `path` the way the gateway does: it starts with `/`, has
/// no empty (`//`), `.` or `..` segment, no `\`, `;` or control character, and its
/// percent-escapes encode none of `/ \ . % ;`, a letter, a digit, `-`, `_`, `~` or a control
/// character (escapes that some backends decode and others do not, or that should never be escaped).
pub fn is_canonical(path: &str) -> bool {
    let b = path.as_bytes();
    if b.first() != Some(&b'/') {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' | b';' => return false,
            c if c < 0x20 || c == 0x7f => return false,
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                let decoded = match (b.get(i + 1).and_then(|&c| hex(c)), b.get(i + 2).and_then(|&c| hex(c))) {
                    (Some(h), Some(l)) => (h * 16 + l) as u8,
                    _ => return false,
                };
                if decoded.is_ascii_alphanumeric()
                    || b"-._~/\\%;".contains(&decoded)
                    || decoded < 0x20
                    || decoded == 0x7f
                {
                    return false;
                }
                i += 2;
            }
            _ => {}
        }
        i += 1;
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len() - 1;
    segments
        .iter()
        .enumerate()
        .all(|(n, s)| !matches!(*s, "." | "..") && (!s.is_empty() || n == last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(s: &str) -> RouteRules {
        let specs: Vec<String> = s.split(',').map(str::to_owned).collect();
        RouteRules::parse(&specs).unwrap()
    }

    #[test]
    fn canonical_paths_table() {
        for ok in [
            "/",
            "/mcp",
            "/mcp/",
            "/gradio_api/mcp/sse",
            "/a/b.md",
            "/file=/tmp/x.png",
            "/my%20file",
            "/caf%C3%A9",
            "/a/.hidden",
            "/a/..b",
        ] {
            assert!(is_canonical(ok), "{ok}");
        }
        for bad in [
            "",
            "mcp",
            "*",
            "//mcp",
            "/a//b",
            "/a/./b",
            "/a/.",
            "/a/../b",
            "/..",
            "/a\\b",
            "/a;b/mcp",
            "/a%2fb",
            "/a%2Fb",
            "/a%5cb",
            "/%2e%2e/mcp",
            "/%2E/mcp",
            "/gr%61dio_api/mcp/",
            "/a%25",
            "/a%252f",
            "/a%00",
            "/a%0a",
            "/a\tb",
            "/a%",
            "/a%g0",
            "/a%3bb",
        ] {
            assert!(!is_canonical(bad), "{bad:?}");
        }
    }

    #[test]
    fn defaults_are_the_old_behaviour() {
        let r = RouteRules::default();
        assert_eq!(r, rules(DEFAULT_RULES));
        for (path, want) in [
            ("/mcp", Ok(Access::Mcp)),
            ("/mcp/", Ok(Access::Mcp)),
            ("/mcpx", Ok(Access::Token)),
            ("/mcp/x", Ok(Access::Token)),
            ("/", Ok(Access::Token)),
            ("/api/notes/a.md", Ok(Access::Token)),
            ("/anything", Ok(Access::Token)),
            // Ambiguous paths still need a token, exactly as before.
            ("/public/../mcp", Ok(Access::Token)),
            ("//mcp", Ok(Access::Token)),
            ("/%6dcp", Ok(Access::Token)),
        ] {
            assert_eq!(r.decide(path), want, "{path}");
        }
    }

    #[test]
    fn gradio_in_front_of_public_ui() {
        let r = rules("mcp:/gradio_api/mcp/, public:/, deny:/gradio_api/internal/");
        for (path, want) in [
            ("/gradio_api/mcp", Ok(Access::Mcp)),
            ("/gradio_api/mcp/", Ok(Access::Mcp)),
            ("/gradio_api/mcp/sse", Ok(Access::Mcp)),
            ("/gradio_api/mcp/messages/", Ok(Access::Mcp)),
            // Prefix confusion: not the MCP folder.
            ("/gradio_api/mcpx", Ok(Access::Public)),
            ("/gradio_api/mcp-x/", Ok(Access::Public)),
            ("/gradio_api/internal", Ok(Access::Deny)),
            ("/gradio_api/internal/x", Ok(Access::Deny)),
            ("/gradio_api/internalx", Ok(Access::Public)),
            ("/", Ok(Access::Public)),
            ("/assets/app.js", Ok(Access::Public)),
            // The catch-all is public, so nothing ambiguous may pass under it.
            ("/assets/../gradio_api/mcp/", Err(AmbiguousPath)),
            ("/x/..%2fgradio_api/mcp/", Err(AmbiguousPath)),
            ("//gradio_api/mcp/", Err(AmbiguousPath)),
            ("/gradio_api//mcp/", Err(AmbiguousPath)),
            ("/gradio_api/./mcp/", Err(AmbiguousPath)),
            ("/gradio_api%2fmcp/", Err(AmbiguousPath)),
            ("/gr%61dio_api/mcp/", Err(AmbiguousPath)),
            ("/gradio_api;x/mcp/", Err(AmbiguousPath)),
            ("/gradio_api\\mcp\\", Err(AmbiguousPath)),
        ] {
            assert_eq!(r.decide(path), want, "{path}");
        }
    }

    #[test]
    fn the_documented_gradio_example() {
        let r = rules("mcp:/gradio_api/mcp/,token:/gradio_api/mcp/sse,token:/gradio_api/mcp/messages/,public:/");
        for (path, want) in [
            ("/gradio_api/mcp/", Access::Mcp),
            ("/gradio_api/mcp/http/", Access::Mcp),
            ("/gradio_api/mcp/sse", Access::Token),
            ("/gradio_api/mcp/sse/", Access::Token),
            ("/gradio_api/mcp/sse/x", Access::Mcp),
            ("/gradio_api/mcp/messages/", Access::Token),
            ("/gradio_api/mcp/messagesx", Access::Mcp),
            ("/gradio_api/mcp/schema", Access::Mcp),
            ("/gradio_api/call/predict", Access::Public),
            ("/", Access::Public),
        ] {
            assert_eq!(r.decide(path), Ok(want), "{path}");
        }
    }

    #[test]
    fn most_specific_rule_wins_and_unmatched_is_denied() {
        let r = rules("token:/app/, public:/app/static/, public:/app/login, mcp:/app/mcp");
        for (path, want) in [
            ("/app", Access::Token),
            ("/app/x", Access::Token),
            ("/app/static", Access::Public),
            ("/app/static/a.css", Access::Public),
            ("/app/login", Access::Public),
            ("/app/login/", Access::Public),
            ("/app/login/more", Access::Token),
            ("/app/mcp", Access::Mcp),
            ("/app/mcp/x", Access::Token),
            ("/other", Access::Deny),
            ("/", Access::Deny),
        ] {
            assert_eq!(r.decide(path), Ok(want), "{path}");
        }
        // No catch-all: ambiguous paths are refused, not guessed.
        assert_eq!(r.decide("/app/static/../x"), Err(AmbiguousPath));
        // A token catch-all keeps ambiguous paths behind a token; an MCP one keeps its handling.
        assert_eq!(rules("public:/s/,mcp:/").decide("/s/../x"), Ok(Access::Mcp));
        assert_eq!(rules("public:/s/,deny:/").decide("/s/../x"), Err(AmbiguousPath));
    }

    #[test]
    fn bad_rules_are_refused() {
        for (spec, want) in [
            ("/mcp", RuleError::Syntax("/mcp".into())),
            ("open:/x", RuleError::Syntax("open:/x".into())),
            ("public:x", RuleError::BadPrefix("x".into())),
            ("public:", RuleError::BadPrefix("".into())),
            ("public:/a/../b", RuleError::BadPrefix("/a/../b".into())),
            ("public:/a//", RuleError::BadPrefix("/a//".into())),
            ("public:/a%2f", RuleError::BadPrefix("/a%2f".into())),
            ("public:/a b", RuleError::BadPrefix("/a b".into())),
            ("public:/a*", RuleError::BadPrefix("/a*".into())),
        ] {
            assert_eq!(RouteRules::parse(&[spec.to_owned()]), Err(want), "{spec}");
        }
        assert_eq!(
            RouteRules::parse(&["public:/x/".into(), "token:/x/".into()]),
            Err(RuleError::Duplicate("/x/".into()))
        );
        // An exact rule and a folder rule on the same stem are different rules.
        assert!(RouteRules::parse(&["mcp:/x".into(), "token:/x/".into()]).is_ok());
        assert!(RouteRules::parse(&[" ".into()]).is_ok());
    }
}
