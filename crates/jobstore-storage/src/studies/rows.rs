//! The study tables' rows and their conversions to and from the domain's types; a row that
//! cannot be read back is [`StorageError::CorruptRow`].

use diesel::prelude::*;
use jobstore_domain::{
    Amount, AuditEntry, AuditId, Checkpoint, CostRecord, CostRecordId, Currency, Evidence,
    EvidenceId, JobId, ResultId, ResultMetrics, Study, StudyId, StudyResult, StudyTransition,
    TenantId, User, UserId,
};

use crate::{
    Entity, StorageError,
    rows::{corrupt, stored, utc},
    schema::{
        audit_logs, checkpoints, cost_records, evidence, results, studies, study_transitions, users,
    },
    stamp::Stamp,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users, primary_key(tenant_id, user_id))]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct UserRow {
    pub(crate) tenant_id: String,
    pub(crate) user_id: String,
    pub(crate) email: String,
    pub(crate) email_key: String,
    pub(crate) name: String,
    pub(crate) role: String,
    pub(crate) version: i64,
    pub(crate) created_at: Stamp,
    pub(crate) updated_at: Stamp,
    pub(crate) deleted_at: Option<Stamp>,
}

impl From<&User> for UserRow {
    fn from(u: &User) -> Self {
        Self {
            tenant_id: u.tenant_id.to_string(),
            user_id: u.id.to_string(),
            email: u.email.clone(),
            email_key: u.email_key(),
            name: u.name.clone(),
            role: u.role.as_str().to_owned(),
            version: u.version,
            created_at: stored(u.created_at),
            updated_at: stored(u.updated_at),
            deleted_at: u.deleted_at.map(stored),
        }
    }
}

impl TryFrom<UserRow> for User {
    type Error = StorageError;

    fn try_from(row: UserRow) -> Result<Self, StorageError> {
        let bad = corrupt(Entity::User, format!("{}/{}", row.tenant_id, row.user_id));
        Ok(User {
            tenant_id: TenantId::new(row.tenant_id).map_err(&bad)?,
            id: UserId::new(row.user_id).map_err(&bad)?,
            email: row.email,
            name: row.name,
            role: row.role.parse().map_err(&bad)?,
            version: row.version,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
            deleted_at: row.deleted_at.map(utc),
        })
    }
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = studies, primary_key(tenant_id, study_id))]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct StudyRow {
    pub(crate) tenant_id: String,
    pub(crate) study_id: String,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) manifest: Option<String>,
    pub(crate) created_by: Option<String>,
    pub(crate) state: String,
    pub(crate) version: i64,
    pub(crate) created_at: Stamp,
    pub(crate) updated_at: Stamp,
    pub(crate) deleted_at: Option<Stamp>,
}

impl From<&Study> for StudyRow {
    fn from(s: &Study) -> Self {
        Self {
            tenant_id: s.tenant_id.to_string(),
            study_id: s.id.to_string(),
            name: s.name.clone(),
            description: s.description.clone(),
            manifest: s.manifest.clone(),
            created_by: s.created_by.as_ref().map(ToString::to_string),
            state: s.state.as_str().to_owned(),
            version: s.version,
            created_at: stored(s.created_at),
            updated_at: stored(s.updated_at),
            deleted_at: s.deleted_at.map(stored),
        }
    }
}

impl TryFrom<StudyRow> for Study {
    type Error = StorageError;

    fn try_from(row: StudyRow) -> Result<Self, StorageError> {
        let bad = corrupt(Entity::Study, format!("{}/{}", row.tenant_id, row.study_id));
        Ok(Study {
            tenant_id: TenantId::new(row.tenant_id).map_err(&bad)?,
            id: StudyId::new(row.study_id).map_err(&bad)?,
            name: row.name,
            description: row.description,
            manifest: row.manifest,
            created_by: row.created_by.map(UserId::new).transpose().map_err(&bad)?,
            state: row.state.parse().map_err(&bad)?,
            version: row.version,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
            deleted_at: row.deleted_at.map(utc),
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = study_transitions, primary_key(tenant_id, study_id, seq))]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct StudyTransitionRow {
    pub(crate) tenant_id: String,
    pub(crate) study_id: String,
    pub(crate) seq: i64,
    pub(crate) from_state: Option<String>,
    pub(crate) to_state: String,
    pub(crate) at: Stamp,
    pub(crate) actor: Option<String>,
    pub(crate) reason: Option<String>,
}

impl From<&StudyTransition> for StudyTransitionRow {
    fn from(t: &StudyTransition) -> Self {
        Self {
            tenant_id: t.tenant_id.to_string(),
            study_id: t.study_id.to_string(),
            seq: t.seq,
            from_state: t.from_state.map(|s| s.as_str().to_owned()),
            to_state: t.to_state.as_str().to_owned(),
            at: stored(t.at),
            actor: t.actor.clone(),
            reason: t.reason.clone(),
        }
    }
}

impl TryFrom<StudyTransitionRow> for StudyTransition {
    type Error = StorageError;

    fn try_from(row: StudyTransitionRow) -> Result<Self, StorageError> {
        let bad = corrupt(
            Entity::Study,
            format!("{}/{}#{}", row.tenant_id, row.study_id, row.seq),
        );
        Ok(StudyTransition {
            tenant_id: TenantId::new(row.tenant_id).map_err(&bad)?,
            study_id: StudyId::new(row.study_id).map_err(&bad)?,
            seq: row.seq,
            from_state: row
                .from_state
                .map(|s| s.parse())
                .transpose()
                .map_err(&bad)?,
            to_state: row.to_state.parse().map_err(&bad)?,
            at: utc(row.at),
            actor: row.actor,
            reason: row.reason,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = results, primary_key(tenant_id, result_id))]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct ResultRow {
    pub(crate) tenant_id: String,
    pub(crate) result_id: String,
    pub(crate) study_id: String,
    pub(crate) job_id: String,
    pub(crate) surface: String,
    pub(crate) query: String,
    pub(crate) success: bool,
    pub(crate) response_text: Option<String>,
    pub(crate) data: Option<String>,
    pub(crate) latency_ms: Option<i64>,
    pub(crate) tokens_in: Option<i64>,
    pub(crate) tokens_out: Option<i64>,
    pub(crate) created_at: Stamp,
}

impl From<&StudyResult> for ResultRow {
    fn from(r: &StudyResult) -> Self {
        Self {
            tenant_id: r.tenant_id.to_string(),
            result_id: r.id.to_string(),
            study_id: r.study_id.to_string(),
            job_id: r.job_id.to_string(),
            surface: r.surface.clone(),
            query: r.query.clone(),
            success: r.success,
            response_text: r.response_text.clone(),
            data: r.data.clone(),
            latency_ms: r.metrics.latency_ms,
            tokens_in: r.metrics.tokens_in,
            tokens_out: r.metrics.tokens_out,
            created_at: stored(r.created_at),
        }
    }
}

impl TryFrom<ResultRow> for StudyResult {
    type Error = StorageError;

    fn try_from(row: ResultRow) -> Result<Self, StorageError> {
        let bad = corrupt(
            Entity::Result,
            format!("{}/{}", row.tenant_id, row.result_id),
        );
        Ok(StudyResult {
            tenant_id: TenantId::new(row.tenant_id).map_err(&bad)?,
            id: ResultId::new(row.result_id).map_err(&bad)?,
            study_id: StudyId::new(row.study_id).map_err(&bad)?,
            job_id: JobId::new(row.job_id).map_err(&bad)?,
            surface: row.surface,
            query: row.query,
            success: row.success,
            response_text: row.response_text,
            data: row.data,
            metrics: ResultMetrics {
                latency_ms: row.latency_ms,
                tokens_in: row.tokens_in,
                tokens_out: row.tokens_out,
            },
            created_at: utc(row.created_at),
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = evidence, primary_key(tenant_id, evidence_id))]
pub(crate) struct EvidenceRow {
    pub(crate) tenant_id: String,
    pub(crate) evidence_id: String,
    pub(crate) result_id: String,
    pub(crate) kind: String,
    pub(crate) uri: String,
    pub(crate) sha256: String,
    pub(crate) size_bytes: i64,
    pub(crate) content_type: String,
    pub(crate) captured_at: Stamp,
}

impl From<&Evidence> for EvidenceRow {
    fn from(e: &Evidence) -> Self {
        Self {
            tenant_id: e.tenant_id.to_string(),
            evidence_id: e.id.to_string(),
            result_id: e.result_id.to_string(),
            kind: e.kind.as_str().to_owned(),
            uri: e.uri.clone(),
            sha256: e.sha256.clone(),
            size_bytes: e.size_bytes,
            content_type: e.content_type.clone(),
            captured_at: stored(e.captured_at),
        }
    }
}

impl TryFrom<EvidenceRow> for Evidence {
    type Error = StorageError;

    fn try_from(row: EvidenceRow) -> Result<Self, StorageError> {
        let bad = corrupt(
            Entity::Evidence,
            format!("{}/{}", row.tenant_id, row.evidence_id),
        );
        Ok(Evidence {
            tenant_id: TenantId::new(row.tenant_id).map_err(&bad)?,
            id: EvidenceId::new(row.evidence_id).map_err(&bad)?,
            result_id: ResultId::new(row.result_id).map_err(&bad)?,
            kind: row.kind.parse().map_err(&bad)?,
            uri: row.uri,
            sha256: row.sha256,
            size_bytes: row.size_bytes,
            content_type: row.content_type,
            captured_at: utc(row.captured_at),
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = checkpoints, primary_key(tenant_id, study_id, sequence))]
pub(crate) struct CheckpointRow {
    pub(crate) tenant_id: String,
    pub(crate) study_id: String,
    pub(crate) sequence: i64,
    pub(crate) state: String,
    pub(crate) created_at: Stamp,
}

impl From<&Checkpoint> for CheckpointRow {
    fn from(c: &Checkpoint) -> Self {
        Self {
            tenant_id: c.tenant_id.to_string(),
            study_id: c.study_id.to_string(),
            sequence: c.sequence,
            state: c.state.clone(),
            created_at: stored(c.created_at),
        }
    }
}

impl TryFrom<CheckpointRow> for Checkpoint {
    type Error = StorageError;

    fn try_from(row: CheckpointRow) -> Result<Self, StorageError> {
        let bad = corrupt(
            Entity::Checkpoint,
            format!("{}/{}#{}", row.tenant_id, row.study_id, row.sequence),
        );
        Ok(Checkpoint {
            tenant_id: TenantId::new(row.tenant_id).map_err(&bad)?,
            study_id: StudyId::new(row.study_id).map_err(&bad)?,
            sequence: row.sequence,
            state: row.state,
            created_at: utc(row.created_at),
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_logs, primary_key(tenant_id, audit_id))]
pub(crate) struct AuditRow {
    pub(crate) tenant_id: String,
    pub(crate) audit_id: String,
    pub(crate) actor: String,
    pub(crate) action: String,
    pub(crate) entity_type: String,
    pub(crate) entity_id: String,
    pub(crate) details: String,
    pub(crate) at: Stamp,
    /// Orders the entries of one instant (see `studies::append_audit`).
    pub(crate) seq: i64,
}

impl AuditRow {
    pub(crate) fn new(a: &AuditEntry, seq: i64) -> Self {
        Self {
            tenant_id: a.tenant_id.to_string(),
            audit_id: a.id.to_string(),
            actor: a.actor.clone(),
            action: a.action.clone(),
            entity_type: a.entity_type.clone(),
            entity_id: a.entity_id.clone(),
            details: a.details.clone(),
            at: stored(a.at),
            seq,
        }
    }
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StorageError;

    fn try_from(row: AuditRow) -> Result<Self, StorageError> {
        let bad = corrupt(Entity::Audit, format!("{}/{}", row.tenant_id, row.audit_id));
        Ok(AuditEntry {
            tenant_id: TenantId::new(row.tenant_id).map_err(&bad)?,
            id: AuditId::new(row.audit_id).map_err(&bad)?,
            actor: row.actor,
            action: row.action,
            entity_type: row.entity_type,
            entity_id: row.entity_id,
            details: row.details,
            at: utc(row.at),
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = cost_records, primary_key(tenant_id, cost_record_id))]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct CostRow {
    pub(crate) tenant_id: String,
    pub(crate) cost_record_id: String,
    pub(crate) study_id: Option<String>,
    pub(crate) job_id: Option<String>,
    pub(crate) category: String,
    pub(crate) provider: String,
    pub(crate) quantity: String,
    pub(crate) unit: String,
    pub(crate) amount_minor: i64,
    pub(crate) currency: String,
    pub(crate) recorded_at: Stamp,
}

impl From<&CostRecord> for CostRow {
    fn from(c: &CostRecord) -> Self {
        Self {
            tenant_id: c.tenant_id.to_string(),
            cost_record_id: c.id.to_string(),
            study_id: c.study_id.as_ref().map(ToString::to_string),
            job_id: c.job_id.as_ref().map(ToString::to_string),
            category: c.category.clone(),
            provider: c.provider.clone(),
            quantity: c.quantity.clone(),
            unit: c.unit.clone(),
            amount_minor: c.amount.minor_units(),
            currency: c.amount.currency().code().to_owned(),
            recorded_at: stored(c.recorded_at),
        }
    }
}

impl TryFrom<CostRow> for CostRecord {
    type Error = StorageError;

    fn try_from(row: CostRow) -> Result<Self, StorageError> {
        let bad = corrupt(
            Entity::Cost,
            format!("{}/{}", row.tenant_id, row.cost_record_id),
        );
        let currency = Currency::parse(&row.currency).map_err(&bad)?;
        Ok(CostRecord {
            tenant_id: TenantId::new(row.tenant_id).map_err(&bad)?,
            id: CostRecordId::new(row.cost_record_id).map_err(&bad)?,
            study_id: row.study_id.map(StudyId::new).transpose().map_err(&bad)?,
            job_id: row.job_id.map(JobId::new).transpose().map_err(&bad)?,
            category: row.category,
            provider: row.provider,
            quantity: row.quantity,
            unit: row.unit,
            amount: Amount::from_minor_units(row.amount_minor, currency).map_err(&bad)?,
            recorded_at: utc(row.recorded_at),
        })
    }
}
