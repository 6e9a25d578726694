//! Percent-decoding of note paths in URL paths and `note:///` URIs — a security check, so strict:
//! decoded exactly once, then validated as a note path by the caller (so `%252e` stays the
//! literal text `%2e`, and an encoded `/`, `..` or NUL meets the same path rules as a plain
//! one); a malformed escape or bytes that are not UTF-8 are refused, never replaced. Query
//! strings are read by `vaultgate_shared::query`.

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
    }
}
