//! Where a credential may come from: exactly one `Authorization: Bearer` header, or —
//! for the web routes only — the gateway's own cookie. Never a query string.

use pingora::http::RequestHeader;

/// Name of the gateway's HttpOnly cookie carrying a gateway token for the web page.
pub const COOKIE_NAME: &str = "vaultgate_token";

/// The header the web page adds to its requests while it is shown inside a frame.
pub const EMBEDDED_HEADER: &str = "x-vaultgate-embedded";

/// How the page's cookies are marked: from the public URL's scheme and from who asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieScope {
    /// `Secure; SameSite=None` (https, or http on a loopback host, which browsers treat as
    /// secure): the cookie also reaches the page inside the huggingface.co iframe. Otherwise
    /// `SameSite=Lax` without `Secure`, which browsers would drop over plain http.
    pub cross_site: bool,
    /// `Partitioned` (CHIPS): set for a request from the page while it is framed, so the
    /// cookie lives in the framing site's partition, where browsers that block third-party
    /// cookies still keep it.
    pub partitioned: bool,
}

impl CookieScope {
    /// The scope for a page served at `public_url`, answering `req` (if any).
    pub fn of(public_url: &str, req: Option<&RequestHeader>) -> Self {
        let url = public_url.trim().to_ascii_lowercase();
        let cross_site = match url.strip_prefix("http://") {
            None => true,
            Some(rest) => {
                let authority = rest.split('/').next().unwrap_or("");
                let host = match authority.rsplit_once(':') {
                    Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
                    _ => authority,
                };
                matches!(host, "localhost" | "127.0.0.1" | "[::1]") || host.ends_with(".localhost")
            }
        };
        let framed = req.is_some_and(|r| {
            r.headers.get(EMBEDDED_HEADER).is_some_and(|v| v.as_bytes() == b"1")
                || r.headers
                    .get("sec-fetch-dest")
                    .is_some_and(|v| v.as_bytes() == b"iframe")
        });
        Self {
            cross_site,
            partitioned: cross_site && framed,
        }
    }

    fn attributes(self) -> &'static str {
        match (self.cross_site, self.partitioned) {
            (true, true) => "Secure; SameSite=None; Partitioned",
            (true, false) => "Secure; SameSite=None",
            (false, _) => "SameSite=Lax",
        }
    }
}

/// A `Set-Cookie` value carrying `token` for `max_age_secs` (0 clears it), marked per `scope`.
pub fn cookie_header(token: &str, max_age_secs: u64, scope: CookieScope) -> String {
    format!(
        "{COOKIE_NAME}={token}; Path=/; HttpOnly; {}; Max-Age={max_age_secs}",
        scope.attributes()
    )
}

/// The `Set-Cookie` values that clear the page's cookie: the partitioned copy is a separate
/// cookie in browsers with CHIPS, so a framed page's sign-out clears both.
pub fn clear_cookie_headers(scope: CookieScope) -> Vec<String> {
    let mut out = vec![cookie_header(
        "",
        0,
        CookieScope {
            partitioned: false,
            ..scope
        },
    )];
    if scope.partitioned {
        out.push(cookie_header("", 0, scope));
    }
    out
}

/// Query parameters that look like a credential; a request carrying one is refused.
const QUERY_TOKEN_NAMES: [&str; 4] = ["access_token", "token", "id_token", "jwt"];

/// A credential found on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// From `Authorization: Bearer …`.
    Bearer(&'a str),
    /// From the gateway cookie (web routes only).
    Cookie(&'a str),
}

impl<'a> Credential<'a> {
    /// The token text.
    pub fn token(&self) -> &'a str {
        match self {
            Credential::Bearer(t) | Credential::Cookie(t) => t,
        }
    }
}

/// Why no usable credential was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("no bearer token was sent")]
    Missing,
    #[error("more than one Authorization header was sent")]
    Multiple,
    #[error("the Authorization scheme must be Bearer")]
    BadScheme,
    #[error("the Authorization header must hold exactly one token")]
    Malformed,
    #[error("tokens are not accepted in the query string; send an Authorization: Bearer header")]
    InQuery,
}

impl BearerError {
    /// HTTP status: 400 for a malformed request (RFC 6750 `invalid_request`), 401 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            BearerError::Multiple | BearerError::InQuery => 400,
            _ => 401,
        }
    }

    /// The metric/audit reason.
    pub fn reason(&self) -> &'static str {
        match self {
            BearerError::Missing => "missing",
            _ => "malformed",
        }
    }
}

// Checked on every request over the whole token (≈ 250 bytes for a gateway JWT). Written
// without early exit and with plain comparisons, so the compiler checks many bytes per
// instruction (≈ 8 instructions per byte before, as a chain of tests with a branch each).
fn is_token68(s: &str) -> bool {
    let mut body = s.as_bytes();
    while let [rest @ .., b'='] = body {
        body = rest;
    }
    !body.is_empty()
        && body.iter().fold(true, |ok, &c| {
            ok & (c.is_ascii_alphanumeric()
                | (c == b'-')
                | (c == b'.')
                | (c == b'_')
                | (c == b'~')
                | (c == b'+')
                | (c == b'/'))
        })
}

fn query_has_token(req: &RequestHeader) -> bool {
    let Some(q) = req.uri.query() else { return false };
    // Names are compared decoded: `%74oken` is `token` to whatever reads the query next.
    vaultgate_shared::query::names(q).any(|name| QUERY_TOKEN_NAMES.iter().any(|t| name.eq_ignore_ascii_case(t)))
}

/// The value of cookie `name` (the first non-empty one), for the gateway's own cookies.
pub fn cookie_value<'a>(req: &'a RequestHeader, name: &str) -> Option<&'a str> {
    req.headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|line| {
            line.split(';').find_map(|kv| {
                let (k, v) = kv.trim().split_once('=')?;
                (k == name && !v.is_empty()).then_some(v)
            })
        })
}

/// Finds the request's credential; the cookie counts only when `allow_cookie` (web routes).
pub fn extract(req: &RequestHeader, allow_cookie: bool) -> Result<Credential<'_>, BearerError> {
    if query_has_token(req) {
        return Err(BearerError::InQuery);
    }
    let mut values = req.headers.get_all(http::header::AUTHORIZATION).iter();
    match (values.next(), values.next()) {
        (Some(_), Some(_)) => Err(BearerError::Multiple),
        (Some(value), None) => {
            let text = value.to_str().map_err(|_| BearerError::Malformed)?.trim();
            let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(BearerError::BadScheme);
            }
            let token = rest.trim();
            if !is_token68(token) {
                return Err(BearerError::Malformed);
            }
            Ok(Credential::Bearer(token))
        }
        (None, _) => match cookie_value(req, COOKIE_NAME) {
            Some(t) if allow_cookie => {
                if is_token68(t) {
                    Ok(Credential::Cookie(t))
                } else {
                    Err(BearerError::Malformed)
                }
            }
            _ => Err(BearerError::Missing),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("POST", uri.as_bytes(), None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    type Case = (
        &'static str,
        Vec<(&'static str, &'static str)>,
        bool,
        Result<Credential<'static>, BearerError>,
    );

    #[test]
    fn token68_accepts_exactly_its_characters() {
        let allowed = |c: u8| c.is_ascii_alphanumeric() || b"-._~+/".contains(&c);
        for c in 0..=255u8 {
            let t = [b'a', c, b'b'];
            if let Ok(t) = std::str::from_utf8(&t) {
                assert_eq!(is_token68(t), allowed(c), "byte {c}");
            }
        }
        assert!(is_token68("ab+/=="));
        assert!(!is_token68("==") && !is_token68("") && !is_token68("a=b") && !is_token68("aé"));
    }

    #[test]
    fn extraction_table() {
        use BearerError::*;
        let cases: Vec<Case> = vec![
            (
                "/mcp",
                vec![("Authorization", "Bearer abc.def.ghi")],
                false,
                Ok(Credential::Bearer("abc.def.ghi")),
            ),
            (
                "/mcp",
                vec![("authorization", "bearer abc")],
                false,
                Ok(Credential::Bearer("abc")),
            ),
            (
                "/mcp",
                vec![("Authorization", "BEARER   abc  ")],
                false,
                Ok(Credential::Bearer("abc")),
            ),
            ("/mcp", vec![], false, Err(Missing)),
            ("/mcp", vec![("Authorization", "Bearer")], false, Err(Malformed)),
            ("/mcp", vec![("Authorization", "Bearer ")], false, Err(Malformed)),
            ("/mcp", vec![("Authorization", "Bearer a b")], false, Err(Malformed)),
            ("/mcp", vec![("Authorization", "Bearer a,b")], false, Err(Malformed)),
            (
                "/mcp",
                vec![("Authorization", "Basic dXNlcjpwYXNz")],
                false,
                Err(BadScheme),
            ),
            ("/mcp", vec![("Authorization", "Token abc")], false, Err(BadScheme)),
            ("/mcp", vec![("Authorization", "Bearerabc")], false, Err(BadScheme)),
            (
                "/mcp",
                vec![("Authorization", "Bearer a"), ("Authorization", "Bearer a")],
                false,
                Err(Multiple),
            ),
            (
                "/mcp?access_token=abc",
                vec![("Authorization", "Bearer a")],
                false,
                Err(InQuery),
            ),
            ("/mcp?x=1&Token=abc", vec![], false, Err(InQuery)),
            ("/mcp?%74oken=abc", vec![], false, Err(InQuery)),
            ("/mcp?x=%zz&access%5Ftoken=abc", vec![], false, Err(InQuery)),
            ("/mcp?id+token=1", vec![], false, Err(Missing)),
            ("/mcp?tokens=1", vec![], false, Err(Missing)),
            (
                "/api/me",
                vec![("Cookie", "a=b; vaultgate_token=tok.en.x")],
                true,
                Ok(Credential::Cookie("tok.en.x")),
            ),
            ("/mcp", vec![("Cookie", "vaultgate_token=tok")], false, Err(Missing)),
            (
                "/api/me",
                vec![("Cookie", "vaultgate_token=bad token")],
                true,
                Err(Malformed),
            ),
            ("/api/me", vec![("Cookie", "other=1")], true, Err(Missing)),
        ];
        for (uri, headers, cookie, want) in cases {
            let r = req(uri, &headers);
            assert_eq!(extract(&r, cookie), want, "{uri} {headers:?}");
        }
    }

    #[test]
    fn cookie_scope_table() {
        let framed = {
            let mut r = RequestHeader::build("POST", b"/api/auth/logout", None).unwrap();
            r.append_header(EMBEDDED_HEADER, "1").unwrap();
            r
        };
        let top = RequestHeader::build("POST", b"/api/auth/logout", None).unwrap();
        for (url, req, want) in [
            ("https://me-vault.hf.space", Some(&top), "Secure; SameSite=None;"),
            ("https://me-vault.hf.space", None, "Secure; SameSite=None;"),
            (
                "https://me-vault.hf.space",
                Some(&framed),
                "Secure; SameSite=None; Partitioned;",
            ),
            ("http://localhost:7860", Some(&top), "Secure; SameSite=None;"),
            (
                "http://127.0.0.1:7860",
                Some(&framed),
                "Secure; SameSite=None; Partitioned;",
            ),
            ("http://[::1]:7860/", None, "Secure; SameSite=None;"),
            ("http://notes.lan:7860", Some(&framed), "SameSite=Lax;"),
            ("http://localhost.evil.example", None, "SameSite=Lax;"),
            ("http://192.168.1.9", None, "SameSite=Lax;"),
        ] {
            let c = cookie_header("t.o.k", 60, CookieScope::of(url, req));
            assert!(c.contains(&format!("HttpOnly; {want} Max-Age=60")), "{url}: {c}");
        }
        let cleared = clear_cookie_headers(CookieScope::of("https://a.hf.space", Some(&framed)));
        assert_eq!(cleared.len(), 2);
        assert!(!cleared[0].contains("Partitioned") && cleared[1].contains("Partitioned"));
        assert_eq!(
            clear_cookie_headers(CookieScope::of("https://a.hf.space", None)).len(),
            1
        );
    }
}
