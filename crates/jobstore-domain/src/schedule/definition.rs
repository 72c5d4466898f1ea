//! Schedules: a tenant's cron definitions (seed 002's `jobs` table), and the job each run enqueues.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::{ConstraintId, CronExpr, DomainError, Job, Run, ScheduleId, TenantId};

/// A tenant's cron definition. Its runs are keyed by (tenant, schedule, due time); the schedule
/// keeps where firing stopped (`last_scheduled_at`, `next_due_at`), so a restart resumes there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The schedule's id, unique within its tenant.
    pub id: ScheduleId,
    /// A name for people (1 to 255 characters).
    pub name: String,
    /// When it is due.
    pub cron: CronExpr,
    /// The zone `cron` is read in (IANA name; UTC by default).
    pub time_zone: Tz,
    /// The job each run enqueues; without one the caller drives its runs itself.
    pub template: Option<JobTemplate>,
    /// The seed's Kubernetes pod spec, JSON, kept for the caller.
    pub pod_spec: Option<String>,
    /// The rules its runs keep.
    pub constraint_id: Option<ConstraintId>,
    /// A paused schedule does not fire; its due times meanwhile are SKIPPED when it resumes.
    pub paused: bool,
    /// Why it was paused.
    pub pause_note: Option<String>,
    /// The latest due time fired (run or skipped).
    pub last_scheduled_at: Option<DateTime<Utc>>,
    /// The first due time not fired yet; `None` when the expression has no more.
    pub next_due_at: Option<DateTime<Utc>>,
    /// Moves on every write; updates are guarded by it.
    pub version: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its definition last changed.
    pub updated_at: DateTime<Utc>,
}

/// A schedule to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSchedule {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// A caller-chosen id; a UUID when `None`.
    pub id: Option<ScheduleId>,
    /// A name for people.
    pub name: String,
    /// The cron expression (see [`CronExpr`]).
    pub cron: String,
    /// An IANA time-zone name; UTC when `None`.
    pub time_zone: Option<String>,
    /// The job each run enqueues.
    pub template: Option<JobTemplate>,
    /// The seed's pod spec (JSON).
    pub pod_spec: Option<String>,
    /// The rules its runs keep.
    pub constraint_id: Option<ConstraintId>,
    /// Whether it starts paused.
    pub paused: bool,
}

impl NewSchedule {
    /// A schedule for `tenant_id` named `name`, due as `cron` says, in UTC, with no job.
    pub fn new(tenant_id: TenantId, name: impl Into<String>, cron: impl Into<String>) -> Self {
        Self {
            tenant_id,
            id: None,
            name: name.into(),
            cron: cron.into(),
            time_zone: None,
            template: None,
            pod_spec: None,
            constraint_id: None,
            paused: false,
        }
    }

    /// The schedule this creates at `now`: validated, first due strictly after `now`.
    pub fn into_schedule(self, now: DateTime<Utc>) -> Result<Schedule, DomainError> {
        todo!("{now}")
    }
}

/// A change to a schedule's definition: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleUpdate {
    /// A new name.
    pub name: Option<String>,
    /// A new cron expression.
    pub cron: Option<String>,
    /// A new time zone.
    pub time_zone: Option<String>,
    /// A new job template (`Some(None)` removes it).
    pub template: Option<Option<JobTemplate>>,
    /// A new pod spec (`Some(None)` removes it).
    pub pod_spec: Option<Option<String>>,
    /// A new constraint (`Some(None)` removes it).
    pub constraint_id: Option<Option<ConstraintId>>,
}

impl Schedule {
    /// The first due time strictly after `at`.
    pub fn next_due_after(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.next_after(self.time_zone, at)
    }

    /// The schedule with `update` applied at `now`, validated. A new expression or zone is due
    /// from `now` on: times it would have had before are not caught up.
    pub fn updated(&self, update: ScheduleUpdate, now: DateTime<Utc>) -> Result<Schedule, DomainError> {
        todo!("{update:?} {now}")
    }

    /// The schedule paused at `now`, with a note.
    pub fn paused(&self, note: Option<&str>, now: DateTime<Utc>) -> Result<Schedule, DomainError> {
        todo!("{note:?} {now}")
    }

    /// The schedule after `firing` was stored: its cursor moved on, its version too.
    pub fn fired(&self, firing: &crate::Firing) -> Schedule {
        todo!("{firing:?}")
    }
}

/// The job a schedule's runs enqueue (one per run), stored as one JSON text column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobTemplate {
    /// The queue.
    pub queue: String,
    /// The container image.
    pub image_uri: Option<String>,
    /// The command line.
    pub commands: Vec<String>,
    /// A JSON spec for the job.
    pub spec: Option<String>,
    /// Claim priority (higher first).
    pub priority: i32,
    /// Retries allowed.
    pub max_retries: i32,
}

impl JobTemplate {
    /// A template for `queue` with no image, commands or spec, priority 0 and the default retries.
    pub fn new(queue: impl Into<String>) -> Self {
        Self {
            queue: queue.into(),
            image_uri: None,
            commands: Vec::new(),
            spec: None,
            priority: 0,
            max_retries: crate::DEFAULT_MAX_RETRIES,
        }
    }

    /// Checks the fields as a job's would be checked.
    pub fn validate(&self) -> Result<(), DomainError> {
        todo!()
    }

    /// As stored.
    pub fn to_json(&self) -> String {
        todo!()
    }

    /// Reads the stored form; errors name the field `template`.
    pub fn from_json(json: &str) -> Result<JobTemplate, DomainError> {
        todo!("{json}")
    }

    /// The PENDING job of `run` (id `run.job_id`, tenant and `run_id` the run's), at `now`.
    pub fn job_for(&self, run: &Run, now: DateTime<Utc>) -> Result<Job, DomainError> {
        todo!("{run:?} {now}")
    }
}
