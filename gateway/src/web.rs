//! The web page people land on: static HTML, CSS and JavaScript compiled into the
//! binary (no build step, no CDN), served with headers that keep other sites from
//! scripting or framing it (only huggingface.co, which shows a Space in an iframe; never
//! another Space, which could frame the signed-in page to clickjack it).

use bytes::Bytes;

use crate::answer::Answer;

/// The page's security headers: only our own scripts and styles, framed only by Hugging Face.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; \
                   frame-ancestors 'self' https://huggingface.co";

const INDEX_HTML: &str = include_str!("../web/index.html");
const APP_JS: &str = include_str!("../web/app.js");
const APP_CSS: &str = include_str!("../web/app.css");
const ICON_SVG: &str = include_str!("../web/icon.svg");

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
    a.header("content-security-policy", CSP)
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
    fn page_has_no_external_scripts_or_inline_code() {
        for needle in ["http://", "https://", "<script>", "onclick=", "style=\""] {
            assert!(!INDEX_HTML.contains(needle), "index.html contains {needle}");
        }
    }
}
