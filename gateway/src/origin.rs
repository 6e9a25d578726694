//! Browser origins: a request carrying `Origin` must come from an allowed one
//! (MCP 2025-11-25 requires 403 otherwise; it also stops cross-site use of the cookie).

/// The allowed origins, normalised (scheme://host[:port], no trailing slash, lower case).
#[derive(Debug, Clone)]
pub struct Origins {
    allowed: Vec<String>,
}

impl Origins {
    /// From the configured list (`ALLOWED_ORIGINS`, default the public URL).
    pub fn new(list: &[String]) -> Self {
        Self {
            allowed: list.iter().map(|o| normalise(o)).collect(),
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

/// True for a state-changing request without an `Origin` header. Browsers send `Origin` on
/// every unsafe request, so a browser-session request lacking it cannot prove where it came
/// from (CSRF): the cookie-authenticated API and the local sign-in both refuse it.
pub fn unsafe_without_origin(req: &pingora::http::RequestHeader) -> bool {
    !req.method.is_safe() && !req.headers.contains_key(http::header::ORIGIN)
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
        let o = Origins::new(&["https://me-vault.hf.space".into(), "http://localhost:7860".into()]);
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
}
