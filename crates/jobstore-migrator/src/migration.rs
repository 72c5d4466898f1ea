//! What the migrator reports: which migration (version and name), and where a database stands.

use jobstore_storage::Backend;

/// One migration: its version as recorded in `__diesel_schema_migrations`, and its name when
/// this build embeds it.
///
/// Ordered by version, which is the order migrations apply in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MigrationId {
    version: String,
    name: Option<String>,
}

impl MigrationId {
    pub(crate) fn new(version: String, name: Option<String>) -> Self {
        Self { version, name }
    }

    /// The version diesel records: the folder name's leading timestamp without its dashes
    /// (`20261122000001` for `2026-11-22-000001_create_tenants_and_jobs`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The migration's folder name (`2026-11-22-000001_create_tenants_and_jobs`), or `None` for a
    /// migration the database records but this build does not embed.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether this build embeds the migration (and so can revert it).
    pub fn is_known(&self) -> bool {
        self.name.is_some()
    }
}

impl std::fmt::Display for MigrationId {
    /// The folder name, or the bare version for a migration this build does not embed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name.as_deref().unwrap_or(&self.version))
    }
}

/// Where a database stands: the migrations applied and those still pending, each in version order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// The database's backend.
    pub backend: Backend,
    /// Applied migrations, oldest first. Those the database records but this build does not embed
    /// are included, with no name ([`MigrationId::is_known`] is false).
    pub applied: Vec<MigrationId>,
    /// Migrations this build embeds that are not applied yet, in the order they will apply.
    pub pending: Vec<MigrationId>,
}

impl Status {
    /// Whether every embedded migration is applied.
    pub fn is_up_to_date(&self) -> bool {
        self.pending.is_empty()
    }
}
