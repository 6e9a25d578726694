//! Browser origins: a request carrying `Origin` must come from an allowed one
//! (MCP 2025-11-25 requires 403 otherwise). A request authenticated by the cookie is held to
//! more: an unsafe one must carry an `Origin` that is the public URL's (or one listed
//! explicitly — `ALLOWED_ORIGINS=*` opens the door to bearer clients, never to the cookie),
//! and a body in JSON, which a cross-site HTML form cannot send.

use crate::answer::Answer;

/// The allowed origins, normalised (scheme://host[:port], no trailing slash, lower case).
#[derive(Debug, Clone)]
pub struct Origins {
    allowed: Vec<String>,
    /// Origins a cookie-authenticated unsafe request may come from: the public URL's and the
    /// explicitly listed ones (`*` is not an origin).
    cookie: Vec<String>,
}

/// Why a cookie-authenticated (browser) request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserRefusal {
    /// An unsafe method without `Origin`.
    OriginRequired,
    /// An unsafe method from an origin that is not this gateway's.
    ForeignOrigin,
    /// A body that is not `application/json` (what HTML forms send cross-site).
    NotJson,
}

impl BrowserRefusal {
    /// The answer: 403 for the origin, 415 for the body.
    pub fn answer(self) -> Answer {
        match self {
            BrowserRefusal::OriginRequired => Answer::error(
                403,
                "origin_required",
                "requests authenticated by cookie must carry an Origin header",
                None,
            ),
            BrowserRefusal::ForeignOrigin => Answer::error(
                403,
                "forbidden_origin",
                "requests authenticated by cookie must come from this gateway's own page",
                None,
            ),
            BrowserRefusal::NotJson => Answer::error(
                415,
                "unsupported_media_type",
                "send the body as Content-Type: application/json",
                None,
            ),
        }
    }
}

impl Origins {
    /// From the configured list (`ALLOWED_ORIGINS`, default the public URL) and the public URL.
    pub fn new(list: &[String], public_url: &str) -> Self {
        let allowed: Vec<String> = list.iter().map(|o| normalise(o)).collect();
        let mut cookie: Vec<String> = allowed.iter().filter(|o| *o != "*").cloned().collect();
        cookie.push(normalise(public_url));
        Self { allowed, cookie }
    }

    /// Checks a request authenticated by the cookie: safe methods pass; an unsafe one needs
    /// this gateway's `Origin` and, when it has a body, a JSON one.
    pub fn check_browser_request(&self, req: &pingora::http::RequestHeader) -> Result<(), BrowserRefusal> {
        if req.method.is_safe() {
            return Ok(());
        }
        let Some(origin) = req.headers.get(http::header::ORIGIN) else {
            return Err(BrowserRefusal::OriginRequired);
        };
        let o = std::str::from_utf8(origin.as_bytes())
            .map(normalise)
            .unwrap_or_default();
        if !self.cookie.contains(&o) {
            return Err(BrowserRefusal::ForeignOrigin);
        }
        let has_body = req.headers.contains_key(http::header::TRANSFER_ENCODING)
            || req
                .headers
                .get(http::header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0");
        match req.headers.get(http::header::CONTENT_TYPE) {
            Some(ct) if !is_json(ct.as_bytes()) => Err(BrowserRefusal::NotJson),
            None if has_body => Err(BrowserRefusal::NotJson),
            _ => Ok(()),
        }
    }

    /// True when `origin` (the header's value) is allowed.
    pub fn allows(&self, origin: &[u8]) -> bool {
        let Ok(text) = std::str::from_utf8(origin) else {
            return false;
        };
        let o = normalise(text);
        self.allowed.iter().any(|a| a == "*" || *a == o)
    }
}

/// True for `application/json` or an `application/…+json` type, parameters ignored.
fn is_json(ct: &[u8]) -> bool {
    let media = ct.split(|&b| b == b';').next().unwrap_or(b"").trim_ascii();
    media.eq_ignore_ascii_case(b"application/json")
        || (media.len() > 17
            && media[..12].eq_ignore_ascii_case(b"application/")
            && media[media.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

fn normalise(o: &str) -> String {
    let o = o.trim().trim_end_matches('/').to_ascii_lowercase();
    // A default port is the same origin as none.
    if let Some(h) = o.strip_prefix("https://").and_then(|h| h.strip_suffix(":443")) {
        return format!("https://{h}");
    }
    if let Some(h) = o.strip_prefix("http://").and_then(|h| h.strip_suffix(":80")) {
        return format!("http://{h}");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_table() {
        let o = Origins::new(
            &["https://me-vault.hf.space".into(), "http://localhost:7860".into()],
            "https://me-vault.hf.space",
        );
        for ok in [
            "https://me-vault.hf.space",
            "HTTPS://ME-VAULT.HF.SPACE",
            "https://me-vault.hf.space:443",
            "http://localhost:7860",
        ] {
            assert!(o.allows(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "null",
            "",
            "http://me-vault.hf.space",
            "https://me-vault.hf.space.evil",
            "http://localhost:7861",
        ] {
            assert!(!o.allows(bad.as_bytes()), "{bad}");
        }
        assert!(!o.allows(&[0xff]));
    }

    fn browser_req(method: &str, headers: &[(&str, &str)]) -> pingora::http::RequestHeader {
        let mut r = pingora::http::RequestHeader::build(method, b"/api/notes/a.md", None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    #[test]
    fn browser_request_table() {
        use BrowserRefusal::*;
        let star = Origins::new(&["*".into()], "https://me-vault.hf.space");
        let listed = Origins::new(
            &["https://me-vault.hf.space".into(), "https://editor.example".into()],
            "https://me-vault.hf.space",
        );
        const ME: (&str, &str) = ("origin", "https://me-vault.hf.space");
        const EVIL: (&str, &str) = ("origin", "https://evil.example");
        const JSON: (&str, &str) = ("content-type", "application/json; charset=utf-8");
        type Case<'a> = (
            &'a Origins,
            &'a str,
            Vec<(&'a str, &'a str)>,
            Result<(), BrowserRefusal>,
        );
        let cases: Vec<Case> = vec![
            (&star, "GET", vec![EVIL], Ok(())),
            (&star, "POST", vec![], Err(OriginRequired)),
            (&star, "POST", vec![EVIL, JSON], Err(ForeignOrigin)),
            (&star, "DELETE", vec![("origin", "null")], Err(ForeignOrigin)),
            (&star, "POST", vec![ME, JSON, ("content-length", "2")], Ok(())),
            (&star, "POST", vec![ME], Ok(())),
            (&star, "POST", vec![ME, ("content-length", "0")], Ok(())),
            (
                &star,
                "PUT",
                vec![ME, ("content-type", "text/plain"), ("content-length", "2")],
                Err(NotJson),
            ),
            (
                &star,
                "POST",
                vec![ME, ("content-type", "application/x-www-form-urlencoded")],
                Err(NotJson),
            ),
            (
                &star,
                "POST",
                vec![ME, ("content-type", "multipart/form-data; boundary=x")],
                Err(NotJson),
            ),
            (&star, "POST", vec![ME, ("content-length", "5")], Err(NotJson)),
            (&star, "POST", vec![ME, ("transfer-encoding", "chunked")], Err(NotJson)),
            (
                &star,
                "POST",
                vec![ME, ("content-type", "application/merge-patch+json")],
                Ok(()),
            ),
            (
                &star,
                "POST",
                vec![ME, ("content-type", "application/jsonx")],
                Err(NotJson),
            ),
            (&listed, "PUT", vec![("origin", "https://editor.example"), JSON], Ok(())),
            (&listed, "PUT", vec![EVIL, JSON], Err(ForeignOrigin)),
        ];
        for (origins, method, headers, want) in cases {
            assert_eq!(
                origins.check_browser_request(&browser_req(method, &headers)),
                want,
                "{method} {headers:?}"
            );
        }
    }
}
