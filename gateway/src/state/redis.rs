//! The Redis state store: sessions, revoked token ids and rate-limit buckets shared by
//! every gateway replica. Every key starts with `vaultgate:` and carries a TTL, so nothing
//! grows without bound; every multi-step change is one Lua script, so replicas never see
//! half of one.
//!
//! Failure behaviour: every operation is bounded by `STATE_TIMEOUT` (connecting included).
//! An operation that fails or times out is counted in
//! `vaultgate_gateway_state_errors_total{backend="redis",op}` and returned as an error; the
//! gateway then refuses what needed the answer with 503 (fail closed). The connection
//! manager reconnects by itself, so service resumes when Redis is back.
//!
//! Local caching is limited to what cannot go stale: a token found revoked stays revoked
//! (revocations are never undone), so that answer is remembered; "not revoked" is never
//! cached, so a revocation made through replica A is refused by replica B on its next request.
//!
//! Redis runs its I/O on a small runtime of its own (one thread): the store is opened before
//! Pingora's runtimes exist, and is then used from several of them.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, RedisResult, Script};
use tokio::runtime::Handle;
use vaultgate_shared::UserId;
use vaultgate_shared::config::Secret;
use vaultgate_shared::jwt::now_secs;

use super::counters::SharedCounters;
use super::memory::MemoryRevocations;
use super::revocations::{KEEP_PAST_EXPIRY_SECS, Revocations, USER_REVOCATION_KEEP};
use super::sessions::{Lookup, SessionInfo, SessionStore};
use super::{ErrorCount, SessionLimits, StateBackend, StateError, StateOp};

/// Every key the gateway writes starts with this.
pub const PREFIX: &str = "vaultgate:";
const NAME: StateBackend = StateBackend::Redis;
/// How often the live-session gauge is recounted (a SCAN, off the request path).
const COUNT_EVERY: Duration = Duration::from_secs(15);
/// How long a "revoked" answer is remembered locally (harmless: a revoked token stays revoked).
const REVOKED_MEMO_SECS: u64 = 86_400;

/// GCRA: the bucket's key holds its "theoretical arrival time" in ms (Redis's clock, so the
/// replicas' clocks do not matter). Returns 0 when allowed, else the wait in ms.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local step = tonumber(ARGV[1])
local cap = step * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new = tat + step
if new - now > cap then return math.ceil(new - now - cap) end
redis.call('SET', KEYS[1], string.format('%.3f', new), 'PX', math.ceil(new - now))
return 0
";

/// Creates a session, dropping the user's dead ids and evicting their oldest beyond the cap.
/// KEYS: the user's session index. ARGV: prefix, id, user, idle ms, max ms, cap.
const CREATE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local z, prefix, id, user = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local idle, max, cap = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', z, '-inf', now - max)
for _, old in ipairs(redis.call('ZRANGE', z, 0, -1)) do
  if redis.call('EXISTS', prefix .. 'session:' .. old) == 0 then redis.call('ZREM', z, old) end
end
local evicted = 0
while redis.call('ZCARD', z) >= cap do
  local oldest = redis.call('ZPOPMIN', z)
  redis.call('DEL', prefix .. 'session:' .. oldest[1])
  evicted = evicted + 1
end
local key = prefix .. 'session:' .. id
redis.call('HSET', key, 'user', user, 'created', now)
redis.call('PEXPIRE', key, math.min(idle, max))
redis.call('SET', prefix .. 'session-seen:' .. id, '1', 'PX', max + 3600000)
redis.call('ZADD', z, now, id)
redis.call('PEXPIRE', z, max)
return evicted
";

/// Resolves a session and restarts its idle timer. KEYS: session, seen marker. ARGV: idle ms, max ms.
const LOOKUP: &str = r"
local v = redis.call('HMGET', KEYS[1], 'user', 'created')
if not v[1] then
  if redis.call('EXISTS', KEYS[2]) == 1 then return {'expired'} end
  return {'unknown'}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local left = tonumber(ARGV[2]) - (now - tonumber(v[2]))
if left <= 0 then
  redis.call('DEL', KEYS[1])
  return {'expired'}
end
redis.call('PEXPIRE', KEYS[1], math.min(tonumber(ARGV[1]), left))
return {'live', v[1]}
";

/// Ends one session. KEYS: session. ARGV: prefix, id.
const END: &str = r"
local u = redis.call('HGET', KEYS[1], 'user')
if not u then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', ARGV[1] .. 'user-sessions:' .. u, ARGV[2])
return 1
";

/// Ends every session of a user. KEYS: the user's index. ARGV: prefix.
const END_USER: &str = r"
local n = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  n = n + redis.call('DEL', ARGV[1] .. 'session:' .. id)
end
redis.call('DEL', KEYS[1])
return n
";

/// A user's live sessions, oldest first: id, created ms, id, created ms, …
const LIST: &str = r"
local out = {}
local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #all, 2 do
  if redis.call('EXISTS', ARGV[1] .. 'session:' .. all[i]) == 1 then
    table.insert(out, all[i])
    table.insert(out, all[i + 1])
  end
end
return out
";

/// Raises a user's revocation instant (never lowers it). KEYS: the user's key. ARGV: at, keep secs.
const REVOKE_USER: &str = r"
local old = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > old then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 1
";

struct Scripts {
    gcra: Script,
    create: Script,
    lookup: Script,
    end: Script,
    end_user: Script,
    list: Script,
    revoke_user: Script,
}

/// The shared store. One value serves as session store, revocation list and rate-limit counters.
pub struct RedisState {
    conn: ConnectionManager,
    rt: Handle,
    timeout: Duration,
    limits: SessionLimits,
    errors: ErrorCount,
    /// Tokens found revoked: a positive answer cannot go stale.
    revoked_seen: MemoryRevocations,
    scripts: Arc<Scripts>,
    active: Arc<AtomicU64>,
}

fn key(kind: &str, id: &str) -> String {
    format!("{PREFIX}{kind}:{id}")
}

fn fail(op: StateOp, message: impl ToString) -> StateError {
    StateError {
        backend: NAME,
        op,
        message: message.to_string(),
    }
}

/// A current-thread runtime on a thread of its own, for Redis's connection tasks.
fn background_runtime() -> std::io::Result<Handle> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let handle = rt.handle().clone();
    std::thread::Builder::new()
        .name("vaultgate-redis".into())
        .spawn(move || rt.block_on(std::future::pending::<()>()))?;
    Ok(handle)
}

impl RedisState {
    /// Prepares the store; the connection is made on first use, and remade whenever it drops.
    pub fn open(
        url: &Secret,
        timeout: Duration,
        limits: SessionLimits,
        errors: ErrorCount,
    ) -> Result<Arc<Self>, StateError> {
        let client =
            redis::Client::open(url.expose_str()).map_err(|e| fail(StateOp::Open, format!("REDIS_URL: {e}")))?;
        let rt = background_runtime().map_err(|e| fail(StateOp::Open, e))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // Reconnect quickly and give up quickly: each request has its own deadline, and
            // the next request after a failure starts a new attempt.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(200));
        let conn = {
            let _in_rt = rt.enter();
            ConnectionManager::new_lazy_with_config(client, config).map_err(|e| fail(StateOp::Open, e))?
        };
        let store = Arc::new(Self {
            conn,
            rt,
            timeout,
            limits,
            errors,
            revoked_seen: MemoryRevocations::new(),
            scripts: Arc::new(Scripts {
                gcra: Script::new(GCRA),
                create: Script::new(CREATE),
                lookup: Script::new(LOOKUP),
                end: Script::new(END),
                end_user: Script::new(END_USER),
                list: Script::new(LIST),
                revoke_user: Script::new(REVOKE_USER),
            }),
            active: Arc::new(AtomicU64::new(0)),
        });
        store.count_sessions_in_background();
        Ok(store)
    }

    /// Runs one operation on the Redis runtime, bounded by the timeout; failures are counted.
    async fn run<T, F>(
        &self,
        op: StateOp,
        f: impl FnOnce(ConnectionManager, Arc<Scripts>) -> F,
    ) -> Result<T, StateError>
    where
        T: Send + 'static,
        F: Future<Output = RedisResult<T>> + Send + 'static,
    {
        let mut task = self.rt.spawn(f(self.conn.clone(), self.scripts.clone()));
        let message = match tokio::time::timeout(self.timeout, &mut task).await {
            Ok(Ok(Ok(v))) => return Ok(v),
            Ok(Ok(Err(e))) => e.to_string(),
            Ok(Err(e)) => e.to_string(),
            Err(_) => {
                task.abort();
                format!("no answer within {} ms", self.timeout.as_millis())
            }
        };
        Err(self.errors.count(fail(op, message)))
    }

    /// Keeps the `sessions_active` gauge roughly right: a SCAN of session keys every few seconds.
    fn count_sessions_in_background(self: &Arc<Self>) {
        let (conn, active, every) = (self.conn.clone(), self.active.clone(), COUNT_EVERY);
        let timeout = self.timeout.max(Duration::from_secs(5));
        self.rt.spawn(async move {
            loop {
                let mut c = conn.clone();
                let count = async move {
                    let pattern = format!("{PREFIX}session:*");
                    let mut n = 0u64;
                    let mut iter = c.scan_match::<_, String>(pattern).await?;
                    while let Some(_k) = futures_next(&mut iter).await {
                        n += 1;
                    }
                    RedisResult::Ok(n)
                };
                if let Ok(Ok(n)) = tokio::time::timeout(timeout, count).await {
                    active.store(n, Ordering::Relaxed);
                }
                tokio::time::sleep(every).await;
            }
        });
    }
}

/// The next item of a Redis async iterator (without a `futures` dependency).
async fn futures_next(iter: &mut redis::AsyncIter<'_, String>) -> Option<String> {
    iter.next_item().await.and_then(Result::ok)
}

#[async_trait]
impl Revocations for RedisState {
    async fn revoke(&self, jti: &str, until: u64) -> Result<(), StateError> {
        let k = key("revoked:jti", jti);
        let secs = until.saturating_sub(now_secs()) + KEEP_PAST_EXPIRY_SECS + 1;
        self.run(StateOp::Revoke, move |mut c, _| async move {
            c.set_ex::<_, _, ()>(k, 1, secs).await
        })
        .await?;
        self.revoked_seen.remember(jti, until);
        Ok(())
    }

    async fn revoke_user(&self, user: &UserId, at: u64) -> Result<(), StateError> {
        let k = key("revoked:user", user.as_str());
        self.run(StateOp::RevokeUser, move |mut c, s| async move {
            s.revoke_user
                .key(k)
                .arg(at)
                .arg(USER_REVOCATION_KEEP.as_secs())
                .invoke_async::<i64>(&mut c)
                .await
        })
        .await?;
        Ok(())
    }

    async fn is_revoked(&self, jti: &str, user: &UserId, issued_at: u64) -> Result<bool, StateError> {
        if self.revoked_seen.has_jti(jti) {
            return Ok(true);
        }
        let (kj, ku) = (key("revoked:jti", jti), key("revoked:user", user.as_str()));
        let (by_jti, user_at): (bool, Option<u64>) = self
            .run(StateOp::RevocationCheck, move |mut c, _| async move {
                redis::pipe().exists(kj).get(ku).query_async(&mut c).await
            })
            .await?;
        let revoked = by_jti || user_at.is_some_and(|at| issued_at <= at);
        if revoked {
            self.revoked_seen.remember(jti, now_secs() + REVOKED_MEMO_SECS);
        }
        Ok(revoked)
    }
}

#[async_trait]
impl SessionStore for RedisState {
    async fn create(&self, user: &UserId) -> Result<String, StateError> {
        let id = uuid::Uuid::new_v4().to_string();
        let (z, i, u) = (
            key("user-sessions", user.as_str()),
            id.clone(),
            user.as_str().to_owned(),
        );
        let l = self.limits;
        self.run(StateOp::Create, move |mut c, s| async move {
            s.create
                .key(z)
                .arg(PREFIX)
                .arg(i)
                .arg(u)
                .arg(l.idle.as_millis() as u64)
                .arg(l.max.as_millis() as u64)
                .arg(l.per_user.max(1))
                .invoke_async::<i64>(&mut c)
                .await
        })
        .await?;
        Ok(id)
    }

    async fn lookup(&self, id: &str) -> Result<Lookup, StateError> {
        let (ks, kseen) = (key("session", id), key("session-seen", id));
        let l = self.limits;
        let answer: Vec<String> = self
            .run(StateOp::Lookup, move |mut c, s| async move {
                s.lookup
                    .key(ks)
                    .key(kseen)
                    .arg(l.idle.as_millis() as u64)
                    .arg(l.max.as_millis() as u64)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(match answer.as_slice() {
            [live, user] if live == "live" => match UserId::parse(user) {
                Ok(u) => Lookup::Live(u),
                // Not written by us: treat as absent rather than trust it.
                Err(_) => Lookup::Unknown,
            },
            [expired] if expired == "expired" => Lookup::Expired,
            _ => Lookup::Unknown,
        })
    }

    async fn end(&self, id: &str) -> Result<bool, StateError> {
        let (k, i) = (key("session", id), id.to_owned());
        let n: i64 = self
            .run(StateOp::End, move |mut c, s| async move {
                s.end.key(k).arg(PREFIX).arg(i).invoke_async(&mut c).await
            })
            .await?;
        Ok(n == 1)
    }

    async fn end_user(&self, user: &UserId) -> Result<usize, StateError> {
        let z = key("user-sessions", user.as_str());
        let n: i64 = self
            .run(StateOp::EndUser, move |mut c, s| async move {
                s.end_user.key(z).arg(PREFIX).invoke_async(&mut c).await
            })
            .await?;
        Ok(n.max(0) as usize)
    }

    async fn list(&self, user: &UserId) -> Result<Vec<SessionInfo>, StateError> {
        let z = key("user-sessions", user.as_str());
        let flat: Vec<String> = self
            .run(StateOp::List, move |mut c, s| async move {
                s.list.key(z).arg(PREFIX).invoke_async(&mut c).await
            })
            .await?;
        Ok(flat
            .chunks_exact(2)
            .map(|p| SessionInfo {
                id: p[0].clone(),
                created: p[1].parse::<f64>().map_or(0, |ms| (ms / 1000.0) as u64),
            })
            .collect())
    }

    fn active(&self) -> u64 {
        self.active.load(Ordering::Relaxed)
    }

    fn store(&self) -> &'static str {
        NAME.into()
    }

    async fn health(&self) -> Result<(), StateError> {
        self.run(StateOp::Health, |mut c, _| async move {
            redis::cmd("PING").query_async::<String>(&mut c).await.map(|_| ())
        })
        .await
    }
}

#[async_trait]
impl SharedCounters for RedisState {
    async fn take(&self, bucket: &str, per_minute: u32, burst: u32) -> Result<Option<Duration>, StateError> {
        let k = key("rl", bucket);
        let step_ms = 60_000.0 / f64::from(per_minute.max(1));
        let wait_ms: i64 = self
            .run(StateOp::RateLimit, move |mut c, s| async move {
                s.gcra
                    .key(k)
                    .arg(format!("{step_ms:.3}"))
                    .arg(burst.max(1))
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok((wait_ms > 0).then(|| Duration::from_millis(wait_ms as u64)))
    }
}
