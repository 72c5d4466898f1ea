//! Studies under load: a study of 20,000 jobs worked by 8 workers completing each job with its
//! result, evidence and cost ends COMPLETED exactly once with statistics and costs that add up
//! to its jobs; a pause racing claims stops every claim that starts after it, and the jobs
//! claimed before it go on.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use chrono::TimeDelta;
use jobstore_conformance::{
    TestDb, backends,
    race::{at_once, retrying},
};
use jobstore_domain::{
    Amount, Cell, Currency, EvidenceKind, Job, JobId, JobStatus, Manifest, NewCostRecord,
    NewEvidence, NewJob, NewResult, NewStudy, ResultId, ResultMetrics, StudyState, TenantId,
};
use jobstore_storage::{
    ClaimRequest, Completion, CostFilter, JobRepository, StorageError, Store, StudyDataRepository,
    StudyRepository, WorkerRepository,
};

/// The queue of these cases' studies.
const QUEUE: &str = "study-work";
/// The big study: 5,000 queries × 4 surfaces.
const QUERIES: usize = 5_000;
const SURFACES: [&str; 4] = ["bing", "google", "perplexity", "chatgpt"];
const JOBS: usize = QUERIES * SURFACES.len();
const WORKERS: usize = 8;
/// Jobs per claim.
const BATCH: u32 = 100;
/// What each job costs, in euro cents.
const CENTS_PER_JOB: i64 = 7;

fn manifest(queries: usize, surfaces: &[&str]) -> Manifest {
    let queries: Vec<String> = (0..queries).map(|i| format!("q{i:05}")).collect();
    let json = serde_json::json!({
        "template": { "queue": QUEUE, "commands": ["crawl"], "maxRetries": 0 },
        "queries": queries,
        "surfaces": surfaces,
    });
    Manifest::parse(&json.to_string()).expect("a valid manifest")
}

/// The number of a job's query (`q00042` is 42).
fn query_number(cell: &Cell) -> usize {
    cell.query[1..].parse().expect("a numbered query")
}

/// Whether the job of `cell` succeeds: all but every tenth query.
fn succeeds(cell: &Cell) -> bool {
    query_number(cell) % 10 != 0
}

/// Whether the job of `cell` attaches evidence: every fifth query.
fn has_evidence(cell: &Cell) -> bool {
    query_number(cell) % 5 == 0
}

fn eur() -> Currency {
    Currency::parse("EUR").expect("EUR")
}

/// A worker: claims batches (started) until the queue is empty, and completes each batch with
/// its results, evidence and costs in one transaction. Returns the jobs it completed.
fn work(store: &Store, worker: usize) -> Vec<JobId> {
    let request = ClaimRequest {
        limit: BATCH,
        start: true,
        lease_for: TimeDelta::minutes(10),
        ..ClaimRequest::new(QUEUE, format!("worker-{worker}"))
    };
    let mut done = Vec::new();
    loop {
        let batch = retrying(|| store.claim(&request)).expect("claim");
        if batch.is_empty() {
            return done;
        }
        let (completions, costs): (Vec<Completion>, Vec<NewCostRecord>) =
            batch.iter().map(output).unzip();
        let completed = retrying(|| {
            store.transaction(|tx| {
                let completed = tx.complete_with_results(completions.clone())?;
                tx.record_costs(costs.clone())?;
                Ok(completed)
            })
        })
        .unwrap_or_else(|e| panic!("completing a batch of {}: {e}", batch.len()));
        done.extend(completed.into_iter().map(|c| c.job.id));
    }
}

/// A job's completion with its result (and evidence, for some), and its cost.
fn output(job: &Job) -> (Completion, NewCostRecord) {
    let cell = Cell::from_spec_json(job.spec.as_deref().expect("a spec")).expect("a cell");
    let study = job.study_id.clone().expect("a study job");
    let result = NewResult {
        tenant_id: job.tenant_id.clone(),
        id: Some(ResultId::generate()),
        study_id: study.clone(),
        job_id: job.id.clone(),
        surface: cell.surface.clone(),
        query: cell.query.clone(),
        success: succeeds(&cell),
        response_text: Some("an answer".into()),
        data: None,
        metrics: ResultMetrics {
            latency_ms: Some(120),
            ..ResultMetrics::default()
        },
    };
    let evidence: Vec<NewEvidence> = has_evidence(&cell)
        .then(|| NewEvidence {
            tenant_id: job.tenant_id.clone(),
            id: None,
            result_id: result.id.clone().expect("an id"),
            kind: EvidenceKind::Screenshot,
            uri: format!("s3://evidence/{}.png", job.id),
            sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
            size_bytes: 1024,
            content_type: "image/png".into(),
            captured_at: None,
        })
        .into_iter()
        .collect();
    let cost = NewCostRecord {
        tenant_id: job.tenant_id.clone(),
        id: None,
        study_id: Some(study),
        job_id: Some(job.id.clone()),
        category: "llm".into(),
        provider: cell.surface.clone(),
        quantity: "212".into(),
        unit: "tokens".into(),
        amount: Amount::from_minor_units(CENTS_PER_JOB, eur()).expect("an amount"),
    };
    let completion = Completion {
        lease: job.lease().expect("a lease"),
        result,
        evidence,
    };
    (completion, cost)
}

fn eight_workers_finish_a_study_of_20000_jobs_which_completes_exactly_once(
    db: &TestDb,
) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let manifest = manifest(QUERIES, &SURFACES);
    assert_eq!(manifest.cell_count(), JOBS);
    let study = db
        .store
        .create_study(NewStudy::new(tenant.clone(), "big"))?;
    let created = Instant::now();
    db.store
        .create_from_manifest(&tenant, &study.id, &manifest)?;
    let created = created.elapsed();

    let stores: Vec<Store> = (0..WORKERS)
        .map(|i| db.open_store().acting_as(format!("worker-{i}")))
        .collect();
    let worked = Instant::now();
    let done = at_once(&stores, work);
    let worked = worked.elapsed();
    eprintln!(
        "{}: {JOBS} jobs created from a manifest in {created:?}, worked by {WORKERS} workers in {worked:?}",
        db.backend
    );

    let completed: BTreeSet<&JobId> = done.iter().flatten().collect();
    assert_eq!(
        done.iter().map(Vec::len).sum::<usize>(),
        JOBS,
        "completions reported"
    );
    assert_eq!(completed.len(), JOBS, "each job completed once");

    let finished = db.store.get_study(&tenant, &study.id)?;
    assert_eq!(finished.state, StudyState::Completed);
    let states: Vec<StudyState> = db
        .store
        .study_history(&tenant, &study.id)?
        .iter()
        .map(|t| t.to_state)
        .collect();
    assert_eq!(
        states,
        [
            StudyState::Draft,
            StudyState::Queued,
            StudyState::Running,
            StudyState::Completed
        ]
    );
    assert_eq!(
        db.count_where(
            "study_transitions",
            &format!("study_id = '{}' AND to_state = 'COMPLETED'", study.id)
        ),
        1,
        "COMPLETED exactly once"
    );

    let stats = db.store.study_stats(&tenant, &study.id)?;
    let jobs = JobStatus::ALL.map(|s| (s, stats.jobs.get(s)));
    assert_eq!(stats.jobs.completed, JOBS as u64, "{jobs:?}");
    assert_eq!(stats.jobs.total(), JOBS as u64, "{jobs:?}");
    assert_eq!(stats.progress(), (JOBS as u64, JOBS as u64));
    assert_eq!(stats.jobs, db.store.study_progress(&tenant, &study.id)?);
    let per_query = SURFACES.len() as u64;
    assert_eq!(stats.results, JOBS as u64);
    assert_eq!(
        stats.successes,
        JOBS as u64 - QUERIES as u64 / 10 * per_query
    );
    let per_surface: BTreeMap<&str, (u64, u64)> = stats
        .per_surface
        .iter()
        .map(|s| (s.surface.as_str(), (s.results, s.successes)))
        .collect();
    let each = (QUERIES as u64, QUERIES as u64 / 10 * 9);
    assert_eq!(
        per_surface,
        SURFACES
            .iter()
            .map(|s| (*s, each))
            .collect::<BTreeMap<_, _>>()
    );
    assert_eq!(stats.evidence, QUERIES as u64 / 5 * per_query);
    let total_cents = CENTS_PER_JOB * JOBS as i64;
    assert_eq!(
        stats.cost,
        BTreeMap::from([("EUR".to_owned(), total_cents)])
    );
    assert_eq!(
        (stats.first_result_at, stats.last_result_at),
        (Some(db.now()), Some(db.now())),
        "the clock stood still"
    );

    for filter in [
        CostFilter {
            study: Some(study.id.clone()),
            ..CostFilter::default()
        },
        CostFilter {
            category: Some("llm".into()),
            ..CostFilter::default()
        },
        CostFilter::default(),
    ] {
        let totals = db.store.cost_totals(&tenant, &filter)?;
        assert_eq!(totals.len(), 1, "{filter:?}");
        assert_eq!(totals.get(eur()).minor_units(), total_cents, "{filter:?}");
    }
    assert_eq!(
        db.store
            .cost_totals(&tenant, &CostFilter::default())?
            .get(eur())
            .decimal(),
        format!("{}.{:02}", total_cents / 100, total_cents % 100)
    );

    assert_eq!(db.count("results"), JOBS as i64);
    assert_eq!(
        db.count_where(
            "jobs",
            "NOT EXISTS (SELECT 1 FROM results r \
             WHERE r.tenant_id = jobs.tenant_id AND r.job_id = jobs.job_id)"
        ),
        0,
        "every job has its result"
    );
    assert_eq!(
        db.count_where("job_state_transitions", "to_status = 'COMPLETED'"),
        JOBS as i64
    );
    for (worker, jobs) in done.iter().enumerate() {
        assert_eq!(
            db.count_where(
                "audit_logs",
                &format!("action = 'cost_record.created' AND actor = 'worker-{worker}'")
            ),
            jobs.len() as i64,
            "each cost is audited naming its worker"
        );
    }
    assert_eq!(
        db.count_where("audit_logs", "action = 'cost_record.created'"),
        JOBS as i64
    );
    Ok(())
}

/// What one thread of the pause race did.
enum Raced {
    /// A claimer's claims, each with whether it started after the pause had committed.
    Claims(Vec<(bool, Vec<Job>)>),
    /// The pause's outcome.
    Paused(Result<jobstore_domain::Study, StorageError>),
}

fn a_pause_racing_claims_stops_every_claim_after_it_and_keeps_the_claimed_jobs(
    db: &TestDb,
) -> Result<(), StorageError> {
    const STUDY_JOBS: usize = 3_000;
    const OTHER_JOBS: usize = 300;
    const CLAIMERS: usize = 6;
    let tenant: TenantId = db.tenant().id;
    let study = db
        .store
        .create_study(NewStudy::new(tenant.clone(), "raced"))?;
    db.store
        .create_from_manifest(&tenant, &study.id, &manifest(STUDY_JOBS, &["google"]))?;
    db.store.create_jobs(
        (0..OTHER_JOBS)
            .map(|_| NewJob {
                queue: QUEUE.into(),
                ..NewJob::new(tenant.clone())
            })
            .collect(),
    )?;

    let paused = AtomicBool::new(false);
    let claimed = AtomicUsize::new(0);
    let stores: Vec<Store> = (0..=CLAIMERS).map(|_| db.open_store()).collect();
    let raced = at_once(&stores, |store, i| {
        if i == CLAIMERS {
            let deadline = Instant::now() + Duration::from_secs(10);
            while claimed.load(Ordering::SeqCst) < 100 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_micros(200));
            }
            let outcome = retrying(|| store.pause_study(&tenant, &study.id));
            paused.store(true, Ordering::SeqCst);
            return Raced::Paused(outcome);
        }
        let request = ClaimRequest {
            limit: 5,
            start: true,
            lease_for: TimeDelta::minutes(10),
            ..ClaimRequest::new(QUEUE, format!("claimer-{i}"))
        };
        let mut claims = Vec::new();
        loop {
            let after_pause = paused.load(Ordering::SeqCst);
            let jobs = retrying(|| store.claim(&request)).expect("claim");
            claimed.fetch_add(jobs.len(), Ordering::SeqCst);
            let empty = jobs.is_empty();
            claims.push((after_pause, jobs));
            if empty && after_pause {
                return Raced::Claims(claims);
            }
            if empty {
                // Nothing claimable until the pause lands: no need to spin.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });

    let mut claims = Vec::new();
    for outcome in raced {
        match outcome {
            Raced::Claims(c) => claims.extend(c),
            Raced::Paused(p) => assert_eq!(p?.state, StudyState::Paused),
        }
    }
    let after: Vec<&Job> = claims
        .iter()
        .filter(|(after, _)| *after)
        .flat_map(|(_, jobs)| jobs)
        .collect();
    let leaked = after
        .iter()
        .filter(|j| j.study_id.as_ref() == Some(&study.id))
        .count();
    assert_eq!(
        leaked, 0,
        "claims started after the pause committed returned jobs of the study"
    );
    let every: Vec<&Job> = claims.iter().flat_map(|(_, jobs)| jobs).collect();
    let ids: BTreeSet<&JobId> = every.iter().map(|j| &j.id).collect();
    assert_eq!(ids.len(), every.len(), "no job claimed twice");
    let of_study: Vec<&&Job> = every
        .iter()
        .filter(|j| j.study_id.as_ref() == Some(&study.id))
        .collect();
    assert_eq!(
        every.len() - of_study.len(),
        OTHER_JOBS,
        "the pause does not stop other jobs being claimed"
    );
    let held = STUDY_JOBS - of_study.len();
    assert!(
        held > 0,
        "the pause, started after 100 claims, landed only once all {STUDY_JOBS} jobs were claimed"
    );
    eprintln!(
        "{}: {} of the study's {STUDY_JOBS} jobs claimed before the pause",
        db.backend,
        of_study.len()
    );

    let progress = db.store.study_progress(&tenant, &study.id)?;
    assert_eq!(
        (progress.pending, progress.running, progress.assigned),
        (held as u64, of_study.len() as u64, 0),
        "claimed jobs stay RUNNING, the others PENDING"
    );
    for job in &of_study {
        assert_eq!(
            db.store.get_job(&tenant, &job.id)?.status,
            JobStatus::Running
        );
    }
    assert_eq!(
        db.store.get_study(&tenant, &study.id)?.state,
        StudyState::Paused
    );

    db.store.resume_study(&tenant, &study.id)?;
    let request = ClaimRequest {
        limit: 1000,
        ..ClaimRequest::new(QUEUE, "after-resume")
    };
    let mut rest = Vec::new();
    loop {
        let jobs = db.store.claim(&request)?;
        if jobs.is_empty() {
            break;
        }
        rest.extend(jobs);
    }
    assert_eq!(rest.len(), held, "the held jobs are claimable again");
    assert!(rest.iter().all(|j| j.study_id.as_ref() == Some(&study.id)));
    assert!(rest.iter().all(|j| !ids.contains(&j.id)));
    Ok(())
}

backends!(
    eight_workers_finish_a_study_of_20000_jobs_which_completes_exactly_once,
    a_pause_racing_claims_stops_every_claim_after_it_and_keeps_the_claimed_jobs
);
