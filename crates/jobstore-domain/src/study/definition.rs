//! Studies (seed 004's `studies`): a tenant's set of jobs made from a manifest, its guarded state
//! changes with their audit rows, and the rule by which its state follows its jobs.

use chrono::{DateTime, Utc};

use crate::{DomainError, JobStatus, StudyId, StudyState, TenantId, UserId, error::invalid, text};

/// Who a study's audit trail names for the changes the study makes by following its jobs
/// ([`Study::follow`]): no caller asked for them, the jobs did.
pub const STUDY_ACTOR: &str = "study";

/// A tenant's study: a set of jobs made from one manifest, whose results, evidence, costs and
/// checkpoints are collected under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Study {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The study's id.
    pub id: StudyId,
    /// A display name (1 to 255 characters).
    pub name: String,
    /// What it is for (at most [`crate::MAX_TEXT_BYTES`] bytes).
    pub description: Option<String>,
    /// The manifest JSON its jobs were made from; set when it is queued.
    pub manifest: Option<String>,
    /// The user who created it, when known.
    pub created_by: Option<UserId>,
    /// Where it is in its life.
    pub state: StudyState,
    /// Moves on every write; updates are guarded by it, and it orders the study's transitions.
    pub version: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was soft-deleted; soft-deleted studies are hidden from reads.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// What it takes to create a study. It starts as a DRAFT, with no jobs and no manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStudy {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// A caller-chosen id; `None` generates one.
    pub id: Option<StudyId>,
    /// A display name, 1 to 255 characters.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// The user creating it.
    pub created_by: Option<UserId>,
}

/// What a caller may ask of a study's state (see [`Study::request`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StudyRequest {
    /// Stop its PENDING jobs being claimed.
    Pause,
    /// Let its held jobs be claimed again.
    Resume,
    /// End it and its unfinished jobs.
    Cancel,
}

impl NewStudy {
    /// A study of `tenant_id` named `name`, with a generated id and nothing else.
    pub fn new(tenant_id: TenantId, name: impl Into<String>) -> Self {
        Self {
            tenant_id,
            id: None,
            name: name.into(),
            description: None,
            created_by: None,
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), DomainError> {
        check_fields(&self.name, self.description.as_deref())
    }

    /// The DRAFT study this creates, at `now`, at version 1. Its first audit row is
    /// [`Study::created_transition`].
    pub fn into_study(self, now: DateTime<Utc>) -> Result<Study, DomainError> {
        self.validate()?;
        Ok(Study {
            tenant_id: self.tenant_id,
            id: self.id.unwrap_or_else(StudyId::generate),
            name: self.name,
            description: self.description,
            manifest: None,
            created_by: self.created_by,
            state: StudyState::Draft,
            version: 1,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        })
    }
}

/// A change to a study's details: each `Some` field replaces the stored value. Its state changes
/// only through [`Study::transition`] and [`Study::follow`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StudyUpdate {
    /// A new name.
    pub name: Option<String>,
    /// A new description, or `Some(None)` to clear it.
    pub description: Option<Option<String>>,
}

/// One row of a study's audit trail: a state change, when, why and by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudyTransition {
    /// The study's tenant.
    pub tenant_id: TenantId,
    /// The study.
    pub study_id: StudyId,
    /// The study's version after the change: orders a study's transitions.
    pub seq: i64,
    /// The state before; `None` when the study was created.
    pub from_state: Option<StudyState>,
    /// The state after.
    pub to_state: StudyState,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who: a user, a service, or [`STUDY_ACTOR`] when the study followed its jobs.
    pub actor: Option<String>,
    /// Why.
    pub reason: Option<String>,
}

/// A decided state change of a stored study: the study as it becomes, guarded by the version it
/// was read at, and the audit row to write with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudyChange {
    /// The version the study must still have.
    pub expected_version: i64,
    /// The study after the change (its version moved on).
    pub study: Study,
    /// The audit row of the change.
    pub transition: StudyTransition,
}

/// How many of a study's jobs are in each status: what [`Study::follow`] and
/// [`crate::StudyStats`] are computed from.
///
/// FAILED and LOST count as finished. A caller whose failed jobs are retried should count a
/// FAILED or LOST job that still has retries left as `pending`, so that the study does not end
/// before its retries do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct JobCounts {
    /// PENDING jobs.
    pub pending: u64,
    /// ASSIGNED (claimed) jobs.
    pub assigned: u64,
    /// RUNNING jobs.
    pub running: u64,
    /// COMPLETED jobs.
    pub completed: u64,
    /// FAILED jobs.
    pub failed: u64,
    /// CANCELLED jobs.
    pub cancelled: u64,
    /// LOST jobs.
    pub lost: u64,
}

impl JobCounts {
    /// Counts `n` more jobs in `status`.
    pub fn add(&mut self, status: JobStatus, n: u64) {
        let slot = match status {
            JobStatus::Pending => &mut self.pending,
            JobStatus::Assigned => &mut self.assigned,
            JobStatus::Running => &mut self.running,
            JobStatus::Completed => &mut self.completed,
            JobStatus::Failed => &mut self.failed,
            JobStatus::Cancelled => &mut self.cancelled,
            JobStatus::Lost => &mut self.lost,
        };
        *slot = slot.saturating_add(n);
    }

    /// How many jobs are in `status`.
    pub const fn get(&self, status: JobStatus) -> u64 {
        match status {
            JobStatus::Pending => self.pending,
            JobStatus::Assigned => self.assigned,
            JobStatus::Running => self.running,
            JobStatus::Completed => self.completed,
            JobStatus::Failed => self.failed,
            JobStatus::Cancelled => self.cancelled,
            JobStatus::Lost => self.lost,
        }
    }

    /// Every job.
    pub const fn total(&self) -> u64 {
        self.unfinished().saturating_add(self.finished())
    }

    /// The jobs whose work is not over: PENDING, ASSIGNED and RUNNING.
    pub const fn unfinished(&self) -> u64 {
        self.pending
            .saturating_add(self.assigned)
            .saturating_add(self.running)
    }

    /// The jobs that reached an end: COMPLETED, FAILED, CANCELLED and LOST.
    pub const fn finished(&self) -> u64 {
        self.completed
            .saturating_add(self.failed)
            .saturating_add(self.cancelled)
            .saturating_add(self.lost)
    }

    /// Whether any job was claimed, started or ended other than by cancellation: what moves a
    /// QUEUED study to RUNNING.
    const fn any_started(&self) -> bool {
        self.assigned
            .saturating_add(self.running)
            .saturating_add(self.completed)
            .saturating_add(self.failed)
            .saturating_add(self.lost)
            > 0
    }
}

impl Study {
    /// The audit row of the study's creation: from nothing to its state, at its creation time.
    pub fn created_transition(&self, actor: Option<&str>) -> StudyTransition {
        StudyTransition {
            tenant_id: self.tenant_id.clone(),
            study_id: self.id.clone(),
            seq: self.version,
            from_state: None,
            to_state: self.state,
            at: self.created_at,
            actor: actor.map(str::to_owned),
            reason: None,
        }
    }

    /// The study after `update`, at `now`, one version on.
    pub fn updated(&self, update: StudyUpdate, now: DateTime<Utc>) -> Result<Study, DomainError> {
        let name = update.name.unwrap_or_else(|| self.name.clone());
        let description = update
            .description
            .unwrap_or_else(|| self.description.clone());
        check_fields(&name, description.as_deref())?;
        Ok(self.changed(
            Study {
                name,
                description,
                ..self.clone()
            },
            now,
        ))
    }

    /// The study soft-deleted at `now`, one version on: hidden from reads until hard-deleted.
    /// A study already deleted is refused (field `deleted_at`), so the first deletion time is
    /// kept.
    pub fn soft_deleted(&self, now: DateTime<Utc>) -> Result<Study, DomainError> {
        if self.deleted_at.is_some() {
            return Err(invalid("deleted_at", "the study is already deleted"));
        }
        Ok(self.changed(
            Study {
                deleted_at: Some(now),
                ..self.clone()
            },
            now,
        ))
    }

    /// A state change along one edge of the state machine, with its audit row naming `actor`
    /// (at most 255 characters) and `reason` (clipped to fit). An edge the machine does not have
    /// is [`DomainError::InvalidStudyTransition`].
    ///
    /// ```
    /// use chrono::Utc;
    /// use jobstore_domain::{DomainError, NewStudy, StudyState, TenantId};
    ///
    /// let now = Utc::now();
    /// let study = NewStudy::new(TenantId::new("t1")?, "pricing").into_study(now)?;
    /// let change = study.transition(StudyState::Cancelled, Some("ann"), Some("not needed"), now)?;
    /// assert_eq!((change.expected_version, change.study.version), (1, 2));
    /// assert_eq!(change.transition.from_state, Some(StudyState::Draft));
    /// assert_eq!(
    ///     study.transition(StudyState::Running, None, None, now),
    ///     Err(DomainError::InvalidStudyTransition { from: StudyState::Draft, to: StudyState::Running })
    /// );
    /// # Ok::<(), DomainError>(())
    /// ```
    pub fn transition(
        &self,
        to: StudyState,
        actor: Option<&str>,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<StudyChange, DomainError> {
        self.transition_of(self.clone(), to, actor, reason, now)
    }

    /// DRAFT to QUEUED once its jobs are made from `manifest_json`, which it records. The
    /// manifest is checked as a [`crate::Manifest`] by whoever made the jobs; here it must only
    /// be JSON with no NUL.
    pub fn queued_with(
        &self,
        manifest_json: &str,
        now: DateTime<Utc>,
        actor: Option<&str>,
    ) -> Result<StudyChange, DomainError> {
        if manifest_json.contains('\0') {
            return Err(invalid("manifest", "contains a NUL character"));
        }
        if let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(manifest_json) {
            return Err(invalid("manifest", format!("is not JSON: {error}")));
        }
        if self.state != StudyState::Draft {
            return Err(DomainError::InvalidStudyTransition {
                from: self.state,
                to: StudyState::Queued,
            });
        }
        let next = Study {
            manifest: Some(manifest_json.to_owned()),
            ..self.clone()
        };
        self.transition_of(
            next,
            StudyState::Queued,
            actor,
            Some("jobs created from its manifest"),
            now,
        )
    }

    /// How the study follows its jobs, counted in `counts`; `None` when it does not move.
    ///
    /// - QUEUED, and a job was claimed, started or ended other than by cancellation: RUNNING.
    /// - RUNNING, with jobs and none unfinished: COMPLETED, or FAILED when none completed (every
    ///   job failed, was lost or was cancelled).
    /// - DRAFT, PAUSED (a paused study is resumed explicitly) and the final states: `None`.
    ///
    /// One call makes at most one step: a QUEUED study whose jobs all finished becomes RUNNING,
    /// and the caller calls again to end it, so the trail shows both steps. The audit row names
    /// [`STUDY_ACTOR`].
    ///
    /// ```
    /// use chrono::Utc;
    /// use jobstore_domain::{JobCounts, NewStudy, StudyState, TenantId};
    ///
    /// let now = Utc::now();
    /// let study = NewStudy::new(TenantId::new("t1")?, "pricing").into_study(now)?;
    /// let queued = study.queued_with(r#"{"queries":["q"]}"#, now, Some("ann"))?.study;
    ///
    /// let first_started = JobCounts { pending: 1, running: 1, ..JobCounts::default() };
    /// let running = queued.follow(&first_started, now).unwrap().study;
    /// assert_eq!(running.state, StudyState::Running);
    ///
    /// let all_done = JobCounts { completed: 1, failed: 1, ..JobCounts::default() };
    /// assert_eq!(running.follow(&all_done, now).unwrap().study.state, StudyState::Completed);
    /// let all_failed = JobCounts { failed: 2, ..JobCounts::default() };
    /// assert_eq!(running.follow(&all_failed, now).unwrap().study.state, StudyState::Failed);
    /// assert_eq!(running.follow(&first_started, now), None);
    /// # Ok::<(), jobstore_domain::DomainError>(())
    /// ```
    pub fn follow(&self, counts: &JobCounts, now: DateTime<Utc>) -> Option<StudyChange> {
        let (to, reason) = match self.state {
            StudyState::Queued if counts.any_started() => (StudyState::Running, "a job started"),
            // Its jobs were cancelled one by one before any started.
            StudyState::Queued if counts.total() > 0 && counts.unfinished() == 0 => (
                StudyState::Cancelled,
                "every job was cancelled before one started",
            ),
            StudyState::Running if counts.total() > 0 && counts.unfinished() == 0 => {
                if counts.completed > 0 {
                    (StudyState::Completed, "every job finished")
                } else {
                    (StudyState::Failed, "every job finished and none completed")
                }
            }
            _ => return None,
        };
        self.transition(to, Some(STUDY_ACTOR), Some(reason), now)
            .ok()
    }

    /// What a caller's request to move the study to `to` (seed 004's `updateState`) means. A
    /// caller pauses, resumes (to RUNNING or QUEUED, whichever its jobs say) or cancels; QUEUED
    /// comes from making its jobs, and RUNNING, COMPLETED and FAILED from its jobs, so asking
    /// for them otherwise is refused rather than stored over what the jobs say.
    ///
    /// ```
    /// # use chrono::Utc;
    /// # use jobstore_domain::{NewStudy, StudyRequest, StudyState, TenantId};
    /// let study = NewStudy::new(TenantId::new("t1")?, "pricing").into_study(Utc::now())?;
    /// assert_eq!(study.request(StudyState::Cancelled)?, StudyRequest::Cancel);
    /// assert!(study.request(StudyState::Completed).is_err());
    /// # Ok::<(), jobstore_domain::DomainError>(())
    /// ```
    pub fn request(&self, to: StudyState) -> Result<StudyRequest, DomainError> {
        if !self.state.can_transition_to(to) {
            return Err(DomainError::InvalidStudyTransition {
                from: self.state,
                to,
            });
        }
        let refused = |why: &str| Err(invalid("to", format!("{to}: {why}")));
        match to {
            StudyState::Paused => Ok(StudyRequest::Pause),
            StudyState::Cancelled => Ok(StudyRequest::Cancel),
            StudyState::Running | StudyState::Queued if self.state == StudyState::Paused => {
                Ok(StudyRequest::Resume)
            }
            StudyState::Queued | StudyState::Draft => {
                refused("a study is queued by making its jobs from a manifest")
            }
            StudyState::Running | StudyState::Completed | StudyState::Failed => {
                refused("a study follows its jobs there")
            }
        }
    }

    /// Whether the study may be deleted for good: with its jobs, which no worker may still hold,
    /// so only a DRAFT (no jobs yet) or an ended study.
    pub fn check_purge(&self) -> Result<(), DomainError> {
        if self.state == StudyState::Draft || self.state.is_final() {
            return Ok(());
        }
        Err(invalid(
            "state",
            format!("the study is {}: cancel it before purging it", self.state),
        ))
    }

    /// Resumes a PAUSED study as its jobs say: RUNNING once one has started, QUEUED otherwise.
    pub fn resumed(
        &self,
        counts: &JobCounts,
        actor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<StudyChange, DomainError> {
        let to = if counts.any_started() {
            StudyState::Running
        } else {
            StudyState::Queued
        };
        if self.state != StudyState::Paused {
            return Err(DomainError::InvalidStudyTransition {
                from: self.state,
                to,
            });
        }
        self.transition(to, actor, None, now)
    }

    /// The change from `self` to `next` moved to `to`: guarded by `self`'s version, one version
    /// on, with its audit row.
    fn transition_of(
        &self,
        next: Study,
        to: StudyState,
        actor: Option<&str>,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<StudyChange, DomainError> {
        if !self.state.can_transition_to(to) {
            return Err(DomainError::InvalidStudyTransition {
                from: self.state,
                to,
            });
        }
        text::optional("actor", actor, 255)?;
        let study = self.changed(Study { state: to, ..next }, now);
        let transition = StudyTransition {
            tenant_id: study.tenant_id.clone(),
            study_id: study.id.clone(),
            seq: study.version,
            from_state: Some(self.state),
            to_state: to,
            at: now,
            actor: actor.map(str::to_owned),
            reason: reason.map(text::clip),
        };
        Ok(StudyChange {
            expected_version: self.version,
            study,
            transition,
        })
    }

    /// `next` one version on from `self`, updated at `now`.
    fn changed(&self, next: Study, now: DateTime<Utc>) -> Study {
        Study {
            version: self.version.saturating_add(1),
            updated_at: now,
            ..next
        }
    }
}

fn check_fields(name: &str, description: Option<&str>) -> Result<(), DomainError> {
    text::required("name", name, 255)?;
    description.map_or(Ok(()), |d| text::long("description", d))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_900_000_000 + secs, 0).unwrap()
    }

    fn draft() -> Study {
        NewStudy {
            description: Some("search prices".into()),
            created_by: Some(UserId::new("u1").unwrap()),
            ..NewStudy::new(TenantId::new("t1").unwrap(), "pricing")
        }
        .into_study(at(0))
        .unwrap()
    }

    fn in_state(state: StudyState) -> Study {
        Study { state, ..draft() }
    }

    fn counts(pairs: &[(JobStatus, u64)]) -> JobCounts {
        let mut counts = JobCounts::default();
        for (status, n) in pairs {
            counts.add(*status, *n);
        }
        counts
    }

    #[test]
    fn a_new_study_is_a_draft_at_version_one() {
        let study = draft();
        assert_eq!(
            (study.state, study.version, study.manifest.clone()),
            (StudyState::Draft, 1, None)
        );
        let created = study.created_transition(Some("ann"));
        assert_eq!(
            (
                created.seq,
                created.from_state,
                created.to_state,
                created.at
            ),
            (1, None, StudyState::Draft, at(0))
        );
        assert_eq!(created.actor.as_deref(), Some("ann"));
    }

    #[test]
    fn bad_fields_are_refused_naming_them() {
        let long_name = NewStudy::new(TenantId::new("t1").unwrap(), "x".repeat(256));
        assert!(matches!(
            long_name.into_study(at(0)),
            Err(DomainError::Validation { field: "name", .. })
        ));
        let huge = StudyUpdate {
            description: Some(Some("x".repeat(crate::MAX_TEXT_BYTES + 1))),
            ..StudyUpdate::default()
        };
        assert!(matches!(
            draft().updated(huge, at(1)),
            Err(DomainError::Validation {
                field: "description",
                ..
            })
        ));
    }

    #[test]
    fn an_update_replaces_only_given_fields_and_moves_the_version() {
        let study = draft();
        let cleared = study
            .updated(
                StudyUpdate {
                    description: Some(None),
                    ..StudyUpdate::default()
                },
                at(5),
            )
            .unwrap();
        assert_eq!(
            (cleared.name.as_str(), cleared.description),
            ("pricing", None)
        );
        assert_eq!(
            (cleared.version, cleared.updated_at, cleared.state),
            (2, at(5), StudyState::Draft)
        );
    }

    #[test]
    fn a_study_is_soft_deleted_once() {
        let deleted = draft().soft_deleted(at(3)).unwrap();
        assert_eq!((deleted.deleted_at, deleted.version), (Some(at(3)), 2));
        assert!(matches!(
            deleted.soft_deleted(at(4)),
            Err(DomainError::Validation {
                field: "deleted_at",
                ..
            })
        ));
    }

    #[test]
    fn every_pair_of_states_follows_the_edge_table() {
        for from in StudyState::ALL {
            for to in StudyState::ALL {
                let study = in_state(from);
                let result = study.transition(to, Some("ann"), Some("because"), at(9));
                if from.can_transition_to(to) {
                    let change = result.unwrap();
                    assert_eq!((change.expected_version, change.study.version), (1, 2));
                    assert_eq!((change.study.state, change.study.updated_at), (to, at(9)));
                    let row = &change.transition;
                    assert_eq!(
                        (row.seq, row.from_state, row.to_state, row.at),
                        (2, Some(from), to, at(9))
                    );
                    assert_eq!(
                        (row.actor.as_deref(), row.reason.as_deref()),
                        (Some("ann"), Some("because"))
                    );
                    assert_eq!(
                        (&row.tenant_id, &row.study_id),
                        (&study.tenant_id, &study.id)
                    );
                } else {
                    assert_eq!(
                        result,
                        Err(DomainError::InvalidStudyTransition { from, to })
                    );
                }
            }
        }
    }

    #[test]
    fn an_actor_longer_than_255_characters_is_refused() {
        let actor = "a".repeat(256);
        assert!(matches!(
            draft().transition(StudyState::Cancelled, Some(&actor), None, at(1)),
            Err(DomainError::Validation { field: "actor", .. })
        ));
    }

    #[test]
    fn queuing_records_the_manifest() {
        let change = draft()
            .queued_with(r#"{"matrix":{}}"#, at(2), Some("ann"))
            .unwrap();
        assert_eq!(change.study.state, StudyState::Queued);
        assert_eq!(change.study.manifest.as_deref(), Some(r#"{"matrix":{}}"#));
        assert_eq!(change.transition.from_state, Some(StudyState::Draft));
        assert_eq!(
            change.study.queued_with("{}", at(3), None),
            Err(DomainError::InvalidStudyTransition {
                from: StudyState::Queued,
                to: StudyState::Queued
            })
        );
    }

    #[test]
    fn queuing_with_a_manifest_that_is_not_json_is_refused() {
        for manifest in ["", "{", "{\"a\":\"\0\"}"] {
            assert!(matches!(
                draft().queued_with(manifest, at(2), None),
                Err(DomainError::Validation {
                    field: "manifest",
                    ..
                })
            ));
        }
    }

    #[test]
    fn job_counts_add_up() {
        let counts = counts(&JobStatus::ALL.map(|s| (s, 1)));
        assert_eq!(
            (counts.total(), counts.unfinished(), counts.finished()),
            (7, 3, 4)
        );
        for status in JobStatus::ALL {
            assert_eq!(counts.get(status), 1);
        }
    }

    #[test]
    fn a_queued_study_runs_when_its_first_job_starts() {
        let queued = in_state(StudyState::Queued);
        assert_eq!(
            queued.follow(&counts(&[(JobStatus::Pending, 3)]), at(1)),
            None
        );
        for started in [
            JobStatus::Assigned,
            JobStatus::Running,
            JobStatus::Completed,
            JobStatus::Failed,
            JobStatus::Lost,
        ] {
            let change = queued
                .follow(&counts(&[(JobStatus::Pending, 2), (started, 1)]), at(1))
                .unwrap();
            assert_eq!(change.study.state, StudyState::Running, "{started}");
            assert_eq!(change.transition.actor.as_deref(), Some(STUDY_ACTOR));
        }
    }

    #[test]
    fn a_queued_study_whose_jobs_all_finished_takes_one_step_per_call() {
        let queued = in_state(StudyState::Queued);
        let done = counts(&[(JobStatus::Completed, 2)]);
        let running = queued.follow(&done, at(1)).unwrap();
        assert_eq!(running.study.state, StudyState::Running);
        let completed = running.study.follow(&done, at(1)).unwrap();
        assert_eq!(
            (completed.study.state, completed.expected_version),
            (StudyState::Completed, 2)
        );
    }

    #[test]
    fn a_running_study_completes_with_its_last_job() {
        let running = in_state(StudyState::Running);
        let one_left = counts(&[(JobStatus::Completed, 9), (JobStatus::Running, 1)]);
        assert_eq!(running.follow(&one_left, at(1)), None);
        let last = counts(&[(JobStatus::Completed, 9), (JobStatus::Failed, 1)]);
        let change = running.follow(&last, at(2)).unwrap();
        assert_eq!(
            (change.study.state, change.transition.from_state),
            (StudyState::Completed, Some(StudyState::Running))
        );
        assert_eq!(change.study.follow(&last, at(3)), None);
    }

    #[test]
    fn a_running_study_fails_when_no_job_completed() {
        let running = in_state(StudyState::Running);
        let none_completed = counts(&[
            (JobStatus::Failed, 2),
            (JobStatus::Lost, 1),
            (JobStatus::Cancelled, 1),
        ]);
        let change = running.follow(&none_completed, at(1)).unwrap();
        assert_eq!(change.study.state, StudyState::Failed);
    }

    #[test]
    fn a_running_study_with_no_jobs_does_not_end() {
        assert_eq!(
            in_state(StudyState::Running).follow(&JobCounts::default(), at(1)),
            None
        );
    }

    #[test]
    fn paused_draft_and_final_studies_do_not_follow_their_jobs() {
        let everything = counts(&[(JobStatus::Running, 1), (JobStatus::Completed, 1)]);
        let all_done = counts(&[(JobStatus::Completed, 2)]);
        for state in [
            StudyState::Paused,
            StudyState::Draft,
            StudyState::Completed,
            StudyState::Failed,
            StudyState::Cancelled,
        ] {
            let study = in_state(state);
            assert_eq!(study.follow(&everything, at(1)), None, "{state}");
            assert_eq!(study.follow(&all_done, at(1)), None, "{state}");
        }
    }

    #[test]
    fn a_queued_study_whose_jobs_were_all_cancelled_is_cancelled() {
        let queued = in_state(StudyState::Queued);
        let change = queued
            .follow(&counts(&[(JobStatus::Cancelled, 3)]), at(1))
            .unwrap();
        assert_eq!(change.study.state, StudyState::Cancelled);
        assert_eq!(
            queued.follow(
                &counts(&[(JobStatus::Cancelled, 2), (JobStatus::Pending, 1)]),
                at(1)
            ),
            None
        );
    }

    #[test]
    fn a_caller_pauses_resumes_or_cancels_and_the_jobs_decide_the_rest() {
        for (from, to, expected) in [
            (
                StudyState::Running,
                StudyState::Paused,
                Some(StudyRequest::Pause),
            ),
            (
                StudyState::Queued,
                StudyState::Cancelled,
                Some(StudyRequest::Cancel),
            ),
            (
                StudyState::Paused,
                StudyState::Running,
                Some(StudyRequest::Resume),
            ),
            (
                StudyState::Paused,
                StudyState::Queued,
                Some(StudyRequest::Resume),
            ),
            (StudyState::Running, StudyState::Completed, None),
            (StudyState::Running, StudyState::Failed, None),
            (StudyState::Queued, StudyState::Running, None),
            (StudyState::Draft, StudyState::Queued, None),
        ] {
            let request = in_state(from).request(to);
            match expected {
                Some(expected) => assert_eq!(request, Ok(expected), "{from} to {to}"),
                None => assert!(
                    matches!(request, Err(DomainError::Validation { field: "to", .. })),
                    "{from} to {to}: {request:?}"
                ),
            }
        }
        assert_eq!(
            in_state(StudyState::Running).request(StudyState::Draft),
            Err(DomainError::InvalidStudyTransition {
                from: StudyState::Running,
                to: StudyState::Draft
            })
        );
    }

    #[test]
    fn a_paused_study_resumes_as_its_jobs_say() {
        let paused = in_state(StudyState::Paused);
        let resumed = |c: &[(JobStatus, u64)]| paused.resumed(&counts(c), None, at(1)).unwrap();
        assert_eq!(
            resumed(&[(JobStatus::Pending, 2)]).study.state,
            StudyState::Queued
        );
        assert_eq!(
            resumed(&[(JobStatus::Pending, 1), (JobStatus::Cancelled, 1)])
                .study
                .state,
            StudyState::Queued,
            "a cancelled job never started"
        );
        assert_eq!(
            resumed(&[(JobStatus::Pending, 1), (JobStatus::Completed, 1)])
                .study
                .state,
            StudyState::Running
        );
        assert!(
            in_state(StudyState::Running)
                .resumed(&JobCounts::default(), None, at(1))
                .is_err()
        );
    }
}
