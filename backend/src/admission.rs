//! A cap on how much backend work one user can have in flight, so one user flooding heavy
//! searches or writes cannot take every blocking thread and starve the others.
//!
//! Each user has a small semaphore. A request over the cap waits its turn for a short while,
//! then is refused with [`Busy`] (429 on the REST API, a tool error on MCP).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use vaultgate_shared::UserId;

/// The cap and the wait.
#[derive(Debug, Clone, Copy)]
pub struct AdmissionOptions {
    /// Requests of one user worked on at once.
    pub per_user: u32,
    /// How long a request over the cap waits for a turn.
    pub wait: Duration,
}

impl Default for AdmissionOptions {
    fn default() -> Self {
        Self {
            per_user: 4,
            wait: Duration::from_secs(2),
        }
    }
}

/// The user already has the most requests in flight, and none finished within the wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many of your requests are in progress at once; retry in a moment")]
pub struct Busy;

/// Per-user semaphores.
#[derive(Debug)]
pub struct Admission {
    options: AdmissionOptions,
    users: Mutex<Users>,
}

#[derive(Debug, Default)]
struct Users {
    semaphores: HashMap<UserId, Arc<Semaphore>>,
    /// Size after the last sweep: the next sweep runs when the map has doubled.
    swept_at: usize,
}

/// A turn: the user's slot is free again when this is dropped.
#[derive(Debug)]
pub struct Turn(#[allow(dead_code)] OwnedSemaphorePermit);

impl Admission {
    pub fn new(options: AdmissionOptions) -> Self {
        Self {
            options: AdmissionOptions {
                per_user: options.per_user.max(1),
                ..options
            },
            users: Mutex::default(),
        }
    }

    /// Waits (at most the configured time) for one of `user`'s slots.
    pub async fn enter(&self, user: &UserId) -> Result<Turn, Busy> {
        let semaphore = self.semaphore(user);
        match tokio::time::timeout(self.options.wait, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Turn(permit)),
            // Timed out, or (never: nothing closes it) the semaphore was closed.
            _ => Err(Busy),
        }
    }

    fn semaphore(&self, user: &UserId) -> Arc<Semaphore> {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        // Forget users with nothing in flight or waiting: only the map holds their semaphore
        // (every permit and every waiter holds a clone), so a new one is equivalent. Amortized:
        // a sweep whenever the map has doubled since the last.
        if users.semaphores.len() >= 2 * users.swept_at.max(64) {
            users.semaphores.retain(|_, s| Arc::strong_count(s) > 1);
            users.swept_at = users.semaphores.len();
        }
        let per_user = self.options.per_user as usize;
        users
            .semaphores
            .entry(user.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(per_user)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }

    #[tokio::test]
    async fn over_the_cap_waits_then_is_refused_and_others_are_unaffected() {
        let a = Admission::new(AdmissionOptions {
            per_user: 2,
            wait: Duration::from_millis(100),
        });
        let (alice, bob) = (user("alice"), user("bob"));
        let t1 = a.enter(&alice).await.unwrap();
        let _t2 = a.enter(&alice).await.unwrap();
        assert_eq!(a.enter(&alice).await.unwrap_err(), Busy);
        // Bob has his own slots.
        let _b1 = a.enter(&bob).await.unwrap();
        let _b2 = a.enter(&bob).await.unwrap();
        // A waiting request gets the slot a finished one frees.
        let waiting = a.enter(&alice);
        drop(t1);
        assert!(waiting.await.is_ok());
    }

    #[tokio::test]
    async fn idle_users_are_forgotten_and_busy_ones_kept() {
        let a = Admission::new(AdmissionOptions {
            per_user: 1,
            wait: Duration::from_millis(10),
        });
        let held = a.enter(&user("keep")).await.unwrap();
        for i in 0..1000 {
            drop(a.enter(&user(&format!("u{i}"))).await.unwrap());
        }
        let users = a.users.lock().unwrap().semaphores.len();
        assert!(users < 200, "{users} semaphores kept");
        // The held slot is still the same semaphore: the cap holds across sweeps.
        assert_eq!(a.enter(&user("keep")).await.unwrap_err(), Busy);
        drop(held);
    }
}
