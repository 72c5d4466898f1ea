//! Constraints: the rules a schedule's runs keep (seed 002's `constraints` table), typed.

use chrono::{DateTime, Utc};

use serde::Deserialize;
use serde_json::json;

use crate::{ConstraintId, DomainError, ScheduleId, TenantId, TimeSpan, error::invalid, text};

/// The most missed due times one firing may catch up, whatever a constraint asks.
const MAX_CATCH_UP_RUNS_LIMIT: u32 = 10_000;

/// The longest hook URL accepted.
const MAX_URL_CHARS: usize = 2048;

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
    /// A run starts only if the latest finished run of the schedule its dependency names
    /// succeeded (or there is none yet).
    pub require_previous_success: Option<Dependency>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
    /// Moves on every write; updates are guarded by it.
    pub version: i64,
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
        let constraint = Constraint {
            tenant_id: self.tenant_id,
            id: self.id.unwrap_or_else(ConstraintId::generate),
            max_concurrent_runs: self.max_concurrent_runs,
            catch_up: self.catch_up,
            catch_up_window: self.catch_up_window,
            max_catch_up_runs: self.max_catch_up_runs,
            max_expected_run_time: self.max_expected_run_time,
            max_allowed_run_time: self.max_allowed_run_time,
            pre_run_hook: self.pre_run_hook,
            post_run_hook: self.post_run_hook,
            require_previous_success: self.require_previous_success,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        constraint.validate()?;
        Ok(constraint)
    }
}

impl Constraint {
    /// Checks the rules: max concurrent runs and the catch-up cap at least 1; max expected run
    /// time not above max allowed; hooks valid.
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.max_concurrent_runs == Some(0) {
            return Err(invalid("max_concurrent_runs", "must be at least 1"));
        }
        if let Some(cap) = self.max_catch_up_runs
            && !(1..=MAX_CATCH_UP_RUNS_LIMIT).contains(&cap)
        {
            return Err(invalid(
                "max_catch_up_runs",
                format!("must be 1 to {MAX_CATCH_UP_RUNS_LIMIT}, not {cap}"),
            ));
        }
        if let (Some(expected), Some(allowed)) =
            (self.max_expected_run_time, self.max_allowed_run_time)
            && expected > allowed
        {
            return Err(invalid(
                "max_expected_run_time",
                format!("{expected} is above the max allowed run time {allowed}"),
            ));
        }
        if let Some(hook) = &self.pre_run_hook {
            hook.validate("pre_run_hook")?;
        }
        if let Some(hook) = &self.post_run_hook {
            hook.validate("post_run_hook")?;
        }
        if let Some(dependency) = &self.require_previous_success {
            text::long("require_previous_success", &dependency.to_json())?;
        }
        crate::check_time("created_at", self.created_at)?;
        crate::check_time("updated_at", self.updated_at)
    }

    /// The catch-up policy these rules make.
    pub fn catch_up_policy(&self) -> CatchUpPolicy {
        CatchUpPolicy {
            catch_up: self.catch_up.unwrap_or(false),
            window: self.catch_up_window,
            max_runs: self
                .max_catch_up_runs
                .unwrap_or(crate::DEFAULT_MAX_CATCH_UP_RUNS),
        }
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
        CatchUpPolicy {
            catch_up: false,
            window: None,
            max_runs: crate::DEFAULT_MAX_CATCH_UP_RUNS,
        }
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

impl HookKind {
    /// The seed's `type`: `slack`, `teams`, `webhook`.
    pub const fn as_str(self) -> &'static str {
        match self {
            HookKind::Slack => "slack",
            HookKind::Teams => "teams",
            HookKind::Webhook => "webhook",
        }
    }

    /// Reads the seed's `type` (lower-case); errors name `field`.
    pub fn parse(field: &'static str, text: &str) -> Result<HookKind, DomainError> {
        match text {
            "slack" => Ok(HookKind::Slack),
            "teams" => Ok(HookKind::Teams),
            "webhook" => Ok(HookKind::Webhook),
            _ => Err(invalid(
                field,
                format!("hook type {text:?} is not slack, teams or webhook"),
            )),
        }
    }
}

/// The seed's hook JSON, as read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HookWire {
    #[serde(rename = "type")]
    kind: String,
    url: String,
    #[serde(default)]
    channel: Option<String>,
}

impl Hook {
    /// Checks the URL and the channel; errors name `field`.
    pub fn validate(&self, field: &'static str) -> Result<(), DomainError> {
        text::required(field, &self.url, MAX_URL_CHARS)?;
        let url = url::Url::parse(&self.url)
            .map_err(|e| invalid(field, format!("url {:?} is not a URL: {e}", self.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(
                field,
                format!("url {:?} is not http or https", self.url),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid(field, format!("url {:?} has no host", self.url)));
        }
        text::optional(field, self.channel.as_deref(), 255)
    }

    /// The seed's JSON form.
    pub fn to_json(&self) -> String {
        let mut value = json!({"type": self.kind.as_str(), "url": self.url});
        if let (Some(channel), Some(map)) = (&self.channel, value.as_object_mut()) {
            map.insert("channel".to_owned(), json!(channel));
        }
        value.to_string()
    }

    /// Reads the seed's JSON form; errors name `field`.
    pub fn from_json(field: &'static str, json: &str) -> Result<Hook, DomainError> {
        let wire: HookWire = serde_json::from_str(json)
            .map_err(|e| invalid(field, format!("is not a hook: {e}")))?;
        let hook = Hook {
            kind: HookKind::parse(field, &wire.kind)?,
            url: wire.url,
            channel: wire.channel,
        };
        hook.validate(field)?;
        Ok(hook)
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

/// The seed's dependency JSON, as read (also `kickOffJob`'s config).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DependencyWire {
    #[serde(rename = "jobID")]
    job_id: String,
    #[serde(default)]
    args: Vec<String>,
}

impl DependencyWire {
    /// Checks the id and the arguments; errors name `field`.
    pub(crate) fn into_parts(
        self,
        field: &'static str,
    ) -> Result<(ScheduleId, Vec<String>), DomainError> {
        let id =
            ScheduleId::new(&self.job_id).map_err(|e| invalid(field, format!("jobID: {e}")))?;
        text::long(
            field,
            &serde_json::Value::from(self.args.as_slice()).to_string(),
        )?;
        Ok((id, self.args))
    }
}

/// The seed's `{"jobID", "args"}` form.
pub(crate) fn job_ref_json(id: &ScheduleId, args: &[String]) -> String {
    json!({"jobID": id.as_str(), "args": args}).to_string()
}

impl Dependency {
    /// The seed's JSON form.
    pub fn to_json(&self) -> String {
        job_ref_json(&self.schedule_id, &self.args)
    }

    /// Reads the seed's JSON form; errors name `field`.
    pub fn from_json(field: &'static str, json: &str) -> Result<Dependency, DomainError> {
        let wire: DependencyWire = serde_json::from_str(json)
            .map_err(|e| invalid(field, format!("is not a dependency: {e}")))?;
        let (schedule_id, args) = wire.into_parts(field)?;
        Ok(Dependency { schedule_id, args })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::new("t1").unwrap()
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 0).unwrap()
    }

    fn span(text: &str) -> TimeSpan {
        text.parse().unwrap()
    }

    fn slack() -> Hook {
        Hook {
            kind: HookKind::Slack,
            url: "https://hooks.slack.com/services/x".into(),
            channel: Some("#notifications".into()),
        }
    }

    fn field_of(err: DomainError) -> &'static str {
        match err {
            DomainError::Validation { field, .. } => field,
            other => panic!("not a validation error: {other}"),
        }
    }

    #[test]
    fn a_new_constraint_gets_an_id_and_its_times() {
        let c = NewConstraint {
            max_concurrent_runs: Some(2),
            catch_up: Some(true),
            catch_up_window: Some(span("5m")),
            pre_run_hook: Some(slack()),
            ..NewConstraint::new(tenant())
        }
        .into_constraint(now())
        .unwrap();
        assert_eq!(c.id.as_str().len(), 36);
        assert_eq!((c.created_at, c.updated_at), (now(), now()));
    }

    #[test]
    fn bad_limits_name_their_field() {
        let bad = |f: fn(&mut NewConstraint)| {
            let mut c = NewConstraint::new(tenant());
            f(&mut c);
            field_of(c.into_constraint(now()).unwrap_err())
        };
        assert_eq!(
            bad(|c| c.max_concurrent_runs = Some(0)),
            "max_concurrent_runs"
        );
        assert_eq!(bad(|c| c.max_catch_up_runs = Some(0)), "max_catch_up_runs");
        assert_eq!(
            bad(|c| c.max_catch_up_runs = Some(10_001)),
            "max_catch_up_runs"
        );
        assert_eq!(
            bad(|c| {
                c.max_expected_run_time = Some(span("3h"));
                c.max_allowed_run_time = Some(span("2h"));
            }),
            "max_expected_run_time"
        );
        assert_eq!(
            bad(|c| c.post_run_hook = Some(Hook {
                url: "ftp://x".into(),
                ..slack()
            })),
            "post_run_hook"
        );
        let mut ok = NewConstraint::new(tenant());
        ok.max_expected_run_time = Some(span("2h"));
        ok.max_allowed_run_time = Some(span("2h"));
        ok.max_catch_up_runs = Some(10_000);
        assert!(ok.into_constraint(now()).is_ok());
    }

    #[test]
    fn catch_up_is_off_unless_asked_and_capped_by_default() {
        assert_eq!(
            CatchUpPolicy::default(),
            CatchUpPolicy {
                catch_up: false,
                window: None,
                max_runs: crate::DEFAULT_MAX_CATCH_UP_RUNS
            }
        );
        let c = NewConstraint::new(tenant()).into_constraint(now()).unwrap();
        assert_eq!(c.catch_up_policy(), CatchUpPolicy::default());
        let c = NewConstraint {
            catch_up: Some(true),
            catch_up_window: Some(span("1h")),
            max_catch_up_runs: Some(7),
            ..NewConstraint::new(tenant())
        }
        .into_constraint(now())
        .unwrap();
        assert_eq!(
            c.catch_up_policy(),
            CatchUpPolicy {
                catch_up: true,
                window: Some(span("1h")),
                max_runs: 7
            }
        );
    }

    #[test]
    fn hooks_round_trip_in_the_seeds_json_form() {
        let json = slack().to_json();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&json).unwrap(),
            json!({"type": "slack", "url": "https://hooks.slack.com/services/x", "channel": "#notifications"})
        );
        assert_eq!(Hook::from_json("pre_run_hook", &json).unwrap(), slack());
        let bare = Hook {
            kind: HookKind::Teams,
            channel: None,
            ..slack()
        };
        assert!(!bare.to_json().contains("channel"));
        assert_eq!(Hook::from_json("h", &bare.to_json()).unwrap(), bare);
    }

    #[test]
    fn hooks_need_an_http_url_with_a_host_and_a_short_channel() {
        for url in [
            "not a url",
            "ftp://example.com/x",
            "mailto:a@example.com",
            "file:///etc/passwd",
            "",
        ] {
            assert!(
                Hook {
                    url: url.into(),
                    ..slack()
                }
                .validate("h")
                .is_err(),
                "{url}"
            );
        }
        assert!(
            Hook {
                url: "http://example.com".into(),
                ..slack()
            }
            .validate("h")
            .is_ok()
        );
        assert!(
            Hook {
                channel: Some(String::new()),
                ..slack()
            }
            .validate("h")
            .is_err()
        );
        assert!(
            Hook {
                channel: Some("#".repeat(256)),
                ..slack()
            }
            .validate("h")
            .is_err()
        );
    }

    #[test]
    fn malformed_hook_json_names_the_field() {
        for json in [
            "",
            "[]",
            r#"{"type":"slack"}"#,
            r#"{"type":"email","url":"https://x.io"}"#,
            r#"{"type":"Slack","url":"https://x.io"}"#,
            r#"{"type":"slack","url":5}"#,
            r#"{"type":"slack","url":"https://x.io","extra":1}"#,
        ] {
            assert_eq!(
                field_of(Hook::from_json("post_run_hook", json).unwrap_err()),
                "post_run_hook",
                "{json}"
            );
        }
    }

    #[test]
    fn dependencies_use_the_seeds_job_id_key() {
        let dep = Dependency {
            schedule_id: ScheduleId::new("parent-job-id").unwrap(),
            args: vec!["arg1".into(), "arg2".into()],
        };
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&dep.to_json()).unwrap(),
            json!({"jobID": "parent-job-id", "args": ["arg1", "arg2"]})
        );
        assert_eq!(Dependency::from_json("d", &dep.to_json()).unwrap(), dep);
        assert_eq!(
            Dependency::from_json("d", r#"{"jobID":"p"}"#).unwrap().args,
            Vec::<String>::new()
        );
        for bad in [
            r#"{"jobID":5}"#,
            r#"{"args":[]}"#,
            r#"{"jobID":"a b"}"#,
            r#"{"jobID":"p","args":[1]}"#,
        ] {
            assert_eq!(
                field_of(Dependency::from_json("require_previous_success", bad).unwrap_err()),
                "require_previous_success"
            );
        }
    }
}
