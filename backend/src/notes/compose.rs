//! A note's new text, composed from what a write or an edit asks for. Pure: no files, no index,
//! no locks — the service reads the current text, calls these, and stores the result.
//!
//! Front matter is kept verbatim except for the keys a write names (see [`frontmatter::update`]),
//! so a user's own YAML, comments and key order survive every write and edit.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{NoteError, frontmatter, tag_key};

/// SHA-256 hex of a note's bytes: its hash, `ETag` and `if_match` value.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `edit_note`'s operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EditOp {
    /// Add `text` at the end of the note.
    Append,
    /// Add `text` at the start of the body (after any front matter).
    Prepend,
    /// Replace the one occurrence of `find` in the body with `text`.
    ReplaceText,
}

/// Why a note's new text could not be composed. Nothing has been written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    /// The given front matter breaks a note limit (counted and audited by the caller).
    #[error("{0}")]
    Note(NoteError),
    /// An argument the caller must change.
    #[error("{0}")]
    BadRequest(String),
}

/// The fields of a write besides its body; each replaces just its own front-matter key.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fields<'a> {
    pub title: Option<&'a str>,
    pub tags: Option<&'a [String]>,
    pub metadata: Option<&'a Map<String, Value>>,
}

/// The text of a written note.
///
/// When `body` has its own (valid) front matter it is used as written; otherwise `existing`'s
/// front matter is kept and `body` is the whole body. `fields` then replace just their keys
/// (`metadata` first, then `title`, then `tags`, normalised by [`tag_key`]).
pub fn write(existing: Option<&str>, body: &str, fields: Fields<'_>) -> Result<String, ComposeError> {
    let given = frontmatter::split(body);
    let given_yaml = match given.yaml.map(frontmatter::read) {
        Some(Err(e)) => return Err(ComposeError::Note(e)),
        Some(Ok(Some(_))) => given.yaml,
        _ => None,
    };
    let (base_yaml, body) = match given_yaml {
        Some(y) => (Some(y.to_owned()), given.body),
        None => (
            existing.and_then(|t| frontmatter::split(t).yaml.map(str::to_owned)),
            body,
        ),
    };
    let mut set: Vec<(String, Value)> = Vec::new();
    let mut put = |k: &str, v: Value| {
        set.retain(|(key, _)| key != k);
        set.push((k.to_owned(), v));
    };
    if let Some(meta) = fields.metadata {
        for (k, v) in meta {
            if k.trim().is_empty() || k.contains(['\n', '\r']) {
                return Err(ComposeError::BadRequest(
                    "metadata keys must be non-empty single-line text".into(),
                ));
            }
            put(k, v.clone());
        }
    }
    if let Some(t) = fields.title {
        if t.contains(['\n', '\r']) {
            return Err(ComposeError::BadRequest("title must be a single line".into()));
        }
        put("title", Value::String(t.trim().to_owned()));
    }
    if let Some(tags) = fields.tags {
        let clean: Vec<Value> = tags
            .iter()
            .map(|t| tag_key(t))
            .filter(|t| !t.is_empty())
            .map(Value::String)
            .collect();
        put("tags", Value::Array(clean));
    }
    let yaml = match (&base_yaml, set.is_empty()) {
        (base, true) => base.clone(),
        (base, false) => Some(frontmatter::update(base.as_deref().unwrap_or(""), &set, &[])),
    };
    Ok(frontmatter::join(yaml.as_deref(), body))
}

/// The text of `content` after `op`; front matter (when valid) is kept as it is. `path` names the
/// note in messages. The error is the message of a bad request.
pub fn edit(content: &str, op: EditOp, text: &str, find: Option<&str>, path: &str) -> Result<String, String> {
    let split = frontmatter::split(content);
    let (yaml, body) = match split.yaml {
        Some(y) if frontmatter::is_valid(y) => (Some(y), split.body),
        _ => (None, content),
    };
    let new_body = match op {
        EditOp::Append => {
            let sep = if body.is_empty() || body.ends_with('\n') {
                ""
            } else {
                "\n"
            };
            format!("{body}{sep}{text}")
        }
        EditOp::Prepend => {
            let sep = if text.ends_with('\n') || body.is_empty() {
                ""
            } else {
                "\n"
            };
            format!("{text}{sep}{body}")
        }
        EditOp::ReplaceText => {
            let find = find
                .filter(|f| !f.is_empty())
                .ok_or_else(|| "replace_text needs a non-empty 'find' text".to_owned())?;
            match body.matches(find).count() {
                1 => body.replacen(find, text, 1),
                0 => {
                    return Err(format!(
                        "the text to find does not occur in the body of '{path}'; read the note and copy the exact text"
                    ));
                }
                n => {
                    return Err(format!(
                        "the text to find occurs {n} times in '{path}'; include more surrounding text so it occurs once"
                    ));
                }
            }
        }
    };
    Ok(match yaml {
        Some(y) => format!("---\n{y}---\n{new_body}"),
        None => new_body,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// (existing text, body, title, tags, metadata, expected text)
    type WriteCase<'a> = (
        Option<&'a str>,
        &'a str,
        Option<&'a str>,
        Option<&'a [String]>,
        Option<&'a Map<String, Value>>,
        &'a str,
    );
    /// (content, op, text, find, expected text or part of the refusal)
    type EditCase = (
        String,
        EditOp,
        &'static str,
        Option<&'static str>,
        Result<String, &'static str>,
    );

    #[test]
    fn content_hash_is_sha256_hex() {
        let cases: [(&[u8], &str); 2] = [
            (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            (
                b"abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
        ];
        for (bytes, hash) in cases {
            assert_eq!(content_hash(bytes), hash);
        }
    }

    #[test]
    fn write_composition_table() {
        let tags = ["Rust".to_owned(), "#Work/Deep".to_owned(), "  ".to_owned()];
        let meta = json!({"status": "draft"}).as_object().cloned().unwrap();
        // (existing text, body, title, tags, metadata, expected text)
        let cases: Vec<WriteCase<'_>> = vec![
            (None, "hello\n", None, None, None, "hello\n"),
            // The existing note's front matter is kept when the body has none.
            (
                Some("---\nkeep: 1\n---\nold\n"),
                "new\n",
                None,
                None,
                None,
                "---\nkeep: 1\n---\nnew\n",
            ),
            // The body's own front matter wins over the existing one.
            (
                Some("---\nkeep: 1\n---\nold\n"),
                "---\nmine: 2\n---\nnew\n",
                None,
                None,
                None,
                "---\nmine: 2\n---\nnew\n",
            ),
            // A title is trimmed and set; other keys stay as written.
            (
                Some("---\n# mine\nkeep: 1\n---\nold\n"),
                "b\n",
                Some("  T  "),
                None,
                None,
                "---\n# mine\nkeep: 1\ntitle: T\n---\nb\n",
            ),
            // Tags go through the one normaliser; empty ones are dropped.
            (
                None,
                "b\n",
                None,
                Some(&tags),
                None,
                "---\ntags:\n- rust\n- work/deep\n---\nb\n",
            ),
            (None, "b\n", None, None, Some(&meta), "---\nstatus: draft\n---\nb\n"),
        ];
        for (existing, body, title, tags, metadata, want) in cases {
            let got = write(existing, body, Fields { title, tags, metadata });
            assert_eq!(got.as_deref(), Ok(want), "{existing:?} + {body:?}");
        }
    }

    #[test]
    fn write_refusals_table() {
        let bad_key = json!({" ": 1}).as_object().cloned().unwrap();
        let cases: Vec<(&str, Fields<'_>, &str)> = vec![
            (
                "b",
                Fields {
                    title: Some("a\nb"),
                    ..Fields::default()
                },
                "title must be a single line",
            ),
            (
                "b",
                Fields {
                    metadata: Some(&bad_key),
                    ..Fields::default()
                },
                "metadata keys must be non-empty single-line text",
            ),
        ];
        for (body, fields, msg) in cases {
            assert_eq!(write(None, body, fields), Err(ComposeError::BadRequest(msg.into())));
        }
        let huge = format!(
            "---\nk: {}\n---\nb",
            "x".repeat(super::super::limits::MAX_FRONT_MATTER_BYTES)
        );
        assert!(matches!(
            write(None, &huge, Fields::default()),
            Err(ComposeError::Note(_))
        ));
    }

    #[test]
    fn edit_composition_table() {
        let fm = "---\nk: v\n---\n";
        // (content, op, text, find, expected)
        let cases: Vec<EditCase> = vec![
            ("a".into(), EditOp::Append, "b", None, Ok("a\nb".into())),
            ("a\n".into(), EditOp::Append, "b", None, Ok("a\nb".into())),
            ("".into(), EditOp::Append, "b", None, Ok("b".into())),
            ("a".into(), EditOp::Prepend, "b", None, Ok("b\na".into())),
            ("a".into(), EditOp::Prepend, "b\n", None, Ok("b\na".into())),
            (format!("{fm}a"), EditOp::Prepend, "b", None, Ok(format!("{fm}b\na"))),
            (
                format!("{fm}x y"),
                EditOp::ReplaceText,
                "z",
                Some("y"),
                Ok(format!("{fm}x z")),
            ),
            // Only the body is searched: front matter never matches.
            (
                format!("{fm}x"),
                EditOp::ReplaceText,
                "z",
                Some("k: v"),
                Err("does not occur"),
            ),
            ("x x".into(), EditOp::ReplaceText, "z", Some("x"), Err("occurs 2 times")),
            ("x".into(), EditOp::ReplaceText, "z", Some(""), Err("non-empty 'find'")),
            ("x".into(), EditOp::ReplaceText, "z", None, Err("non-empty 'find'")),
        ];
        for (content, op, text, find, want) in cases {
            let got = edit(&content, op, text, find, "n.md");
            match want {
                Ok(w) => assert_eq!(got, Ok(w), "{op:?} on {content:?}"),
                Err(part) => assert!(
                    got.as_ref().is_err_and(|e| e.contains(part)),
                    "{op:?} on {content:?}: {got:?}"
                ),
            }
        }
    }
}
