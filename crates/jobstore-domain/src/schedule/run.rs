//! Runs (seed 002's `job_runs`): one per due time of a schedule, with their own state machine.

use std::{fmt, str::FromStr};

use chrono::{DateTime, TimeDelta, Utc};

use chrono::SubsecRound;

use crate::{
    DomainError, Job, JobId, JobStatus, RunId, Schedule, ScheduleId, TenantId, error::invalid, text,
};

/// Where a run is in its life. Stored upper-case; the seed's lower-case spellings parse.
///
/// ```text
/// PENDING --start--> RUNNING --> COMPLETED | FAILED | TIMED_OUT
///    |                  +------> CANCELLED
///    +--> CANCELLED | SKIPPED
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RunStatus {
    /// Due, not started.
    Pending,
    /// Started.
    Running,
    /// Finished successfully.
    Completed,
    /// Finished with an error.
    Failed,
    /// Cancelled (by a kill action or a caller).
    Cancelled,
    /// Stopped for running past its max allowed run time.
    TimedOut,
    /// A due time that does not run (see [`SkipReason`]).
    Skipped,
}

impl RunStatus {
    /// Every status.
    pub const ALL: [RunStatus; 7] = [
        RunStatus::Pending,
        RunStatus::Running,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
        RunStatus::TimedOut,
        RunStatus::Skipped,
    ];

    /// The statuses of a run not over yet: PENDING and RUNNING.
    pub const UNFINISHED: [RunStatus; 2] = [RunStatus::Pending, RunStatus::Running];

    /// The statuses of a run that ran to an end: COMPLETED, FAILED and TIMED_OUT (the
    /// "previous run" a required success looks at; a cancelled or skipped run did not run).
    pub const RAN: [RunStatus; 3] = [RunStatus::Completed, RunStatus::Failed, RunStatus::TimedOut];

    /// The canonical spelling, as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "PENDING",
            RunStatus::Running => "RUNNING",
            RunStatus::Completed => "COMPLETED",
            RunStatus::Failed => "FAILED",
            RunStatus::Cancelled => "CANCELLED",
            RunStatus::TimedOut => "TIMED_OUT",
            RunStatus::Skipped => "SKIPPED",
        }
    }

    /// Whether the state machine has an edge from `self` to `to`.
    pub const fn can_transition_to(self, to: RunStatus) -> bool {
        use RunStatus::*;
        matches!(
            (self, to),
            (Pending, Running | Cancelled | Skipped)
                | (Running, Completed | Failed | Cancelled | TimedOut)
        )
    }

    /// Whether no change leaves this status (all but PENDING and RUNNING).
    pub const fn is_finished(self) -> bool {
        !matches!(self, RunStatus::Pending | RunStatus::Running)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = DomainError;

    /// The canonical spellings and the seed's (`pending`, `running`, `completed`, `failed`,
    /// `cancelled`), in any case; also `canceled`, `timed_out`, `skipped`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "PENDING" => Ok(RunStatus::Pending),
            "RUNNING" => Ok(RunStatus::Running),
            "COMPLETED" => Ok(RunStatus::Completed),
            "FAILED" => Ok(RunStatus::Failed),
            "CANCELLED" | "CANCELED" => Ok(RunStatus::Cancelled),
            "TIMED_OUT" | "TIMEDOUT" => Ok(RunStatus::TimedOut),
            "SKIPPED" => Ok(RunStatus::Skipped),
            _ => Err(invalid("status", format!("{s:?} is not a run status"))),
        }
    }
}

/// Who the audit trail names for the changes the scheduler makes to jobs (a job cancelled with
/// its run).
pub const SCHEDULER: &str = "scheduler";

/// Why a run's job is cancelled when its start is refused by its constraint.
pub const REFUSED_AT_START: &str = "its run was refused by its constraint";

/// Why a soft-deleted tenant's schedules are paused and its unfinished runs cancelled.
pub const TENANT_DELETED: &str = "tenant deleted";

/// Why a due time did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// The schedule had as many runs RUNNING as its constraint allows.
    Overlap,
    /// Missed while no scheduler ran, and not caught up (catch-up off, outside the window, or
    /// over the cap).
    Missed,
    /// Skipped by a `skipNextInstance` action.
    Action,
    /// Due while the schedule was paused.
    Paused,
    /// The run's constraint refused it at start (a required previous run did not succeed).
    Constraint,
}

impl SkipReason {
    /// As stored: `overlap`, `missed`, `action`, `paused`, `constraint`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SkipReason::Overlap => "overlap",
            SkipReason::Missed => "missed",
            SkipReason::Action => "action",
            SkipReason::Paused => "paused",
            SkipReason::Constraint => "constraint",
        }
    }
}

impl FromStr for SkipReason {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            SkipReason::Overlap,
            SkipReason::Missed,
            SkipReason::Action,
            SkipReason::Paused,
            SkipReason::Constraint,
        ]
        .into_iter()
        .find(|r| r.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| invalid("skip_reason", format!("{s:?} is not a skip reason")))
    }
}

/// One due time of a schedule, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The schedule.
    pub schedule_id: ScheduleId,
    /// The run's own id, unique.
    pub run_id: RunId,
    /// The nominal due time, UTC, to the second: with the tenant and schedule, the run's key.
    pub scheduled_at: DateTime<Utc>,
    /// Where it is.
    pub status: RunStatus,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub completed_at: Option<DateTime<Utc>>,
    /// Whether it succeeded, once finished (the seed's `success`).
    pub success: Option<bool>,
    /// Why it failed, timed out or was cancelled.
    pub error: Option<String>,
    /// Why it was skipped.
    pub skip_reason: Option<SkipReason>,
    /// The job it enqueued, when its schedule has a job template.
    pub job_id: Option<JobId>,
    /// When the overrun of its max expected run time was recorded (at most once).
    pub overdue_at: Option<DateTime<Utc>>,
    /// Moves on every write; updates are guarded by it.
    pub version: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A decided change of a stored run: the run as it becomes, guarded by the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunUpdate {
    /// The version the run must still have.
    pub expected_version: i64,
    /// The run after the change (its version moved on).
    pub run: Run,
}

impl Run {
    /// A PENDING run of `schedule` due at `scheduled_at` (truncated to the second), with a job id
    /// for its job when the schedule has a template.
    pub fn pending(schedule: &Schedule, scheduled_at: DateTime<Utc>, now: DateTime<Utc>) -> Run {
        Run {
            tenant_id: schedule.tenant_id.clone(),
            schedule_id: schedule.id.clone(),
            run_id: RunId::generate(),
            scheduled_at: scheduled_at.trunc_subsecs(0),
            status: RunStatus::Pending,
            started_at: None,
            completed_at: None,
            success: None,
            error: None,
            skip_reason: None,
            job_id: schedule.template.as_ref().map(|_| JobId::generate()),
            overdue_at: None,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    /// A SKIPPED run of `schedule` due at `scheduled_at`, for `reason`.
    pub fn skipped(
        schedule: &Schedule,
        scheduled_at: DateTime<Utc>,
        reason: SkipReason,
        now: DateTime<Utc>,
    ) -> Run {
        Run {
            status: RunStatus::Skipped,
            skip_reason: Some(reason),
            completed_at: Some(now),
            // A skipped run enqueues nothing.
            job_id: None,
            ..Run::pending(schedule, scheduled_at, now)
        }
    }

    /// A status change by the state machine's rules (the seed's `UpdateJobRunStatus`): RUNNING
    /// sets `started_at`; a finished status sets `completed_at` and `success` (true only for
    /// COMPLETED). An illegal edge is [`DomainError::InvalidRunTransition`].
    pub fn change(&self, to: RunStatus, now: DateTime<Utc>) -> Result<RunUpdate, DomainError> {
        let mut run = self.clone();
        run.step(to, now)?;
        Ok(self.update(run, now))
    }

    /// RUNNING to COMPLETED (`success`) or FAILED with `error` (the seed's `CompleteJobRun`).
    pub fn complete(
        &self,
        success: bool,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<RunUpdate, DomainError> {
        let to = if success {
            RunStatus::Completed
        } else {
            RunStatus::Failed
        };
        if self.status != RunStatus::Running {
            return Err(DomainError::InvalidRunTransition {
                from: self.status,
                to,
            });
        }
        self.change_with_error(to, error, now)
    }

    /// PENDING or RUNNING to CANCELLED, with `reason` as its error.
    pub fn cancel(&self, reason: &str, now: DateTime<Utc>) -> Result<RunUpdate, DomainError> {
        self.change_with_error(RunStatus::Cancelled, Some(reason), now)
    }

    /// PENDING to SKIPPED for `reason`.
    pub fn skip(&self, reason: SkipReason, now: DateTime<Utc>) -> Result<RunUpdate, DomainError> {
        let mut update = self.change(RunStatus::Skipped, now)?;
        update.run.skip_reason = Some(reason);
        Ok(update)
    }

    /// RUNNING to TIMED_OUT, `error` saying which limit it passed.
    pub fn time_out(&self, error: &str, now: DateTime<Utc>) -> Result<RunUpdate, DomainError> {
        self.change_with_error(RunStatus::TimedOut, Some(error), now)
    }

    /// Records that the run went past its max expected run time: sets `overdue_at`, status
    /// unchanged. A run already marked, or not RUNNING, is refused.
    pub fn mark_overdue(&self, now: DateTime<Utc>) -> Result<RunUpdate, DomainError> {
        if self.status != RunStatus::Running {
            return Err(invalid(
                "overdue_at",
                format!("only a RUNNING run goes overdue, not a {} one", self.status),
            ));
        }
        if self.overdue_at.is_some() {
            return Err(invalid("overdue_at", "the overrun is already recorded"));
        }
        let mut run = self.clone();
        run.overdue_at = Some(now);
        Ok(self.update(run, now))
    }

    /// How the run follows its job, which is now `job`: RUNNING when the job runs; COMPLETED
    /// when it completed; FAILED (with the job's error) when it failed or was lost with no
    /// retries left; CANCELLED when it was cancelled. `None` when nothing changes (a retried
    /// job, a run already finished). Steps the state machine allows in one go (PENDING to
    /// RUNNING to FAILED for a job lost before it started).
    pub fn follow(&self, job: &Job, now: DateTime<Utc>) -> Option<RunUpdate> {
        if self.status.is_finished() {
            return None;
        }
        let mut run = self.clone();
        let start = |run: &mut Run| -> Option<()> {
            if run.status == RunStatus::Pending {
                run.step(RunStatus::Running, now).ok()?;
                run.started_at = Some(job.started_at.unwrap_or(now));
            }
            Some(())
        };
        match job.status {
            JobStatus::Running if run.status == RunStatus::Pending => start(&mut run)?,
            JobStatus::Completed => {
                start(&mut run)?;
                run.step(RunStatus::Completed, now).ok()?;
            }
            JobStatus::Failed | JobStatus::Lost if !job.can_retry() => {
                start(&mut run)?;
                run.step(RunStatus::Failed, now).ok()?;
                run.error = match (&job.error_message, job.status) {
                    (Some(message), _) => Some(text::clip(message)),
                    (None, JobStatus::Lost) => Some("lost: lease expired".to_owned()),
                    (None, _) => None,
                };
            }
            JobStatus::Cancelled => {
                run.step(RunStatus::Cancelled, now).ok()?;
                run.error = job.error_message.as_deref().map(text::clip);
            }
            _ => return None,
        }
        Some(self.update(run, now))
    }

    /// The trigger its outcome fires: `on_success` for COMPLETED, `on_failure` for FAILED,
    /// `on_timeout` for TIMED_OUT; none for a run not finished, cancelled or skipped.
    pub fn outcome_trigger(&self) -> Option<crate::Trigger> {
        match self.status {
            RunStatus::Completed => Some(crate::Trigger::OnSuccess),
            RunStatus::Failed => Some(crate::Trigger::OnFailure),
            RunStatus::TimedOut => Some(crate::Trigger::OnTimeout),
            _ => None,
        }
    }

    /// How long it has been RUNNING at `now`.
    pub fn running_for(&self, now: DateTime<Utc>) -> Option<TimeDelta> {
        match (self.status, self.started_at) {
            (RunStatus::Running, Some(started)) => Some(now - started),
            _ => None,
        }
    }

    /// Moves `self` along one edge, setting the times and outcome; the version is left alone so
    /// that several steps make one update.
    fn step(&mut self, to: RunStatus, now: DateTime<Utc>) -> Result<(), DomainError> {
        if !self.status.can_transition_to(to) {
            return Err(DomainError::InvalidRunTransition {
                from: self.status,
                to,
            });
        }
        self.status = to;
        if to == RunStatus::Running {
            self.started_at = Some(now);
        }
        if to.is_finished() {
            self.completed_at = Some(now);
            self.success = match to {
                RunStatus::Completed => Some(true),
                RunStatus::Failed | RunStatus::TimedOut => Some(false),
                _ => None,
            };
        }
        Ok(())
    }

    /// A change along one edge that records `error`.
    fn change_with_error(
        &self,
        to: RunStatus,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<RunUpdate, DomainError> {
        if let Some(error) = error {
            text::long("error", error)?;
        }
        let mut update = self.change(to, now)?;
        update.run.error = error.map(str::to_owned);
        Ok(update)
    }

    /// The update from `self` to `run`: guarded by `self`'s version, one version on.
    fn update(&self, mut run: Run, now: DateTime<Utc>) -> RunUpdate {
        run.version = self.version.saturating_add(1);
        run.updated_at = now;
        RunUpdate {
            expected_version: self.version,
            run,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::{Change, JobTemplate, LeaseGrant, NewSchedule};

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_900_000_000 + secs, 0).unwrap()
    }

    fn schedule(template: bool) -> Schedule {
        NewSchedule {
            template: template.then(|| JobTemplate::new("default")),
            ..NewSchedule::new(TenantId::new("t1").unwrap(), "nightly", "* * * * *")
        }
        .into_schedule(at(0))
        .unwrap()
    }

    fn running() -> Run {
        Run::pending(&schedule(true), at(60), at(60))
            .change(RunStatus::Running, at(61))
            .unwrap()
            .run
    }

    #[test]
    fn statuses_parse_in_canonical_and_seed_spellings() {
        for status in RunStatus::ALL {
            assert_eq!(status.as_str().parse::<RunStatus>().unwrap(), status);
            assert_eq!(
                status.as_str().to_lowercase().parse::<RunStatus>().unwrap(),
                status
            );
        }
        assert_eq!(
            "canceled".parse::<RunStatus>().unwrap(),
            RunStatus::Cancelled
        );
        assert_eq!(
            "TimedOut".parse::<RunStatus>().unwrap(),
            RunStatus::TimedOut
        );
        assert!(matches!(
            "done".parse::<RunStatus>(),
            Err(DomainError::Validation {
                field: "status",
                ..
            })
        ));
        assert_eq!("PAUSED".parse::<SkipReason>().unwrap(), SkipReason::Paused);
        assert!("bored".parse::<SkipReason>().is_err());
    }

    #[test]
    fn a_pending_run_is_keyed_to_the_second_and_has_a_job_only_with_a_template() {
        let due = at(60) + TimeDelta::milliseconds(750);
        let run = Run::pending(&schedule(true), due, at(61));
        assert_eq!(
            (run.scheduled_at, run.status, run.version),
            (at(60), RunStatus::Pending, 1)
        );
        assert!(run.job_id.is_some());
        assert!(Run::pending(&schedule(false), due, at(61)).job_id.is_none());
    }

    #[test]
    fn a_skipped_run_is_finished_with_its_reason_and_no_outcome() {
        let run = Run::skipped(&schedule(true), at(60), SkipReason::Missed, at(90));
        assert_eq!(run.status, RunStatus::Skipped);
        assert_eq!(
            (run.skip_reason, run.completed_at, run.success, run.job_id),
            (Some(SkipReason::Missed), Some(at(90)), None, None)
        );
    }

    #[test]
    fn every_pair_of_statuses_follows_the_edge_table() {
        let base = Run::pending(&schedule(false), at(60), at(60));
        for from in RunStatus::ALL {
            for to in RunStatus::ALL {
                let run = Run {
                    status: from,
                    ..base.clone()
                };
                let result = run.change(to, at(70));
                if from.can_transition_to(to) {
                    let update = result.unwrap();
                    assert_eq!((update.expected_version, update.run.version), (1, 2));
                    assert_eq!((update.run.status, update.run.updated_at), (to, at(70)));
                    assert_eq!(update.run.completed_at.is_some(), to.is_finished());
                    let success = match to {
                        RunStatus::Completed => Some(true),
                        RunStatus::Failed | RunStatus::TimedOut => Some(false),
                        _ => None,
                    };
                    assert_eq!(update.run.success, success);
                } else {
                    assert_eq!(
                        result.unwrap_err(),
                        DomainError::InvalidRunTransition { from, to }
                    );
                }
            }
        }
    }

    #[test]
    fn complete_cancel_skip_and_time_out_record_their_outcome() {
        let run = running();
        assert_eq!(run.started_at, Some(at(61)));
        let done = run.complete(true, None, at(70)).unwrap().run;
        assert_eq!(
            (done.status, done.success),
            (RunStatus::Completed, Some(true))
        );
        let failed = run.complete(false, Some("exit 1"), at(70)).unwrap().run;
        assert_eq!(
            (failed.status, failed.error.as_deref()),
            (RunStatus::Failed, Some("exit 1"))
        );
        let pending = Run::pending(&schedule(true), at(60), at(60));
        assert!(matches!(
            pending.complete(true, None, at(70)),
            Err(DomainError::InvalidRunTransition { .. })
        ));
        let huge = "x".repeat(crate::MAX_TEXT_BYTES + 1);
        assert!(run.complete(false, Some(&huge), at(70)).is_err());
        let cancelled = pending.cancel("killAllInstances", at(70)).unwrap().run;
        assert_eq!(
            (cancelled.status, cancelled.error.as_deref()),
            (RunStatus::Cancelled, Some("killAllInstances"))
        );
        let skipped = pending.skip(SkipReason::Overlap, at(70)).unwrap().run;
        assert_eq!(
            (skipped.status, skipped.skip_reason),
            (RunStatus::Skipped, Some(SkipReason::Overlap))
        );
        assert!(run.skip(SkipReason::Overlap, at(70)).is_err());
        let timed_out = run.time_out("max allowed run time 2h", at(70)).unwrap().run;
        assert_eq!(
            (timed_out.status, timed_out.success),
            (RunStatus::TimedOut, Some(false))
        );
        assert!(pending.time_out("x", at(70)).is_err());
    }

    #[test]
    fn an_overrun_is_marked_once_and_only_while_running() {
        let run = running();
        let update = run.mark_overdue(at(100)).unwrap();
        assert_eq!(
            (update.expected_version, update.run.version),
            (run.version, run.version + 1)
        );
        assert_eq!(
            (update.run.overdue_at, update.run.status),
            (Some(at(100)), RunStatus::Running)
        );
        for refused in [
            update.run.mark_overdue(at(200)),
            Run::pending(&schedule(true), at(60), at(60)).mark_overdue(at(100)),
        ] {
            assert!(matches!(
                refused,
                Err(DomainError::Validation {
                    field: "overdue_at",
                    ..
                })
            ));
        }
    }

    #[test]
    fn running_for_counts_from_the_start_while_running() {
        assert_eq!(running().running_for(at(121)), Some(TimeDelta::seconds(60)));
        assert_eq!(
            Run::pending(&schedule(true), at(60), at(60)).running_for(at(121)),
            None
        );
    }

    fn job_of(run: &Run) -> Job {
        JobTemplate::new("default").job_for(run, at(60)).unwrap()
    }

    fn moved(job: &Job, to: JobStatus, reason: Option<&str>, now: DateTime<Utc>) -> Job {
        let mut change = Change::to(to);
        if to == JobStatus::Assigned {
            change = change.lease(LeaseGrant::new("w1", now, TimeDelta::seconds(30)));
        }
        if let Some(reason) = reason {
            change = change.reason(reason);
        }
        job.apply(&change, now).unwrap().job
    }

    #[test]
    fn a_run_follows_its_job_to_running_and_completed() {
        let run = Run::pending(&schedule(true), at(60), at(60));
        let job = job_of(&run);
        assert_eq!(run.follow(&job, at(61)), None);
        let assigned = moved(&job, JobStatus::Assigned, None, at(61));
        assert_eq!(run.follow(&assigned, at(61)), None);
        let started = moved(&assigned, JobStatus::Running, None, at(62));
        let update = run.follow(&started, at(63)).unwrap();
        assert_eq!(
            (update.run.status, update.run.started_at),
            (RunStatus::Running, Some(at(62)))
        );
        let done = moved(&started, JobStatus::Completed, None, at(70));
        let finished = update.run.follow(&done, at(70)).unwrap();
        assert_eq!((finished.expected_version, finished.run.version), (2, 3));
        assert_eq!(
            (finished.run.status, finished.run.success),
            (RunStatus::Completed, Some(true))
        );
        assert_eq!(finished.run.follow(&done, at(71)), None);
    }

    #[test]
    fn a_pending_run_whose_job_finished_moves_in_one_update() {
        let run = Run::pending(&schedule(true), at(60), at(60));
        let job = moved(
            &moved(&job_of(&run), JobStatus::Assigned, None, at(61)),
            JobStatus::Running,
            None,
            at(62),
        );
        let done = moved(&job, JobStatus::Completed, None, at(70));
        let update = run.follow(&done, at(70)).unwrap();
        assert_eq!((update.expected_version, update.run.version), (1, 2));
        assert_eq!(
            (update.run.status, update.run.started_at),
            (RunStatus::Completed, Some(at(62)))
        );
    }

    #[test]
    fn a_run_fails_only_when_its_job_has_no_retry_left() {
        let run = running();
        let job = JobTemplate {
            max_retries: 1,
            ..JobTemplate::new("default")
        }
        .job_for(&run, at(60))
        .unwrap();
        let job = moved(
            &moved(&job, JobStatus::Assigned, None, at(61)),
            JobStatus::Running,
            None,
            at(62),
        );
        let failed = moved(&job, JobStatus::Failed, Some("exit 1"), at(63));
        assert!(failed.can_retry());
        assert_eq!(run.follow(&failed, at(63)), None);
        let last = Job {
            retry_count: 1,
            ..failed
        };
        let update = run.follow(&last, at(64)).unwrap();
        assert_eq!(
            (update.run.status, update.run.error.as_deref()),
            (RunStatus::Failed, Some("exit 1"))
        );
        let lost = Job {
            status: JobStatus::Lost,
            error_message: None,
            ..last
        };
        let pending = Run::pending(&schedule(true), at(60), at(60));
        let update = pending.follow(&lost, at(65)).unwrap();
        assert_eq!(
            (update.run.status, update.run.version),
            (RunStatus::Failed, 2)
        );
        assert_eq!(update.run.error.as_deref(), Some("lost: lease expired"));
    }

    #[test]
    fn a_run_is_cancelled_with_its_job() {
        let run = Run::pending(&schedule(true), at(60), at(60));
        let cancelled = moved(
            &job_of(&run),
            JobStatus::Cancelled,
            Some("no longer needed"),
            at(61),
        );
        let update = run.follow(&cancelled, at(61)).unwrap();
        assert_eq!(update.run.status, RunStatus::Cancelled);
        assert_eq!(update.run.success, None);
    }
}
