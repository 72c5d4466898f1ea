//! Constraints: the rules a schedule's runs keep (seed 002's `constraints` table), typed.

use chrono::{DateTime, Utc};

use crate::{ConstraintId, DomainError, ScheduleId, TenantId, TimeSpan};

/// The rules a schedule's runs keep. Every rule is optional; a schedule without a constraint
/// runs with catch-up off and no limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The constraint's id, unique within its tenant.
    pub id: ConstraintId,
    /// At most this many runs of a schedule RUNNING at once (at least 1).
    pub max_concurrent_runs: Option<u32>,
    /// Whether due times missed while no scheduler ran are run late (`None`: the seed's NULL,
    /// which means off).
    pub catch_up: Option<bool>,
    /// How far back catch-up reaches: due times older than this are skipped.
    pub catch_up_window: Option<TimeSpan>,
    /// At most this many missed due times are caught up in one go (the most recent ones);
    /// `None` means [`crate::DEFAULT_MAX_CATCH_UP_RUNS`].
    pub max_catch_up_runs: Option<u32>,
    /// A run taking longer than this is recorded as a violation, once, and goes on.
    pub max_expected_run_time: Option<TimeSpan>,
    /// A run taking longer than this is TIMED_OUT.
    pub max_allowed_run_time: Option<TimeSpan>,
    /// Called before a run (by the caller; jobstore calls nothing).
    pub pre_run_hook: Option<Hook>,
    /// Called after a run.
    pub post_run_hook: Option<Hook>,
    /// A run starts only if the latest finished run of this schedule succeeded.
    pub require_previous_success: Option<Dependency>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A constraint to create: [`Constraint`]'s rules, for a tenant, with an optional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConstraint {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// A caller-chosen id; a UUID when `None`.
    pub id: Option<ConstraintId>,
    /// See [`Constraint::max_concurrent_runs`].
    pub max_concurrent_runs: Option<u32>,
    /// See [`Constraint::catch_up`].
    pub catch_up: Option<bool>,
    /// See [`Constraint::catch_up_window`].
    pub catch_up_window: Option<TimeSpan>,
    /// See [`Constraint::max_catch_up_runs`].
    pub max_catch_up_runs: Option<u32>,
    /// See [`Constraint::max_expected_run_time`].
    pub max_expected_run_time: Option<TimeSpan>,
    /// See [`Constraint::max_allowed_run_time`].
    pub max_allowed_run_time: Option<TimeSpan>,
    /// See [`Constraint::pre_run_hook`].
    pub pre_run_hook: Option<Hook>,
    /// See [`Constraint::post_run_hook`].
    pub post_run_hook: Option<Hook>,
    /// See [`Constraint::require_previous_success`].
    pub require_previous_success: Option<Dependency>,
}

impl NewConstraint {
    /// A constraint for `tenant_id` with no rules set.
    pub fn new(tenant_id: TenantId) -> Self {
        Self {
            tenant_id,
            id: None,
            max_concurrent_runs: None,
            catch_up: None,
            catch_up_window: None,
            max_catch_up_runs: None,
            max_expected_run_time: None,
            max_allowed_run_time: None,
            pre_run_hook: None,
            post_run_hook: None,
            require_previous_success: None,
        }
    }

    /// The constraint this creates at `now`, after [`Constraint::validate`].
    pub fn into_constraint(self, now: DateTime<Utc>) -> Result<Constraint, DomainError> {
        todo!("{now}")
    }
}

impl Constraint {
    /// Checks the rules: max concurrent runs and the catch-up cap at least 1; max expected run
    /// time not above max allowed; hooks valid.
    pub fn validate(&self) -> Result<(), DomainError> {
        todo!()
    }

    /// The catch-up policy these rules make.
    pub fn catch_up_policy(&self) -> CatchUpPolicy {
        todo!()
    }
}

/// How missed due times are treated when a scheduler comes back (see [`crate::plan_firing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatchUpPolicy {
    /// Off: of the missed due times only the latest runs; the others are SKIPPED.
    pub catch_up: bool,
    /// On: due times older than now minus the window are SKIPPED (`None`: no window).
    pub window: Option<TimeSpan>,
    /// On: at most this many run (the most recent); older ones are SKIPPED.
    pub max_runs: u32,
}

impl Default for CatchUpPolicy {
    /// Catch-up off (a schedule without a constraint).
    fn default() -> Self {
        todo!()
    }
}

/// Who a hook notifies (seed 002's `{"type": ..., "url": ..., "channel": ...}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// The kind of endpoint.
    pub kind: HookKind,
    /// An absolute `http` or `https` URL with a host.
    pub url: String,
    /// A channel, for chat endpoints (`#alerts`).
    pub channel: Option<String>,
}

/// The kinds of hook endpoints. Stored as the seed's `type` text (`slack`, `teams`, `webhook`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookKind {
    /// A Slack incoming webhook.
    Slack,
    /// A Microsoft Teams incoming webhook.
    Teams,
    /// Any HTTP endpoint that takes a JSON POST.
    Webhook,
}

impl Hook {
    /// Checks the URL and the channel; errors name `field`.
    pub fn validate(&self, field: &'static str) -> Result<(), DomainError> {
        todo!("{field}")
    }

    /// The seed's JSON form.
    pub fn to_json(&self) -> String {
        todo!()
    }

    /// Reads the seed's JSON form; errors name `field`.
    pub fn from_json(field: &'static str, json: &str) -> Result<Hook, DomainError> {
        todo!("{field} {json}")
    }
}

/// A schedule a run depends on (seed 002's `{"jobID": ..., "args": [...]}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The schedule whose latest finished run must have succeeded.
    pub schedule_id: ScheduleId,
    /// Arguments, kept for the caller.
    pub args: Vec<String>,
}

impl Dependency {
    /// The seed's JSON form.
    pub fn to_json(&self) -> String {
        todo!()
    }

    /// Reads the seed's JSON form; errors name `field`.
    pub fn from_json(field: &'static str, json: &str) -> Result<Dependency, DomainError> {
        todo!("{field} {json}")
    }
}
