//! Resolving all of a note's wikilinks in one statement, so a read costs one query however many
//! links the note has (up to the per-note cap), instead of one query per link.

use std::collections::HashMap;

use rusqlite::{Connection, params};

/// Every note that a key of `?2` (a JSON array of link keys) names by path, title or file stem:
/// one statement, three index searches per key, and no sorting in SQL. `CROSS JOIN` keeps the keys
/// as the outer loop: the other order reads every note of the user once per key.
const CANDIDATES: &str = "
     SELECT j.value, n.path, n.folder, n.path_key FROM json_each(?2) j
         CROSS JOIN notes n ON n.user_id = ?1 AND n.path_key = j.value
     UNION ALL SELECT j.value, n.path, n.folder, n.path_key FROM json_each(?2) j
         CROSS JOIN notes n ON n.user_id = ?1 AND n.title_key = j.value
     UNION ALL SELECT j.value, n.path, n.folder, n.path_key FROM json_each(?2) j
         CROSS JOIN notes n ON n.user_id = ?1 AND n.stem_key = j.value";

/// Where each of `keys`, written in a note in `source_folder`, points; keys that resolve to no
/// note are absent from the answer. The same choice as [`super::resolve_link`] makes for one key
/// (an exact path first for a key naming a folder, then the same folder, then the shortest path,
/// then the lexicographically first), made here over the candidates of all keys at once.
pub fn resolve_links(
    conn: &Connection,
    user: &str,
    source_folder: &str,
    keys: &[String],
) -> rusqlite::Result<HashMap<String, String>> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let keys = serde_json::to_string(keys).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let mut stmt = conn.prepare_cached(CANDIDATES)?;
    let rows = stmt.query_map(params![user, keys], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    // Best first: SQLite compares `length()` in characters and text byte by byte, as Rust does.
    let rank = |key: &str, path: &str, folder: &str, path_key: &str| {
        (
            !(key.contains('/') && path_key == key),
            folder != source_folder,
            path.chars().count(),
        )
    };
    let mut best: HashMap<String, ((bool, bool, usize), String)> = HashMap::new();
    for row in rows {
        let (key, path, folder, path_key) = row?;
        let r = rank(&key, &path, &folder, &path_key);
        match best.get_mut(&key) {
            Some((br, bp)) if (r, path.as_str()) < (*br, bp.as_str()) => {
                *br = r;
                *bp = path;
            }
            Some(_) => {}
            None => {
                best.insert(key, (r, path));
            }
        }
    }
    Ok(best.into_iter().map(|(k, (_, p))| (k, p)).collect())
}

/// Every folder holding at least one of `user`'s notes (not their ancestors).
pub fn note_folders(conn: &Connection, user: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare_cached("SELECT DISTINCT folder FROM notes WHERE user_id = ?1")?
        .query_map([user], |r| r.get(0))?
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{self, Index};
    use crate::notes;
    use crate::vault::{FileStamp, NotePath};

    /// The batched answer equals the one-at-a-time answer for every kind of match, and a note
    /// with the maximum number of links is resolved by index searches, not scans.
    #[test]
    fn batch_matches_single_resolution() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(&dir.path().join("index.db"), index::IndexOptions::default()).unwrap();
        let user = |u: &str| vaultgate_shared::UserId::parse(u).unwrap();
        let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
        let notes_on_disk = [
            ("x/target.md", "in x"),
            ("target.md", "root"),
            ("y/deep/target.md", "deep"),
            ("b/dup.md", "b"),
            ("a/dup.md", "a"),
            ("q/some-file.md", "---\ntitle: Titled Note\n---\n"),
            ("n/not yet.md", "x"),
        ];
        for u in [&alice, &bob] {
            index
                .write(u, |tx| {
                    for (p, text) in notes_on_disk {
                        let path = NotePath::parse(p).unwrap();
                        let parsed = notes::parse(&path, text);
                        let stamp = FileStamp { size: 1, mtime_ns: 0 };
                        index::upsert(tx, u.as_str(), &path, &parsed, stamp, "h")?;
                    }
                    Ok(())
                })
                .unwrap();
        }
        let keys: Vec<String> = [
            "target",
            "x/target",
            "dup",
            "titled note",
            "not yet",
            "missing",
            "y/deep/target",
        ]
        .iter()
        .map(|k| k.to_string())
        .collect();
        for folder in ["", "x", "y/deep", "q"] {
            let batch = index
                .read(&alice, |c| resolve_links(c, "alice", folder, &keys))
                .unwrap();
            for k in &keys {
                let one = index
                    .read(&alice, |c| index::resolve_link(c, "alice", folder, k))
                    .unwrap();
                assert_eq!(batch.get(k), one.as_ref(), "{folder} {k}");
            }
        }
        assert!(
            index
                .read(&carol, |c| resolve_links(c, "carol", "", &keys))
                .unwrap()
                .is_empty()
        );
        let plan: Vec<String> = index
            .read(&alice, |c| {
                c.prepare(&format!("EXPLAIN QUERY PLAN {CANDIDATES}"))?
                    .query_map(params!["alice", "[\"a\"]"], |r| r.get(3))?
                    .collect()
            })
            .unwrap();
        for key in ["path_key", "title_key", "stem_key"] {
            let wanted = format!("SEARCH n USING INDEX notes_{key} (user_id=? AND {key}=?)");
            assert!(plan.contains(&wanted), "{wanted} not in {plan:#?}");
        }
        assert!(!plan.iter().any(|l| l.starts_with("SCAN n")), "{plan:#?}");
        let mut folders = index.read(&alice, |c| note_folders(c, "alice")).unwrap();
        folders.sort();
        assert_eq!(folders, ["", "a", "b", "n", "q", "x", "y/deep"]);
    }
}
