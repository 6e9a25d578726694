//! Deep readiness (`GET /readyz`): the index opens and answers, the vault and index folders are
//! writable, and their file systems have free space and inodes above a floor. `/healthz` stays
//! the cheap liveness answer.
//!
//! Permission bits are checked besides trying: a backend running as root (as CI and many
//! containers do) writes through any mode, so a folder an operator made read-only would still
//! pass a write probe. As root, the owner's bits are taken as the intended permission.
//!
//! One check runs at a time and its result is reused for [`CACHE_FOR`], so however often
//! `/readyz` is asked, the disk sees at most one probe a second.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

/// How long one readiness result is reused.
pub const CACHE_FOR: Duration = Duration::from_secs(1);

/// The name of the probe database in the index folder (not a valid user id, so never a user's).
pub const PROBE_DB: &str = ".readyz.db";

/// The free-space floors (`READY_MIN_FREE_BYTES`, `READY_MIN_FREE_INODES`).
#[derive(Debug, Clone, Copy)]
pub struct Floors {
    pub min_free_bytes: u64,
    pub min_free_inodes: u64,
}

/// One check's result.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    /// `index`, `vault` or `disk`.
    pub name: &'static str,
    pub ok: bool,
    /// Why it failed (no user id or note path: only the operator's own folders and numbers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The answer of `/readyz`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    pub checks: Vec<Check>,
}

impl Report {
    /// True when every check passed.
    pub fn ready(&self) -> bool {
        self.status == "ready"
    }
}

/// The readiness checker, with its cache.
#[derive(Debug)]
pub struct Readiness {
    vault: PathBuf,
    index: PathBuf,
    floors: Floors,
    last: tokio::sync::Mutex<Option<(Instant, Arc<Report>)>>,
}

impl Readiness {
    /// Checks the vault folder `vault` and the index folder `index`.
    pub fn new(vault: PathBuf, index: PathBuf, floors: Floors) -> Self {
        Self {
            vault,
            index,
            floors,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// The current report: a fresh one at most every [`CACHE_FOR`]; concurrent callers wait for
    /// the one check in progress instead of starting their own.
    pub async fn report(self: &Arc<Self>) -> Arc<Report> {
        let mut last = self.last.lock().await;
        if let Some((at, report)) = last.as_ref()
            && at.elapsed() < CACHE_FOR
        {
            return report.clone();
        }
        let me = self.clone();
        let report = match tokio::task::spawn_blocking(move || me.check_now()).await {
            Ok(r) => Arc::new(r),
            Err(_) => Arc::new(Report {
                status: "not_ready",
                checks: vec![failed("index", "the readiness check panicked".into())],
            }),
        };
        *last = Some((Instant::now(), report.clone()));
        report
    }

    /// Runs every check now (blocking).
    pub fn check_now(&self) -> Report {
        let checks = vec![
            named("index", check_index(&self.index)),
            named("vault", check_writable(&self.vault)),
            named("disk", check_space(&[&self.vault, &self.index], self.floors)),
        ];
        let status = if checks.iter().all(|c| c.ok) {
            "ready"
        } else {
            "not_ready"
        };
        Report { status, checks }
    }
}

fn failed(name: &'static str, error: String) -> Check {
    Check {
        name,
        ok: false,
        error: Some(error),
    }
}

fn named(name: &'static str, r: Result<(), String>) -> Check {
    match r {
        Ok(()) => Check {
            name,
            ok: true,
            error: None,
        },
        Err(e) => failed(name, e),
    }
}

/// What a file or folder must allow.
#[derive(Debug, Clone, Copy)]
struct Want {
    read: bool,
    write: bool,
    /// Search permission (folders).
    exec: bool,
}

const DIR_RWX: Want = Want {
    read: true,
    write: true,
    exec: true,
};
const FILE_RW: Want = Want {
    read: true,
    write: true,
    exec: false,
};

/// Checks the mode bits of `meta` for this process: as root the owner's bits (root would pass
/// any `access(2)` test), otherwise the kernel's own answer for the path. The error does not
/// name the path (a database's name is a user id): callers add it where it may be shown.
fn allowed(path: &Path, meta: &std::fs::Metadata, want: Want) -> Result<(), String> {
    if rustix::process::geteuid().is_root() {
        let owner = (meta.permissions().mode() >> 6) & 0o7;
        let missing =
            (want.read && owner & 0o4 == 0) || (want.write && owner & 0o2 == 0) || (want.exec && owner & 0o1 == 0);
        if missing {
            return Err(format!(
                "mode {:o}: its owner lacks {} permission",
                meta.permissions().mode() & 0o7777,
                describe(want)
            ));
        }
        return Ok(());
    }
    let mut access = rustix::fs::Access::empty();
    if want.read {
        access |= rustix::fs::Access::READ_OK;
    }
    if want.write {
        access |= rustix::fs::Access::WRITE_OK;
    }
    if want.exec {
        access |= rustix::fs::Access::EXEC_OK;
    }
    rustix::fs::access(path, access).map_err(|e| format!("not {}: {e}", describe(want)))
}

fn describe(want: Want) -> &'static str {
    match (want.read, want.write, want.exec) {
        (true, true, true) => "readable, writable and searchable",
        (true, true, false) => "readable and writable",
        _ => "accessible",
    }
}

/// The index folder is a usable folder, every database in it is readable and writable, and a
/// probe database there opens and answers a query.
fn check_index(dir: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a folder", dir.display()));
    }
    allowed(dir, &meta, DIR_RWX).map_err(|e| format!("{}: {e}", dir.display()))?;
    let entries = std::fs::read_dir(dir).map_err(|e| format!("listing {}: {e}", dir.display()))?;
    let mut refused = 0usize;
    let mut first = None;
    for entry in entries {
        let entry = entry.map_err(|e| format!("listing {}: {e}", dir.display()))?;
        let name = entry.file_name();
        if !name.to_str().is_some_and(|n| n.ends_with(".db")) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        if let Err(e) = allowed(&entry.path(), &meta, FILE_RW) {
            refused += 1;
            first.get_or_insert(e);
        }
    }
    if let Some(e) = first {
        // The file name is a user id: the count and the first reason are enough for an operator.
        return Err(format!(
            "{refused} user database(s) in {} cannot be used, e.g. {e}",
            dir.display()
        ));
    }
    let probe = dir.join(PROBE_DB);
    let conn = rusqlite::Connection::open(&probe).map_err(|e| format!("opening {}: {e}", probe.display()))?;
    conn.busy_timeout(Duration::from_millis(500))
        .map_err(|e| format!("{}: {e}", probe.display()))?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS probe (at INTEGER); DELETE FROM probe; INSERT INTO probe VALUES (1);",
    )
    .map_err(|e| format!("writing {}: {e}", probe.display()))?;
    let n: i64 = conn
        .query_row("SELECT count(*) FROM probe", [], |r| r.get(0))
        .map_err(|e| format!("querying {}: {e}", probe.display()))?;
    if n != 1 {
        return Err(format!("{} answered {n} rows instead of 1", probe.display()));
    }
    if let Ok(meta) = std::fs::metadata(&probe) {
        allowed(&probe, &meta, FILE_RW).map_err(|e| format!("{}: {e}", probe.display()))?;
    }
    Ok(())
}

/// The folder's mode allows writing, and a temporary file can be created, written and removed.
fn check_writable(dir: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a folder", dir.display()));
    }
    allowed(dir, &meta, DIR_RWX).map_err(|e| format!("{}: {e}", dir.display()))?;
    // A dot name is not a valid user id, so a leftover is never taken for a user's folder.
    let mut file = tempfile::Builder::new()
        .prefix(".readyz-")
        .tempfile_in(dir)
        .map_err(|e| format!("creating a file in {}: {e}", dir.display()))?;
    std::io::Write::write_all(&mut file, b"ready")
        .and_then(|()| file.as_file().sync_data())
        .map_err(|e| format!("writing a file in {}: {e}", dir.display()))?;
    file.close()
        .map_err(|e| format!("removing a file in {}: {e}", dir.display()))
}

/// Each folder's file system has at least the floors free (for unprivileged users: root's
/// reserve does not count) and is mounted writable.
fn check_space(dirs: &[&Path], floors: Floors) -> Result<(), String> {
    for dir in dirs {
        let s = rustix::fs::statvfs(*dir).map_err(|e| format!("statvfs {}: {e}", dir.display()))?;
        if s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY) {
            return Err(format!("{} is on a read-only file system", dir.display()));
        }
        let free = s.f_bavail.saturating_mul(s.f_frsize);
        if free < floors.min_free_bytes {
            return Err(format!(
                "{} has {free} bytes free, below READY_MIN_FREE_BYTES={}",
                dir.display(),
                floors.min_free_bytes
            ));
        }
        // File systems without an inode table (btrfs, some overlays) report zero files in all.
        if s.f_files > 0 && s.f_favail < floors.min_free_inodes {
            return Err(format!(
                "{} has {} inodes free, below READY_MIN_FREE_INODES={}",
                dir.display(),
                s.f_favail,
                floors.min_free_inodes
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floors() -> Floors {
        Floors {
            min_free_bytes: 1,
            min_free_inodes: 1,
        }
    }

    fn set_mode(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn ready_then_not_when_folders_or_databases_are_locked_down() {
        let tmp = tempfile::tempdir().unwrap();
        let (vault, index) = (tmp.path().join("vaults"), tmp.path().join("index.d"));
        std::fs::create_dir_all(&vault).unwrap();
        std::fs::create_dir_all(&index).unwrap();
        let db = index.join("alice.db");
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch("CREATE TABLE t(x)")
            .unwrap();
        let r = Readiness::new(vault.clone(), index.clone(), floors());
        assert!(r.check_now().ready(), "{:?}", r.check_now());

        set_mode(&db, 0o000);
        let report = r.check_now();
        assert!(!report.ready());
        let index_check = report.checks.iter().find(|c| c.name == "index").unwrap();
        assert!(!index_check.ok);
        assert!(
            !index_check.error.as_deref().unwrap().contains("alice"),
            "{index_check:?}"
        );
        set_mode(&db, 0o644);
        assert!(r.check_now().ready());

        set_mode(&vault, 0o555);
        let report = r.check_now();
        assert!(!report.ready());
        assert!(!report.checks.iter().find(|c| c.name == "vault").unwrap().ok);
        set_mode(&vault, 0o755);
        assert!(r.check_now().ready());
        // The probe leaves nothing in the vault but what it found.
        assert_eq!(std::fs::read_dir(&vault).unwrap().count(), 0);
    }

    #[test]
    fn floors_above_the_free_space_are_not_ready() {
        let tmp = tempfile::tempdir().unwrap();
        let r = Readiness::new(
            tmp.path().to_owned(),
            tmp.path().to_owned(),
            Floors {
                min_free_bytes: u64::MAX,
                min_free_inodes: 1,
            },
        );
        let report = r.check_now();
        let disk = report.checks.iter().find(|c| c.name == "disk").unwrap();
        assert!(!disk.ok);
        assert!(disk.error.as_deref().unwrap().contains("READY_MIN_FREE_BYTES"));
    }

    #[tokio::test]
    async fn reports_are_reused_within_the_cache_time() {
        let tmp = tempfile::tempdir().unwrap();
        let r = Arc::new(Readiness::new(tmp.path().to_owned(), tmp.path().to_owned(), floors()));
        let a = r.report().await;
        let b = r.report().await;
        assert!(Arc::ptr_eq(&a, &b));
    }
}
