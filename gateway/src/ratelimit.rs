//! Rate limits that keep users apart: a GCRA bucket (governor) per user, per client IP
//! on unauthenticated routes, and per client IP for failed authentications. A limited
//! request is answered 429 by the gateway and never reaches the backend.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use vaultgate_shared::UserId;

/// Which limit refused a request (the metric's `scope` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    User,
    Ip,
    AuthFailure,
}

impl Scope {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Ip => "ip",
            Scope::AuthFailure => "auth_failure",
        }
    }
}

/// A refusal: which limit, its size per minute, and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub scope: Scope,
    pub per_minute: u32,
    pub retry_after_secs: u64,
}

impl Limited {
    /// The 429 headers: `Retry-After` and the RateLimit fields.
    pub fn headers(&self) -> [(&'static str, String); 4] {
        [
            ("retry-after", self.retry_after_secs.to_string()),
            ("ratelimit-limit", self.per_minute.to_string()),
            ("ratelimit-remaining", "0".to_owned()),
            ("ratelimit-reset", self.retry_after_secs.to_string()),
        ]
    }
}

struct Bucket<K: std::hash::Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    per_minute: u32,
    scope: Scope,
}

impl<K: std::hash::Hash + Eq + Clone> Bucket<K> {
    fn new(scope: Scope, per_minute: u32, burst: u32) -> Self {
        let pm = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(pm).allow_burst(burst)),
            per_minute,
            scope,
        }
    }

    fn check(&self, key: &K) -> Result<(), Limited> {
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Limited {
                scope: self.scope,
                per_minute: self.per_minute,
                retry_after_secs: ceil_secs(wait),
            }
        })
    }

    fn tidy(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

fn ceil_secs(d: Duration) -> u64 {
    (d.as_millis().div_ceil(1000) as u64).max(1)
}

/// The gateway's three limits.
pub struct RateLimiter {
    user: Bucket<UserId>,
    ip: Bucket<IpAddr>,
    auth_failure: Bucket<IpAddr>,
    checks: AtomicU64,
}

/// How often (in checks) idle keys are dropped, so memory stays bounded.
const TIDY_EVERY: u64 = 8192;

impl RateLimiter {
    /// Per-user `per_minute` with `burst`, per-IP `ip_per_minute`, failed-auth `fail_per_minute`.
    pub fn new(per_minute: u32, burst: u32, ip_per_minute: u32, fail_per_minute: u32) -> Self {
        Self {
            user: Bucket::new(Scope::User, per_minute, burst),
            ip: Bucket::new(Scope::Ip, ip_per_minute, ip_per_minute.div_ceil(4).max(10)),
            auth_failure: Bucket::new(Scope::AuthFailure, fail_per_minute, fail_per_minute),
            checks: AtomicU64::new(0),
        }
    }

    fn tick(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % TIDY_EVERY == TIDY_EVERY - 1 {
            self.user.tidy();
            self.ip.tidy();
            self.auth_failure.tidy();
        }
    }

    /// One request by an authenticated user.
    pub fn check_user(&self, user: &UserId) -> Result<(), Limited> {
        self.tick();
        self.user.check(user)
    }

    /// One unauthenticated request from `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Limited> {
        self.tick();
        self.ip.check(&ip)
    }

    /// One failed authentication from `ip`; `Err` once that IP is over its limit.
    pub fn auth_failed(&self, ip: IpAddr) -> Result<(), Limited> {
        self.tick();
        self.auth_failure.check(&ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_limited_separately() {
        let r = RateLimiter::new(60, 5, 100, 3);
        let a = UserId::parse("a").unwrap();
        let b = UserId::parse("b").unwrap();
        for _ in 0..5 {
            assert!(r.check_user(&a).is_ok());
        }
        let limited = r.check_user(&a).unwrap_err();
        assert_eq!((limited.scope, limited.per_minute), (Scope::User, 60));
        assert!(limited.retry_after_secs >= 1);
        assert!(r.check_user(&b).is_ok());
    }

    #[test]
    fn failed_auth_is_per_ip() {
        let r = RateLimiter::new(60, 5, 100, 3);
        let ip1: IpAddr = "10.0.0.1".parse().unwrap();
        let ip2: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(r.auth_failed(ip1).is_ok());
        }
        assert_eq!(r.auth_failed(ip1).unwrap_err().scope, Scope::AuthFailure);
        assert!(r.auth_failed(ip2).is_ok());
        let h = r.auth_failed(ip1).unwrap_err().headers();
        assert_eq!(h[0].0, "retry-after");
        assert_eq!(h[1], ("ratelimit-limit", "3".to_owned()));
    }
}
