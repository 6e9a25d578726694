//! YAML front matter: split it off, read it, and change only the fields we manage while
//! keeping every other line exactly as written.

use serde_json::{Map, Value};

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

/// The front matter as a JSON object; empty when absent or not a YAML mapping.
pub fn metadata(yaml: Option<&str>) -> Map<String, Value> {
    let Some(yaml) = yaml else { return Map::new() };
    if yaml.trim().is_empty() {
        return Map::new();
    }
    match serde_norway::from_str::<Value>(yaml) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// True when the YAML text is a mapping we could read (or empty).
pub fn is_valid(yaml: &str) -> bool {
    yaml.trim().is_empty() || matches!(serde_norway::from_str::<Value>(yaml), Ok(Value::Object(_)))
}

/// Tags from a `tags` (or `tag`) field: a list or a comma/space-separated string;
/// lowercased, leading `#` dropped, deduplicated, in first-seen order.
pub fn tags(meta: &Map<String, Value>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let raw = meta.get("tags").or_else(|| meta.get("tag"));
    let mut push = |s: &str| {
        let t = s.trim().trim_start_matches('#').trim().to_lowercase();
        if !t.is_empty() && !out.contains(&t) {
            out.push(t);
        }
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
    out
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
            (json!({"tags": [1, true, {"x": 1}]}), vec!["1", "true"]),
            (json!({"tags": null}), vec![]),
            (json!({}), vec![]),
        ];
        for (meta, want) in cases {
            let m = meta.as_object().unwrap().clone();
            assert_eq!(tags(&m), want, "{meta}");
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
