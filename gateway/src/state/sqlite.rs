//! The SQLite state store: revocations and sessions written to one file (WAL,
//! synchronous writes) so that they survive a restart. Reads never touch the disk:
//! the in-memory stores are loaded at start and kept in step on every write, which is
//! right for a single gateway replica (several replicas need the shared Redis store).
//!
//! The operator commands (`revoke`, `sessions`) write the same file from another process;
//! a running gateway notices within `WATCH_EVERY` (SQLite's `data_version` changes only
//! for other connections' commits) and reloads what changed.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::{Connection, params};
use vaultgate_shared::UserId;
use vaultgate_shared::jwt::now_secs;

use super::memory::{MemoryRevocations, MemorySessions};
use super::revocations::{KEEP_PAST_EXPIRY_SECS, Revocations, USER_REVOCATION_KEEP};
use super::sessions::{Lookup, SessionInfo, SessionStore};
use super::{ErrorCount, SessionLimits, StateBackend, StateError, StateOp, migrations};

const NAME: StateBackend = StateBackend::Sqlite;
/// A live session's `last_seen` is written at most this often.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// Every this many session creations, rows of sessions that timed out are deleted.
const PRUNE_EVERY: u64 = 256;
/// How often a running gateway looks for changes written by another process (the CLI).
pub const WATCH_EVERY: Duration = Duration::from_secs(1);

fn err(op: StateOp) -> impl Fn(rusqlite::Error) -> StateError {
    move |e| StateError {
        backend: NAME,
        op,
        message: e.to_string(),
    }
}

/// One connection, used from blocking threads.
struct Db {
    conn: Mutex<Connection>,
    limits: SessionLimits,
    errors: ErrorCount,
}

impl Db {
    async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        op: StateOp,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StateError> {
        let db = self.clone();
        let r = tokio::task::spawn_blocking(move || {
            let conn = db.conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn).map_err(err(op))
        })
        .await
        .map_err(|e| StateError {
            backend: NAME,
            op,
            message: e.to_string(),
        })
        .and_then(|r| r);
        r.map_err(|e| self.errors.count(e))
    }

    fn prune(conn: &Connection, limits: SessionLimits) -> rusqlite::Result<()> {
        let now = now_secs() as i64;
        conn.execute(
            "DELETE FROM revoked WHERE until + ?1 < ?2",
            params![KEEP_PAST_EXPIRY_SECS as i64 + 1, now],
        )?;
        conn.execute(
            "DELETE FROM sessions WHERE created + ?1 <= ?3 OR last_seen + ?2 <= ?3",
            params![limits.max.as_secs() as i64, limits.idle.as_secs() as i64, now],
        )?;
        conn.execute(
            "DELETE FROM revoked_users WHERE at + ?1 < ?2",
            params![USER_REVOCATION_KEEP.as_secs() as i64, now],
        )?;
        Ok(())
    }

    /// Copies the revocations on disk into `mem` (they only ever grow until they expire).
    fn load_revocations(conn: &Connection, mem: &MemoryRevocations) -> rusqlite::Result<()> {
        let mut stmt = conn.prepare_cached("SELECT jti, until FROM revoked")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (jti, until) = row?;
            mem.remember(&jti, until.max(0) as u64);
        }
        let mut stmt = conn.prepare_cached("SELECT user_id, at FROM revoked_users")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (user, at) = row?;
            if let Ok(user) = UserId::parse(&user) {
                mem.remember_user(&user, at.max(0) as u64);
            }
        }
        Ok(())
    }

    /// Picks up what another process (the operator commands) wrote since the last call.
    fn reload_if_changed(
        &self,
        last: &mut Option<i64>,
        revocations: &MemoryRevocations,
        sessions: &MemorySessions,
    ) -> rusqlite::Result<()> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        if last.replace(version).is_none_or(|v| v == version) {
            return Ok(());
        }
        Self::load_revocations(&conn, revocations)?;
        let mut stmt = conn.prepare_cached("SELECT id FROM sessions")?;
        let on_disk: HashSet<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        for id in sessions.ids() {
            if !on_disk.contains(&id) {
                sessions.forget(&id);
            }
        }
        tracing::info!("state store changed by another process: reloaded");
        Ok(())
    }
}

/// Watches the file for other processes' writes while the stores live.
fn watch(db: Weak<Db>, revocations: Weak<MemoryRevocations>, sessions: Weak<MemorySessions>) {
    let spawned = std::thread::Builder::new()
        .name("vaultgate-state-watch".into())
        .spawn(move || {
            let mut last = None;
            loop {
                let (Some(db), Some(r), Some(s)) = (db.upgrade(), revocations.upgrade(), sessions.upgrade()) else {
                    return;
                };
                if let Err(e) = db.reload_if_changed(&mut last, &r, &s) {
                    db.errors.count(err(StateOp::Watch)(e));
                }
                drop((db, r, s));
                std::thread::sleep(WATCH_EVERY);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the state watcher: operator commands apply after a restart");
    }
}

/// Opens (or creates) the store at `path` and loads what is still valid into memory.
pub fn open(
    path: &Path,
    limits: SessionLimits,
    errors: ErrorCount,
) -> Result<(SqliteSessions, SqliteRevocations), StateError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| StateError {
            backend: NAME,
            op: StateOp::Open,
            message: format!("creating {}: {e}", dir.display()),
        })?;
    }
    let mut conn = Connection::open(path).map_err(err(StateOp::Open))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA busy_timeout = 5000;",
    )
    .map_err(err(StateOp::Open))?;
    let from = migrations::migrate(&mut conn).map_err(|e| StateError {
        backend: NAME,
        op: StateOp::Open,
        message: format!("{}: {e}", path.display()),
    })?;
    if from != migrations::VERSION {
        tracing::info!(path = %path.display(), from, to = migrations::VERSION, "state store schema migrated");
    }
    Db::prune(&conn, limits).map_err(err(StateOp::Open))?;

    let revocations = Arc::new(MemoryRevocations::new());
    Db::load_revocations(&conn, &revocations).map_err(err(StateOp::Open))?;

    let sessions = Arc::new(MemorySessions::new(limits.idle, limits.max, limits.per_user));
    let now = now_secs();
    let mut stmt = conn
        .prepare("SELECT id, user_id, created FROM sessions ORDER BY created")
        .map_err(err(StateOp::Open))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
        })
        .map_err(err(StateOp::Open))?;
    for row in rows {
        let (id, user, created) = row.map_err(err(StateOp::Open))?;
        // A row that does not hold a valid user id was not written by us: skip it.
        let Ok(user) = UserId::parse(&user) else { continue };
        let age = Duration::from_secs(now.saturating_sub(created.max(0) as u64));
        let created_at = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
        sessions.insert(&id, &user, created_at);
    }
    drop(stmt);
    let restored = sessions.active();
    tracing::info!(path = %path.display(), sessions = restored, "state store opened");

    let db = Arc::new(Db {
        conn: Mutex::new(conn),
        limits,
        errors,
    });
    watch(
        Arc::downgrade(&db),
        Arc::downgrade(&revocations),
        Arc::downgrade(&sessions),
    );
    let touched = moka::sync::Cache::builder()
        .max_capacity(1_000_000)
        .time_to_live(TOUCH_EVERY)
        .build();
    Ok((
        SqliteSessions {
            mem: sessions,
            db: db.clone(),
            touched,
            created: AtomicU64::new(0),
        },
        SqliteRevocations { mem: revocations, db },
    ))
}

/// Revocations on disk, mirrored in memory.
pub struct SqliteRevocations {
    mem: Arc<MemoryRevocations>,
    db: Arc<Db>,
}

#[async_trait]
impl Revocations for SqliteRevocations {
    async fn revoke(&self, jti: &str, until: u64) -> Result<(), StateError> {
        let (j, u) = (jti.to_owned(), until as i64);
        // Written down first: a logout is acknowledged only once it would survive a crash.
        self.db
            .run(StateOp::Revoke, move |c| {
                c.execute(
                    "INSERT OR REPLACE INTO revoked (jti, until) VALUES (?1, ?2)",
                    params![j, u],
                )
                .map(|_| ())
            })
            .await?;
        self.mem.remember(jti, until);
        Ok(())
    }

    async fn revoke_user(&self, user: &UserId, at: u64) -> Result<(), StateError> {
        let (u, a) = (user.as_str().to_owned(), at as i64);
        self.db
            .run(StateOp::RevokeUser, move |c| {
                c.execute(
                    "INSERT INTO revoked_users (user_id, at) VALUES (?1, ?2)
                     ON CONFLICT (user_id) DO UPDATE SET at = max(at, excluded.at)",
                    params![u, a],
                )
                .map(|_| ())
            })
            .await?;
        self.mem.remember_user(user, at);
        Ok(())
    }

    async fn is_revoked(&self, jti: &str, user: &UserId, issued_at: u64) -> Result<bool, StateError> {
        Ok(self.mem.check(jti, user, issued_at))
    }
}

/// Sessions on disk, mirrored in memory.
pub struct SqliteSessions {
    mem: Arc<MemorySessions>,
    db: Arc<Db>,
    touched: moka::sync::Cache<String, ()>,
    created: AtomicU64,
}

#[async_trait]
impl SessionStore for SqliteSessions {
    async fn create(&self, user: &UserId) -> Result<String, StateError> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_secs() as i64;
        let (i, u) = (id.clone(), user.as_str().to_owned());
        let prune = self.created.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1;
        let limits = self.db.limits;
        self.db
            .run(StateOp::Create, move |c| {
                c.execute(
                    "INSERT INTO sessions (id, user_id, created, last_seen) VALUES (?1, ?2, ?3, ?3)",
                    params![i, u, now],
                )?;
                if prune { Db::prune(c, limits) } else { Ok(()) }
            })
            .await?;
        let evicted = self.mem.insert(&id, user, Instant::now());
        if !evicted.is_empty() {
            self.db
                .run(StateOp::Create, move |c| {
                    let mut del = c.prepare_cached("DELETE FROM sessions WHERE id = ?1")?;
                    for old in &evicted {
                        del.execute([old])?;
                    }
                    Ok(())
                })
                .await?;
        }
        Ok(id)
    }

    async fn lookup(&self, id: &str) -> Result<Lookup, StateError> {
        let found = self.mem.lookup(id).await?;
        if matches!(found, Lookup::Live(_)) && !self.touched.contains_key(id) {
            self.touched.insert(id.to_owned(), ());
            let (i, now) = (id.to_owned(), now_secs() as i64);
            let db = self.db.clone();
            // Off the request path: a lost touch only shortens an idle session after a restart.
            tokio::spawn(async move {
                let r = db
                    .run(StateOp::Touch, move |c| {
                        c.execute("UPDATE sessions SET last_seen = ?2 WHERE id = ?1", params![i, now])
                            .map(|_| ())
                    })
                    .await;
                if let Err(e) = r {
                    tracing::warn!(error = %e, "could not record session activity");
                }
            });
        }
        Ok(found)
    }

    async fn end(&self, id: &str) -> Result<bool, StateError> {
        let i = id.to_owned();
        self.db
            .run(StateOp::End, move |c| {
                c.execute("DELETE FROM sessions WHERE id = ?1", [i]).map(|_| ())
            })
            .await?;
        self.mem.end(id).await
    }

    async fn end_user(&self, user: &UserId) -> Result<usize, StateError> {
        let u = user.as_str().to_owned();
        self.db
            .run(StateOp::EndUser, move |c| {
                c.execute("DELETE FROM sessions WHERE user_id = ?1", [u]).map(|_| ())
            })
            .await?;
        self.mem.end_user(user).await
    }

    async fn list(&self, user: &UserId) -> Result<Vec<SessionInfo>, StateError> {
        self.mem.list(user).await
    }

    fn active(&self) -> u64 {
        self.mem.active()
    }

    fn store(&self) -> &'static str {
        NAME.into()
    }

    async fn health(&self) -> Result<(), StateError> {
        self.db
            .run(StateOp::Health, |c| {
                c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).map(|_| ())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> SessionLimits {
        SessionLimits {
            idle: Duration::from_secs(600),
            max: Duration::from_secs(3600),
            per_user: 2,
        }
    }

    #[tokio::test]
    async fn survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/gateway.db");
        let alice = UserId::parse("alice").unwrap();
        let (sid, gone) = {
            let (s, r) = open(&path, limits(), ErrorCount::default()).unwrap();
            r.revoke("jti-1", now_secs() + 600).await.unwrap();
            r.revoke("jti-old", now_secs() - 3600).await.unwrap();
            r.revoke_user(&alice, now_secs()).await.unwrap();
            let gone = s.create(&alice).await.unwrap();
            let a = s.create(&alice).await.unwrap();
            let b = s.create(&alice).await.unwrap(); // evicts `gone` (cap 2)
            assert_eq!(s.lookup(&gone).await.unwrap(), Lookup::Expired);
            assert!(s.end(&b).await.unwrap());
            (a, gone)
        };
        let (s, r) = open(&path, limits(), ErrorCount::default()).unwrap();
        let (bob, now) = (UserId::parse("bob").unwrap(), now_secs());
        assert!(r.is_revoked("jti-1", &bob, now).await.unwrap());
        assert!(
            !r.is_revoked("jti-old", &bob, now).await.unwrap(),
            "expired revocations are pruned"
        );
        assert!(!r.is_revoked("jti-2", &bob, now).await.unwrap());
        assert!(
            r.is_revoked("jti-2", &alice, now - 5).await.unwrap(),
            "the user revocation survives"
        );
        assert!(!r.is_revoked("jti-2", &alice, now + 5).await.unwrap());
        assert_eq!(s.lookup(&sid).await.unwrap(), Lookup::Live(alice.clone()));
        assert_eq!(s.lookup(&gone).await.unwrap(), Lookup::Unknown);
        assert_eq!(s.active(), 1);
        assert_eq!(s.end_user(&alice).await.unwrap(), 1);
        let (s, _) = open(&path, limits(), ErrorCount::default()).unwrap();
        assert_eq!(s.active(), 0);
    }

    #[tokio::test]
    async fn expired_sessions_do_not_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.db");
        let short = SessionLimits {
            idle: Duration::from_secs(1),
            max: Duration::from_secs(3600),
            per_user: 4,
        };
        let id = {
            let (s, _) = open(&path, short, ErrorCount::default()).unwrap();
            s.create(&UserId::parse("bob").unwrap()).await.unwrap()
        };
        // Age the row instead of sleeping.
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE sessions SET last_seen = last_seen - 10, created = created - 10",
            [],
        )
        .unwrap();
        drop(conn);
        let (s, _) = open(&path, short, ErrorCount::default()).unwrap();
        assert_eq!(s.lookup(&id).await.unwrap(), Lookup::Unknown);
    }

    #[tokio::test]
    async fn another_process_writes_are_picked_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.db");
        let alice = UserId::parse("alice").unwrap();
        let (s, r) = open(&path, limits(), ErrorCount::default()).unwrap();
        let sid = s.create(&alice).await.unwrap();
        let issued = now_secs();
        // The operator command: a second connection to the same file, as from another process.
        let (cli_s, cli_r) = open(&path, limits(), ErrorCount::default()).unwrap();
        cli_r.revoke("jti-x", now_secs() + 600).await.unwrap();
        cli_r.revoke_user(&alice, issued).await.unwrap();
        assert_eq!(cli_s.end_user(&alice).await.unwrap(), 1);
        let deadline = Instant::now() + WATCH_EVERY * 5;
        while !r
            .is_revoked("jti-x", &UserId::parse("bob").unwrap(), issued)
            .await
            .unwrap()
        {
            assert!(Instant::now() < deadline, "the running store never saw the revocation");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let deadline = Instant::now() + WATCH_EVERY * 5;
        while s.lookup(&sid).await.unwrap() == Lookup::Live(alice.clone()) {
            assert!(Instant::now() < deadline, "the ended session stayed live");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            r.is_revoked("other", &alice, issued).await.unwrap(),
            "the user revocation arrived too"
        );
        // Its own writes do not count as another process's (no reload storm).
        let mut last = None;
        let db = s.db.clone();
        db.reload_if_changed(&mut last, &r.mem, &s.mem).unwrap();
        s.create(&alice).await.unwrap();
        let before = last;
        db.reload_if_changed(&mut last, &r.mem, &s.mem).unwrap();
        assert_eq!(before, last, "data_version unchanged by this connection's own commit");
    }

    /// The layout every file had before the schema version was recorded (`user_version` 0).
    const UNVERSIONED: &str = "
        CREATE TABLE revoked (jti TEXT PRIMARY KEY, until INTEGER NOT NULL);
        CREATE TABLE revoked_users (user_id TEXT PRIMARY KEY, at INTEGER NOT NULL);
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY, user_id TEXT NOT NULL, created INTEGER NOT NULL, last_seen INTEGER NOT NULL);
        CREATE INDEX sessions_by_user ON sessions (user_id, created);";

    fn user_version(path: &Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[tokio::test]
    async fn a_file_of_the_previous_schema_is_migrated_with_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.db");
        let now = now_secs() as i64;
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(UNVERSIONED).unwrap();
        conn.execute("INSERT INTO sessions VALUES ('sid-1', 'alice', ?1, ?1)", params![now])
            .unwrap();
        conn.execute("INSERT INTO revoked VALUES ('jti-1', ?1)", params![now + 600])
            .unwrap();
        conn.execute("INSERT INTO revoked_users VALUES ('bob', ?1)", params![now])
            .unwrap();
        drop(conn);
        assert_eq!(user_version(&path), 0);

        let (s, r) = open(&path, limits(), ErrorCount::default()).unwrap();
        assert_eq!(user_version(&path), migrations::VERSION);
        let (alice, bob) = (UserId::parse("alice").unwrap(), UserId::parse("bob").unwrap());
        assert_eq!(s.lookup("sid-1").await.unwrap(), Lookup::Live(alice.clone()));
        assert!(r.is_revoked("jti-1", &alice, now as u64).await.unwrap());
        assert!(r.is_revoked("jti-2", &bob, now as u64 - 5).await.unwrap());
        // The migrated file takes writes and opens again at the same version.
        let sid = s.create(&alice).await.unwrap();
        drop((s, r));
        let (s, _) = open(&path, limits(), ErrorCount::default()).unwrap();
        assert_eq!(s.lookup(&sid).await.unwrap(), Lookup::Live(alice));
        assert_eq!(user_version(&path), migrations::VERSION);
    }

    #[test]
    fn a_file_of_an_unknown_schema_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.db");
        for found in [migrations::VERSION + 1, -1] {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE IF NOT EXISTS future (x TEXT)")
                .unwrap();
            conn.pragma_update(None, "user_version", found).unwrap();
            drop(conn);
            let e = open(&path, limits(), ErrorCount::default()).err().unwrap();
            let msg = e.to_string();
            assert!(
                msg.contains(&format!("schema version {found}")) && msg.contains("newer vaultgate-gateway"),
                "{msg}"
            );
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert_eq!(user_version(&path), found, "the refused file was changed");
        }
    }

    #[test]
    fn an_unwritable_path_is_a_clear_error() {
        let e = open(Path::new("/proc/vaultgate/gateway.db"), limits(), ErrorCount::default())
            .err()
            .unwrap();
        assert!(e.to_string().contains("sqlite") && e.op == StateOp::Open, "{e}");
    }
}
