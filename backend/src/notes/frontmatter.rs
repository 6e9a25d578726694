//! YAML front matter: split it off, read it, and change only the fields we manage while
//! keeping every other line exactly as written.

use std::collections::HashSet;

use saphyr_parser::{Event, ScalarStyle};
use serde_json::{Map, Value};

use super::limits::{MAX_FRONT_MATTER_BYTES, MAX_KEYS, MAX_TAGS, MAX_YAML_DEPTH, NoteError};

/// A note split into its front matter (the YAML text between the fences) and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split<'a> {
    /// The YAML between the `---` fences, without them; `None` when there is no front matter.
    pub yaml: Option<&'a str>,
    /// Everything after the closing fence (or the whole text).
    pub body: &'a str,
}

/// Splits `text` at a leading `---` … `---` (or `...`) block.
pub fn split(text: &str) -> Split<'_> {
    let no = Split { yaml: None, body: text };
    let first_len = if text.starts_with("---\n") {
        4
    } else if text.starts_with("---\r\n") {
        5
    } else {
        return no;
    };
    let rest = &text[first_len..];
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        let trimmed = line.trim_end_matches(['\n', '\r']);
        if trimmed == "---" || trimmed == "..." {
            return Split {
                yaml: Some(&rest[..offset]),
                body: &rest[offset + line.len()..],
            };
        }
        offset += line.len();
    }
    no
}

/// Reads front matter: `Ok(Some(map))` for a YAML mapping (or empty text), `Ok(None)` for text
/// that is not a YAML mapping (kept as part of the body), `Err` for front matter refused by a
/// limit. The size is checked first, then one pass of a YAML event parser refuses anchors,
/// aliases, merge keys, deep nesting and too many keys; only then is the text deserialized, so
/// the value built is never larger than the text.
pub fn read(yaml: &str) -> Result<Option<Map<String, Value>>, NoteError> {
    if yaml.len() > MAX_FRONT_MATTER_BYTES {
        return Err(NoteError::FrontMatterTooLarge { size: yaml.len() });
    }
    if yaml.trim().is_empty() {
        return Ok(Some(Map::new()));
    }
    if !scan(yaml)? {
        return Ok(None);
    }
    match serde_norway::from_str::<Value>(yaml) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        _ => Ok(None),
    }
}

/// One frame of the scan: a mapping (which alternates keys and values) or a list.
struct Frame {
    mapping: bool,
    next_is_key: bool,
}

/// Walks the YAML events once. `Ok(false)` when the text is not YAML or its root is not a
/// mapping; stops at the first refusal, so nothing past a limit is even read.
fn scan(yaml: &str) -> Result<bool, NoteError> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut keys = 0usize;
    let mut root_seen = false;
    for event in saphyr_parser::Parser::new_from_str(yaml) {
        let Ok((event, _)) = event else { return Ok(false) };
        let (anchor, opens, is_merge) = match &event {
            Event::Alias(_) => return Err(NoteError::YamlAlias),
            Event::Scalar(v, style, anchor, _) => (*anchor, None, *style == ScalarStyle::Plain && v == "<<"),
            Event::SequenceStart(anchor, _) => (*anchor, Some(false), false),
            Event::MappingStart(anchor, _) => (*anchor, Some(true), false),
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop();
                continue;
            }
            _ => continue,
        };
        if anchor != 0 {
            return Err(NoteError::YamlAnchor);
        }
        match stack.last_mut() {
            None if root_seen => return Ok(false),
            None => {
                root_seen = true;
                if opens != Some(true) {
                    return Ok(false);
                }
            }
            Some(top) if top.mapping => {
                if top.next_is_key {
                    keys += 1;
                    if keys > MAX_KEYS {
                        return Err(NoteError::TooManyKeys);
                    }
                    if is_merge {
                        return Err(NoteError::YamlMergeKey);
                    }
                }
                top.next_is_key = !top.next_is_key;
            }
            Some(_) => {}
        }
        if let Some(mapping) = opens {
            if stack.len() >= MAX_YAML_DEPTH {
                return Err(NoteError::YamlTooDeep);
            }
            stack.push(Frame {
                mapping,
                next_is_key: true,
            });
        }
    }
    Ok(true)
}

/// The front matter as a JSON object; empty when absent, not a YAML mapping, or refused.
pub fn metadata(yaml: Option<&str>) -> Map<String, Value> {
    yaml.and_then(|y| read(y).ok().flatten()).unwrap_or_default()
}

/// True when the YAML text is a mapping we could read (or empty) within the limits.
pub fn is_valid(yaml: &str) -> bool {
    matches!(read(yaml), Ok(Some(_)))
}

/// Tags from a `tags` (or `tag`) field: a list or a comma/space-separated string;
/// lowercased, leading `#` dropped, deduplicated, in first-seen order. More than
/// [`MAX_TAGS`] distinct tags is an error; the first [`MAX_TAGS`] are returned with it.
pub fn tags(meta: &Map<String, Value>) -> (Vec<String>, Option<NoteError>) {
    let mut out: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut over = false;
    let raw = meta.get("tags").or_else(|| meta.get("tag"));
    let mut push = |s: &str| {
        let t = super::tag_key(s);
        if over || t.is_empty() || seen.contains(&t) {
            return;
        }
        if out.len() == MAX_TAGS {
            over = true;
            return;
        }
        seen.insert(t.clone());
        out.push(t);
    };
    match raw {
        Some(Value::Array(items)) => {
            for i in items {
                match i {
                    Value::String(s) => push(s),
                    Value::Number(n) => push(&n.to_string()),
                    Value::Bool(b) => push(&b.to_string()),
                    _ => {}
                }
            }
        }
        Some(Value::String(s)) => s.split([',', ' ']).for_each(&mut push),
        Some(Value::Number(n)) => push(&n.to_string()),
        _ => {}
    }
    (out, over.then_some(NoteError::TooManyTags))
}

/// Top-level keys of a YAML mapping written as `key:` at column 0 (what we may replace).
fn top_level_key(line: &str) -> Option<&str> {
    if line.starts_with([' ', '\t', '-', '#']) {
        return None;
    }
    let (key, _) = line.split_once(':')?;
    let key = key.trim().trim_matches(['"', '\'']);
    (!key.is_empty()).then_some(key)
}

/// Returns `yaml` with each key in `set` replaced by (or added as) its new value, and each key in
/// `remove` dropped. Lines of other keys, comments and ordering are kept verbatim.
pub fn update(yaml: &str, set: &[(String, Value)], remove: &[&str]) -> String {
    let mut out = String::new();
    let mut skipping = false;
    let touched = |k: &str| set.iter().any(|(s, _)| s == k) || remove.contains(&k);
    for line in yaml.split_inclusive('\n') {
        if let Some(key) = top_level_key(line) {
            skipping = touched(key);
        } else if !(line.starts_with([' ', '\t', '-']) || line.trim().is_empty()) {
            skipping = false;
        }
        if !skipping {
            out.push_str(line);
        }
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for (key, value) in set {
        let mut one = Map::new();
        one.insert(key.clone(), value.clone());
        // Serializing a JSON value to YAML cannot fail.
        let text = serde_norway::to_string(&Value::Object(one)).unwrap_or_default();
        out.push_str(&text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// Joins front matter and body into a note's text.
pub fn join(yaml: Option<&str>, body: &str) -> String {
    match yaml {
        Some(y) if !y.trim().is_empty() => {
            let nl = if y.ends_with('\n') { "" } else { "\n" };
            format!("---\n{y}{nl}---\n{body}")
        }
        _ => body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn split_table() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("no front matter", None, "no front matter"),
            ("---\ntitle: A\n---\nbody", Some("title: A\n"), "body"),
            ("---\r\ntitle: A\r\n---\r\nbody", Some("title: A\r\n"), "body"),
            ("---\ntitle: A\n...\nbody", Some("title: A\n"), "body"),
            ("---\n---\nbody", Some(""), "body"),
            (
                "---\ntitle: A\nno closing fence",
                None,
                "---\ntitle: A\nno closing fence",
            ),
            (" ---\ntitle: A\n---\n", None, " ---\ntitle: A\n---\n"),
            ("---\na: 1\n---", Some("a: 1\n"), ""),
            ("----\na: 1\n---\n", None, "----\na: 1\n---\n"),
        ];
        for (text, yaml, body) in cases {
            let s = split(text);
            assert_eq!((s.yaml, s.body), (*yaml, *body), "{text:?}");
        }
    }

    #[test]
    fn tags_table() {
        let cases = [
            (json!({"tags": ["Rust", "#web", "rust"]}), vec!["rust", "web"]),
            (json!({"tags": "a, B #c"}), vec!["a", "b", "c"]),
            (json!({"tag": "Solo"}), vec!["solo"]),
            (json!({"tags": ["# Foo", "##foo"]}), vec!["foo"]),
            (json!({"tags": [1, true, {"x": 1}]}), vec!["1", "true"]),
            (json!({"tags": null}), vec![]),
            (json!({}), vec![]),
        ];
        for (meta, want) in cases {
            let m = meta.as_object().unwrap().clone();
            assert_eq!(tags(&m), (want.iter().map(|t| t.to_string()).collect(), None), "{meta}");
        }
    }

    #[test]
    fn metadata_reads_yaml_and_tolerates_garbage() {
        let m = metadata(Some("title: Hello\ncount: 3\nnested:\n  a: [1, 2]\n"));
        assert_eq!(
            Value::Object(m),
            json!({"title": "Hello", "count": 3, "nested": {"a": [1, 2]}})
        );
        assert!(metadata(Some("- just\n- a list\n")).is_empty());
        assert!(metadata(Some(": : :\n  bad: [")).is_empty());
        assert!(metadata(None).is_empty());
    }

    #[test]
    fn update_keeps_other_lines_verbatim() {
        let yaml =
            "# my comment\ntitle: Old\nauthor:   \"Ada\"   # keep spacing\ntags:\n  - a\n  - b\ncustom: {x: 1}\n";
        let out = update(
            yaml,
            &[("title".into(), json!("New")), ("tags".into(), json!(["c"]))],
            &[],
        );
        assert_eq!(
            out,
            "# my comment\nauthor:   \"Ada\"   # keep spacing\ncustom: {x: 1}\ntitle: New\ntags:\n- c\n"
        );
        let out = update("a: 1\nb: 2", &[], &["a"]);
        assert_eq!(out, "b: 2\n");
        let out = update("", &[("title".into(), json!("x: y"))], &[]);
        assert_eq!(metadata(Some(&out)).get("title"), Some(&json!("x: y")));
    }

    #[test]
    fn join_round_trips() {
        let text = join(Some("title: A\n"), "body\n");
        assert_eq!(text, "---\ntitle: A\n---\nbody\n");
        let s = split(&text);
        assert_eq!((s.yaml, s.body), (Some("title: A\n"), "body\n"));
        assert_eq!(join(None, "b"), "b");
        assert_eq!(join(Some(""), "b"), "b");
    }
}
