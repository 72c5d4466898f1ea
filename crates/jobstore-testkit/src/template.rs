//! The migrated template each backend's test databases are cloned from: named after a
//! fingerprint of the migrations, made once per process (once per machine or server when test
//! processes race), and what a clone needs of it kept in memory.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock, PoisonError},
};

use diesel::{
    QueryableByName, RunQueryDsl, connection::SimpleConnection, sql_query, sql_types::Text,
};
use jobstore_migrator::{Migrator, embedded_migrations};
use jobstore_storage::DbConnection;

use crate::{
    KitError, TestBackend, files,
    server::{
        self, Server, TEMPLATE_PREFIX, create_database, drop_database, list_databases,
        lock_templates, names, unlock_templates,
    },
};

/// What cloning a template takes.
#[derive(Debug)]
pub(crate) enum Template {
    /// PostgreSQL: `CREATE DATABASE <clone> TEMPLATE <name>`.
    Postgres {
        /// The template database.
        name: String,
    },
    /// MySQL/MariaDB: the template's tables re-created from their `SHOW CREATE TABLE`, and
    /// the migrator's bookkeeping rows, as one batch to run in the new database.
    Mysql {
        /// The statements.
        ddl: String,
    },
    /// SQLite: the template file's bytes, written to each new file.
    Sqlite {
        /// The file's contents.
        bytes: Arc<Vec<u8>>,
    },
}

/// The template of `backend`, made (or found) on first use.
pub(crate) fn template(backend: TestBackend) -> Result<Arc<Template>, KitError> {
    let mut templates = templates().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(template) = templates.get(&backend) {
        return Ok(Arc::clone(template));
    }
    let name = format!("{TEMPLATE_PREFIX}{}", fingerprint(backend)?);
    let template = Arc::new(match backend {
        TestBackend::Postgres => {
            make_on_server(&*Server::get(backend)?, &name, |_| Ok(()))?;
            Template::Postgres { name }
        }
        TestBackend::Mysql => Template::Mysql {
            ddl: mysql_ddl(&*Server::get(backend)?, &name)?,
        },
        TestBackend::Sqlite => Template::Sqlite {
            bytes: Arc::new(files::template(&name)?),
        },
    });
    templates.insert(backend, Arc::clone(&template));
    Ok(template)
}

/// Forgets the template of `backend`, so that the next clone makes or finds it again (another
/// process may have swept it as stale).
pub(crate) fn forget(backend: TestBackend) {
    templates()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&backend);
}

fn templates() -> &'static Mutex<HashMap<TestBackend, Arc<Template>>> {
    static TEMPLATES: OnceLock<Mutex<HashMap<TestBackend, Arc<Template>>>> = OnceLock::new();
    TEMPLATES.get_or_init(Default::default)
}

/// 16 hex digits that change whenever the backend's migrations do: their files' names and
/// contents (read when the kit was built) and the versions the migrator embeds.
pub(crate) fn fingerprint(backend: TestBackend) -> Result<String, KitError> {
    let files = match backend {
        TestBackend::Postgres => env!("JOBSTORE_TESTKIT_POSTGRES_MIGRATIONS"),
        TestBackend::Mysql => env!("JOBSTORE_TESTKIT_MYSQL_MIGRATIONS"),
        TestBackend::Sqlite => env!("JOBSTORE_TESTKIT_SQLITE_MIGRATIONS"),
    };
    let mut hash = fnv(0xcbf2_9ce4_8422_2325, files.as_bytes());
    for id in embedded(backend)? {
        hash = fnv(hash, id.as_bytes());
        hash = fnv(hash, &[0]);
    }
    Ok(format!("{hash:016x}"))
}

/// FNV-1a, 64 bits, continuing from `hash`: stable across Rust versions.
fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The versions of the migrations the migrator embeds for `backend`, oldest first.
pub(crate) fn embedded(backend: TestBackend) -> Result<Vec<String>, KitError> {
    embedded_migrations(backend.backend())
        .map(|ids| ids.iter().map(|id| id.version().to_owned()).collect())
        .map_err(|source| KitError::Migrate {
            backend,
            database: "(embedded migrations)".to_owned(),
            source,
        })
}

/// Runs every migration on the database at `url`.
pub(crate) fn migrate(backend: TestBackend, url: &str) -> Result<(), KitError> {
    Migrator::new(url)
        .and_then(|mut migrator| migrator.run_pending())
        .map(drop)
        .map_err(|source| KitError::Migrate {
            backend,
            database: crate::redact(url),
            source,
        })
}

/// Runs `work` on an admin connection while holding the template lock.
fn under_lock<T>(
    server: &Server,
    work: impl FnOnce(&mut DbConnection) -> Result<T, KitError>,
) -> Result<T, KitError> {
    server.with_admin(|conn| {
        lock_templates(server.backend, conn)?;
        // On failure the connection is closed, which releases the lock too.
        let done = work(conn)?;
        unlock_templates(server.backend, conn)?;
        Ok(done)
    })
}

/// Makes template `name` on the server unless a complete one is there, drops the templates of
/// other migrations, and returns what `read` reads of it, all under the template lock.
///
/// Completeness: PostgreSQL's template is made as `<name>_new` and renamed when migrated, so a
/// database called `name` is complete, and nobody connects to it (which would stop
/// `CREATE DATABASE .. TEMPLATE`). MySQL's is complete when its bookkeeping lists every
/// embedded migration.
fn make_on_server<T>(
    server: &Server,
    name: &str,
    read: impl FnOnce(&mut DbConnection) -> Result<T, KitError>,
) -> Result<T, KitError> {
    let backend = server.backend;
    let building = format!("{name}_new");
    let wanted = embedded(backend)?;
    under_lock(server, |conn| {
        let existing = names(conn, backend, &list_databases(backend, TEMPLATE_PREFIX))?;
        let complete = existing.iter().any(|n| n == name)
            && match backend {
                TestBackend::Mysql => applied_mysql(conn, name).is_ok_and(|v| v == wanted),
                _ => true,
            };
        if !complete {
            let url = server.url_of(match backend {
                TestBackend::Postgres => &building,
                _ => name,
            });
            let fresh = match backend {
                TestBackend::Postgres => [
                    drop_database(backend, &building),
                    create_database(backend, &building),
                ],
                _ => [drop_database(backend, name), create_database(backend, name)],
            };
            for sql in fresh {
                conn.batch_execute(&sql)
                    .map_err(KitError::diesel(backend, sql))?;
            }
            migrate(backend, &url)?;
            if backend == TestBackend::Postgres {
                let sql = format!("ALTER DATABASE {building} RENAME TO {name}");
                conn.batch_execute(&sql)
                    .map_err(KitError::diesel(backend, sql))?;
            }
        }
        // Templates of other migrations (another checkout's, or older) are left alone: a run
        // of that checkout may be cloning them right now. They are few and small; drop them by
        // hand (`jobstore_tpl_*`) when a migration set is gone for good.
        read(conn)
    })
}

/// The migration versions MySQL database `database` has applied, oldest first.
fn applied_mysql(conn: &mut DbConnection, database: &str) -> Result<Vec<String>, KitError> {
    names(
        conn,
        TestBackend::Mysql,
        &format!(
            "SELECT CAST(version AS CHAR) AS name FROM {database}.__diesel_schema_migrations \
             ORDER BY version"
        ),
    )
}

#[derive(QueryableByName)]
struct CreateTable {
    #[diesel(sql_type = Text, column_name = "Create Table")]
    create: String,
}

/// Makes MySQL template `name` (see [`make_on_server`]) and reads the statements that make a
/// database like it: each table's `SHOW CREATE TABLE` (which keeps CHECK constraints, generated
/// columns, indexes and foreign keys), and the migrator's bookkeeping rows.
fn mysql_ddl(server: &Server, name: &str) -> Result<String, KitError> {
    let backend = TestBackend::Mysql;
    // Read under the lock, so that no process sweeps the template meanwhile.
    make_on_server(server, name, |conn| {
        let tables = names(
            conn,
            backend,
            &format!(
                "SELECT CAST(table_name AS CHAR) AS name FROM information_schema.tables \
                 WHERE table_schema = '{name}' AND table_type = 'BASE TABLE' ORDER BY table_name"
            ),
        )?;
        // Foreign keys name tables made later in the batch.
        let mut ddl = String::from("SET FOREIGN_KEY_CHECKS = 0;\n");
        for table in &tables {
            let sql = format!("SHOW CREATE TABLE {name}.{table}");
            let create = sql_query(&sql)
                .get_result::<CreateTable>(conn)
                .map_err(KitError::diesel(backend, sql))?
                .create;
            ddl.push_str(&create);
            ddl.push_str(";\n");
        }
        let versions = applied_mysql(conn, name)?;
        if !versions.is_empty() {
            let rows: Vec<String> = versions.iter().map(|v| format!("('{v}')")).collect();
            ddl.push_str(&format!(
                "INSERT INTO __diesel_schema_migrations (version) VALUES {};\n",
                rows.join(", ")
            ));
        }
        ddl.push_str("SET FOREIGN_KEY_CHECKS = 1;\n");
        Ok(ddl)
    })
}

/// Clones the template of `backend` into the new database `name` on `server` (PostgreSQL or
/// MySQL).
pub(crate) fn clone_on_server(
    server: &Server,
    template: &Template,
    name: &str,
) -> Result<(), KitError> {
    let backend = server.backend;
    let sql = match template {
        Template::Postgres { name: template } => {
            format!("CREATE DATABASE {name} TEMPLATE {template}")
        }
        Template::Mysql { ddl } => format!(
            "{};\nUSE {name};\n{ddl}",
            server::create_database(backend, name)
        ),
        Template::Sqlite { .. } => return Ok(()),
    };
    match template {
        // `USE` points the connection at the clone: run it on a connection of its own, so that
        // no pooled admin connection is left inside a test's database (where a test that ends
        // the database's sessions would end it too).
        Template::Mysql { .. } => crate::named::execute(&server.url, &sql),
        _ => server.execute(&sql),
    }
}
