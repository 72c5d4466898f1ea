//! Schedules (seed 002's cron definitions): when they are due, the constraints and actions that
//! govern their runs, the run state machine, violations and the scheduler's statistics.
//!
//! Everything here is pure. Storage fires due times as runs keyed by (tenant, schedule, due time),
//! so the database, not a leader, makes every due time fire once.

mod action;
mod constraint;
mod cron;
mod definition;
mod due;
mod index;
mod rules;
mod run;
mod span;
mod stats;

pub use action::{Action, ActionKind, NewAction, ScheduleAction, Trigger};
pub use constraint::{CatchUpPolicy, Constraint, Dependency, Hook, HookKind, NewConstraint};
pub use cron::{CronExpr, parse_time_zone};
pub use definition::{JobTemplate, NewSchedule, Schedule, ScheduleUpdate};
pub use due::{
    DEFAULT_MAX_CATCH_UP_RUNS, Firing, MAX_SKIPS_RECORDED, due_times, plan_firing, plan_resume,
};
pub use index::{Upcoming, UpcomingRuns};
pub use rules::{Overdue, StartRefusal, dedup_horizon};
pub use run::{REFUSED_AT_START, Run, RunStatus, RunUpdate, SCHEDULER, SkipReason, TENANT_DELETED};
pub use span::TimeSpan;
pub use stats::{
    ConstraintViolation, NewViolation, OrchestratorStats, SchedulerStats, ViolationDetails,
    ViolationKind, WebhookResponse,
};
