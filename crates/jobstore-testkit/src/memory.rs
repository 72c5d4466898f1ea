//! The downstream test's shortest path to a working store: a migrated SQLite database in memory,
//! in one call.

use std::ops::Deref;

use jobstore_storage::Store;

use crate::{KitError, TestDatabase};

/// A store on a migrated in-memory SQLite database of its own (see [`memory_store`]). It derefs
/// to [`Store`], so the repository traits' methods are called on it directly; the database goes
/// when this is dropped and no clone of the store is left.
#[derive(Debug)]
pub struct MemoryStore {
    // Declared first: dropped before the database's own connection.
    store: Store,
    database: TestDatabase,
}

impl MemoryStore {
    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The database under the store, for stores of other settings
    /// ([`TestDatabase::store_config`]) or raw connections.
    pub fn database(&self) -> &TestDatabase {
        &self.database
    }
}

impl Deref for MemoryStore {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

impl AsRef<TestDatabase> for MemoryStore {
    fn as_ref(&self) -> &TestDatabase {
        &self.database
    }
}

impl AsRef<Store> for MemoryStore {
    fn as_ref(&self) -> &Store {
        &self.store
    }
}

/// A store on a fresh, migrated in-memory SQLite database: no file, no server, nothing to
/// clean up. Its connections (up to 4) share the database, so it behaves as a file would,
/// concurrency included.
///
/// ```
/// use jobstore_domain::{NewJob, NewTenant};
/// use jobstore_storage::{JobRepository, TenantRepository};
///
/// let store = jobstore_testkit::memory_store()?;
/// let tenant = store.create_tenant(NewTenant::named("Acme Corp"))?;
/// let job = store.create_job(NewJob::new(tenant.id.clone()))?;
/// assert_eq!(store.get_job(&tenant.id, &job.id)?, job);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A test that moves time by hand gives the store a clock:
///
/// ```
/// use chrono::TimeDelta;
/// use jobstore_storage::ManualClock;
///
/// let memory = jobstore_testkit::memory_store()?;
/// let clock = ManualClock::at(chrono::Utc::now());
/// let store = memory.store().clone().with_clock(clock.clone());
/// clock.advance(TimeDelta::minutes(5));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn memory_store() -> Result<MemoryStore, KitError> {
    let database = TestDatabase::memory()?;
    let store = database.open_store()?;
    Ok(MemoryStore { store, database })
}
