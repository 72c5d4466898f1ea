//! Actions (seed 002's `actions`) and their links to schedules by trigger (`job_actions`).

use chrono::{DateTime, Utc};

use serde::Deserialize;
use serde_json::json;

use super::constraint::{DependencyWire, job_ref_json};
use crate::{
    ActionId, ConstraintId, DomainError, Hook, ScheduleId, TenantId, TimeSpan, error::invalid, text,
};

/// The most retries a `retry` action may ask for.
const MAX_RETRY_ATTEMPTS: u32 = 100;

/// `retry`'s config, as read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RetryWire {
    max_attempts: u32,
    #[serde(default)]
    delay: Option<String>,
}

/// Something to do when a run fails, succeeds, times out or violates a constraint. jobstore
/// never does it itself (no webhook is called): it stores the action and returns it to the
/// caller when its trigger fires. The kill and skip actions have storage calls of their own
/// for the caller to make (`kill_all_instances`, `kill_latest_instance`, `skip_next_instance`).
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
        match self {
            ActionKind::Retry { .. } => "retry",
            ActionKind::KickOffJob { .. } => "kickOffJob",
            ActionKind::Webhook(_) => "webhook",
            ActionKind::KillAllInstances => "killAllInstances",
            ActionKind::KillLatestInstance => "killLatestInstance",
            ActionKind::SkipNextInstance => "skipNextInstance",
        }
    }

    /// The seed's `config` JSON (`None` for the types without configuration).
    pub fn config_json(&self) -> Option<String> {
        match self {
            ActionKind::Retry {
                max_attempts,
                delay,
            } => {
                let mut value = json!({ "maxAttempts": max_attempts });
                if let (Some(delay), Some(map)) = (delay, value.as_object_mut()) {
                    map.insert("delay".to_owned(), json!(delay.to_string()));
                }
                Some(value.to_string())
            }
            ActionKind::KickOffJob { schedule_id, args } => Some(job_ref_json(schedule_id, args)),
            ActionKind::Webhook(hook) => Some(hook.to_json()),
            ActionKind::KillAllInstances
            | ActionKind::KillLatestInstance
            | ActionKind::SkipNextInstance => None,
        }
    }

    /// Reads a type and its config; an unknown type or a config of the wrong shape is a
    /// validation error of `action_type` or `config`.
    pub fn from_parts(type_name: &str, config: Option<&str>) -> Result<ActionKind, DomainError> {
        let needed = || {
            config.ok_or_else(|| invalid("config", format!("{type_name} needs a configuration")))
        };
        let kind = match type_name {
            "retry" => {
                let wire: RetryWire = serde_json::from_str(needed()?)
                    .map_err(|e| invalid("config", format!("is not a retry config: {e}")))?;
                let delay = wire
                    .delay
                    .map(|d| TimeSpan::parse("config", &d))
                    .transpose()?;
                ActionKind::Retry {
                    max_attempts: wire.max_attempts,
                    delay,
                }
            }
            "kickOffJob" => {
                let wire: DependencyWire = serde_json::from_str(needed()?)
                    .map_err(|e| invalid("config", format!("is not a kickOffJob config: {e}")))?;
                let (schedule_id, args) = wire.into_parts("config")?;
                ActionKind::KickOffJob { schedule_id, args }
            }
            "webhook" => ActionKind::Webhook(Hook::from_json("config", needed()?)?),
            "killAllInstances" | "killLatestInstance" | "skipNextInstance" => {
                if let Some(config) = config {
                    // Stored rows may hold an empty object or null for "no configuration".
                    let value: serde_json::Value = serde_json::from_str(config)
                        .map_err(|e| invalid("config", format!("is not JSON: {e}")))?;
                    let empty = value.is_null() || value.as_object().is_some_and(|m| m.is_empty());
                    if !empty {
                        return Err(invalid(
                            "config",
                            format!("{type_name} takes no configuration"),
                        ));
                    }
                }
                match type_name {
                    "killAllInstances" => ActionKind::KillAllInstances,
                    "killLatestInstance" => ActionKind::KillLatestInstance,
                    _ => ActionKind::SkipNextInstance,
                }
            }
            _ => {
                return Err(invalid(
                    "action_type",
                    format!("{type_name:?} is not an action type"),
                ));
            }
        };
        kind.validate()?;
        Ok(kind)
    }

    /// Checks the configuration (hook URL, retry bounds).
    pub fn validate(&self) -> Result<(), DomainError> {
        match self {
            ActionKind::Retry { max_attempts, .. } => {
                if !(1..=MAX_RETRY_ATTEMPTS).contains(max_attempts) {
                    return Err(invalid(
                        "config",
                        format!(
                            "maxAttempts must be 1 to {MAX_RETRY_ATTEMPTS}, not {max_attempts}"
                        ),
                    ));
                }
                Ok(())
            }
            ActionKind::KickOffJob { schedule_id, args } => {
                text::long("config", &job_ref_json(schedule_id, args))
            }
            ActionKind::Webhook(hook) => hook.validate("config"),
            ActionKind::KillAllInstances
            | ActionKind::KillLatestInstance
            | ActionKind::SkipNextInstance => Ok(()),
        }
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
        text::required("name", &self.name, 255)?;
        self.kind.validate()?;
        crate::check_time("created_at", now)?;
        Ok(Action {
            tenant_id: self.tenant_id,
            id: self.id.unwrap_or_else(ActionId::generate),
            name: self.name,
            kind: self.kind,
            created_at: now,
        })
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
        Trigger::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| invalid("trigger", format!("{s:?} is not a trigger")))
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
        if self.constraint_id.is_some() && self.trigger != Trigger::OnViolation {
            return Err(invalid(
                "constraint_id",
                format!(
                    "only an on_violation link names a constraint, not {}",
                    self.trigger.as_str()
                ),
            ));
        }
        Ok(())
    }

    /// Whether this link fires for `trigger` (and, for violations, for a violation of
    /// `constraint`).
    pub fn fires_on(&self, trigger: Trigger, constraint: Option<&ConstraintId>) -> bool {
        self.trigger == trigger
            && (trigger != Trigger::OnViolation
                || self.constraint_id.is_none()
                || self.constraint_id.as_ref() == constraint)
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

    fn kinds() -> Vec<ActionKind> {
        vec![
            ActionKind::Retry {
                max_attempts: 3,
                delay: Some("5m".parse().unwrap()),
            },
            ActionKind::Retry {
                max_attempts: 1,
                delay: None,
            },
            ActionKind::KickOffJob {
                schedule_id: ScheduleId::new("cleanup-job").unwrap(),
                args: vec!["--force".into()],
            },
            ActionKind::Webhook(Hook {
                kind: crate::HookKind::Slack,
                url: "https://hooks.slack.com/x".into(),
                channel: Some("#alerts".into()),
            }),
            ActionKind::KillAllInstances,
            ActionKind::KillLatestInstance,
            ActionKind::SkipNextInstance,
        ]
    }

    #[test]
    fn every_kind_round_trips_through_its_type_name_and_config() {
        for kind in kinds() {
            let back = ActionKind::from_parts(kind.type_name(), kind.config_json().as_deref());
            assert_eq!(back.unwrap(), kind);
        }
        let names: Vec<_> = kinds().iter().map(ActionKind::type_name).collect();
        assert_eq!(
            names,
            [
                "retry",
                "retry",
                "kickOffJob",
                "webhook",
                "killAllInstances",
                "killLatestInstance",
                "skipNextInstance"
            ]
        );
    }

    #[test]
    fn configs_use_the_seeds_keys() {
        let retry = kinds()[0].config_json().unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&retry).unwrap(),
            json!({"maxAttempts": 3, "delay": "5m"})
        );
        let kick = kinds()[2].config_json().unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&kick).unwrap(),
            json!({"jobID": "cleanup-job", "args": ["--force"]})
        );
    }

    #[test]
    fn unknown_types_are_refused_as_action_type() {
        for name in ["", "Retry", "kickoffjob", "email"] {
            assert_eq!(
                field_of(ActionKind::from_parts(name, Some("{}")).unwrap_err()),
                "action_type"
            );
        }
    }

    #[test]
    fn configs_of_the_wrong_shape_are_refused_as_config() {
        for (name, config) in [
            ("webhook", Some(r#"{"url": 5}"#)),
            ("webhook", Some(r#"{"type":"slack","url":"not a url"}"#)),
            ("webhook", None),
            ("retry", Some(r#"{"maxAttempts": 0}"#)),
            ("retry", Some(r#"{"maxAttempts": 101}"#)),
            ("retry", Some(r#"{"maxAttempts": -1}"#)),
            ("retry", Some(r#"{"maxAttempts": 2, "delay": "1M"}"#)),
            ("retry", Some("not json")),
            ("kickOffJob", Some(r#"{"jobID": ["x"]}"#)),
            ("killAllInstances", Some(r#"{"force": true}"#)),
            ("skipNextInstance", Some("[]")),
        ] {
            assert_eq!(
                field_of(ActionKind::from_parts(name, config).unwrap_err()),
                "config",
                "{name} {config:?}"
            );
        }
        for empty in [None, Some("{}"), Some("null")] {
            assert_eq!(
                ActionKind::from_parts("killLatestInstance", empty).unwrap(),
                ActionKind::KillLatestInstance
            );
        }
    }

    #[test]
    fn a_new_action_is_named_validated_and_given_an_id() {
        let tenant = TenantId::new("t1").unwrap();
        let now = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
        let action = NewAction {
            tenant_id: tenant.clone(),
            id: None,
            name: "page".into(),
            kind: ActionKind::KillAllInstances,
        }
        .into_action(now)
        .unwrap();
        assert_eq!((action.id.as_str().len(), action.created_at), (36, now));
        let unnamed = NewAction {
            tenant_id: tenant.clone(),
            id: None,
            name: " ".into(),
            kind: ActionKind::KillAllInstances,
        };
        assert_eq!(field_of(unnamed.into_action(now).unwrap_err()), "name");
        let bad = NewAction {
            tenant_id: tenant,
            id: None,
            name: "r".into(),
            kind: ActionKind::Retry {
                max_attempts: 0,
                delay: None,
            },
        };
        assert_eq!(field_of(bad.into_action(now).unwrap_err()), "config");
    }

    #[test]
    fn triggers_parse_in_any_case() {
        for t in Trigger::ALL {
            assert_eq!(t.as_str().parse::<Trigger>().unwrap(), t);
            assert_eq!(t.as_str().to_uppercase().parse::<Trigger>().unwrap(), t);
        }
        assert_eq!(
            field_of("on_start".parse::<Trigger>().unwrap_err()),
            "trigger"
        );
    }

    fn link(trigger: Trigger, constraint: Option<&str>) -> ScheduleAction {
        ScheduleAction {
            tenant_id: TenantId::new("t1").unwrap(),
            schedule_id: ScheduleId::new("s1").unwrap(),
            action_id: ActionId::new("a1").unwrap(),
            trigger,
            constraint_id: constraint.map(|c| ConstraintId::new(c).unwrap()),
        }
    }

    #[test]
    fn only_an_on_violation_link_names_a_constraint() {
        assert!(link(Trigger::OnViolation, Some("c1")).validate().is_ok());
        assert!(link(Trigger::OnFailure, None).validate().is_ok());
        assert_eq!(
            field_of(link(Trigger::OnFailure, Some("c1")).validate().unwrap_err()),
            "constraint_id"
        );
    }

    #[test]
    fn a_link_fires_on_its_trigger_and_its_constraint_or_any() {
        let c1 = ConstraintId::new("c1").unwrap();
        let c2 = ConstraintId::new("c2").unwrap();
        let any = link(Trigger::OnViolation, None);
        assert!(any.fires_on(Trigger::OnViolation, Some(&c1)));
        assert!(any.fires_on(Trigger::OnViolation, None));
        assert!(!any.fires_on(Trigger::OnFailure, None));
        let only = link(Trigger::OnViolation, Some("c1"));
        assert!(only.fires_on(Trigger::OnViolation, Some(&c1)));
        assert!(!only.fires_on(Trigger::OnViolation, Some(&c2)));
        assert!(!only.fires_on(Trigger::OnViolation, None));
        let fail = link(Trigger::OnFailure, None);
        assert!(fail.fires_on(Trigger::OnFailure, Some(&c2)));
        assert!(!fail.fires_on(Trigger::OnSuccess, None));
    }
}
