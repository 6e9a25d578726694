//! Percent-decoding for URL paths, query strings and `note:///` URIs: decoded exactly once,
//! then validated by the caller (so `%252e` stays the literal text `%2e`).

/// Decodes `%XX` escapes (and `+` as space when `plus_is_space`). `None` for a bad escape or
/// for bytes that are not UTF-8.
pub fn decode(s: &str, plus_is_space: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = (*bytes.get(i + 1)? as char).to_digit(16)?;
                let lo = (*bytes.get(i + 2)? as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes a note path for a URI: everything but unreserved characters and `/` is escaped.
pub fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `key=value` pairs of a query string, decoded.
pub fn query_pairs(query: &str) -> Option<Vec<(String, String)>> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((decode(k, true)?, decode(v, true)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_once() {
        assert_eq!(decode("a%2Fb%20c", false).as_deref(), Some("a/b c"));
        assert_eq!(decode("%252e", false).as_deref(), Some("%2e"));
        assert_eq!(decode("a+b", true).as_deref(), Some("a b"));
        assert_eq!(decode("a+b", false).as_deref(), Some("a+b"));
        assert_eq!(decode("%zz", false), None);
        assert_eq!(decode("%e", false), None);
        assert_eq!(decode("%ff", false), None);
        assert_eq!(encode_path("a b/ü.md"), "a%20b/%C3%BC.md");
        assert_eq!(decode(&encode_path("a b/ü.md"), false).as_deref(), Some("a b/ü.md"));
        assert_eq!(
            query_pairs("q=a+b&tags=x%2Cy&e").unwrap(),
            vec![
                ("q".into(), "a b".into()),
                ("tags".into(), "x,y".into()),
                ("e".into(), String::new())
            ]
        );
    }
}
