//! The migrator's operations (run, revert, status, redo), written once for the migration harness
//! of any backend; the backend modules run them under their lock.

use std::collections::HashSet;

use diesel::migration::{Migration, MigrationSource};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};
use jobstore_storage::Backend;

use crate::{Direction, MigrateError, MigrationId, Status};

/// Something the migrator does on a locked connection.
pub(crate) trait Operation {
    /// What the operation reports.
    type Output;

    /// Runs the operation on `conn`, whose lock is held, with the backend's embedded `source`.
    fn apply<DB, C>(
        self,
        conn: &mut C,
        source: &EmbeddedMigrations,
        backend: Backend,
    ) -> Result<Self::Output, MigrateError>
    where
        DB: diesel::backend::Backend,
        C: MigrationHarness<DB>;
}

/// Applies every pending migration, oldest first.
pub(crate) struct RunPending;
/// Reverts the newest applied migration.
pub(crate) struct RevertLast;
/// Reverts every applied migration, newest first.
pub(crate) struct RevertAll;
/// Lists applied and pending migrations.
pub(crate) struct ReadStatus;
/// Reverts the newest applied migration and applies it again.
pub(crate) struct Redo;

impl Operation for RunPending {
    type Output = Vec<MigrationId>;

    fn apply<DB, C>(
        self,
        conn: &mut C,
        source: &EmbeddedMigrations,
        _backend: Backend,
    ) -> Result<Vec<MigrationId>, MigrateError>
    where
        DB: diesel::backend::Backend,
        C: MigrationHarness<DB>,
    {
        let applied: HashSet<String> = applied(conn)?.into_iter().collect();
        let mut done = Vec::new();
        for migration in known::<DB>(source)? {
            let id = id_of(&*migration);
            if applied.contains(id.version()) {
                continue;
            }
            conn.run_migration(&*migration)
                .map_err(|e| MigrateError::migration(id.clone(), Direction::Up, e))?;
            done.push(id);
        }
        Ok(done)
    }
}

impl Operation for RevertLast {
    type Output = MigrationId;

    fn apply<DB, C>(
        self,
        conn: &mut C,
        source: &EmbeddedMigrations,
        _backend: Backend,
    ) -> Result<MigrationId, MigrateError>
    where
        DB: diesel::backend::Backend,
        C: MigrationHarness<DB>,
    {
        let last = applied(conn)?.pop().ok_or(MigrateError::NothingToRevert)?;
        let known = known::<DB>(source)?;
        revert(conn, find(&known, &last)?)
    }
}

impl Operation for RevertAll {
    type Output = Vec<MigrationId>;

    fn apply<DB, C>(
        self,
        conn: &mut C,
        source: &EmbeddedMigrations,
        _backend: Backend,
    ) -> Result<Vec<MigrationId>, MigrateError>
    where
        DB: diesel::backend::Backend,
        C: MigrationHarness<DB>,
    {
        let known = known::<DB>(source)?;
        let mut done = Vec::new();
        for version in applied(conn)?.iter().rev() {
            done.push(revert(conn, find(&known, version)?)?);
        }
        Ok(done)
    }
}

impl Operation for ReadStatus {
    type Output = Status;

    fn apply<DB, C>(
        self,
        conn: &mut C,
        source: &EmbeddedMigrations,
        backend: Backend,
    ) -> Result<Status, MigrateError>
    where
        DB: diesel::backend::Backend,
        C: MigrationHarness<DB>,
    {
        let mut unknown_applied: HashSet<String> = applied(conn)?.into_iter().collect();
        let mut applied = Vec::new();
        let mut pending = Vec::new();
        for migration in known::<DB>(source)? {
            let id = id_of(&*migration);
            if unknown_applied.remove(id.version()) {
                applied.push(id);
            } else {
                pending.push(id);
            }
        }
        applied.extend(
            unknown_applied
                .into_iter()
                .map(|version| MigrationId::new(version, None)),
        );
        applied.sort();
        Ok(Status {
            backend,
            applied,
            pending,
        })
    }
}

impl Operation for Redo {
    type Output = MigrationId;

    fn apply<DB, C>(
        self,
        conn: &mut C,
        source: &EmbeddedMigrations,
        _backend: Backend,
    ) -> Result<MigrationId, MigrateError>
    where
        DB: diesel::backend::Backend,
        C: MigrationHarness<DB>,
    {
        let last = applied(conn)?.pop().ok_or(MigrateError::NothingToRevert)?;
        let known = known::<DB>(source)?;
        let migration = find(&known, &last)?;
        let id = revert(conn, migration)?;
        conn.run_migration(migration)
            .map_err(|e| MigrateError::migration(id.clone(), Direction::Up, e))?;
        Ok(id)
    }
}

/// The migrations a backend's source embeds, oldest first.
pub(crate) fn known<DB: diesel::backend::Backend>(
    source: &EmbeddedMigrations,
) -> Result<Vec<Box<dyn Migration<DB>>>, MigrateError> {
    let mut migrations =
        MigrationSource::<DB>::migrations(source).map_err(MigrateError::bookkeeping)?;
    migrations.sort_by(|a, b| a.name().version().cmp(&b.name().version()));
    Ok(migrations)
}

/// The versions recorded as applied, oldest first (creating the bookkeeping table if need be).
fn applied<DB, C>(conn: &mut C) -> Result<Vec<String>, MigrateError>
where
    DB: diesel::backend::Backend,
    C: MigrationHarness<DB>,
{
    let mut versions: Vec<String> = conn
        .applied_migrations()
        .map_err(MigrateError::bookkeeping)?
        .iter()
        .map(ToString::to_string)
        .collect();
    versions.sort();
    Ok(versions)
}

/// The embedded migration with this version.
fn find<'m, DB: diesel::backend::Backend>(
    known: &'m [Box<dyn Migration<DB>>],
    version: &str,
) -> Result<&'m dyn Migration<DB>, MigrateError> {
    known
        .iter()
        .find(|m| m.name().version().to_string() == version)
        .map(|m| &**m)
        .ok_or_else(|| MigrateError::UnknownMigration {
            version: version.to_owned(),
        })
}

/// Reverts one migration and says which.
fn revert<DB, C>(conn: &mut C, migration: &dyn Migration<DB>) -> Result<MigrationId, MigrateError>
where
    DB: diesel::backend::Backend,
    C: MigrationHarness<DB>,
{
    let id = id_of(migration);
    conn.revert_migration(migration)
        .map_err(|e| MigrateError::migration(id.clone(), Direction::Down, e))?;
    Ok(id)
}

/// The id of an embedded migration.
pub(crate) fn id_of<DB: diesel::backend::Backend>(migration: &dyn Migration<DB>) -> MigrationId {
    let name = migration.name();
    MigrationId::new(name.version().to_string(), Some(name.to_string()))
}
