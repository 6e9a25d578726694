//! Who uses the gateway, answered without per-user metric labels: distinct users over
//! the last hour and day, and requests per user over the last 24 hours (hourly buckets).
//! Served on the admin listener at `/admin/usage` and summarised as gauges.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use vaultgate_shared::UserId;
use vaultgate_shared::jwt::now_secs;

const HOURS: usize = 24;
const DAY_SECS: u64 = 86_400;

#[derive(Debug, Default, Clone)]
struct Activity {
    last_seen: u64,
    /// Requests per hour, indexed by `hour % 24`; `stamps` says which hour each slot counts.
    counts: [u32; HOURS],
    stamps: [u64; HOURS],
}

impl Activity {
    fn record(&mut self, now: u64) {
        let hour = now / 3600;
        let slot = (hour % HOURS as u64) as usize;
        if self.stamps[slot] != hour {
            self.stamps[slot] = hour;
            self.counts[slot] = 0;
        }
        self.counts[slot] = self.counts[slot].saturating_add(1);
        self.last_seen = now;
    }

    fn last_day(&self, now: u64) -> u64 {
        let hour = now / 3600;
        self.counts
            .iter()
            .zip(self.stamps)
            .filter(|(_, s)| hour.saturating_sub(*s) < HOURS as u64)
            .map(|(c, _)| *c as u64)
            .sum()
    }
}

/// One user's line in the usage report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRequests {
    pub user: String,
    pub requests_24h: u64,
    pub last_seen: u64,
}

/// The usage report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageReport {
    pub active_users_1h: usize,
    pub active_users_24h: usize,
    pub top_users: Vec<UserRequests>,
}

/// Per-user activity over the last day.
#[derive(Debug, Default)]
pub struct Usage {
    users: Mutex<HashMap<UserId, Activity>>,
}

impl Usage {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Activity>> {
        // Counters cannot be left inconsistent by a panic elsewhere: recover the lock.
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one request by `user`.
    pub fn record(&self, user: &UserId) {
        let now = now_secs();
        let mut users = self.lock();
        match users.get_mut(user) {
            Some(a) => a.record(now),
            None => users.entry(user.clone()).or_default().record(now),
        }
    }

    /// Distinct users seen in the last hour and day; forgets users idle for a day.
    pub fn active(&self) -> (usize, usize) {
        let now = now_secs();
        let mut users = self.lock();
        users.retain(|_, a| now.saturating_sub(a.last_seen) < DAY_SECS);
        let hour = users
            .values()
            .filter(|a| now.saturating_sub(a.last_seen) < 3600)
            .count();
        (hour, users.len())
    }

    /// The report with the `top` busiest users of the last 24 hours.
    pub fn report(&self, top: usize) -> UsageReport {
        let (active_users_1h, active_users_24h) = self.active();
        let now = now_secs();
        let mut top_users: Vec<UserRequests> = self
            .lock()
            .iter()
            .map(|(u, a)| UserRequests {
                user: u.to_string(),
                requests_24h: a.last_day(now),
                last_seen: a.last_seen,
            })
            .collect();
        top_users.sort_by(|a, b| b.requests_24h.cmp(&a.requests_24h).then_with(|| a.user.cmp(&b.user)));
        top_users.truncate(top);
        UsageReport {
            active_users_1h,
            active_users_24h,
            top_users,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_ranks() {
        let u = Usage::new();
        let (a, b) = (UserId::parse("a").unwrap(), UserId::parse("b").unwrap());
        for _ in 0..3 {
            u.record(&a);
        }
        u.record(&b);
        let r = u.report(10);
        assert_eq!((r.active_users_1h, r.active_users_24h), (2, 2));
        assert_eq!(r.top_users[0].user, "a");
        assert_eq!(r.top_users[0].requests_24h, 3);
        assert_eq!(u.report(1).top_users.len(), 1);
    }

    #[test]
    fn old_hours_do_not_count() {
        let mut a = Activity::default();
        let t = 1_000 * 3600;
        a.record(t);
        a.record(t + 3600);
        assert_eq!(a.last_day(t + 3600), 2);
        assert_eq!(a.last_day(t + 24 * 3600), 1);
        assert_eq!(a.last_day(t + 26 * 3600), 0);
        a.record(t + 24 * 3600); // reuses slot of hour t
        assert_eq!(a.last_day(t + 24 * 3600), 2);
    }
}
