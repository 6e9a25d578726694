//! The SQLite index: one database per user (notes, tags, links, full text), WAL, open ones cached.
//!
//! Every statement still names `user_id` (defence in depth): nothing here can return another
//! user's rows even if a file were misplaced.

pub mod links;
pub mod schema;
pub mod search;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use vaultgate_shared::UserId;

use crate::notes::{ParsedNote, link_key};
use crate::vault::{FileStamp, Folder, NotePath};

pub use search::{SearchHit, SearchRequest};

/// A note as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoteSummary {
    pub path: String,
    pub title: String,
    pub tags: Vec<String>,
    pub hash: String,
    pub size: u64,
    /// Last modification, RFC 3339 UTC.
    pub modified: String,
}

/// What the index remembers of a file, for reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedFile {
    pub path: String,
    pub stamp: FileStamp,
    pub hash: String,
}

/// A note that links to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Backlink {
    pub path: String,
    pub title: String,
}

/// A tag and how many of the user's notes carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagCount {
    pub tag: String,
    pub count: u64,
}

/// The index: one SQLite database per user in one directory, the open ones cached.
///
/// A user's ranking statistics (FTS5's document counts and average lengths), counts and errors
/// come from that user's file alone, so nothing one user sees depends on another user's notes.
pub struct Index {
    dir: PathBuf,
    open: moka::sync::Cache<UserId, Arc<UserIndex>>,
    /// Shared lock on [`lock_path`]: a full rebuild, which replaces the files, waits for none.
    _lock: std::fs::File,
}

/// How many per-user databases stay open, and for how long unused.
#[derive(Debug, Clone, Copy)]
pub struct IndexOptions {
    /// Most per-user databases open at once (each holds up to five file descriptors).
    pub open_max: u64,
    /// An open database unused for this long is closed.
    pub idle: Duration,
}

impl Default for IndexOptions {
    fn default() -> Self {
        Self {
            open_max: 128,
            idle: Duration::from_secs(60),
        }
    }
}

/// One user's database: a writer opened with it, and at most one idle reader kept.
struct UserIndex {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Option<Connection>>,
}

/// Why the index could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    Sql(#[from] rusqlite::Error),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> OpenError {
    let path = path.display().to_string();
    move |source| OpenError::Io { what, path, source }
}

/// The directory of per-user databases that `DATABASE_PATH` names: the path itself when it is a
/// directory or ends in `/`, otherwise its name without extension plus `.d` beside it
/// (`./data/index.db` → `./data/index.d/`).
pub fn index_dir(database_path: &Path) -> PathBuf {
    let raw = database_path.as_os_str().to_string_lossy();
    if database_path.is_dir() || raw.ends_with('/') {
        return database_path.to_owned();
    }
    let stem = database_path
        .file_stem()
        .map_or_else(|| "index".into(), |s| s.to_string_lossy().into_owned());
    database_path.with_file_name(format!("{stem}.d"))
}

/// The lock file in the index directory: every open index holds it shared, a full rebuild
/// (which swaps in new database files) holds it exclusively.
pub fn lock_path(dir: &Path) -> PathBuf {
    dir.join("index.lock")
}

/// Creates the index directory and opens (creating) its lock file.
pub fn lock_file(dir: &Path) -> Result<std::fs::File, OpenError> {
    std::fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
    let path = lock_path(dir);
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err("opening", &path))
}

/// `path` with `suffix` appended to its file name.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    p.into()
}

/// Removes a database file and its journal files; missing ones are fine.
pub fn remove_db_files(path: &Path) -> std::io::Result<()> {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        match std::fs::remove_file(sibling(path, suffix)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// The single-file index of earlier versions at `DATABASE_PATH`: derived data, so it is deleted
/// and the per-user databases are built from the vault files by the reconciliation at start.
fn retire_single_file(database_path: &Path, dir: &Path) -> Result<(), OpenError> {
    if !database_path.is_file() {
        return Ok(());
    }
    tracing::info!(
        old = %database_path.display(),
        new = %dir.display(),
        "replacing the single-file index with one database per user; they are rebuilt from the vault files"
    );
    remove_db_files(database_path).map_err(io_err("removing", database_path))?;
    let _ = std::fs::remove_file(sibling(database_path, ".lock"));
    Ok(())
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index").field("dir", &self.dir).finish()
    }
}

/// Formats nanoseconds since the epoch as RFC 3339 UTC (seconds precision).
pub fn rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

fn summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<NoteSummary> {
    let tags: String = r.get(2)?;
    Ok(NoteSummary {
        path: r.get(0)?,
        title: r.get(1)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        hash: r.get(3)?,
        size: r.get::<_, i64>(4)? as u64,
        modified: rfc3339(r.get(5)?),
    })
}

const SUMMARY_COLS: &str = "path, title, tags, hash, size, mtime_ns";

/// Opens `path` as a user's database at the current [`schema::VERSION`]: a new file gets the
/// tables, a file of another version or one SQLite cannot read is replaced by an empty one (the
/// vault files are the source of truth; reconciliation or `reindex` fills it).
fn open_user_db(path: &Path) -> rusqlite::Result<Connection> {
    let opened = Connection::open(path).and_then(|c| {
        schema::configure(&c)?;
        let v: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        Ok((c, v))
    });
    let replace = |why: &str| {
        tracing::warn!(path = %path.display(), "{why}; replacing it with an empty one, filled from the vault files by reconciliation or `reindex --user`");
        remove_db_files(path).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
    };
    let conn = match opened {
        Ok((c, v)) if v == schema::VERSION => return Ok(c),
        Ok((c, 0)) => c,
        Ok((c, v)) => {
            drop(c);
            replace(&format!(
                "a user's index has layout version {v}, this program uses {}",
                schema::VERSION
            ))?;
            return open_user_db(path);
        }
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(
                e.code,
                rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
            ) =>
        {
            replace("a user's index is damaged")?;
            let c = Connection::open(path)?;
            schema::configure(&c)?;
            c
        }
        Err(e) => return Err(e),
    };
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE; {} PRAGMA user_version = {}; COMMIT;",
        schema::SCHEMA,
        schema::VERSION
    ))?;
    Ok(conn)
}

impl Index {
    /// Opens the index that `database_path` names (see [`index_dir`]), creating its directory;
    /// waits while a full rebuild replaces the files.
    pub fn open(database_path: &Path, options: IndexOptions) -> Result<Self, OpenError> {
        let dir = index_dir(database_path);
        retire_single_file(database_path, &dir)?;
        let lock = lock_file(&dir)?;
        match lock.try_lock_shared() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                tracing::warn!(dir = %dir.display(), "the index is being rebuilt (vaultgate-backend reindex); waiting");
                lock.lock_shared().map_err(io_err("locking", &lock_path(&dir)))?;
            }
            // Some network filesystems refuse locks: serve anyway, only the guard is lost.
            Err(std::fs::TryLockError::Error(e)) => {
                tracing::warn!(path = %lock_path(&dir).display(), error = %e, "cannot lock the index; a concurrent full reindex will not be detected");
            }
        }
        let open = moka::sync::Cache::builder()
            .max_capacity(options.open_max.max(1))
            .time_to_idle(options.idle)
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .build();
        Ok(Self { dir, open, _lock: lock })
    }

    /// The directory holding the per-user databases.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `user`'s database lives.
    pub fn path_of(&self, user: &UserId) -> PathBuf {
        user_db(&self.dir, user)
    }

    /// The user's open database, opening (creating) it on first use.
    fn handle(&self, user: &UserId) -> rusqlite::Result<Arc<UserIndex>> {
        if let Some(h) = self.open.get(user) {
            return Ok(h);
        }
        let h = self
            .open
            .try_get_with_by_ref(user, || {
                let path = self.path_of(user);
                open_user_db(&path).map(|writer| {
                    Arc::new(UserIndex {
                        path,
                        writer: Mutex::new(writer),
                        reader: Mutex::new(None),
                    })
                })
            })
            .map_err(|e| match Arc::try_unwrap(e) {
                Ok(e) => e,
                Err(e) => rusqlite::Error::ToSqlConversionFailure(e.to_string().into()),
            })?;
        // Evictions are applied lazily; apply them now so the open count stays under the cap.
        self.open.run_pending_tasks();
        Ok(h)
    }

    /// Runs `f` on a reader connection of `user`'s database.
    pub fn read<T>(&self, user: &UserId, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
        let _span = crate::trace::step("index.query");
        let h = self.handle(user)?;
        let conn = h.reader.lock().unwrap_or_else(|e| e.into_inner()).take();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open(&h.path)?;
                schema::configure(&c)?;
                c
            }
        };
        let out = f(&conn);
        let mut idle = h.reader.lock().unwrap_or_else(|e| e.into_inner());
        if idle.is_none() {
            *idle = Some(conn);
        }
        out
    }

    /// Runs `f` in a write transaction on `user`'s writer connection; other users' writes never
    /// wait for it.
    pub fn write<T>(
        &self,
        user: &UserId,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let _span = crate::trace::step("index.update");
        let h = self.handle(user)?;
        let mut conn = h.writer.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction()?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` on a read-only connection of `user`'s database opened just for it (not cached, so
    /// an operator's walk over every user does not push out the databases in use). `None` when
    /// the user has no database.
    pub fn peek<T>(
        &self,
        user: &UserId,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Option<T>> {
        let path = self.path_of(user);
        if !path.is_file() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        f(&conn).map(Some)
    }

    /// Users that have a database here (file names that are not valid ids are ignored).
    pub fn users(&self) -> std::io::Result<Vec<UserId>> {
        let mut users = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            if let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".db"))
                .and_then(|n| UserId::parse(n).ok())
            {
                users.push(id);
            }
        }
        users.sort();
        Ok(users)
    }

    /// Closes `user`'s database (once requests using it finish) and deletes its files.
    pub fn remove_user_files(&self, user: &UserId) -> std::io::Result<()> {
        self.open.invalidate(user);
        self.open.run_pending_tasks();
        remove_db_files(&self.path_of(user))
    }

    /// Closes databases idle longer than the configured time (call it now and then).
    pub fn maintain(&self) {
        self.open.run_pending_tasks();
    }

    /// How many per-user databases are open (cached).
    pub fn open_count(&self) -> u64 {
        self.open.run_pending_tasks();
        self.open.entry_count()
    }

    /// Number of notes for everyone (the `vaultgate_backend_index_notes` gauge).
    pub fn total_notes(&self) -> rusqlite::Result<i64> {
        Ok(self.vault_sizes()?.iter().map(|(_, n, _)| *n as i64).sum())
    }

    /// Every user's note count and total bytes, largest vault first (the operator's usage report).
    pub fn vault_sizes(&self) -> rusqlite::Result<Vec<(String, u64, u64)>> {
        let users = self
            .users()
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        let mut out = Vec::new();
        for u in users {
            if let Some((n, bytes)) = self.peek(&u, |c| usage(c, u.as_str()))? {
                out.push((u.as_str().to_owned(), n, bytes));
            }
        }
        out.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        Ok(out)
    }
}

/// The database file of `user` in `dir`. User ids are `[A-Za-z0-9_-]`, so the name is safe.
pub fn user_db(dir: &Path, user: &UserId) -> PathBuf {
    dir.join(format!("{}.db", user.as_str()))
}

/// Inserts or replaces one note's rows (notes, FTS, tags, links) inside `tx`.
pub fn upsert(
    tx: &Transaction<'_>,
    user: &str,
    path: &NotePath,
    note: &ParsedNote,
    stamp: FileStamp,
    hash: &str,
) -> rusqlite::Result<()> {
    upsert_many(tx, user, [(path, note, stamp, hash)])
}

/// Inserts or replaces many notes' rows inside `tx`: every note's metadata first, then every
/// full-text row. FTS5 flushes its pending terms to a new segment whenever a statement opens a
/// savepoint (as the `notes` insert does), so interleaving the two would write one tiny segment
/// per note and spend the load merging them; in this order a batch becomes one segment.
pub fn upsert_many<'a>(
    tx: &Transaction<'_>,
    user: &str,
    notes: impl IntoIterator<Item = (&'a NotePath, &'a ParsedNote, FileStamp, &'a str)>,
) -> rusqlite::Result<()> {
    let mut text = Vec::new();
    for (path, note, stamp, hash) in notes {
        text.push((upsert_meta(tx, user, path, note, stamp, hash, None)?, note));
    }
    for (id, note) in text {
        insert_text(tx, user, id, note)?;
    }
    Ok(())
}

/// The note's full-text row (after [`upsert_meta`] removed any old one).
pub fn insert_text(tx: &Transaction<'_>, _user: &str, id: i64, note: &ParsedNote) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT INTO notes_fts (rowid, title, body) VALUES (?1, ?2, ?3)")?
        .execute(params![id, note.title, note.body])?;
    Ok(())
}

/// Inserts or updates the note's `notes` row and replaces its tags and links; drops its old
/// full-text row. Returns the note id (`new_id` for a new note, when given). [`insert_text`]
/// must follow in the same transaction.
pub fn upsert_meta(
    tx: &Transaction<'_>,
    user: &str,
    path: &NotePath,
    note: &ParsedNote,
    stamp: FileStamp,
    hash: &str,
    new_id: Option<i64>,
) -> rusqlite::Result<i64> {
    let tags_json = serde_json::to_string(&note.tags).unwrap_or_else(|_| "[]".into());
    let existing: Option<i64> = tx
        .prepare_cached("SELECT id FROM notes WHERE user_id = ?1 AND path = ?2")?
        .query_row(params![user, path.as_str()], |r| r.get(0))
        .optional()?;
    let id = match existing {
        Some(id) => {
            tx.prepare_cached(
                "UPDATE notes SET title = ?3, title_key = ?4, tags = ?5, size = ?6, mtime_ns = ?7, hash = ?8
                 WHERE id = ?1 AND user_id = ?2",
            )?
            .execute(params![
                id,
                user,
                note.title,
                note.title.to_lowercase(),
                tags_json,
                stamp.size as i64,
                stamp.mtime_ns,
                hash
            ])?;
            tx.prepare_cached("DELETE FROM notes_fts WHERE rowid = ?1")?.execute([id])?;
            tx.prepare_cached("DELETE FROM tags WHERE note_id = ?1 AND user_id = ?2")?
                .execute(params![id, user])?;
            tx.prepare_cached("DELETE FROM links WHERE note_id = ?1 AND user_id = ?2")?
                .execute(params![id, user])?;
            id
        }
        None => tx
            .prepare_cached(
                "INSERT INTO notes (user_id, path, folder, title, title_key, stem_key, path_key, tags, size, mtime_ns, hash, id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) RETURNING id",
            )?
            .query_row(
                params![
                    user,
                    path.as_str(),
                    path.folder(),
                    note.title,
                    note.title.to_lowercase(),
                    link_key(path.stem()),
                    link_key(path.without_extension()),
                    tags_json,
                    stamp.size as i64,
                    stamp.mtime_ns,
                    hash,
                    new_id
                ],
                |r| r.get(0),
            )?,
    };
    let mut tag_stmt = tx.prepare_cached("INSERT OR IGNORE INTO tags (user_id, note_id, tag) VALUES (?1, ?2, ?3)")?;
    for tag in &note.tags {
        tag_stmt.execute(params![user, id, tag])?;
    }
    let mut link_stmt =
        tx.prepare_cached("INSERT OR IGNORE INTO links (user_id, note_id, target_key) VALUES (?1, ?2, ?3)")?;
    for target in &note.links {
        link_stmt.execute(params![user, id, link_key(target)])?;
    }
    Ok(id)
}

/// Removes one note's rows; true when there was one.
pub fn remove(tx: &Transaction<'_>, user: &str, path: &str) -> rusqlite::Result<bool> {
    let id: Option<i64> = tx
        .prepare_cached("SELECT id FROM notes WHERE user_id = ?1 AND path = ?2")?
        .query_row(params![user, path], |r| r.get(0))
        .optional()?;
    let Some(id) = id else { return Ok(false) };
    tx.prepare_cached("DELETE FROM notes_fts WHERE rowid = ?1")?
        .execute([id])?;
    tx.prepare_cached("DELETE FROM tags WHERE note_id = ?1 AND user_id = ?2")?
        .execute(params![id, user])?;
    tx.prepare_cached("DELETE FROM links WHERE note_id = ?1 AND user_id = ?2")?
        .execute(params![id, user])?;
    tx.prepare_cached("DELETE FROM notes WHERE id = ?1 AND user_id = ?2")?
        .execute(params![id, user])?;
    Ok(true)
}

/// Removes every row of `user`; returns how many notes there were.
pub fn remove_user(tx: &Transaction<'_>, user: &str) -> rusqlite::Result<usize> {
    tx.execute(
        "DELETE FROM notes_fts WHERE rowid IN (SELECT id FROM notes WHERE user_id = ?1)",
        [user],
    )?;
    tx.execute("DELETE FROM tags WHERE user_id = ?1", [user])?;
    tx.execute("DELETE FROM links WHERE user_id = ?1", [user])?;
    tx.execute("DELETE FROM notes WHERE user_id = ?1", [user])
}

/// The user's note count and total bytes.
pub fn usage(conn: &Connection, user: &str) -> rusqlite::Result<(u64, u64)> {
    conn.prepare_cached("SELECT count(*), coalesce(sum(size), 0) FROM notes WHERE user_id = ?1")?
        .query_row([user], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)))
}

/// One note's summary.
pub fn summary_of(conn: &Connection, user: &str, path: &str) -> rusqlite::Result<Option<NoteSummary>> {
    conn.prepare_cached(&format!(
        "SELECT {SUMMARY_COLS} FROM notes WHERE user_id = ?1 AND path = ?2"
    ))?
    .query_row(params![user, path], summary)
    .optional()
}

/// Notes in path order after `after`, in `folder` (and below); `limit + 1` rows tell if more exist.
pub fn list(
    conn: &Connection,
    user: &str,
    folder: &Folder,
    after: &str,
    limit: usize,
) -> rusqlite::Result<Vec<NoteSummary>> {
    let prefix = if folder.as_str().is_empty() {
        String::new()
    } else {
        format!("{}/", folder.as_str())
    };
    conn.prepare_cached(&format!(
        "SELECT {SUMMARY_COLS} FROM notes
         WHERE user_id = ?1 AND path > ?2 AND (?3 = '' OR substr(path, 1, ?4) = ?3)
         ORDER BY path LIMIT ?5"
    ))?
    .query_map(
        params![user, after, prefix, prefix.chars().count() as i64, limit as i64],
        summary,
    )?
    .collect()
}

/// Every indexed file of `user`, for reconciliation.
pub fn files(conn: &Connection, user: &str) -> rusqlite::Result<Vec<IndexedFile>> {
    conn.prepare_cached("SELECT path, size, mtime_ns, hash FROM notes WHERE user_id = ?1")?
        .query_map([user], |r| {
            Ok(IndexedFile {
                path: r.get(0)?,
                stamp: FileStamp {
                    size: r.get::<_, i64>(1)? as u64,
                    mtime_ns: r.get(2)?,
                },
                hash: r.get(3)?,
            })
        })?
        .collect()
}

/// Updates only the stored mtime (content unchanged).
pub fn touch(tx: &Transaction<'_>, user: &str, path: &str, stamp: FileStamp) -> rusqlite::Result<()> {
    tx.prepare_cached("UPDATE notes SET mtime_ns = ?3, size = ?4 WHERE user_id = ?1 AND path = ?2")?
        .execute(params![user, path, stamp.mtime_ns, stamp.size as i64])?;
    Ok(())
}

/// Which note a link written in `source_folder` with key `key` points to: for a link that names
/// a folder (`[[a/b]]`) the note at exactly that path first; otherwise (and then) by title or
/// file stem, preferring the same folder, then the shortest path, then the lexicographically first.
pub fn resolve_link(conn: &Connection, user: &str, source_folder: &str, key: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached(RESOLVE_LINK)?
        .query_row(params![user, key, source_folder], |r| r.get(0))
        .optional()
}

/// Three indexed lookups. Written with `OR`, SQLite scans every note of the user; with `UNION`
/// (deduplicating) it merges three scans in path order. `UNION ALL` searches each index, and a
/// note found twice cannot change which one sorts first.
const RESOLVE_LINK: &str = "SELECT path FROM (
         SELECT path, folder, path_key FROM notes WHERE user_id = ?1 AND path_key = ?2
         UNION ALL SELECT path, folder, path_key FROM notes WHERE user_id = ?1 AND title_key = ?2
         UNION ALL SELECT path, folder, path_key FROM notes WHERE user_id = ?1 AND stem_key = ?2)
     ORDER BY (instr(?2, '/') > 0 AND path_key = ?2) DESC, (folder = ?3) DESC, length(path), path LIMIT 1";

/// Notes whose wikilinks resolve to `target`.
pub fn backlinks(conn: &Connection, user: &str, target: &NotePath) -> rusqlite::Result<Vec<Backlink>> {
    let Some((title_key, stem_key, path_key)) = conn
        .prepare_cached("SELECT title_key, stem_key, path_key FROM notes WHERE user_id = ?1 AND path = ?2")?
        .query_row(params![user, target.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
        })
        .optional()?
    else {
        return Ok(Vec::new());
    };
    let candidates: Vec<(String, String, String, String)> = conn
        .prepare_cached(
            "SELECT n.path, n.title, n.folder, l.target_key FROM links l JOIN notes n ON n.id = l.note_id
             WHERE l.user_id = ?1 AND n.user_id = ?1 AND l.target_key IN (?2, ?3, ?4) AND n.path != ?5
             ORDER BY n.path",
        )?
        .query_map(params![user, title_key, stem_key, path_key, target.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut out: Vec<Backlink> = Vec::new();
    for (path, title, folder, key) in candidates {
        if out.last().is_some_and(|b| b.path == path) {
            continue;
        }
        if resolve_link(conn, user, &folder, &key)?.as_deref() == Some(target.as_str()) {
            out.push(Backlink { path, title });
        }
    }
    Ok(out)
}

/// The user's tags with counts, most used first.
pub fn tags(conn: &Connection, user: &str) -> rusqlite::Result<Vec<TagCount>> {
    conn.prepare_cached("SELECT tag, count(*) AS c FROM tags WHERE user_id = ?1 GROUP BY tag ORDER BY c DESC, tag")?
        .query_map([user], |r| {
            Ok(TagCount {
                tag: r.get(0)?,
                count: r.get::<_, i64>(1)? as u64,
            })
        })?
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan, not only the answer: a scan gives the same links, just 250× slower at 10k notes.
    #[test]
    fn link_resolution_searches_the_three_key_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(&dir.path().join("index.db"), IndexOptions::default()).unwrap();
        let alice = UserId::parse("alice").unwrap();
        let plan: Vec<String> = index
            .read(&alice, |c| {
                c.prepare(&format!("EXPLAIN QUERY PLAN {RESOLVE_LINK}"))?
                    .query_map(params!["alice", "a", ""], |r| r.get(3))?
                    .collect()
            })
            .unwrap();
        for key in ["path_key", "title_key", "stem_key"] {
            let wanted = format!("SEARCH notes USING INDEX notes_{key} (user_id=? AND {key}=?)");
            assert!(plan.contains(&wanted), "{wanted} not in {plan:#?}");
        }
        assert!(!plan.iter().any(|l| l.starts_with("SCAN notes")), "{plan:#?}");
    }

    /// A database of another layout (older or newer) is a cache of the vault: it is replaced,
    /// not read with the wrong columns, and the new file records the current version.
    #[test]
    fn a_user_database_of_another_version_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(&dir.path().join("index.db"), IndexOptions::default()).unwrap();
        let alice = UserId::parse("alice").unwrap();
        for old in [1, schema::VERSION + 1] {
            index.open.invalidate_all();
            let path = index.path_of(&alice);
            let _ = remove_db_files(&path);
            {
                let c = Connection::open(&path).unwrap();
                c.execute_batch(&format!(
                    "CREATE TABLE notes (owner TEXT, path TEXT); INSERT INTO notes VALUES ('alice', 'old.md');
                     PRAGMA user_version = {old};"
                ))
                .unwrap();
            }
            let (version, cols): (i64, Vec<String>) = index
                .read(&alice, |c| {
                    let v = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
                    let cols = c
                        .prepare("SELECT name FROM pragma_table_info('notes')")?
                        .query_map([], |r| r.get(0))?
                        .collect::<rusqlite::Result<_>>()?;
                    Ok((v, cols))
                })
                .unwrap();
            assert_eq!(version, schema::VERSION, "from version {old}");
            assert!(
                cols.contains(&"title_key".to_owned()) && !cols.contains(&"owner".to_owned()),
                "{cols:?}"
            );
            let count: i64 = index
                .read(&alice, |c| c.query_row("SELECT count(*) FROM notes", [], |r| r.get(0)))
                .unwrap();
            assert_eq!(count, 0, "rows of the old layout were kept");
        }
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400_000_000_000), "2000-02-29T00:00:00Z");
    }
}
