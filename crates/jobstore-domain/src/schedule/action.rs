//! Actions (seed 002's `actions`) and their links to schedules by trigger (`job_actions`).

use chrono::{DateTime, Utc};

use crate::{ActionId, ConstraintId, DomainError, Hook, ScheduleId, TenantId, TimeSpan};

/// Something to do when a run fails, succeeds, times out or violates a constraint. jobstore
/// never does it itself (no webhook is called): it stores the action and returns it to the
/// caller when its trigger fires, except the kill and skip actions, which storage carries out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The action's id, unique within its tenant.
    pub id: ActionId,
    /// A name for people.
    pub name: String,
    /// What it does, with its configuration.
    pub kind: ActionKind,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// What an action does; the seed's `action_type` with its `config`, typed per type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionKind {
    /// `retry`: run the schedule again, up to `max_attempts` times, after `delay`.
    Retry {
        /// At most this many retries (1 to 100).
        max_attempts: u32,
        /// Wait this long first.
        delay: Option<TimeSpan>,
    },
    /// `kickOffJob`: start a run of another schedule (seed: `{"jobID", "args"}`).
    KickOffJob {
        /// The schedule to run.
        schedule_id: ScheduleId,
        /// Its arguments.
        args: Vec<String>,
    },
    /// `webhook`: call a hook (seed: `{"type", "url", "channel"}`).
    Webhook(Hook),
    /// `killAllInstances`: cancel every unfinished run of the schedule, and their jobs.
    KillAllInstances,
    /// `killLatestInstance`: cancel the newest unfinished run, and its job.
    KillLatestInstance,
    /// `skipNextInstance`: the next due time does not run.
    SkipNextInstance,
}

impl ActionKind {
    /// The seed's `action_type`: `retry`, `kickOffJob`, `webhook`, `killAllInstances`,
    /// `killLatestInstance`, `skipNextInstance`.
    pub fn type_name(&self) -> &'static str {
        todo!()
    }

    /// The seed's `config` JSON (`None` for the types without configuration).
    pub fn config_json(&self) -> Option<String> {
        todo!()
    }

    /// Reads a type and its config; an unknown type or a config of the wrong shape is a
    /// validation error of `action_type` or `config`.
    pub fn from_parts(type_name: &str, config: Option<&str>) -> Result<ActionKind, DomainError> {
        todo!("{type_name} {config:?}")
    }

    /// Checks the configuration (hook URL, retry bounds).
    pub fn validate(&self) -> Result<(), DomainError> {
        todo!()
    }
}

/// An action to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAction {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// A caller-chosen id; a UUID when `None`.
    pub id: Option<ActionId>,
    /// A name for people (1 to 255 characters).
    pub name: String,
    /// What it does.
    pub kind: ActionKind,
}

impl NewAction {
    /// The action this creates at `now`, validated.
    pub fn into_action(self, now: DateTime<Utc>) -> Result<Action, DomainError> {
        todo!("{now}")
    }
}

/// When a linked action fires (the seed's `trigger`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// A run failed.
    OnFailure,
    /// A run succeeded.
    OnSuccess,
    /// A run went past its max allowed run time.
    OnTimeout,
    /// A run violated a constraint (the link may name one).
    OnViolation,
}

impl Trigger {
    /// Every trigger.
    pub const ALL: [Trigger; 4] = [
        Trigger::OnFailure,
        Trigger::OnSuccess,
        Trigger::OnTimeout,
        Trigger::OnViolation,
    ];

    /// The seed's spelling, as stored: `on_failure`, `on_success`, `on_timeout`, `on_violation`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Trigger::OnFailure => "on_failure",
            Trigger::OnSuccess => "on_success",
            Trigger::OnTimeout => "on_timeout",
            Trigger::OnViolation => "on_violation",
        }
    }
}

impl std::str::FromStr for Trigger {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        todo!("{s}")
    }
}

/// An action linked to a schedule by a trigger (the seed's `job_actions` row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleAction {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The schedule.
    pub schedule_id: ScheduleId,
    /// The action.
    pub action_id: ActionId,
    /// When it fires.
    pub trigger: Trigger,
    /// With [`Trigger::OnViolation`]: only for violations of this constraint (`None`: any).
    pub constraint_id: Option<ConstraintId>,
}

impl ScheduleAction {
    /// Checks that only an `on_violation` link names a constraint.
    pub fn validate(&self) -> Result<(), DomainError> {
        todo!()
    }

    /// Whether this link fires for `trigger` (and, for violations, for a violation of
    /// `constraint`).
    pub fn fires_on(&self, trigger: Trigger, constraint: Option<&ConstraintId>) -> bool {
        todo!("{trigger:?} {constraint:?}")
    }
}
