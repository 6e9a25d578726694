//! The SQLite state file's schema as a numbered list of migrations. The file records the
//! version it is at in `PRAGMA user_version` (0 for a new file, or for one written before
//! versions were recorded); opening it applies the missing migrations in order, in one
//! transaction, and refuses a file from a newer gateway rather than guess at its columns.

use rusqlite::{Connection, TransactionBehavior};

/// Migration `i` takes the file from version `i` to `i + 1`. Append only: a released entry
/// is never edited, since files in the field already ran it.
const MIGRATIONS: &[&str] = &[
    // 1: revocations by token id and by user, and sessions. `IF NOT EXISTS` because files
    // written before versions were recorded already hold these tables (and their rows).
    "CREATE TABLE IF NOT EXISTS revoked (jti TEXT PRIMARY KEY, until INTEGER NOT NULL);
     CREATE TABLE IF NOT EXISTS revoked_users (user_id TEXT PRIMARY KEY, at INTEGER NOT NULL);
     CREATE TABLE IF NOT EXISTS sessions (
         id TEXT PRIMARY KEY, user_id TEXT NOT NULL, created INTEGER NOT NULL, last_seen INTEGER NOT NULL);
     CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id, created);",
];

/// The schema version this gateway writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Why the file could not be brought to [`VERSION`].
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "the file has schema version {found}, which this gateway (schema version {VERSION}) does not know: \
         it was written by a newer vaultgate-gateway; run that version, or move the file away to start empty"
    )]
    Unknown { found: i64 },
    #[error("reading the schema version: {0}")]
    Read(rusqlite::Error),
    #[error("migrating from schema version {from} to {VERSION}: {source}")]
    Migrate { from: i64, source: rusqlite::Error },
}

/// Brings the file to [`VERSION`] and returns the version it was at. Another process opening
/// the same file at the same time waits for the write lock, then finds nothing left to do.
pub fn migrate(conn: &mut Connection) -> Result<i64, MigrateError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(MigrateError::Read)?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(MigrateError::Read)?;
    let sqlite = |source| MigrateError::Migrate { from: found, source };
    if !(0..=VERSION).contains(&found) {
        return Err(MigrateError::Unknown { found });
    }
    for sql in &MIGRATIONS[found as usize..] {
        tx.execute_batch(sql).map_err(sqlite)?;
    }
    tx.pragma_update(None, "user_version", VERSION).map_err(sqlite)?;
    tx.commit().map_err(sqlite)?;
    Ok(found)
}
