//! Jobs: the union of the job fields of the systems jobstore replaces, how a new job is checked, and its output location.

use chrono::{DateTime, Utc};

use crate::{DomainError, JobId, JobStatus, LeaseId, RetryPolicy, TenantId, error::invalid, text};

/// The queue a job goes to when none is named.
pub const DEFAULT_QUEUE: &str = "default";
/// Retries a job gets when none are named (as in the Jennah schema).
pub const DEFAULT_MAX_RETRIES: i32 = 3;

/// A job as stored: what to run, where its data is, and where it is in its life.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The job's id, unique within its tenant.
    pub id: JobId,
    /// Where the job is in the state machine.
    pub status: JobStatus,
    /// The container image to run.
    pub image_uri: Option<String>,
    /// The command line to run.
    pub commands: Vec<String>,
    /// A free-form JSON document describing the work.
    pub spec: Option<String>,
    /// Where the input is.
    pub input_bucket: Option<String>,
    /// The input object's key.
    pub input_key: Option<String>,
    /// Where the output goes.
    pub output_bucket: Option<String>,
    /// The output object's key; under [`Job::output_prefix`] when set.
    pub output_key: Option<String>,
    /// The attempt's output prefix, always `jobs/{job_id}/{attempt}/` (see [`output_prefix`]).
    pub output_prefix: String,
    /// The attempt, from 1: retry count + 1.
    pub attempt: i32,
    /// Retries made so far.
    pub retry_count: i32,
    /// Retries allowed.
    pub max_retries: i32,
    /// This job's own retry backoff; `None` uses its queue's.
    pub retry_policy: Option<RetryPolicy>,
    /// The queue workers claim it from.
    pub queue: String,
    /// Higher runs first.
    pub priority: i32,
    /// Not claimable before this time.
    pub not_before: DateTime<Utc>,
    /// Unique among the tenant's unfinished jobs, when set.
    pub unique_key: Option<String>,
    /// The worker that holds (or last held) the job.
    pub assigned_agent: Option<String>,
    /// The current lease, while a worker holds the job.
    pub lease_id: Option<LeaseId>,
    /// When the current lease runs out.
    pub lease_deadline: Option<DateTime<Utc>>,
    /// The name of the job in an external batch system.
    pub batch_job_name: Option<String>,
    /// The last attempt's error.
    pub error_message: Option<String>,
    /// Counts the job's changes; every write but a heartbeat moves it on.
    pub version: i64,
    /// When the job was created.
    pub created_at: DateTime<Utc>,
    /// When the job last changed.
    pub updated_at: DateTime<Utc>,
    /// When the attempt was given to a worker (to ASSIGNED).
    pub scheduled_at: Option<DateTime<Utc>>,
    /// When the attempt started (to RUNNING).
    pub started_at: Option<DateTime<Utc>>,
    /// When the attempt ended (to COMPLETED, FAILED, CANCELLED or LOST).
    pub completed_at: Option<DateTime<Utc>>,
    /// When the job was soft-deleted; soft-deleted jobs are hidden from reads and claims.
    pub deleted_at: Option<DateTime<Utc>>,
    /// The schedule run that enqueued it, whose state follows the job's (see
    /// [`crate::Run::follow`]); `None` for jobs created directly.
    pub run_id: Option<crate::RunId>,
    /// The study it was made for, from a manifest cell (see [`crate::Manifest::jobs`]); its
    /// study's state follows it. `None` for jobs created directly.
    pub study_id: Option<crate::StudyId>,
}

/// What it takes to create a job: fill in what you need, keep the rest from [`NewJob::new`].
///
/// ```
/// use jobstore_domain::{NewJob, TenantId};
///
/// let tenant = TenantId::new("tenant-123").unwrap();
/// let job = NewJob {
///     image_uri: Some("gcr.io/project/image:latest".into()),
///     commands: vec!["echo".into(), "hello".into()],
///     ..NewJob::new(tenant)
/// };
/// assert!(job.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// A caller-chosen id; `None` generates one.
    pub id: Option<JobId>,
    /// The container image (at most 1024 characters).
    pub image_uri: Option<String>,
    /// The command line.
    pub commands: Vec<String>,
    /// A JSON document (checked to parse).
    pub spec: Option<String>,
    /// Input bucket (at most 1024 characters).
    pub input_bucket: Option<String>,
    /// Input key (at most 1024 characters).
    pub input_key: Option<String>,
    /// Output bucket (at most 1024 characters).
    pub output_bucket: Option<String>,
    /// Output key; must lie under the output prefix.
    pub output_key: Option<String>,
    /// Output prefix; `None` derives `jobs/{job_id}/1/`, anything else must equal it.
    pub output_prefix: Option<String>,
    /// Retries allowed (0 to 1000).
    pub max_retries: i32,
    /// This job's own retry backoff.
    pub retry_policy: Option<RetryPolicy>,
    /// The queue (1 to 64 letters, digits, `-`, `_`, `.` or `:`).
    pub queue: String,
    /// Higher runs first.
    pub priority: i32,
    /// Not claimable before this time; `None` means at once.
    pub not_before: Option<DateTime<Utc>>,
    /// A key unique among the tenant's unfinished jobs (at most 255 characters).
    pub unique_key: Option<String>,
}

impl NewJob {
    /// A job for `tenant_id` with every optional field empty and the defaults of the systems jobstore replaces.
    pub fn new(tenant_id: TenantId) -> Self {
        Self {
            tenant_id,
            id: None,
            image_uri: None,
            commands: Vec::new(),
            spec: None,
            input_bucket: None,
            input_key: None,
            output_bucket: None,
            output_key: None,
            output_prefix: None,
            max_retries: DEFAULT_MAX_RETRIES,
            retry_policy: None,
            queue: DEFAULT_QUEUE.to_owned(),
            priority: 0,
            not_before: None,
            unique_key: None,
        }
    }

    /// Checks every field without building the job.
    pub fn validate(&self) -> Result<(), DomainError> {
        text::optional("image_uri", self.image_uri.as_deref(), 1024)?;
        for command in &self.commands {
            text::long("commands", command)?;
        }
        text::long("commands", &encode_commands(&self.commands))?;
        if let Some(spec) = &self.spec {
            text::long("spec", spec)?;
            serde_json::from_str::<serde_json::Value>(spec)
                .map_err(|e| invalid("spec", format!("is not JSON: {e}")))?;
        }
        for (field, value) in [
            ("input_bucket", &self.input_bucket),
            ("input_key", &self.input_key),
            ("output_bucket", &self.output_bucket),
            ("output_key", &self.output_key),
        ] {
            text::optional(field, value.as_deref(), 1024)?;
        }
        if !(0..=1000).contains(&self.max_retries) {
            return Err(invalid("max_retries", "must be between 0 and 1000"));
        }
        if let Some(policy) = &self.retry_policy {
            policy.validate()?;
        }
        validate_queue(&self.queue)?;
        text::key("unique_key", self.unique_key.as_deref(), 255)?;
        if let Some(at) = self.not_before {
            crate::check_time("not_before", at)?;
        }
        if let Some(id) = &self.id {
            check_output(
                id,
                1,
                self.output_prefix.as_deref(),
                self.output_key.as_deref(),
            )?;
        } else if self.output_prefix.is_some() {
            return Err(invalid(
                "output_prefix",
                "needs a caller-chosen job id (leave it empty to derive it)",
            ));
        }
        Ok(())
    }

    /// The PENDING job this creates at `now`, on attempt 1.
    pub fn into_job(self, now: DateTime<Utc>) -> Result<Job, DomainError> {
        self.validate()?;
        let id = self.id.unwrap_or_else(JobId::generate);
        check_output(&id, 1, None, self.output_key.as_deref())?;
        Ok(Job {
            output_prefix: output_prefix(&id, 1),
            tenant_id: self.tenant_id,
            id,
            status: JobStatus::Pending,
            image_uri: self.image_uri,
            commands: self.commands,
            spec: self.spec,
            input_bucket: self.input_bucket,
            input_key: self.input_key,
            output_bucket: self.output_bucket,
            output_key: self.output_key,
            attempt: 1,
            retry_count: 0,
            max_retries: self.max_retries,
            retry_policy: self.retry_policy,
            queue: self.queue,
            priority: self.priority,
            not_before: self.not_before.unwrap_or(now),
            unique_key: self.unique_key,
            assigned_agent: None,
            lease_id: None,
            lease_deadline: None,
            batch_job_name: None,
            error_message: None,
            version: 1,
            created_at: now,
            updated_at: now,
            scheduled_at: None,
            started_at: None,
            completed_at: None,
            deleted_at: None,
            run_id: None,
            study_id: None,
        })
    }
}

/// The output prefix of a job's attempt: `jobs/{job_id}/{attempt}/`.
///
/// ```
/// use jobstore_domain::{JobId, output_prefix};
///
/// let job = JobId::new("job-456").unwrap();
/// assert_eq!(output_prefix(&job, 2), "jobs/job-456/2/");
/// ```
pub fn output_prefix(job: &JobId, attempt: i32) -> String {
    format!("jobs/{job}/{attempt}/")
}

/// Checks that an output prefix and key follow the rule for `attempt`.
pub fn check_output(
    job: &JobId,
    attempt: i32,
    prefix: Option<&str>,
    key: Option<&str>,
) -> Result<(), DomainError> {
    let expected = output_prefix(job, attempt);
    if let Some(prefix) = prefix
        && prefix != expected
    {
        return Err(invalid(
            "output_prefix",
            format!("must be {expected:?}, not {prefix:?}"),
        ));
    }
    if let Some(key) = key
        && !key.starts_with(&expected)
    {
        return Err(invalid(
            "output_key",
            format!("must start with {expected:?}"),
        ));
    }
    Ok(())
}

/// Checks a queue name.
pub fn validate_queue(queue: &str) -> Result<(), DomainError> {
    if queue.is_empty() || queue.len() > 64 {
        return Err(invalid("queue", "must be 1 to 64 characters"));
    }
    crate::ids::check_name_chars("queue", queue)
}

/// Checks a worker's name (1 to 255 characters, no NUL).
pub fn validate_agent(agent: &str) -> Result<(), DomainError> {
    text::required("agent", agent, 255)
}

/// Checks an external batch-job name (1 to 1024 characters, no NUL).
pub fn validate_batch_job_name(name: &str) -> Result<(), DomainError> {
    text::required("batch_job_name", name, 1024)
}

/// The stored form of a command line: a JSON array of strings.
pub fn encode_commands(commands: &[String]) -> String {
    serde_json::Value::from(commands).to_string()
}

/// Reads a stored command line back.
pub fn decode_commands(text: &str) -> Result<Vec<String>, DomainError> {
    serde_json::from_str(text)
        .map_err(|e| invalid("commands", format!("is not a JSON array of strings: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::new("t1").unwrap()
    }

    #[test]
    fn new_job_is_pending_on_attempt_one_with_its_prefix() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let job = NewJob {
            id: Some(JobId::new("j1").unwrap()),
            ..NewJob::new(tenant())
        }
        .into_job(now)
        .unwrap();
        assert_eq!(job.status, JobStatus::Pending);
        assert_eq!((job.attempt, job.retry_count, job.max_retries), (1, 0, 3));
        assert_eq!(job.output_prefix, "jobs/j1/1/");
        assert_eq!(job.not_before, now);
    }

    #[test]
    fn output_prefix_and_key_must_follow_the_rule() {
        let id = JobId::new("j1").unwrap();
        assert!(check_output(&id, 1, Some("jobs/j1/1/"), Some("jobs/j1/1/out.tar")).is_ok());
        assert!(check_output(&id, 1, Some("jobs/j1/2/"), None).is_err());
        assert!(check_output(&id, 1, None, Some("elsewhere/out.tar")).is_err());
    }

    #[test]
    fn rejects_malformed_spec_and_bad_fields() {
        let bad = |f: fn(&mut NewJob)| {
            let mut job = NewJob::new(tenant());
            f(&mut job);
            job.validate().is_err()
        };
        assert!(bad(|j| j.spec = Some("{not json".into())));
        assert!(bad(|j| j.image_uri = Some("x".repeat(1025))));
        assert!(bad(|j| j.queue = "a queue".into()));
        assert!(bad(|j| j.max_retries = -1));
        assert!(bad(|j| j.unique_key = Some(String::new())));
        assert!(bad(|j| j.output_prefix = Some("jobs/x/1/".into())));
    }

    #[test]
    fn commands_round_trip_through_json() {
        let commands = vec!["echo".to_owned(), "it's \"quoted\"".to_owned()];
        assert_eq!(
            decode_commands(&encode_commands(&commands)).unwrap(),
            commands
        );
        assert!(decode_commands("[1, 2]").is_err());
    }
}
