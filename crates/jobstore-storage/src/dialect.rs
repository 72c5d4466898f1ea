//! Every statement whose SQL differs per backend, one function each, with its `match` on the
//! connection. Everything else in this crate is portable Diesel.
//!
//! What differs, and why:
//! - opening a connection and its session settings (UTC everywhere; READ COMMITTED on MySQL so
//!   claims take no gap locks; foreign keys, WAL and a busy timeout on SQLite);
//! - write transactions: SQLite's start with `BEGIN IMMEDIATE`, taking the write lock first, so
//!   two writers never deadlock upgrading a read lock;
//! - row locks: claims and the reaper lock with `SKIP LOCKED` (`FOR NO KEY UPDATE` on
//!   PostgreSQL, so that audit rows' foreign-key checks need not wait; `FOR UPDATE` on MySQL);
//!   an enqueue locks its tenant against a concurrent soft delete (`FOR SHARE` on PostgreSQL,
//!   `FOR UPDATE` on MariaDB, which has no `FOR SHARE`); SQLite's writers are serialised already;
//! - multi-row inserts, which diesel builds per backend, and inserting runs whose key may be
//!   taken already (`ON CONFLICT DO NOTHING`; MySQL has `ON DUPLICATE KEY UPDATE` and a no-op);
//! - locking schedules and runs: due schedules with `SKIP LOCKED`, so schedulers share them out;
//!   one schedule while its runs are counted or skipped;
//! - the one error diesel does not classify that we must: a busy database.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::{Connection, QueryResult, RunQueryDsl, connection::SimpleConnection, prelude::*};
use jobstore_domain::JobStatus;

use crate::{
    Backend, DbConnection, StorageError,
    rows::{JobRow, TransitionRow, stored},
    schedules::rows::{RunActionRow, RunRow, ScheduleRow},
    schema::{
        audit_logs, cost_records, evidence, job_state_transitions, jobs, results, run_actions,
        schedule_runs, schedules, studies, tenants,
    },
    studies::rows::{AuditRow, CostRow, EvidenceRow, ResultRow, StudyRow},
};

/// Runs `$body` with `$inner` bound to the backend's own connection.
macro_rules! with_inner {
    ($conn:expr, |$inner:ident| $body:expr) => {
        match $conn {
            #[cfg(feature = "postgres")]
            DbConnection::Postgres($inner) => $body,
            #[cfg(feature = "mysql")]
            DbConnection::Mysql($inner) => $body,
            #[cfg(feature = "sqlite")]
            DbConnection::Sqlite($inner) => $body,
        }
    };
}

/// Which backend a connection talks to.
pub(crate) fn backend_of(conn: &DbConnection) -> Backend {
    match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(_) => Backend::Postgres,
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(_) => Backend::Mysql,
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(_) => Backend::Sqlite,
    }
}

/// Opens a connection of `backend` (built in) to `url`, without setting its session up.
pub(crate) fn establish(backend: Backend, url: &str) -> Result<DbConnection, StorageError> {
    let refused = |source| StorageError::Connect { backend, source };
    Ok(match backend {
        #[cfg(feature = "postgres")]
        Backend::Postgres => {
            DbConnection::Postgres(diesel::PgConnection::establish(url).map_err(refused)?)
        }
        #[cfg(feature = "mysql")]
        Backend::Mysql => {
            let url = url
                .strip_prefix("mariadb://")
                .map_or_else(|| url.to_owned(), |rest| format!("mysql://{rest}"));
            DbConnection::Mysql(diesel::MysqlConnection::establish(&url).map_err(refused)?)
        }
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => {
            // `file:` URIs go to SQLite as they are; `sqlite://path` means the path.
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            DbConnection::Sqlite(diesel::SqliteConnection::establish(path).map_err(refused)?)
        }
        #[allow(unreachable_patterns)]
        _ => return Err(StorageError::BackendDisabled { backend }),
    })
}

/// Session settings every connection of a backend gets, so all behave alike.
#[cfg_attr(not(feature = "sqlite"), allow(unused_variables))]
pub(crate) fn set_up_session(conn: &mut DbConnection, busy_timeout: Duration) -> QueryResult<()> {
    match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(conn) => conn.batch_execute("SET TIME ZONE 'UTC'"),
        // READ COMMITTED: claims take no gap locks, so they never block enqueues.
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(conn) => conn.batch_execute(
            "SET time_zone = '+00:00'; \
             SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        ),
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(conn) => {
            conn.batch_execute(&format!(
                "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {};",
                busy_timeout.as_millis().min(i32::MAX as u128)
            ))?;
            // WAL lets readers go on while one writer commits; an in-memory database has no WAL.
            diesel::sql_query("PRAGMA journal_mode = WAL").execute(conn)?;
            conn.batch_execute("PRAGMA synchronous = NORMAL")
        }
    }
}

/// Runs `f` in a new top-level write transaction: committed when it returns `Ok`, rolled back
/// when it returns `Err`.
pub(crate) fn write_transaction<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    match conn {
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(inner) => {
            use diesel::connection::{AnsiTransactionManager, TransactionManager};
            type Manager = <DbConnection as Connection>::TransactionManager;
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
            match f(conn) {
                Ok(value) => match Manager::commit_transaction(conn) {
                    Ok(()) => Ok(value),
                    Err(e) => {
                        // The commit's error is the one to report; the rollback only tidies up.
                        let _ = Manager::rollback_transaction(conn);
                        Err(e.into())
                    }
                },
                Err(e) => {
                    Manager::rollback_transaction(conn)?;
                    Err(e)
                }
            }
        }
        #[allow(unreachable_patterns)]
        _ => conn.transaction(f),
    }
}

/// The claimable jobs of `queue` at `now` (PENDING, due, not deleted): the test claims lock
/// by and a waiting worker looks for, served by the `jobs_claimable` index.
macro_rules! claimable {
    ($queue:expr, $now:expr) => {
        jobs::table
            .filter(status_in(&[JobStatus::Pending]))
            .filter(jobs::queue.eq($queue))
            .filter(jobs::not_before.le(stored($now)))
            .filter(jobs::deleted_at.is_null())
    };
}

/// `status IN (...)` with the statuses written into the SQL as literals, not bound: PostgreSQL
/// and SQLite can then use the partial indexes `jobs_claimable` and `jobs_leases` (whose
/// predicates name the statuses) in every plan of a prepared statement, generic ones included.
/// Unlike diesel's `sql()` literal, a statement holding it stays in the connection's cache of
/// prepared statements (keyed by its SQL text).
#[derive(Debug, Clone, Copy)]
struct StatusIn(&'static [JobStatus]);

fn status_in(statuses: &'static [JobStatus]) -> StatusIn {
    StatusIn(statuses)
}

impl diesel::Expression for StatusIn {
    type SqlType = diesel::sql_types::Bool;
}

impl<DB: diesel::backend::Backend> diesel::query_builder::QueryFragment<DB> for StatusIn {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        // `JobStatus` names only, never input: safe to write into the SQL. Written as the
        // indexes' predicates are, so SQLite, which matches them by form, sees it.
        let listed: Vec<String> = self.0.iter().map(|s| format!("'{}'", s.as_str())).collect();
        out.push_sql(&match listed.as_slice() {
            [one] => format!("status = {one}"),
            many => format!("status IN ({})", many.join(", ")),
        });
        Ok(())
    }
}

impl diesel::query_builder::QueryId for StatusIn {
    type QueryId = ();
    // The text differs per status list: cached by its SQL, not by its type.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::AppearsOnTable<jobs::table> for StatusIn {}
impl diesel::SelectableExpression<jobs::table> for StatusIn {}
impl<GroupBy> diesel::expression::ValidGrouping<GroupBy> for StatusIn {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

/// Whether `queue` has a claimable job at `now` that no other transaction holds locked (one
/// being claimed would wake a waiter that then finds nothing to claim, again and again). Outside
/// a transaction the probe's row lock ends with the statement.
pub(crate) fn has_claimable(
    conn: &mut DbConnection,
    queue: &str,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    let first = claimable!(queue, now).select(jobs::job_id).limit(1);
    let found: Vec<String> = match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => first.for_no_key_update().skip_locked().load(c)?,
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => first.for_update().skip_locked().load(c)?,
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => first.load(c)?,
    };
    Ok(!found.is_empty())
}

/// The notification channel of work arriving; its payload names the queue.
#[cfg(feature = "postgres")]
const WORK_CHANNEL: &str = "jobstore_work";

/// Tells waiting workers, when the transaction commits, that `queues` have new PENDING jobs.
/// PostgreSQL only (NOTIFY); waiters elsewhere poll.
#[cfg_attr(not(feature = "postgres"), allow(unused_variables))]
pub(crate) fn announce_work<'q>(
    conn: &mut DbConnection,
    queues: impl IntoIterator<Item = &'q str>,
) -> QueryResult<()> {
    #[cfg(feature = "postgres")]
    if let DbConnection::Postgres(c) = conn {
        use diesel::sql_types::Text;
        let mut queues: Vec<&str> = queues.into_iter().collect();
        queues.sort_unstable();
        queues.dedup();
        for queue in queues {
            diesel::sql_query("SELECT pg_notify($1, $2)")
                .bind::<Text, _>(WORK_CHANNEL)
                .bind::<Text, _>(queue)
                .execute(c)?;
        }
    }
    Ok(())
}

/// Starts listening for [`announce_work`]'s notifications; `false` where the backend has none.
pub(crate) fn listen(conn: &mut DbConnection) -> Result<bool, StorageError> {
    match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => {
            c.batch_execute(&format!("LISTEN {WORK_CHANNEL}"))?;
            Ok(true)
        }
        #[allow(unreachable_patterns)]
        _ => Ok(false),
    }
}

/// Stops listening, and drops the notifications that arrived meanwhile.
#[cfg_attr(not(feature = "postgres"), allow(unused_variables))]
pub(crate) fn unlisten(conn: &mut DbConnection) -> Result<(), StorageError> {
    #[cfg(feature = "postgres")]
    if let DbConnection::Postgres(c) = conn {
        c.batch_execute(&format!("UNLISTEN {WORK_CHANNEL}"))?;
        for notification in c.notifications_iter() {
            notification?;
        }
    }
    Ok(())
}

/// Whether a notification naming `queue` arrived since the last look (reads what the server
/// sent already; sends nothing).
#[cfg_attr(not(feature = "postgres"), allow(unused_variables))]
#[cfg_attr(not(feature = "postgres"), allow(unused_mut))]
pub(crate) fn notified(conn: &mut DbConnection, queue: &str) -> Result<bool, StorageError> {
    let mut named = false;
    #[cfg(feature = "postgres")]
    if let DbConnection::Postgres(c) = conn {
        for notification in c.notifications_iter() {
            named |= notification?.payload == queue;
        }
    }
    Ok(named)
}

/// Reads and locks up to `limit` claimable jobs of `queue` at `now`, in claim order (highest
/// priority, oldest not-before, then tenant and id), skipping rows other claimers hold.
pub(crate) fn lock_claimable(
    conn: &mut DbConnection,
    queue: &str,
    now: DateTime<Utc>,
    limit: u32,
) -> QueryResult<Vec<JobRow>> {
    // In claim order: highest priority, oldest not-before, then tenant and id.
    let claimable = claimable!(queue, now)
        .order((
            jobs::priority.desc(),
            jobs::not_before.asc(),
            jobs::tenant_id.asc(),
            jobs::job_id.asc(),
        ))
        .limit(i64::from(limit));
    match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => claimable
            .select(JobRow::as_select())
            .for_no_key_update()
            .skip_locked()
            .load(c),
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => claimable
            .select(JobRow::as_select())
            .for_update()
            .skip_locked()
            .load(c),
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => claimable.select(JobRow::as_select()).load(c),
    }
}

/// Reads and locks up to `limit` leased jobs whose deadline passed by `now` (the reaper's
/// candidates; the domain decides each), skipping rows others hold.
pub(crate) fn lock_expired(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    limit: u32,
) -> QueryResult<Vec<JobRow>> {
    let expired = jobs::table
        .filter(status_in(&JobStatus::LEASED))
        .filter(jobs::lease_deadline.le(stored(now)))
        .order((
            jobs::lease_deadline.asc(),
            jobs::tenant_id.asc(),
            jobs::job_id.asc(),
        ))
        .limit(i64::from(limit));
    match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => expired
            .select(JobRow::as_select())
            .for_no_key_update()
            .skip_locked()
            .load(c),
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => expired
            .select(JobRow::as_select())
            .for_update()
            .skip_locked()
            .load(c),
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => expired.select(JobRow::as_select()).load(c),
    }
}

/// Reads which of `ids` are live tenants, locking them until the transaction ends, so that a
/// concurrent soft delete of a tenant (which also hides its jobs) waits for the jobs being
/// written and is not overtaken by one it would miss.
pub(crate) fn lock_live_tenants(conn: &mut DbConnection, ids: &[&str]) -> QueryResult<Vec<String>> {
    let live = tenants::table
        .filter(tenants::tenant_id.eq_any(ids))
        .filter(tenants::deleted_at.is_null())
        .select(tenants::tenant_id);
    match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => live.for_share().load(c),
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => live.for_update().load(c),
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => live.load(c),
    }
}

/// Reads and locks the live jobs of a tenant being soft-deleted, so that no report moves one
/// of them between the read and the write that hides it.
pub(crate) fn lock_tenant_jobs(conn: &mut DbConnection, tenant: &str) -> QueryResult<Vec<JobRow>> {
    let live = jobs::table
        .filter(jobs::tenant_id.eq(tenant))
        .filter(jobs::deleted_at.is_null())
        .order(jobs::job_id);
    match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => live.select(JobRow::as_select()).for_no_key_update().load(c),
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => live.select(JobRow::as_select()).for_update().load(c),
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => live.select(JobRow::as_select()).load(c),
    }
}

/// From how many rows PostgreSQL inserts by COPY: it streams the rows with no SQL to parse or
/// plan, but takes a round trip more than an INSERT, which wins for a few rows.
#[cfg(feature = "postgres")]
const COPY_FROM: usize = 32;

/// Inserts job rows in one statement: PostgreSQL's binary COPY for many, a multi-row INSERT
/// otherwise.
pub(crate) fn insert_jobs(conn: &mut DbConnection, rows: &[JobRow]) -> QueryResult<usize> {
    match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) if rows.len() >= COPY_FROM => diesel::copy_from(jobs::table)
            .from_insertable(rows)
            .execute(c),
        #[allow(unreachable_patterns)]
        _ => with_inner!(conn, |c| diesel::insert_into(jobs::table)
            .values(rows)
            .execute(c)),
    }
}

/// Inserts audit rows in one statement, as [`insert_jobs`] does.
pub(crate) fn insert_transitions(
    conn: &mut DbConnection,
    rows: &[TransitionRow],
) -> QueryResult<usize> {
    match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) if rows.len() >= COPY_FROM => {
            diesel::copy_from(job_state_transitions::table)
                .from_insertable(rows)
                .execute(c)
        }
        #[allow(unreachable_patterns)]
        _ => with_inner!(conn, |c| diesel::insert_into(job_state_transitions::table)
            .values(rows)
            .execute(c)),
    }
}

/// Locks up to `limit` unpaused schedules due at `now`, soonest first, skipping those another
/// scheduler holds: concurrent schedulers take different schedules. It reads no other table:
/// MariaDB would lock (and so skip) the rows a subquery reads too. (A soft-deleted tenant's
/// schedules are paused.)
pub(crate) fn lock_due_schedules(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    limit: u32,
) -> QueryResult<Vec<ScheduleRow>> {
    let due = schedules::table
        .filter(schedules::paused.eq(false))
        .filter(schedules::next_due_at.le(stored(now)))
        .order((
            schedules::next_due_at.asc(),
            schedules::tenant_id.asc(),
            schedules::schedule_id.asc(),
        ))
        .limit(i64::from(limit));
    match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => due
            .select(ScheduleRow::as_select())
            .for_no_key_update()
            .skip_locked()
            .load(c),
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => due
            .select(ScheduleRow::as_select())
            .for_update()
            .skip_locked()
            .load(c),
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => due.select(ScheduleRow::as_select()).load(c),
    }
}

/// Reads and locks one schedule until the transaction ends: starters of its runs, and calls
/// that skip or kill them, take their turns.
pub(crate) fn lock_schedule(
    conn: &mut DbConnection,
    tenant: &str,
    schedule: &str,
) -> QueryResult<Option<ScheduleRow>> {
    let one = schedules::table.find((tenant, schedule));
    match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => one
            .select(ScheduleRow::as_select())
            .for_no_key_update()
            .first(c)
            .optional(),
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => one
            .select(ScheduleRow::as_select())
            .for_update()
            .first(c)
            .optional(),
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => one.select(ScheduleRow::as_select()).first(c).optional(),
    }
}

/// Inserts fired actions in one statement.
pub(crate) fn insert_run_actions(
    conn: &mut DbConnection,
    rows: &[RunActionRow],
) -> QueryResult<()> {
    with_inner!(conn, |c| diesel::insert_into(run_actions::table)
        .values(rows)
        .execute(c)
        .map(drop))
}

/// Reads and locks up to `limit` queued actions, oldest first, skipping those another
/// scheduler is taking.
pub(crate) fn lock_queued_actions(
    conn: &mut DbConnection,
    limit: u32,
) -> QueryResult<Vec<RunActionRow>> {
    let queued = run_actions::table
        .filter(run_actions::taken_at.is_null())
        .order((run_actions::fired_at, run_actions::run_action_id))
        .limit(i64::from(limit));
    match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => queued
            .select(RunActionRow::as_select())
            .for_update()
            .skip_locked()
            .load(c),
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => queued
            .select(RunActionRow::as_select())
            .for_update()
            .skip_locked()
            .load(c),
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => queued.select(RunActionRow::as_select()).load(c),
    }
}

/// Reads and locks one study until the transaction ends: the finishes of its jobs, and its own
/// state changes, take turns (a study's last two jobs finishing at once must not each see the
/// other unfinished).
pub(crate) fn lock_study(
    conn: &mut DbConnection,
    tenant: &str,
    study: &str,
) -> QueryResult<Option<StudyRow>> {
    let one = studies::table.find((tenant, study));
    match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => one
            .select(StudyRow::as_select())
            .for_no_key_update()
            .first(c)
            .optional(),
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => one
            .select(StudyRow::as_select())
            .for_update()
            .first(c)
            .optional(),
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => one.select(StudyRow::as_select()).first(c).optional(),
    }
}

/// Defines an insert of many rows of a table in one statement, on every backend.
macro_rules! insert_many {
    ($(#[$doc:meta])* $name:ident, $table:path, $row:ty) => {
        $(#[$doc])*
        pub(crate) fn $name(conn: &mut DbConnection, rows: &[$row]) -> QueryResult<usize> {
            with_inner!(conn, |c| diesel::insert_into($table).values(rows).execute(c))
        }
    };
}

insert_many!(
    /// Inserts results in one statement.
    insert_results,
    results::table,
    ResultRow
);
insert_many!(
    /// Inserts evidence in one statement.
    insert_evidence,
    evidence::table,
    EvidenceRow
);
insert_many!(
    /// Inserts cost records in one statement.
    insert_costs,
    cost_records::table,
    CostRow
);
insert_many!(
    /// Appends audit entries in one statement.
    insert_audit,
    audit_logs::table,
    AuditRow
);

/// Whether a locking read waits for rows another transaction holds, or passes them by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locked {
    Wait,
    Skip,
}

/// Reads and locks a tenant's jobs named by id, in id order, by their primary key only: a
/// worker's status change rewrites the jobs' secondary index entries, and a lock taken through
/// one of those (InnoDB locks the entry, then the row) would wait on the worker while it waits
/// on the entry. Waiting, it returns them as the writers it waited for left them; skipping, it
/// passes by those other writers hold (see `studies::lifecycle` for who may skip).
pub(crate) fn lock_jobs(
    conn: &mut DbConnection,
    tenant: &str,
    ids: &[String],
    locked: Locked,
) -> QueryResult<Vec<JobRow>> {
    let named = jobs::table
        .filter(jobs::tenant_id.eq(tenant))
        .filter(jobs::job_id.eq_any(ids))
        .order(jobs::job_id);
    match (conn, locked) {
        #[cfg(feature = "postgres")]
        (DbConnection::Postgres(c), Locked::Wait) => named
            .select(JobRow::as_select())
            .for_no_key_update()
            .load(c),
        #[cfg(feature = "postgres")]
        (DbConnection::Postgres(c), Locked::Skip) => named
            .select(JobRow::as_select())
            .for_no_key_update()
            .skip_locked()
            .load(c),
        #[cfg(feature = "mysql")]
        (DbConnection::Mysql(c), Locked::Wait) => {
            named.select(JobRow::as_select()).for_update().load(c)
        }
        #[cfg(feature = "mysql")]
        (DbConnection::Mysql(c), Locked::Skip) => named
            .select(JobRow::as_select())
            .for_update()
            .skip_locked()
            .load(c),
        // One writer at a time: nothing to wait for or skip.
        #[cfg(feature = "sqlite")]
        (DbConnection::Sqlite(c), _) => named.select(JobRow::as_select()).load(c),
    }
}

/// Reads a study with a shared lock until the transaction ends: it waits for a change of the
/// study being written (a cancel), and makes that change wait for this transaction, but not
/// for other shared readers (the claims of its jobs).
pub(crate) fn lock_study_shared(
    conn: &mut DbConnection,
    tenant: &str,
    study: &str,
) -> QueryResult<Option<StudyRow>> {
    let one = studies::table.find((tenant, study));
    match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => one
            .select(StudyRow::as_select())
            .for_share()
            .first(c)
            .optional(),
        // MariaDB has no `FOR SHARE`; MySQL still takes this spelling.
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => {
            let rows: Vec<StudyRow> = diesel::sql_query(
                "SELECT * FROM studies WHERE tenant_id = ? AND study_id = ? LOCK IN SHARE MODE",
            )
            .bind::<diesel::sql_types::Text, _>(tenant)
            .bind::<diesel::sql_types::Text, _>(study)
            .load(c)?;
            Ok(rows.into_iter().next())
        }
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => one.select(StudyRow::as_select()).first(c).optional(),
    }
}

/// A sum of minor units per currency, as read back.
#[derive(diesel::QueryableByName)]
struct CurrencySum {
    #[diesel(sql_type = diesel::sql_types::Text)]
    currency: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    total: String,
}

/// Sums a tenant's cost records per currency, exactly, as decimal text: PostgreSQL and MySQL
/// widen a sum of BIGINT to a decimal, which a cast back to BIGINT would fail on (PostgreSQL)
/// or clip without a word (MySQL); the caller parses it, and a sum too large is its error.
/// (SQLite's SUM of integers fails on overflow itself.)
pub(crate) fn cost_sums(
    conn: &mut DbConnection,
    tenant: &str,
    study: Option<&str>,
    category: Option<&str>,
    from: Option<crate::stamp::Stamp>,
    until: Option<crate::stamp::Stamp>,
) -> QueryResult<Vec<(String, String)>> {
    use diesel::sql_types::Text;

    let backend = backend_of(conn);
    let mut n = 0;
    let mut param = || {
        n += 1;
        match backend {
            Backend::Postgres => format!("${n}"),
            _ => "?".to_owned(),
        }
    };
    let total = match backend {
        Backend::Mysql => "CAST(SUM(amount_minor) AS CHAR)",
        Backend::Postgres | Backend::Sqlite => "CAST(SUM(amount_minor) AS TEXT)",
    };
    let mut sql = format!(
        "SELECT currency, {total} AS total FROM cost_records WHERE tenant_id = {}",
        param()
    );
    if study.is_some() {
        sql.push_str(&format!(" AND study_id = {}", param()));
    }
    if category.is_some() {
        sql.push_str(&format!(" AND category = {}", param()));
    }
    if from.is_some() {
        sql.push_str(&format!(" AND recorded_at >= {}", param()));
    }
    if until.is_some() {
        sql.push_str(&format!(" AND recorded_at < {}", param()));
    }
    sql.push_str(" GROUP BY currency ORDER BY currency");
    let mut query = diesel::sql_query(sql)
        .into_boxed::<crate::connection::MultiBackend>()
        .bind::<Text, _>(tenant.to_owned());
    if let Some(study) = study {
        query = query.bind::<Text, _>(study.to_owned());
    }
    if let Some(category) = category {
        query = query.bind::<Text, _>(category.to_owned());
    }
    for at in [from, until].into_iter().flatten() {
        query = query.bind::<crate::stamp::UtcDateTime, _>(at);
    }
    let sums: Vec<CurrencySum> = query.load(conn)?;
    Ok(sums.into_iter().map(|s| (s.currency, s.total)).collect())
}

/// Locks one job until the transaction ends (the overdue sweep takes a job's lock before its
/// run's, in the order a worker's report takes them).
pub(crate) fn lock_job(conn: &mut DbConnection, tenant: &str, job: &str) -> QueryResult<()> {
    let one = jobs::table.find((tenant, job)).select(jobs::version);
    let _: Option<i64> = match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => one.for_no_key_update().first(c).optional()?,
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => one.for_update().first(c).optional()?,
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => one.first(c).optional()?,
    };
    Ok(())
}

/// Inserts runs, leaving out each whose key (tenant, schedule, due time) is taken already. How
/// many rows it reports is not to be trusted (MySQL counts a duplicate it left alone as a row
/// changed): callers read their rows back by the token they wrote.
pub(crate) fn insert_runs_unless_taken(
    conn: &mut DbConnection,
    rows: &[RunRow],
) -> QueryResult<()> {
    match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => diesel::insert_into(schedule_runs::table)
            .values(rows)
            .on_conflict_do_nothing()
            .execute(c)
            .map(drop),
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => diesel::insert_into(schedule_runs::table)
            .values(rows)
            .on_conflict(diesel::dsl::DuplicatedKeys)
            .do_update()
            .set(schedule_runs::run_id.eq(schedule_runs::run_id))
            .execute(c)
            .map(drop),
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => diesel::insert_into(schedule_runs::table)
            .values(rows)
            .on_conflict_do_nothing()
            .execute(c)
            .map(drop),
    }
}

/// Whether a database error that diesel leaves unclassified means "busy, try again": SQLite's
/// `SQLITE_BUSY`/`SQLITE_LOCKED` (diesel keeps only their text, which SQLite fixes), and
/// MySQL's lock wait timeout (1205) and PostgreSQL's deadlock and lock timeout, by their
/// English messages (diesel does not expose the codes; a server set to another language
/// reports these as `Other`).
pub(crate) fn is_busy(message: &str) -> bool {
    const BUSY: [&str; 5] = [
        "database is locked",
        "database table is locked",
        "Lock wait timeout exceeded",
        "deadlock detected",
        "canceling statement due to lock timeout",
    ];
    BUSY.iter().any(|sign| message.contains(sign))
}
