//! Every repository call opens a span that says what it did, and every statement is an event,
//! seen by whatever subscriber the application installs (the library installs none).

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, PoisonError},
};

use jobstore_conformance::{TestBackend, TestDb, backends};
use jobstore_domain::{JobId, NewJob};
use jobstore_storage::{ClaimRequest, JobRepository, TenantRepository, WorkerRepository};
use tracing::{
    Event, Id, Metadata, Subscriber,
    field::{Field, Visit},
    span::{Attributes, Record},
};
use tracing_core::span::Current;

/// The spans and statements a call produced: just enough of a subscriber to read them back.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Seen>>);

#[derive(Default)]
struct Seen {
    spans: Vec<(&'static Metadata<'static>, HashMap<String, String>)>,
    stack: Vec<u64>,
    statements: usize,
    /// The SQL of each statement, in order.
    sql: Vec<String>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Recorder {
    fn seen<T>(&self, f: impl FnOnce(&mut Seen) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The fields of the spans of repository method `op`.
    fn calls(&self, op: &str) -> Vec<HashMap<String, String>> {
        self.seen(|seen| {
            seen.spans
                .iter()
                .filter(|(_, fields)| fields.get("op").map(String::as_str) == Some(op))
                .map(|(_, fields)| fields.clone())
                .collect()
        })
    }
}

impl Subscriber for Recorder {
    // Asked per event, never cached for the callsite: the cases run in parallel, each with a
    // recorder of its own on its thread, beside threads with none.
    fn register_callsite(&self, _: &'static Metadata<'static>) -> tracing_core::Interest {
        tracing_core::Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("jobstore")
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.seen(|seen| {
            let mut fields = HashMap::new();
            span.record(&mut Fields(&mut fields));
            seen.spans.push((span.metadata(), fields));
            Id::from_u64(seen.spans.len() as u64)
        })
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        self.seen(|seen| {
            let index = span.into_u64() as usize - 1;
            values.record(&mut Fields(&mut seen.spans[index].1));
        });
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        if event.metadata().target() == "jobstore::sql" {
            let mut fields = HashMap::new();
            event.record(&mut Fields(&mut fields));
            self.seen(|seen| {
                seen.statements += 1;
                seen.sql.extend(fields.remove("message"));
            });
        }
    }

    fn enter(&self, span: &Id) {
        self.seen(|seen| seen.stack.push(span.into_u64()));
    }

    fn exit(&self, _: &Id) {
        self.seen(|seen| seen.stack.pop());
    }

    fn current_span(&self) -> Current {
        self.seen(|seen| match seen.stack.last() {
            Some(&id) => Current::new(Id::from_u64(id), seen.spans[id as usize - 1].0),
            None => Current::none(),
        })
    }
}

fn every_call_opens_a_span_saying_what_it_did(db: &TestDb) {
    let tenant = db.tenant();
    let recorder = Recorder::default();
    let missing = JobId::new("missing").expect("id");
    let job = tracing::subscriber::with_default(recorder.clone(), || {
        let job = db
            .store
            .create_job(NewJob::new(tenant.id.clone()))
            .expect("create");
        db.store.get_job(&tenant.id, &missing).expect_err("missing");
        db.store.get_tenant(&tenant.id).expect("get tenant");
        job
    });
    let created = recorder.calls("create_job");
    assert_eq!(created.len(), 1);
    let fields = &created[0];
    assert_eq!(fields["backend"], db.backend.name());
    assert_eq!(fields["tenant"], tenant.id.as_str());
    assert_eq!(fields["rows"], "1");
    assert_eq!(fields["outcome"], "ok");
    let failed = &recorder.calls("get_job")[0];
    assert_eq!(failed["job"], missing.as_str());
    assert_eq!(failed["outcome"], "error");
    assert_eq!(failed["error_kind"], "NotFound");
    assert_eq!(recorder.calls("get_tenant").len(), 1);
    assert!(
        recorder.seen(|seen| seen.statements) >= 3,
        "each statement is an event"
    );
    assert_eq!(job.tenant_id, tenant.id);
}

/// The claim and the reaper are served by their partial indexes on PostgreSQL and SQLite, in
/// every plan of their prepared statements: the statements as traced, explained on the database.
/// (MySQL has no partial indexes; its whole ones lead with the status.)
fn claims_and_the_reaper_use_their_partial_indexes(db: &TestDb) {
    let tenant = db.tenant();
    db.job(&tenant.id);
    let recorder = Recorder::default();
    tracing::subscriber::with_default(recorder.clone(), || {
        db.store
            .claim(&ClaimRequest::new("default", "w"))
            .expect("claim");
        db.store.reap(10).expect("reap");
    });
    let statement = |marker: &str| {
        recorder.seen(|seen| {
            seen.sql
                .iter()
                .find(|sql| sql.contains(marker) && sql.contains("LIMIT"))
                .cloned()
                .unwrap_or_else(|| panic!("no statement with {marker}: {:?}", seen.sql))
        })
    };
    let claim = statement("status = 'PENDING'");
    let reap = statement("status IN ('ASSIGNED', 'RUNNING')");
    let plans: Vec<String> = match db.backend {
        TestBackend::Sqlite => vec![sqlite_plan(db, &claim), sqlite_plan(db, &reap)],
        TestBackend::Postgres => vec![
            postgres_generic_plan(db, &claim, "'default', '2030-01-01', 1"),
            postgres_generic_plan(db, &reap, "'2030-01-01', 10"),
        ],
        TestBackend::Mysql => return,
    };
    assert!(plans[0].contains("jobs_claimable"), "claim: {}", plans[0]);
    assert!(plans[1].contains("jobs_leases"), "reaper: {}", plans[1]);
    for index in ["jobs_claimable", "jobs_leases"] {
        let definition = index_definition(db, index);
        assert!(
            definition.contains("WHERE"),
            "{index} is partial: {definition}"
        );
    }
}

/// How the schema defines `index` (PostgreSQL and SQLite).
fn index_definition(db: &TestDb, index: &str) -> String {
    use diesel::{RunQueryDsl, sql_query};
    #[derive(diesel::QueryableByName)]
    struct Definition {
        #[diesel(sql_type = diesel::sql_types::Text)]
        definition: String,
    }
    let sql = match db.backend {
        TestBackend::Postgres => {
            format!("SELECT indexdef AS definition FROM pg_indexes WHERE indexname = '{index}'")
        }
        _ => format!("SELECT sql AS definition FROM sqlite_master WHERE name = '{index}'"),
    };
    sql_query(sql)
        .get_result::<Definition>(&mut db.connect())
        .expect("index definition")
        .definition
}

/// SQLite's plan of `sql`.
fn sqlite_plan(db: &TestDb, sql: &str) -> String {
    use diesel::{RunQueryDsl, sql_query};
    #[derive(diesel::QueryableByName)]
    struct Step {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }
    sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
        .load::<Step>(&mut db.connect())
        .expect("explain")
        .into_iter()
        .map(|step| step.detail)
        .collect::<Vec<_>>()
        .join("; ")
}

/// PostgreSQL's generic plan of `sql` as a prepared statement (the plan that knows nothing of
/// the bound values), run with `arguments`.
fn postgres_generic_plan(db: &TestDb, sql: &str, arguments: &str) -> String {
    use diesel::{RunQueryDsl, connection::SimpleConnection, sql_query};
    #[derive(diesel::QueryableByName)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
        line: String,
    }
    let mut conn = db.connect();
    conn.batch_execute(&format!(
        "SET plan_cache_mode = force_generic_plan; PREPARE q AS {sql}"
    ))
    .expect("prepare");
    sql_query(format!("EXPLAIN EXECUTE q({arguments})"))
        .load::<Line>(&mut conn)
        .expect("explain")
        .into_iter()
        .map(|line| line.line)
        .collect::<Vec<_>>()
        .join("; ")
}

backends!(
    every_call_opens_a_span_saying_what_it_did,
    claims_and_the_reaper_use_their_partial_indexes
);
