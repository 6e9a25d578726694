//! Browser origins: a request carrying `Origin` must come from an allowed one
//! (MCP 2025-11-25 requires 403 otherwise). A request authenticated by the cookie is held to
//! more: an unsafe one must carry an `Origin` that is the public URL's (or one listed
//! explicitly — `ALLOWED_ORIGINS=*` opens the door to bearer clients, never to the cookie),
//! and a body in JSON, which a cross-site HTML form cannot send. One exception: the page's
//! import (`POST /api/import`) uploads a zip as `application/zip` — no form can send that type
//! either (it is not CORS-safelisted) — with a declared length of at most [`IMPORT_MAX_BYTES`].

/// The allowed origins, normalised (scheme://host[:port], no trailing slash, lower case).
#[derive(Debug, Clone)]
pub struct Origins {
    allowed: Vec<String>,
    /// Origins a cookie-authenticated unsafe request may come from: the public URL's and the
    /// explicitly listed ones (`*` is not an origin).
    cookie: Vec<String>,
}

/// Why a cookie-authenticated (browser) request was refused (its answer: `Refusal::Browser`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserRefusal {
    /// An unsafe method without `Origin`.
    OriginRequired,
    /// An unsafe method from an origin that is not this gateway's.
    ForeignOrigin,
    /// A body that is not `application/json` (what HTML forms send cross-site).
    NotJson,
    /// An import zip without a `Content-Length` (the cap is checked before forwarding).
    LengthRequired,
    /// An import zip larger than [`IMPORT_MAX_BYTES`].
    TooLarge,
}

/// The page's import route, the only one that takes a non-JSON body from the cookie.
pub const IMPORT_PATH: &str = "/api/import";

/// Largest import zip the page may upload: the backend's default cap (50 MiB), defined once in `shared`.
pub use vaultgate_shared::limits::IMPORT_MAX_BYTES;

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
            Some(ct) if is_zip(ct.as_bytes()) && req.method == http::Method::POST && req.uri.path() == IMPORT_PATH => {
                import_length(req)
            }
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

/// The declared length of an import zip, within [`IMPORT_MAX_BYTES`]: one `Content-Length`,
/// no chunked body (whose size nobody can check before it is forwarded).
fn import_length(req: &pingora::http::RequestHeader) -> Result<(), BrowserRefusal> {
    if req.headers.contains_key(http::header::TRANSFER_ENCODING) {
        return Err(BrowserRefusal::LengthRequired);
    }
    let mut lengths = req.headers.get_all(http::header::CONTENT_LENGTH).iter();
    let (Some(len), None) = (lengths.next(), lengths.next()) else {
        return Err(BrowserRefusal::LengthRequired);
    };
    let len: u64 = std::str::from_utf8(len.as_bytes())
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .ok_or(BrowserRefusal::LengthRequired)?;
    if len > IMPORT_MAX_BYTES {
        return Err(BrowserRefusal::TooLarge);
    }
    Ok(())
}

/// True for `application/zip` (parameters ignored).
fn is_zip(ct: &[u8]) -> bool {
    let media = ct.split(|&b| b == b';').next().unwrap_or(b"").trim_ascii();
    media.eq_ignore_ascii_case(b"application/zip")
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
        browser_req_at(method, "/api/notes/a.md", headers)
    }

    fn browser_req_at(method: &str, path: &str, headers: &[(&str, &str)]) -> pingora::http::RequestHeader {
        let mut r = pingora::http::RequestHeader::build(method, path.as_bytes(), None).unwrap();
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

    #[test]
    fn import_zip_table() {
        use BrowserRefusal::*;
        let o = Origins::new(&[], "https://me-vault.hf.space");
        const ME: (&str, &str) = ("origin", "https://me-vault.hf.space");
        const ZIP: (&str, &str) = ("content-type", "application/zip");
        let max = IMPORT_MAX_BYTES.to_string();
        let over = (IMPORT_MAX_BYTES + 1).to_string();
        type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Result<(), BrowserRefusal>);
        let cases: Vec<Case> = vec![
            ("POST", "/api/import", vec![ME, ZIP, ("content-length", "22")], Ok(())),
            (
                "POST",
                "/api/import?overwrite=true",
                vec![ME, ZIP, ("content-length", "22")],
                Ok(()),
            ),
            (
                "POST",
                "/api/import",
                vec![ME, ("content-type", "Application/Zip; x=y"), ("content-length", &max)],
                Ok(()),
            ),
            (
                "POST",
                "/api/import",
                vec![ME, ZIP, ("content-length", &over)],
                Err(TooLarge),
            ),
            (
                "POST",
                "/api/import",
                vec![ME, ZIP, ("content-length", "99999999999999999999999")],
                Err(LengthRequired),
            ),
            (
                "POST",
                "/api/import",
                vec![ME, ZIP, ("content-length", "-1")],
                Err(LengthRequired),
            ),
            ("POST", "/api/import", vec![ME, ZIP], Err(LengthRequired)),
            (
                "POST",
                "/api/import",
                vec![ME, ZIP, ("transfer-encoding", "chunked")],
                Err(LengthRequired),
            ),
            (
                "POST",
                "/api/import",
                vec![ME, ZIP, ("content-length", "5"), ("content-length", "5")],
                Err(LengthRequired),
            ),
            (
                "POST",
                "/api/import",
                vec![ZIP, ("content-length", "22")],
                Err(OriginRequired),
            ),
            (
                "POST",
                "/api/import",
                vec![("origin", "https://evil.example"), ZIP, ("content-length", "22")],
                Err(ForeignOrigin),
            ),
            // Only the import route, only POST, only the zip type.
            (
                "PUT",
                "/api/import",
                vec![ME, ZIP, ("content-length", "22")],
                Err(NotJson),
            ),
            (
                "POST",
                "/api/notes/a.md",
                vec![ME, ZIP, ("content-length", "22")],
                Err(NotJson),
            ),
            (
                "POST",
                "/api/import/",
                vec![ME, ZIP, ("content-length", "22")],
                Err(NotJson),
            ),
            (
                "POST",
                "/api/importx",
                vec![ME, ZIP, ("content-length", "22")],
                Err(NotJson),
            ),
            ("POST", "/mcp", vec![ME, ZIP, ("content-length", "22")], Err(NotJson)),
            (
                "POST",
                "/api/import",
                vec![
                    ME,
                    ("content-type", "application/x-zip-compressed"),
                    ("content-length", "22"),
                ],
                Err(NotJson),
            ),
            (
                "POST",
                "/api/import",
                vec![
                    ME,
                    ("content-type", "multipart/form-data; boundary=x"),
                    ("content-length", "22"),
                ],
                Err(NotJson),
            ),
        ];
        for (method, path, headers, want) in cases {
            assert_eq!(
                o.check_browser_request(&browser_req_at(method, path, &headers)),
                want,
                "{method} {path} {headers:?}"
            );
        }
        use crate::refusal::Refusal;
        assert_eq!(Refusal::Browser(TooLarge).status(), 413);
        assert_eq!(Refusal::Browser(LengthRequired).status(), 411);
    }
}
