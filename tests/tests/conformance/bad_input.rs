//! Bad input: over-long and malformed values get a typed error and write nothing; text full of
//! SQL metacharacters is stored and read back exactly; rows written by hand are refused by the
//! database or read back as `CorruptRow`, never a panic; bad URLs are named.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use jobstore_conformance::{TestDb, assert_matches, backends};
use jobstore_domain::{
    Change, DomainError, Job, JobId, JobStatus, LeaseGrant, MAX_TEXT_BYTES, NewJob, NewTenant,
    OAuthIdentity, TenantId, TenantUpdate,
};
use jobstore_storage::{
    Backend, DbConnection, Entity, JobRepository, StorageError, Store, TenantRepository,
};

/// Text that breaks naive SQL, LIKE patterns, JSON or encodings.
const NASTY: &[&str] = &[
    "'; DROP TABLE jobs; --",
    "Robert'); DROP TABLE tenants;--",
    "\"double\" and 'single' and `back` quotes",
    "back\\slash \\' \\\" \\\\ \\n \\0 \\x00",
    "100% of _all_ rows",
    "%",
    "_",
    "line\nbreak\ttab\rreturn",
    "$1 ? :name @var ${x}",
    "/* comment */ -- comment # comment",
    "日本語のテキスト",
    "Ελληνικά · ümlaut · ñ · ß",
    "emoji 🚀🔥 family 👩\u{200d}👩\u{200d}👧 flag 🇫🇷",
    "\u{200b}zero width\u{feff} and \u{202e}right to left",
    "\\u0000 spelled out",
    "<script>alert(1)</script>&amp;",
];

/// Ids no backend should see: each must be refused before any query.
const BAD_IDS: &[&str] = &[
    "",
    "'; DROP TABLE jobs; --",
    "a b",
    "quote'",
    "double\"quote",
    "back\\slash",
    "100%",
    "a/b",
    "日本",
    "🚀",
    "tab\t",
    "nul\0",
    "0123456789012345678901234567890123456",
];

fn assert_validation<T: std::fmt::Debug>(result: Result<T, StorageError>, expected: &str) {
    assert_matches!(
        result,
        Err(StorageError::Domain(DomainError::Validation { field, .. })) if field == expected,
        "expected a validation error on {expected}"
    );
}

fn spec_of(text: &str) -> String {
    serde_json::json!({ "value": text, text: [text, 1, null], "nested": { "k": text } }).to_string()
}

/// A job of `tenant` carrying `text` in every free-text field a job has.
fn job_with(tenant: &TenantId, id: &str, text: &str) -> NewJob {
    NewJob {
        id: Some(JobId::new(id).expect("id")),
        image_uri: Some(text.to_owned()),
        commands: vec![text.to_owned(), format!("{text}{text}"), String::new()],
        spec: Some(spec_of(text)),
        input_bucket: Some(text.to_owned()),
        input_key: Some(format!("{text}/in")),
        output_bucket: Some(text.to_owned()),
        output_key: Some(format!("jobs/{id}/1/{text}")),
        unique_key: Some(text.to_owned()),
        ..NewJob::new(tenant.clone())
    }
}

#[allow(clippy::too_many_arguments)]
fn time(
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    micros: u32,
) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, hour, minute, second)
        .single()
        .expect("a valid time")
        + TimeDelta::microseconds(i64::from(micros))
}

fn hand_written_job_ids(db: &TestDb) -> (Job, String) {
    let tenant = db.tenant();
    let job = db.job(&tenant.id);
    let condition = format!("tenant_id = '{}' AND job_id = '{}'", tenant.id, job.id);
    (job, condition)
}

fn text_with_sql_metacharacters_round_trips_exactly_in_every_tenant_field(db: &TestDb) {
    let sentinel = db.tenant();
    for (i, text) in NASTY.iter().enumerate() {
        let provider: String = text.chars().take(50).collect();
        let tenant = db
            .store
            .create_tenant(NewTenant {
                id: Some(TenantId::new(format!("t{i}")).expect("id")),
                name: (*text).to_owned(),
                user_email: Some(format!("{text}@example.com")),
                oauth: Some(OAuthIdentity {
                    provider: provider.clone(),
                    user_id: (*text).to_owned(),
                }),
            })
            .unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(tenant.name, *text);
        assert_eq!(
            db.store.get_tenant(&tenant.id).expect("get"),
            tenant,
            "{text:?}"
        );
        assert_eq!(
            db.store
                .find_tenant_by_oauth(&provider, text)
                .expect("find"),
            Some(tenant.clone()),
            "{text:?}"
        );
        let renamed = db
            .store
            .update_tenant(
                &tenant.id,
                TenantUpdate {
                    name: Some(format!("{text} renamed")),
                    ..TenantUpdate::default()
                },
            )
            .expect("update");
        assert_eq!(db.store.get_tenant(&tenant.id).expect("get"), renamed);
    }
    assert_eq!(
        db.store.get_tenant(&sentinel.id).expect("sentinel"),
        sentinel
    );
    assert_eq!(db.counts().tenants, NASTY.len() as i64 + 1);
}

fn text_with_sql_metacharacters_round_trips_exactly_in_every_job_field(db: &TestDb) {
    let sentinel_tenant = db.tenant();
    let sentinel = db.job(&sentinel_tenant.id);
    let tenant = db.tenant();
    for (i, text) in NASTY.iter().enumerate() {
        let id = format!("j{i}");
        let job = db
            .store
            .create_job(job_with(&tenant.id, &id, text))
            .unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(job.image_uri.as_deref(), Some(*text));
        assert_eq!(job.commands[0], *text);
        assert_eq!(job.spec, Some(spec_of(text)));
        assert_eq!(
            db.store.get_job(&tenant.id, &job.id).expect("get"),
            job,
            "{text:?}"
        );
        let named = db
            .store
            .set_batch_job_name(&tenant.id, &job.id, text)
            .expect("name");
        assert_eq!(named.batch_job_name.as_deref(), Some(*text));
        let grant = LeaseGrant::new(*text, db.now(), TimeDelta::seconds(30));
        db.store
            .transition_job(
                &tenant.id,
                &job.id,
                Change::to(JobStatus::Assigned)
                    .lease(grant)
                    .actor(*text)
                    .reason(*text),
            )
            .expect("assign");
        db.store
            .transition_job(&tenant.id, &job.id, Change::to(JobStatus::Running))
            .expect("start");
        let failed = db.store.fail_job(&tenant.id, &job.id, text).expect("fail");
        assert_eq!(failed.error_message.as_deref(), Some(*text));
        assert_eq!(failed.assigned_agent.as_deref(), Some(*text));
        assert_eq!(
            db.store.get_job(&tenant.id, &job.id).expect("get"),
            failed,
            "{text:?}"
        );
        let history = db.store.job_history(&tenant.id, &job.id).expect("history");
        // [0] created, [1] named, [2] assigned by the text, with the text as its reason,
        // [3] running, [4] failed with the text.
        assert_eq!(
            (history[2].reason.as_deref(), history[2].actor.as_deref()),
            (Some(*text), Some(*text))
        );
        assert_eq!(history[4].reason.as_deref(), Some(*text));

        let other = db.job(&tenant.id);
        db.store
            .cancel_job(&tenant.id, &other.id, text)
            .expect("cancel");
        let history = db
            .store
            .job_history(&tenant.id, &other.id)
            .expect("history");
        assert_eq!(history[1].reason.as_deref(), Some(*text), "{text:?}");
    }
    let n = NASTY.len() as i64;
    assert_eq!(db.counts().jobs, 2 * n + 1);
    // Per text: created, named, assigned, running, failed; created, cancelled; and the sentinel.
    assert_eq!(db.counts().transitions, 5 * n + 2 * n + 1);
    assert_eq!(
        db.store
            .get_job(&sentinel_tenant.id, &sentinel.id)
            .expect("sentinel"),
        sentinel
    );
}

fn like_wildcards_in_lookups_match_only_themselves(db: &TestDb) {
    let identity = |user_id: &str| OAuthIdentity {
        provider: "wild".into(),
        user_id: user_id.into(),
    };
    let underscore = db
        .store
        .create_tenant(NewTenant {
            oauth: Some(identity("a_c")),
            ..NewTenant::named("underscore")
        })
        .expect("create");
    let percent = db
        .store
        .create_tenant(NewTenant {
            oauth: Some(identity("a%")),
            ..NewTenant::named("percent")
        })
        .expect("create");
    assert_eq!(
        db.store.find_tenant_by_oauth("wild", "abc").expect("find"),
        None
    );
    assert_eq!(
        db.store.find_tenant_by_oauth("wild", "a").expect("find"),
        None
    );
    assert_eq!(
        db.store.find_tenant_by_oauth("wild", "%").expect("find"),
        None
    );
    assert_eq!(
        db.store.find_tenant_by_oauth("w%", "a_c").expect("find"),
        None
    );
    assert_eq!(
        db.store.find_tenant_by_oauth("wild", "a_c").expect("find"),
        Some(underscore)
    );
    assert_eq!(
        db.store.find_tenant_by_oauth("wild", "a%").expect("find"),
        Some(percent)
    );
    // And a wildcard-ish unique key is a key like any other.
    let tenant = db.tenant();
    db.store
        .create_job(NewJob {
            unique_key: Some("k%".into()),
            ..NewJob::new(tenant.id.clone())
        })
        .expect("create");
    assert!(
        !db.store
            .enqueue(NewJob {
                unique_key: Some("k_".into()),
                ..NewJob::new(tenant.id.clone())
            })
            .expect("enqueue")
            .is_duplicate()
    );
    assert!(
        !db.store
            .enqueue(NewJob {
                unique_key: Some("kx".into()),
                ..NewJob::new(tenant.id.clone())
            })
            .expect("enqueue")
            .is_duplicate()
    );
}

/// MySQL's collations ignore trailing spaces, so keys the database compares (OAuth
/// identities, unique keys) may not start or end with whitespace on any backend, and a
/// lookup with such a key finds nothing everywhere.
fn keys_with_surrounding_whitespace_are_refused_everywhere(db: &TestDb) {
    let identity = |user_id: &str| {
        Some(OAuthIdentity {
            provider: "google".into(),
            user_id: user_id.into(),
        })
    };
    let plain = db
        .store
        .create_tenant(NewTenant {
            oauth: identity("42"),
            ..NewTenant::named("plain")
        })
        .expect("create");
    let before = db.counts();
    for spaced in ["42 ", " 42", "42\t"] {
        assert_matches!(
            db.store.create_tenant(NewTenant {
                oauth: identity(spaced),
                ..NewTenant::named("spaced")
            }),
            Err(StorageError::Domain(DomainError::Validation { .. }))
        );
        assert_eq!(
            db.store
                .find_tenant_by_oauth("google", spaced)
                .expect("find"),
            None
        );
    }
    assert_eq!(
        db.store.find_tenant_by_oauth("google", "42").expect("find"),
        Some(plain)
    );
    assert_matches!(
        db.store.create_job(NewJob {
            unique_key: Some("k ".into()),
            ..NewJob::new(db.tenant().id)
        }),
        Err(StorageError::Domain(DomainError::Validation { .. }))
    );
    assert_eq!(db.counts().jobs, before.jobs);
    // Free text keeps its spaces.
    let named = db
        .store
        .create_tenant(NewTenant::named("  Acme  "))
        .expect("create");
    assert_eq!(
        db.store.get_tenant(&named.id).expect("get").name,
        "  Acme  "
    );
}

fn a_queue_with_metacharacters_is_refused_and_nothing_is_written(db: &TestDb) {
    let tenant = db.tenant();
    let before = db.counts();
    let too_long = "x".repeat(65);
    let extra = ["", "a queue", "q'", too_long.as_str()];
    // `_` alone is a fine queue name; every other one has a character queues may not hold.
    for queue in NASTY.iter().filter(|q| **q != "_").chain(&extra) {
        assert_validation(
            db.store.create_job(NewJob {
                queue: (*queue).to_owned(),
                ..NewJob::new(tenant.id.clone())
            }),
            "queue",
        );
    }
    assert_eq!(db.counts(), before);
}

fn ids_with_metacharacters_or_over_36_characters_are_refused_before_any_query(db: &TestDb) {
    let before = db.counts();
    for id in BAD_IDS {
        assert_matches!(
            TenantId::new(*id),
            Err(DomainError::Validation {
                field: "tenant_id",
                ..
            }),
            "{id:?}"
        );
        assert_matches!(
            JobId::new(*id),
            Err(DomainError::Validation {
                field: "job_id",
                ..
            }),
            "{id:?}"
        );
        assert_matches!(
            id.parse::<TenantId>(),
            Err(DomainError::Validation { .. }),
            "{id:?}"
        );
    }
    // The longest id is fine everywhere.
    let long = "t".repeat(36);
    let tenant = db
        .store
        .create_tenant(NewTenant {
            id: Some(TenantId::new(long.as_str()).expect("36 characters")),
            ..NewTenant::named("Long")
        })
        .expect("create");
    let job = db
        .store
        .create_job(NewJob {
            id: Some(JobId::new("j".repeat(36)).expect("36 characters")),
            ..NewJob::new(tenant.id.clone())
        })
        .expect("create");
    assert_eq!(db.store.get_job(&tenant.id, &job.id).expect("get"), job);
    assert_eq!(job.output_prefix.len(), 36 + 8);
    assert_eq!(db.counts().tenants, before.tenants + 1);
}

fn over_long_tenant_fields_are_validation_errors_and_write_nothing(db: &TestDb) {
    let existing = db
        .store
        .create_tenant(NewTenant {
            oauth: Some(OAuthIdentity {
                provider: "p".into(),
                user_id: "u".into(),
            }),
            ..NewTenant::named("Existing")
        })
        .expect("create");
    let before = db.counts();
    let long = |n: usize| "é".repeat(n);
    let oauth = |provider: String, user_id: String| Some(OAuthIdentity { provider, user_id });
    let cases: Vec<(NewTenant, &str)> = vec![
        (NewTenant::named(long(256)), "name"),
        (NewTenant::named(""), "name"),
        (NewTenant::named("   "), "name"),
        (NewTenant::named("nul\0inside"), "name"),
        (
            NewTenant {
                user_email: Some(format!("{}@example.com", long(250))),
                ..NewTenant::named("x")
            },
            "user_email",
        ),
        (
            NewTenant {
                user_email: Some("nobody".into()),
                ..NewTenant::named("x")
            },
            "user_email",
        ),
        (
            NewTenant {
                oauth: oauth(long(51), "u".into()),
                ..NewTenant::named("x")
            },
            "oauth_provider",
        ),
        (
            NewTenant {
                oauth: oauth("p".into(), long(256)),
                ..NewTenant::named("x")
            },
            "oauth_user_id",
        ),
        (
            NewTenant {
                oauth: oauth("p".into(), String::new()),
                ..NewTenant::named("x")
            },
            "oauth_user_id",
        ),
    ];
    for (tenant, field) in cases {
        assert_validation(db.store.create_tenant(tenant), field);
    }
    assert_validation(
        db.store.update_tenant(
            &existing.id,
            TenantUpdate {
                name: Some(long(256)),
                ..TenantUpdate::default()
            },
        ),
        "name",
    );
    assert_validation(
        db.store.update_tenant(
            &existing.id,
            TenantUpdate {
                user_email: Some(Some("no-at".into())),
                ..TenantUpdate::default()
            },
        ),
        "user_email",
    );
    assert_eq!(db.counts(), before);
    assert_eq!(db.store.get_tenant(&existing.id).expect("get"), existing);
}

fn tenant_fields_at_their_limit_in_four_byte_characters_round_trip(db: &TestDb) {
    let rocket = |n: usize| "🚀".repeat(n);
    let tenant = db
        .store
        .create_tenant(NewTenant {
            name: rocket(255),
            user_email: Some(format!("{}@{}", rocket(200), rocket(54))),
            oauth: Some(OAuthIdentity {
                provider: rocket(50),
                user_id: rocket(255),
            }),
            ..NewTenant::named("")
        })
        .expect("255 characters of 4 bytes each fit");
    assert_eq!(db.store.get_tenant(&tenant.id).expect("get"), tenant);
}

fn over_long_job_fields_are_validation_errors_and_write_nothing(db: &TestDb) {
    let tenant = db.tenant();
    let before = db.counts();
    let long = |n: usize| "é".repeat(n);
    let base = || NewJob::new(tenant.id.clone());
    let cases: Vec<(NewJob, &str)> = vec![
        (
            NewJob {
                image_uri: Some(long(1025)),
                ..base()
            },
            "image_uri",
        ),
        (
            NewJob {
                input_bucket: Some(long(1025)),
                ..base()
            },
            "input_bucket",
        ),
        (
            NewJob {
                input_key: Some(long(1025)),
                ..base()
            },
            "input_key",
        ),
        (
            NewJob {
                output_bucket: Some(long(1025)),
                ..base()
            },
            "output_bucket",
        ),
        (
            NewJob {
                output_key: Some(long(1025)),
                ..base()
            },
            "output_key",
        ),
        (
            NewJob {
                unique_key: Some(long(256)),
                ..base()
            },
            "unique_key",
        ),
        (
            NewJob {
                commands: vec!["a".repeat(MAX_TEXT_BYTES + 1)],
                ..base()
            },
            "commands",
        ),
        (
            NewJob {
                commands: vec!["a".repeat(MAX_TEXT_BYTES - 3)],
                ..base()
            },
            "commands",
        ),
        (
            NewJob {
                commands: vec!["nul\0".into()],
                ..base()
            },
            "commands",
        ),
        (
            NewJob {
                spec: Some(format!("\"{}\"", "a".repeat(MAX_TEXT_BYTES))),
                ..base()
            },
            "spec",
        ),
        (
            NewJob {
                max_retries: -1,
                ..base()
            },
            "max_retries",
        ),
        (
            NewJob {
                max_retries: 1001,
                ..base()
            },
            "max_retries",
        ),
    ];
    for (job, field) in cases {
        assert_validation(db.store.create_job(job.clone()), field);
        assert_validation(
            db.store
                .create_jobs(vec![NewJob::new(tenant.id.clone()), job]),
            field,
        );
    }
    assert_eq!(db.counts(), before);
}

fn job_fields_at_their_limit_round_trip_on_every_backend(db: &TestDb) {
    let tenant = db.tenant();
    let rocket = |n: usize| "🚀".repeat(n);
    // JSON adds `["` and `"]`: 4 bytes.
    let ascii_command = "a".repeat(MAX_TEXT_BYTES - 4);
    let job = db
        .store
        .create_job(NewJob {
            id: Some(JobId::new("limits").expect("id")),
            image_uri: Some(rocket(1024)),
            input_bucket: Some(rocket(1024)),
            input_key: Some(rocket(1024)),
            output_bucket: Some(rocket(1024)),
            output_key: Some(format!("jobs/limits/1/{}", rocket(1024 - 14))),
            unique_key: Some(rocket(255)),
            commands: vec![ascii_command],
            spec: Some(format!("\"{}\"", rocket((MAX_TEXT_BYTES - 2) / 4))),
            ..NewJob::new(tenant.id.clone())
        })
        .expect("every field at its limit");
    assert_eq!(job.commands[0].len() + 4, MAX_TEXT_BYTES);
    assert_eq!(db.store.get_job(&tenant.id, &job.id).expect("get"), job);
    let named = db
        .store
        .set_batch_job_name(&tenant.id, &job.id, &rocket(1024))
        .expect("name");
    assert_eq!(db.store.get_job(&tenant.id, &job.id).expect("get"), named);
    // Four-byte characters up to the byte limit.
    let emoji_commands = db
        .store
        .create_job(NewJob {
            commands: vec![rocket((MAX_TEXT_BYTES - 4) / 4)],
            ..NewJob::new(tenant.id.clone())
        })
        .expect("create");
    assert_eq!(
        db.store
            .get_job(&tenant.id, &emoji_commands.id)
            .expect("get"),
        emoji_commands
    );
}

fn over_long_or_empty_names_and_actors_in_changes_are_refused_and_change_nothing(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job(&tenant.id);
    let before = db.counts();
    assert_validation(
        db.store
            .set_batch_job_name(&tenant.id, &job.id, &"é".repeat(1025)),
        "batch_job_name",
    );
    assert_validation(
        db.store.set_batch_job_name(&tenant.id, &job.id, "nul\0"),
        "batch_job_name",
    );
    assert_validation(
        db.store.transition_job(
            &tenant.id,
            &job.id,
            Change::to(JobStatus::Cancelled).actor("é".repeat(256)),
        ),
        "actor",
    );
    let grant = LeaseGrant::new("é".repeat(256), db.now(), TimeDelta::seconds(30));
    assert_validation(
        db.store.transition_job(
            &tenant.id,
            &job.id,
            Change::to(JobStatus::Assigned).lease(grant),
        ),
        "agent",
    );
    let grant = LeaseGrant::new("", db.now(), TimeDelta::seconds(30));
    assert_validation(
        db.store.transition_job(
            &tenant.id,
            &job.id,
            Change::to(JobStatus::Assigned).lease(grant),
        ),
        "agent",
    );
    assert_eq!(db.counts(), before);
    assert_eq!(db.store.get_job(&tenant.id, &job.id).expect("get"), job);
}

fn over_long_messages_and_reasons_are_kept_clipped_to_the_text_limit(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job_in(&tenant.id, JobStatus::Running);
    // 3-byte characters, so the cut falls inside one and must move back to a boundary.
    let message = "€".repeat(MAX_TEXT_BYTES / 3 + 100);
    let failed = db
        .store
        .fail_job(&tenant.id, &job.id, &message)
        .expect("fail");
    let kept = failed.error_message.clone().expect("a message");
    assert!(
        kept.len() <= MAX_TEXT_BYTES && message.starts_with(&kept),
        "{} bytes",
        kept.len()
    );
    assert_eq!(kept.len(), MAX_TEXT_BYTES / 3 * 3);
    assert_eq!(db.store.get_job(&tenant.id, &job.id).expect("get"), failed);
    let history = db.store.job_history(&tenant.id, &job.id).expect("history");
    assert_eq!(history.last().and_then(|t| t.reason.clone()), Some(kept));
    // NUL characters, which PostgreSQL text cannot hold, are dropped.
    let other = db.job(&tenant.id);
    db.store
        .cancel_job(&tenant.id, &other.id, "a\0b\0")
        .expect("cancel");
    let history = db
        .store
        .job_history(&tenant.id, &other.id)
        .expect("history");
    assert_eq!(history[1].reason.as_deref(), Some("ab"));
}

fn malformed_json_spec_is_a_validation_error_and_writes_nothing(db: &TestDb) {
    let tenant = db.tenant();
    let before = db.counts();
    for spec in [
        "{not json",
        "",
        "{\"a\": 1,}",
        "[1, 2",
        "'single'",
        "{\"a\": NaN}",
        "undefined",
        "{\"a\": \"\\x\"}",
    ] {
        assert_validation(
            db.store.create_job(NewJob {
                spec: Some(spec.into()),
                ..NewJob::new(tenant.id.clone())
            }),
            "spec",
        );
    }
    assert_eq!(db.counts(), before);
    // Any JSON value is a spec: a string, a number, null.
    for spec in ["\"text\"", "42", "null", "[]", "{}"] {
        let job = db
            .store
            .create_job(NewJob {
                spec: Some(spec.into()),
                ..NewJob::new(tenant.id.clone())
            })
            .expect(spec);
        assert_eq!(
            db.store
                .get_job(&tenant.id, &job.id)
                .expect("get")
                .spec
                .as_deref(),
            Some(spec)
        );
    }
}

fn output_prefix_and_key_outside_the_rule_are_validation_errors(db: &TestDb) {
    let tenant = db.tenant();
    let before = db.counts();
    let id = Some(JobId::new("j1").expect("id"));
    assert_validation(
        db.store.create_job(NewJob {
            id: id.clone(),
            output_prefix: Some("jobs/j1/2/".into()),
            ..NewJob::new(tenant.id.clone())
        }),
        "output_prefix",
    );
    assert_validation(
        db.store.create_job(NewJob {
            id: id.clone(),
            output_key: Some("elsewhere/x".into()),
            ..NewJob::new(tenant.id.clone())
        }),
        "output_key",
    );
    assert_validation(
        db.store.create_job(NewJob {
            output_prefix: Some("jobs/x/1/".into()),
            ..NewJob::new(tenant.id.clone())
        }),
        "output_prefix",
    );
    assert_eq!(db.counts(), before);
}

fn unknown_statuses_written_by_hand_are_refused_by_the_database(db: &TestDb) {
    let (job, condition) = hand_written_job_ids(db);
    for status in [
        "DONE",
        "pending",
        "Pending",
        "SUCCEEDED",
        "SCHEDULED",
        "CANCELED",
        "",
        "'; DROP TABLE jobs; --",
    ] {
        let status = status.replace('\'', "''");
        let updated = db.execute(&format!(
            "UPDATE jobs SET status = '{status}' WHERE {condition}"
        ));
        assert!(
            updated.is_err(),
            "{}: status {status:?} was accepted: {updated:?}",
            db.backend
        );
    }
    assert_eq!(db.store.get_job(&job.tenant_id, &job.id).expect("get"), job);
    let inserted = db.execute(&format!(
        "INSERT INTO job_state_transitions (tenant_id, job_id, transition_id, seq, from_status, to_status, transitioned_at, attempt) \
         VALUES ('{}', '{}', 'hand-made', 99, 'PENDING', 'DONE', '2030-01-01 00:00:00', 1)",
        job.tenant_id, job.id
    ));
    assert!(
        inserted.is_err(),
        "{}: a transition to DONE was accepted",
        db.backend
    );
    assert_eq!(
        db.store
            .job_history(&job.tenant_id, &job.id)
            .expect("history")
            .len(),
        1
    );
    // The canonical spellings pass the same check.
    db.execute(&format!(
        "UPDATE jobs SET status = 'CANCELLED' WHERE {condition}"
    ))
    .expect("a known status");
    assert_eq!(
        db.store
            .get_job(&job.tenant_id, &job.id)
            .expect("get")
            .status,
        JobStatus::Cancelled
    );
}

fn a_status_with_trailing_spaces_written_by_hand_is_refused_too(db: &TestDb) {
    let (job, condition) = hand_written_job_ids(db);
    let updated = db.execute(&format!(
        "UPDATE jobs SET status = 'PENDING ' WHERE {condition}"
    ));
    let read = db.store.get_job(&job.tenant_id, &job.id);
    assert!(
        updated.is_err(),
        "{}: status 'PENDING ' was accepted; get_job now gives {read:?}",
        db.backend
    );
}

fn malformed_values_written_by_hand_are_read_as_corrupt_rows_not_panics(db: &TestDb) {
    for (column, value) in [
        ("commands", "'{not json'"),
        ("commands", "'[1, 2]'"),
        ("commands", "'{\"a\": \"b\"}'"),
        ("retry_policy", "'fast please'"),
        ("retry_policy", "'5,1,0'"),
        ("lease_id", "'not a lease; --'"),
    ] {
        let (job, condition) = hand_written_job_ids(db);
        db.execute(&format!(
            "UPDATE jobs SET {column} = {value} WHERE {condition}"
        ))
        .expect("the database takes it");
        let corrupt = |result: Result<(), StorageError>, call: &str| {
            assert_matches!(
                result,
                Err(StorageError::CorruptRow { entity: Entity::Job, ref id, .. }) if id.contains(job.id.as_str()),
                "{call} after {column} = {value}"
            );
        };
        corrupt(
            db.store.get_job(&job.tenant_id, &job.id).map(drop),
            "get_job",
        );
        corrupt(
            db.store
                .list_jobs(&job.tenant_id, &Default::default(), &Default::default())
                .map(drop),
            "list_jobs",
        );
        corrupt(
            db.store.cancel_job(&job.tenant_id, &job.id, "x").map(drop),
            "cancel_job",
        );
        // The rest of the database reads on.
        let fine = db.tenant();
        let other = db.job(&fine.id);
        assert_eq!(db.store.get_job(&fine.id, &other.id).expect("get"), other);
    }
}

fn times_from_year_1000_to_9999_round_trip_on_every_backend(db: &TestDb) {
    let tenant = db.tenant();
    let cases = [
        time(1000, 1, 1, 0, 0, 0, 0),
        time(1969, 12, 31, 23, 59, 59, 999_999),
        time(1970, 1, 1, 0, 0, 0, 0),
        time(2038, 1, 19, 3, 14, 7, 999_999),
        time(2038, 1, 19, 3, 14, 8, 0),
        time(2100, 6, 30, 12, 0, 0, 1),
        time(9999, 12, 31, 23, 59, 59, 999_999),
    ];
    for at in cases {
        let job = db
            .store
            .create_job(NewJob {
                not_before: Some(at),
                ..NewJob::new(tenant.id.clone())
            })
            .unwrap_or_else(|e| panic!("{}: not_before {at}: {e:?}", db.backend));
        assert_eq!(
            db.store
                .get_job(&tenant.id, &job.id)
                .expect("get")
                .not_before,
            at
        );
    }
}

fn times_outside_years_1000_to_9999_are_validation_errors_and_write_nothing(db: &TestDb) {
    let tenant = db.tenant();
    let before = db.counts();
    for at in [
        time(10000, 1, 1, 0, 0, 0, 0),
        time(999, 12, 31, 23, 59, 59, 999_999),
        time(-5, 1, 1, 0, 0, 0, 0),
    ] {
        let created = db.store.create_job(NewJob {
            not_before: Some(at),
            ..NewJob::new(tenant.id.clone())
        });
        // Whatever was written must not break the tenant's listing.
        let listing = db
            .store
            .list_jobs(&tenant.id, &Default::default(), &Default::default())
            .map(|p| p.items.len());
        assert_matches!(
            created,
            Err(StorageError::Domain(DomainError::Validation {
                field: "not_before",
                ..
            })),
            "{}: not_before {at}; the listing then gives {listing:?}",
            db.backend
        );
    }
    assert_eq!(db.counts(), before);
}

#[test]
fn open_url_with_an_unknown_scheme_is_unsupported_url_naming_the_scheme() {
    for (url, scheme) in [
        ("oracle://x", "oracle"),
        ("redis://localhost:6379", "redis"),
        ("", ""),
    ] {
        let error = Store::open_url(url).expect_err(url);
        assert_matches!(error, StorageError::UnsupportedUrl { scheme: ref s } if s == scheme);
        assert!(
            error.to_string().contains(&format!("{scheme:?}")),
            "{error}"
        );
        assert_matches!(
            DbConnection::open(url, std::time::Duration::from_secs(1)).map(drop),
            Err(StorageError::UnsupportedUrl { .. })
        );
    }
}

#[cfg(feature = "postgres")]
#[test]
fn open_url_of_a_postgres_server_that_is_not_there_is_a_connect_error() {
    assert_matches!(
        Store::open_url("postgres://nobody@127.0.0.1:1/x"),
        Err(StorageError::Connect {
            backend: Backend::Postgres,
            ..
        })
    );
}

#[cfg(feature = "mysql")]
#[test]
fn open_url_of_a_mysql_server_that_is_not_there_is_a_connect_error() {
    assert_matches!(
        Store::open_url("mysql://nobody@127.0.0.1:1/x"),
        Err(StorageError::Connect {
            backend: Backend::Mysql,
            ..
        })
    );
}

#[cfg(feature = "sqlite")]
#[test]
fn open_url_of_a_sqlite_file_in_a_missing_folder_is_a_connect_error() {
    let path = std::env::temp_dir().join(format!(
        "jobstore-missing-{}/x.db",
        uuid::Uuid::new_v4().simple()
    ));
    assert_matches!(
        Store::open_url(&path.to_string_lossy()),
        Err(StorageError::Connect {
            backend: Backend::Sqlite,
            ..
        })
    );
}

backends!(
    text_with_sql_metacharacters_round_trips_exactly_in_every_tenant_field,
    text_with_sql_metacharacters_round_trips_exactly_in_every_job_field,
    like_wildcards_in_lookups_match_only_themselves,
    keys_with_surrounding_whitespace_are_refused_everywhere,
    a_queue_with_metacharacters_is_refused_and_nothing_is_written,
    ids_with_metacharacters_or_over_36_characters_are_refused_before_any_query,
    over_long_tenant_fields_are_validation_errors_and_write_nothing,
    tenant_fields_at_their_limit_in_four_byte_characters_round_trip,
    over_long_job_fields_are_validation_errors_and_write_nothing,
    job_fields_at_their_limit_round_trip_on_every_backend,
    over_long_or_empty_names_and_actors_in_changes_are_refused_and_change_nothing,
    over_long_messages_and_reasons_are_kept_clipped_to_the_text_limit,
    malformed_json_spec_is_a_validation_error_and_writes_nothing,
    output_prefix_and_key_outside_the_rule_are_validation_errors,
    unknown_statuses_written_by_hand_are_refused_by_the_database,
    a_status_with_trailing_spaces_written_by_hand_is_refused_too,
    malformed_values_written_by_hand_are_read_as_corrupt_rows_not_panics,
    times_from_year_1000_to_9999_round_trip_on_every_backend,
    times_outside_years_1000_to_9999_are_validation_errors_and_write_nothing
);
