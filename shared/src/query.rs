//! Query strings, read one way by both programs: `application/x-www-form-urlencoded` pairs
//! (`form_urlencoded`, `+` is a space), each name and value decoded exactly once.
//!
//! Stricter than `form_urlencoded` alone, which keeps a malformed escape (`%zz`) as text and
//! replaces bytes that are not UTF-8 with U+FFFD: a query that says something other than what
//! its sender meant is refused (answered 400), not guessed at. So a decoded U+FFFD is refused
//! too, whether it came from bad bytes or was sent on purpose.

/// A query string that is not well-formed percent-encoded UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the query string is not valid percent-encoded UTF-8")]
pub struct MalformedQuery;

/// A parsed query string: its pairs in order (a name may repeat).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parses `query` (the part after `?`, without it); empty pairs (`a=1&&b=2`) are skipped.
    pub fn parse(query: &str) -> Result<Self, MalformedQuery> {
        if !escapes_are_well_formed(query.as_bytes()) {
            return Err(MalformedQuery);
        }
        form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| {
                if k.contains('\u{FFFD}') || v.contains('\u{FFFD}') {
                    Err(MalformedQuery)
                } else {
                    Ok((k.into_owned(), v.into_owned()))
                }
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// The first value of `name` (possibly empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every pair, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

/// Every name in `query`, decoded leniently (a malformed escape kept as text, bad bytes as
/// U+FFFD), even when the query is malformed: for checks that one bad escape elsewhere in the
/// query must not get around.
pub fn names(query: &str) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
    form_urlencoded::parse(query.as_bytes()).map(|(k, _)| k)
}

/// True when every `%` starts a two-hex-digit escape.
fn escapes_are_well_formed(b: &[u8]) -> bool {
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            match (b.get(i + 1), b.get(i + 2)) {
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i += 3,
                _ => return false,
            }
        } else {
            i += 1;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let ok = |v: &[(&str, &str)]| Ok(Query(v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()));
        let cases: &[(&str, Result<Query, MalformedQuery>)] = &[
            ("", ok(&[])),
            ("q=a+b&tags=x%2Cy&e", ok(&[("q", "a b"), ("tags", "x,y"), ("e", "")])),
            ("a=1&&b=2&", ok(&[("a", "1"), ("b", "2")])),
            ("k=%252e", ok(&[("k", "%2e")])),
            ("k=a%2Fb%00c", ok(&[("k", "a/b\0c")])),
            ("k=%C3%BC&k=2", ok(&[("k", "ü"), ("k", "2")])),
            ("k=a=b", ok(&[("k", "a=b")])),
            ("%6B=v", ok(&[("k", "v")])),
            ("k=%zz", Err(MalformedQuery)),
            ("k=%e", Err(MalformedQuery)),
            ("k=%", Err(MalformedQuery)),
            ("k=%ff", Err(MalformedQuery)),
            ("%ff=v", Err(MalformedQuery)),
            ("k=%C3", Err(MalformedQuery)),
            ("k=%EF%BF%BD", Err(MalformedQuery)),
        ];
        for (q, want) in cases {
            assert_eq!(&Query::parse(q), want, "{q:?}");
        }
        let all: Vec<_> = names("%74oken=1&x=%zz&a+b").collect();
        assert_eq!(all, ["token", "x", "a b"]);
        let q = Query::parse("top=5&top=7").unwrap();
        assert_eq!((q.get("top"), q.get("nope")), (Some("5"), None));
    }
}
