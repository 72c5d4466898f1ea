//! Schedules: a tenant's cron definitions (seed 002's `jobs` table), and the job each run enqueues.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use serde::Deserialize;
use serde_json::json;

use crate::{
    ConstraintId, CronExpr, DomainError, Firing, Job, NewJob, Run, ScheduleId, TenantId,
    error::invalid, parse_time_zone, text,
};

/// The longest pause note.
const MAX_PAUSE_NOTE_CHARS: usize = 1024;

fn check_name(name: &str) -> Result<(), DomainError> {
    text::required("name", name, 255)
}

fn check_pod_spec(pod_spec: Option<&str>) -> Result<(), DomainError> {
    if let Some(spec) = pod_spec {
        text::long("pod_spec", spec)?;
        serde_json::from_str::<serde_json::Value>(spec)
            .map_err(|e| invalid("pod_spec", format!("is not JSON: {e}")))?;
    }
    Ok(())
}

fn zone_of(name: Option<&str>) -> Result<Tz, DomainError> {
    name.map_or(Ok(Tz::UTC), parse_time_zone)
}

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
        check_name(&self.name)?;
        let cron = CronExpr::parse(&self.cron)?;
        let time_zone = zone_of(self.time_zone.as_deref())?;
        if let Some(template) = &self.template {
            template.validate()?;
        }
        check_pod_spec(self.pod_spec.as_deref())?;
        crate::check_time("created_at", now)?;
        Ok(Schedule {
            tenant_id: self.tenant_id,
            id: self.id.unwrap_or_else(ScheduleId::generate),
            name: self.name,
            next_due_at: cron.next_after(time_zone, now),
            cron,
            time_zone,
            template: self.template,
            pod_spec: self.pod_spec,
            constraint_id: self.constraint_id,
            paused: self.paused,
            pause_note: None,
            last_scheduled_at: None,
            version: 1,
            created_at: now,
            updated_at: now,
        })
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
    pub fn updated(
        &self,
        update: ScheduleUpdate,
        now: DateTime<Utc>,
    ) -> Result<Schedule, DomainError> {
        crate::check_time("updated_at", now)?;
        let mut next = self.clone();
        if let Some(name) = update.name {
            check_name(&name)?;
            next.name = name;
        }
        if let Some(cron) = update.cron {
            next.cron = CronExpr::parse(&cron)?;
        }
        if let Some(zone) = update.time_zone {
            next.time_zone = parse_time_zone(&zone)?;
        }
        if let Some(template) = update.template {
            if let Some(template) = &template {
                template.validate()?;
            }
            next.template = template;
        }
        if let Some(pod_spec) = update.pod_spec {
            check_pod_spec(pod_spec.as_deref())?;
            next.pod_spec = pod_spec;
        }
        if let Some(constraint_id) = update.constraint_id {
            next.constraint_id = constraint_id;
        }
        if next.cron != self.cron || next.time_zone != self.time_zone {
            // Due from now on: the new expression's past times were never due.
            let from = self.last_scheduled_at.map_or(now, |last| last.max(now));
            next.next_due_at = next.next_due_after(from);
        }
        next.version = self.version.saturating_add(1);
        next.updated_at = now;
        Ok(next)
    }

    /// The schedule paused at `now`, with a note.
    pub fn paused(&self, note: Option<&str>, now: DateTime<Utc>) -> Result<Schedule, DomainError> {
        text::optional("pause_note", note, MAX_PAUSE_NOTE_CHARS)?;
        crate::check_time("updated_at", now)?;
        Ok(Schedule {
            paused: true,
            pause_note: note.map(str::to_owned),
            version: self.version.saturating_add(1),
            updated_at: now,
            ..self.clone()
        })
    }

    /// The schedule after `firing` was stored: its cursor moved on, its version too.
    pub fn fired(&self, firing: &Firing) -> Schedule {
        Schedule {
            // The cursor never moves back, whatever order firings are stored in.
            last_scheduled_at: match (self.last_scheduled_at, firing.last_scheduled_at) {
                (Some(old), Some(new)) => Some(old.max(new)),
                (old, new) => new.or(old),
            },
            next_due_at: firing.next_due_at,
            version: self.version.saturating_add(1),
            ..self.clone()
        }
    }

    /// The schedule resumed at `now` after `firing` (from [`crate::plan_resume`]) was stored:
    /// unpaused, its note cleared, its cursor moved on.
    pub fn resumed(&self, firing: &Firing, now: DateTime<Utc>) -> Schedule {
        Schedule {
            paused: false,
            pause_note: None,
            updated_at: now,
            ..self.fired(firing)
        }
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
        // The tenant plays no part in a job's checks; any valid id stands in for it.
        let tenant = TenantId::new("template")?;
        self.new_job(tenant, None).validate()
    }

    /// As stored.
    pub fn to_json(&self) -> String {
        let mut value = json!({
            "queue": self.queue,
            "commands": self.commands,
            "priority": self.priority,
            "maxRetries": self.max_retries,
        });
        if let Some(map) = value.as_object_mut() {
            if let Some(image_uri) = &self.image_uri {
                map.insert("imageUri".to_owned(), json!(image_uri));
            }
            if let Some(spec) = &self.spec {
                map.insert("spec".to_owned(), json!(spec));
            }
        }
        value.to_string()
    }

    /// Reads the stored form; errors name the field `template`.
    pub fn from_json(json: &str) -> Result<JobTemplate, DomainError> {
        let wire: TemplateWire = serde_json::from_str(json)
            .map_err(|e| invalid("template", format!("is not a job template: {e}")))?;
        let template = JobTemplate {
            queue: wire.queue,
            image_uri: wire.image_uri,
            commands: wire.commands,
            spec: wire.spec,
            priority: wire.priority,
            max_retries: wire.max_retries,
        };
        template
            .validate()
            .map_err(|e| invalid("template", e.to_string()))?;
        Ok(template)
    }

    /// The PENDING job of `run` (id `run.job_id`, tenant and `run_id` the run's), at `now`.
    pub fn job_for(&self, run: &Run, now: DateTime<Utc>) -> Result<Job, DomainError> {
        let id = run
            .job_id
            .clone()
            .ok_or_else(|| invalid("job_id", format!("run {} has no job id", run.run_id)))?;
        let mut job = self
            .new_job(run.tenant_id.clone(), Some(id))
            .into_job(now)?;
        job.run_id = Some(run.run_id.clone());
        Ok(job)
    }

    fn new_job(&self, tenant_id: TenantId, id: Option<crate::JobId>) -> NewJob {
        NewJob {
            id,
            image_uri: self.image_uri.clone(),
            commands: self.commands.clone(),
            spec: self.spec.clone(),
            max_retries: self.max_retries,
            queue: self.queue.clone(),
            priority: self.priority,
            ..NewJob::new(tenant_id)
        }
    }
}

/// A job template's stored JSON, as read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TemplateWire {
    queue: String,
    #[serde(default)]
    image_uri: Option<String>,
    #[serde(default)]
    commands: Vec<String>,
    #[serde(default)]
    spec: Option<String>,
    #[serde(default)]
    priority: i32,
    #[serde(default = "default_max_retries")]
    max_retries: i32,
}

fn default_max_retries() -> i32 {
    crate::DEFAULT_MAX_RETRIES
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};

    use super::*;
    use crate::{JobStatus, plan_firing, plan_resume};

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2031, 1, 1, h, m, 0).unwrap()
    }

    fn new(cron: &str) -> NewSchedule {
        NewSchedule::new(TenantId::new("t1").unwrap(), "nightly", cron)
    }

    fn field_of(err: DomainError) -> &'static str {
        match err {
            DomainError::Validation { field, .. } => field,
            other => panic!("not a validation error: {other}"),
        }
    }

    #[test]
    fn a_new_schedule_is_due_strictly_after_now_in_utc_by_default() {
        let s = new("0 * * * *").into_schedule(at(10, 0)).unwrap();
        assert_eq!(s.next_due_at, Some(at(11, 0)));
        assert_eq!(
            (s.time_zone, s.version, s.last_scheduled_at),
            (Tz::UTC, 1, None)
        );
        assert_eq!(
            (s.created_at, s.updated_at, s.id.as_str().len()),
            (at(10, 0), at(10, 0), 36)
        );
        let paris = NewSchedule {
            time_zone: Some("Europe/Paris".into()),
            paused: true,
            ..new("0 12 * * *")
        }
        .into_schedule(at(10, 0))
        .unwrap();
        assert_eq!(paris.next_due_at, Some(at(11, 0)));
        assert!(paris.paused);
    }

    #[test]
    fn bad_fields_name_themselves() {
        let bad = |f: fn(&mut NewSchedule)| {
            let mut s = new("* * * * *");
            f(&mut s);
            field_of(s.into_schedule(at(0, 0)).unwrap_err())
        };
        assert_eq!(bad(|s| s.name = String::new()), "name");
        assert_eq!(bad(|s| s.name = "n".repeat(256)), "name");
        assert_eq!(bad(|s| s.cron = "every day".into()), "cron");
        assert_eq!(
            bad(|s| s.time_zone = Some("Nowhere/Else".into())),
            "time_zone"
        );
        assert_eq!(bad(|s| s.pod_spec = Some("{image".into())), "pod_spec");
        assert_eq!(
            bad(|s| s.template = Some(JobTemplate::new("a queue"))),
            "queue"
        );
        assert_eq!(
            bad(|s| s.template = Some(JobTemplate {
                max_retries: 1001,
                ..JobTemplate::new("q")
            })),
            "max_retries"
        );
        assert_eq!(
            bad(|s| s.template = Some(JobTemplate {
                spec: Some("{".into()),
                ..JobTemplate::new("q")
            })),
            "spec"
        );
    }

    #[test]
    fn a_changed_expression_is_due_from_now_on_without_catching_up() {
        let s = new("0 * * * *").into_schedule(at(10, 0)).unwrap();
        let u = s
            .updated(
                ScheduleUpdate {
                    cron: Some("*/15 * * * *".into()),
                    ..Default::default()
                },
                at(12, 5),
            )
            .unwrap();
        assert_eq!(u.next_due_at, Some(at(12, 15)));
        assert_eq!(
            (u.version, u.updated_at, u.created_at),
            (2, at(12, 5), at(10, 0))
        );
        let renamed = u
            .updated(
                ScheduleUpdate {
                    name: Some("hourly".into()),
                    ..Default::default()
                },
                at(13, 0),
            )
            .unwrap();
        assert_eq!(
            (renamed.name.as_str(), renamed.next_due_at),
            ("hourly", Some(at(12, 15)))
        );
        assert_eq!(
            field_of(
                s.updated(
                    ScheduleUpdate {
                        time_zone: Some("X".into()),
                        ..Default::default()
                    },
                    at(13, 0)
                )
                .unwrap_err()
            ),
            "time_zone"
        );
        let fired_ahead = Schedule {
            last_scheduled_at: Some(at(14, 0)),
            ..s.clone()
        };
        let rezoned = fired_ahead
            .updated(
                ScheduleUpdate {
                    time_zone: Some("Europe/Paris".into()),
                    ..Default::default()
                },
                at(12, 5),
            )
            .unwrap();
        assert_eq!(rezoned.next_due_at, Some(at(15, 0)));
        let cleared = s
            .updated(
                ScheduleUpdate {
                    template: Some(Some(JobTemplate::new("q"))),
                    pod_spec: Some(Some("{}".into())),
                    ..Default::default()
                },
                at(12, 0),
            )
            .unwrap()
            .updated(
                ScheduleUpdate {
                    template: Some(None),
                    pod_spec: Some(None),
                    ..Default::default()
                },
                at(12, 1),
            )
            .unwrap();
        assert_eq!((cleared.template, cleared.pod_spec), (None, None));
    }

    #[test]
    fn pausing_records_a_note_and_resuming_moves_the_cursor_past_now() {
        let s = new("0 * * * *").into_schedule(at(10, 0)).unwrap();
        let p = s.paused(Some("maintenance"), at(10, 30)).unwrap();
        assert_eq!(
            (p.paused, p.pause_note.as_deref(), p.version),
            (true, Some("maintenance"), 2)
        );
        assert!(s.paused(Some(&"n".repeat(1025)), at(10, 30)).is_err());
        let firing = plan_resume(&p, at(13, 30));
        let r = p.resumed(&firing, at(13, 30));
        assert_eq!(
            (r.paused, r.pause_note, r.version, r.updated_at),
            (false, None, 3, at(13, 30))
        );
        assert_eq!(
            (r.last_scheduled_at, r.next_due_at),
            (Some(at(13, 0)), Some(at(14, 0)))
        );
    }

    #[test]
    fn firing_moves_the_cursor_forward_only_and_keeps_the_definition_time() {
        let s = new("0 * * * *").into_schedule(at(10, 0)).unwrap();
        let firing = plan_firing(&s, &Default::default(), at(11, 0));
        let f = s.fired(&firing);
        assert_eq!(
            (f.last_scheduled_at, f.next_due_at, f.version, f.updated_at),
            (Some(at(11, 0)), Some(at(12, 0)), 2, at(10, 0))
        );
        let stale = crate::Firing {
            last_scheduled_at: Some(at(9, 0)),
            next_due_at: Some(at(12, 0)),
            ..Default::default()
        };
        assert_eq!(f.fired(&stale).last_scheduled_at, Some(at(11, 0)));
    }

    #[test]
    fn templates_round_trip_as_json_and_make_the_runs_job() {
        let t = JobTemplate {
            image_uri: Some("gcr.io/p/i:latest".into()),
            commands: vec!["echo".into(), "hi".into()],
            spec: Some(r#"{"a":1}"#.into()),
            priority: -3,
            max_retries: 5,
            ..JobTemplate::new("reports")
        };
        let value: serde_json::Value = serde_json::from_str(&t.to_json()).unwrap();
        assert_eq!(
            value,
            json!({"queue": "reports", "imageUri": "gcr.io/p/i:latest", "commands": ["echo", "hi"], "spec": "{\"a\":1}", "priority": -3, "maxRetries": 5})
        );
        assert_eq!(JobTemplate::from_json(&t.to_json()).unwrap(), t);
        assert_eq!(
            JobTemplate::from_json(r#"{"queue":"q"}"#).unwrap(),
            JobTemplate::new("q")
        );
        for bad in [
            "",
            "[]",
            r#"{"queue":"a b"}"#,
            r#"{"queue":"q","priority":"high"}"#,
            r#"{"queue":"q","nope":1}"#,
        ] {
            assert_eq!(
                field_of(JobTemplate::from_json(bad).unwrap_err()),
                "template",
                "{bad}"
            );
        }
        let s = NewSchedule {
            template: Some(t.clone()),
            ..new("* * * * *")
        }
        .into_schedule(at(0, 0))
        .unwrap();
        let run = Run::pending(&s, at(0, 1), at(0, 1));
        let job = t.job_for(&run, at(0, 1) + TimeDelta::seconds(1)).unwrap();
        assert_eq!(
            (&job.id, &job.tenant_id, job.status),
            (
                run.job_id.as_ref().unwrap(),
                &run.tenant_id,
                JobStatus::Pending
            )
        );
        assert_eq!(
            (
                job.run_id.as_ref(),
                job.queue.as_str(),
                job.priority,
                job.max_retries
            ),
            (Some(&run.run_id), "reports", -3, 5)
        );
        let jobless = Run {
            job_id: None,
            ..run
        };
        assert_eq!(
            field_of(t.job_for(&jobless, at(0, 1)).unwrap_err()),
            "job_id"
        );
    }
}
