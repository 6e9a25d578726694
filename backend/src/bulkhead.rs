//! The bulkhead: the one way request handlers run blocking work (note parsing, SQLite, file I/O).
//!
//! [`Bulkhead::run`] waits for one of the caller's own slots (at most `per_user` jobs of one user
//! at once, so one user's flood queues behind itself instead of in front of everyone), then for a
//! thread of a bounded pool, and runs the job under a time budget that starts when the request
//! arrives. A job still running at the deadline has its SQLite statement interrupted (see
//! [`watch`]); the caller gets [`Refusal::OverBudget`] either way. Work that is not SQLite is
//! linear in input sizes the limits already cap, so it cannot hold a thread for long.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, InterruptHandle};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::Metrics;

/// Every `Refusal::reason()` value (for pre-registering the metric's series).
pub const REJECTION_REASONS: [&str; 4] = ["pool_full", "user_busy", "over_budget", "panicked"];

/// Why the bulkhead did not (or could not finish to) run a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the server is busy; retry in a moment")]
    PoolFull,
    #[error("too many of your requests are in progress at once; retry in a moment")]
    UserBusy,
    #[error(
        "the request took longer than the server allows and was abandoned (a search is stopped, but a \
         write may still complete: read the note before retrying it); narrow it down and retry"
    )]
    OverBudget,
    #[error("internal error; the operation may not have completed")]
    Panicked,
}

impl Refusal {
    /// Low-cardinality label for `vaultgate_backend_rejected_requests_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::PoolFull => "pool_full",
            Refusal::UserBusy => "user_busy",
            Refusal::OverBudget => "over_budget",
            Refusal::Panicked => "panicked",
        }
    }
}

/// How much blocking work may run, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct BulkheadLimits {
    /// Threads running jobs at once, all users together.
    pub workers: usize,
    /// Jobs of one user running at once.
    pub per_user: usize,
    /// [`Weight::Heavy`] jobs of one user running at once. Kept below the core count, so that one
    /// user's CPU-bound searches always leave a core to everyone else.
    pub per_user_heavy: usize,
    /// How long a job over `per_user` waits for one of its user's slots before it is refused.
    pub user_wait: Duration,
    /// From a request's arrival to its answer, queueing included.
    pub budget: Duration,
}

/// What a job costs, for the per-user caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// Bounded by the per-note limits: one note's parse, file and index row.
    Light,
    /// Proportional to a whole vault (full-text search, tags, backlinks, export): CPU-bound for
    /// milliseconds to seconds.
    Heavy,
}

/// The default for [`BulkheadLimits::per_user_heavy`]: half the cores, at least one.
pub fn default_per_user_heavy() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// One user's slots: any job takes one of `any`; a heavy job also one of `heavy`, first.
struct UserSlots {
    any: Arc<Semaphore>,
    heavy: Arc<Semaphore>,
}

/// Where a running job's SQLite statement can be interrupted from the waiting side.
type InterruptSlot = Arc<Mutex<Option<InterruptHandle>>>;

thread_local! {
    /// The slot of the job running on this thread, if it runs under the bulkhead.
    static CURRENT: RefCell<Option<InterruptSlot>> = const { RefCell::new(None) };
}

/// Runs blocking jobs on a bounded pool, a bounded number per user, under a time budget.
pub struct Bulkhead {
    limits: BulkheadLimits,
    pool: Arc<Semaphore>,
    users: Mutex<HashMap<String, Arc<UserSlots>>>,
    metrics: Metrics,
}

impl std::fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bulkhead").field("limits", &self.limits).finish()
    }
}

/// Users whose semaphores are kept before idle ones are dropped.
const USER_ENTRIES_KEPT: usize = 4096;

impl Bulkhead {
    pub fn new(limits: BulkheadLimits, metrics: Metrics) -> Self {
        Self {
            pool: Arc::new(Semaphore::new(limits.workers.max(1))),
            users: Mutex::new(HashMap::new()),
            limits,
            metrics,
        }
    }

    fn user_slots(&self, user: &str) -> Arc<UserSlots> {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if users.len() >= USER_ENTRIES_KEPT && !users.contains_key(user) {
            // A semaphore nobody else holds has no job queued or running: forget it.
            users.retain(|_, s| Arc::strong_count(s) > 1);
        }
        users
            .entry(user.to_owned())
            .or_insert_with(|| {
                Arc::new(UserSlots {
                    any: Arc::new(Semaphore::new(self.limits.per_user.max(1))),
                    heavy: Arc::new(Semaphore::new(self.limits.per_user_heavy.max(1))),
                })
            })
            .clone()
    }

    fn refuse(&self, r: Refusal) -> Refusal {
        self.metrics.rejected_requests.with_label_values(&[r.reason()]).inc();
        tracing::warn!(reason = r.reason(), "request refused by the bulkhead");
        r
    }

    /// Runs a [`Weight::Light`] job for `user` on the pool; see [`Bulkhead::run_weighted`].
    pub async fn run<T, E>(
        &self,
        user: &str,
        job: impl FnOnce() -> Result<T, E> + Send + 'static,
    ) -> Result<Result<T, E>, Refusal>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        self.run_weighted(user, Weight::Light, job).await
    }

    /// Runs `job` for `user` on the pool. The job keeps its slots until it really ends, even when
    /// the caller has stopped waiting, so the pool's bound holds.
    pub async fn run_weighted<T, E>(
        &self,
        user: &str,
        weight: Weight,
        job: impl FnOnce() -> Result<T, E> + Send + 'static,
    ) -> Result<Result<T, E>, Refusal>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let deadline = tokio::time::Instant::now() + self.limits.budget;
        let mine = self.user_slots(user);
        let user_deadline = deadline.min(tokio::time::Instant::now() + self.limits.user_wait);
        let user_turn = async {
            let heavy = match weight {
                Weight::Heavy => Some(mine.heavy.clone().acquire_owned().await?),
                Weight::Light => None,
            };
            Ok::<_, tokio::sync::AcquireError>((heavy, mine.any.clone().acquire_owned().await?))
        };
        let user_slot = tokio::time::timeout_at(user_deadline, user_turn)
            .await
            .map_err(|_| self.refuse(Refusal::UserBusy))?
            .map_err(|_| self.refuse(Refusal::PoolFull))?;
        let thread: OwnedSemaphorePermit = tokio::time::timeout_at(deadline, self.pool.clone().acquire_owned())
            .await
            .map_err(|_| self.refuse(Refusal::PoolFull))?
            .map_err(|_| self.refuse(Refusal::PoolFull))?;
        let slot: InterruptSlot = Arc::default();
        let job_slot = slot.clone();
        let span = crate::trace::current();
        let handle = tokio::task::spawn_blocking(move || {
            let _span = span.entered();
            // `mine` too: while a job runs, its user's entry must not be forgotten (a fresh entry
            // would let the user start more jobs beside it), even after the caller stopped waiting.
            let _slots = (user_slot, thread, mine);
            let _current = Current::set(job_slot);
            job()
        });
        match tokio::time::timeout_at(deadline, handle).await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(_)) => Err(self.refuse(Refusal::Panicked)),
            Err(_) => {
                if let Some(h) = slot.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                    h.interrupt();
                }
                Err(self.refuse(Refusal::OverBudget))
            }
        }
    }
}

/// Marks the job running on this thread until dropped (also when the job panics).
struct Current;

impl Current {
    fn set(slot: InterruptSlot) -> Self {
        CURRENT.with(|c| *c.borrow_mut() = Some(slot));
        Current
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = None);
    }
}

/// While alive, lets the bulkhead interrupt `conn`'s statements when the current job runs out of
/// time. Outside a bulkhead job (reindex, tests) it does nothing.
pub struct Watch(Option<InterruptSlot>);

/// Registers `conn` as the connection the current job is using.
pub fn watch(conn: &Connection) -> Watch {
    let slot = CURRENT.with(|c| c.borrow().clone());
    if let Some(s) = &slot {
        *s.lock().unwrap_or_else(|e| e.into_inner()) = Some(conn.get_interrupt_handle());
    }
    Watch(slot)
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(s) = &self.0 {
            *s.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }
}

/// True when a SQLite error is the interruption [`Bulkhead::run`] caused.
pub fn is_interrupt(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query that would run for minutes: counting to ten billion.
    const ENDLESS: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000000)
                           SELECT count(*) FROM c";

    fn bulkhead(workers: usize, per_user: usize, budget_ms: u64) -> Arc<Bulkhead> {
        let limits = BulkheadLimits {
            workers,
            per_user,
            per_user_heavy: 1,
            user_wait: Duration::from_millis(budget_ms),
            budget: Duration::from_millis(budget_ms),
        };
        Arc::new(Bulkhead::new(limits, Metrics::new()))
    }

    fn endless_query() -> Result<i64, rusqlite::Error> {
        let conn = Connection::open_in_memory()?;
        let _watch = watch(&conn);
        conn.query_row(ENDLESS, [], |r| r.get(0))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_query_over_budget_is_interrupted_and_frees_its_thread() {
        let b = bulkhead(1, 1, 300);
        assert_eq!(b.run("alice", endless_query).await.err(), Some(Refusal::OverBudget));
        // With one thread, the next job gets it only if the interrupted query really ended.
        assert_eq!(b.run("bob", || Ok::<_, ()>(1)).await, Ok(Ok(1)));
        assert_eq!(b.metrics.rejected_requests.with_label_values(&["over_budget"]).get(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_users_slow_work_does_not_hold_up_another_user() {
        // A budget long enough for Bob's job on a loaded machine; Alice's endless one meets it.
        let b = bulkhead(2, 1, 5000);
        let alice = {
            let b = b.clone();
            tokio::spawn(async move { b.run("alice", endless_query).await })
        };
        // Alice's second job waits for her first, and runs out of time waiting.
        let alice_again = {
            let b = b.clone();
            tokio::spawn(async move { b.run("alice", || Ok::<_, ()>(1)).await })
        };
        // Bob has his own slot and a thread of his own.
        assert_eq!(b.run("bob", || Ok::<_, ()>(2)).await, Ok(Ok(2)));
        assert_eq!(alice.await.unwrap().err(), Some(Refusal::OverBudget));
        let again = alice_again.await.unwrap();
        // Refused waiting, or (the slot freed just as its own time ran out) over its budget.
        assert!(
            matches!(again, Ok(Ok(1)) | Err(Refusal::UserBusy | Refusal::OverBudget)),
            "{again:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_users_heavy_jobs_run_one_at_a_time_beside_light_ones() {
        let limits = BulkheadLimits {
            workers: 4,
            per_user: 4,
            per_user_heavy: 1,
            user_wait: Duration::from_millis(100),
            budget: Duration::from_millis(4000),
        };
        let b = Arc::new(Bulkhead::new(limits, Metrics::new()));
        let first = {
            let b = b.clone();
            tokio::spawn(async move { b.run_weighted("alice", Weight::Heavy, endless_query).await })
        };
        // Wait until the first heavy job holds alice's only heavy slot.
        while b
            .users
            .lock()
            .unwrap()
            .get("alice")
            .is_none_or(|s| s.heavy.available_permits() > 0)
        {
            tokio::task::yield_now().await;
        }
        // A second heavy job of hers waits for it and is refused; a light one runs meanwhile, and
        // so does another user's heavy job.
        let again = b.run_weighted("alice", Weight::Heavy, || Ok::<_, ()>(1)).await;
        assert_eq!(again, Err(Refusal::UserBusy));
        assert_eq!(b.run("alice", || Ok::<_, ()>(2)).await, Ok(Ok(2)));
        assert_eq!(b.run_weighted("bob", Weight::Heavy, || Ok::<_, ()>(3)).await, Ok(Ok(3)));
        assert_eq!(first.await.unwrap().err(), Some(Refusal::OverBudget));
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_not_a_crash() {
        // Unwinding with RUST_BACKTRACE set can take seconds on a loaded machine: the budget
        // must not be what this test measures.
        let b = bulkhead(1, 1, 30_000);
        let out: Result<Result<(), ()>, Refusal> = b.run("alice", || panic!("boom")).await;
        assert_eq!(out, Err(Refusal::Panicked));
        assert_eq!(b.run("alice", || Ok::<_, ()>(3)).await, Ok(Ok(3)));
    }
}
