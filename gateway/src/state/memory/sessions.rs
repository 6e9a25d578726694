//! The in-memory session store (moka): idle timeout and absolute lifetime per entry,
//! a per-user cap with the oldest evicted, and a short memory of ended ids so that
//! "expired" can be told from "unknown" in metrics.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::Expiry;
use moka::notification::RemovalCause;
use vaultgate_shared::UserId;

use crate::state::StateError;
use crate::state::sessions::{Lookup, SessionInfo, SessionStore};

#[derive(Debug)]
struct Entry {
    user: UserId,
    created: Instant,
}

struct SessionExpiry {
    idle: Duration,
    max: Duration,
}

impl Expiry<String, Arc<Entry>> for SessionExpiry {
    fn expire_after_create(&self, _k: &String, v: &Arc<Entry>, at: Instant) -> Option<Duration> {
        // A restored session may already be old: its absolute lifetime still counts.
        Some(
            self.idle
                .min(self.max.saturating_sub(at.saturating_duration_since(v.created))),
        )
    }

    fn expire_after_read(
        &self,
        _k: &String,
        v: &Arc<Entry>,
        read_at: Instant,
        _left: Option<Duration>,
        _modified: Instant,
    ) -> Option<Duration> {
        let age = read_at.saturating_duration_since(v.created);
        Some(self.idle.min(self.max.saturating_sub(age)))
    }
}

/// Sessions in this process's memory.
pub struct MemorySessions {
    live: moka::sync::Cache<String, Arc<Entry>>,
    ended: moka::sync::Cache<String, ()>,
    by_user: Mutex<HashMap<UserId, VecDeque<String>>>,
    per_user: usize,
    active: Arc<AtomicI64>,
}

impl MemorySessions {
    /// A store with the given idle timeout, absolute lifetime and per-user cap.
    pub fn new(idle: Duration, max: Duration, per_user: usize) -> Self {
        let ended: moka::sync::Cache<String, ()> = moka::sync::Cache::builder()
            .max_capacity(200_000)
            .time_to_live(Duration::from_secs(3600))
            .build();
        let active = Arc::new(AtomicI64::new(0));
        let (ended_l, active_l) = (ended.clone(), active.clone());
        let live = moka::sync::Cache::builder()
            .expire_after(SessionExpiry { idle, max })
            .eviction_listener(move |id: Arc<String>, _v: Arc<Entry>, cause: RemovalCause| {
                if cause != RemovalCause::Replaced {
                    active_l.fetch_sub(1, Ordering::Relaxed);
                }
                if cause == RemovalCause::Expired {
                    ended_l.insert((*id).clone(), ());
                }
            })
            .build();
        Self {
            live,
            ended,
            by_user: Mutex::new(HashMap::new()),
            per_user: per_user.max(1),
            active,
        }
    }

    fn index(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, VecDeque<String>>> {
        // A panic while holding this lock cannot leave the map inconsistent: recover it.
        self.by_user.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl MemorySessions {
    /// Adds session `id` for `user`, created at `created`; returns the ids evicted by the cap.
    pub fn insert(&self, id: &str, user: &UserId, created: Instant) -> Vec<String> {
        let evict: Vec<String> = {
            let mut index = self.index();
            let ids = index.entry(user.clone()).or_default();
            ids.retain(|s| self.live.contains_key(s));
            let mut evict = Vec::new();
            while ids.len() >= self.per_user {
                if let Some(old) = ids.pop_front() {
                    evict.push(old);
                }
            }
            ids.push_back(id.to_owned());
            evict
        };
        for old in &evict {
            self.ended.insert(old.clone(), ());
            self.live.invalidate(old);
        }
        self.live.insert(
            id.to_owned(),
            Arc::new(Entry {
                user: user.clone(),
                created,
            }),
        );
        self.active.fetch_add(1, Ordering::Relaxed);
        evict
    }

    /// The ids of `user`'s sessions, forgetting them from the per-user index.
    pub fn take_user(&self, user: &UserId) -> Vec<String> {
        self.index().remove(user).map(Vec::from).unwrap_or_default()
    }

    /// Ends session `id` (the synchronous form of `end`); true when it was live.
    pub fn forget(&self, id: &str) -> bool {
        let was_live = self.live.remove(id).is_some();
        if was_live {
            self.ended.insert(id.to_owned(), ());
        }
        was_live
    }

    /// Every live session id (for reconciling with a store written by another process).
    pub fn ids(&self) -> Vec<String> {
        self.live.iter().map(|(k, _)| (*k).clone()).collect()
    }

    /// `user`'s live sessions, oldest first, without touching them (one pass over the cache:
    /// this serves an operator command, not requests).
    pub fn list_user(&self, user: &UserId) -> Vec<SessionInfo> {
        let now = vaultgate_shared::jwt::now_secs();
        let mut found: Vec<(Instant, SessionInfo)> = self
            .live
            .iter()
            .filter(|(_, v)| &v.user == user)
            .map(|(k, v)| {
                let info = SessionInfo {
                    id: (*k).clone(),
                    created: now.saturating_sub(v.created.elapsed().as_secs()),
                };
                (v.created, info)
            })
            .collect();
        found.sort_by_key(|(created, _)| *created);
        found.into_iter().map(|(_, i)| i).collect()
    }
}

#[async_trait]
impl SessionStore for MemorySessions {
    async fn create(&self, user: &UserId) -> Result<String, StateError> {
        let id = uuid::Uuid::new_v4().to_string();
        self.insert(&id, user, Instant::now());
        Ok(id)
    }

    async fn lookup(&self, id: &str) -> Result<Lookup, StateError> {
        if let Some(e) = self.live.get(id) {
            return Ok(Lookup::Live(e.user.clone()));
        }
        // An entry past its expiry is only reported to the listener by maintenance: run it
        // so that "expired" is told from "unknown".
        self.live.run_pending_tasks();
        Ok(if self.ended.contains_key(id) {
            Lookup::Expired
        } else {
            Lookup::Unknown
        })
    }

    async fn end(&self, id: &str) -> Result<bool, StateError> {
        Ok(self.forget(id))
    }

    async fn end_user(&self, user: &UserId) -> Result<usize, StateError> {
        let ids = self.take_user(user);
        let mut n = 0;
        for id in ids {
            if self.end(&id).await? {
                n += 1;
            }
        }
        Ok(n)
    }

    async fn list(&self, user: &UserId) -> Result<Vec<SessionInfo>, StateError> {
        Ok(self.list_user(user))
    }

    fn active(&self) -> u64 {
        self.live.run_pending_tasks();
        self.active.load(Ordering::Relaxed).max(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }

    #[tokio::test]
    async fn lifecycle() {
        let s = MemorySessions::new(Duration::from_secs(60), Duration::from_secs(600), 4);
        let id = s.create(&u("alice")).await.unwrap();
        assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);
        assert_eq!(s.lookup(&id).await.unwrap(), Lookup::Live(u("alice")));
        assert_eq!(s.lookup("nope").await.unwrap(), Lookup::Unknown);
        assert_eq!(s.active(), 1);
        assert!(s.end(&id).await.unwrap());
        assert!(!s.end(&id).await.unwrap());
        assert_eq!(s.lookup(&id).await.unwrap(), Lookup::Expired);
        assert_eq!(s.active(), 0);
    }

    #[tokio::test]
    async fn cap_evicts_oldest() {
        let s = MemorySessions::new(Duration::from_secs(60), Duration::from_secs(600), 2);
        let a = s.create(&u("alice")).await.unwrap();
        let b = s.create(&u("alice")).await.unwrap();
        let other = s.create(&u("bob")).await.unwrap();
        let c = s.create(&u("alice")).await.unwrap();
        assert_eq!(s.lookup(&a).await.unwrap(), Lookup::Expired);
        assert_eq!(s.lookup(&b).await.unwrap(), Lookup::Live(u("alice")));
        assert_eq!(s.lookup(&c).await.unwrap(), Lookup::Live(u("alice")));
        assert_eq!(s.lookup(&other).await.unwrap(), Lookup::Live(u("bob")));
        assert_eq!(s.active(), 3);
        assert_eq!(s.end_user(&u("alice")).await.unwrap(), 2);
        assert_eq!(s.lookup(&other).await.unwrap(), Lookup::Live(u("bob")));
    }

    #[tokio::test]
    async fn idle_and_absolute_expiry() {
        let s = MemorySessions::new(Duration::from_millis(150), Duration::from_secs(600), 4);
        let id = s.create(&u("alice")).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while s.lookup(&id).await.unwrap() != Lookup::Expired {
            assert!(Instant::now() < deadline, "session never idled out");
            // Not a timing assertion: poll until the idle timeout has passed without touching.
            std::thread::sleep(Duration::from_millis(200));
        }
        let s = MemorySessions::new(Duration::from_secs(60), Duration::from_millis(300), 4);
        let id = s.create(&u("alice")).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        // Touching keeps it from idling, but not past its absolute lifetime.
        while s.lookup(&id).await.unwrap() != Lookup::Expired {
            assert!(Instant::now() < deadline, "session outlived its lifetime");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
