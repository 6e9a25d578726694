//! Rate limits that keep users apart: a GCRA bucket per user, per client IP on
//! unauthenticated routes (a separate, generous one for the page and its static files), per
//! client IP for failed authentications, and per client IP for remote token checks. A limited
//! request is answered 429 by the gateway and never reaches the backend.
//!
//! With one gateway process (memory and sqlite stores) the buckets live in this process
//! (governor). With the Redis store they live in Redis (`SharedCounters`), so every replica
//! draws on the same bucket; when Redis cannot answer, this process's own bucket decides
//! (a replica then limits alone until Redis is back, rather than letting everything through).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::Quota;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use vaultgate_shared::UserId;

use crate::client_ip::ClientAddr;
use crate::state::counters::SharedCounters;

/// Which limit refused a request (the metric's `scope` label, and the name in the RateLimit fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::IntoStaticStr, strum::AsRefStr)]
#[strum(serialize_all = "snake_case")]
pub enum Scope {
    User,
    Ip,
    AuthFailure,
}

impl Scope {
    /// The metric label.
    pub fn label(self) -> &'static str {
        self.into()
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
    /// The 429 headers: `Retry-After`, the RateLimit fields (`RateLimit-Policy` and `RateLimit`,
    /// structured fields of the IETF httpapi draft), and the earlier draft's
    /// `RateLimit-Limit/-Remaining/-Reset`, kept for one release.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![("retry-after", self.retry_after_secs.to_string())];
        h.extend(fields(self.scope, self.per_minute, 0, self.retry_after_secs));
        h
    }
}

/// What is left of a user's bucket after an admitted request, when it is nearly spent
/// (at most a quarter of the burst left): answered as RateLimit fields so a client slows down
/// before it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NearLimit {
    pub scope: Scope,
    pub per_minute: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
}

impl NearLimit {
    /// The RateLimit fields of a successful response.
    pub fn headers(&self) -> [(&'static str, String); 5] {
        fields(self.scope, self.per_minute, self.remaining, self.reset_secs)
    }
}

/// `RateLimit-Policy: "<scope>";q=<per minute>;w=60`, `RateLimit: "<scope>";r=<left>;t=<secs>`,
/// and the deprecated `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`.
fn fields(scope: Scope, per_minute: u32, remaining: u32, reset_secs: u64) -> [(&'static str, String); 5] {
    let name = scope.label();
    [
        ("ratelimit-policy", format!("\"{name}\";q={per_minute};w=60")),
        ("ratelimit", format!("\"{name}\";r={remaining};t={reset_secs}")),
        ("ratelimit-limit", per_minute.to_string()),
        ("ratelimit-remaining", remaining.to_string()),
        ("ratelimit-reset", reset_secs.to_string()),
    ]
}

type KeyedLimiter<K> = governor::RateLimiter<
    K,
    governor::state::keyed::DefaultKeyedStateStore<K>,
    DefaultClock,
    StateInformationMiddleware,
>;

struct Bucket<K: std::hash::Hash + Eq + Clone> {
    limiter: KeyedLimiter<K>,
    per_minute: u32,
    burst: u32,
    scope: Scope,
}

impl<K: std::hash::Hash + Eq + Clone> Bucket<K> {
    fn new(scope: Scope, per_minute: u32, burst: u32) -> Self {
        let pm = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: governor::RateLimiter::keyed(Quota::per_minute(pm).allow_burst(burst))
                .with_middleware::<StateInformationMiddleware>(),
            per_minute,
            burst: burst.get(),
            scope,
        }
    }

    fn limited(&self, wait: Duration) -> Limited {
        Limited {
            scope: self.scope,
            per_minute: self.per_minute,
            retry_after_secs: ceil_secs(wait),
        }
    }

    fn check(&self, key: &K) -> Result<Option<NearLimit>, Limited> {
        match self.limiter.check_key(key) {
            Ok(state) => Ok(self.near_limit(state.remaining_burst_capacity())),
            Err(not_until) => Err(self.limited(not_until.wait_time_from(DefaultClock::default().now()))),
        }
    }

    /// `Some` when at most a quarter of the burst is left.
    fn near_limit(&self, remaining: u32) -> Option<NearLimit> {
        (remaining.saturating_mul(4) <= self.burst).then(|| NearLimit {
            scope: self.scope,
            per_minute: self.per_minute,
            remaining,
            // Each spent request comes back after 60 / per_minute seconds.
            reset_secs: (u64::from(self.burst - remaining) * 60).div_ceil(u64::from(self.per_minute.max(1))),
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
    ip: Bucket<ClientAddr>,
    assets: Bucket<ClientAddr>,
    auth_failure: Bucket<ClientAddr>,
    remote_check: Bucket<ClientAddr>,
    /// Clients whose failed-auth bucket refused them, until when: consulted before a remote
    /// token check, so an address already over its limit costs no call to the provider.
    exhausted: moka::sync::Cache<ClientAddr, std::time::Instant>,
    checks: AtomicU64,
    shared: Option<Arc<dyn SharedCounters>>,
}

/// How many times the per-IP limit the page's static files may be fetched.
pub const ASSET_FACTOR: u32 = 10;

/// How often (in checks) idle keys are dropped, so memory stays bounded.
const TIDY_EVERY: u64 = 8192;

impl RateLimiter {
    /// Per-user `per_minute` with `burst`, per-IP `ip_per_minute`, failed-auth `fail_per_minute`.
    pub fn new(per_minute: u32, burst: u32, ip_per_minute: u32, fail_per_minute: u32) -> Self {
        Self {
            user: Bucket::new(Scope::User, per_minute, burst),
            ip: Bucket::new(Scope::Ip, ip_per_minute, ip_per_minute.div_ceil(4).max(10)),
            assets: Bucket::new(
                Scope::Ip,
                ip_per_minute.saturating_mul(ASSET_FACTOR),
                ip_per_minute.saturating_mul(ASSET_FACTOR).div_ceil(4).max(40),
            ),
            auth_failure: Bucket::new(Scope::AuthFailure, fail_per_minute, fail_per_minute),
            remote_check: Bucket::new(Scope::AuthFailure, fail_per_minute, fail_per_minute),
            exhausted: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
            checks: AtomicU64::new(0),
            shared: None,
        }
    }

    /// Keeps the buckets in `shared` (Redis) so that every replica draws on the same ones.
    pub fn with_shared(mut self, shared: Option<Arc<dyn SharedCounters>>) -> Self {
        self.shared = shared;
        self
    }

    /// One request against `bucket`: the shared bucket when there is one and it answers,
    /// else this process's own (the store has already counted its failure).
    async fn take<K: std::hash::Hash + Eq + Clone>(
        &self,
        bucket: &Bucket<K>,
        key: &K,
        shared_key: impl FnOnce() -> String,
    ) -> Result<Option<NearLimit>, Limited> {
        self.tick();
        if let Some(shared) = &self.shared {
            // The shared store tells only whether a request is admitted, not what is left.
            match shared.take(&shared_key(), bucket.per_minute, bucket.burst).await {
                Ok(None) => return Ok(None),
                Ok(Some(wait)) => return Err(bucket.limited(wait)),
                Err(_) => {}
            }
        }
        bucket.check(key)
    }

    fn tick(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % TIDY_EVERY == TIDY_EVERY - 1 {
            self.user.tidy();
            self.ip.tidy();
            self.assets.tidy();
            self.auth_failure.tidy();
            self.remote_check.tidy();
        }
    }

    /// One request by an authenticated user; `Ok(Some(_))` when the user's bucket is nearly spent.
    pub async fn check_user(&self, user: &UserId) -> Result<Option<NearLimit>, Limited> {
        self.take(&self.user, user, || format!("user:{user}")).await
    }

    /// One unauthenticated request from `ip`.
    pub async fn check_ip(&self, ip: ClientAddr) -> Result<(), Limited> {
        self.take(&self.ip, &ip, || format!("ip:{ip}")).await.map(drop)
    }

    /// One request for the page or its static files from `ip`: a browser fetches several at
    /// once, so these draw on their own bucket, `ASSET_FACTOR` times the IP limit.
    pub async fn check_asset(&self, ip: ClientAddr) -> Result<(), Limited> {
        self.take(&self.assets, &ip, || format!("asset:{ip}")).await.map(drop)
    }

    /// One failed authentication from `ip`; `Err` once that IP is over its limit.
    pub async fn auth_failed(&self, ip: ClientAddr) -> Result<(), Limited> {
        let r = self
            .take(&self.auth_failure, &ip, || format!("auth_failure:{ip}"))
            .await
            .map(drop);
        if let Err(l) = &r {
            self.exhausted
                .insert(ip, std::time::Instant::now() + Duration::from_secs(l.retry_after_secs));
        }
        r
    }

    /// Admits one remote token check (a call to Hugging Face) for `ip`: refused while the
    /// address is over its failed-auth limit, and at most `AUTH_FAILURE_LIMIT_PER_MINUTE` calls
    /// per minute per address, counted before the call so that concurrent requests cannot
    /// exceed it. A token whose answer is cached makes no call and is not counted.
    pub async fn admit_remote_check(&self, ip: ClientAddr) -> Result<(), Limited> {
        if let Some(until) = self.exhausted.get(&ip) {
            let now = std::time::Instant::now();
            if until > now {
                return Err(self.auth_failure.limited(until - now));
            }
        }
        self.take(&self.remote_check, &ip, || format!("remote_check:{ip}"))
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn users_are_limited_separately() {
        let r = RateLimiter::new(60, 5, 100, 3);
        let a = UserId::parse("a").unwrap();
        let b = UserId::parse("b").unwrap();
        for _ in 0..5 {
            assert!(r.check_user(&a).await.is_ok());
        }
        let limited = r.check_user(&a).await.unwrap_err();
        assert_eq!((limited.scope, limited.per_minute), (Scope::User, 60));
        assert!(limited.retry_after_secs >= 1);
        assert!(r.check_user(&b).await.is_ok());
    }

    #[tokio::test]
    async fn failed_auth_is_per_ip() {
        let r = RateLimiter::new(60, 5, 100, 3);
        let ip1 = ClientAddr::Ip("10.0.0.1".parse().unwrap());
        let ip2 = ClientAddr::Ip("10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            assert!(r.auth_failed(ip1).await.is_ok());
        }
        assert_eq!(r.auth_failed(ip1).await.unwrap_err().scope, Scope::AuthFailure);
        assert!(r.auth_failed(ip2).await.is_ok());
        let h = r.auth_failed(ip1).await.unwrap_err().headers();
        let names: Vec<&str> = h.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "retry-after",
                "ratelimit-policy",
                "ratelimit",
                "ratelimit-limit",
                "ratelimit-remaining",
                "ratelimit-reset"
            ]
        );
        let retry = &h[0].1;
        assert_eq!(h[1].1, "\"auth_failure\";q=3;w=60");
        assert_eq!(h[2].1, format!("\"auth_failure\";r=0;t={retry}"));
        assert_eq!(h[3].1, "3");
        assert_eq!(h[4].1, "0");
    }

    #[tokio::test]
    async fn a_nearly_spent_bucket_says_so_on_admitted_requests() {
        // 60 a minute, burst 8: the last quarter (2 left or fewer) is announced.
        let r = RateLimiter::new(60, 8, 100, 3);
        let a = UserId::parse("a").unwrap();
        let mut seen = Vec::new();
        for _ in 0..8 {
            seen.push(r.check_user(&a).await.unwrap().map(|n| n.remaining));
        }
        assert_eq!(seen, [None, None, None, None, None, Some(2), Some(1), Some(0)]);
        let near = r.check_user(&UserId::parse("b").unwrap()).await.unwrap();
        assert_eq!(near, None, "another user's bucket is full");
        let last = NearLimit {
            scope: Scope::User,
            per_minute: 60,
            remaining: 0,
            reset_secs: 8,
        };
        assert_eq!(
            last.headers()[..2],
            [
                ("ratelimit-policy", "\"user\";q=60;w=60".to_owned()),
                ("ratelimit", "\"user\";r=0;t=8".to_owned())
            ]
        );
    }

    #[tokio::test]
    async fn remote_checks_are_bounded_per_ip_and_stop_once_failures_are_over_the_limit() {
        let r = RateLimiter::new(60, 5, 100, 3);
        let (a, b) = (ClientAddr::Opaque(1), ClientAddr::Opaque(2));
        for _ in 0..3 {
            assert!(r.admit_remote_check(a).await.is_ok());
        }
        assert_eq!(r.admit_remote_check(a).await.unwrap_err().scope, Scope::AuthFailure);
        assert!(
            r.admit_remote_check(b).await.is_ok(),
            "another address has its own budget"
        );
        for _ in 0..3 {
            assert!(r.auth_failed(b).await.is_ok());
        }
        assert!(r.auth_failed(b).await.is_err());
        assert!(
            r.admit_remote_check(b).await.is_err(),
            "over the failed-auth limit: no remote call"
        );
    }

    #[tokio::test]
    async fn static_files_have_their_own_generous_bucket() {
        let r = RateLimiter::new(60, 5, 10, 3);
        let ip = ClientAddr::Ip("10.0.0.9".parse().unwrap());
        for _ in 0..10 {
            assert!(r.check_ip(ip).await.is_ok());
        }
        assert!(r.check_ip(ip).await.is_err());
        for _ in 0..25 {
            assert!(r.check_asset(ip).await.is_ok(), "the page still loads");
        }
    }
}
