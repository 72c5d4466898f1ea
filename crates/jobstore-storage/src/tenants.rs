//! Tenant storage: the queries behind [`TenantRepository`], and the writes of the `tenants`
//! table (a tenant's soft delete hides its jobs through the job writer).

use diesel::prelude::*;
use jobstore_domain::{Job, NewTenant, Page, PageRequest, Tenant, TenantId, TenantUpdate};

use crate::{
    DbConnection, Entity, StorageError, TenantRepository, dialect,
    rows::{TenantRow, stored},
    schema::tenants,
    store::Session,
    trace::{self, Call},
    writer::{self, Guard},
};

impl<S: Session> TenantRepository for S {
    fn create_tenant(&self, new: NewTenant) -> Result<Tenant, StorageError> {
        self.write(Call::new("create_tenant"), |conn, settings| {
            let tenant = new.into_tenant(settings.now())?;
            ensure_oauth_free(conn, &tenant)?;
            let inserted = diesel::insert_into(tenants::table)
                .values(TenantRow::from(&tenant))
                .execute(conn)
                .map_err(|e| {
                    StorageError::from(e)
                        .already_exists(Entity::Tenant, Some(tenant.id.to_string()))
                })?;
            trace::wrote(inserted);
            Ok(tenant)
        })
    }

    fn get_tenant(&self, id: &TenantId) -> Result<Tenant, StorageError> {
        self.read(Call::new("get_tenant").tenant(id), |conn, _| {
            live_tenant(conn, id)
        })
    }

    fn find_tenant_by_oauth(
        &self,
        provider: &str,
        user_id: &str,
    ) -> Result<Option<Tenant>, StorageError> {
        // No stored identity has surrounding whitespace (MySQL would ignore trailing spaces)
        // or a NUL (PostgreSQL refuses one in text): such a lookup finds nothing, everywhere.
        let storable = |s: &str| s.trim() == s && !s.contains('\0');
        self.read(Call::new("find_tenant_by_oauth"), |conn, _| {
            if !(storable(provider) && storable(user_id)) {
                return Ok(None);
            }
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
        self.read(Call::new("list_tenants"), |conn, _| {
            page.validate()?;
            let after = page.after.as_ref().map(|c| c.tenant()).transpose()?;
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
        self.write(Call::new("update_tenant").tenant(id), |conn, settings| {
            let before = live_tenant(conn, id)?;
            let after = before.updated(update, settings.now())?;
            if after.oauth != before.oauth {
                ensure_oauth_free(conn, &after)?;
            }
            store_tenant(conn, &before, &after)?;
            Ok(after)
        })
    }

    fn soft_delete_tenant(&self, id: &TenantId) -> Result<(), StorageError> {
        self.write(
            Call::new("soft_delete_tenant").tenant(id),
            |conn, settings| {
                let now = settings.now();
                let before = live_tenant(conn, id)?;
                // Its schedules stop firing first: schedulers lock schedules before tenants.
                crate::schedules::pause_tenant_schedules(conn, id, now)?;
                store_tenant(conn, &before, &before.soft_deleted(now))?;
                // Its jobs go with it, so that no read or claim finds them: each one hidden as the
                // domain says, with its audit record.
                let live_jobs: Vec<Job> = dialect::lock_tenant_jobs(conn, id.as_str())?
                    .into_iter()
                    .map(Job::try_from)
                    .collect::<Result<_, _>>()?;
                let hidden: Vec<_> = live_jobs
                    .iter()
                    .map(|job| job.hide_with_tenant(now))
                    .collect();
                writer::store(conn, settings, &hidden, Guard::Version)?;
                // Their studies and users are hidden after the jobs, as a worker's report
                // orders a job and its study; their runs end with them.
                crate::studies::hide_with_tenant(conn, settings, id)?;
                crate::schedules::cancel_tenant_runs(conn, id, now)
            },
        )
    }

    fn purge_tenant(&self, id: &TenantId) -> Result<(), StorageError> {
        self.write(Call::new("purge_tenant").tenant(id), |conn, _| {
            // Schedules before the cascade: InnoDB cascades row by row and would refuse to
            // delete a constraint a schedule still names.
            crate::schedules::delete_tenant_schedules(conn, id)?;
            let deleted = diesel::delete(tenants::table.find(id.as_str())).execute(conn)?;
            trace::wrote(deleted);
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
        .optional()?
        .ok_or_else(|| StorageError::NotFound {
            entity: Entity::Tenant,
            id: id.to_string(),
        })?
        .try_into()
}

/// Writes `after` over the tenant if it is still as `before` was read (live, same update
/// time): a concurrent update or soft delete wins, and this one is a conflict rather than a
/// silent overwrite of its fields.
fn store_tenant(
    conn: &mut DbConnection,
    before: &Tenant,
    after: &Tenant,
) -> Result<(), StorageError> {
    let changed = diesel::update(
        tenants::table
            .find(before.id.as_str())
            .filter(tenants::deleted_at.is_null())
            .filter(tenants::updated_at.eq(stored(before.updated_at))),
    )
    .set(TenantRow::from(after))
    .execute(conn)
    .map_err(|e| {
        let collided = after.oauth.as_ref().map_or_else(
            || after.id.to_string(),
            |o| format!("with OAuth identity {}/{}", o.provider, o.user_id),
        );
        StorageError::from(e).already_exists(Entity::Tenant, Some(collided))
    })?;
    trace::wrote(changed);
    if changed == 0 {
        return Err(StorageError::Conflict {
            entity: Entity::Tenant,
            id: Some(before.id.to_string()),
        });
    }
    Ok(())
}

/// Checks that the tenants exist and are not soft-deleted (jobs may only be created for those).
pub(crate) fn ensure_live_tenants<'a>(
    conn: &mut DbConnection,
    ids: impl IntoIterator<Item = &'a TenantId>,
) -> Result<(), StorageError> {
    let mut wanted: Vec<&str> = ids.into_iter().map(TenantId::as_str).collect();
    wanted.sort_unstable();
    wanted.dedup();
    // Locked until the jobs are written (see `dialect::lock_live_tenants`).
    let live = dialect::lock_live_tenants(conn, &wanted)?;
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
            id: Some(format!(
                "with OAuth identity {}/{}",
                oauth.provider, oauth.user_id
            )),
            source: None,
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
