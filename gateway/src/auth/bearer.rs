//! Where a credential may come from: exactly one `Authorization: Bearer` header, or —
//! for the web routes only — the gateway's own cookie. Never a query string.

use pingora::http::RequestHeader;

/// Name of the gateway's HttpOnly cookie carrying a gateway token for the web page.
pub const COOKIE_NAME: &str = "vaultgate_token";

/// A `Set-Cookie` value carrying `token` for `max_age_secs` (0 clears it). `SameSite=None;
/// Secure` because a Space is shown inside an iframe on huggingface.co.
pub fn cookie_header(token: &str, max_age_secs: u64) -> String {
    format!("{COOKIE_NAME}={token}; Path=/; HttpOnly; Secure; SameSite=None; Max-Age={max_age_secs}")
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
}
