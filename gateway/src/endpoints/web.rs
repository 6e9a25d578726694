//! The web page people land on: static HTML, CSS and JavaScript compiled into the
//! binary (no build step, no CDN), served with headers that keep other sites from
//! scripting or framing it (only the origins in `FRAME_ANCESTORS`, by default huggingface.co,
//! which shows a Space in an iframe; never another Space, which could frame the signed-in page
//! to clickjack it). Notes are shown as the backend's sanitised HTML; the policy below is what
//! keeps a script that slipped through from running (no inline script, no other origin).

use std::sync::OnceLock;

use bytes::Bytes;

use crate::answer::Answer;

/// The page's policy up to `frame-ancestors`: only our own scripts and styles.
const CSP_BASE: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
                        connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; \
                        frame-ancestors 'self'";

/// `FRAME_ANCESTORS`' default: Hugging Face shows a Space inside an iframe on its own site.
pub const DEFAULT_FRAME_ANCESTORS: &str = "https://huggingface.co";

/// The full policy, set once at start from `FRAME_ANCESTORS`.
static CSP: OnceLock<String> = OnceLock::new();

/// Why a `FRAME_ANCESTORS` entry is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "FRAME_ANCESTORS: '{0}' is not an origin (scheme://host[:port], http or https, no wildcard, path or quote); \
     use 'none' to let no other site frame the page"
)]
pub struct BadFrameAncestor(pub String);

/// The CSP for a list of framing origins (`none` alone: only the page itself).
pub fn csp_for(ancestors: &[String]) -> Result<String, BadFrameAncestor> {
    let list: Vec<&str> = ancestors.iter().map(|a| a.trim()).filter(|a| !a.is_empty()).collect();
    let mut csp = CSP_BASE.to_owned();
    if list == ["none"] {
        return Ok(csp);
    }
    for a in list {
        let origin = a.trim_end_matches('/');
        if !is_origin(origin) {
            return Err(BadFrameAncestor(a.to_owned()));
        }
        csp.push(' ');
        csp.push_str(&origin.to_ascii_lowercase());
    }
    Ok(csp)
}

/// `http(s)://host[:port]` with a plain host name, IPv4 or bracketed IPv6: nothing that could
/// widen the directive (`*`, `'…'`) or end it (`;`, `,`, spaces).
fn is_origin(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")) else {
        return false;
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && (!h.starts_with('[') || h.ends_with(']')) => (h, Some(p)),
        _ => (rest, None),
    };
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !v6.is_empty() && v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        !host.is_empty()
            && !host.starts_with('.')
            && !host.starts_with('-')
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok_and(|n| n > 0));
    host_ok && port_ok
}

/// Sets the page's policy from `FRAME_ANCESTORS` (the first call wins; unset: the default).
pub fn set_frame_ancestors(ancestors: &[String]) -> Result<(), BadFrameAncestor> {
    let csp = csp_for(ancestors)?;
    let _ = CSP.set(csp);
    Ok(())
}

fn csp() -> &'static str {
    CSP.get_or_init(|| csp_for(&[DEFAULT_FRAME_ANCESTORS.to_owned()]).unwrap_or_else(|_| CSP_BASE.to_owned()))
}

const INDEX_HTML: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const APP_CSS: &str = include_str!("../../web/app.css");
const ICON_SVG: &str = include_str!("../../web/icon.svg");

/// The static file at `path`, with its content type.
pub fn asset(path: &str) -> Option<(&'static str, &'static str)> {
    match path {
        "/" | "/index.html" => Some(("text/html; charset=utf-8", INDEX_HTML)),
        "/static/app.js" => Some(("text/javascript; charset=utf-8", APP_JS)),
        "/static/app.css" => Some(("text/css; charset=utf-8", APP_CSS)),
        "/static/icon.svg" | "/favicon.ico" => Some(("image/svg+xml", ICON_SVG)),
        _ => None,
    }
}

/// Adds the page's security headers to a response.
pub fn secure(a: Answer) -> Answer {
    a.header("content-security-policy", csp())
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
}

/// Answers a GET for a static file (404 for an unknown one, 405 for other methods).
pub fn serve(method: &http::Method, path: &str) -> Answer {
    if method != http::Method::GET && method != http::Method::HEAD {
        return Answer::error(405, "method_not_allowed", "use GET", None).header("allow", "GET");
    }
    match asset(path) {
        Some((ctype, body)) => secure(Answer::raw(200, ctype, Bytes::from_static(body.as_bytes()))),
        None => Answer::error(404, "not_found", "no such file", None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_table() {
        assert!(asset("/").is_some_and(|(t, b)| t.starts_with("text/html") && b.contains("app.js")));
        assert!(asset("/static/app.js").is_some());
        assert!(asset("/static/app.css").is_some());
        for p in [
            "/static/",
            "/static/../Cargo.toml",
            "/static/app.js/",
            "/static/APP.JS",
            "/index.htm",
        ] {
            assert!(asset(p).is_none(), "{p}");
        }
    }

    #[test]
    fn only_huggingface_may_frame_the_page() {
        let a = serve(&http::Method::GET, "/");
        let csp = a.header_value("content-security-policy").unwrap();
        let frame = csp
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("frame-ancestors"))
            .unwrap();
        assert_eq!(frame, "frame-ancestors 'self' https://huggingface.co");
        assert!(!csp.contains("hf.space"));
    }

    #[test]
    fn frame_ancestors_table() {
        let frame = |list: &[&str]| {
            csp_for(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .map(|c| c.rsplit_once("frame-ancestors ").unwrap().1.to_owned())
        };
        assert_eq!(
            frame(&["https://huggingface.co"]).unwrap(),
            "'self' https://huggingface.co"
        );
        assert_eq!(frame(&["none"]).unwrap(), "'self'");
        assert_eq!(frame(&[]).unwrap(), "'self'");
        assert_eq!(
            frame(&["http://127.0.0.1:41234", " https://Example.org/ "]).unwrap(),
            "'self' http://127.0.0.1:41234 https://example.org"
        );
        assert_eq!(frame(&["http://[::1]:8080"]).unwrap(), "'self' http://[::1]:8080");
        for bad in [
            "*",
            "https://*.hf.space",
            "huggingface.co",
            "https:",
            "https://",
            "https://a.b/path",
            "https://a.b; script-src *",
            "'unsafe-inline'",
            "https://a.b:0",
            "https://a.b:99999",
            "javascript://x",
            "data:",
            "https://a b",
            "https://.a",
            "none none",
        ] {
            assert!(frame(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn page_has_no_external_scripts_or_inline_code() {
        for needle in [
            "http://",
            "https://",
            "<script>",
            "onclick=",
            "onload=",
            "style=\"",
            "javascript:",
        ] {
            assert!(!INDEX_HTML.contains(needle), "index.html contains {needle}");
        }
    }
}
