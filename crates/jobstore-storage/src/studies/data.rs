//! Results, evidence, checkpoints, cost records and the audit log: the queries behind
//! [`StudyDataRepository`]. Statistics and sums are aggregated by the database, over indexes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use jobstore_domain::{
    Amount, AuditAction, AuditEntry, Checkpoint, CostRecord, CostTotals, Currency, Cursor,
    Evidence, Lease, NewCheckpoint, NewCostRecord, NewEvidence, NewResult, Page, PageRequest,
    ResultId, StudyId, StudyResult, StudyStats, SurfaceStats, TenantId,
};

use super::{
    append_audit, audit, audit_entry,
    lifecycle::job_counts,
    live_study, lock_study, next_cursor,
    rows::{AuditRow, CheckpointRow, CostRow, EvidenceRow, ResultRow},
};
use crate::{
    AuditFilter, Completed, Completion, CostFilter, DbConnection, Entity, StorageError,
    StudyDataRepository, dialect,
    rows::{stored, utc},
    schema::{audit_logs, checkpoints, evidence, jobs, results},
    stamp::Stamp,
    store::{Session, Settings},
    trace::Call,
    workers::decide_completions,
    writer::{self, Guard},
};

impl<S: Session> StudyDataRepository for S {
    fn complete_with_result(
        &self,
        lease: &Lease,
        result: NewResult,
        evidence: Vec<NewEvidence>,
    ) -> Result<Completed, StorageError> {
        let call = Call::new("complete_with_result").job(&lease.tenant_id, &lease.job_id);
        let completion = Completion {
            lease: lease.clone(),
            result,
            evidence,
        };
        self.write(call, |conn, settings| {
            let mut completed = complete(conn, settings, vec![completion.clone()])?;
            Ok(completed.remove(0))
        })
    }

    fn complete_with_results(
        &self,
        completions: Vec<Completion>,
    ) -> Result<Vec<Completed>, StorageError> {
        self.write(Call::new("complete_with_results"), |conn, settings| {
            complete(conn, settings, completions.clone())
        })
    }

    fn create_result(&self, result: NewResult) -> Result<StudyResult, StorageError> {
        let tenant = result.tenant_id.clone();
        self.write(
            Call::new("create_result").tenant(&tenant),
            |conn, settings| insert_result(conn, result, settings.now()),
        )
    }

    fn list_results(
        &self,
        tenant: &TenantId,
        study: &StudyId,
        surface: Option<String>,
        page: &PageRequest,
    ) -> Result<Page<StudyResult>, StorageError> {
        self.read(Call::new("list_results").tenant(tenant), |conn, _| {
            page.validate()?;
            live_study(conn, tenant, study)?;
            let mut query = results::table
                .filter(results::tenant_id.eq(tenant.as_str()))
                .filter(results::study_id.eq(study.as_str()))
                .order((results::created_at, results::result_id))
                .limit(i64::from(page.limit) + 1)
                .select(ResultRow::as_select())
                .into_boxed();
            if let Some(surface) = surface {
                query = query.filter(results::surface.eq(surface));
            }
            if let Some(after) = &page.after {
                let (at, id) = after.position()?;
                let at = stored(at);
                query = query.filter(
                    results::created_at
                        .gt(at)
                        .or(results::created_at.eq(at).and(results::result_id.gt(id))),
                );
            }
            let mut items = query
                .load(conn)?
                .into_iter()
                .map(StudyResult::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            let next = next_cursor(&mut items, page, |r| (r.created_at, r.id.as_str()));
            Ok(Page { items, next })
        })
    }

    fn attach_evidence(&self, new: NewEvidence) -> Result<Evidence, StorageError> {
        let tenant = new.tenant_id.clone();
        self.write(
            Call::new("attach_evidence").tenant(&tenant),
            |conn, settings| {
                let result = read_result(conn, &tenant, &new.result_id)?;
                live_study(conn, &tenant, &result.study_id)?;
                insert_evidence(conn, &result, new, settings.now())
            },
        )
    }

    fn list_evidence(
        &self,
        tenant: &TenantId,
        result: &ResultId,
    ) -> Result<Vec<Evidence>, StorageError> {
        self.read(Call::new("list_evidence").tenant(tenant), |conn, _| {
            let of = read_result(conn, tenant, result)?;
            live_study(conn, tenant, &of.study_id)?;
            evidence::table
                .filter(evidence::tenant_id.eq(tenant.as_str()))
                .filter(evidence::result_id.eq(result.as_str()))
                .order((evidence::captured_at, evidence::evidence_id))
                .select(EvidenceRow::as_select())
                .load(conn)?
                .into_iter()
                .map(Evidence::try_from)
                .collect()
        })
    }

    fn study_stats(&self, tenant: &TenantId, study: &StudyId) -> Result<StudyStats, StorageError> {
        self.read(Call::new("study_stats").tenant(tenant), |conn, _| {
            live_study(conn, tenant, study)?;
            let jobs = job_counts(conn, tenant, study)?;
            let by_surface: Vec<(String, bool, i64)> = results::table
                .filter(results::tenant_id.eq(tenant.as_str()))
                .filter(results::study_id.eq(study.as_str()))
                .group_by((results::surface, results::success))
                .select((
                    results::surface,
                    results::success,
                    diesel::dsl::count_star(),
                ))
                .order(results::surface)
                .load(conn)?;
            let mut per_surface: Vec<SurfaceStats> = Vec::new();
            for (surface, success, n) in by_surface {
                let n = u64::try_from(n).unwrap_or(0);
                if per_surface.last().map(|s| &s.surface) != Some(&surface) {
                    per_surface.push(SurfaceStats {
                        surface,
                        results: 0,
                        successes: 0,
                    });
                }
                if let Some(last) = per_surface.last_mut() {
                    last.results += n;
                    if success {
                        last.successes += n;
                    }
                }
            }
            let evidence_count: i64 = evidence::table
                .inner_join(
                    results::table.on(results::tenant_id
                        .eq(evidence::tenant_id)
                        .and(results::result_id.eq(evidence::result_id))),
                )
                .filter(results::tenant_id.eq(tenant.as_str()))
                .filter(results::study_id.eq(study.as_str()))
                .count()
                .get_result(conn)?;
            let result_time =
                |conn: &mut DbConnection, newest: bool| -> QueryResult<Option<Stamp>> {
                    let of_study = results::table
                        .filter(results::tenant_id.eq(tenant.as_str()))
                        .filter(results::study_id.eq(study.as_str()))
                        .select(results::created_at);
                    if newest {
                        of_study
                            .order(results::created_at.desc())
                            .first(conn)
                            .optional()
                    } else {
                        of_study
                            .order(results::created_at.asc())
                            .first(conn)
                            .optional()
                    }
                };
            let first = result_time(conn, false)?;
            let last = result_time(conn, true)?;
            let filter = CostFilter {
                study: Some(study.clone()),
                ..CostFilter::default()
            };
            let cost = sums(conn, tenant, &filter)?
                .iter()
                .map(|a| (a.currency().code().to_owned(), a.minor_units()))
                .collect();
            Ok(StudyStats {
                jobs,
                results: per_surface.iter().map(|s| s.results).sum(),
                successes: per_surface.iter().map(|s| s.successes).sum(),
                per_surface,
                evidence: u64::try_from(evidence_count).unwrap_or(0),
                cost,
                first_result_at: first.map(utc),
                last_result_at: last.map(utc),
            })
        })
    }

    fn save_checkpoint(&self, new: NewCheckpoint) -> Result<Checkpoint, StorageError> {
        let tenant = new.tenant_id.clone();
        self.write(
            Call::new("save_checkpoint").tenant(&tenant),
            |conn, settings| {
                let checkpoint = new.into_checkpoint(settings.now())?;
                // Saves of one study take turns: each sees the latest the one before saved.
                lock_study(conn, &tenant, &checkpoint.study_id)?;
                let latest = latest(conn, &tenant, &checkpoint.study_id)?;
                checkpoint.follows(latest.as_ref())?;
                diesel::insert_into(checkpoints::table)
                    .values(CheckpointRow::from(&checkpoint))
                    .execute(conn)
                    .map_err(|e| {
                        StorageError::from(e).already_exists(
                            Entity::Checkpoint,
                            Some(format!("{}#{}", checkpoint.study_id, checkpoint.sequence)),
                        )
                    })?;
                audit(
                    conn,
                    settings,
                    &tenant,
                    AuditAction::CheckpointSaved,
                    checkpoint.study_id.as_str(),
                    serde_json::json!({ "sequence": checkpoint.sequence }),
                )?;
                Ok(checkpoint)
            },
        )
    }

    fn latest_checkpoint(
        &self,
        tenant: &TenantId,
        study: &StudyId,
    ) -> Result<Option<Checkpoint>, StorageError> {
        self.read(Call::new("latest_checkpoint").tenant(tenant), |conn, _| {
            live_study(conn, tenant, study)?;
            latest(conn, tenant, study)
        })
    }

    fn list_checkpoints(
        &self,
        tenant: &TenantId,
        study: &StudyId,
    ) -> Result<Vec<Checkpoint>, StorageError> {
        self.read(Call::new("list_checkpoints").tenant(tenant), |conn, _| {
            live_study(conn, tenant, study)?;
            checkpoints::table
                .filter(checkpoints::tenant_id.eq(tenant.as_str()))
                .filter(checkpoints::study_id.eq(study.as_str()))
                .order(checkpoints::sequence)
                .select(CheckpointRow::as_select())
                .load(conn)?
                .into_iter()
                .map(Checkpoint::try_from)
                .collect()
        })
    }

    fn prune_checkpoints(
        &self,
        tenant: &TenantId,
        study: &StudyId,
        keep: u32,
    ) -> Result<u64, StorageError> {
        self.write(
            Call::new("prune_checkpoints").tenant(tenant),
            |conn, settings| {
                live_study(conn, tenant, study)?;
                // The oldest checkpoint kept, if any is deleted: everything before it goes.
                let oldest_kept: Option<i64> = checkpoints::table
                    .filter(checkpoints::tenant_id.eq(tenant.as_str()))
                    .filter(checkpoints::study_id.eq(study.as_str()))
                    .order(checkpoints::sequence.desc())
                    .offset(i64::from(keep.max(1)) - 1)
                    .select(checkpoints::sequence)
                    .first(conn)
                    .optional()?;
                let of_study = checkpoints::table
                    .filter(checkpoints::tenant_id.eq(tenant.as_str()))
                    .filter(checkpoints::study_id.eq(study.as_str()));
                let deleted = match (keep, oldest_kept) {
                    (0, _) => diesel::delete(of_study).execute(conn)?,
                    (_, Some(oldest)) => {
                        diesel::delete(of_study.filter(checkpoints::sequence.lt(oldest)))
                            .execute(conn)?
                    }
                    (_, None) => 0,
                };
                if deleted > 0 {
                    audit(
                        conn,
                        settings,
                        tenant,
                        AuditAction::CheckpointPruned,
                        study.as_str(),
                        serde_json::json!({ "deleted": deleted, "kept": keep }),
                    )?;
                }
                Ok(deleted as u64)
            },
        )
    }

    fn record_cost(&self, new: NewCostRecord) -> Result<CostRecord, StorageError> {
        let tenant = new.tenant_id.clone();
        self.write(
            Call::new("record_cost").tenant(&tenant),
            |conn, settings| {
                let mut recorded = record(conn, settings, vec![new.clone()])?;
                Ok(recorded.remove(0))
            },
        )
    }

    fn record_costs(&self, costs: Vec<NewCostRecord>) -> Result<Vec<CostRecord>, StorageError> {
        self.write(Call::new("record_costs"), |conn, settings| {
            record(conn, settings, costs.clone())
        })
    }

    fn cost_totals(
        &self,
        tenant: &TenantId,
        filter: &CostFilter,
    ) -> Result<CostTotals, StorageError> {
        self.read(Call::new("cost_totals").tenant(tenant), |conn, _| {
            sums(conn, tenant, filter)
        })
    }

    fn audit_log(
        &self,
        tenant: &TenantId,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>, StorageError> {
        self.read(Call::new("audit_log").tenant(tenant), |conn, _| {
            page.validate()?;
            let mut query = audit_logs::table
                .filter(audit_logs::tenant_id.eq(tenant.as_str()))
                .order((audit_logs::at, audit_logs::seq, audit_logs::audit_id))
                .limit(i64::from(page.limit) + 1)
                .select(AuditRow::as_select())
                .into_boxed();
            if let Some((entity_type, entity_id)) = &filter.entity {
                query = query
                    .filter(audit_logs::entity_type.eq(entity_type.clone()))
                    .filter(audit_logs::entity_id.eq(entity_id.clone()));
            }
            if let Some(from) = filter.from {
                jobstore_domain::check_time("from", from)?;
                query = query.filter(audit_logs::at.ge(stored(from)));
            }
            if let Some(until) = filter.until {
                jobstore_domain::check_time("until", until)?;
                query = query.filter(audit_logs::at.lt(stored(until)));
            }
            if let Some(after) = &page.after {
                let (at, seq, id) = audit_position(after)?;
                query = query.filter(
                    audit_logs::at.gt(at).or(audit_logs::at.eq(at).and(
                        audit_logs::seq
                            .gt(seq)
                            .or(audit_logs::seq.eq(seq).and(audit_logs::audit_id.gt(id))),
                    )),
                );
            }
            let mut rows = query.load(conn)?;
            let next = (rows.len() > page.limit as usize)
                .then(|| {
                    rows.truncate(page.limit as usize);
                    rows.last().map(|row| {
                        Cursor::after(utc(row.at), &format!("{}/{}", row.seq, row.audit_id))
                    })
                })
                .flatten();
            let items = rows
                .into_iter()
                .map(AuditEntry::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page { items, next })
        })
    }
}

/// Completes jobs under their leases and stores their results and evidence: decided first,
/// then written a statement per table.
fn complete(
    conn: &mut DbConnection,
    settings: &Settings,
    completions: Vec<Completion>,
) -> Result<Vec<Completed>, StorageError> {
    let now = settings.now();
    let leases: Vec<Lease> = completions.iter().map(|c| c.lease.clone()).collect();
    for completion in &completions {
        let (lease, result) = (&completion.lease, &completion.result);
        if result.tenant_id != lease.tenant_id || result.job_id != lease.job_id {
            return Err(invalid("result", "must be of the job the lease holds"));
        }
    }
    let updates = decide_completions(conn, &leases, now)?;
    let mut studies: Vec<(&TenantId, &StudyId)> = Vec::new();
    let mut outputs = Vec::with_capacity(completions.len());
    for (completion, update) in completions.into_iter().zip(&updates) {
        let result = completion.result.into_result(now)?;
        if update.job.study_id.as_ref() != Some(&result.study_id) {
            return Err(invalid("job_id", "is not a job of this study"));
        }
        let evidence = completion
            .evidence
            .into_iter()
            .map(|new| evidence_of(&result, new, now))
            .collect::<Result<Vec<_>, _>>()?;
        outputs.push((result, evidence));
    }
    for (update, (result, _)) in updates.iter().zip(&outputs) {
        if !studies.contains(&(&update.job.tenant_id, &result.study_id)) {
            studies.push((&update.job.tenant_id, &result.study_id));
        }
    }
    for (tenant, study) in studies {
        live_study(conn, tenant, study)?;
    }
    let moved_on = writer::store(conn, settings, &updates, Guard::Version)?;
    for chunk in outputs.chunks(writer::CHUNK) {
        let rows: Vec<ResultRow> = chunk.iter().map(|(r, _)| ResultRow::from(r)).collect();
        dialect::insert_results(conn, &rows).map_err(|e| {
            StorageError::from(e)
                .already_exists(Entity::Result, one_id(chunk, |(r, _)| r.id.to_string()))
        })?;
    }
    let evidence: Vec<EvidenceRow> = outputs
        .iter()
        .flat_map(|(_, evidence)| evidence.iter().map(EvidenceRow::from))
        .collect();
    for chunk in evidence.chunks(writer::CHUNK) {
        dialect::insert_evidence(conn, chunk).map_err(|e| {
            StorageError::from(e)
                .already_exists(Entity::Evidence, one_id(chunk, |e| e.evidence_id.clone()))
        })?;
    }
    Ok(writer::as_stored(updates, &moved_on)
        .into_iter()
        .zip(outputs)
        .map(|(job, (result, evidence))| Completed {
            job,
            result,
            evidence,
        })
        .collect())
}

/// The id a write of `rows` collided on, when it wrote one row.
fn one_id<T>(rows: &[T], id_of: impl Fn(&T) -> String) -> Option<String> {
    match rows {
        [one] => Some(id_of(one)),
        _ => None,
    }
}

/// Records costs, each with its audit entry, a statement per table.
fn record(
    conn: &mut DbConnection,
    settings: &Settings,
    costs: Vec<NewCostRecord>,
) -> Result<Vec<CostRecord>, StorageError> {
    let now = settings.now();
    let records = costs
        .into_iter()
        .map(|cost| cost.into_record(now))
        .collect::<Result<Vec<_>, _>>()?;
    crate::tenants::ensure_live_tenants(conn, records.iter().map(|r| &r.tenant_id))?;
    let mut studies: Vec<(&TenantId, &StudyId)> = records
        .iter()
        .filter_map(|r| r.study_id.as_ref().map(|s| (&r.tenant_id, s)))
        .collect();
    studies.sort_unstable();
    studies.dedup();
    for (tenant, study) in studies {
        live_study(conn, tenant, study)?;
    }
    let entries = records
        .iter()
        .map(|record| {
            audit_entry(
                settings,
                &record.tenant_id,
                AuditAction::CostRecordCreated,
                record.id.as_str(),
                serde_json::json!({
                    "amount": record.amount.decimal(),
                    "currency": record.amount.currency().code(),
                    "category": record.category,
                }),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    for chunk in records.chunks(writer::CHUNK) {
        let rows: Vec<CostRow> = chunk.iter().map(CostRow::from).collect();
        dialect::insert_costs(conn, &rows).map_err(|e| {
            StorageError::from(e).already_exists(Entity::Cost, one_id(chunk, |r| r.id.to_string()))
        })?;
    }
    append_audit(conn, &entries)?;
    Ok(records)
}

/// Where an audit-log cursor points after: a time, and the entry's count and id.
fn audit_position(after: &Cursor) -> Result<(Stamp, i64, String), StorageError> {
    let (at, rest) = after.position()?;
    let bad = || invalid("cursor", "is not a cursor this listing gave");
    let (seq, id) = rest.split_once('/').ok_or_else(bad)?;
    Ok((stored(at), seq.parse().map_err(|_| bad())?, id.to_owned()))
}

fn invalid(field: &'static str, reason: &str) -> StorageError {
    jobstore_domain::DomainError::Validation {
        field,
        reason: reason.to_owned(),
    }
    .into()
}

fn latest(
    conn: &mut DbConnection,
    tenant: &TenantId,
    study: &StudyId,
) -> Result<Option<Checkpoint>, StorageError> {
    checkpoints::table
        .filter(checkpoints::tenant_id.eq(tenant.as_str()))
        .filter(checkpoints::study_id.eq(study.as_str()))
        .order(checkpoints::sequence.desc())
        .select(CheckpointRow::as_select())
        .first(conn)
        .optional()?
        .map(Checkpoint::try_from)
        .transpose()
}

fn read_result(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &ResultId,
) -> Result<StudyResult, StorageError> {
    results::table
        .find((tenant.as_str(), id.as_str()))
        .select(ResultRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| StorageError::NotFound {
            entity: Entity::Result,
            id: format!("{tenant}/{id}"),
        })?
        .try_into()
}

/// Stores a result of a study's job: the job must be the study's.
fn insert_result(
    conn: &mut DbConnection,
    new: NewResult,
    now: DateTime<Utc>,
) -> Result<StudyResult, StorageError> {
    let result = new.into_result(now)?;
    live_study(conn, &result.tenant_id, &result.study_id)?;
    // The job before the study, as a worker's report takes them: MySQL's foreign-key checks
    // of the insert below lock both.
    dialect::lock_job(conn, result.tenant_id.as_str(), result.job_id.as_str())?;
    let study_of_job: Option<Option<String>> = jobs::table
        .find((result.tenant_id.as_str(), result.job_id.as_str()))
        .select(jobs::study_id)
        .first(conn)
        .optional()?;
    match study_of_job {
        None => {
            return Err(crate::jobs::not_found(&result.tenant_id, &result.job_id));
        }
        Some(study) if study.as_deref() != Some(result.study_id.as_str()) => {
            return Err(invalid("job_id", "is not a job of this study"));
        }
        Some(_) => {}
    }
    dialect::insert_results(conn, &[ResultRow::from(&result)]).map_err(|e| {
        StorageError::from(e).already_exists(
            Entity::Result,
            Some(format!(
                "{} (or a result of job {})",
                result.id, result.job_id
            )),
        )
    })?;
    Ok(result)
}

fn insert_evidence(
    conn: &mut DbConnection,
    result: &StudyResult,
    new: NewEvidence,
    now: DateTime<Utc>,
) -> Result<Evidence, StorageError> {
    let evidence = evidence_of(result, new, now)?;
    dialect::insert_evidence(conn, &[EvidenceRow::from(&evidence)]).map_err(|e| {
        StorageError::from(e).already_exists(Entity::Evidence, Some(evidence.id.to_string()))
    })?;
    Ok(evidence)
}

/// Evidence for `result`, as the domain checks it.
fn evidence_of(
    result: &StudyResult,
    new: NewEvidence,
    now: DateTime<Utc>,
) -> Result<Evidence, StorageError> {
    if new.tenant_id != result.tenant_id || new.result_id != result.id {
        return Err(invalid(
            "result_id",
            "must name the result it is attached to",
        ));
    }
    Ok(new.into_evidence(now)?)
}

/// Sums cost records per currency, in the database, exactly.
fn sums(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: &CostFilter,
) -> Result<CostTotals, StorageError> {
    for at in [filter.from, filter.until].into_iter().flatten() {
        jobstore_domain::check_time("recorded_at", at)?;
    }
    let mut totals = CostTotals::default();
    for (code, total) in dialect::cost_sums(
        conn,
        tenant.as_str(),
        filter.study.as_ref().map(StudyId::as_str),
        filter.category.as_deref(),
        filter.from.map(stored),
        filter.until.map(stored),
    )? {
        let currency = Currency::parse(&code)?;
        let minor: i64 = total
            .parse()
            .map_err(|_| jobstore_domain::DomainError::Validation {
                field: "amount",
                reason: format!("the total in {currency} is too large"),
            })?;
        totals.add(&Amount::from_minor_units(minor, currency)?)?;
    }
    Ok(totals)
}
