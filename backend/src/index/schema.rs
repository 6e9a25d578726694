//! The index's tables. Every table carries `user_id`, and every query filters on it.
//!
//! `notes_fts.owner` holds an opaque token derived from the user id (see [`owner_token`]) so a
//! search restricts itself to one user inside the FTS5 `MATCH` itself, not only after it.

use rusqlite::Connection;

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
    title, body, owner, tokenize = 'porter unicode61'
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

/// The FTS5 token standing for a user: `u` + three decimal digits per byte of the id. One
/// unicode61 token, no FTS syntax, and ending in a digit so the porter stemmer leaves it alone.
pub fn owner_token(user: &str) -> String {
    let mut t = String::with_capacity(1 + 3 * user.len());
    t.push('u');
    for b in user.bytes() {
        t.push_str(&format!("{b:03}"));
    }
    t
}
