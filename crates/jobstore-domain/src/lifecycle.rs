//! How a job moves: a state change applied under the state machine's rules, and lease checks.

use chrono::{DateTime, TimeDelta, Utc};

use crate::{
    DomainError, Job, JobId, JobStateTransition, JobStatus, LeaseId, StaleLease, TenantId,
    TransitionId,
    job::{output_prefix, validate_agent},
    text,
};

/// A state change to apply to a job, with what the audit trail records about it.
///
/// ```
/// use chrono::Utc;
/// use jobstore_domain::{Change, JobStatus, NewJob, TenantId};
///
/// let now = Utc::now();
/// let job = NewJob::new(TenantId::new("t1").unwrap()).into_job(now).unwrap();
/// let cancelled = job.apply(&Change::to(JobStatus::Cancelled).reason("no longer needed"), now).unwrap();
/// assert_eq!(cancelled.job.status, JobStatus::Cancelled);
/// assert_eq!(cancelled.transition.reason.as_deref(), Some("no longer needed"));
/// // COMPLETED cannot be reached from PENDING.
/// assert!(job.apply(&Change::to(JobStatus::Completed), now).is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The status to move to.
    pub to: JobStatus,
    /// Why; for FAILED and LOST it is also the job's error message.
    pub reason: Option<String>,
    /// Who asked for it.
    pub actor: Option<String>,
    /// For a claim (to ASSIGNED): the lease to grant.
    pub lease: Option<LeaseGrant>,
    /// For a retry (to PENDING): when the job may be claimed again; `None` means at once.
    pub not_before: Option<DateTime<Utc>>,
    /// Which move to PENDING is meant: a release or a retry (see [`Change::release`]).
    back_to_pending: BackToPending,
}

/// The two ways back to PENDING, which the status alone does not tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BackToPending {
    /// Whichever the job's status allows: a release from ASSIGNED, a retry from FAILED or LOST.
    Either,
    /// Only a worker's release of an ASSIGNED job.
    Release,
    /// Only a retry of a FAILED or LOST job.
    Retry,
}

impl Change {
    /// A change to `status` with nothing else said. To PENDING it is a release from ASSIGNED
    /// and a retry from FAILED or LOST; say which with [`Change::release`] or [`Change::retry`].
    pub fn to(status: JobStatus) -> Self {
        Self {
            to: status,
            reason: None,
            actor: None,
            lease: None,
            not_before: None,
            back_to_pending: BackToPending::Either,
        }
    }

    /// A worker gives an ASSIGNED job back unstarted: PENDING again, without using a retry.
    /// From any other status it is an invalid transition.
    pub fn release() -> Self {
        Self {
            back_to_pending: BackToPending::Release,
            ..Self::to(JobStatus::Pending)
        }
    }

    /// A FAILED or LOST job goes back to PENDING for its next attempt, while retries remain.
    /// From any other status it is an invalid transition.
    ///
    /// ```
    /// use chrono::Utc;
    /// use jobstore_domain::{Change, DomainError, JobStatus, NewJob, TenantId};
    ///
    /// let job = NewJob::new(TenantId::new("t1")?).into_job(Utc::now())?;
    /// let refused = job.apply(&Change::retry(), Utc::now()).unwrap_err();
    /// assert_eq!(refused, DomainError::InvalidTransition { from: JobStatus::Pending, to: JobStatus::Pending });
    /// # Ok::<(), DomainError>(())
    /// ```
    pub fn retry() -> Self {
        Self {
            back_to_pending: BackToPending::Retry,
            ..Self::to(JobStatus::Pending)
        }
    }

    /// Records why.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Records who.
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Grants a lease (for a claim).
    pub fn lease(mut self, lease: LeaseGrant) -> Self {
        self.lease = Some(lease);
        self
    }

    /// Delays a retry.
    pub fn not_before(mut self, at: DateTime<Utc>) -> Self {
        self.not_before = Some(at);
        self
    }
}

/// A lease granted to a worker: who holds the job, under which id, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseGrant {
    /// The new lease's id.
    pub lease_id: LeaseId,
    /// The worker.
    pub agent: String,
    /// When it runs out unless extended.
    pub deadline: DateTime<Utc>,
}

impl LeaseGrant {
    /// A fresh lease for `agent` that lasts `duration` from `now`. (A deadline past the years
    /// every backend stores is refused when the lease is applied.)
    pub fn new(agent: impl Into<String>, now: DateTime<Utc>, duration: TimeDelta) -> Self {
        Self {
            lease_id: LeaseId::generate(),
            agent: agent.into(),
            deadline: now
                .checked_add_signed(duration)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }
}

/// What a worker presents to report on a job it holds: the job and the lease it was granted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The job's tenant.
    pub tenant_id: TenantId,
    /// The job.
    pub job_id: JobId,
    /// The lease granted by the claim.
    pub lease_id: LeaseId,
}

/// A job after a change, and the audit record of the change.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The job as it is after the change.
    pub job: Job,
    /// What the audit trail records.
    pub transition: JobStateTransition,
}

impl Job {
    /// Applies `change` at `at`: checks it against the state machine and the retry rule, and
    /// returns the job after it (lifecycle timestamps, attempt, lease and version updated) with
    /// its audit record. `self` is not modified; on error nothing has changed.
    pub fn apply(&self, change: &Change, at: DateTime<Utc>) -> Result<Applied, DomainError> {
        let (from, to) = (self.status, change.to);
        let meant = match change.back_to_pending {
            BackToPending::Either => true,
            BackToPending::Release => from == JobStatus::Assigned,
            BackToPending::Retry => matches!(from, JobStatus::Failed | JobStatus::Lost),
        };
        if !meant || !from.can_transition_to(to) {
            return Err(DomainError::InvalidTransition { from, to });
        }
        text::optional("actor", change.actor.as_deref(), 255)?;
        if let Some(at) = change.not_before {
            crate::check_time("not_before", at)?;
        }
        if let Some(lease) = &change.lease {
            crate::check_time("lease_deadline", lease.deadline)?;
        }
        let reason = change.reason.as_deref().map(text::clip);
        let mut job = self.clone();
        job.status = to;
        job.updated_at = at;
        job.version += 1;
        match to {
            JobStatus::Pending if from == JobStatus::Assigned => {
                // A release: the attempt never ran, so it does not count as a retry.
                job.clear_lease();
                job.assigned_agent = None;
                job.scheduled_at = None;
            }
            JobStatus::Pending => {
                if self.retry_count >= self.max_retries {
                    return Err(DomainError::RetriesExhausted {
                        retry_count: self.retry_count,
                        max_retries: self.max_retries,
                    });
                }
                job.retry_count += 1;
                job.attempt = job.retry_count + 1;
                job.output_prefix = output_prefix(&job.id, job.attempt);
                job.output_key = None;
                // The failed attempt's error stays in the audit trail, not on the new attempt.
                job.error_message = None;
                job.not_before = change.not_before.unwrap_or(at).max(at);
                job.clear_lease();
                job.assigned_agent = None;
                job.scheduled_at = None;
                job.started_at = None;
                job.completed_at = None;
            }
            JobStatus::Assigned => {
                job.scheduled_at = Some(at);
                if let Some(lease) = &change.lease {
                    validate_agent(&lease.agent)?;
                    job.assigned_agent = Some(lease.agent.clone());
                    job.lease_id = Some(lease.lease_id.clone());
                    job.lease_deadline = Some(lease.deadline);
                }
            }
            JobStatus::Running => job.started_at = Some(at),
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled | JobStatus::Lost => {
                job.completed_at = Some(at);
                job.clear_lease();
                if matches!(to, JobStatus::Failed | JobStatus::Lost) {
                    job.error_message = reason.clone();
                }
            }
        }
        let transition = JobStateTransition {
            tenant_id: job.tenant_id.clone(),
            job_id: job.id.clone(),
            id: TransitionId::generate(),
            seq: job.version,
            from: Some(from),
            to,
            at,
            reason,
            actor: change.actor.clone(),
            attempt: job.attempt,
        };
        Ok(Applied { job, transition })
    }

    /// The audit record of the job's creation (from no status to PENDING).
    pub fn created_transition(&self, actor: Option<&str>) -> JobStateTransition {
        JobStateTransition {
            tenant_id: self.tenant_id.clone(),
            job_id: self.id.clone(),
            id: TransitionId::generate(),
            seq: self.version,
            from: None,
            to: self.status,
            at: self.created_at,
            reason: None,
            actor: actor.map(str::to_owned),
            attempt: self.attempt,
        }
    }

    /// The handle a worker reports with, while the job is held under a lease.
    pub fn lease(&self) -> Option<Lease> {
        Some(Lease {
            tenant_id: self.tenant_id.clone(),
            job_id: self.id.clone(),
            lease_id: self.lease_id.clone()?,
        })
    }

    /// Whether a FAILED or LOST job still has a retry left.
    pub fn can_retry(&self) -> bool {
        matches!(self.status, JobStatus::Failed | JobStatus::Lost)
            && self.retry_count < self.max_retries
    }

    /// Checks that `lease` is the job's current lease and is live at `at`.
    pub fn check_lease(&self, lease: &LeaseId, at: DateTime<Utc>) -> Result<(), DomainError> {
        if self.status == JobStatus::Cancelled {
            return Err(DomainError::StaleLease(StaleLease::Cancelled));
        }
        if !self.status.is_leased() || self.lease_id.as_ref() != Some(lease) {
            return Err(DomainError::StaleLease(StaleLease::NotHeld));
        }
        match self.lease_deadline {
            Some(deadline) if deadline > at => Ok(()),
            _ => Err(DomainError::StaleLease(StaleLease::Expired)),
        }
    }

    /// Whether a worker may claim the job at `at`: PENDING, its not-before time passed, and not
    /// soft-deleted (the claim's query picks candidates by the same test, for its index).
    pub fn is_claimable(&self, at: DateTime<Utc>) -> bool {
        self.status == JobStatus::Pending && self.not_before <= at && self.deleted_at.is_none()
    }

    /// Whether a worker's lease on the job ran out by `at` (the reaper's test).
    pub fn lease_expired(&self, at: DateTime<Utc>) -> bool {
        self.status.is_leased() && self.lease_deadline.is_some_and(|deadline| deadline <= at)
    }

    fn clear_lease(&mut self) {
        self.lease_id = None;
        self.lease_deadline = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewJob, TenantId};
    use proptest::prelude::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(seconds)
    }

    fn pending() -> Job {
        NewJob::new(TenantId::new("t1").unwrap())
            .into_job(at(0))
            .unwrap()
    }

    fn step(job: &Job, change: Change, seconds: i64) -> Job {
        job.apply(&change, at(seconds)).unwrap().job
    }

    fn claimed(job: &Job, seconds: i64) -> Job {
        step(
            job,
            Change::to(JobStatus::Assigned).lease(LeaseGrant::new(
                "w1",
                at(seconds),
                TimeDelta::seconds(30),
            )),
            seconds,
        )
    }

    #[test]
    fn every_ordered_pair_is_applied_exactly_when_the_machine_allows_it() {
        // A job in each status, reached through legal steps.
        let jobs = {
            let p = pending();
            let a = claimed(&p, 1);
            let r = step(&a, Change::to(JobStatus::Running), 2);
            vec![
                p.clone(),
                a.clone(),
                r.clone(),
                step(&r, Change::to(JobStatus::Completed), 3),
                step(&r, Change::to(JobStatus::Failed).reason("boom"), 3),
                step(&p, Change::to(JobStatus::Cancelled), 3),
                step(&r, Change::to(JobStatus::Lost), 3),
            ]
        };
        for job in &jobs {
            for to in JobStatus::ALL {
                let result = job.apply(&Change::to(to), at(10));
                if job.status.can_transition_to(to) {
                    let applied = result.unwrap();
                    assert_eq!(applied.job.status, to);
                    assert_eq!(applied.transition.from, Some(job.status));
                    assert_eq!(applied.job.version, job.version + 1);
                } else {
                    assert_eq!(
                        result.unwrap_err(),
                        DomainError::InvalidTransition {
                            from: job.status,
                            to
                        }
                    );
                }
            }
        }
    }

    #[test]
    fn lifecycle_timestamps_follow_the_transitions() {
        let a = claimed(&pending(), 1);
        assert_eq!(a.scheduled_at, Some(at(1)));
        let r = step(&a, Change::to(JobStatus::Running), 2);
        assert_eq!(r.started_at, Some(at(2)));
        let c = step(&r, Change::to(JobStatus::Completed), 3);
        assert_eq!((c.completed_at, c.updated_at), (Some(at(3)), at(3)));
        assert_eq!(c.lease_id, None);
    }

    #[test]
    fn retry_moves_to_the_next_attempt_and_clears_the_lease() {
        let r = step(&claimed(&pending(), 1), Change::to(JobStatus::Running), 2);
        let failed = step(&r, Change::to(JobStatus::Failed).reason("exit 1"), 3);
        assert_eq!(failed.error_message.as_deref(), Some("exit 1"));
        let retried = step(
            &failed,
            Change::to(JobStatus::Pending).not_before(at(60)),
            4,
        );
        assert_eq!((retried.retry_count, retried.attempt), (1, 2));
        assert_eq!(retried.output_prefix, format!("jobs/{}/2/", retried.id));
        assert_eq!(retried.not_before, at(60));
        assert_eq!((retried.lease_id, retried.started_at), (None, None));
    }

    #[test]
    fn release_returns_a_claimed_job_without_a_retry() {
        let released = step(&claimed(&pending(), 1), Change::to(JobStatus::Pending), 2);
        assert_eq!((released.retry_count, released.attempt), (0, 1));
        assert_eq!(released.assigned_agent, None);
    }

    #[test]
    fn lease_checks_name_the_reason() {
        let a = claimed(&pending(), 1);
        let lease = a.lease_id.clone().unwrap();
        assert!(a.check_lease(&lease, at(2)).is_ok());
        assert_eq!(
            a.check_lease(&lease, at(31)),
            Err(DomainError::StaleLease(StaleLease::Expired))
        );
        assert_eq!(
            a.check_lease(&LeaseId::generate(), at(2)),
            Err(DomainError::StaleLease(StaleLease::NotHeld))
        );
        let cancelled = step(&a, Change::to(JobStatus::Cancelled), 3);
        assert_eq!(
            cancelled.check_lease(&lease, at(4)),
            Err(DomainError::StaleLease(StaleLease::Cancelled))
        );
        assert!(a.lease_expired(at(31)) && !a.lease_expired(at(30) - TimeDelta::microseconds(1)));
    }

    proptest! {
        /// Whatever a job goes through, it is retried at most max_retries times and the
        /// attempt is always retry_count + 1.
        #[test]
        fn retries_never_exceed_max_retries(
            max_retries in 0_i32..6,
            outcomes in proptest::collection::vec(0_u8..3, 1..40),
        ) {
            let mut job = NewJob { max_retries, ..NewJob::new(TenantId::new("t1").unwrap()) }
                .into_job(at(0))
                .unwrap();
            for (i, outcome) in outcomes.into_iter().enumerate() {
                let now = i as i64 * 10;
                if job.status.is_finished() {
                    match job.apply(&Change::to(JobStatus::Pending), at(now)) {
                        Ok(applied) => job = applied.job,
                        Err(e) => {
                            prop_assert!(!job.can_retry());
                            let exhausted = matches!(e, DomainError::RetriesExhausted { .. }
                                | DomainError::InvalidTransition { .. });
                            prop_assert!(exhausted);
                            break;
                        }
                    }
                    continue;
                }
                job = claimed(&job, now);
                job = step(&job, Change::to(JobStatus::Running), now + 1);
                let end = [JobStatus::Completed, JobStatus::Failed, JobStatus::Lost][outcome as usize];
                job = step(&job, Change::to(end), now + 2);
                prop_assert!(job.retry_count <= job.max_retries);
                prop_assert_eq!(job.attempt, job.retry_count + 1);
                if end == JobStatus::Completed { break; }
            }
        }
    }
}
