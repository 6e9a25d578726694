//! Write preconditions: the `If-Match` header of the REST API (RFC 9110 §13.1.1) and the
//! `if_match` argument of the tools, as one condition on a note's current hash.

/// A note's ETag is its hash; this is what a write requires of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: the note must exist, whatever its content.
    Exists,
    /// The note's hash must be one of these (lower-case hex). Empty when every tag the client
    /// sent was weak: a weak tag never matches under strong comparison, so nothing does.
    OneOf(Vec<String>),
}

/// An `If-Match` header that is neither `*` nor a list of entity tags.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("If-Match must be * or a comma-separated list of entity tags such as \"<hash>\"")]
pub struct MalformedIfMatch;

/// Longest `If-Match` header read (a few hundred hashes); longer is malformed.
const MAX_HEADER: usize = 16 * 1024;

impl IfMatch {
    /// From a tool's or a JSON body's `if_match`: a hash as `read_note` gave it (ETag quotes and
    /// a `W/` prefix tolerated: this is not HTTP), or `*`. `None` when empty.
    pub fn hash(h: &str) -> Option<Self> {
        let h = h.trim().trim_start_matches("W/").trim_matches('"').to_ascii_lowercase();
        match h.as_str() {
            "" => None,
            "*" => Some(Self::Exists),
            _ => Some(Self::OneOf(vec![h])),
        }
    }

    /// From an HTTP `If-Match` header, compared strongly: `*`, or a list of entity tags where a
    /// weak tag (`W/"…"`) never matches. A bare hash without quotes is tolerated as a strong tag.
    pub fn header(value: &str) -> Result<Self, MalformedIfMatch> {
        if value.len() > MAX_HEADER {
            return Err(MalformedIfMatch);
        }
        let value = value.trim();
        if value == "*" {
            return Ok(Self::Exists);
        }
        let mut strong = Vec::new();
        let mut rest = value;
        loop {
            rest = rest.trim_start_matches([' ', '\t']);
            let (weak, tail) = match rest.strip_prefix("W/") {
                Some(t) => (true, t),
                None => (false, rest),
            };
            let (tag, after) = if let Some(quoted) = tail.strip_prefix('"') {
                let end = quoted.find('"').ok_or(MalformedIfMatch)?;
                (&quoted[..end], &quoted[end + 1..])
            } else if weak {
                return Err(MalformedIfMatch);
            } else {
                // Only a bare hash (letters and digits) is tolerated without quotes.
                let end = tail.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(tail.len());
                (&tail[..end], &tail[end..])
            };
            // etagc: visible ASCII except the quote (obs-text is not something we ever send).
            if tag.is_empty() || !tag.bytes().all(|c| c.is_ascii_graphic() && c != b'"') {
                return Err(MalformedIfMatch);
            }
            if !weak {
                strong.push(tag.to_ascii_lowercase());
            }
            let after = after.trim_start_matches([' ', '\t']);
            match after.strip_prefix(',') {
                Some(more) if !more.trim().is_empty() => rest = more,
                Some(_) => return Err(MalformedIfMatch),
                None if after.is_empty() => return Ok(Self::OneOf(strong)),
                None => return Err(MalformedIfMatch),
            }
        }
    }

    /// True when a note with hash `current` (`None`: no such note) satisfies the condition.
    pub fn holds(&self, current: Option<&str>) -> bool {
        match (self, current) {
            (_, None) => false,
            (Self::Exists, Some(_)) => true,
            (Self::OneOf(tags), Some(cur)) => tags.iter().any(|t| t == cur),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "ab12";

    #[test]
    fn header_table() {
        let one = |t: &str| Ok(IfMatch::OneOf(vec![t.to_owned()]));
        let cases: &[(&str, Result<IfMatch, MalformedIfMatch>)] = &[
            ("*", Ok(IfMatch::Exists)),
            (" * ", Ok(IfMatch::Exists)),
            ("\"ab12\"", one(H)),
            ("\"AB12\"", one(H)),
            ("ab12", one(H)),
            ("W/\"ab12\"", Ok(IfMatch::OneOf(vec![]))),
            ("W/\"ab12\", \"cd34\"", one("cd34")),
            (
                "\"x\",\"ab12\" ,  \"y\"",
                Ok(IfMatch::OneOf(vec!["x".into(), H.into(), "y".into()])),
            ),
            ("", Err(MalformedIfMatch)),
            ("\"ab12", Err(MalformedIfMatch)),
            ("\"\"", Err(MalformedIfMatch)),
            ("\"a\" \"b\"", Err(MalformedIfMatch)),
            ("\"a\",", Err(MalformedIfMatch)),
            (",\"a\"", Err(MalformedIfMatch)),
            ("W/ab12", Err(MalformedIfMatch)),
            ("*, \"a\"", Err(MalformedIfMatch)),
            ("\"a\u{7f}\"", Err(MalformedIfMatch)),
        ];
        for (value, want) in cases {
            assert_eq!(&IfMatch::header(value), want, "{value:?}");
        }
        assert_eq!(IfMatch::header(&"\"a\",".repeat(10_000)), Err(MalformedIfMatch));
    }

    #[test]
    fn strong_comparison_and_star() {
        let cases: &[(&str, Option<&str>, bool)] = &[
            ("\"ab12\"", Some(H), true),
            ("\"cd34\"", Some(H), false),
            ("\"cd34\", \"ab12\"", Some(H), true),
            ("W/\"ab12\"", Some(H), false),
            ("\"ab12\"", None, false),
            ("*", Some(H), true),
            ("*", None, false),
        ];
        for (value, current, want) in cases {
            assert_eq!(
                IfMatch::header(value).unwrap().holds(*current),
                *want,
                "{value:?} {current:?}"
            );
        }
    }

    #[test]
    fn tool_hashes_are_lenient() {
        assert_eq!(IfMatch::hash(""), None);
        assert_eq!(IfMatch::hash("*"), Some(IfMatch::Exists));
        for h in ["ab12", "\"AB12\"", "W/\"ab12\""] {
            assert_eq!(IfMatch::hash(h), Some(IfMatch::OneOf(vec![H.into()])), "{h}");
        }
    }
}
