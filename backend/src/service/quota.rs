//! The per-user quotas (notes, bytes, folders) as arithmetic on a [`Usage`]. Pure: the service
//! loads the usage from the index, holds the user's lock, and asks these before it writes.

use std::collections::HashSet;

use super::ServiceError;
use crate::config::Limits;
use crate::vault::NotePath;

/// What a user's vault holds, for the quotas.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) notes: u64,
    pub(crate) bytes: u64,
    /// Every folder that holds a note, directly or below it.
    pub(crate) folders: HashSet<String>,
}

impl Usage {
    /// The usage of `notes` notes of `bytes` bytes in total, held in `note_folders`.
    pub(crate) fn new(notes: u64, bytes: u64, note_folders: &[String]) -> Self {
        let folders = note_folders
            .iter()
            .flat_map(|f| ancestors(f))
            .map(str::to_owned)
            .collect();
        Self { notes, bytes, folders }
    }

    /// Counts a note of `size` bytes written at `path`, replacing one of `old` bytes if any.
    pub(crate) fn add(&mut self, path: &NotePath, old: Option<u64>, size: u64) {
        self.notes += u64::from(old.is_none());
        self.bytes = self.bytes.saturating_sub(old.unwrap_or(0)) + size;
        self.folders.extend(ancestors(path.folder()).map(str::to_owned));
    }
}

/// `a`, `a/b`, `a/b/c` for the folder `a/b/c` (nothing for the vault root).
pub(crate) fn ancestors(folder: &str) -> impl Iterator<Item = &str> {
    folder
        .match_indices('/')
        .map(move |(i, _)| &folder[..i])
        .chain((!folder.is_empty()).then_some(folder))
}

/// Refuses a usage over any of the user quotas (for a change of many notes at once).
pub(crate) fn check_usage(usage: &Usage, l: &Limits) -> Result<(), ServiceError> {
    if usage.notes > l.user_max_notes {
        return Err(ServiceError::Quota(format!(
            "this would bring your notes to {}; the limit is {}",
            usage.notes, l.user_max_notes
        )));
    }
    if usage.bytes > l.user_max_bytes {
        return Err(ServiceError::Quota(format!(
            "this would bring your notes to {} bytes; the limit is {} bytes",
            usage.bytes, l.user_max_bytes
        )));
    }
    if usage.folders.len() as u64 > l.user_max_folders {
        return Err(ServiceError::Quota(format!(
            "this would bring your folders to {}; the limit is {}",
            usage.folders.len(),
            l.user_max_folders
        )));
    }
    Ok(())
}

/// Refuses writing one note of `size` bytes at `path` over a note of `old` bytes (`None`: a new
/// note). Notes first, then bytes, then folders — the order the messages are documented in.
pub(crate) fn check_write(
    usage: &Usage,
    path: &NotePath,
    old: Option<u64>,
    size: u64,
    l: &Limits,
) -> Result<(), ServiceError> {
    let count = usage.notes;
    if old.is_none() && count >= l.user_max_notes {
        return Err(ServiceError::Quota(format!(
            "you already have {count} notes, the most allowed; delete some before creating more"
        )));
    }
    let total = usage.bytes.saturating_sub(old.unwrap_or(0)) + size;
    if total > l.user_max_bytes {
        return Err(ServiceError::Quota(format!(
            "this write would bring your notes to {total} bytes; the limit is {} bytes",
            l.user_max_bytes
        )));
    }
    check_folders(usage, path, l)
}

/// Refuses a note at `path` when the folders it would add exceed the folder quota.
pub(crate) fn check_folders(usage: &Usage, path: &NotePath, l: &Limits) -> Result<(), ServiceError> {
    let new = ancestors(path.folder()).filter(|f| !usage.folders.contains(*f)).count() as u64;
    let total = usage.folders.len() as u64 + new;
    if new > 0 && total > l.user_max_folders {
        return Err(ServiceError::Quota(format!(
            "'{path}' would bring your folders to {total}; the limit is {} (folders count once, however many notes they hold)",
            l.user_max_folders
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        note_max_bytes: 100,
        user_max_notes: 2,
        user_max_bytes: 100,
        user_max_folders: 2,
    };

    /// (usage, path, old size, new size, refused with a message containing)
    type WriteCase = (Usage, &'static str, Option<u64>, u64, Option<&'static str>);

    fn path(p: &str) -> NotePath {
        NotePath::parse(p).unwrap()
    }

    fn usage(notes: u64, bytes: u64, folders: &[&str]) -> Usage {
        Usage::new(
            notes,
            bytes,
            &folders.iter().map(|f| (*f).to_owned()).collect::<Vec<_>>(),
        )
    }

    #[test]
    fn ancestors_table() {
        let cases: [(&str, &[&str]); 3] = [("", &[]), ("a", &["a"]), ("a/b/c", &["a", "a/b", "a/b/c"])];
        for (folder, want) in cases {
            assert_eq!(ancestors(folder).collect::<Vec<_>>(), want, "{folder}");
        }
    }

    #[test]
    fn usage_counts_folders_and_replacements() {
        let mut u = usage(1, 10, &["a/b"]);
        assert_eq!(u.folders.len(), 2, "a and a/b");
        u.add(&path("a/c/n.md"), None, 5);
        assert_eq!((u.notes, u.bytes, u.folders.len()), (2, 15, 3));
        u.add(&path("a/c/n.md"), Some(5), 7);
        assert_eq!((u.notes, u.bytes, u.folders.len()), (2, 17, 3));
    }

    #[test]
    fn write_quota_table() {
        // (usage, path, old size, new size, refused with a message containing)
        let cases: Vec<WriteCase> = vec![
            (usage(1, 10, &[]), "n.md", None, 10, None),
            (usage(2, 10, &[]), "n.md", None, 1, Some("you already have 2 notes")),
            // Replacing a note never counts as one more.
            (usage(2, 10, &[]), "n.md", Some(5), 1, None),
            (usage(1, 90, &[]), "n.md", None, 11, Some("101 bytes; the limit is 100")),
            // The replaced note's bytes are given back first.
            (usage(1, 90, &[]), "n.md", Some(10), 20, None),
            (usage(1, 0, &["a"]), "a/b/n.md", None, 1, None),
            (usage(1, 0, &["a"]), "x/y/n.md", None, 1, Some("folders to 3")),
            // Existing folders cost nothing.
            (usage(1, 0, &["a/b"]), "a/b/n.md", None, 1, None),
        ];
        for (u, p, old, size, refused) in cases {
            let got = check_write(&u, &path(p), old, size, &LIMITS);
            match refused {
                None => assert_eq!(got, Ok(()), "{p} {old:?} {size}"),
                Some(part) => assert!(
                    matches!(&got, Err(ServiceError::Quota(m)) if m.contains(part)),
                    "{p} {old:?} {size}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn usage_quota_table() {
        let cases: Vec<(Usage, Option<&str>)> = vec![
            (usage(2, 100, &["a"]), None),
            (usage(3, 0, &[]), Some("notes to 3")),
            (usage(0, 101, &[]), Some("101 bytes")),
            (usage(0, 0, &["a/b/c"]), Some("folders to 3")),
        ];
        for (u, refused) in cases {
            let got = check_usage(&u, &LIMITS);
            match refused {
                None => assert_eq!(got, Ok(())),
                Some(part) => assert!(
                    matches!(&got, Err(ServiceError::Quota(m)) if m.contains(part)),
                    "{got:?}"
                ),
            }
        }
    }
}
