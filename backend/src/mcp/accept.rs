//! What an MCP POST may say in `Accept`. The MCP transport asks clients to list both
//! `application/json` and `text/event-stream`, and rmcp refuses anything else with 406; but
//! curl and hand-written clients send no `Accept` (or `*/*`), and this server answers JSON.
//! So a request that accepts JSON is passed to rmcp with the canonical `Accept`, and only an
//! `Accept` that excludes JSON is refused.

use http::HeaderMap;
use http::header::{ACCEPT, HeaderValue};

/// The `Accept` rmcp requires on a POST.
const CANONICAL: &str = "application/json, text/event-stream";

/// The message of the 406 for an `Accept` without JSON.
pub const NOT_ACCEPTABLE: &str = "this endpoint answers application/json: send \
     `Accept: application/json, text/event-stream` (or no Accept header at all)";

/// Makes the headers of an MCP POST acceptable to rmcp; `false` when the client's `Accept`
/// excludes JSON (answer 406).
pub fn admit(headers: &mut HeaderMap) -> bool {
    let values: Option<Vec<&str>> = headers.get_all(ACCEPT).iter().map(|v| v.to_str().ok()).collect();
    let json = match values {
        None => false,
        // No Accept header (RFC 9110 §12.5.1: the client accepts any media type).
        Some(v) if v.iter().all(|v| v.trim().is_empty()) => true,
        Some(v) => json_quality(&v) > 0,
    };
    if json {
        headers.insert(ACCEPT, HeaderValue::from_static(CANONICAL));
    }
    json
}

/// The weight `Accept` gives `application/json`, from its most specific matching range
/// (RFC 9110 §12.5.1: `application/json` over `application/*` over `*/*`); 0 when none matches.
/// Weights are in thousandths; a malformed weight counts as 1, as rmcp reads it.
fn json_quality(values: &[&str]) -> u16 {
    let mut best: Option<(u8, u16)> = None;
    for range in values.iter().flat_map(|v| v.split(',')) {
        let mut parts = range.split(';');
        let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let specificity = match essence.as_str() {
            "application/json" => 3,
            "application/*" => 2,
            "*/*" => 1,
            _ => continue,
        };
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(1000, |(_, v)| weight(v.trim()));
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q));
        }
    }
    best.map_or(0, |(_, q)| q)
}

/// An RFC 9110 `qvalue` in thousandths.
fn weight(v: &str) -> u16 {
    let (whole, fraction) = v.split_once('.').unwrap_or((v, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|c| c.is_ascii_digit()) {
        return 1000;
    }
    match whole {
        "0" => format!("{fraction:0<3}").parse().unwrap_or(1000),
        _ => 1000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_table() {
        let cases: &[(&[&str], bool)] = &[
            (&[], true),
            (&[""], true),
            (&["*/*"], true),
            (&["application/json"], true),
            (&["application/*"], true),
            (&["APPLICATION/JSON; charset=utf-8"], true),
            (&["application/json, text/event-stream"], true),
            (&["text/event-stream", "application/json"], true),
            (&["text/html, */*;q=0.1"], true),
            (&["application/json;q=0.001"], true),
            (&["application/json;q=abc"], true),
            (&["text/html"], false),
            (&["text/event-stream"], false),
            (&["application/xml, text/plain"], false),
            (&["application/json;q=0"], false),
            (&["application/json;q=0.000, */*"], false),
            (&["*/*;q=0"], false),
            (&["*/*;q=0, application/json;q=0.5"], true),
            (&["application/*;q=0, */*"], false),
        ];
        for (values, want) in cases {
            let mut h = HeaderMap::new();
            for v in *values {
                h.append(ACCEPT, HeaderValue::from_str(v).unwrap());
            }
            assert_eq!(admit(&mut h), *want, "{values:?}");
            if *want {
                assert_eq!(h.get_all(ACCEPT).iter().collect::<Vec<_>>(), [CANONICAL], "{values:?}");
            }
        }
    }

    #[test]
    fn an_accept_that_is_not_text_is_refused() {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, HeaderValue::from_bytes(b"application/json\xff").unwrap());
        assert!(!admit(&mut h));
    }
}
