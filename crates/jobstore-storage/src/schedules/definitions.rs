//! Cron definitions, constraints, actions and their links: the queries behind
//! [`ScheduleRepository`]. Each is validated by the domain before anything is written.

use diesel::prelude::*;
use jobstore_domain::{
    Action, ActionId, Constraint, ConstraintId, NewAction, NewConstraint, NewSchedule, Page,
    PageRequest, Schedule, ScheduleAction, ScheduleId, ScheduleUpdate, TenantId, plan_resume,
};

use super::{
    lock_schedule, read_constraint, read_schedule,
    rows::{ActionRow, ConstraintRow, ParsedCrons, ScheduleActionRow, ScheduleRow},
    runs,
};
use crate::{
    DbConnection, Entity, ScheduleRepository, StorageError,
    schema::{actions, constraints, schedule_actions, schedules},
    store::Session,
    tenants::ensure_live_tenants,
    trace::Call,
};

impl<S: Session> ScheduleRepository for S {
    fn create_schedule(&self, new: NewSchedule) -> Result<Schedule, StorageError> {
        let tenant = new.tenant_id.clone();
        let call = Call::new("create_schedule").tenant(&tenant);
        self.write(call, |conn, settings| {
            let schedule = new.into_schedule(settings.now())?;
            ensure_live_tenants(conn, [&tenant])?;
            if let Some(constraint) = &schedule.constraint_id {
                read_constraint(conn, &tenant, constraint)?;
            }
            diesel::insert_into(schedules::table)
                .values(ScheduleRow::from(&schedule))
                .execute(conn)
                .map_err(|e| {
                    StorageError::from(e).already_exists(
                        Entity::Schedule,
                        Some(format!("{}/{}", schedule.tenant_id, schedule.id)),
                    )
                })?;
            Ok(schedule)
        })
    }

    fn get_schedule(&self, tenant: &TenantId, id: &ScheduleId) -> Result<Schedule, StorageError> {
        self.read(Call::new("get_schedule").tenant(tenant), |conn, _| {
            read_schedule(conn, tenant, id)
        })
    }

    fn list_schedules(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Schedule>, StorageError> {
        self.read(Call::new("list_schedules").tenant(tenant), |conn, _| {
            page.validate()?;
            let mut query = schedules::table
                .filter(schedules::tenant_id.eq(tenant.as_str()))
                .order(schedules::schedule_id)
                .limit(i64::from(page.limit) + 1)
                .select(ScheduleRow::as_select())
                .into_boxed();
            if let Some(after) = &page.after {
                let after = ScheduleId::new(after.as_str())?;
                query = query.filter(schedules::schedule_id.gt(after.to_string()));
            }
            let items = query
                .load(conn)?
                .into_iter()
                .map(Schedule::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(crate::rows::page_by_id(items, page, |s| s.id.to_string()))
        })
    }

    fn all_schedules(&self) -> Result<Vec<Schedule>, StorageError> {
        self.read(Call::new("all_schedules"), |conn, _| {
            let mut parsed = ParsedCrons::default();
            schedules::table
                .order((schedules::tenant_id, schedules::schedule_id))
                .select(ScheduleRow::as_select())
                .load(conn)?
                .into_iter()
                .map(|row| row.into_schedule(&mut parsed))
                .collect()
        })
    }

    fn update_schedule(
        &self,
        tenant: &TenantId,
        id: &ScheduleId,
        update: ScheduleUpdate,
    ) -> Result<Schedule, StorageError> {
        self.write(
            Call::new("update_schedule").tenant(tenant),
            |conn, settings| {
                let before = read_schedule(conn, tenant, id)?;
                let after = before.updated(update, settings.now())?;
                if let Some(constraint) = &after.constraint_id {
                    read_constraint(conn, tenant, constraint)?;
                }
                replace_schedule(conn, &before, &after)?;
                Ok(after)
            },
        )
    }

    fn pause_schedule(
        &self,
        tenant: &TenantId,
        id: &ScheduleId,
        note: Option<String>,
    ) -> Result<Schedule, StorageError> {
        self.write(
            Call::new("pause_schedule").tenant(tenant),
            |conn, settings| {
                let before = read_schedule(conn, tenant, id)?;
                let after = before.paused(note.as_deref(), settings.now())?;
                replace_schedule(conn, &before, &after)?;
                Ok(after)
            },
        )
    }

    fn resume_schedule(
        &self,
        tenant: &TenantId,
        id: &ScheduleId,
    ) -> Result<Schedule, StorageError> {
        self.write(
            Call::new("resume_schedule").tenant(tenant),
            |conn, settings| {
                let now = settings.now();
                let before = lock_schedule(conn, tenant, id)?;
                if !before.paused {
                    return Ok(before);
                }
                // A soft-deleted tenant's schedules stay paused.
                ensure_live_tenants(conn, [tenant])?;
                let firing = plan_resume(&before, now);
                let skipped: Vec<_> = firing
                    .skip
                    .iter()
                    .map(|(at, reason)| jobstore_domain::Run::skipped(&before, *at, *reason, now))
                    .collect();
                runs::insert_runs(conn, &skipped, &runs::fire_token())?;
                let after = before.resumed(&firing, now);
                replace_schedule(conn, &before, &after)?;
                Ok(after)
            },
        )
    }

    fn delete_schedule(&self, tenant: &TenantId, id: &ScheduleId) -> Result<(), StorageError> {
        self.write(Call::new("delete_schedule").tenant(tenant), |conn, _| {
            let deleted = diesel::delete(schedules::table.find((tenant.as_str(), id.as_str())))
                .execute(conn)?;
            match deleted {
                0 => Err(super::schedule_not_found(tenant, id)),
                _ => Ok(()),
            }
        })
    }

    fn create_constraint(&self, new: NewConstraint) -> Result<Constraint, StorageError> {
        let tenant = new.tenant_id.clone();
        let call = Call::new("create_constraint").tenant(&tenant);
        self.write(call, |conn, settings| {
            let constraint = new.into_constraint(settings.now())?;
            ensure_live_tenants(conn, [&constraint.tenant_id])?;
            diesel::insert_into(constraints::table)
                .values(ConstraintRow::from(&constraint))
                .execute(conn)
                .map_err(|e| {
                    StorageError::from(e).already_exists(
                        Entity::Constraint,
                        Some(format!("{}/{}", constraint.tenant_id, constraint.id)),
                    )
                })?;
            Ok(constraint)
        })
    }

    fn get_constraint(
        &self,
        tenant: &TenantId,
        id: &ConstraintId,
    ) -> Result<Constraint, StorageError> {
        self.read(Call::new("get_constraint").tenant(tenant), |conn, _| {
            read_constraint(conn, tenant, id)
        })
    }

    fn update_constraint(&self, constraint: &Constraint) -> Result<Constraint, StorageError> {
        let tenant = &constraint.tenant_id;
        self.write(
            Call::new("update_constraint").tenant(tenant),
            |conn, settings| {
                let before = read_constraint(conn, tenant, &constraint.id)?;
                let after = Constraint {
                    created_at: before.created_at,
                    updated_at: settings.now(),
                    version: constraint.version + 1,
                    ..constraint.clone()
                };
                after.validate()?;
                // Guarded by the version the caller read: a copy changed by someone else since
                // is a conflict, not a silent overwrite.
                let changed = diesel::update(
                    constraints::table
                        .find((tenant.as_str(), constraint.id.as_str()))
                        .filter(constraints::version.eq(constraint.version)),
                )
                .set(ConstraintRow::from(&after))
                .execute(conn)?;
                if changed == 0 {
                    return Err(StorageError::Conflict {
                        entity: Entity::Constraint,
                        id: Some(format!("{tenant}/{}", constraint.id)),
                    });
                }
                Ok(after)
            },
        )
    }

    fn delete_constraint(&self, tenant: &TenantId, id: &ConstraintId) -> Result<(), StorageError> {
        self.write(
            Call::new("delete_constraint").tenant(tenant),
            |conn, settings| {
                read_constraint(conn, tenant, id)?;
                // The seed's ON DELETE SET NULL, done here (see the migration): each schedule that
                // named it is rewritten by the domain, guarded by its version.
                let named: Vec<Schedule> = schedules::table
                    .filter(schedules::tenant_id.eq(tenant.as_str()))
                    .filter(schedules::constraint_id.eq(id.as_str()))
                    .select(ScheduleRow::as_select())
                    .load(conn)?
                    .into_iter()
                    .map(Schedule::try_from)
                    .collect::<Result<_, _>>()?;
                for before in &named {
                    let update = ScheduleUpdate {
                        constraint_id: Some(None),
                        ..ScheduleUpdate::default()
                    };
                    let after = before.updated(update, settings.now())?;
                    replace_schedule(conn, before, &after)?;
                }
                diesel::delete(constraints::table.find((tenant.as_str(), id.as_str())))
                    .execute(conn)?;
                Ok(())
            },
        )
    }

    fn create_action(&self, new: NewAction) -> Result<Action, StorageError> {
        let tenant = new.tenant_id.clone();
        let call = Call::new("create_action").tenant(&tenant);
        self.write(call, |conn, settings| {
            let action = new.into_action(settings.now())?;
            ensure_live_tenants(conn, [&action.tenant_id])?;
            diesel::insert_into(actions::table)
                .values(ActionRow::from(&action))
                .execute(conn)
                .map_err(|e| {
                    StorageError::from(e).already_exists(
                        Entity::Action,
                        Some(format!("{}/{}", action.tenant_id, action.id)),
                    )
                })?;
            Ok(action)
        })
    }

    fn get_action(&self, tenant: &TenantId, id: &ActionId) -> Result<Action, StorageError> {
        self.read(Call::new("get_action").tenant(tenant), |conn, _| {
            read_action(conn, tenant, id)
        })
    }

    fn list_actions(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Action>, StorageError> {
        self.read(Call::new("list_actions").tenant(tenant), |conn, _| {
            page.validate()?;
            let mut query = actions::table
                .filter(actions::tenant_id.eq(tenant.as_str()))
                .order(actions::action_id)
                .limit(i64::from(page.limit) + 1)
                .select(ActionRow::as_select())
                .into_boxed();
            if let Some(after) = &page.after {
                let after = ActionId::new(after.as_str())?;
                query = query.filter(actions::action_id.gt(after.to_string()));
            }
            let items = query
                .load(conn)?
                .into_iter()
                .map(Action::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(crate::rows::page_by_id(items, page, |a| a.id.to_string()))
        })
    }

    fn delete_action(&self, tenant: &TenantId, id: &ActionId) -> Result<(), StorageError> {
        self.write(Call::new("delete_action").tenant(tenant), |conn, _| {
            let deleted = diesel::delete(actions::table.find((tenant.as_str(), id.as_str())))
                .execute(conn)?;
            match deleted {
                0 => Err(action_not_found(tenant, id)),
                _ => Ok(()),
            }
        })
    }

    fn attach_action(&self, link: ScheduleAction) -> Result<ScheduleAction, StorageError> {
        let tenant = link.tenant_id.clone();
        self.write(Call::new("attach_action").tenant(&tenant), |conn, _| {
            link.validate()?;
            read_schedule(conn, &tenant, &link.schedule_id)?;
            read_action(conn, &tenant, &link.action_id)?;
            if let Some(constraint) = &link.constraint_id {
                read_constraint(conn, &tenant, constraint)?;
            }
            diesel::insert_into(schedule_actions::table)
                .values(ScheduleActionRow::from(&link))
                .execute(conn)
                .map_err(|e| {
                    StorageError::from(e).already_exists(
                        Entity::ScheduleAction,
                        Some(format!("{tenant}/{}/{}", link.schedule_id, link.action_id)),
                    )
                })?;
            Ok(link)
        })
    }

    fn schedule_actions(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
    ) -> Result<Vec<ScheduleAction>, StorageError> {
        self.read(Call::new("schedule_actions").tenant(tenant), |conn, _| {
            read_schedule(conn, tenant, schedule)?;
            schedule_actions::table
                .filter(schedule_actions::tenant_id.eq(tenant.as_str()))
                .filter(schedule_actions::schedule_id.eq(schedule.as_str()))
                .order(schedule_actions::action_id)
                .select(ScheduleActionRow::as_select())
                .load(conn)?
                .into_iter()
                .map(ScheduleAction::try_from)
                .collect()
        })
    }

    fn detach_action(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        action: &ActionId,
    ) -> Result<(), StorageError> {
        self.write(Call::new("detach_action").tenant(tenant), |conn, _| {
            let deleted = diesel::delete(schedule_actions::table.find((
                tenant.as_str(),
                schedule.as_str(),
                action.as_str(),
            )))
            .execute(conn)?;
            match deleted {
                0 => Err(StorageError::NotFound {
                    entity: Entity::ScheduleAction,
                    id: format!("{tenant}/{schedule}/{action}"),
                }),
                _ => Ok(()),
            }
        })
    }
}

fn action_not_found(tenant: &TenantId, id: &ActionId) -> StorageError {
    StorageError::NotFound {
        entity: Entity::Action,
        id: format!("{tenant}/{id}"),
    }
}

pub(super) fn read_action(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &ActionId,
) -> Result<Action, StorageError> {
    actions::table
        .find((tenant.as_str(), id.as_str()))
        .select(ActionRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| action_not_found(tenant, id))?
        .try_into()
}

/// Writes a schedule as the domain changed it, guarded by the version it was read at.
pub(super) fn replace_schedule(
    conn: &mut DbConnection,
    before: &Schedule,
    after: &Schedule,
) -> Result<(), StorageError> {
    let row = ScheduleRow::from(after);
    let changed = diesel::update(
        schedules::table
            .find((before.tenant_id.as_str(), before.id.as_str()))
            .filter(schedules::version.eq(before.version)),
    )
    .set((
        schedules::name.eq(row.name),
        schedules::cron.eq(row.cron),
        schedules::time_zone.eq(row.time_zone),
        schedules::job_template.eq(row.job_template),
        schedules::pod_spec.eq(row.pod_spec),
        schedules::constraint_id.eq(row.constraint_id),
        schedules::paused.eq(row.paused),
        schedules::pause_note.eq(row.pause_note),
        schedules::last_scheduled_at.eq(row.last_scheduled_at),
        schedules::next_due_at.eq(row.next_due_at),
        schedules::version.eq(row.version),
        schedules::updated_at.eq(row.updated_at),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Err(StorageError::Conflict {
            entity: Entity::Schedule,
            id: Some(format!("{}/{}", before.tenant_id, before.id)),
        });
    }
    Ok(())
}
