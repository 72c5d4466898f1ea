//! Users: the queries behind [`UserRepository`], each write audited.

use diesel::prelude::*;
use jobstore_domain::{
    AuditAction, NewUser, Page, PageRequest, Role, TenantId, User, UserId, UserUpdate,
};

use super::{audit, rows::UserRow};
use crate::{
    DbConnection, Entity, StorageError, UserRepository, schema::users, store::Session,
    tenants::ensure_live_tenants, trace::Call,
};

impl<S: Session> UserRepository for S {
    fn create_user(&self, new: NewUser) -> Result<User, StorageError> {
        let tenant = new.tenant_id.clone();
        self.write(
            Call::new("create_user").tenant(&tenant),
            |conn, settings| {
                let user = new.into_user(settings.now())?;
                ensure_live_tenants(conn, [&tenant])?;
                diesel::insert_into(users::table)
                    .values(UserRow::from(&user))
                    .execute(conn)
                    .map_err(|e| {
                        StorageError::from(e).already_exists(
                            Entity::User,
                            Some(format!("{tenant}/{} or e-mail {}", user.id, user.email)),
                        )
                    })?;
                audit(
                    conn,
                    settings,
                    &tenant,
                    AuditAction::UserCreated,
                    user.id.as_str(),
                    serde_json::json!({ "email": user.email, "role": user.role.as_str() }),
                )?;
                Ok(user)
            },
        )
    }

    fn get_user(&self, tenant: &TenantId, id: &UserId) -> Result<User, StorageError> {
        self.read(Call::new("get_user").tenant(tenant), |conn, _| {
            live_user(conn, tenant, id)
        })
    }

    fn find_user_by_email(
        &self,
        tenant: &TenantId,
        email: &str,
    ) -> Result<Option<User>, StorageError> {
        self.read(Call::new("find_user_by_email").tenant(tenant), |conn, _| {
            users::table
                .filter(users::tenant_id.eq(tenant.as_str()))
                .filter(users::email_key.eq(jobstore_domain::email_key(email)))
                .filter(users::deleted_at.is_null())
                .select(UserRow::as_select())
                .first(conn)
                .optional()?
                .map(User::try_from)
                .transpose()
        })
    }

    fn list_users(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
        include_deleted: bool,
    ) -> Result<Page<User>, StorageError> {
        self.read(Call::new("list_users").tenant(tenant), |conn, _| {
            page.validate()?;
            let mut query = users::table
                .filter(users::tenant_id.eq(tenant.as_str()))
                .order(users::user_id)
                .limit(i64::from(page.limit) + 1)
                .select(UserRow::as_select())
                .into_boxed();
            if !include_deleted {
                query = query.filter(users::deleted_at.is_null());
            }
            if let Some(after) = &page.after {
                query = query.filter(users::user_id.gt(UserId::new(after.as_str())?.to_string()));
            }
            let items = query
                .load(conn)?
                .into_iter()
                .map(User::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(crate::rows::page_by_id(items, page, |u| u.id.to_string()))
        })
    }

    fn update_user(
        &self,
        tenant: &TenantId,
        id: &UserId,
        update: UserUpdate,
    ) -> Result<User, StorageError> {
        self.write(Call::new("update_user").tenant(tenant), |conn, settings| {
            let before = live_user(conn, tenant, id)?;
            let after = before.updated(update, settings.now())?;
            replace_user(conn, &before, &after)?;
            audit(
                conn,
                settings,
                tenant,
                AuditAction::UserUpdated,
                id.as_str(),
                serde_json::json!({ "email": after.email, "name": after.name }),
            )?;
            Ok(after)
        })
    }

    fn change_role(
        &self,
        tenant: &TenantId,
        id: &UserId,
        role: Role,
    ) -> Result<User, StorageError> {
        self.write(Call::new("change_role").tenant(tenant), |conn, settings| {
            let before = live_user(conn, tenant, id)?;
            let after = before.with_role(role, settings.now());
            replace_user(conn, &before, &after)?;
            audit(
                conn,
                settings,
                tenant,
                AuditAction::UserRoleChanged,
                id.as_str(),
                serde_json::json!({ "from": before.role.as_str(), "to": role.as_str() }),
            )?;
            Ok(after)
        })
    }

    fn soft_delete_user(&self, tenant: &TenantId, id: &UserId) -> Result<(), StorageError> {
        self.write(
            Call::new("soft_delete_user").tenant(tenant),
            |conn, settings| {
                let before = live_user(conn, tenant, id)?;
                let after = before.soft_deleted(settings.now())?;
                replace_user(conn, &before, &after)?;
                audit(
                    conn,
                    settings,
                    tenant,
                    AuditAction::UserDeleted,
                    id.as_str(),
                    serde_json::json!({}),
                )
            },
        )
    }

    fn purge_user(&self, tenant: &TenantId, id: &UserId) -> Result<(), StorageError> {
        self.write(Call::new("purge_user").tenant(tenant), |conn, settings| {
            let deleted =
                diesel::delete(users::table.find((tenant.as_str(), id.as_str()))).execute(conn)?;
            if deleted == 0 {
                return Err(user_not_found(tenant, id));
            }
            audit(
                conn,
                settings,
                tenant,
                AuditAction::UserPurged,
                id.as_str(),
                serde_json::json!({}),
            )
        })
    }
}

fn user_not_found(tenant: &TenantId, id: &UserId) -> StorageError {
    StorageError::NotFound {
        entity: Entity::User,
        id: format!("{tenant}/{id}"),
    }
}

fn live_user(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &UserId,
) -> Result<User, StorageError> {
    users::table
        .find((tenant.as_str(), id.as_str()))
        .filter(users::deleted_at.is_null())
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| user_not_found(tenant, id))?
        .try_into()
}

/// Writes a user as the domain changed it, guarded by the version it was read at.
fn replace_user(conn: &mut DbConnection, before: &User, after: &User) -> Result<(), StorageError> {
    let row = UserRow::from(after);
    let changed = diesel::update(
        users::table
            .find((before.tenant_id.as_str(), before.id.as_str()))
            .filter(users::version.eq(before.version)),
    )
    .set((
        users::email.eq(&row.email),
        users::email_key.eq(&row.email_key),
        users::name.eq(&row.name),
        users::role.eq(&row.role),
        users::version.eq(row.version),
        users::updated_at.eq(row.updated_at),
        users::deleted_at.eq(row.deleted_at),
    ))
    .execute(conn)
    .map_err(|e| {
        StorageError::from(e).already_exists(Entity::User, Some(format!("e-mail {}", after.email)))
    })?;
    if changed == 0 {
        return Err(StorageError::Conflict {
            entity: Entity::User,
            id: Some(format!("{}/{}", before.tenant_id, before.id)),
        });
    }
    Ok(())
}

/// Hides a soft-deleted tenant's users with it, each with its audit entry.
pub(super) fn hide_with_tenant(
    conn: &mut DbConnection,
    settings: &crate::store::Settings,
    tenant: &TenantId,
) -> Result<(), StorageError> {
    let live: Vec<User> = users::table
        .filter(users::tenant_id.eq(tenant.as_str()))
        .filter(users::deleted_at.is_null())
        .select(UserRow::as_select())
        .load(conn)?
        .into_iter()
        .map(User::try_from)
        .collect::<Result<_, _>>()?;
    for user in live {
        replace_user(conn, &user, &user.soft_deleted(settings.now())?)?;
        audit(
            conn,
            settings,
            tenant,
            AuditAction::UserDeleted,
            user.id.as_str(),
            serde_json::json!({ "with_tenant": true }),
        )?;
    }
    Ok(())
}
