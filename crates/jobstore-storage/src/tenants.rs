//! Tenant storage: the queries behind [`TenantRepository`].

use diesel::prelude::*;
use jobstore_domain::{NewTenant, Page, PageRequest, Tenant, TenantId, TenantUpdate};

use crate::{
    DbConnection, Entity, StorageError, TenantRepository,
    rows::{TenantRow, stored},
    schema::{jobs, tenants},
    store::Session,
};

impl<S: Session> TenantRepository for S {
    fn create_tenant(&self, new: NewTenant) -> Result<Tenant, StorageError> {
        self.write(|conn, settings| {
            let tenant = new.into_tenant(settings.clock.now())?;
            ensure_oauth_free(conn, &tenant)?;
            diesel::insert_into(tenants::table)
                .values(TenantRow::from(&tenant))
                .execute(conn)
                .map_err(|e| StorageError::from(e).about(Entity::Tenant, &tenant.id))?;
            Ok(tenant)
        })
    }

    fn get_tenant(&self, id: &TenantId) -> Result<Tenant, StorageError> {
        self.read(|conn, _| live_tenant(conn, id))
    }

    fn find_tenant_by_oauth(
        &self,
        provider: &str,
        user_id: &str,
    ) -> Result<Option<Tenant>, StorageError> {
        // No stored identity has surrounding whitespace; MySQL would ignore trailing spaces.
        if provider.trim() != provider || user_id.trim() != user_id {
            return Ok(None);
        }
        self.read(|conn, _| {
            tenants::table
                .filter(tenants::oauth_provider.eq(provider))
                .filter(tenants::oauth_user_id.eq(user_id))
                .filter(tenants::deleted_at.is_null())
                .select(TenantRow::as_select())
                .first(conn)
                .optional()?
                .map(Tenant::try_from)
                .transpose()
        })
    }

    fn list_tenants(&self, page: &PageRequest) -> Result<Page<Tenant>, StorageError> {
        page.validate()?;
        let after = page.after.as_ref().map(|c| c.tenant()).transpose()?;
        self.read(|conn, _| {
            let mut query = tenants::table
                .filter(tenants::deleted_at.is_null())
                .order(tenants::tenant_id)
                .limit(i64::from(page.limit) + 1)
                .select(TenantRow::as_select())
                .into_boxed();
            if let Some(after) = &after {
                query = query.filter(tenants::tenant_id.gt(after.as_str()));
            }
            let rows = query.load(conn)?;
            let mut items = rows
                .into_iter()
                .map(Tenant::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            let next = (items.len() > page.limit as usize).then(|| {
                items.truncate(page.limit as usize);
                jobstore_domain::Cursor::after_tenant(&items[items.len() - 1].id)
            });
            Ok(Page { items, next })
        })
    }

    fn update_tenant(&self, id: &TenantId, update: TenantUpdate) -> Result<Tenant, StorageError> {
        self.write(|conn, settings| {
            let before = live_tenant(conn, id)?;
            let after = before.updated(update, settings.clock.now())?;
            if after.oauth != before.oauth {
                ensure_oauth_free(conn, &after)?;
            }
            // Guarded by the time it was read at: a concurrent update or soft delete wins, and
            // this one is a conflict rather than a silent overwrite of its fields.
            let changed = diesel::update(
                tenants::table
                    .find(id.as_str())
                    .filter(tenants::deleted_at.is_null())
                    .filter(tenants::updated_at.eq(stored(before.updated_at))),
            )
            .set(TenantRow::from(&after))
            .execute(conn)
            .map_err(|e| StorageError::from(e).about(Entity::Tenant, id))?;
            if changed == 0 {
                return Err(StorageError::Conflict {
                    entity: Entity::Tenant,
                    id: id.to_string(),
                });
            }
            Ok(after)
        })
    }

    fn soft_delete_tenant(&self, id: &TenantId) -> Result<(), StorageError> {
        self.write(|conn, settings| {
            let now = stored(settings.clock.now());
            let changed = diesel::update(
                tenants::table
                    .find(id.as_str())
                    .filter(tenants::deleted_at.is_null()),
            )
            .set((tenants::deleted_at.eq(now), tenants::updated_at.eq(now)))
            .execute(conn)?;
            found(changed, id)?;
            // Its jobs go with it, so that no read or claim finds them.
            diesel::update(
                jobs::table
                    .filter(jobs::tenant_id.eq(id.as_str()))
                    .filter(jobs::deleted_at.is_null()),
            )
            .set((
                jobs::deleted_at.eq(now),
                jobs::updated_at.eq(now),
                jobs::version.eq(jobs::version + 1),
            ))
            .execute(conn)?;
            Ok(())
        })
    }

    fn purge_tenant(&self, id: &TenantId) -> Result<(), StorageError> {
        self.write(|conn, _| {
            let deleted = diesel::delete(tenants::table.find(id.as_str())).execute(conn)?;
            found(deleted, id)
        })
    }
}

/// Reads a tenant that is not soft-deleted.
pub(crate) fn live_tenant(conn: &mut DbConnection, id: &TenantId) -> Result<Tenant, StorageError> {
    tenants::table
        .find(id.as_str())
        .filter(tenants::deleted_at.is_null())
        .select(TenantRow::as_select())
        .first(conn)
        .map_err(|e| StorageError::from(e).about(Entity::Tenant, id))?
        .try_into()
}

/// Checks that the tenants exist and are not soft-deleted (jobs may only be created for those).
pub(crate) fn ensure_live_tenants<'a>(
    conn: &mut DbConnection,
    ids: impl IntoIterator<Item = &'a TenantId>,
) -> Result<(), StorageError> {
    let mut wanted: Vec<&str> = ids.into_iter().map(TenantId::as_str).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let live = tenants::table
        .filter(tenants::tenant_id.eq_any(&wanted))
        .filter(tenants::deleted_at.is_null())
        .select(tenants::tenant_id);
    // Locked until the jobs are written, so that a concurrent soft delete of the tenant (which
    // also hides its jobs) waits, and is not overtaken by a job it would miss. MariaDB has no
    // FOR SHARE; SQLite's writers are serialised already.
    let live: Vec<String> = match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => live.for_share().load(c)?,
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => live.for_update().load(c)?,
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => live.load(c)?,
    };
    match wanted.into_iter().find(|id| !live.iter().any(|l| l == id)) {
        Some(missing) => Err(StorageError::NotFound {
            entity: Entity::Tenant,
            id: missing.to_owned(),
        }),
        None => Ok(()),
    }
}

/// Names the OAuth identity when another tenant has it (the unique index is the final judge).
fn ensure_oauth_free(conn: &mut DbConnection, tenant: &Tenant) -> Result<(), StorageError> {
    let Some(oauth) = &tenant.oauth else {
        return Ok(());
    };
    let holder: Option<String> = tenants::table
        .filter(tenants::oauth_provider.eq(&oauth.provider))
        .filter(tenants::oauth_user_id.eq(&oauth.user_id))
        .filter(tenants::tenant_id.ne(tenant.id.as_str()))
        .select(tenants::tenant_id)
        .first(conn)
        .optional()?;
    match holder {
        Some(_) => Err(StorageError::AlreadyExists {
            entity: Entity::Tenant,
            id: format!("with OAuth identity {}/{}", oauth.provider, oauth.user_id),
        }),
        None => Ok(()),
    }
}

fn found(rows: usize, id: &TenantId) -> Result<(), StorageError> {
    match rows {
        0 => Err(StorageError::NotFound {
            entity: Entity::Tenant,
            id: id.to_string(),
        }),
        _ => Ok(()),
    }
}
