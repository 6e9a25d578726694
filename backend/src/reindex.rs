//! Keeping the index in step with the files, which are the source of truth.
//!
//! [`reconcile`] runs at every start: files new, changed (size or mtime differ, then the hash
//! decides) or gone since the last run are indexed or dropped. The `reindex` command indexes
//! every file again: [`rebuild_all`] builds a new database per user, several users in parallel,
//! and swaps each in for the old one (backend stopped); [`rebuild_user`] rebuilds one user's
//! database in place, in one transaction, while the backend may serve.

use std::collections::HashMap;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use rusqlite::Connection;
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
    /// Users whose pass failed (logged, and left for their next write or `reindex --user`).
    pub failed: usize,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Self) {
        self.added += o.added;
        self.updated += o.updated;
        self.removed += o.removed;
        self.unchanged += o.unchanged;
        self.failed += o.failed;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReindexError {
    #[error("vault: {0}")]
    Vault(#[from] crate::vault::VaultError),
    #[error("index: {0}")]
    Index(#[from] rusqlite::Error),
    #[error("index: {0}")]
    Open(#[from] index::OpenError),
    #[error(
        "the index at {0} is in use (is the backend running?): stop the backend before a full \
         reindex, or rebuild one user in place with `reindex --user ID`"
    )]
    InUse(String),
    #[error("a reindex thread panicked")]
    Panicked,
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ReindexError {
    let path = path.display().to_string();
    move |source| ReindexError::Io { what, path, source }
}

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

/// Brings the index in line with the disk for every user (those with files and those with a
/// database); a database whose user has no vault folder any more is deleted. One user's failure
/// (an unreadable file or database) is logged and counted, not fatal: it must not keep the
/// backend from starting for everyone else. When every user fails, the first error is returned.
pub fn reconcile(vault: &Vault, index: &Index) -> Result<Stats, ReindexError> {
    let _span = crate::trace::step("reconcile");
    let users = vault.users()?;
    for u in index.users().map_err(io_err("listing", index.dir()))? {
        if users.binary_search(&u).is_err() {
            index
                .remove_user_files(&u)
                .map_err(io_err("removing", &index.path_of(&u)))?;
        }
    }
    // Users are independent (one database each): one thread per core.
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(users.len())
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let parts: Vec<(Stats, Option<ReindexError>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let (mut stats, mut first_error) = (Stats::default(), None);
                    while let Some(user) = users.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                        match reconcile_user(vault, index, user) {
                            Ok(s) => stats += s,
                            Err(e) => {
                                tracing::error!(user = %user, error = %e, "reconciling this user's index failed; their search may be stale until their next write or `reindex --user`");
                                stats.failed += 1;
                                first_error.get_or_insert(e);
                            }
                        }
                    }
                    (stats, first_error)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    let failed = Stats {
                        failed: 1,
                        ..Stats::default()
                    };
                    (failed, Some(ReindexError::Panicked))
                })
            })
            .collect()
    });
    let mut stats = Stats::default();
    let mut first_error = None;
    for (s, e) in parts {
        stats += s;
        if first_error.is_none() {
            first_error = e;
        }
    }
    match first_error {
        Some(e) if stats.failed >= users.len() => Err(e),
        _ => Ok(stats),
    }
}

/// [`reconcile`] for one user.
fn reconcile_user(vault: &Vault, index: &Index, user: &UserId) -> Result<Stats, ReindexError> {
    let mut stats = Stats::default();
    let on_disk = vault.walk(user)?;
    let indexed: HashMap<String, index::IndexedFile> = index
        .read(user, |c| index::files(c, user.as_str()))?
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
                match vault.read(user, &path) {
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
    let loaded: Vec<Loaded> = to_index.into_iter().filter_map(|p| load(vault, user, p)).collect();
    index.write(user, |t| {
        for p in &gone {
            index::remove(t, user.as_str(), p)?;
        }
        for (p, s) in &touch {
            index::touch(t, user.as_str(), p.as_str(), *s)?;
        }
        index::upsert_many(
            t,
            user.as_str(),
            loaded.iter().map(|l| (&l.path, &l.note, l.stamp, l.hash.as_str())),
        )
    })?;
    Ok(stats)
}

/// Bulk-load settings for a fresh full-text table: a pending-terms buffer big enough to hold a
/// whole vault at its quota, so it is written once as one segment, and no incremental merging.
const BULK_ON: &str = "INSERT INTO notes_fts(notes_fts, rank) VALUES('hashsize', 268435456);
     INSERT INTO notes_fts(notes_fts, rank) VALUES('automerge', 0);";
/// FTS5's defaults, for the live index.
const BULK_OFF: &str = "INSERT INTO notes_fts(notes_fts, rank) VALUES('hashsize', 1048576);
     INSERT INTO notes_fts(notes_fts, rank) VALUES('automerge', 4);";

/// Rebuilds one user's database in place, in one transaction (the backend may be running:
/// its searches see the old rows until the commit, then the new ones).
pub fn rebuild_user(vault: &Vault, index: &Index, user: &UserId, progress: bool) -> Result<usize, ReindexError> {
    let _span = crate::trace::step("rebuild");
    let files: Vec<NotePath> = vault.walk(user)?.into_iter().map(|(p, _)| p).collect();
    let bar = bar(files.len() as u64, progress);
    let mut loaded = Vec::with_capacity(files.len());
    for p in files {
        if let Some(l) = load(vault, user, p) {
            loaded.push(l);
        }
        bar.inc(1);
    }
    index.write(user, |t| {
        index::remove_user(t, user.as_str())?;
        index::upsert_many(
            t,
            user.as_str(),
            loaded.iter().map(|l| (&l.path, &l.note, l.stamp, l.hash.as_str())),
        )
    })?;
    bar.finish();
    Ok(loaded.len())
}

/// Rebuilds every user's database from the files, users in parallel (one thread per core):
/// each into a new file next to the old one, then swapped in with a rename, so a damaged index
/// is replaced rather than repaired and a failed rebuild leaves the old file as it was.
/// Databases of users without a vault folder are deleted. Refused while anything (a running
/// backend) has the index open.
pub fn rebuild_all(vault: &Vault, database_path: &Path, progress: bool) -> Result<usize, ReindexError> {
    let _span = crate::trace::step("rebuild");
    let dir = index::index_dir(database_path);
    let lock = index::lock_file(&dir)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(ReindexError::InUse(dir.display().to_string())),
        Err(std::fs::TryLockError::Error(e)) => {
            tracing::warn!(path = %index::lock_path(&dir).display(), error = %e, "cannot lock the index: make sure no backend is running");
        }
    }
    if database_path.is_file() {
        tracing::info!(old = %database_path.display(), new = %dir.display(), "removing the single-file index of an earlier version");
        index::remove_db_files(database_path).map_err(io_err("removing", database_path))?;
    }
    let mut work = Vec::new();
    for u in vault.users()? {
        let files: Vec<NotePath> = vault.walk(&u)?.into_iter().map(|(p, _)| p).collect();
        work.push((u, files));
    }
    for entry in std::fs::read_dir(&dir).map_err(io_err("listing", &dir))? {
        let entry = entry.map_err(io_err("listing", &dir))?;
        let name = entry.file_name();
        let Some(user) = name.to_str().and_then(|n| n.strip_suffix(".db")) else {
            continue;
        };
        if UserId::parse(user).is_ok() && !work.iter().any(|(u, _)| u.as_str() == user) {
            index::remove_db_files(&entry.path()).map_err(io_err("removing", &entry.path()))?;
        }
    }
    // Biggest vaults first, so the last thread to finish is not the one that drew the largest.
    work.sort_by_key(|(_, f)| std::cmp::Reverse(f.len()));
    let bar = bar(work.iter().map(|(_, f)| f.len() as u64).sum(), progress);
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(work.len())
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let total = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<(), ReindexError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Result<(), ReindexError> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((user, files)) = work.get(i) else {
                            return Ok(());
                        };
                        let n = rebuild_user_file(vault, &dir, user, files, &bar)?;
                        total.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(ReindexError::Panicked)))
            .collect()
    });
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing", &dir))?;
    bar.finish();
    drop(lock);
    Ok(total.into_inner())
}

/// Builds `user`'s database into a new file, then renames it over the old one.
fn rebuild_user_file(
    vault: &Vault,
    dir: &Path,
    user: &UserId,
    files: &[NotePath],
    bar: &ProgressBar,
) -> Result<usize, ReindexError> {
    let db = index::user_db(dir, user);
    let fresh = index::sibling(&db, ".rebuild");
    index::remove_db_files(&fresh).map_err(io_err("removing", &fresh))?;
    let n = match build_fresh(vault, user, files, &fresh, bar) {
        Ok(n) => n,
        Err(e) => {
            let _ = index::remove_db_files(&fresh);
            return Err(e);
        }
    };
    std::fs::File::open(&fresh)
        .and_then(|f| f.sync_all())
        .map_err(io_err("syncing", &fresh))?;
    // The old database's WAL must go before the rename: SQLite would replay it into the new file.
    for suffix in ["-wal", "-shm"] {
        remove_if_exists(&index::sibling(&db, suffix))?;
    }
    std::fs::rename(&fresh, &db).map_err(io_err("replacing", &db))?;
    Ok(n)
}

/// Loads one user's files into a new database at `path` (no journal: on failure it is deleted).
///
/// Every full-text row first, then every `notes`, `tags` and `links` row, in one transaction:
/// FTS5 flushes its pending terms whenever a statement opens a savepoint (as the `notes` insert
/// does), so in this order the whole full-text index is written once, as one segment.
fn build_fresh(
    vault: &Vault,
    user: &UserId,
    files: &[NotePath],
    path: &Path,
    bar: &ProgressBar,
) -> Result<usize, ReindexError> {
    let mut conn = bulk_connection(path)?;
    conn.execute_batch(BULK_ON)?;
    let t = conn.transaction()?;
    let mut metas = Vec::with_capacity(files.len());
    for p in files {
        let Some(mut l) = load(vault, user, p.clone()) else {
            continue;
        };
        let id = metas.len() as i64 + 1;
        index::insert_text(&t, user.as_str(), id, &l.note)?;
        // The body is in the full-text row now; the note rows need the rest.
        l.note.body = String::new();
        metas.push((id, l));
        bar.inc(1);
    }
    for (id, l) in &metas {
        index::upsert_meta(&t, user.as_str(), &l.path, &l.note, l.stamp, &l.hash, Some(*id))?;
    }
    t.commit()?;
    conn.execute_batch("INSERT INTO notes_fts(notes_fts) VALUES('optimize')")?;
    conn.execute_batch(schema::SCHEMA)?;
    conn.execute_batch(BULK_OFF)?;
    conn.pragma_update(None, "user_version", schema::VERSION)?;
    // The live index runs in WAL mode; switching needs the exclusive access this connection has.
    conn.execute_batch("PRAGMA locking_mode = NORMAL;")?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    Ok(metas.len())
}

/// A new database for a bulk load: tables without secondary indexes, no journal, no fsync,
/// no foreign-key checks (the rows are consistent by construction).
fn bulk_connection(path: &Path) -> Result<Connection, ReindexError> {
    let conn = Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA locking_mode = EXCLUSIVE;
         PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536; PRAGMA foreign_keys = OFF;",
    )?;
    conn.execute_batch(schema::SCHEMA)?;
    conn.execute_batch(schema::DROP_INDEXES)?;
    Ok(conn)
}

fn remove_if_exists(path: &Path) -> Result<(), ReindexError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("removing", path)(e)),
        _ => Ok(()),
    }
}
