//! Every repository call opens a span that says what it did, and every statement is an event,
//! seen by whatever subscriber the application installs (the library installs none).

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, PoisonError},
};

use jobstore_conformance::{TestDb, backends};
use jobstore_domain::{JobId, NewJob};
use jobstore_storage::{JobRepository, TenantRepository};
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
            self.seen(|seen| seen.statements += 1);
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

backends!(every_call_opens_a_span_saying_what_it_did);
