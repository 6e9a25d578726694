//! Note files on disk: one directory per user under the base path, atomic writes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use vaultgate_shared::UserId;

use super::paths::{NotePath, PathError, resolve};

/// What went wrong with a file operation.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("note not found")]
    NotFound,
    #[error("a note already exists at the destination")]
    AlreadyExists,
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> VaultError {
    let what = what.into();
    move |source| VaultError::Io { what, source }
}

/// A file's identity for reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub size: u64,
    pub mtime_ns: i64,
}

impl FileStamp {
    pub fn of(meta: &fs::Metadata) -> Self {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i64);
        Self {
            size: meta.len(),
            mtime_ns,
        }
    }
}

/// A note's new bytes in a temporary file beside its place, not yet in place: many notes are
/// staged, synced and then renamed together (an import), so a thousand notes cost one wait for
/// the disk instead of a thousand.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    file: PathBuf,
    /// Folders created for it, outermost first.
    created: Vec<PathBuf>,
}

/// The per-user vault directories.
#[derive(Debug, Clone)]
pub struct Vault {
    base: PathBuf,
}

impl Vault {
    /// Opens (creating if needed) the base directory.
    pub fn open(base: &Path) -> Result<Self, VaultError> {
        fs::create_dir_all(base).map_err(io_err("creating the vault directory"))?;
        let base = fs::canonicalize(base).map_err(io_err("resolving the vault directory"))?;
        Ok(Self { base })
    }

    /// The user's canonical directory, created on first use. Derived from the id only.
    pub fn user_root(&self, user: &UserId) -> Result<PathBuf, VaultError> {
        let dir = self.base.join(user.as_str());
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(PathError::Escapes.into()),
            Err(_) => fs::create_dir_all(&dir).map_err(io_err("creating a user directory"))?,
        }
        let real = fs::canonicalize(&dir).map_err(io_err("resolving a user directory"))?;
        if real.parent() != Some(self.base.as_path()) {
            return Err(PathError::Escapes.into());
        }
        Ok(real)
    }

    /// The user's directory if it exists, without creating it.
    fn existing_root(&self, user: &UserId) -> Option<PathBuf> {
        let dir = self.base.join(user.as_str());
        fs::symlink_metadata(&dir).ok().filter(|m| m.is_dir())?;
        Some(dir)
    }

    /// Where `path` lives for `user`, checked.
    pub fn locate(&self, user: &UserId, path: &NotePath) -> Result<PathBuf, VaultError> {
        let root = self.user_root(user)?;
        Ok(resolve(&root, path)?)
    }

    /// The note's bytes and stamp.
    pub fn read(&self, user: &UserId, path: &NotePath) -> Result<(Vec<u8>, FileStamp), VaultError> {
        let file = self.locate(user, path)?;
        let bytes = match fs::read(&file) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(VaultError::NotFound),
            Err(e) => return Err(io_err(format!("reading note '{path}'"))(e)),
        };
        let meta = fs::metadata(&file).map_err(io_err(format!("reading note '{path}'")))?;
        Ok((bytes, FileStamp::of(&meta)))
    }

    /// True when the note's file exists.
    pub fn exists(&self, user: &UserId, path: &NotePath) -> Result<bool, VaultError> {
        Ok(self.locate(user, path)?.is_file())
    }

    /// Writes the note atomically: temp file in the same directory, fsync, rename, fsync directory.
    /// Once this returns, the content survives a crash.
    pub fn write(&self, user: &UserId, path: &NotePath, bytes: &[u8]) -> Result<FileStamp, VaultError> {
        let _span = crate::trace::step("note.write");
        let file = self.locate(user, path)?;
        let dir = file.parent().ok_or(PathError::Escapes)?.to_path_buf();
        let created = create_dirs(&dir).map_err(io_err(format!("creating the folder of '{path}'")))?;
        let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        let result = (|| {
            let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, &file)?;
            sync_dir(&dir)?;
            for d in created {
                if let Some(p) = d.parent() {
                    sync_dir(p)?;
                }
            }
            fs::metadata(&file)
        })();
        match result {
            Ok(meta) => Ok(FileStamp::of(&meta)),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(io_err(format!("writing note '{path}'"))(e))
            }
        }
    }

    /// Writes `bytes` to a temporary file in the note's folder (created if needed), unsynced.
    pub fn stage(&self, user: &UserId, path: &NotePath, bytes: &[u8]) -> Result<Staged, VaultError> {
        let file = self.locate(user, path)?;
        let dir = file.parent().ok_or(PathError::Escapes)?.to_path_buf();
        let created = create_dirs(&dir).map_err(io_err(format!("creating the folder of '{path}'")))?;
        let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .and_then(|mut f| f.write_all(bytes));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(format!("writing note '{path}'"))(e));
        }
        Ok(Staged { tmp, file, created })
    }

    /// Makes staged files' contents durable, without putting them in place.
    pub fn sync_staged(&self, staged: &[Staged]) -> Result<(), VaultError> {
        for s in staged {
            File::open(&s.tmp)
                .and_then(|f| f.sync_all())
                .map_err(io_err("syncing a staged note"))?;
        }
        Ok(())
    }

    /// Puts a staged file in place (an atomic rename over any old note).
    pub fn place(&self, staged: &Staged) -> Result<(), VaultError> {
        fs::rename(&staged.tmp, &staged.file).map_err(io_err("placing a staged note"))
    }

    /// Syncs every folder the placed files went into or were created in, each once, so the
    /// renames survive a crash.
    pub fn sync_placed(&self, staged: &[Staged]) -> Result<(), VaultError> {
        let mut dirs = std::collections::BTreeSet::new();
        for s in staged {
            dirs.extend(s.file.parent().map(Path::to_path_buf));
            dirs.extend(s.created.iter().filter_map(|d| d.parent().map(Path::to_path_buf)));
        }
        for d in dirs {
            sync_dir(&d).map_err(io_err("syncing a folder"))?;
        }
        Ok(())
    }

    /// Removes a staged file that was not placed (nothing when it was), and the folders that
    /// leaves empty.
    pub fn discard(&self, user: &UserId, staged: &Staged) {
        let _ = fs::remove_file(&staged.tmp);
        if let (Some(root), Some(dir)) = (self.existing_root(user), staged.tmp.parent()) {
            remove_empty_dirs(&root, dir);
        }
    }

    /// Deletes the note and any folders it leaves empty.
    pub fn delete(&self, user: &UserId, path: &NotePath) -> Result<(), VaultError> {
        let root = self.user_root(user)?;
        let file = resolve(&root, path)?;
        match fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(VaultError::NotFound),
            Err(e) => return Err(io_err(format!("deleting note '{path}'"))(e)),
        }
        let dir = file.parent().map(Path::to_path_buf);
        if let Some(dir) = dir {
            let _ = sync_dir(&dir);
            remove_empty_dirs(&root, &dir);
        }
        Ok(())
    }

    /// Renames a note; the destination must not exist.
    pub fn rename(&self, user: &UserId, from: &NotePath, to: &NotePath) -> Result<FileStamp, VaultError> {
        let root = self.user_root(user)?;
        let src = resolve(&root, from)?;
        let dst = resolve(&root, to)?;
        if !src.is_file() {
            return Err(VaultError::NotFound);
        }
        if fs::symlink_metadata(&dst).is_ok() {
            return Err(VaultError::AlreadyExists);
        }
        let dst_dir = dst.parent().ok_or(PathError::Escapes)?.to_path_buf();
        let created = create_dirs(&dst_dir).map_err(io_err(format!("creating the folder of '{to}'")))?;
        (|| {
            fs::rename(&src, &dst)?;
            sync_dir(&dst_dir)?;
            for d in created {
                if let Some(p) = d.parent() {
                    sync_dir(p)?;
                }
            }
            if let Some(p) = src.parent() {
                sync_dir(p)?;
            }
            Ok(())
        })()
        .map_err(io_err(format!("moving note '{from}'")))?;
        if let Some(p) = src.parent() {
            remove_empty_dirs(&root, p);
        }
        let meta = fs::metadata(&dst).map_err(io_err(format!("moving note '{from}'")))?;
        Ok(FileStamp::of(&meta))
    }

    /// Deletes the user's whole folder (a symlink in its place is not followed). Returns whether
    /// there was one.
    pub fn remove_user(&self, user: &UserId) -> Result<bool, VaultError> {
        let Some(dir) = self.existing_root(user) else {
            return Ok(false);
        };
        fs::remove_dir_all(&dir).map_err(io_err("deleting a user's vault"))?;
        sync_dir(&self.base).map_err(io_err("deleting a user's vault"))?;
        Ok(true)
    }

    /// User ids that have a directory here (names that are not valid ids are ignored).
    pub fn users(&self) -> Result<Vec<UserId>, VaultError> {
        let mut users = Vec::new();
        for entry in fs::read_dir(&self.base).map_err(io_err("listing the vault directory"))? {
            let entry = entry.map_err(io_err("listing the vault directory"))?;
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false)
                && let Some(id) = entry.file_name().to_str().and_then(|n| UserId::parse(n).ok())
            {
                users.push(id);
            }
        }
        users.sort();
        Ok(users)
    }

    /// Every note file of `user` whose path passes the validator (symlinks are not followed).
    /// Leftover temp files of interrupted writes are removed on the way.
    pub fn walk(&self, user: &UserId) -> Result<Vec<(NotePath, FileStamp)>, VaultError> {
        let Some(root) = self.existing_root(user) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let entries = fs::read_dir(&dir).map_err(io_err("listing a user's notes"))?;
            for entry in entries {
                let entry = entry.map_err(io_err("listing a user's notes"))?;
                let ty = entry.file_type().map_err(io_err("listing a user's notes"))?;
                let full = entry.path();
                if ty.is_dir() {
                    stack.push(full);
                } else if ty.is_file() {
                    // A temp file is a write that never reached its rename (a crash): discard it.
                    if entry.file_name().to_str().is_some_and(|n| n.starts_with(".tmp-")) {
                        let _ = fs::remove_file(&full);
                        continue;
                    }
                    let Ok(rel) = full.strip_prefix(&root) else { continue };
                    let Some(rel) = rel.to_str() else { continue };
                    if let Ok(p) = NotePath::parse(rel) {
                        let meta = entry.metadata().map_err(io_err("listing a user's notes"))?;
                        out.push((p, FileStamp::of(&meta)));
                    }
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

/// Creates missing directories, returning the ones it created (outermost first).
fn create_dirs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut cur = dir;
    while fs::symlink_metadata(cur).is_err() {
        missing.push(cur.to_path_buf());
        match cur.parent() {
            Some(p) => cur = p,
            None => break,
        }
    }
    missing.reverse();
    for d in &missing {
        match fs::create_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(missing)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removes now-empty folders from `dir` up to (not including) `root`.
fn remove_empty_dirs(root: &Path, dir: &Path) {
    let mut cur = dir.to_path_buf();
    while cur != root && cur.starts_with(root) {
        if fs::remove_dir(&cur).is_err() {
            break;
        }
        match cur.parent() {
            Some(p) => cur = p.to_path_buf(),
            None => break,
        }
    }
}
