//! HTML escaping, kept once: both programs write small pieces of HTML (the sign-in pages, the
//! rendered note's wikilinks, search snippets) from text that may be anyone's.

/// Escapes `s` for HTML element content and for single- or double-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_table() {
        for (raw, want) in [
            ("plain", "plain"),
            ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
            ("a & b", "a &amp; b"),
            (r#"" onload="x"#, "&quot; onload=&quot;x"),
            ("'single'", "&#39;single&#39;"),
            ("&amp;", "&amp;amp;"),
            ("é \u{1} ü", "é \u{1} ü"),
        ] {
            assert_eq!(escape(raw), want, "{raw:?}");
        }
    }
}
