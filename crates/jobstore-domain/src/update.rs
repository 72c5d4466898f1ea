//! What one write does to a stored job, decided here and stored as it is: the changed columns,
//! the version the write is guarded by, and the audit records it appends.
//!
//! Every way a stored job changes (claims, reports, retries, the reaper, cancellation, deletion,
//! renaming) is a method of [`Job`] below that returns a [`JobUpdate`]. Storage reads the job,
//! calls the method and writes the update; it decides nothing of its own.

use chrono::{DateTime, TimeDelta, Utc};

use crate::{
    Applied, Change, DomainError, Job, JobId, JobStateTransition, JobStatus, LeaseGrant, LeaseId,
    RetryPolicy, StudyState, TenantId, error::invalid, job::validate_batch_job_name,
};

/// The not-before time of a held job (see [`Job::hold`]): the last day every backend stores.
pub fn held_until() -> DateTime<Utc> {
    DateTime::<Utc>::from_naive_utc_and_offset(
        chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap_or_default(),
        Utc,
    )
}

/// Who the audit trail names for the reaper's changes.
pub const REAPER: &str = "reaper";

/// The columns a write sets on a stored job: `None` leaves a column as it is.
///
/// Two jobs changed the same way (a batch claimed by one worker, say) have equal changes, so a
/// writer can store them with one statement. The version moves by `version_step` from the
/// version the job was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct JobChanges {
    /// The new status.
    pub status: Option<JobStatus>,
    /// The new attempt.
    pub attempt: Option<i32>,
    /// The new retry count.
    pub retry_count: Option<i32>,
    /// The new output prefix.
    pub output_prefix: Option<String>,
    /// The new output key (`Some(None)` clears it).
    pub output_key: Option<Option<String>>,
    /// The new not-before time.
    pub not_before: Option<DateTime<Utc>>,
    /// The new assigned agent.
    pub assigned_agent: Option<Option<String>>,
    /// The new lease id.
    pub lease_id: Option<Option<LeaseId>>,
    /// The new lease deadline. Left alone unless the change grants or ends a lease, so that a
    /// concurrent heartbeat's extension is never overwritten.
    pub lease_deadline: Option<Option<DateTime<Utc>>>,
    /// The new external batch-job name.
    pub batch_job_name: Option<Option<String>>,
    /// The new error message.
    pub error_message: Option<Option<String>>,
    /// The new update time.
    pub updated_at: Option<DateTime<Utc>>,
    /// The new scheduled (assigned) time.
    pub scheduled_at: Option<Option<DateTime<Utc>>>,
    /// The new start time.
    pub started_at: Option<Option<DateTime<Utc>>>,
    /// The new completion time.
    pub completed_at: Option<Option<DateTime<Utc>>>,
    /// The new deletion time.
    pub deleted_at: Option<Option<DateTime<Utc>>>,
    /// How far the version moves: one per audit record.
    pub version_step: i64,
}

impl JobChanges {
    /// The columns that differ between `before` and `after` (the fields a job keeps for life,
    /// such as its id, tenant, queue and commands, are never changed by a write).
    pub fn between(before: &Job, after: &Job) -> JobChanges {
        fn diff<T: PartialEq + Clone>(before: &T, after: &T) -> Option<T> {
            (before != after).then(|| after.clone())
        }
        // Every field named, so that a new field of `Job` must be placed here or in the list of
        // those kept for life.
        let Job {
            tenant_id: _,
            id: _,
            image_uri: _,
            commands: _,
            spec: _,
            input_bucket: _,
            input_key: _,
            output_bucket: _,
            max_retries: _,
            retry_policy: _,
            queue: _,
            priority: _,
            unique_key: _,
            created_at: _,
            run_id: _,
            study_id: _,
            status: _,
            output_key: _,
            output_prefix: _,
            attempt: _,
            retry_count: _,
            not_before: _,
            assigned_agent: _,
            lease_id: _,
            lease_deadline: _,
            batch_job_name: _,
            error_message: _,
            version: _,
            updated_at: _,
            scheduled_at: _,
            started_at: _,
            completed_at: _,
            deleted_at: _,
        } = after;
        JobChanges {
            status: diff(&before.status, &after.status),
            attempt: diff(&before.attempt, &after.attempt),
            retry_count: diff(&before.retry_count, &after.retry_count),
            output_prefix: diff(&before.output_prefix, &after.output_prefix),
            output_key: diff(&before.output_key, &after.output_key),
            not_before: diff(&before.not_before, &after.not_before),
            assigned_agent: diff(&before.assigned_agent, &after.assigned_agent),
            lease_id: diff(&before.lease_id, &after.lease_id),
            lease_deadline: diff(&before.lease_deadline, &after.lease_deadline),
            batch_job_name: diff(&before.batch_job_name, &after.batch_job_name),
            error_message: diff(&before.error_message, &after.error_message),
            updated_at: diff(&before.updated_at, &after.updated_at),
            scheduled_at: diff(&before.scheduled_at, &after.scheduled_at),
            started_at: diff(&before.started_at, &after.started_at),
            completed_at: diff(&before.completed_at, &after.completed_at),
            deleted_at: diff(&before.deleted_at, &after.deleted_at),
            version_step: after.version - before.version,
        }
    }
}

/// One write of a stored job: store [`JobUpdate::changes`] on the job if it is still at
/// [`JobUpdate::expected_version`], and append [`JobUpdate::trail`] to its audit records.
///
/// ```
/// use chrono::{TimeDelta, Utc};
/// use jobstore_domain::{JobStatus, LeaseGrant, NewJob, TenantId};
///
/// let now = Utc::now();
/// let job = NewJob::new(TenantId::new("t1")?).into_job(now)?;
/// let claim = job.claim(&LeaseGrant::new("worker-1", now, TimeDelta::seconds(30)), true, now)?;
/// assert_eq!(claim.expected_version, 1);
/// assert_eq!(claim.changes.status, Some(JobStatus::Running));
/// assert_eq!(claim.changes.version_step, 2); // ASSIGNED, then RUNNING: two audit records
/// assert_eq!(claim.trail.len(), 2);
/// # Ok::<(), jobstore_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct JobUpdate {
    /// The job's tenant.
    pub tenant_id: TenantId,
    /// The job.
    pub job_id: JobId,
    /// The version the job was read at: the write is refused if it moved since.
    pub expected_version: i64,
    /// The columns to set.
    pub changes: JobChanges,
    /// The audit records to append, numbered on from the job's last (`seq` = its version).
    pub trail: Vec<JobStateTransition>,
    /// The job as it is after the write.
    pub job: Job,
}

impl JobUpdate {
    /// The update that takes `before` through `steps` (each applied to the previous one's job).
    fn through(before: &Job, steps: Vec<Applied>) -> JobUpdate {
        let job = steps
            .last()
            .map_or_else(|| before.clone(), |step| step.job.clone());
        JobUpdate {
            tenant_id: before.tenant_id.clone(),
            job_id: before.id.clone(),
            expected_version: before.version,
            changes: JobChanges::between(before, &job),
            trail: steps.into_iter().map(|step| step.transition).collect(),
            job,
        }
    }

    /// A write that changes no status, recorded in the trail as a step from the job's status to
    /// itself, so that the trail numbers every version: 1, 2, 3, ... without gaps.
    fn annotated(before: &Job, mut after: Job, at: DateTime<Utc>, reason: String) -> JobUpdate {
        after.updated_at = at;
        after.version = before.version + 1;
        let transition = JobStateTransition {
            tenant_id: before.tenant_id.clone(),
            job_id: before.id.clone(),
            id: crate::TransitionId::generate(),
            seq: after.version,
            from: Some(before.status),
            to: before.status,
            at,
            reason: Some(reason),
            actor: None,
            attempt: before.attempt,
        };
        JobUpdate::through(
            before,
            vec![Applied {
                job: after,
                transition,
            }],
        )
    }
}

impl Job {
    /// Any change of the state machine (a cancellation, say), as one write.
    pub fn change(&self, change: &Change, at: DateTime<Utc>) -> Result<JobUpdate, DomainError> {
        Ok(JobUpdate::through(self, vec![self.apply(change, at)?]))
    }

    /// A worker's claim: PENDING to ASSIGNED under `lease`, and on to RUNNING when `start`,
    /// with the worker as the actor. Refused unless the job [is claimable](Job::is_claimable).
    pub fn claim(
        &self,
        lease: &LeaseGrant,
        start: bool,
        at: DateTime<Utc>,
    ) -> Result<JobUpdate, DomainError> {
        if self.status == JobStatus::Pending && !self.is_claimable(at) {
            return Err(invalid(
                "not_before",
                format!("job {} is not claimable at {at}", self.id),
            ));
        }
        let assigned = self.apply(
            &Change::to(JobStatus::Assigned)
                .actor(lease.agent.as_str())
                .lease(lease.clone()),
            at,
        )?;
        let mut steps = vec![assigned];
        if start {
            let running = steps[0].job.apply(
                &Change::to(JobStatus::Running).actor(lease.agent.as_str()),
                at,
            )?;
            steps.push(running);
        }
        Ok(JobUpdate::through(self, steps))
    }

    /// A worker's report under `lease` (start, complete or release): refused unless the lease
    /// is the job's current, live one. The worker is the actor.
    pub fn report(
        &self,
        lease: &LeaseId,
        change: Change,
        at: DateTime<Utc>,
    ) -> Result<JobUpdate, DomainError> {
        self.check_lease(lease, at)?;
        self.change(&self.by_its_worker(change), at)
    }

    /// A worker's failure report under `lease`: FAILED with `message`, and, when `retry` gives
    /// a policy and retries remain, on to PENDING after the policy's backoff.
    pub fn fail(
        &self,
        lease: &LeaseId,
        message: &str,
        retry: Option<&RetryPolicy>,
        at: DateTime<Utc>,
    ) -> Result<JobUpdate, DomainError> {
        self.check_lease(lease, at)?;
        let failed = self.apply(
            &self.by_its_worker(Change::to(JobStatus::Failed).reason(message)),
            at,
        )?;
        let mut steps = vec![failed];
        if let Some(policy) = retry.filter(|_| steps[0].job.can_retry()) {
            let actor = self.assigned_agent.clone();
            let retried = steps[0].job.retry_after_backoff(policy, actor, at)?;
            steps.push(retried);
        }
        Ok(JobUpdate::through(self, steps))
    }

    /// The reaper's write for a job whose lease ran out by `at`: LOST, and back to PENDING
    /// after `policy`'s backoff while retries remain. `None` when the lease has not run out.
    pub fn reap(
        &self,
        policy: &RetryPolicy,
        at: DateTime<Utc>,
    ) -> Result<Option<JobUpdate>, DomainError> {
        if !self.lease_expired(at) {
            return Ok(None);
        }
        let lost = self.apply(
            &Change::to(JobStatus::Lost)
                .reason("lease expired")
                .actor(REAPER),
            at,
        )?;
        let mut steps = vec![lost];
        if steps[0].job.can_retry() {
            let retried = steps[0]
                .job
                .retry_after_backoff(policy, Some(REAPER.to_owned()), at)?;
            steps.push(retried);
        }
        Ok(Some(JobUpdate::through(self, steps)))
    }

    /// A worker's heartbeat under `lease`: the lease's deadline moves to `by` from `at`. Refused
    /// unless the lease is the job's current, live one. It changes no state, so it moves no
    /// version and leaves no audit record.
    pub fn extend_lease(
        &self,
        lease: &LeaseId,
        by: TimeDelta,
        at: DateTime<Utc>,
    ) -> Result<JobUpdate, DomainError> {
        let deadline = extended_deadline(at, by)?;
        self.check_lease(lease, at)?;
        let job = Job {
            lease_deadline: Some(deadline),
            updated_at: at,
            ..self.clone()
        };
        Ok(JobUpdate {
            tenant_id: self.tenant_id.clone(),
            job_id: self.id.clone(),
            expected_version: self.version,
            changes: JobChanges::between(self, &job),
            trail: Vec::new(),
            job,
        })
    }

    /// A FAILED or LOST job's retry, claimable at once.
    pub fn retry_now(&self, at: DateTime<Utc>) -> Result<JobUpdate, DomainError> {
        self.change(&Change::retry(), at)
    }

    /// Records the job's name in an external batch system.
    pub fn rename_batch_job(
        &self,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<JobUpdate, DomainError> {
        validate_batch_job_name(name)?;
        let after = Job {
            batch_job_name: Some(name.to_owned()),
            ..self.clone()
        };
        Ok(JobUpdate::annotated(
            self,
            after,
            at,
            format!("batch job name set to {name:?}"),
        ))
    }

    /// Holds a PENDING job of a paused study: its not-before becomes [`held_until`], so no claim
    /// takes it (and claims of other jobs read no more rows), until [`Job::release_hold`].
    pub fn hold(&self, at: DateTime<Utc>) -> Result<JobUpdate, DomainError> {
        if self.status != JobStatus::Pending {
            return Err(invalid(
                "status",
                format!("only a PENDING job is held, not {}", self.status),
            ));
        }
        let after = Job {
            not_before: held_until(),
            ..self.clone()
        };
        Ok(JobUpdate::annotated(
            self,
            after,
            at,
            "held: its study is paused".to_owned(),
        ))
    }

    /// Releases a held job: claimable from `at` on.
    pub fn release_hold(&self, at: DateTime<Utc>) -> Result<JobUpdate, DomainError> {
        if self.status != JobStatus::Pending || self.not_before != held_until() {
            return Err(invalid("not_before", "the job is not held"));
        }
        let after = Job {
            not_before: at,
            ..self.clone()
        };
        Ok(JobUpdate::annotated(
            self,
            after,
            at,
            "released: its study is resumed".to_owned(),
        ))
    }

    /// What a job of a study must become for the study's `state`: an unfinished job is
    /// cancelled once its study is over (a job claimed as its study was cancelled, or retried
    /// after it ended, takes no more work); a PENDING job is held while its study is PAUSED and
    /// claimable again once it is not. `None` when it already is as it should be (a job
    /// claimed before a pause keeps its claim).
    pub fn follow_study(
        &self,
        state: StudyState,
        at: DateTime<Utc>,
    ) -> Result<Option<JobUpdate>, DomainError> {
        if self.status.is_finished() {
            return Ok(None);
        }
        match state {
            over if over.is_final() => self
                .change(
                    &Change::to(JobStatus::Cancelled).reason(format!("its study is {over}")),
                    at,
                )
                .map(Some),
            _ if self.status != JobStatus::Pending => Ok(None),
            StudyState::Paused if self.is_held() => Ok(None),
            StudyState::Paused => self.hold(at).map(Some),
            _ if self.is_held() => self.release_hold(at).map(Some),
            _ => Ok(None),
        }
    }

    /// Whether the job is held (see [`Job::hold`]).
    pub fn is_held(&self) -> bool {
        self.status == JobStatus::Pending && self.not_before == held_until()
    }

    /// Hides a finished job from reads; an unfinished one must be cancelled first.
    pub fn soft_delete(&self, at: DateTime<Utc>) -> Result<JobUpdate, DomainError> {
        if !self.status.is_finished() {
            return Err(invalid(
                "status",
                format!("job is {}: cancel it before deleting it", self.status),
            ));
        }
        Ok(self.hide(at, "deleted"))
    }

    /// Hides the job with its soft-deleted tenant, whatever its status: no read or claim finds
    /// it; a worker holding it may still report.
    pub fn hide_with_tenant(&self, at: DateTime<Utc>) -> JobUpdate {
        self.hide(at, "deleted with its tenant")
    }

    fn hide(&self, at: DateTime<Utc>, reason: &str) -> JobUpdate {
        let after = Job {
            deleted_at: Some(at),
            ..self.clone()
        };
        JobUpdate::annotated(self, after, at, reason.to_owned())
    }

    /// FAILED or LOST back to PENDING, not before `policy`'s backoff for the next retry.
    fn retry_after_backoff(
        &self,
        policy: &RetryPolicy,
        actor: Option<String>,
        at: DateTime<Utc>,
    ) -> Result<Applied, DomainError> {
        let retry = self.retry_count.saturating_add(1);
        let delay = policy.delay(&self.id, retry);
        let mut change = Change::retry()
            .reason(format!(
                "retry {retry} of {} in {:.3} s",
                self.max_retries,
                delay.as_seconds_f64()
            ))
            .not_before(
                at.checked_add_signed(delay)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
            );
        change.actor = actor;
        self.apply(&change, at)
    }

    /// Names the job's worker as the change's actor.
    fn by_its_worker(&self, mut change: Change) -> Change {
        change.actor = self.assigned_agent.clone();
        change
    }
}

/// Checks a lease's length: more than nothing and at most 366 days (workers on longer jobs
/// heartbeat).
pub fn check_lease_length(field: &'static str, length: TimeDelta) -> Result<(), DomainError> {
    if length <= TimeDelta::zero() || length > TimeDelta::days(366) {
        return Err(invalid(field, "must be positive and at most 366 days"));
    }
    Ok(())
}

/// A lease's deadline when extended by `by` from `at`, checked to be storable.
pub fn extended_deadline(at: DateTime<Utc>, by: TimeDelta) -> Result<DateTime<Utc>, DomainError> {
    check_lease_length("extend_by", by)?;
    let deadline = at
        .checked_add_signed(by)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    crate::check_time("lease_deadline", deadline)?;
    Ok(deadline)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewJob, StaleLease};

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(3_000_000_000 + seconds)
    }

    fn pending() -> Job {
        NewJob::new(TenantId::new("t1").unwrap())
            .into_job(at(0))
            .unwrap()
    }

    fn running() -> Job {
        let lease = LeaseGrant::new("w1", at(1), TimeDelta::seconds(30));
        pending().claim(&lease, true, at(1)).unwrap().job
    }

    #[test]
    fn a_pending_job_follows_its_study() {
        let job = pending();
        let held = job
            .follow_study(StudyState::Paused, at(2))
            .unwrap()
            .unwrap();
        assert!(held.job.is_held());
        assert_eq!(
            held.job.follow_study(StudyState::Paused, at(3)).unwrap(),
            None
        );
        let released = held
            .job
            .follow_study(StudyState::Running, at(3))
            .unwrap()
            .unwrap();
        assert_eq!(released.job.not_before, at(3));
        assert_eq!(job.follow_study(StudyState::Running, at(3)).unwrap(), None);
        for over in [
            StudyState::Cancelled,
            StudyState::Completed,
            StudyState::Failed,
        ] {
            let cancelled = job.follow_study(over, at(3)).unwrap().unwrap();
            assert_eq!(cancelled.job.status, JobStatus::Cancelled, "{over}");
        }
        assert_eq!(
            running().follow_study(StudyState::Paused, at(3)).unwrap(),
            None
        );
        let claimed_as_it_ended = running()
            .follow_study(StudyState::Cancelled, at(3))
            .unwrap()
            .unwrap();
        assert_eq!(claimed_as_it_ended.job.status, JobStatus::Cancelled);
    }

    #[test]
    fn a_claim_changes_only_what_a_claim_changes() {
        let job = pending();
        let lease = LeaseGrant::new("w1", at(1), TimeDelta::seconds(30));
        let update = job.claim(&lease, false, at(1)).unwrap();
        let changes = update.changes;
        assert_eq!(changes.status, Some(JobStatus::Assigned));
        assert_eq!(changes.lease_id, Some(Some(lease.lease_id.clone())));
        assert_eq!(changes.lease_deadline, Some(Some(lease.deadline)));
        assert_eq!(changes.scheduled_at, Some(Some(at(1))));
        assert_eq!(
            (changes.started_at, changes.attempt, changes.deleted_at),
            (None, None, None)
        );
        assert_eq!(changes.version_step, 1);
        assert_eq!(update.trail[0].actor.as_deref(), Some("w1"));
    }

    #[test]
    fn only_claimable_jobs_are_claimed() {
        let lease = LeaseGrant::new("w1", at(1), TimeDelta::seconds(30));
        let later = NewJob {
            not_before: Some(at(60)),
            ..NewJob::new(TenantId::new("t1").unwrap())
        }
        .into_job(at(0))
        .unwrap();
        assert!(!later.is_claimable(at(1)) && later.is_claimable(at(60)));
        assert!(later.claim(&lease, false, at(1)).is_err());
        let deleted = Job {
            deleted_at: Some(at(0)),
            ..pending()
        };
        assert!(deleted.claim(&lease, false, at(1)).is_err());
    }

    #[test]
    fn jobs_changed_alike_have_equal_changes() {
        let lease = LeaseGrant::new("w1", at(1), TimeDelta::seconds(30));
        let a = pending().claim(&lease, true, at(1)).unwrap();
        let b = pending().claim(&lease, true, at(1)).unwrap();
        assert_eq!(a.changes, b.changes);
        assert_ne!(a.job_id, b.job_id);
    }

    #[test]
    fn starting_leaves_the_deadline_to_heartbeats() {
        let lease = LeaseGrant::new("w1", at(1), TimeDelta::seconds(30));
        let assigned = pending().claim(&lease, false, at(1)).unwrap().job;
        let started = assigned
            .report(&lease.lease_id, Change::to(JobStatus::Running), at(2))
            .unwrap();
        assert_eq!(started.changes.lease_deadline, None);
    }

    #[test]
    fn reports_need_the_live_lease() {
        let job = running();
        assert_eq!(
            job.report(
                &LeaseId::generate(),
                Change::to(JobStatus::Completed),
                at(2)
            ),
            Err(DomainError::StaleLease(StaleLease::NotHeld))
        );
        let lease = job.lease_id.clone().unwrap();
        assert_eq!(
            job.report(&lease, Change::to(JobStatus::Completed), at(31)),
            Err(DomainError::StaleLease(StaleLease::Expired))
        );
    }

    #[test]
    fn a_retryable_failure_is_two_steps_with_a_backoff() {
        let job = running();
        let lease = job.lease_id.clone().unwrap();
        let policy = RetryPolicy {
            base: TimeDelta::seconds(10),
            max_delay: TimeDelta::seconds(10),
            jitter: 0.0,
        };
        let update = job.fail(&lease, "exit 1", Some(&policy), at(5)).unwrap();
        let statuses: Vec<_> = update.trail.iter().map(|t| t.to).collect();
        assert_eq!(statuses, [JobStatus::Failed, JobStatus::Pending]);
        assert_eq!(update.job.not_before, at(15));
        assert_eq!(update.changes.version_step, 2);
        let final_failure = job.fail(&lease, "exit 1", None, at(5)).unwrap();
        assert_eq!(final_failure.job.status, JobStatus::Failed);
    }

    #[test]
    fn a_heartbeat_moves_only_the_deadline() {
        let job = running();
        let lease = job.lease_id.clone().unwrap();
        let update = job
            .extend_lease(&lease, TimeDelta::seconds(60), at(10))
            .unwrap();
        assert_eq!(update.changes.lease_deadline, Some(Some(at(70))));
        assert_eq!(update.changes.version_step, 0);
        assert!(update.trail.is_empty() && update.changes.status.is_none());
        assert!(
            job.extend_lease(&lease, TimeDelta::seconds(60), at(31))
                .is_err()
        );
        assert!(job.extend_lease(&lease, TimeDelta::zero(), at(10)).is_err());
    }

    #[test]
    fn the_reaper_takes_only_expired_leases() {
        let job = running();
        let policy = RetryPolicy::IMMEDIATE;
        assert_eq!(job.reap(&policy, at(30)).unwrap(), None);
        let reaped = job.reap(&policy, at(31)).unwrap().unwrap();
        let statuses: Vec<_> = reaped.trail.iter().map(|t| t.to).collect();
        assert_eq!(statuses, [JobStatus::Lost, JobStatus::Pending]);
        assert_eq!(reaped.trail[0].actor.as_deref(), Some(REAPER));
    }

    #[test]
    fn release_and_retry_are_not_interchangeable() {
        let assigned = pending()
            .claim(
                &LeaseGrant::new("w1", at(1), TimeDelta::seconds(30)),
                false,
                at(1),
            )
            .unwrap()
            .job;
        assert!(matches!(
            assigned.retry_now(at(2)),
            Err(DomainError::InvalidTransition { .. })
        ));
        assert!(assigned.apply(&Change::release(), at(2)).is_ok());
        let failed = running()
            .apply(&Change::to(JobStatus::Failed), at(3))
            .unwrap()
            .job;
        assert!(failed.apply(&Change::release(), at(4)).is_err());
        assert_eq!(failed.retry_now(at(4)).unwrap().job.attempt, 2);
    }

    #[test]
    fn writes_without_a_status_change_keep_the_trail_gapless() {
        let job = running()
            .apply(&Change::to(JobStatus::Completed), at(3))
            .unwrap()
            .job;
        let renamed = job.rename_batch_job("train-1", at(4)).unwrap();
        assert_eq!(renamed.trail[0].seq, job.version + 1);
        assert_eq!(renamed.trail[0].from, Some(JobStatus::Completed));
        assert_eq!(
            renamed.changes.batch_job_name,
            Some(Some("train-1".to_owned()))
        );
        let deleted = renamed.job.soft_delete(at(5)).unwrap();
        assert_eq!(deleted.trail[0].seq, job.version + 2);
        assert_eq!(deleted.changes.deleted_at, Some(Some(at(5))));
        assert!(pending().soft_delete(at(5)).is_err());
    }
}
