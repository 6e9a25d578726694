//! Keeping the index in step with the files, which are the source of truth.
//!
//! [`reconcile`] runs at every start: files new, changed (size or mtime differ, then the hash
//! decides) or gone since the last run are indexed or dropped. The `reindex` command indexes
//! every file again: [`rebuild_all`] into a new database swapped in for the old one (backend
//! stopped), [`rebuild_user`] one user's rows in the live index.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use rusqlite::{Connection, Transaction};
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

/// Writes a batch of rows inside the transaction it is given.
type Rows<'a> = dyn Fn(&Transaction<'_>) -> rusqlite::Result<()> + 'a;

/// Reads and parses `paths` on a helper thread while this one hands them, in batches, to
/// `write` (one transaction each).
fn index_files(
    vault: &Vault,
    user: &UserId,
    paths: Vec<NotePath>,
    bar: &ProgressBar,
    write: &mut dyn FnMut(&Rows<'_>) -> rusqlite::Result<()>,
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
            write(&|t| {
                index::upsert_many(
                    t,
                    user.as_str(),
                    batch.iter().map(|l| (&l.path, &l.note, l.stamp, l.hash.as_str())),
                )
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

/// [`index_files`] into the live index.
fn index_live(
    vault: &Vault,
    index: &Index,
    user: &UserId,
    paths: Vec<NotePath>,
    bar: &ProgressBar,
) -> Result<usize, ReindexError> {
    index_files(vault, user, paths, bar, &mut |f| index.write(|t| f(t)))
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
            index_live(vault, index, &user, to_index, &ProgressBar::hidden())?;
        }
    }
    Ok(stats)
}

/// Bulk-load settings for a fresh full-text table: a pending-terms buffer big enough to hold the
/// whole index of ~100,000 notes (~200 MiB of text), so it is written once as one segment (a
/// larger vault flushes a segment each time the buffer fills, and one `optimize` at the end
/// merges them), and no incremental merging meanwhile.
const BULK_ON: &str = "INSERT INTO notes_fts(notes_fts, rank) VALUES('hashsize', 268435456);
     INSERT INTO notes_fts(notes_fts, rank) VALUES('automerge', 0);";
/// FTS5's defaults, for the live index.
const BULK_OFF: &str = "INSERT INTO notes_fts(notes_fts, rank) VALUES('hashsize', 1048576);
     INSERT INTO notes_fts(notes_fts, rank) VALUES('automerge', 4);";

/// Drops and rebuilds one user's rows in the live index (the backend may be running).
pub fn rebuild_user(vault: &Vault, index: &Index, user: &UserId, progress: bool) -> Result<usize, ReindexError> {
    let files: Vec<NotePath> = vault.walk(user)?.into_iter().map(|(p, _)| p).collect();
    let bar = bar(files.len() as u64, progress);
    index.write(|t| index::remove_user(t, user.as_str()))?;
    let n = index_live(vault, index, user, files, &bar)?;
    bar.finish();
    Ok(n)
}

/// Rebuilds the whole index from the files into a new database next to `db` and then swaps it
/// in, so a damaged index is replaced rather than repaired and a failed rebuild leaves the old
/// one as it was. Refused while anything (a running backend) has the index open.
pub fn rebuild_all(vault: &Vault, db: &Path, progress: bool) -> Result<usize, ReindexError> {
    let started = std::time::Instant::now();
    if let Some(dir) = db.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
    }
    let lock = index::lock_file(db)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(ReindexError::InUse(db.display().to_string())),
        Err(std::fs::TryLockError::Error(e)) => {
            tracing::warn!(path = %index::lock_path(db).display(), error = %e, "cannot lock the index: make sure no backend is running");
        }
    }
    let fresh = sibling(db, ".rebuild");
    remove_db_files(&fresh)?;
    let n = match build_fresh(vault, &fresh, progress, started) {
        Ok(n) => n,
        Err(e) => {
            let _ = remove_db_files(&fresh);
            let _ = remove_db_files(&sibling(&fresh, SIDE));
            return Err(e);
        }
    };
    std::fs::File::open(&fresh)
        .and_then(|f| f.sync_all())
        .map_err(io_err("syncing", &fresh))?;
    // The old database's WAL must go before the rename: SQLite would replay it into the new file.
    for suffix in ["-wal", "-shm"] {
        remove_if_exists(&sibling(db, suffix))?;
    }
    std::fs::rename(&fresh, db).map_err(io_err("replacing", db))?;
    if let Some(dir) = db.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("syncing", dir))?;
    }
    drop(lock);
    Ok(n)
}

/// Loads every user's files into a new database at `path` (no journal: on failure it is deleted).
///
/// FTS5 indexing is the bulk of the work and one SQLite file has one writer, so this thread
/// writes only the full-text rows; a helper thread reads and parses the files and another writes
/// the `notes`, `tags` and `links` rows into a side database, copied in at the end.
fn build_fresh(vault: &Vault, path: &Path, progress: bool, started: std::time::Instant) -> Result<usize, ReindexError> {
    let mut conn = bulk_connection(path)?;
    conn.execute_batch(BULK_ON)?;
    let side = sibling(path, SIDE);
    remove_db_files(&side)?;
    let mut work = Vec::new();
    for u in vault.users()? {
        let files: Vec<NotePath> = vault.walk(&u)?.into_iter().map(|(p, _)| p).collect();
        work.push((u, files));
    }
    let bar = bar(work.iter().map(|(_, f)| f.len() as u64).sum(), progress);
    let (to_writer, loaded) = std::sync::mpsc::sync_channel::<(usize, Loaded)>(256);
    let (to_meta, metas) = std::sync::mpsc::sync_channel::<(usize, i64, Loaded)>(1024);
    let users: Vec<&UserId> = work.iter().map(|(u, _)| u).collect();
    let written = std::thread::scope(|s| -> Result<usize, ReindexError> {
        let work = &work;
        s.spawn(move || {
            for (n, (user, files)) in work.iter().enumerate() {
                for p in files {
                    if let Some(l) = load(vault, user, p.clone())
                        && to_writer.send((n, l)).is_err()
                    {
                        return;
                    }
                }
            }
        });
        let users = &users;
        let side = &side;
        let meta = s.spawn(move || -> Result<(), ReindexError> {
            let mut conn = bulk_connection(side)?;
            let mut pending = metas.into_iter().peekable();
            while pending.peek().is_some() {
                let t = conn.transaction()?;
                for (n, id, l) in pending.by_ref().take(BATCH) {
                    index::upsert_meta(&t, users[n].as_str(), &l.path, &l.note, l.stamp, &l.hash, Some(id))?;
                }
                t.commit()?;
            }
            Ok(())
        });
        let mut id = 0;
        // One transaction: FTS5 flushes its pending terms at every commit, and with no flush
        // before the end (see BULK_ON) the whole index is written once, as one segment.
        let text = || -> Result<(), ReindexError> {
            let t = conn.transaction()?;
            for (u, l) in loaded {
                id += 1;
                index::insert_text(&t, users[u].as_str(), id, &l.note)?;
                // A closed channel means the side writer failed; its error is reported below.
                let _ = to_meta.send((u, id, l));
                bar.inc(1);
            }
            t.commit()?;
            Ok(())
        };
        let text = text();
        drop(to_meta);
        let meta = meta.join().unwrap_or(Err(ReindexError::Panicked));
        text?;
        meta?;
        Ok(id as usize)
    });
    let written = written?;
    bar.finish();
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "reindex: notes loaded"
    );
    conn.execute("ATTACH DATABASE ?1 AS side", [side.to_string_lossy()])?;
    conn.execute_batch(
        "BEGIN; INSERT INTO notes SELECT * FROM side.notes; INSERT INTO tags SELECT * FROM side.tags;
         INSERT INTO links SELECT * FROM side.links; COMMIT; DETACH DATABASE side;",
    )?;
    remove_db_files(&side)?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "reindex: note rows copied"
    );
    conn.execute_batch("INSERT INTO notes_fts(notes_fts) VALUES('optimize')")?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "reindex: full-text index merged"
    );
    conn.execute_batch(schema::SCHEMA)?;
    conn.execute_batch(BULK_OFF)?;
    // The live index runs in WAL mode; switching needs the exclusive access this connection has.
    conn.execute_batch("PRAGMA locking_mode = NORMAL;")?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "reindex: secondary indexes built"
    );
    Ok(written)
}

/// Suffix of the side database that [`build_fresh`] writes the note rows into.
const SIDE: &str = "-notes";

/// A new database for a bulk load: tables without secondary indexes, no journal, no fsync,
/// no foreign-key checks (the rows are consistent by construction).
fn bulk_connection(path: &Path) -> Result<Connection, ReindexError> {
    let conn = Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA locking_mode = EXCLUSIVE;
         PRAGMA temp_store = MEMORY; PRAGMA cache_size = -131072; PRAGMA foreign_keys = OFF;",
    )?;
    conn.execute_batch(schema::SCHEMA)?;
    conn.execute_batch(schema::DROP_INDEXES)?;
    Ok(conn)
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    p.into()
}

fn remove_if_exists(path: &Path) -> Result<(), ReindexError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("removing", path)(e)),
        _ => Ok(()),
    }
}

/// Removes a database file and its journal files.
fn remove_db_files(path: &Path) -> Result<(), ReindexError> {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        remove_if_exists(&sibling(path, suffix))?;
    }
    Ok(())
}
