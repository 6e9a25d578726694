//! Keeping the index in step with the files, which are the source of truth.
//!
//! [`reconcile`] runs at every start: files new, changed (size or mtime differ, then the hash
//! decides) or gone since the last run are indexed or dropped. [`rebuild`] (the `reindex`
//! command) throws a user's rows away and indexes every file again.

use std::collections::HashMap;

use indicatif::{ProgressBar, ProgressStyle};
use vaultgate_shared::UserId;

use crate::index::{self, Index, schema};
use crate::notes;
use crate::service::content_hash;
use crate::vault::{FileStamp, NotePath, Vault};

/// What a pass changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
    pub unchanged: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ReindexError {
    #[error("vault: {0}")]
    Vault(#[from] crate::vault::VaultError),
    #[error("index: {0}")]
    Index(#[from] rusqlite::Error),
}

/// Notes are written to the index in transactions of this many.
const BATCH: usize = 10_000;

/// A file read and parsed, ready for the index.
struct Loaded {
    path: NotePath,
    stamp: FileStamp,
    hash: String,
    note: notes::ParsedNote,
}

fn load(vault: &Vault, user: &UserId, path: NotePath) -> Option<Loaded> {
    let (bytes, stamp) = vault.read(user, &path).ok()?;
    let hash = content_hash(&bytes);
    let note = notes::parse(&path, &String::from_utf8_lossy(&bytes));
    Some(Loaded {
        path,
        stamp,
        hash,
        note,
    })
}

/// Reads and parses `paths` on a helper thread while this one writes them to the index.
fn index_files(
    vault: &Vault,
    index: &Index,
    user: &UserId,
    paths: Vec<NotePath>,
    bar: &ProgressBar,
) -> Result<usize, ReindexError> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Loaded>(256);
    let mut written = 0;
    std::thread::scope(|s| -> Result<(), ReindexError> {
        s.spawn(move || {
            for p in paths {
                if let Some(l) = load(vault, user, p)
                    && tx.send(l).is_err()
                {
                    break;
                }
            }
        });
        let mut batch = Vec::with_capacity(BATCH);
        let mut flush = |batch: &mut Vec<Loaded>| -> Result<(), ReindexError> {
            index.write(|t| {
                for l in batch.iter() {
                    index::upsert(t, user.as_str(), &l.path, &l.note, l.stamp, &l.hash)?;
                }
                Ok(())
            })?;
            written += batch.len();
            bar.inc(batch.len() as u64);
            batch.clear();
            Ok(())
        };
        for l in rx {
            batch.push(l);
            if batch.len() >= BATCH {
                flush(&mut batch)?;
            }
        }
        flush(&mut batch)
    })?;
    Ok(written)
}

fn bar(len: u64, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} notes ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Brings the index in line with the disk for every user (those with files and those with rows).
pub fn reconcile(vault: &Vault, index: &Index) -> Result<Stats, ReindexError> {
    let mut users = vault.users()?;
    for u in index.read(index::users)? {
        if let Ok(id) = UserId::parse(&u)
            && !users.contains(&id)
        {
            users.push(id);
        } else if UserId::parse(&u).is_err() {
            index.write(|t| index::remove_user(t, &u))?;
        }
    }
    let mut stats = Stats::default();
    for user in users {
        let on_disk = vault.walk(&user)?;
        let indexed: HashMap<String, index::IndexedFile> = index
            .read(|c| index::files(c, user.as_str()))?
            .into_iter()
            .map(|f| (f.path.clone(), f))
            .collect();
        let mut to_index = Vec::new();
        let mut touch = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (path, stamp) in on_disk {
            seen.insert(path.as_str().to_owned());
            match indexed.get(path.as_str()) {
                Some(f) if f.stamp == stamp => stats.unchanged += 1,
                Some(f) => {
                    // Size or mtime moved: the hash decides whether the content did.
                    match vault.read(&user, &path) {
                        Ok((bytes, s)) if content_hash(&bytes) == f.hash => {
                            touch.push((path, s));
                            stats.unchanged += 1;
                        }
                        Ok(_) => {
                            to_index.push(path);
                            stats.updated += 1;
                        }
                        Err(_) => {}
                    }
                }
                None => {
                    to_index.push(path);
                    stats.added += 1;
                }
            }
        }
        let gone: Vec<&String> = indexed.keys().filter(|p| !seen.contains(*p)).collect();
        stats.removed += gone.len();
        index.write(|t| {
            for p in &gone {
                index::remove(t, user.as_str(), p)?;
            }
            for (p, s) in &touch {
                index::touch(t, user.as_str(), p.as_str(), *s)?;
            }
            Ok(())
        })?;
        if !to_index.is_empty() {
            index_files(vault, index, &user, to_index, &ProgressBar::hidden())?;
        }
    }
    Ok(stats)
}

const BULK_ON: &str = "INSERT INTO notes_fts(notes_fts, rank) VALUES('hashsize', 67108864);
     INSERT INTO notes_fts(notes_fts, rank) VALUES('automerge', 0);";
const BULK_OFF: &str = "INSERT INTO notes_fts(notes_fts, rank) VALUES('hashsize', 1048576);
     INSERT INTO notes_fts(notes_fts, rank) VALUES('automerge', 4);";

/// Drops and rebuilds the index rows of `only` (or of every user), showing a progress bar.
pub fn rebuild(vault: &Vault, index: &Index, only: Option<&UserId>, progress: bool) -> Result<usize, ReindexError> {
    let users = match only {
        Some(u) => vec![u.clone()],
        None => {
            let mut users = vault.users()?;
            for u in index.read(index::users)? {
                match UserId::parse(&u) {
                    Ok(id) if !users.contains(&id) => users.push(id),
                    Ok(_) => {}
                    Err(_) => {
                        index.write(|t| index::remove_user(t, &u))?;
                    }
                }
            }
            users
        }
    };
    let mut work = Vec::new();
    for u in &users {
        let files: Vec<NotePath> = vault.walk(u)?.into_iter().map(|(p, _)| p).collect();
        work.push((u, files));
    }
    let total: usize = work.iter().map(|(_, f)| f.len()).sum();
    let bar = bar(total as u64, progress);
    // No fsync until the end: the files are the source of truth.
    index.with_writer(|c| c.execute_batch("PRAGMA synchronous = OFF; PRAGMA wal_autocheckpoint = 0;"))?;
    if only.is_none() {
        // Everything goes: dropping the tables is far cheaper than deleting row by row (an FTS5
        // delete re-tokenizes the old text). Then bulk-load settings: a big pending-terms buffer
        // and no incremental merging (one 'optimize' at the end instead).
        index.write(|t| t.execute_batch(schema::RESET_ALL))?;
        index.write(|t| t.execute_batch(BULK_ON))?;
    }
    let mut result = Ok(0);
    for (user, files) in work {
        let step = index
            .write(|t| index::remove_user(t, user.as_str()))
            .map_err(ReindexError::from)
            .and_then(|_| index_files(vault, index, user, files, &bar));
        match step {
            Ok(n) => result = result.map(|w| w + n),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    bar.finish();
    if only.is_none() {
        // One full merge after the bulk load, and the secondary indexes built in one pass each.
        index.write(|t| t.execute_batch("INSERT INTO notes_fts(notes_fts) VALUES('optimize')"))?;
        index.write(|t| t.execute_batch(schema::SCHEMA))?;
    }
    if only.is_none() {
        index.write(|t| t.execute_batch(BULK_OFF))?;
    }
    index.with_writer(|c| {
        c.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 1000;")?;
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
    })?;
    result
}
