//! Constraint violations and the scheduler's statistics, with every field of seed 002.

use chrono::{DateTime, Utc};

use serde::Deserialize;
use serde_json::json;

use crate::{
    ConstraintId, DomainError, RunId, StatsPeriodId, TenantId, ViolationId, error::invalid, text,
};

/// Every violation kind, to parse by.
const KINDS: [ViolationKind; 4] = [
    ViolationKind::MaxConcurrentRuns,
    ViolationKind::RequirePreviousSuccess,
    ViolationKind::MaxExpectedRunTime,
    ViolationKind::MaxAllowedRunTime,
];

/// Which rule a run broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// It would have run with as many runs RUNNING as allowed.
    MaxConcurrentRuns,
    /// The schedule it depends on did not succeed last.
    RequirePreviousSuccess,
    /// It ran longer than expected (recorded once, the run goes on).
    MaxExpectedRunTime,
    /// It ran longer than allowed and was TIMED_OUT.
    MaxAllowedRunTime,
}

impl ViolationKind {
    /// As stored: `max_concurrent_runs`, `require_previous_success`, `max_expected_run_time`,
    /// `max_allowed_run_time`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ViolationKind::MaxConcurrentRuns => "max_concurrent_runs",
            ViolationKind::RequirePreviousSuccess => "require_previous_success",
            ViolationKind::MaxExpectedRunTime => "max_expected_run_time",
            ViolationKind::MaxAllowedRunTime => "max_allowed_run_time",
        }
    }
}

impl std::str::FromStr for ViolationKind {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KINDS
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| invalid("kind", format!("{s:?} is not a violation kind")))
    }
}

/// A run's breach of its schedule's constraint (seed 002's `constraint_violations`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstraintViolation {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The violation's id.
    pub id: ViolationId,
    /// The run.
    pub run_id: RunId,
    /// The constraint broken.
    pub constraint_id: ConstraintId,
    /// Which of its rules.
    pub kind: ViolationKind,
    /// When it was found.
    pub violation_time: DateTime<Utc>,
    /// What was done about it (the seed's `action_taken`: action types, comma-separated).
    pub action_taken: Option<String>,
    /// The seed's details document.
    pub details: ViolationDetails,
}

/// A violation to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewViolation {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The run.
    pub run_id: RunId,
    /// The constraint broken.
    pub constraint_id: ConstraintId,
    /// Which rule.
    pub kind: ViolationKind,
    /// What was done about it.
    pub action_taken: Option<String>,
    /// The details.
    pub details: ViolationDetails,
}

impl NewViolation {
    /// The violation this records at `now`, validated.
    pub fn into_violation(self, now: DateTime<Utc>) -> Result<ConstraintViolation, DomainError> {
        text::optional("action_taken", self.action_taken.as_deref(), 255)?;
        self.details.validate()?;
        crate::check_time("violation_time", now)?;
        Ok(ConstraintViolation {
            tenant_id: self.tenant_id,
            id: ViolationId::generate(),
            run_id: self.run_id,
            constraint_id: self.constraint_id,
            kind: self.kind,
            violation_time: now,
            action_taken: self.action_taken,
            details: self.details,
        })
    }
}

/// The seed's details JSON: `{"message", "currentValue", "threshold", "webhookResponse"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViolationDetails {
    /// What happened, for people.
    pub message: String,
    /// The value that broke the rule (`2h15m`, `3 running`).
    pub current_value: Option<String>,
    /// The rule's limit (`2h`).
    pub threshold: Option<String>,
    /// What a webhook called about it answered (filled in by the caller).
    pub webhook_response: Option<WebhookResponse>,
}

impl ViolationDetails {
    /// Details with only a message.
    pub fn message(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            current_value: None,
            threshold: None,
            webhook_response: None,
        }
    }

    /// The seed's JSON form.
    pub fn to_json(&self) -> String {
        let mut value = json!({ "message": self.message });
        if let Some(map) = value.as_object_mut() {
            if let Some(current) = &self.current_value {
                map.insert("currentValue".to_owned(), json!(current));
            }
            if let Some(threshold) = &self.threshold {
                map.insert("threshold".to_owned(), json!(threshold));
            }
            if let Some(response) = &self.webhook_response {
                map.insert(
                    "webhookResponse".to_owned(),
                    json!({"status": response.status, "body": response.body}),
                );
            }
        }
        value.to_string()
    }

    /// Reads the seed's JSON form; errors name the field `details`.
    pub fn from_json(json: &str) -> Result<ViolationDetails, DomainError> {
        let wire: DetailsWire = serde_json::from_str(json)
            .map_err(|e| invalid("details", format!("is not violation details: {e}")))?;
        let details = ViolationDetails {
            message: wire.message,
            current_value: wire.current_value,
            threshold: wire.threshold,
            webhook_response: wire.webhook_response.map(|r| WebhookResponse {
                status: r.status,
                body: r.body,
            }),
        };
        details.validate()?;
        Ok(details)
    }

    /// Checks that there is a message and that the whole fits a long text column.
    fn validate(&self) -> Result<(), DomainError> {
        if self.message.trim().is_empty() {
            return Err(invalid("details", "the message must not be empty"));
        }
        text::long("details", &self.message)?;
        text::long("details", &self.to_json())
    }
}

/// The seed's details JSON, as read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DetailsWire {
    message: String,
    #[serde(default)]
    current_value: Option<String>,
    #[serde(default)]
    threshold: Option<String>,
    #[serde(default)]
    webhook_response: Option<ResponseWire>,
}

/// A webhook's answer, as read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseWire {
    status: u16,
    #[serde(default)]
    body: String,
}

/// A webhook's answer, kept in a violation's details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body (truncated by the caller as it sees fit).
    pub body: String,
}

/// What one scheduler did over a period (seed 002's `scheduler_stats`). Not tenant-owned: a
/// scheduler serves every tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerStats {
    /// The period's id.
    pub stats_period_id: StatsPeriodId,
    /// When the period began.
    pub start_time: DateTime<Utc>,
    /// When it ended (not before `start_time`).
    pub end_time: DateTime<Utc>,
    /// Loop iterations.
    pub iterations: i64,
    /// Runs started.
    pub run_jobs: i64,
    /// Runs started late.
    pub late_jobs: i64,
    /// Time past the run time, summed (milliseconds).
    pub time_passed_run_time: i64,
    /// Runs missed.
    pub missed_jobs: i64,
    /// Time past the grace period, summed (milliseconds).
    pub time_passed_grace_period: i64,
    /// Runs cancelled.
    pub jobs_cancelled: i64,
    /// Shortest inbox.
    pub min_inbox_length: Option<i64>,
    /// Longest inbox.
    pub max_inbox_length: Option<i64>,
    /// Mean inbox length.
    pub avg_inbox_length: Option<f64>,
    /// Time the inbox was empty (milliseconds).
    pub empty_inbox_time: Option<i64>,
    /// Mean time a message waited in the inbox (milliseconds).
    pub avg_time_in_inbox: Option<f64>,
    /// Shortest wait (milliseconds).
    pub min_time_in_inbox: Option<i64>,
    /// Longest wait (milliseconds).
    pub max_time_in_inbox: Option<i64>,
}

impl SchedulerStats {
    /// Empty statistics for a period.
    pub fn new(
        stats_period_id: StatsPeriodId,
        start_time: DateTime<Utc>,
        end_time: DateTime<Utc>,
    ) -> Self {
        Self {
            stats_period_id,
            start_time,
            end_time,
            iterations: 0,
            run_jobs: 0,
            late_jobs: 0,
            time_passed_run_time: 0,
            missed_jobs: 0,
            time_passed_grace_period: 0,
            jobs_cancelled: 0,
            min_inbox_length: None,
            max_inbox_length: None,
            avg_inbox_length: None,
            empty_inbox_time: None,
            avg_time_in_inbox: None,
            min_time_in_inbox: None,
            max_time_in_inbox: None,
        }
    }

    /// Checks the period (end not before start, times storable), counts not negative, min not
    /// above max, averages finite.
    pub fn validate(&self) -> Result<(), DomainError> {
        crate::check_time("start_time", self.start_time)?;
        crate::check_time("end_time", self.end_time)?;
        if self.end_time < self.start_time {
            return Err(invalid("end_time", "must not be before start_time"));
        }
        not_negative(&[
            ("iterations", Some(self.iterations)),
            ("run_jobs", Some(self.run_jobs)),
            ("late_jobs", Some(self.late_jobs)),
            ("time_passed_run_time", Some(self.time_passed_run_time)),
            ("missed_jobs", Some(self.missed_jobs)),
            (
                "time_passed_grace_period",
                Some(self.time_passed_grace_period),
            ),
            ("jobs_cancelled", Some(self.jobs_cancelled)),
            ("min_inbox_length", self.min_inbox_length),
            ("max_inbox_length", self.max_inbox_length),
            ("empty_inbox_time", self.empty_inbox_time),
            ("min_time_in_inbox", self.min_time_in_inbox),
            ("max_time_in_inbox", self.max_time_in_inbox),
        ])?;
        for (field, min, max) in [
            (
                "min_inbox_length",
                self.min_inbox_length,
                self.max_inbox_length,
            ),
            (
                "min_time_in_inbox",
                self.min_time_in_inbox,
                self.max_time_in_inbox,
            ),
        ] {
            if let (Some(min), Some(max)) = (min, max)
                && min > max
            {
                return Err(invalid(field, format!("{min} is above the maximum {max}")));
            }
        }
        for (field, average) in [
            ("avg_inbox_length", self.avg_inbox_length),
            ("avg_time_in_inbox", self.avg_time_in_inbox),
        ] {
            if let Some(average) = average
                && !(average.is_finite() && average >= 0.0)
            {
                return Err(invalid(
                    field,
                    format!("{average} is not a finite, non-negative number"),
                ));
            }
        }
        Ok(())
    }
}

/// Checks that every present count is zero or more.
fn not_negative(counts: &[(&'static str, Option<i64>)]) -> Result<(), DomainError> {
    match counts
        .iter()
        .find(|(_, value)| value.is_some_and(|v| v < 0))
    {
        Some((field, value)) => Err(invalid(
            field,
            format!("must not be negative, not {}", value.unwrap_or_default()),
        )),
        None => Ok(()),
    }
}

/// What the orchestrator did for one run (seed 002's `orchestrator_stats`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrchestratorStats {
    /// The run.
    pub run_id: RunId,
    /// The scheduler period it belongs to.
    pub stats_period_id: StatsPeriodId,
    /// How long the orchestrator spent on it (milliseconds).
    pub runtime: i64,
    /// Constraints checked.
    pub constraints_checked: i64,
    /// Actions taken.
    pub actions_taken: i64,
}

impl OrchestratorStats {
    /// Checks that the counts are not negative.
    pub fn validate(&self) -> Result<(), DomainError> {
        not_negative(&[
            ("runtime", Some(self.runtime)),
            ("constraints_checked", Some(self.constraints_checked)),
            ("actions_taken", Some(self.actions_taken)),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: DomainError) -> &'static str {
        match err {
            DomainError::Validation { field, .. } => field,
            other => panic!("not a validation error: {other}"),
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000 + secs, 0).unwrap()
    }

    fn full() -> ViolationDetails {
        ViolationDetails {
            message: "Job exceeded maxAllowedRunTime of 2h".into(),
            current_value: Some("2h15m".into()),
            threshold: Some("2h".into()),
            webhook_response: Some(WebhookResponse {
                status: 200,
                body: "...".into(),
            }),
        }
    }

    #[test]
    fn violation_kinds_parse_from_their_stored_names() {
        for kind in KINDS {
            assert_eq!(kind.as_str().parse::<ViolationKind>().unwrap(), kind);
        }
        assert_eq!(
            field_of("too_slow".parse::<ViolationKind>().unwrap_err()),
            "kind"
        );
    }

    #[test]
    fn details_use_the_seeds_camel_case_form_and_omit_what_is_absent() {
        let value: serde_json::Value = serde_json::from_str(&full().to_json()).unwrap();
        assert_eq!(
            value,
            json!({
                "message": "Job exceeded maxAllowedRunTime of 2h",
                "currentValue": "2h15m",
                "threshold": "2h",
                "webhookResponse": {"status": 200, "body": "..."}
            })
        );
        assert_eq!(
            ViolationDetails::from_json(&full().to_json()).unwrap(),
            full()
        );
        let bare = ViolationDetails::message("late");
        assert_eq!(bare.to_json(), r#"{"message":"late"}"#);
        assert_eq!(ViolationDetails::from_json(&bare.to_json()).unwrap(), bare);
    }

    #[test]
    fn malformed_details_are_refused_as_details() {
        for json in [
            "",
            "{}",
            r#"{"message":""}"#,
            r#"{"message":5}"#,
            r#"{"message":"m","webhookResponse":{"status":"ok"}}"#,
        ] {
            assert_eq!(
                field_of(ViolationDetails::from_json(json).unwrap_err()),
                "details",
                "{json}"
            );
        }
    }

    #[test]
    fn a_new_violation_is_stamped_and_checked() {
        let new = NewViolation {
            tenant_id: TenantId::new("t1").unwrap(),
            run_id: RunId::new("r1").unwrap(),
            constraint_id: ConstraintId::new("c1").unwrap(),
            kind: ViolationKind::MaxAllowedRunTime,
            action_taken: Some("webhook,killLatestInstance".into()),
            details: full(),
        };
        let v = new.clone().into_violation(at(0)).unwrap();
        assert_eq!((v.violation_time, v.id.as_str().len()), (at(0), 36));
        let long_action = NewViolation {
            action_taken: Some("x".repeat(256)),
            ..new.clone()
        };
        assert_eq!(
            field_of(long_action.into_violation(at(0)).unwrap_err()),
            "action_taken"
        );
        let no_message = NewViolation {
            details: ViolationDetails::message(" "),
            ..new.clone()
        };
        assert_eq!(
            field_of(no_message.into_violation(at(0)).unwrap_err()),
            "details"
        );
        let huge = NewViolation {
            details: ViolationDetails::message("x".repeat(crate::MAX_TEXT_BYTES + 1)),
            ..new
        };
        assert_eq!(field_of(huge.into_violation(at(0)).unwrap_err()), "details");
    }

    #[test]
    fn scheduler_stats_check_period_counts_bounds_and_averages() {
        let ok = SchedulerStats::new(StatsPeriodId::new("p1").unwrap(), at(0), at(60));
        assert!(ok.validate().is_ok());
        let bad = |f: fn(&mut SchedulerStats)| {
            let mut stats = ok.clone();
            f(&mut stats);
            field_of(stats.validate().unwrap_err())
        };
        assert_eq!(bad(|s| s.end_time = at(-1)), "end_time");
        assert_eq!(bad(|s| s.iterations = -1), "iterations");
        assert_eq!(bad(|s| s.max_time_in_inbox = Some(-5)), "max_time_in_inbox");
        assert_eq!(
            bad(|s| {
                s.min_inbox_length = Some(3);
                s.max_inbox_length = Some(2)
            }),
            "min_inbox_length"
        );
        assert_eq!(
            bad(|s| s.avg_inbox_length = Some(f64::NAN)),
            "avg_inbox_length"
        );
        assert_eq!(
            bad(|s| s.avg_time_in_inbox = Some(f64::INFINITY)),
            "avg_time_in_inbox"
        );
        assert_eq!(
            bad(|s| s.start_time = DateTime::from_timestamp(-40_000_000_000, 0).unwrap()),
            "start_time"
        );
    }

    #[test]
    fn orchestrator_stats_refuse_negative_counts() {
        let ok = OrchestratorStats {
            run_id: RunId::new("r1").unwrap(),
            stats_period_id: StatsPeriodId::new("p1").unwrap(),
            runtime: 12,
            constraints_checked: 2,
            actions_taken: 0,
        };
        assert!(ok.validate().is_ok());
        assert_eq!(
            field_of(
                OrchestratorStats {
                    runtime: -1,
                    ..ok.clone()
                }
                .validate()
                .unwrap_err()
            ),
            "runtime"
        );
        assert_eq!(
            field_of(
                OrchestratorStats {
                    actions_taken: -1,
                    ..ok
                }
                .validate()
                .unwrap_err()
            ),
            "actions_taken"
        );
    }
}
