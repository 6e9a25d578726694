//! What a note's text means: front matter, title, tags and wikilinks.

pub mod compose;
pub mod frontmatter;
pub mod limits;

use std::collections::HashSet;

use serde_json::{Map, Value};

use limits::MAX_LINKS;
pub use limits::NoteError;

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

/// Reads `text` as the note at `path`, refusing what breaks a limit of [`limits`]. Writes go
/// through this before anything reaches the disk. Title: front matter `title`, else the first
/// `# ` heading, else the file stem. (A title passed to `write_note` is stored in the front
/// matter first.) The caller checks the note's size first.
pub fn parse_checked(path: &NotePath, text: &str) -> Result<ParsedNote, NoteError> {
    read(path, text, true)
}

/// Reads `text` as the note at `path` without refusing anything: front matter that breaks a
/// limit is treated as part of the body, and links or tags past their cap are dropped. For files
/// already on disk (reads, reindex), which may predate a limit. Linear in the text's size.
pub fn parse(path: &NotePath, text: &str) -> ParsedNote {
    // Lenient reading refuses nothing; the fallback only keeps `parse` total without an unwrap.
    read(path, text, false).unwrap_or_else(|_| plain_text(path, text))
}

/// The note as plain text: no front matter, tags or links.
fn plain_text(path: &NotePath, text: &str) -> ParsedNote {
    ParsedNote {
        title: path.stem().to_owned(),
        tags: Vec::new(),
        metadata: Map::new(),
        body: text.to_owned(),
        links: Vec::new(),
    }
}

fn read(path: &NotePath, text: &str, strict: bool) -> Result<ParsedNote, NoteError> {
    let split = frontmatter::split(text);
    let (metadata, body) = match split.yaml.map(frontmatter::read) {
        None | Some(Ok(None)) => (Map::new(), text),
        Some(Ok(Some(m))) => (m, split.body),
        Some(Err(e)) if strict => return Err(e),
        Some(Err(_)) => (Map::new(), text),
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
    let (tags, too_many_tags) = frontmatter::tags(&metadata);
    if let Some(e) = too_many_tags.filter(|_| strict) {
        return Err(e);
    }
    let mut links: Vec<String> = Vec::new();
    let mut keys: HashSet<String> = HashSet::new();
    for target in wikilinks(body) {
        let key = link_key(&target);
        if key.is_empty() || keys.contains(&key) {
            continue;
        }
        if links.len() == MAX_LINKS {
            if strict {
                return Err(NoteError::TooManyLinks);
            }
            break;
        }
        keys.insert(key);
        links.push(target);
    }
    Ok(ParsedNote {
        title,
        tags,
        metadata,
        body: body.to_owned(),
        links,
    })
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
/// One pass: a link is the text between the last `[[` and the next `]]` on the same line, so
/// no byte is looked at twice however the brackets nest.
pub fn wikilinks(body: &str) -> Vec<String> {
    let bytes = body.as_bytes();
    let mut out = Vec::new();
    let mut open: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => open = None,
            b'[' if bytes.get(i + 1) == Some(&b'[') => {
                open = Some(i + 2);
                i += 2;
                continue;
            }
            b']' if bytes.get(i + 1) == Some(&b']') => {
                if let Some(start) = open.take() {
                    // Both ends are ASCII brackets, so the slice is on character boundaries.
                    let inner = &body[start..i];
                    let target = inner.split(['|', '#', '^']).next().unwrap_or("").trim();
                    if !target.is_empty() {
                        out.push(target.to_owned());
                    }
                    i += 2;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// How links and notes are matched: case-insensitive, surrounding spaces and `.md` ignored.
pub fn link_key(s: &str) -> String {
    let s = s.trim().trim_start_matches('/');
    let s = s.strip_suffix(".md").unwrap_or(s);
    s.trim().to_lowercase()
}

/// How tags are stored and matched: surrounding spaces and leading `#`s ignored, lowercased,
/// so `# Foo` written and `foo` searched are the same tag.
pub fn tag_key(s: &str) -> String {
    s.trim().trim_start_matches('#').trim().to_lowercase()
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

    /// A billion-laughs document: each level names the previous one ten times.
    fn laughs(levels: usize) -> String {
        let mut y = String::from("a0: &a0 [lol]\n");
        for i in 1..levels {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            y.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        y
    }

    #[test]
    fn hostile_front_matter_is_refused_by_writes_and_ignored_by_reads() {
        let path = p("h.md");
        let deep_flow = format!("k: {}{}\n", "[".repeat(40), "]".repeat(40));
        let deep_block: String = (0..40).map(|i| format!("{}k{i}:\n", "  ".repeat(i))).collect();
        let many_keys: String = (0..=limits::MAX_KEYS).map(|i| format!("k{i}: v\n")).collect();
        let nested_keys: String = (0..=limits::MAX_KEYS).map(|i| format!("  k{i}: v\n")).collect();
        let many_tags = format!(
            "tags: [{}]\n",
            (0..=limits::MAX_TAGS)
                .map(|i| format!("t{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let cases: Vec<(String, NoteError)> = vec![
            ("a: &x 1\nb: *x\n".into(), NoteError::YamlAnchor),
            (laughs(3), NoteError::YamlAnchor),
            (laughs(9), NoteError::YamlAnchor),
            ("a: &x [1]\nb: [*x, *x]\n".into(), NoteError::YamlAnchor),
            ("base: {x: 1}\n<<: {y: 2}\n".into(), NoteError::YamlMergeKey),
            ("m:\n  <<: {y: 2}\n".into(), NoteError::YamlMergeKey),
            ("a: !!str &x 1\n".into(), NoteError::YamlAnchor),
            ("? &k key\n: v\n".into(), NoteError::YamlAnchor),
            (deep_flow, NoteError::YamlTooDeep),
            (deep_block, NoteError::YamlTooDeep),
            (many_keys, NoteError::TooManyKeys),
            (format!("outer:\n{nested_keys}"), NoteError::TooManyKeys),
            (many_tags, NoteError::TooManyTags),
            (
                format!("t: \"{}\"\n", "x".repeat(limits::MAX_FRONT_MATTER_BYTES)),
                NoteError::FrontMatterTooLarge {
                    size: limits::MAX_FRONT_MATTER_BYTES + 6,
                },
            ),
        ];
        for (yaml, want) in cases {
            let text = format!("---\n{yaml}---\n# Body\n[[link]]\n");
            assert_eq!(parse_checked(&path, &text), Err(want), "{yaml:.80}");
            // Reading a file that already breaks a limit treats its front matter as text.
            let lenient = parse(&path, &text);
            if want == NoteError::TooManyTags {
                assert_eq!(lenient.tags.len(), limits::MAX_TAGS);
            } else {
                assert!(lenient.metadata.is_empty() && lenient.body == text, "{yaml:.80}");
            }
            assert_eq!(lenient.links, ["link"]);
        }
        // "<<" as a quoted key, '&' and '*' inside scalars, and exactly the limits are fine.
        let fine: String = (0..limits::MAX_KEYS - 1).map(|i| format!("k{i}: v\n")).collect();
        for yaml in [
            "\"<<\": 1\nq: 'a &b *c'\nr: a&b*c\n".to_owned(),
            format!("{fine}d: {}{}\n", "[".repeat(31), "]".repeat(31)),
        ] {
            let text = format!("---\n{yaml}---\nbody");
            assert!(parse_checked(&path, &text).is_ok(), "{yaml:.80}");
        }
    }

    #[test]
    fn hostile_bodies_parse_in_one_pass_and_links_are_capped() {
        let path = p("h.md");
        // Nested and unbalanced brackets: no link, or the innermost one.
        let nested = "[[".repeat(200_000);
        assert!(wikilinks(&nested).is_empty());
        let wrapped = format!("{}x{}", "[[".repeat(100_000), "]]".repeat(100_000));
        assert_eq!(wikilinks(&wrapped), ["x"]);
        // Exactly the cap, with duplicates by key, is accepted; one more distinct link is not.
        let at_cap: String = (0..MAX_LINKS).map(|i| format!("[[n{i}]] [[N{i}.md]] ")).collect();
        assert_eq!(parse_checked(&path, &at_cap).unwrap().links.len(), MAX_LINKS);
        let over = format!("{at_cap}[[one more]]");
        assert_eq!(parse_checked(&path, &over), Err(NoteError::TooManyLinks));
        assert_eq!(parse(&path, &over).links.len(), MAX_LINKS);
    }
}
