//! Table rows and their conversions to and from the domain's types.
//!
//! Times are stored as UTC without a zone; ids, statuses and JSON as text. A row that cannot be
//! read back (a status written by hand, say) becomes [`StorageError::CorruptRow`], never a panic.

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use jobstore_domain::{
    Job, JobId, JobStateTransition, JobStatus, LeaseId, OAuthIdentity, RetryPolicy, RunId, StudyId,
    Tenant, TenantId, TransitionId, decode_commands, encode_commands,
};

use crate::{
    Entity, StorageError,
    schema::{job_state_transitions, jobs, tenants},
    stamp::Stamp,
};

/// How a row's unreadable field is reported: the row's [`StorageError::CorruptRow`].
pub(crate) fn corrupt(
    entity: Entity,
    id: String,
) -> impl Fn(jobstore_domain::DomainError) -> StorageError {
    move |source| StorageError::CorruptRow {
        entity,
        id: id.clone(),
        source,
    }
}

/// A page of records ordered by id, read with one row more than the page to know whether
/// there is a next one; the cursor is the last id.
pub(crate) fn page_by_id<T>(
    mut items: Vec<T>,
    page: &jobstore_domain::PageRequest,
    id_of: impl Fn(&T) -> String,
) -> jobstore_domain::Page<T> {
    let next = (items.len() > page.limit as usize).then(|| {
        items.truncate(page.limit as usize);
        jobstore_domain::Cursor::from_text(items.last().map(&id_of).unwrap_or_default())
    });
    jobstore_domain::Page { items, next }
}

/// A time as stored: UTC, to the microsecond.
pub(crate) fn stored(at: DateTime<Utc>) -> Stamp {
    Stamp(at.trunc_subsecs(6).naive_utc())
}

pub(crate) fn utc(at: Stamp) -> DateTime<Utc> {
    at.0.and_utc()
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = tenants, primary_key(tenant_id))]
#[diesel(treat_none_as_default_value = false, treat_none_as_null = true)]
pub(crate) struct TenantRow {
    pub(crate) tenant_id: String,
    pub(crate) name: String,
    pub(crate) user_email: Option<String>,
    pub(crate) oauth_provider: Option<String>,
    pub(crate) oauth_user_id: Option<String>,
    pub(crate) created_at: Stamp,
    pub(crate) updated_at: Stamp,
    pub(crate) deleted_at: Option<Stamp>,
}

impl From<&Tenant> for TenantRow {
    fn from(t: &Tenant) -> Self {
        Self {
            tenant_id: t.id.to_string(),
            name: t.name.clone(),
            user_email: t.user_email.clone(),
            oauth_provider: t.oauth.as_ref().map(|o| o.provider.clone()),
            oauth_user_id: t.oauth.as_ref().map(|o| o.user_id.clone()),
            created_at: stored(t.created_at),
            updated_at: stored(t.updated_at),
            deleted_at: t.deleted_at.map(stored),
        }
    }
}

impl TryFrom<TenantRow> for Tenant {
    type Error = StorageError;

    fn try_from(row: TenantRow) -> Result<Self, StorageError> {
        let corrupt = |source| StorageError::CorruptRow {
            entity: Entity::Tenant,
            id: row.tenant_id.clone(),
            source,
        };
        let oauth = match (&row.oauth_provider, &row.oauth_user_id) {
            (Some(provider), Some(user_id)) => Some(OAuthIdentity {
                provider: provider.clone(),
                user_id: user_id.clone(),
            }),
            _ => None,
        };
        Ok(Tenant {
            id: TenantId::new(row.tenant_id.as_str()).map_err(corrupt)?,
            name: row.name,
            user_email: row.user_email,
            oauth,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
            deleted_at: row.deleted_at.map(utc),
        })
    }
}

/// A job as stored; written whole only when inserted (updates store `writer`'s changes).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = jobs, primary_key(tenant_id, job_id))]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct JobRow {
    pub(crate) tenant_id: String,
    pub(crate) job_id: String,
    pub(crate) status: String,
    pub(crate) image_uri: Option<String>,
    pub(crate) commands: String,
    pub(crate) spec: Option<String>,
    pub(crate) input_bucket: Option<String>,
    pub(crate) input_key: Option<String>,
    pub(crate) output_bucket: Option<String>,
    pub(crate) output_key: Option<String>,
    pub(crate) output_prefix: String,
    pub(crate) attempt: i32,
    pub(crate) retry_count: i32,
    pub(crate) max_retries: i32,
    pub(crate) retry_policy: Option<String>,
    pub(crate) queue: String,
    pub(crate) priority: i32,
    pub(crate) not_before: Stamp,
    pub(crate) unique_key: Option<String>,
    pub(crate) assigned_agent: Option<String>,
    pub(crate) lease_id: Option<String>,
    pub(crate) lease_deadline: Option<Stamp>,
    pub(crate) batch_job_name: Option<String>,
    pub(crate) error_message: Option<String>,
    pub(crate) version: i64,
    pub(crate) created_at: Stamp,
    pub(crate) updated_at: Stamp,
    pub(crate) scheduled_at: Option<Stamp>,
    pub(crate) started_at: Option<Stamp>,
    pub(crate) completed_at: Option<Stamp>,
    pub(crate) deleted_at: Option<Stamp>,
    pub(crate) run_id: Option<String>,
    pub(crate) study_id: Option<String>,
}

impl From<&Job> for JobRow {
    fn from(j: &Job) -> Self {
        Self {
            tenant_id: j.tenant_id.to_string(),
            job_id: j.id.to_string(),
            status: j.status.as_str().to_owned(),
            image_uri: j.image_uri.clone(),
            commands: encode_commands(&j.commands),
            spec: j.spec.clone(),
            input_bucket: j.input_bucket.clone(),
            input_key: j.input_key.clone(),
            output_bucket: j.output_bucket.clone(),
            output_key: j.output_key.clone(),
            output_prefix: j.output_prefix.clone(),
            attempt: j.attempt,
            retry_count: j.retry_count,
            max_retries: j.max_retries,
            retry_policy: j.retry_policy.as_ref().map(RetryPolicy::encode),
            queue: j.queue.clone(),
            priority: j.priority,
            not_before: stored(j.not_before),
            unique_key: j.unique_key.clone(),
            assigned_agent: j.assigned_agent.clone(),
            lease_id: j.lease_id.as_ref().map(ToString::to_string),
            lease_deadline: j.lease_deadline.map(stored),
            batch_job_name: j.batch_job_name.clone(),
            error_message: j.error_message.clone(),
            version: j.version,
            created_at: stored(j.created_at),
            updated_at: stored(j.updated_at),
            scheduled_at: j.scheduled_at.map(stored),
            started_at: j.started_at.map(stored),
            completed_at: j.completed_at.map(stored),
            deleted_at: j.deleted_at.map(stored),
            run_id: j.run_id.as_ref().map(ToString::to_string),
            study_id: j.study_id.as_ref().map(ToString::to_string),
        }
    }
}

impl TryFrom<JobRow> for Job {
    type Error = StorageError;

    fn try_from(row: JobRow) -> Result<Self, StorageError> {
        let id = format!("{}/{}", row.tenant_id, row.job_id);
        let corrupt = |e: jobstore_domain::DomainError| StorageError::CorruptRow {
            entity: Entity::Job,
            id: id.clone(),
            source: e,
        };
        Ok(Job {
            tenant_id: TenantId::new(row.tenant_id).map_err(corrupt)?,
            id: JobId::new(row.job_id).map_err(corrupt)?,
            status: row.status.parse::<JobStatus>().map_err(corrupt)?,
            image_uri: row.image_uri,
            commands: decode_commands(&row.commands).map_err(corrupt)?,
            spec: row.spec,
            input_bucket: row.input_bucket,
            input_key: row.input_key,
            output_bucket: row.output_bucket,
            output_key: row.output_key,
            output_prefix: row.output_prefix,
            attempt: row.attempt,
            retry_count: row.retry_count,
            max_retries: row.max_retries,
            retry_policy: row
                .retry_policy
                .as_deref()
                .map(RetryPolicy::decode)
                .transpose()
                .map_err(corrupt)?,
            queue: row.queue,
            priority: row.priority,
            not_before: utc(row.not_before),
            unique_key: row.unique_key,
            assigned_agent: row.assigned_agent,
            lease_id: row
                .lease_id
                .map(LeaseId::new)
                .transpose()
                .map_err(corrupt)?,
            lease_deadline: row.lease_deadline.map(utc),
            batch_job_name: row.batch_job_name,
            error_message: row.error_message,
            version: row.version,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
            scheduled_at: row.scheduled_at.map(utc),
            started_at: row.started_at.map(utc),
            completed_at: row.completed_at.map(utc),
            deleted_at: row.deleted_at.map(utc),
            run_id: row.run_id.map(RunId::new).transpose().map_err(corrupt)?,
            study_id: row
                .study_id
                .map(StudyId::new)
                .transpose()
                .map_err(corrupt)?,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = job_state_transitions)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct TransitionRow {
    pub(crate) tenant_id: String,
    pub(crate) job_id: String,
    pub(crate) transition_id: String,
    pub(crate) seq: i64,
    pub(crate) from_status: Option<String>,
    pub(crate) to_status: String,
    pub(crate) transitioned_at: Stamp,
    pub(crate) reason: Option<String>,
    pub(crate) actor: Option<String>,
    pub(crate) attempt: i32,
}

impl From<&JobStateTransition> for TransitionRow {
    fn from(t: &JobStateTransition) -> Self {
        Self {
            tenant_id: t.tenant_id.to_string(),
            job_id: t.job_id.to_string(),
            transition_id: t.id.to_string(),
            seq: t.seq,
            from_status: t.from.map(|s| s.as_str().to_owned()),
            to_status: t.to.as_str().to_owned(),
            transitioned_at: stored(t.at),
            reason: t.reason.clone(),
            actor: t.actor.clone(),
            attempt: t.attempt,
        }
    }
}

impl TryFrom<TransitionRow> for JobStateTransition {
    type Error = StorageError;

    fn try_from(row: TransitionRow) -> Result<Self, StorageError> {
        let id = row.transition_id.clone();
        let corrupt = |e: jobstore_domain::DomainError| StorageError::CorruptRow {
            entity: Entity::Transition,
            id: id.clone(),
            source: e,
        };
        Ok(JobStateTransition {
            tenant_id: TenantId::new(row.tenant_id).map_err(corrupt)?,
            job_id: JobId::new(row.job_id).map_err(corrupt)?,
            id: TransitionId::new(row.transition_id).map_err(corrupt)?,
            seq: row.seq,
            from: row
                .from_status
                .as_deref()
                .map(str::parse::<JobStatus>)
                .transpose()
                .map_err(corrupt)?,
            to: row.to_status.parse().map_err(corrupt)?,
            at: utc(row.transitioned_at),
            reason: row.reason,
            actor: row.actor,
            attempt: row.attempt,
        })
    }
}
