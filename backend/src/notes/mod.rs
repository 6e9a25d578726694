//! What a note's text means: front matter, title, tags and wikilinks.

pub mod frontmatter;

use serde_json::{Map, Value};

use crate::vault::NotePath;

/// A note's text, read.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedNote {
    pub title: String,
    pub tags: Vec<String>,
    pub metadata: Map<String, Value>,
    pub body: String,
    /// Wikilink targets as written (`[[Target|alias]]` → `Target`), in order, deduplicated by key.
    pub links: Vec<String>,
}

/// Reads `text` as the note at `path`. Title: front matter `title`, else the first `# ` heading,
/// else the file stem. (A title passed to `write_note` is stored in the front matter first.)
pub fn parse(path: &NotePath, text: &str) -> ParsedNote {
    let split = frontmatter::split(text);
    let metadata = frontmatter::metadata(split.yaml);
    let body = if split.yaml.is_some() && frontmatter::is_valid(split.yaml.unwrap_or("")) {
        split.body
    } else {
        text
    };
    let title = metadata
        .get("title")
        .and_then(|v| match v {
            Value::String(s) => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .filter(|t| !t.is_empty())
        .or_else(|| first_heading(body))
        .unwrap_or_else(|| path.stem().to_owned());
    let tags = frontmatter::tags(&metadata);
    let mut links: Vec<String> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    for target in wikilinks(body) {
        let key = link_key(&target);
        if !key.is_empty() && !keys.contains(&key) {
            keys.push(key);
            links.push(target);
        }
    }
    ParsedNote {
        title,
        tags,
        metadata,
        body: body.to_owned(),
        links,
    }
}

/// The first ATX level-1 heading outside fenced code.
fn first_heading(body: &str) -> Option<String> {
    let mut fenced = false;
    for line in body.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        if !fenced && let Some(h) = line.strip_prefix("# ") {
            let h = h.trim().trim_end_matches('#').trim();
            if !h.is_empty() {
                return Some(h.to_owned());
            }
        }
    }
    None
}

/// Targets of `[[Target]]`, `[[Target|alias]]`, `[[Target#heading]]` (and `![[…]]` embeds).
pub fn wikilinks(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("[[") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("]]") else { break };
        let inner = &after[..end];
        if inner.contains('\n') || inner.contains("[[") {
            rest = &rest[start + 2..];
            continue;
        }
        let target = inner.split(['|', '#', '^']).next().unwrap_or("").trim();
        if !target.is_empty() {
            out.push(target.to_owned());
        }
        rest = &after[end + 2..];
    }
    out
}

/// How links and notes are matched: case-insensitive, surrounding spaces and `.md` ignored.
pub fn link_key(s: &str) -> String {
    let s = s.trim().trim_start_matches('/');
    let s = s.strip_suffix(".md").unwrap_or(s);
    s.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> NotePath {
        NotePath::parse(s).unwrap()
    }

    #[test]
    fn title_table() {
        let cases = [
            ("---\ntitle: From FM\n---\n# Heading\n", "From FM"),
            ("---\ntitle: 42\n---\nx", "42"),
            ("---\ntitle: ''\n---\n# Heading\n", "Heading"),
            ("intro\n# Heading one #\n# Two\n", "Heading one"),
            ("## Not level one\n#hashtag\n", "stem"),
            ("```\n# in code\n```\n# Real\n", "Real"),
            ("", "stem"),
            ("---\ntitle: [broken\n---\n# H\n", "H"),
        ];
        for (text, want) in cases {
            assert_eq!(parse(&p("dir/stem.md"), text).title, want, "{text:?}");
        }
    }

    #[test]
    fn invalid_front_matter_is_body() {
        let n = parse(&p("a.md"), "---\n: [\n---\nrest");
        assert_eq!(n.body, "---\n: [\n---\nrest");
        let n = parse(&p("a.md"), "---\ntags: [X]\n---\nrest");
        assert_eq!((n.body.as_str(), n.tags), ("rest", vec!["x".to_owned()]));
    }

    #[test]
    fn wikilink_table() {
        let cases: &[(&str, &[&str])] = &[
            ("see [[Target]]", &["Target"]),
            ("[[Target|alias]] and [[Other#Heading]]", &["Target", "Other"]),
            ("[[a/b.md]] ![[Embed]] [[Block^id]]", &["a/b.md", "Embed", "Block"]),
            ("[[ spaced ]] [[]] [[|x]]", &["spaced"]),
            ("[[broken\nacross]] [[ok]]", &["ok"]),
            ("[[unclosed", &[]),
            ("[[[[nested]]]]", &["nested"]),
        ];
        for (body, want) in cases {
            assert_eq!(wikilinks(body), *want, "{body:?}");
        }
        let n = parse(&p("x.md"), "[[A]] [[a]] [[A.md|x]] [[B]]");
        assert_eq!(n.links, ["A", "B"]);
        assert_eq!(link_key(" Foo/Bar.md "), "foo/bar");
    }
}
