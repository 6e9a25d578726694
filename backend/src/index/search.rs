//! Turning what a person or a model types into a safe FTS5 expression, and running it.
//!
//! Supported: words (all must match), `"exact phrases"`, `prefix*`, and `OR` between terms.
//! Every term is quoted by us, so no user text is ever parsed as FTS5 syntax.

use rusqlite::{Connection, params_from_iter, types::Value as SqlValue};

use crate::vault::Folder;

/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 1000;
/// Most terms in one query.
pub const MAX_TERMS: usize = 32;
/// Largest `limit`.
pub const MAX_LIMIT: usize = 100;
/// Most tag filters in one search.
pub const MAX_TAG_FILTERS: usize = 32;
/// Longest tag filter, in characters.
pub const MAX_TAG_CHARS: usize = 200;

/// Why a query cannot be run; the message tells the caller how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the search query is empty; give one or more words")]
    Empty,
    #[error("the search query is longer than {MAX_QUERY_CHARS} characters")]
    TooLong,
    #[error("the search query has more than {MAX_TERMS} terms")]
    TooManyTerms,
    #[error("the search query has an unclosed double quote; close the phrase with '\"'")]
    UnclosedQuote,
    #[error("the search query has no searchable words (only punctuation)")]
    NothingSearchable,
    #[error("'OR' must stand between two terms")]
    DanglingOr,
    #[error("the search query may not contain control or NUL characters")]
    ControlCharacter,
    #[error("a search may filter by at most {MAX_TAG_FILTERS} tags")]
    TooManyTags,
    #[error("a tag filter is longer than {MAX_TAG_CHARS} characters")]
    TagTooLong,
    #[error("tag filters may not contain control or NUL characters")]
    TagControlCharacter,
}

/// The tag filters as stored tags look (trimmed, no leading `#`, lowercase), checked: at most
/// [`MAX_TAG_FILTERS`], each short and free of control characters. Empty ones are dropped.
pub fn tag_filters(tags: &[String]) -> Result<Vec<String>, QueryError> {
    if tags.len() > MAX_TAG_FILTERS {
        return Err(QueryError::TooManyTags);
    }
    let mut out = Vec::with_capacity(tags.len());
    for t in tags {
        if t.chars().any(char::is_control) {
            return Err(QueryError::TagControlCharacter);
        }
        if t.chars().count() > MAX_TAG_CHARS {
            return Err(QueryError::TagTooLong);
        }
        let t = crate::notes::tag_key(t);
        if !t.is_empty() && !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Term { text: String, prefix: bool },
    Or,
}

fn searchable(s: &str) -> bool {
    s.chars().any(char::is_alphanumeric)
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Builds the FTS5 expression for `query` over the `title` and `body` columns.
pub fn to_fts(query: &str) -> Result<String, QueryError> {
    if query.len() > 4 * MAX_QUERY_CHARS || query.chars().count() > MAX_QUERY_CHARS {
        return Err(QueryError::TooLong);
    }
    // Tabs and line breaks are spaces to a person; every other control character is refused.
    if query
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(QueryError::ControlCharacter);
    }
    let mut tokens = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '"' {
            chars.next();
            let mut text = String::new();
            let mut closed = false;
            for c in chars.by_ref() {
                if c == '"' {
                    closed = true;
                    break;
                }
                text.push(c);
            }
            if !closed {
                return Err(QueryError::UnclosedQuote);
            }
            let prefix = chars.peek() == Some(&'*');
            if prefix {
                chars.next();
            }
            tokens.push(Token::Term { text, prefix });
            continue;
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || c == '"' {
                break;
            }
            word.push(c);
            chars.next();
        }
        if word == "OR" {
            tokens.push(Token::Or);
        } else if word != "AND" {
            let prefix = word.ends_with('*');
            let text = word.trim_end_matches('*').to_owned();
            tokens.push(Token::Term { text, prefix });
        }
    }
    // Drop terms the tokenizer would turn into nothing (they would match nothing or everything).
    tokens.retain(|t| match t {
        Token::Term { text, .. } => searchable(text),
        Token::Or => true,
    });
    let terms = tokens.iter().filter(|t| matches!(t, Token::Term { .. })).count();
    if terms == 0 {
        return Err(if query.trim().is_empty() {
            QueryError::Empty
        } else {
            QueryError::NothingSearchable
        });
    }
    if terms > MAX_TERMS {
        return Err(QueryError::TooManyTerms);
    }
    let mut parts = Vec::new();
    let mut prev_or = true;
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Token::Or => {
                let next_is_term = matches!(tokens.get(i + 1), Some(Token::Term { .. }));
                if prev_or || !next_is_term {
                    return Err(QueryError::DanglingOr);
                }
                parts.push("OR".to_owned());
                prev_or = true;
            }
            Token::Term { text, prefix } => {
                parts.push(format!("{}{}", quote(text), if *prefix { "*" } else { "" }));
                prev_or = false;
            }
        }
    }
    Ok(format!("{{title body}} : ({})", parts.join(" ")))
}

/// One search result, best first.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchHit {
    pub path: String,
    pub title: String,
    /// A piece of the body around the matches as plain text (Markdown syntax stripped).
    pub snippet: String,
    /// The same text HTML-escaped, with the matched terms in `<mark>`…`</mark>` and no other tag.
    pub snippet_html: String,
    /// Relevance, higher is better (the negated FTS5 bm25 rank, title weighted 5×).
    pub score: f64,
    pub tags: Vec<String>,
}

/// What to search for.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub query: String,
    pub tags: Vec<String>,
    pub folder: Folder,
    pub limit: usize,
}

const MARK_OPEN: &str = "\u{1}";
const MARK_CLOSE: &str = "\u{2}";
const MARK_OPEN_CHAR: char = '\u{1}';
const MARK_CLOSE_CHAR: char = '\u{2}';

/// Escapes HTML, then turns the sentinel markers into `<mark>` tags.
fn render_snippet(raw: &str) -> String {
    vaultgate_shared::html::escape(raw)
        .replace(MARK_OPEN, "<mark>")
        .replace(MARK_CLOSE, "</mark>")
}

/// Runs a search for `user`. Errors here are SQLite failures, never user syntax.
///
/// Two steps: rank every match and keep the best `limit` (no snippets yet), then build snippets
/// for just those rows, so a common word does not pay for thousands of snippets.
pub fn search(conn: &Connection, user: &str, req: &SearchRequest, fts: &str) -> rusqlite::Result<Vec<SearchHit>> {
    let mut sql = String::from(
        "SELECT n.id, n.path, n.title, n.tags, bm25(notes_fts, 5.0, 1.0) AS rank
         FROM notes_fts JOIN notes n ON n.id = notes_fts.rowid
         WHERE notes_fts MATCH ?1 AND n.user_id = ?2",
    );
    let expr = fts.to_owned();
    let mut args: Vec<SqlValue> = vec![SqlValue::Text(expr.clone()), SqlValue::Text(user.to_owned())];
    if !req.folder.as_str().is_empty() {
        let prefix = format!("{}/", req.folder.as_str());
        args.push(SqlValue::Integer(prefix.chars().count() as i64));
        args.push(SqlValue::Text(prefix));
        sql.push_str(&format!(
            " AND substr(n.path, 1, ?{}) = ?{}",
            args.len() - 1,
            args.len()
        ));
    }
    for tag in &req.tags {
        args.push(SqlValue::Text(tag.clone()));
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM tags t WHERE t.note_id = n.id AND t.user_id = ?2 AND t.tag = ?{})",
            args.len()
        ));
    }
    args.push(SqlValue::Integer(req.limit.clamp(1, MAX_LIMIT) as i64));
    sql.push_str(&format!(" ORDER BY rank ASC, n.path ASC LIMIT ?{}", args.len()));
    let mut stmt = conn.prepare_cached(&sql)?;
    let ranked = stmt
        .query_map(params_from_iter(args), |r| {
            let tags: String = r.get(3)?;
            let rank: f64 = r.get(4)?;
            Ok((
                r.get::<_, i64>(0)?,
                SearchHit {
                    path: r.get(1)?,
                    title: r.get(2)?,
                    tags: serde_json::from_str(&tags).unwrap_or_default(),
                    snippet: String::new(),
                    snippet_html: String::new(),
                    score: -rank,
                },
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut snip = conn.prepare_cached(
        "SELECT snippet(notes_fts, 1, ?3, ?4, '…', 24) FROM notes_fts WHERE notes_fts MATCH ?1 AND rowid = ?2",
    )?;
    ranked
        .into_iter()
        .map(|(id, mut hit)| {
            let raw: String = snip
                .query_row(
                    params_from_iter([
                        SqlValue::Text(expr.clone()),
                        SqlValue::Integer(id),
                        SqlValue::Text(MARK_OPEN.to_owned()),
                        SqlValue::Text(MARK_CLOSE.to_owned()),
                    ]),
                    |r| r.get(0),
                )
                .unwrap_or_default();
            let text = crate::render::plain::strip(&raw);
            hit.snippet = text.replace([MARK_OPEN_CHAR, MARK_CLOSE_CHAR], "");
            hit.snippet_html = render_snippet(&text);
            Ok(hit)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_table() {
        let ok = [
            ("rust", r#"{title body} : ("rust")"#),
            ("rust async", r#"{title body} : ("rust" "async")"#),
            ("\"exact phrase\" word", r#"{title body} : ("exact phrase" "word")"#),
            ("pre*", r#"{title body} : ("pre"*)"#),
            ("\"two words\"*", r#"{title body} : ("two words"*)"#),
            ("a OR b", r#"{title body} : ("a" OR "b")"#),
            ("a AND b", r#"{title body} : ("a" "b")"#),
            ("NOT x", r#"{title body} : ("NOT" "x")"#),
            ("col:umn", r#"{title body} : ("col:umn")"#),
            ("a-b (c) ^d", r#"{title body} : ("a-b" "(c)" "^d")"#),
            ("or and not near", r#"{title body} : ("or" "and" "not" "near")"#),
            ("NEAR(a b)", r#"{title body} : ("NEAR(a" "b)")"#),
            ("x \"\" y", r#"{title body} : ("x" "y")"#),
            ("{title}: x", r#"{title body} : ("{title}:" "x")"#),
            ("ünïcode 日本", r#"{title body} : ("ünïcode" "日本")"#),
        ];
        for (q, want) in ok {
            assert_eq!(to_fts(q).as_deref(), Ok(want), "{q:?}");
        }
        let bad = [
            ("", QueryError::Empty),
            ("   ", QueryError::Empty),
            ("\"open", QueryError::UnclosedQuote),
            ("*** ---", QueryError::NothingSearchable),
            ("OR a", QueryError::DanglingOr),
            ("a OR", QueryError::DanglingOr),
            ("a OR OR b", QueryError::DanglingOr),
        ];
        for (q, want) in bad {
            assert_eq!(to_fts(q), Err(want), "{q:?}");
        }
        assert_eq!(to_fts(&"a".repeat(1001)), Err(QueryError::TooLong));
        assert_eq!(to_fts(&"é".repeat(1001)), Err(QueryError::TooLong));
        for q in ["a\0b", "\0", "x\u{1b}[31m", "a\u{7f}", "a\u{85}b"] {
            assert_eq!(to_fts(q), Err(QueryError::ControlCharacter), "{q:?}");
        }
        assert!(to_fts("tab\tand\nnewline").is_ok());
        assert_eq!(to_fts(&"w ".repeat(33)), Err(QueryError::TooManyTerms));
    }

    #[test]
    fn tag_filter_table() {
        let v = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(tag_filters(&v(&[" #Rust", "rust", "", "web"])), Ok(v(&["rust", "web"])));
        // Searched exactly as stored: `# Foo` in front matter is the tag `foo`.
        assert_eq!(tag_filters(&v(&["# Foo", "##foo ", "#  Bar"])), Ok(v(&["foo", "bar"])));
        let many: Vec<String> = (0..=MAX_TAG_FILTERS).map(|i| format!("t{i}")).collect();
        assert_eq!(tag_filters(&many), Err(QueryError::TooManyTags));
        assert_eq!(
            tag_filters(&many[..MAX_TAG_FILTERS]).map(|t| t.len()),
            Ok(MAX_TAG_FILTERS)
        );
        assert_eq!(tag_filters(&v(&["a\0b"])), Err(QueryError::TagControlCharacter));
        assert_eq!(tag_filters(&v(&["x\n"])), Err(QueryError::TagControlCharacter));
        assert_eq!(tag_filters(&["t".repeat(201)]), Err(QueryError::TagTooLong));
    }

    #[test]
    fn snippet_is_escaped_and_marked() {
        assert_eq!(
            render_snippet("<b>x</b> \u{1}hit\u{2} & 'q'"),
            "&lt;b&gt;x&lt;/b&gt; <mark>hit</mark> &amp; &#39;q&#39;"
        );
    }
}
