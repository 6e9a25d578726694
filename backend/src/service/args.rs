//! Checks of an operation's arguments that need neither the vault nor the index: sizes and
//! counts (before any parsing, so every parse is linear in a capped input), page sizes, cursors
//! and `if_match` conditions. Pure.

use super::ServiceError;
use crate::index;
use crate::notes::NoteError;
use crate::notes::limits::{MAX_KEYS, MAX_TAGS};
use crate::precondition::IfMatch;
use crate::vault::NotePath;

/// Largest page of `list_notes`.
pub const MAX_LIST_LIMIT: usize = 1000;
/// Default page of `list_notes`.
pub const DEFAULT_LIST_LIMIT: usize = 100;
/// Default number of search results.
pub const DEFAULT_SEARCH_LIMIT: usize = 10;

/// The note size limit, checked before the text is parsed at all.
pub(crate) fn check_size(size: usize, max: u64) -> Result<(), ServiceError> {
    if size as u64 > max {
        return Err(ServiceError::TooLarge { size: size as u64, max });
    }
    Ok(())
}

/// The counts of a write's metadata keys and tags, checked before anything is read.
pub(crate) fn check_counts(keys: Option<usize>, tags: Option<usize>) -> Result<(), NoteError> {
    if keys.is_some_and(|n| n > MAX_KEYS) {
        return Err(NoteError::TooManyKeys);
    }
    if tags.is_some_and(|n| n > MAX_TAGS) {
        return Err(NoteError::TooManyTags);
    }
    Ok(())
}

/// A `list_notes` page size (default when absent).
pub(crate) fn list_limit(limit: Option<usize>) -> Result<usize, ServiceError> {
    let limit = limit.unwrap_or(DEFAULT_LIST_LIMIT);
    if limit == 0 || limit > MAX_LIST_LIMIT {
        return Err(ServiceError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIST_LIMIT}"
        )));
    }
    Ok(limit)
}

/// A search's number of results (default when absent).
pub(crate) fn search_limit(limit: Option<usize>) -> Result<usize, ServiceError> {
    let limit = limit.unwrap_or(DEFAULT_SEARCH_LIMIT);
    if limit == 0 || limit > index::search::MAX_LIMIT {
        return Err(ServiceError::BadRequest(format!(
            "limit must be between 1 and {}",
            index::search::MAX_LIMIT
        )));
    }
    Ok(limit)
}

/// The cursor of the page after the note at `path`.
pub(crate) fn encode_cursor(path: &str) -> String {
    hex::encode(path.as_bytes())
}

/// The path a cursor continues after (empty: from the start).
pub(crate) fn decode_cursor(cursor: Option<&str>) -> Result<String, ServiceError> {
    match cursor {
        None | Some("") => Ok(String::new()),
        Some(c) => hex::decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| ServiceError::BadRequest("cursor is not one this server returned".into())),
    }
}

/// Refuses a change whose `if_match` does not hold for the note's `current` hash.
pub(crate) fn check_if_match(
    path: &NotePath,
    if_match: Option<&IfMatch>,
    current: Option<&str>,
) -> Result<(), ServiceError> {
    match (if_match, current) {
        (None, _) => Ok(()),
        (Some(cond), _) if cond.holds(current) => Ok(()),
        (Some(_), None) => Err(ServiceError::ConflictMissing { path: path.to_string() }),
        (Some(_), Some(cur)) => Err(ServiceError::Conflict {
            path: path.to_string(),
            current: cur.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_and_count_table() {
        assert_eq!(check_size(10, 10), Ok(()));
        assert_eq!(check_size(11, 10), Err(ServiceError::TooLarge { size: 11, max: 10 }));
        let cases = [
            (None, None, Ok(())),
            (Some(MAX_KEYS), Some(MAX_TAGS), Ok(())),
            (Some(MAX_KEYS + 1), None, Err(NoteError::TooManyKeys)),
            (None, Some(MAX_TAGS + 1), Err(NoteError::TooManyTags)),
            // Keys are checked first.
            (Some(MAX_KEYS + 1), Some(MAX_TAGS + 1), Err(NoteError::TooManyKeys)),
        ];
        for (keys, tags, want) in cases {
            assert_eq!(check_counts(keys, tags), want, "{keys:?} {tags:?}");
        }
    }

    #[test]
    fn limit_table() {
        let cases = [
            (None, Some(DEFAULT_LIST_LIMIT), Some(DEFAULT_SEARCH_LIMIT)),
            (Some(0), None, None),
            (Some(1), Some(1), Some(1)),
            (Some(MAX_LIST_LIMIT), Some(MAX_LIST_LIMIT), None),
            (Some(MAX_LIST_LIMIT + 1), None, None),
            (
                Some(index::search::MAX_LIMIT),
                Some(index::search::MAX_LIMIT),
                Some(index::search::MAX_LIMIT),
            ),
        ];
        for (given, list, search) in cases {
            assert_eq!(list_limit(given).ok(), list, "list {given:?}");
            assert_eq!(search_limit(given).ok(), search, "search {given:?}");
        }
    }

    #[test]
    fn cursor_table() {
        for path in ["a.md", "dir/ü.md", ""] {
            assert_eq!(decode_cursor(Some(&encode_cursor(path))), Ok(path.to_owned()));
        }
        assert_eq!(decode_cursor(None), Ok(String::new()));
        for bad in ["zz", "f", "ff"] {
            assert!(decode_cursor(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn if_match_table() {
        let path = NotePath::parse("n.md").unwrap();
        let any = IfMatch::header("*").unwrap();
        let h = IfMatch::hash("abc").unwrap();
        let cases = [
            (None, None, true),
            (None, Some("abc"), true),
            (Some(&h), Some("abc"), true),
            (Some(&h), Some("def"), false),
            (Some(&h), None, false),
            (Some(&any), Some("def"), true),
            (Some(&any), None, false),
        ];
        for (cond, current, holds) in cases {
            assert_eq!(
                check_if_match(&path, cond, current).is_ok(),
                holds,
                "{cond:?} {current:?}"
            );
        }
        assert_eq!(
            check_if_match(&path, Some(&h), None),
            Err(ServiceError::ConflictMissing { path: "n.md".into() })
        );
    }
}
