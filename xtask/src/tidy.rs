//! The tidy test: each rule of docs/ARCHITECTURE.md that the source alone can show, as a test
//! that needs no database server and runs in `cargo test` (after rust-analyzer's
//! `xtask/src/tidy.rs`). A broken rule fails with every offender listed, as `path:line: text`.
//!
//! The checks read Rust with its comments blanked out (doc comments and their examples too), so
//! prose may name what code may not. Where a rule is about identifiers, string literals are
//! blanked as well; where it is about SQL, they are kept.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
};

/// The crates that talk to a database (shared with `cargo xtask ci`'s dependency check).
use crate::ci::DATABASE_CRATES;

/// The packages that may name diesel: the two libraries built on it, and the tooling (the test
/// kit, the conformance suite, xtask), which creates, inspects and measures databases.
const DIESEL_PACKAGES: [&str; 5] = [
    "jobstore-storage",
    "jobstore-migrator",
    "jobstore-testkit",
    "jobstore-conformance",
    "xtask",
];

/// The workspace packages each library may depend on (normal and build dependencies): the layers.
const LAYERS: [(&str, &[&str]); 4] = [
    ("jobstore-domain", &[]),
    ("jobstore-storage", &["jobstore-domain"]),
    (
        "jobstore-migrator",
        &["jobstore-domain", "jobstore-storage"],
    ),
    (
        "jobstore-testkit",
        &["jobstore-domain", "jobstore-storage", "jobstore-migrator"],
    ),
];

/// Packages no package may depend on, in any way.
const TOOLING: [&str; 2] = ["xtask", "jobstore-conformance"];

/// The job statuses as stored: their spelling belongs to the domain (`JobStatus`).
const STATUSES: [&str; 7] = [
    "PENDING",
    "ASSIGNED",
    "RUNNING",
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "LOST",
];

// ---------------------------------------------------------------------------------------------
// The rules.

#[test]
fn the_domain_names_no_database_crate() {
    let domain = package("jobstore-domain");
    let mut offenders = Vec::new();
    for dependency in &domain.dependencies {
        if is_database_crate(&dependency.name) {
            offenders.push(format!(
                "{}: {} dependency {}",
                domain.manifest, dependency.kind, dependency.name
            ));
        }
    }
    for file in domain.rust_files() {
        offenders.extend(file.identifiers_where(is_database_crate));
    }
    report(
        "jobstore-domain must not know that a database exists: it names no database crate \
         (diesel, r2d2, libsqlite3-sys, pq-sys, mysqlclient-sys) in its manifest or its code",
        offenders,
    );
}

#[test]
fn only_storage_the_migrator_and_the_tooling_name_diesel() {
    let mut offenders = Vec::new();
    for package in packages() {
        if DIESEL_PACKAGES.contains(&package.name.as_str()) {
            continue;
        }
        for dependency in &package.dependencies {
            if is_diesel(&dependency.name) {
                offenders.push(format!(
                    "{}: {} dependency {}",
                    package.manifest, dependency.kind, dependency.name
                ));
            }
        }
        for file in package.rust_files() {
            offenders.extend(file.identifiers_where(is_diesel));
        }
    }
    report(
        &format!(
            "only these packages may name diesel: {}; repository traits and domain types never do",
            DIESEL_PACKAGES.join(", ")
        ),
        offenders,
    );
}

#[test]
fn repository_traits_name_no_diesel_type() {
    let file = SourceFile::read("crates/jobstore-storage/src/repository.rs");
    report(
        "the repository traits take and return domain types and StorageError, so that they can \
         be mocked and swapped: crates/jobstore-storage/src/repository.rs names nothing of diesel",
        file.identifiers_where(is_diesel),
    );
}

#[test]
fn the_layers_depend_only_downwards() {
    let mut offenders = Vec::new();
    let all = packages();
    let workspace: BTreeSet<&str> = all.iter().map(|p| p.name.as_str()).collect();
    for package in &all {
        let allowed = LAYERS
            .iter()
            .find(|(name, _)| *name == package.name)
            .map(|(_, allowed)| *allowed);
        for dependency in &package.dependencies {
            let name = dependency.name.as_str();
            if TOOLING.contains(&name) {
                offenders.push(format!(
                    "{}: {} dependency {name}: nothing depends on the tooling",
                    package.manifest, dependency.kind
                ));
            } else if dependency.kind != "dev" && workspace.contains(name) {
                let Some(allowed) = allowed else { continue };
                if !allowed.contains(&name) {
                    offenders.push(format!(
                        "{}: {} dependency {name}: {} may depend on {} only",
                        package.manifest,
                        dependency.kind,
                        package.name,
                        if allowed.is_empty() {
                            "no workspace crate".to_owned()
                        } else {
                            allowed.join(", ")
                        }
                    ));
                }
            }
        }
    }
    report(
        "the layers: jobstore-domain <- jobstore-storage <- jobstore-migrator <- jobstore-testkit, \
         and nothing depends on tests/ or xtask/",
        offenders,
    );
}

#[test]
fn per_backend_code_lives_in_the_dialect_module() {
    const PATTERNS: [&str; 15] = [
        "DbConnection::Postgres",
        "DbConnection::Mysql",
        "DbConnection::Sqlite",
        "with_inner!",
        "SKIP LOCKED",
        "for_update",
        "for_no_key_update",
        "for_share",
        "skip_locked",
        "BEGIN IMMEDIATE",
        "PRAGMA",
        "copy_from",
        "pg_notify",
        "LISTEN",
        "notifications_iter",
    ];
    let mut offenders = Vec::new();
    for file in rust_files_under("crates/jobstore-storage/src") {
        if file.path != "crates/jobstore-storage/src/dialect.rs" {
            offenders.extend(file.code_matches(&PATTERNS));
        }
    }
    report(
        "every statement that differs per backend, and every match on the connection's backend, \
         lives in crates/jobstore-storage/src/dialect.rs; the rest of the storage crate is \
         portable Diesel",
        offenders,
    );
}

#[test]
fn the_migrators_per_backend_code_lives_under_backend() {
    const SQL: [&str; 9] = [
        "pg_advisory",
        "pg_try_advisory",
        "GET_LOCK",
        "RELEASE_LOCK",
        "BEGIN EXCLUSIVE",
        "exclusive_transaction",
        "PRAGMA",
        "embed_migrations!",
        "with_inner!",
    ];
    const VARIANTS: [&str; 3] = [
        "DbConnection::Postgres",
        "DbConnection::Mysql",
        "DbConnection::Sqlite",
    ];
    // The one dispatch: `Migrator::execute` hands each call to its backend's module.
    const DISPATCH: &str = "crates/jobstore-migrator/src/migrator.rs";
    let mut offenders = Vec::new();
    for file in rust_files_under("crates/jobstore-migrator/src") {
        if file
            .path
            .starts_with("crates/jobstore-migrator/src/backend/")
        {
            continue;
        }
        offenders.extend(file.code_matches(&SQL));
        if file.path != DISPATCH {
            offenders.extend(file.code_matches(&VARIANTS));
        }
    }
    report(
        "the migrator's per-backend code (embedded migrations, locks, their SQL) lives under \
         crates/jobstore-migrator/src/backend/; outside it, only Migrator::execute (migrator.rs) \
         matches on the connection, to hand each call to its backend's module",
        offenders,
    );
}

#[test]
fn advisory_and_named_locks_appear_only_in_the_migrator() {
    const PATTERNS: [&str; 3] = ["advisory", "GET_LOCK", "RELEASE_LOCK"];
    let offenders = rust_files_under("crates/jobstore-storage/src")
        .iter()
        .flat_map(|file| file.code_matches(&PATTERNS))
        .collect();
    report(
        "advisory and named locks are the migrator's (PostgreSQL-compatible distributed engines \
         may lack them): the storage crate takes none",
        offenders,
    );
}

#[test]
fn library_code_does_not_panic() {
    const PATTERNS: [&str; 6] = [
        "unwrap(",
        "expect(",
        "panic!",
        "todo!",
        "unimplemented!",
        "dbg!",
    ];
    let mut offenders = Vec::new();
    for file in library_files() {
        // The test kit is tooling: it runs inside tests, where failing is a panic.
        if !file.path.starts_with("crates/jobstore-testkit/") {
            offenders.extend(file.bare_matches(&PATTERNS));
        }
    }
    report(
        "library code (crates/*/src but the test kit's, outside #[cfg(test)] items and doc \
         comments) never panics on bad input or database errors: no unwrap(, expect(, panic!, \
         todo!, unimplemented! or dbg!; return the crate's error instead",
        offenders,
    );
}

#[test]
fn the_domain_never_reads_the_clock() {
    const PATTERNS: [&str; 4] = ["Utc::now", "Local::now", "SystemTime::now", "Instant::now"];
    let offenders = library_files()
        .iter()
        .filter(|file| file.path.starts_with("crates/jobstore-domain/"))
        .flat_map(|file| file.bare_matches(&PATTERNS))
        .collect();
    report(
        "the domain never reads the clock: every time is a parameter",
        offenders,
    );
}

#[test]
fn no_sql_calls_now() {
    let mut offenders = Vec::new();
    for file in library_files() {
        if file.path.starts_with("crates/jobstore-domain/") {
            continue;
        }
        for (at, literal) in file.literals() {
            let sql = literal.to_ascii_lowercase();
            if sql.contains("now()") || sql.contains("current_timestamp") {
                offenders.push(file.locate(at));
            }
        }
    }
    for path in files_under("migrations", "sql") {
        let text = read(&path);
        for (number, line) in text.lines().enumerate() {
            let sql = line
                .split("--")
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            if sql.contains("now()") || sql.contains("current_timestamp") {
                offenders.push(format!("{path}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    report(
        "every time comes from the store's clock (tests move a ManualClock): no SQL calls NOW() \
         or CURRENT_TIMESTAMP, in the libraries or in the migrations",
        offenders,
    );
}

#[test]
fn storage_spells_no_job_status() {
    let mut offenders = Vec::new();
    for file in library_files() {
        if file.path.starts_with("crates/jobstore-storage/") {
            offenders.extend(file.statuses_in_literals());
        }
    }
    report(
        "the domain decides and storage stores: a status, or a set of statuses, comes from \
         JobStatus, never from a string literal or SQL in the storage crate",
        offenders,
    );
}

#[test]
fn every_rust_file_opens_with_a_doc_line() {
    let offenders = files_under(".", "rs")
        .into_iter()
        .filter(|path| !read(path).starts_with("//!"))
        .map(|path| format!("{path}:1"))
        .collect();
    report(
        "every .rs file opens with a `//!` line saying why it exists",
        offenders,
    );
}

#[test]
fn every_migration_exists_in_every_dialect() {
    let dialects = ["postgres", "mysql", "sqlite"];
    let mut names: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let mut offenders = Vec::new();
    for dialect in dialects {
        let dir = root().join("migrations").join(dialect);
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let entry = entry.expect("a readable directory entry");
            if !entry.path().is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            for file in ["up.sql", "down.sql"] {
                if !entry.path().join(file).is_file() {
                    offenders.push(format!("migrations/{dialect}/{name}: no {file}"));
                }
            }
            names.entry(name).or_default().insert(dialect);
        }
    }
    for (name, found) in &names {
        for dialect in dialects.iter().filter(|d| !found.contains(*d)) {
            offenders.push(format!("migrations/{dialect}/{name}: missing"));
        }
    }
    report(
        "a change to the schema is a new migration in all three dialects' folders, with the \
         same name, each with up.sql and down.sql",
        offenders,
    );
}

#[test]
fn the_storage_knows_the_newest_migration() {
    let newest = fs::read_dir(root().join("migrations").join("sqlite"))
        .expect("the migrations folder")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .max()
        .expect("a migration");
    // The migrator records a migration by the digits of its name's date and number.
    let version: String = newest
        .split('_')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let store = read("crates/jobstore-storage/src/store.rs");
    let declared = format!("pub const SCHEMA_VERSION: &str = \"{version}\";");
    let offenders = if store.contains(&declared) {
        Vec::new()
    } else {
        vec![format!(
            "crates/jobstore-storage/src/store.rs: expected `{declared}` ({newest})"
        )]
    };
    report(
        "Store::health says whether the schema is up to date by SCHEMA_VERSION, which names the \
         newest migration",
        offenders,
    );
}

#[test]
fn schema_rs_matches_the_migrated_sqlite_schema() {
    let declared = parse_table_macros(&SourceFile::read("crates/jobstore-storage/src/schema.rs"));
    assert!(!declared.is_empty(), "no diesel::table! found in schema.rs");
    let migrated = migrated_sqlite_schema();
    let differences = compare_schemas(&declared, &migrated);
    assert!(
        differences.is_empty(),
        "\ncrates/jobstore-storage/src/schema.rs and the SQLite schema that jobstore-migrator \
         creates (migrations/sqlite) disagree; change schema.rs or add a migration (in all three \
         dialects):\n\n{}\n",
        differences.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Reporting.

/// Fails with `rule` and the offenders, one a line, when there are any.
fn report(rule: &str, mut offenders: Vec<String>) {
    // By file, then by line number.
    offenders.sort_by_cached_key(|o| {
        let mut parts = o.splitn(3, ':');
        let path = parts.next().unwrap_or_default().to_owned();
        let line: usize = parts.next().and_then(|l| l.parse().ok()).unwrap_or(0);
        (path, line, o.clone())
    });
    offenders.dedup();
    if offenders.is_empty() {
        return;
    }
    let mut message = format!("\nrule broken: {rule}\n\n");
    for offender in &offenders {
        let _ = writeln!(message, "  {offender}");
    }
    let _ = write!(
        message,
        "\n{} offender(s); the rules are in docs/ARCHITECTURE.md\n",
        offenders.len()
    );
    panic!("{message}");
}

// ---------------------------------------------------------------------------------------------
// The workspace's files.

/// The workspace root (xtask's parent).
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The files under `dir` (relative to the root) whose name ends in `.extension` (or which are
/// named `extension`), as root-relative paths with `/`, sorted; build output and hidden folders
/// are skipped.
fn files_under(dir: &str, extension: &str) -> Vec<String> {
    fn walk(dir: &Path, extension: &str, found: &mut Vec<PathBuf>) {
        let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a readable directory entry").path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let name = name.unwrap_or_default();
            if path.is_dir() {
                if !(name.starts_with('.') || name == "target") {
                    walk(&path, extension, found);
                }
            } else if name == extension || name.ends_with(&format!(".{extension}")) {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&root().join(dir), extension, &mut found);
    let mut paths: Vec<String> = found
        .iter()
        .map(|p| {
            let relative = p.strip_prefix(root()).expect("under the root");
            relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/")
        })
        .map(|p| p.trim_start_matches("./").to_owned())
        .collect();
    paths.sort();
    paths
}

fn rust_files_under(dir: &str) -> Vec<SourceFile> {
    files_under(dir, "rs")
        .iter()
        .map(|p| SourceFile::read(p))
        .collect()
}

/// The library code: every crates/*/src file, with its `#[cfg(test)]` items blanked, and the files
/// of modules declared `#[cfg(test)] mod name;` left out.
fn library_files() -> Vec<SourceFile> {
    let files: Vec<SourceFile> = files_under("crates", "rs")
        .iter()
        .filter(|p| p.split('/').nth(2) == Some("src"))
        .map(|p| SourceFile::read(p))
        .collect();
    let test_modules: BTreeSet<String> = files.iter().flat_map(|f| f.test_modules()).collect();
    files
        .into_iter()
        .filter(|f| !test_modules.contains(&f.path))
        .map(SourceFile::without_test_items)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Packages and their manifests.

/// A workspace package.
struct Package {
    name: String,
    /// The folder, relative to the root ("" for a package at the root).
    dir: String,
    /// The manifest's path, relative to the root.
    manifest: String,
    dependencies: Vec<Dependency>,
}

/// A dependency a manifest names.
struct Dependency {
    /// The crate's name (its `package = "…"` when renamed).
    name: String,
    /// normal, build or dev.
    kind: &'static str,
}

impl Package {
    fn rust_files(&self) -> Vec<SourceFile> {
        rust_files_under(if self.dir.is_empty() { "." } else { &self.dir })
    }
}

/// Every package of the workspace (each Cargo.toml with a `[package]`).
fn packages() -> Vec<Package> {
    files_under(".", "Cargo.toml")
        .into_iter()
        .filter_map(|manifest| {
            let text = read(&manifest);
            let name = package_name(&text)?;
            let dir = manifest
                .strip_suffix("Cargo.toml")
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_owned();
            Some(Package {
                name,
                dir,
                dependencies: dependencies(&text),
                manifest,
            })
        })
        .collect()
}

fn package(name: &str) -> Package {
    packages()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no package {name} in the workspace"))
}

/// A manifest's lines, without comments, with the `[table]` each is in.
fn manifest_lines(text: &str) -> Vec<(String, String)> {
    let mut table = String::new();
    let mut lines = Vec::new();
    for line in text.lines() {
        // A `#` inside a string is rare in a manifest, and harmless here: it only shortens a line.
        let line = line.split('#').next().unwrap_or_default().trim();
        if let Some(header) = line.strip_prefix('[') {
            table = header.trim_matches(['[', ']']).trim().to_owned();
        } else if !line.is_empty() {
            lines.push((table.clone(), line.to_owned()));
        }
    }
    lines
}

fn package_name(text: &str) -> Option<String> {
    manifest_lines(text).into_iter().find_map(|(table, line)| {
        let (key, value) = line.split_once('=')?;
        (table == "package" && key.trim() == "name")
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// The dependencies a package manifest names, in `[dependencies]`, `[dev-dependencies]`,
/// `[build-dependencies]`, their `[target.….…]` forms and `[dependencies.name]` tables.
fn dependencies(text: &str) -> Vec<Dependency> {
    // `dependencies`, `target.'cfg(…)'.dev-dependencies`, `dependencies.name`, …
    let kind_of = |table: &str| -> Option<(&'static str, Option<String>)> {
        let segments: Vec<&str> = table.split('.').collect();
        segments.iter().enumerate().find_map(|(k, segment)| {
            let kind = match *segment {
                "dependencies" => "normal",
                "build-dependencies" => "build",
                "dev-dependencies" => "dev",
                _ => return None,
            };
            let named = segments.get(k + 1..).filter(|rest| !rest.is_empty());
            Some((
                kind,
                named.map(|rest| rest.join(".").trim_matches('"').to_owned()),
            ))
        })
    };
    let renamed = |line: &str| -> Option<String> {
        let (_, after) = line.split_once("package")?;
        let value = after
            .trim_start()
            .strip_prefix('=')?
            .trim_start()
            .strip_prefix('"')?;
        Some(value.split('"').next()?.to_owned())
    };
    let mut found = Vec::new();
    let mut named_tables = BTreeSet::new();
    for (table, line) in manifest_lines(text) {
        if table.starts_with("workspace") {
            continue;
        }
        let Some((kind, named)) = kind_of(&table) else {
            continue;
        };
        match named {
            // `[dependencies.name]`: its lines are the dependency's keys.
            Some(name) => {
                if named_tables.insert((table.clone(), name.clone())) {
                    found.push(Dependency { name, kind });
                }
                if let Some(package) = line.strip_prefix("package") {
                    let package = package.trim_start().trim_start_matches('=').trim();
                    found.push(Dependency {
                        name: package.trim_matches('"').to_owned(),
                        kind,
                    });
                }
            }
            None => {
                let Some((key, _)) = line.split_once('=') else {
                    continue;
                };
                let key = key.trim().split('.').next().unwrap_or_default();
                let key = key.trim_matches('"');
                if key.is_empty() || !key.chars().all(|c| c.is_alphanumeric() || "-_".contains(c)) {
                    continue;
                }
                let name = renamed(&line).unwrap_or_else(|| key.to_owned());
                found.push(Dependency { name, kind });
            }
        }
    }
    found
}

/// Whether `name` (a crate, or an identifier in code) is a database crate.
fn is_database_crate(name: &str) -> bool {
    is_diesel(name)
        || DATABASE_CRATES
            .iter()
            .any(|c| *c == name || c.replace('-', "_") == name)
}

/// Whether `name` is diesel or one of its crates (`diesel_migrations`, …).
fn is_diesel(name: &str) -> bool {
    name == "diesel" || name.starts_with("diesel_") || name.starts_with("diesel-")
}

// ---------------------------------------------------------------------------------------------
// Rust source, read coarsely: comments and literals told apart from code.

/// A Rust file, and two views of it with the same byte offsets and line breaks: `code` has its
/// comments blanked (doc comments included), `bare` has its string and character literals'
/// contents blanked too.
struct SourceFile {
    /// Relative to the root, with `/`.
    path: String,
    text: String,
    code: String,
    bare: String,
}

impl SourceFile {
    fn read(path: &str) -> SourceFile {
        let text = read(path);
        let (code, bare) = blank_comments_and_literals(&text);
        SourceFile {
            path: path.to_owned(),
            text,
            code,
            bare,
        }
    }

    /// `path:line: line's text` for the byte offset `at`.
    fn locate(&self, at: usize) -> String {
        let line = self.text[..at].matches('\n').count();
        let text = self.text.lines().nth(line).unwrap_or_default().trim();
        format!("{}:{}: {text}", self.path, line + 1)
    }

    /// Where the code (string literals included, comments not) holds one of `patterns`.
    fn code_matches(&self, patterns: &[&str]) -> Vec<String> {
        self.matches(&self.code, patterns)
    }

    /// Where the code outside comments and literals holds one of `patterns`.
    fn bare_matches(&self, patterns: &[&str]) -> Vec<String> {
        self.matches(&self.bare, patterns)
    }

    /// Where `view` holds one of `patterns`, as a whole token: a pattern that starts (ends) with
    /// an identifier character does not match inside a longer identifier.
    fn matches(&self, view: &str, patterns: &[&str]) -> Vec<String> {
        let mut found = Vec::new();
        for pattern in patterns {
            for (at, _) in view.match_indices(pattern) {
                let before = view[..at].chars().next_back();
                let after = view[at + pattern.len()..].chars().next();
                let starts_word = pattern.chars().next().is_some_and(is_ident_char);
                let ends_word = pattern.chars().next_back().is_some_and(is_ident_char);
                if (starts_word && before.is_some_and(is_ident_char))
                    || (ends_word && after.is_some_and(is_ident_char))
                {
                    continue;
                }
                found.push(self.locate(at));
            }
        }
        found
    }

    /// Where an identifier of the code (outside comments and literals) satisfies `is_wanted`.
    fn identifiers_where(&self, is_wanted: impl Fn(&str) -> bool) -> Vec<String> {
        let mut found = Vec::new();
        let mut start = None;
        for (at, c) in self.bare.char_indices().chain([(self.bare.len(), ' ')]) {
            match (start, is_ident_char(c)) {
                (None, true) => start = Some(at),
                (Some(from), false) => {
                    let word = &self.bare[from..at];
                    let is_number = word.starts_with(|c: char| c.is_ascii_digit());
                    if !is_number && is_wanted(word) {
                        found.push(self.locate(from));
                    }
                    start = None;
                }
                _ => {}
            }
        }
        found
    }

    /// The contents of the string and character literals, with their offsets.
    fn literals(&self) -> Vec<(usize, &str)> {
        // The literals' contents are where `code` and `bare` differ.
        let (code, bare) = (self.code.as_bytes(), self.bare.as_bytes());
        let mut literals = Vec::new();
        let mut at = 0;
        while at < code.len() {
            if code[at] == bare[at] {
                at += 1;
                continue;
            }
            let end = (at..code.len())
                .find(|&i| code[i] == bare[i])
                .unwrap_or(code.len());
            literals.push((at, &self.code[at..end]));
            at = end;
        }
        literals
    }

    /// Where a literal holds a job status as a word (`"PENDING"`, `'LOST'` in SQL).
    fn statuses_in_literals(&self) -> Vec<String> {
        self.literals()
            .into_iter()
            .filter(|(_, literal)| {
                literal
                    .split(|c: char| !is_ident_char(c))
                    .any(|word| STATUSES.contains(&word))
            })
            .map(|(at, _)| self.locate(at))
            .collect()
    }

    /// The files of the modules this file declares `#[cfg(test)] mod name;`.
    fn test_modules(&self) -> Vec<String> {
        let dir = match self.path.rsplit_once('/') {
            Some((dir, file)) if ["lib.rs", "main.rs", "mod.rs"].contains(&file) => dir.to_owned(),
            _ => self.path.trim_end_matches(".rs").to_owned(),
        };
        test_items(&self.bare)
            .into_iter()
            .filter_map(|(start, end)| {
                // `mod name;`: an item without a body.
                let item = self.bare[start..end].strip_suffix(';')?;
                let mut words = item.split_whitespace().rev();
                let name = words.next()?;
                (!item.contains('{') && words.next() == Some("mod"))
                    .then(|| [format!("{dir}/{name}.rs"), format!("{dir}/{name}/mod.rs")])
            })
            .flatten()
            .collect()
    }

    /// This file with its `#[cfg(test)]` items blanked in both views.
    fn without_test_items(mut self) -> SourceFile {
        for (start, end) in test_items(&self.bare) {
            for view in [&mut self.code, &mut self.bare] {
                let blanked = blank(&view[start..end]);
                view.replace_range(start..end, &blanked);
            }
        }
        self
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `text` with every character but line breaks turned into a space (so offsets are kept: every
/// blanked character is replaced by as many spaces as it has bytes).
fn blank(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == '\n' {
                "\n".to_owned()
            } else {
                " ".repeat(c.len_utf8())
            }
        })
        .collect()
}

/// The byte ranges, in a `bare` view, of the items marked `#[cfg(test)]`: from the attribute to
/// the item's closing brace, or to its `;` (`#[cfg(test)] mod tests;`).
fn test_items(bare: &str) -> Vec<(usize, usize)> {
    let bytes = bare.as_bytes();
    let mut items = Vec::new();
    for (start, attribute) in bare.match_indices("#[cfg(test)]") {
        let mut at = start + attribute.len();
        let mut depth = 0_i32;
        while at < bytes.len() {
            match bytes[at] {
                b'(' | b'[' => depth += 1,
                b')' | b']' => depth -= 1,
                b';' if depth == 0 => {
                    at += 1;
                    break;
                }
                b'{' if depth == 0 => {
                    let mut braces = 0_i32;
                    while at < bytes.len() {
                        match bytes[at] {
                            b'{' => braces += 1,
                            b'}' => braces -= 1,
                            _ => {}
                        }
                        at += 1;
                        if braces == 0 {
                            break;
                        }
                    }
                    break;
                }
                _ => {}
            }
            at += 1;
        }
        items.push((start, at.min(bytes.len())));
    }
    items
}

/// The `code` and `bare` views of Rust source `text` (see [`SourceFile`]). A coarse lexer: line
/// and nested block comments, strings with escapes, raw strings, byte and C strings, character
/// literals told from lifetimes.
fn blank_comments_and_literals(text: &str) -> (String, String) {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut code = String::with_capacity(text.len());
    let mut bare = String::with_capacity(text.len());
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let slice = |from: usize, to: usize| {
        let start = chars.get(from).map_or(text.len(), |&(o, _)| o);
        let end = chars.get(to).map_or(text.len(), |&(o, _)| o);
        &text[start..end]
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        let previous_is_ident = i > 0 && is_ident_char(chars[i - 1].1);
        // Comments: blank in both views.
        if c == '/' && at(i + 1) == Some('/') {
            let end = (i..chars.len())
                .find(|&j| chars[j].1 == '\n')
                .unwrap_or(chars.len());
            let blanked = blank(slice(i, end));
            code.push_str(&blanked);
            bare.push_str(&blanked);
            i = end;
            continue;
        }
        if c == '/' && at(i + 1) == Some('*') {
            let (mut depth, mut j) = (0, i);
            while j < chars.len() {
                if chars[j].1 == '/' && at(j + 1) == Some('*') {
                    depth += 1;
                    j += 2;
                } else if chars[j].1 == '*' && at(j + 1) == Some('/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            let blanked = blank(slice(i, j));
            code.push_str(&blanked);
            bare.push_str(&blanked);
            i = j;
            continue;
        }
        // Raw strings: r"…", r#"…"#, br"…", cr"…".
        if !previous_is_ident && matches!(c, 'r' | 'b' | 'c') {
            let prefix = if c == 'r' {
                1
            } else if at(i + 1) == Some('r') {
                2
            } else {
                0
            };
            if prefix > 0 {
                let hashes = (i + prefix..chars.len())
                    .take_while(|&j| chars[j].1 == '#')
                    .count();
                if at(i + prefix + hashes) == Some('"') {
                    let open = i + prefix + hashes + 1;
                    let closing: String = std::iter::once('"')
                        .chain("#".repeat(hashes).chars())
                        .collect();
                    let body_end = (open..chars.len())
                        .find(|&j| slice(j, j + closing.chars().count()) == closing)
                        .unwrap_or(chars.len());
                    let end = (body_end + closing.chars().count()).min(chars.len());
                    code.push_str(slice(i, end));
                    bare.push_str(slice(i, open));
                    bare.push_str(&blank(slice(open, body_end)));
                    bare.push_str(slice(body_end, end));
                    i = end;
                    continue;
                }
            }
        }
        // Strings (b"…" and c"…" too: their prefix is copied as code).
        if c == '"' {
            let mut j = i + 1;
            while j < chars.len() && chars[j].1 != '"' {
                j += if chars[j].1 == '\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(chars.len());
            code.push_str(slice(i, end));
            bare.push('"');
            bare.push_str(&blank(slice(i + 1, j.min(chars.len()))));
            if j < chars.len() {
                bare.push('"');
            }
            i = end;
            continue;
        }
        // Character literals ('a', '\n', '\''); a lone quote starts a lifetime or a label.
        if c == '\'' {
            let end = if at(i + 1) == Some('\\') {
                // After the escaped character, the closing quote.
                (i + 3..chars.len())
                    .find(|&j| chars[j].1 == '\'')
                    .map(|j| j + 1)
            } else if at(i + 2) == Some('\'') {
                Some(i + 3)
            } else {
                None
            };
            if let Some(end) = end {
                code.push_str(slice(i, end));
                bare.push('\'');
                bare.push_str(&blank(slice(i + 1, end - 1)));
                bare.push('\'');
                i = end;
                continue;
            }
        }
        code.push(c);
        bare.push(c);
        i += 1;
    }
    (code, bare)
}

// ---------------------------------------------------------------------------------------------
// The schema: schema.rs against a migrated SQLite database.

/// A column as diesel sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    /// The SQL type's name (`Text`, `BigInt`, `UtcDateTime`, …), without `Nullable`.
    sql_type: String,
    nullable: bool,
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.nullable {
            write!(f, "Nullable<{}>", self.sql_type)
        } else {
            f.write_str(&self.sql_type)
        }
    }
}

/// A table: its primary key and its columns by name.
#[derive(Debug, Default, PartialEq, Eq)]
struct Table {
    primary_key: Vec<String>,
    columns: BTreeMap<String, Column>,
    /// For the migrated schema: each column's declared SQL type, to show in a difference.
    declared: BTreeMap<String, String>,
}

type Schema = BTreeMap<String, Table>;

/// The tables of the `diesel::table!` invocations in `file`.
fn parse_table_macros(file: &SourceFile) -> Schema {
    let mut schema = Schema::new();
    for (at, _) in file.code.match_indices("table!") {
        let Some(open) = file.code[at..].find('{').map(|o| at + o) else {
            continue;
        };
        let tokens = tokens(&file.code[open + 1..]);
        let mut tokens = tokens.iter().map(String::as_str).peekable();
        // Skip `use …;` and attributes until the table's name.
        let name = loop {
            match tokens.next() {
                Some("use") => for _ in tokens.by_ref().take_while(|t| *t != ";") {},
                Some("#") => skip_group(&mut tokens),
                Some(word) if word.chars().all(is_ident_char) => break word.to_owned(),
                other => panic!("schema.rs: unexpected {other:?} in a table! block"),
            }
        };
        let mut table = Table::default();
        if tokens.peek() == Some(&"(") {
            tokens.next();
            for token in tokens.by_ref().take_while(|t| *t != ")") {
                if token != "," {
                    table.primary_key.push(token.to_owned());
                }
            }
        }
        assert_eq!(
            tokens.next(),
            Some("{"),
            "schema.rs: table {name} has no column list"
        );
        loop {
            let column = match tokens.next() {
                Some("}") | None => break,
                Some("#") => {
                    skip_group(&mut tokens);
                    continue;
                }
                Some(column) => column.to_owned(),
            };
            assert_eq!(
                tokens.next(),
                Some("->"),
                "schema.rs: {name}.{column} has no type"
            );
            let mut sql_type = String::new();
            let mut depth = 0;
            while let Some(&token) = tokens.peek() {
                match token {
                    "<" => depth += 1,
                    ">" => depth -= 1,
                    "," | "}" if depth == 0 => break,
                    _ => {}
                }
                sql_type.push_str(token);
                tokens.next();
            }
            if tokens.peek() == Some(&",") {
                tokens.next();
            }
            let (nullable, sql_type) = match sql_type
                .strip_prefix("Nullable<")
                .and_then(|t| t.strip_suffix('>'))
            {
                Some(inner) => (true, inner),
                None => (false, sql_type.as_str()),
            };
            let sql_type = sql_type.rsplit("::").next().unwrap_or(sql_type).to_owned();
            table.columns.insert(column, Column { sql_type, nullable });
        }
        schema.insert(name, table);
    }
    schema
}

/// Rust tokens, coarsely: identifiers, `->`, `::`, strings, and single punctuation characters.
fn tokens(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if is_ident_char(c) {
            let end = (i..chars.len())
                .find(|&j| !is_ident_char(chars[j]))
                .unwrap_or(chars.len());
            tokens.push(chars[i..end].iter().collect());
            i = end;
        } else if c == '"' {
            let end = (i + 1..chars.len())
                .find(|&j| chars[j] == '"')
                .map_or(chars.len(), |j| j + 1);
            tokens.push(chars[i..end].iter().collect());
            i = end;
        } else if (c == '-' && chars.get(i + 1) == Some(&'>'))
            || (c == ':' && chars.get(i + 1) == Some(&':'))
        {
            tokens.push(chars[i..i + 2].iter().collect());
            i += 2;
        } else {
            tokens.push(c.to_string());
            i += 1;
        }
    }
    tokens
}

/// Skips a bracketed group (`[…]`, after an attribute's `#`).
fn skip_group<'a>(tokens: &mut impl Iterator<Item = &'a str>) {
    let mut depth = 0;
    for token in tokens {
        match token {
            "[" | "(" | "{" => depth += 1,
            "]" | ")" | "}" => {
                depth -= 1;
                if depth <= 0 {
                    return;
                }
            }
            _ => {}
        }
    }
}

/// The diesel SQL type jobstore reads a SQLite column's declared type as: the mapping of
/// schema.rs's types to migrations/sqlite (`stamp.rs`: every time column is `UtcDateTime`,
/// declared `TIMESTAMP`).
fn diesel_type_of(declared: &str) -> String {
    let upper = declared.to_ascii_uppercase();
    let base = upper.split(['(', ' ']).next().unwrap_or_default();
    match base {
        "TEXT" | "VARCHAR" | "CHAR" | "CHARACTER" | "CLOB" => "Text",
        "INTEGER" | "INT" | "SMALLINT" => "Integer",
        "BIGINT" => "BigInt",
        "TIMESTAMP" | "DATETIME" => "UtcDateTime",
        "BOOLEAN" | "BOOL" => "Bool",
        "BLOB" | "BINARY" | "VARBINARY" => "Binary",
        "REAL" | "DOUBLE" | "FLOAT" => "Double",
        _ => return format!("unknown ({declared})"),
    }
    .to_owned()
}

/// The schema of a SQLite database migrated by jobstore-migrator, read back with
/// `pragma_table_info` (diesel's own bookkeeping table left out).
fn migrated_sqlite_schema() -> Schema {
    use diesel::{
        Connection, QueryableByName, RunQueryDsl, SqliteConnection, sql_query, sql_types,
    };

    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = sql_types::Text)]
        name: String,
    }

    #[derive(QueryableByName)]
    struct Info {
        #[diesel(sql_type = sql_types::Text)]
        name: String,
        #[diesel(sql_type = sql_types::Text)]
        r#type: String,
        #[diesel(sql_type = sql_types::Integer)]
        notnull: i32,
        #[diesel(sql_type = sql_types::Integer)]
        pk: i32,
    }

    let dir = std::env::temp_dir().join(format!("jobstore-tidy-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("a scratch folder");
    let path = dir.join("schema.db");
    let url = path.to_string_lossy().into_owned();
    jobstore_migrator::Migrator::new(&url)
        .and_then(|mut m| m.run_pending())
        .unwrap_or_else(|e| panic!("migrating {url}: {e}"));
    let mut conn = SqliteConnection::establish(&url).expect("the migrated database opens");
    let tables: Vec<Name> = sql_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
         AND name <> '__diesel_schema_migrations' ORDER BY name",
    )
    .load(&mut conn)
    .expect("the tables");
    let mut schema = Schema::new();
    for Name { name: table_name } in tables {
        let columns: Vec<Info> =
            sql_query("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?) ORDER BY cid")
                .bind::<sql_types::Text, _>(&table_name)
                .load(&mut conn)
                .expect("the columns");
        let mut table = Table::default();
        let mut key: Vec<(i32, String)> = Vec::new();
        for info in columns {
            if info.pk > 0 {
                key.push((info.pk, info.name.clone()));
            }
            // SQLite lets a primary key column hold NULL unless it is declared NOT NULL, so
            // only the declaration counts.
            let column = Column {
                sql_type: diesel_type_of(&info.r#type),
                nullable: info.notnull == 0,
            };
            let null = if column.nullable { "" } else { " NOT NULL" };
            table
                .declared
                .insert(info.name.clone(), format!("{}{null}", info.r#type));
            table.columns.insert(info.name, column);
        }
        key.sort();
        table.primary_key = key.into_iter().map(|(_, name)| name).collect();
        schema.insert(table_name, table);
    }
    drop(conn);
    let _ = fs::remove_dir_all(&dir);
    schema
}

/// The differences between schema.rs (`declared`) and the migrated database, one a line.
fn compare_schemas(declared: &Schema, migrated: &Schema) -> Vec<String> {
    let mut differences = Vec::new();
    let names: BTreeSet<&String> = declared.keys().chain(migrated.keys()).collect();
    for name in names {
        let (ours, theirs) = match (declared.get(name), migrated.get(name)) {
            (Some(ours), Some(theirs)) => (ours, theirs),
            (Some(_), None) => {
                differences.push(format!("  table {name}: in schema.rs, not in the database"));
                continue;
            }
            (None, Some(_)) => {
                differences.push(format!("  table {name}: in the database, not in schema.rs"));
                continue;
            }
            (None, None) => continue,
        };
        if ours.primary_key != theirs.primary_key {
            differences.push(format!(
                "  table {name}: primary key ({}) in schema.rs, ({}) in the database",
                ours.primary_key.join(", "),
                theirs.primary_key.join(", ")
            ));
        }
        let columns: BTreeSet<&String> = ours.columns.keys().chain(theirs.columns.keys()).collect();
        for column in columns {
            let declared_as = |c: &String| {
                theirs
                    .declared
                    .get(c)
                    .map_or(String::new(), |d| format!(" (declared {d})"))
            };
            match (ours.columns.get(column), theirs.columns.get(column)) {
                (Some(a), Some(b)) if a != b => differences.push(format!(
                    "  {name}.{column}: schema.rs says {a}, the database says {b}{}",
                    declared_as(column)
                )),
                (Some(a), None) => differences.push(format!(
                    "  {name}.{column}: schema.rs says {a}, the database has no such column"
                )),
                (None, Some(b)) => differences.push(format!(
                    "  {name}.{column}: the database says {b}{}, schema.rs has no such column",
                    declared_as(column)
                )),
                _ => {}
            }
        }
    }
    differences
}

// ---------------------------------------------------------------------------------------------
// The checks' own tests: each finds what it should, and only that.

#[test]
fn comments_and_literals_are_told_from_code() {
    let text = "let a = \"x.unwrap() // no\"; // b.unwrap()\n/* c /* d */ e */ f('\\'', 'g', r#\"h\"#) -> &'a str";
    let (code, bare) = blank_comments_and_literals(text);
    assert_eq!(code.len(), text.len());
    assert_eq!(bare.len(), text.len());
    assert!(code.contains("\"x.unwrap() // no\""));
    assert!(!code.contains("b.unwrap"));
    assert!(!code.contains(" c ") && !code.contains(" e "));
    assert!(!bare.contains("unwrap"));
    assert!(bare.contains("f('  ', ' ', r#\" \"#) -> &'a str"));
}

#[test]
fn test_items_and_test_modules_are_left_out() {
    let text = "//! x\nfn f() {}\n#[cfg(test)]\nmod tests {\n    fn g() { None::<u8>.unwrap(); }\n}\n#[cfg(test)]\nmod more;\n";
    let (code, bare) = blank_comments_and_literals(text);
    let file = SourceFile {
        path: "crates/x/src/lib.rs".into(),
        text: text.into(),
        code,
        bare,
    };
    assert_eq!(
        file.test_modules(),
        ["crates/x/src/more.rs", "crates/x/src/more/mod.rs"]
    );
    let file = file.without_test_items();
    assert!(file.bare_matches(&["unwrap("]).is_empty());
    assert!(file.bare.contains("fn f() {}"));
}

#[test]
fn patterns_match_whole_tokens_only() {
    let text = "//! x\nlet a = b.unwrap_or(c).unwrap();\nfor_update_all(); q.for_update();\n";
    let (code, bare) = blank_comments_and_literals(text);
    let file = SourceFile {
        path: "f.rs".into(),
        text: text.into(),
        code,
        bare,
    };
    assert_eq!(
        file.bare_matches(&["unwrap("]),
        ["f.rs:2: let a = b.unwrap_or(c).unwrap();"]
    );
    assert_eq!(
        file.code_matches(&["for_update"]),
        ["f.rs:3: for_update_all(); q.for_update();"]
    );
}

#[test]
fn manifests_are_read_for_every_kind_of_dependency() {
    let manifest = "[package]\nname = \"p\" # the name\n\n[dependencies]\ndiesel.workspace = true\n\
                    sql = { package = \"r2d2\", version = \"1\" }\n\n[dev-dependencies]\nproptest = \"1\"\n\n\
                    [target.'cfg(unix)'.build-dependencies]\ncc = \"1\"\n\n[dependencies.pq-sys]\nversion = \"0.7\"\n";
    assert_eq!(package_name(manifest).as_deref(), Some("p"));
    let found: Vec<(String, &str)> = dependencies(manifest)
        .into_iter()
        .map(|d| (d.name, d.kind))
        .collect();
    assert_eq!(
        found,
        [
            ("diesel".to_owned(), "normal"),
            ("r2d2".to_owned(), "normal"),
            ("proptest".to_owned(), "dev"),
            ("cc".to_owned(), "build"),
            ("pq-sys".to_owned(), "normal"),
        ]
    );
}

#[test]
fn a_schema_difference_names_table_column_and_both_types() {
    let text = "//! x\ndiesel::table! {\n    use diesel::sql_types::*;\n\n    jobs (tenant_id, job_id) {\n        \
                tenant_id -> Text,\n        job_id -> Text,\n        priority -> Integer,\n        note -> Nullable<Text>,\n    }\n}\n";
    let (code, bare) = blank_comments_and_literals(text);
    let file = SourceFile {
        path: "schema.rs".into(),
        text: text.into(),
        code,
        bare,
    };
    let declared = parse_table_macros(&file);
    let mut migrated = Schema::new();
    let mut jobs = Table {
        primary_key: vec!["tenant_id".into(), "job_id".into()],
        ..Table::default()
    };
    for (name, declared_type, nullable) in [
        ("tenant_id", "VARCHAR(36)", false),
        ("job_id", "VARCHAR(36)", false),
        ("priority", "BIGINT", false),
        ("extra", "TIMESTAMP", true),
    ] {
        jobs.columns.insert(
            name.into(),
            Column {
                sql_type: diesel_type_of(declared_type),
                nullable,
            },
        );
        jobs.declared.insert(name.into(), declared_type.into());
    }
    migrated.insert("jobs".into(), jobs);
    assert_eq!(
        compare_schemas(&declared, &migrated),
        [
            "  jobs.extra: the database says Nullable<UtcDateTime> (declared TIMESTAMP), schema.rs has no such column",
            "  jobs.note: schema.rs says Nullable<Text>, the database has no such column",
            "  jobs.priority: schema.rs says Integer, the database says BigInt (declared BIGINT)",
        ]
    );
}
