//! Per-user write locks, and the users with an import running. Every change to a user's notes
//! holds that user's lock, so an `if_match` check, the quota check and the write are one step;
//! users never wait on each other's locks.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use vaultgate_shared::UserId;

use super::ServiceError;

/// The users' write locks and import flags.
#[derive(Debug, Default)]
pub(crate) struct UserLocks {
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Users with an import running: their writes are refused at once rather than queued
    /// behind it, so they cannot pile up holding the bulkhead's threads for its whole length.
    importing: Mutex<HashSet<String>>,
}

/// An import in progress (see [`UserLocks::begin_import`]).
pub(crate) struct ImportGuard<'a> {
    locks: &'a UserLocks,
    user: String,
}

impl Drop for ImportGuard<'_> {
    fn drop(&mut self) {
        self.locks
            .importing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.user);
    }
}

impl UserLocks {
    /// The user's write lock for one note's change, refused while an import runs.
    pub(crate) fn write_lock(&self, user: &UserId) -> Result<Arc<Mutex<()>>, ServiceError> {
        if self
            .importing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(user.as_str())
        {
            return Err(ServiceError::Importing);
        }
        Ok(self.lock(user))
    }

    /// Marks `user` as importing until the guard is dropped; `None` when an import already runs.
    pub(crate) fn begin_import(&self, user: &UserId) -> Option<ImportGuard<'_>> {
        let mut set = self.importing.lock().unwrap_or_else(|e| e.into_inner());
        set.insert(user.as_str().to_owned()).then(|| ImportGuard {
            locks: self,
            user: user.as_str().to_owned(),
        })
    }

    /// The user's write lock: every change to the user's notes holds it.
    pub(crate) fn lock(&self, user: &UserId) -> Arc<Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(user.as_str().to_owned()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_refuses_its_users_writes_only_while_it_runs() {
        let (alice, bob) = (UserId::parse("alice").unwrap(), UserId::parse("bob").unwrap());
        let locks = UserLocks::default();
        assert!(Arc::ptr_eq(&locks.lock(&alice), &locks.write_lock(&alice).unwrap()));
        assert!(
            !Arc::ptr_eq(&locks.lock(&alice), &locks.lock(&bob)),
            "one lock per user"
        );
        let guard = locks.begin_import(&alice).unwrap();
        assert!(locks.begin_import(&alice).is_none(), "one import per user");
        assert_eq!(locks.write_lock(&alice).err(), Some(ServiceError::Importing));
        assert!(locks.write_lock(&bob).is_ok(), "other users write on");
        drop(guard);
        assert!(locks.write_lock(&alice).is_ok());
    }
}
