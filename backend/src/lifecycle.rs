//! A user's whole vault at once: export as a zip (the Markdown files as they are on disk, front
//! matter included) and deletion of the vault folder and the index database.

use std::io::{Seek, Write};
use std::path::Path;

use vaultgate_shared::UserId;
use zip::write::SimpleFileOptions;

use crate::index;
use crate::vault::{Vault, VaultError};

/// The users whose export is being sent. Each export is a temporary file as large as the vault,
/// held until the client has read it: one at a time per user bounds that to one vault's size.
#[derive(Debug, Default)]
pub struct ExportsInFlight(std::sync::Mutex<std::collections::HashSet<String>>);

impl ExportsInFlight {
    /// Marks `user`'s export as started, or `None` when one is already in flight.
    pub fn begin(self: &std::sync::Arc<Self>, user: &UserId) -> Option<ExportTicket> {
        let mut set = self.0.lock().unwrap_or_else(|e| e.into_inner());
        set.insert(user.as_str().to_owned()).then(|| ExportTicket {
            set: self.clone(),
            user: user.as_str().to_owned(),
        })
    }
}

/// One export in flight; dropping it (the stream ended, failed or was abandoned) ends it.
#[derive(Debug)]
pub struct ExportTicket {
    set: std::sync::Arc<ExportsInFlight>,
    user: String,
}

impl Drop for ExportTicket {
    fn drop(&mut self) {
        self.set.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.user);
    }
}

/// Why an export or a deletion failed.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("vault: {0}")]
    Vault(#[from] VaultError),
    #[error("writing the zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("index: {0}")]
    Index(#[from] index::OpenError),
    #[error("the index at {0} is in use (is the backend running?): stop the backend first")]
    InUse(String),
    #[error("{what}: {source}")]
    Io { what: &'static str, source: std::io::Error },
}

/// Writes every note of `user` into a zip on `out`, each at its vault path, stored as is
/// (Markdown is small; no codec to trust). Returns how many notes were written.
pub fn export_zip<W: Write + Seek>(vault: &Vault, user: &UserId, out: W) -> Result<usize, LifecycleError> {
    let mut zip = zip::ZipWriter::new(out);
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(false)
        .unix_permissions(0o644);
    let mut n = 0;
    for (path, _) in vault.walk(user)? {
        let (bytes, _) = match vault.read(user, &path) {
            Ok(b) => b,
            // Deleted since the walk: it is not part of the vault any more.
            Err(VaultError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        zip.start_file(path.as_str(), options)?;
        zip.write_all(&bytes).map_err(|source| LifecycleError::Io {
            what: "writing the zip",
            source,
        })?;
        n += 1;
    }
    zip.finish()?;
    Ok(n)
}

/// Deletes `user`'s vault folder and index database. Refused while a backend has the index
/// open (it could write the user back meanwhile): the backend must be stopped. Returns whether
/// there was a vault folder.
pub fn delete_user(vault: &Vault, database_path: &Path, user: &UserId) -> Result<bool, LifecycleError> {
    let dir = index::index_dir(database_path);
    let lock = index::lock_file(&dir)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(LifecycleError::InUse(dir.display().to_string())),
        Err(std::fs::TryLockError::Error(e)) => {
            tracing::warn!(error = %e, "cannot lock the index: make sure no backend is running");
        }
    }
    let existed = vault.remove_user(user)?;
    index::remove_db_files(&index::user_db(&dir, user)).map_err(|source| LifecycleError::Io {
        what: "removing the user's index",
        source,
    })?;
    Ok(existed)
}
