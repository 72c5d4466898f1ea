//! Waking idle workers: [`Store::wait_for_work`] returns as soon as a queue may have work.
//!
//! On PostgreSQL every write that makes a job PENDING sends a notification on the channel
//! `jobstore_work` with the queue as payload, in the writing transaction, so it is delivered
//! only when that commits; a waiter LISTENs on a connection of its own and re-checks when its
//! queue is named. On MySQL/MariaDB and SQLite, which have no notifications, the waiter polls
//! with a backoff: often at first, since work usually comes in bursts, then less.

use std::{
    thread,
    time::{Duration, Instant},
};

use jobstore_domain::validate_queue;

use crate::{DbConnection, StorageError, Store, dialect, trace::Call};

/// How often a PostgreSQL waiter looks at its connection's input for a notification: a read
/// of the socket's buffer, no query (diesel does not expose libpq's socket to block on). Every
/// millisecond at first, since work comes in bursts, then every 4 ms while the queue stays
/// quiet: an idle waiter wakes 250 times a second, not 1,000.
const FIRST_NOTIFICATION_CHECK: Duration = Duration::from_millis(1);
const LONGEST_NOTIFICATION_CHECK: Duration = Duration::from_millis(4);
/// How often a PostgreSQL waiter queries all the same: catches jobs that become due by their
/// not-before time, and work written by a process that sends no notification.
const RECHECK: Duration = Duration::from_secs(1);
/// The first and the longest pause between two polls where there are no notifications.
const FIRST_POLL: Duration = Duration::from_millis(1);
const LONGEST_POLL: Duration = Duration::from_millis(100);
/// The longest wait a call makes, whatever time-out it is given: a year.
const LONGEST_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);

impl Store {
    /// Waits until `queue` may have claimable work, at most `timeout`: `Ok(true)` when a job
    /// was claimable (claim now; another worker may still be faster), `Ok(false)` when the time
    /// ran out first. Returns at once when work is waiting already. Jobs other transactions hold
    /// locked (being claimed) do not count, so a worker that finds nothing to claim after a
    /// wake-up does not wake again at once for the same job.
    ///
    /// On PostgreSQL an enqueue wakes the waiter within milliseconds of its commit (LISTEN and
    /// NOTIFY; the waiter reads its connection's input every 1 to 4 ms); elsewhere the waiter
    /// polls, from every millisecond to every 100 ms. On PostgreSQL it holds one pooled
    /// connection while it waits: size the pool for the workers that wait (a waiter that finds
    /// none free waits for one up to the pool's connect time-out, as any call does).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use jobstore_storage::{ClaimRequest, Store, WorkerRepository};
    ///
    /// let store = Store::open_url("jobstore.db")?;
    /// let request = ClaimRequest { start: true, ..ClaimRequest::new("default", "worker-1") };
    /// loop {
    ///     let jobs = store.claim(&request)?;
    ///     if jobs.is_empty() {
    ///         store.wait_for_work("default", Duration::from_secs(30))?;
    ///         continue;
    ///     }
    ///     // ... run the jobs, report on them ...
    /// #   break;
    /// }
    /// # Ok::<(), jobstore_storage::StorageError>(())
    /// ```
    pub fn wait_for_work(&self, queue: &str, timeout: Duration) -> Result<bool, StorageError> {
        Call::new("wait_for_work").traced(self.backend(), || {
            validate_queue(queue)?;
            // Clamped, so that "wait forever" (`Duration::MAX`) is a long wait, not an overflow.
            let deadline = Instant::now() + timeout.min(LONGEST_WAIT);
            let mut pooled = self.pool().get()?;
            if !pooled.run(dialect::listen)? {
                // Polling needs no connection of its own between polls (an in-memory SQLite
                // store has only one).
                drop(pooled);
                return self.wait_polling(queue, deadline);
            }
            let waited = pooled.run(|conn| wait_notified(conn, queue, deadline, || self.now()));
            // A connection back in the pool must not go on collecting notifications.
            if let Err(e) = pooled.run(dialect::unlisten) {
                pooled.lost = true;
                return Err(waited.err().unwrap_or(e));
            }
            waited
        })
    }

    /// MySQL/MariaDB and SQLite: polls with a pause that doubles up to [`LONGEST_POLL`].
    fn wait_polling(&self, queue: &str, deadline: Instant) -> Result<bool, StorageError> {
        let mut pause = FIRST_POLL;
        loop {
            let found = self
                .pool()
                .get()?
                .run(|conn| Ok(dialect::has_claimable(conn, queue, self.now())?))?;
            if found {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            thread::sleep(pause.min(left));
            pause = (pause * 2).min(LONGEST_POLL);
        }
    }
}

/// PostgreSQL: checks, then waits for a notification naming `queue`, re-checking after each
/// and every [`RECHECK`].
fn wait_notified(
    conn: &mut DbConnection,
    queue: &str,
    deadline: Instant,
    now: impl Fn() -> chrono::DateTime<chrono::Utc>,
) -> Result<bool, StorageError> {
    loop {
        // Checked after LISTEN, so work committed in between is not missed.
        if dialect::has_claimable(conn, queue, now())? {
            return Ok(true);
        }
        let recheck = deadline.min(Instant::now() + RECHECK);
        let mut pause = FIRST_NOTIFICATION_CHECK;
        loop {
            if Instant::now() >= deadline {
                return Ok(false);
            }
            if Instant::now() >= recheck || dialect::notified(conn, queue)? {
                break;
            }
            thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
            pause = (pause * 2).min(LONGEST_NOTIFICATION_CHECK);
        }
    }
}
