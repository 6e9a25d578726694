//! The tables of one user's index database. Each database holds one user's notes; the tables
//! still carry `user_id` and every query filters on it, as defence in depth.
//!
//! The full-text table has no user column: its statistics (what `bm25()` ranks with) must be
//! one user's alone, which only a table per user gives.

use rusqlite::Connection;

/// The layout version, stored as `PRAGMA user_version`; a database of another version is
/// rebuilt from the vault files. 1 was the single shared file (with an `owner` column).
pub const VERSION: i64 = 2;

/// The tables and indexes (idempotent).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS notes (
    id        INTEGER PRIMARY KEY,
    user_id   TEXT NOT NULL,
    path      TEXT NOT NULL,
    folder    TEXT NOT NULL,
    title     TEXT NOT NULL,
    title_key TEXT NOT NULL,
    stem_key  TEXT NOT NULL,
    path_key  TEXT NOT NULL,
    tags      TEXT NOT NULL,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    hash      TEXT NOT NULL,
    UNIQUE (user_id, path)
);
CREATE INDEX IF NOT EXISTS notes_title_key ON notes (user_id, title_key);
CREATE INDEX IF NOT EXISTS notes_stem_key ON notes (user_id, stem_key);
CREATE INDEX IF NOT EXISTS notes_path_key ON notes (user_id, path_key);
CREATE TABLE IF NOT EXISTS tags (
    user_id TEXT NOT NULL,
    note_id INTEGER NOT NULL REFERENCES notes (id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    PRIMARY KEY (note_id, tag)
);
CREATE INDEX IF NOT EXISTS tags_by_user ON tags (user_id, tag);
CREATE TABLE IF NOT EXISTS links (
    user_id    TEXT NOT NULL,
    note_id    INTEGER NOT NULL REFERENCES notes (id) ON DELETE CASCADE,
    target_key TEXT NOT NULL,
    PRIMARY KEY (note_id, target_key)
);
CREATE INDEX IF NOT EXISTS links_by_target ON links (user_id, target_key);
CREATE VIRTUAL TABLE IF NOT EXISTS notes_fts USING fts5 (
    title, body, tokenize = 'porter unicode61'
);
";

/// Drops the secondary indexes: a full rebuild loads into bare tables and builds each index
/// in one pass afterwards (by running [`SCHEMA`] again), which is far cheaper than keeping
/// them up to date row by row.
pub const DROP_INDEXES: &str = "
DROP INDEX IF EXISTS notes_title_key;
DROP INDEX IF EXISTS notes_stem_key;
DROP INDEX IF EXISTS notes_path_key;
DROP INDEX IF EXISTS tags_by_user;
DROP INDEX IF EXISTS links_by_target;
";

/// Settings every connection gets.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // The files are the source of truth and the index is reconciled at start, so the
    // index can trade the last transactions on power loss for write speed.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -16_000)?;
    Ok(())
}
