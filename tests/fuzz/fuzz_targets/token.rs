//! Token parsing and checking: `Authorization` header extraction (`gateway/src/auth/bearer.rs`),
//! the JWT header peek (`shared/src/jwt.rs`) and full verification (`gateway/src/auth/jwt.rs`).
//! Input: the header value, then an optional `\n` and a query string. A forged token must never
//! verify; verification must answer the same twice (the second answer comes from the cache).
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use pingora::http::RequestHeader;
use vaultgate_gateway::auth::bearer;
use vaultgate_gateway::auth::jwt::TokenKeys;
use vaultgate_shared::config::Secret;
use vaultgate_shared::jwt::peek_header;

const ISSUER: &str = "http://localhost:7860";

fn keys() -> &'static TokenKeys {
    static KEYS: OnceLock<TokenKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let current = Secret::new("fuzz-current-key-0123456789abcdef0123456789");
        let previous = Secret::new("fuzz-previous-key-0123456789abcdef012345678");
        TokenKeys::new(&current, Some(&previous), ISSUER, Duration::from_secs(3600))
    })
}

fuzz_target!(|data: &[u8]| {
    let (value, query) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    if let Ok(token) = std::str::from_utf8(value) {
        let _ = peek_header(token, 8192);
        let first = keys().verify(token).map(|v| (v.user.as_str().to_owned(), v.jti));
        let second = keys().verify(token).map(|v| (v.user.as_str().to_owned(), v.jti));
        assert_eq!(
            first.is_ok(),
            second.is_ok(),
            "verify disagrees with its cache for {token:?}"
        );
        if let (Ok(a), Ok(b)) = (&first, &second) {
            assert_eq!(a, b);
        }
    }
    let mut uri = b"/mcp".to_vec();
    if !query.is_empty() {
        uri.push(b'?');
        uri.extend_from_slice(query);
    }
    let Ok(mut req) = RequestHeader::build("POST", &uri, None) else {
        return;
    };
    let Ok(header) = http::HeaderValue::from_bytes(value) else {
        return;
    };
    if req.append_header(http::header::AUTHORIZATION, header.clone()).is_err() {
        return;
    }
    let _ = req.append_header(http::header::COOKIE, header);
    for allow_cookie in [false, true] {
        if let Ok(c) = bearer::extract(&req, allow_cookie) {
            let t = c.token();
            assert!(!t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()), "{t:?}");
            if let Ok(v) = keys().verify(t) {
                // Only tokens signed with one of our keys verify; the fuzzer cannot sign.
                assert!(!v.jti.is_empty());
            }
        }
    }
});
