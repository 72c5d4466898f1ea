//! Emptying a test database between the steps of a test: every table's rows go, the schema and
//! the migrator's bookkeeping stay.

use diesel::{
    Connection, QueryableByName, RunQueryDsl, connection::SimpleConnection, sql_query,
    sql_types::Text,
};
use jobstore_storage::DbConnection;

use crate::{KitError, TestBackend, TestDatabase, server::names};

/// Deletes every row of every table of `db` (but the migrator's bookkeeping), children before
/// parents, in one transaction. The tables are read from the database, so tables added by later
/// migrations are emptied too.
///
/// Takes a [`TestDatabase`] or a [`MemoryStore`](crate::MemoryStore).
///
/// ```
/// use jobstore_domain::NewTenant;
/// use jobstore_storage::TenantRepository;
///
/// let store = jobstore_testkit::memory_store()?;
/// store.create_tenant(NewTenant::named("Acme Corp"))?;
/// jobstore_testkit::reset(&store)?;
/// assert!(store.list_tenants(&Default::default())?.items.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn reset(db: &impl AsRef<TestDatabase>) -> Result<(), KitError> {
    let db = db.as_ref();
    let backend = db.backend();
    let mut conn = db.connect()?;
    let tables = tables_children_first(backend, &mut conn)?;
    let statements: Vec<String> = tables
        .iter()
        .map(|table| format!("DELETE FROM {}", quoted(backend, table)))
        .collect();
    conn.transaction(|conn| {
        statements
            .iter()
            .try_for_each(|sql| conn.batch_execute(sql))
    })
    .map_err(KitError::diesel(backend, statements.join("; ")))
}

/// The database's tables but the migrator's, each after every table that refers to it.
pub(crate) fn tables_children_first(
    backend: TestBackend,
    conn: &mut DbConnection,
) -> Result<Vec<String>, KitError> {
    let (tables, references) = match backend {
        TestBackend::Postgres => (
            "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            "SELECT CAST(child.relname AS TEXT) AS child, CAST(parent.relname AS TEXT) AS parent \
             FROM pg_constraint c \
             JOIN pg_class child ON child.oid = c.conrelid \
             JOIN pg_class parent ON parent.oid = c.confrelid \
             JOIN pg_namespace n ON n.oid = child.relnamespace \
             WHERE c.contype = 'f' AND n.nspname = current_schema()",
        ),
        TestBackend::Mysql => (
            "SELECT CAST(table_name AS CHAR) AS name FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'",
            "SELECT CAST(table_name AS CHAR) AS child, \
             CAST(referenced_table_name AS CHAR) AS parent \
             FROM information_schema.referential_constraints \
             WHERE constraint_schema = DATABASE()",
        ),
        TestBackend::Sqlite => (
            "SELECT name FROM sqlite_master \
             WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
            "SELECT m.name AS child, f.\"table\" AS parent \
             FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table'",
        ),
    };
    let mut tables: Vec<String> = names(conn, backend, tables)?
        .into_iter()
        .filter(|table| table != "__diesel_schema_migrations")
        .collect();
    tables.sort();
    let references: Vec<Reference> = sql_query(references)
        .load(conn)
        .map_err(KitError::diesel(backend, references))?;
    Ok(children_first(tables, &references))
}

#[derive(QueryableByName, Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    #[diesel(sql_type = Text)]
    child: String,
    #[diesel(sql_type = Text)]
    parent: String,
}

/// `tables` ordered so that each comes after every table referring to it (a table referring to
/// itself does not count; tables in a cycle come last, in name order).
fn children_first(mut left: Vec<String>, references: &[Reference]) -> Vec<String> {
    let mut ordered = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let referred = |table: &String| {
            references
                .iter()
                .any(|r| &r.parent == table && &r.child != table && left.contains(&r.child))
        };
        let (free, held): (Vec<String>, Vec<String>) =
            left.iter().cloned().partition(|table| !referred(table));
        if free.is_empty() {
            ordered.extend(held);
            break;
        }
        ordered.extend(free);
        left = held;
    }
    ordered
}

fn quoted(backend: TestBackend, table: &str) -> String {
    match backend {
        TestBackend::Mysql => format!("`{}`", table.replace('`', "``")),
        _ => format!("\"{}\"", table.replace('"', "\"\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(child: &str, parent: &str) -> Reference {
        Reference {
            child: child.to_owned(),
            parent: parent.to_owned(),
        }
    }

    #[test]
    fn children_come_before_their_parents() {
        let tables = ["job_state_transitions", "jobs", "schedules", "tenants"]
            .map(str::to_owned)
            .to_vec();
        let references = [
            reference("jobs", "tenants"),
            reference("schedules", "tenants"),
            reference("job_state_transitions", "jobs"),
            reference("jobs", "jobs"),
        ];
        assert_eq!(
            children_first(tables, &references),
            ["job_state_transitions", "schedules", "jobs", "tenants"]
        );
    }
}
