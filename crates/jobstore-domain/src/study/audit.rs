//! The audit log (seed 004's `audit_logs`): an append-only record of who did what to which entity,
//! written in the same transaction as the write it records.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::{AuditId, DomainError, TenantId, error::invalid, text};

/// The actor an audit entry names when the caller named none.
pub const SYSTEM_ACTOR: &str = "system";

/// The most characters an action holds.
const MAX_ACTION_CHARS: usize = 100;
/// The most characters an entity type holds.
const MAX_ENTITY_TYPE_CHARS: usize = 50;
/// The most characters an entity id holds (an id, or a composite such as `study:sequence`).
const MAX_ENTITY_ID_CHARS: usize = 100;

/// One entry of a tenant's audit log. Entries are never changed or deleted; they go only with
/// their purged tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// The tenant whose data was written.
    pub tenant_id: TenantId,
    /// The entry's id.
    pub id: AuditId,
    /// Who wrote: the actor the caller named, or [`SYSTEM_ACTOR`] (1 to 255 characters).
    pub actor: String,
    /// What was done, lower-case and dotted such as `study.created` (see [`AuditAction`]).
    pub action: String,
    /// The kind of entity written, such as `study` (at most 50 characters).
    pub entity_type: String,
    /// The entity's id (at most 100 characters).
    pub entity_id: String,
    /// What changed, as JSON (at most [`crate::MAX_TEXT_BYTES`] bytes).
    pub details: String,
    /// When it was written.
    pub at: DateTime<Utc>,
}

impl AuditEntry {
    /// An entry with a generated id, its fields checked: `action` is lower-case words (letters
    /// and `_`) joined by dots, at least two of them.
    ///
    /// ```
    /// use chrono::Utc;
    /// use jobstore_domain::{AuditAction, AuditEntry, SYSTEM_ACTOR, TenantId};
    ///
    /// let entry = AuditEntry::new(
    ///     TenantId::new("t1")?,
    ///     SYSTEM_ACTOR,
    ///     AuditAction::StudyCreated.as_str(),
    ///     AuditAction::StudyCreated.entity_type(),
    ///     "s1",
    ///     serde_json::json!({ "name": "pricing" }),
    ///     Utc::now(),
    /// )?;
    /// assert_eq!(entry.details, r#"{"name":"pricing"}"#);
    /// # Ok::<(), jobstore_domain::DomainError>(())
    /// ```
    pub fn new(
        tenant_id: TenantId,
        actor: &str,
        action: &str,
        entity_type: &str,
        entity_id: &str,
        details: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<AuditEntry, DomainError> {
        text::key("actor", Some(actor), 255)?;
        check_action(action)?;
        text::key("entity_type", Some(entity_type), MAX_ENTITY_TYPE_CHARS)?;
        text::key("entity_id", Some(entity_id), MAX_ENTITY_ID_CHARS)?;
        let details = details.to_string();
        text::long("details", &details)?;
        Ok(AuditEntry {
            tenant_id,
            id: AuditId::generate(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            entity_type: entity_type.to_owned(),
            entity_id: entity_id.to_owned(),
            details,
            at: now,
        })
    }
}

/// The actions jobstore writes for the entities of studies. Callers may log actions of their
/// own with [`AuditEntry::new`], in the same format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditAction {
    /// `user.created`
    UserCreated,
    /// `user.updated`: its e-mail or name changed.
    UserUpdated,
    /// `user.role_changed`
    UserRoleChanged,
    /// `user.deleted`: soft-deleted.
    UserDeleted,
    /// `user.purged`: hard-deleted.
    UserPurged,
    /// `study.created`
    StudyCreated,
    /// `study.updated`: its name or description changed.
    StudyUpdated,
    /// `study.state_changed`: it moved along the study state machine.
    StudyStateChanged,
    /// `study.deleted`: soft-deleted.
    StudyDeleted,
    /// `study.purged`: hard-deleted.
    StudyPurged,
    /// `checkpoint.saved`
    CheckpointSaved,
    /// `checkpoint.pruned`: all but a study's last checkpoints removed.
    CheckpointPruned,
    /// `cost_record.created`
    CostRecordCreated,
}

impl AuditAction {
    /// Every action.
    pub const ALL: [AuditAction; 13] = [
        AuditAction::UserCreated,
        AuditAction::UserUpdated,
        AuditAction::UserRoleChanged,
        AuditAction::UserDeleted,
        AuditAction::UserPurged,
        AuditAction::StudyCreated,
        AuditAction::StudyUpdated,
        AuditAction::StudyStateChanged,
        AuditAction::StudyDeleted,
        AuditAction::StudyPurged,
        AuditAction::CheckpointSaved,
        AuditAction::CheckpointPruned,
        AuditAction::CostRecordCreated,
    ];

    /// The action as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditAction::UserCreated => "user.created",
            AuditAction::UserUpdated => "user.updated",
            AuditAction::UserRoleChanged => "user.role_changed",
            AuditAction::UserDeleted => "user.deleted",
            AuditAction::UserPurged => "user.purged",
            AuditAction::StudyCreated => "study.created",
            AuditAction::StudyUpdated => "study.updated",
            AuditAction::StudyStateChanged => "study.state_changed",
            AuditAction::StudyDeleted => "study.deleted",
            AuditAction::StudyPurged => "study.purged",
            AuditAction::CheckpointSaved => "checkpoint.saved",
            AuditAction::CheckpointPruned => "checkpoint.pruned",
            AuditAction::CostRecordCreated => "cost_record.created",
        }
    }

    /// The entity type its entries name: the action's first word (`user`, `study`,
    /// `checkpoint`, `cost_record`).
    pub const fn entity_type(self) -> &'static str {
        match self {
            AuditAction::UserCreated
            | AuditAction::UserUpdated
            | AuditAction::UserRoleChanged
            | AuditAction::UserDeleted
            | AuditAction::UserPurged => "user",
            AuditAction::StudyCreated
            | AuditAction::StudyUpdated
            | AuditAction::StudyStateChanged
            | AuditAction::StudyDeleted
            | AuditAction::StudyPurged => "study",
            AuditAction::CheckpointSaved | AuditAction::CheckpointPruned => "checkpoint",
            AuditAction::CostRecordCreated => "cost_record",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks `^[a-z][a-z_]*(\.[a-z][a-z_]*)+$` and the length.
fn check_action(action: &str) -> Result<(), DomainError> {
    text::required("action", action, MAX_ACTION_CHARS)?;
    let word_ok = |word: &str| {
        let mut chars = word.chars();
        chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c == '_')
    };
    if action.split('.').count() < 2 || !action.split('.').all(word_ok) {
        return Err(invalid(
            "action",
            format!("{action:?} is not lower-case words joined by dots, such as \"study.created\""),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn entry(
        actor: &str,
        action: &str,
        entity_type: &str,
        entity_id: &str,
    ) -> Result<AuditEntry, DomainError> {
        AuditEntry::new(
            TenantId::new("t1").unwrap(),
            actor,
            action,
            entity_type,
            entity_id,
            json!({ "from": "DRAFT", "to": "QUEUED" }),
            Utc.timestamp_opt(1_900_000_000, 0).unwrap(),
        )
    }

    fn refused_field(result: Result<AuditEntry, DomainError>) -> &'static str {
        match result {
            Err(DomainError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn an_entry_keeps_its_fields_and_details_as_json() {
        let entry = entry("ann", "study.state_changed", "study", "s1").unwrap();
        assert_eq!(
            (entry.actor.as_str(), entry.action.as_str()),
            ("ann", "study.state_changed")
        );
        assert_eq!(
            (entry.entity_type.as_str(), entry.entity_id.as_str()),
            ("study", "s1")
        );
        let details: serde_json::Value = serde_json::from_str(&entry.details).unwrap();
        assert_eq!(details, json!({ "from": "DRAFT", "to": "QUEUED" }));
    }

    #[test]
    fn actions_are_lower_case_dotted_words() {
        for good in [
            "study.created",
            "user.role_changed",
            "a.b.c",
            "cost_record.created",
        ] {
            assert!(entry("ann", good, "study", "s1").is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "study",
            "Study.created",
            "study.Created",
            "study..created",
            ".study.created",
            "study.created.",
            "study._created",
            "_study.created",
            "study.created2",
            "study-x.created",
            "study created.x",
        ] {
            assert_eq!(
                refused_field(entry("ann", bad, "study", "s1")),
                "action",
                "{bad:?}"
            );
        }
        let long = format!("study.{}", "a".repeat(MAX_ACTION_CHARS));
        assert_eq!(refused_field(entry("ann", &long, "study", "s1")), "action");
    }

    #[test]
    fn jobstore_actions_are_well_formed_and_name_their_entity_type() {
        for action in AuditAction::ALL {
            assert!(check_action(action.as_str()).is_ok(), "{action}");
            assert_eq!(
                action.as_str().split('.').next(),
                Some(action.entity_type())
            );
        }
    }

    #[test]
    fn actors_are_one_to_255_characters() {
        assert!(entry(SYSTEM_ACTOR, "study.created", "study", "s1").is_ok());
        assert!(entry(&"a".repeat(255), "study.created", "study", "s1").is_ok());
        assert_eq!(
            refused_field(entry("", "study.created", "study", "s1")),
            "actor"
        );
        assert_eq!(
            refused_field(entry(&"a".repeat(256), "study.created", "study", "s1")),
            "actor"
        );
    }

    #[test]
    fn entity_types_and_ids_are_short() {
        let long_type = "t".repeat(MAX_ENTITY_TYPE_CHARS + 1);
        assert_eq!(
            refused_field(entry("ann", "study.created", &long_type, "s1")),
            "entity_type"
        );
        let long_id = "i".repeat(MAX_ENTITY_ID_CHARS + 1);
        assert_eq!(
            refused_field(entry("ann", "study.created", "study", &long_id)),
            "entity_id"
        );
        assert_eq!(
            refused_field(entry("ann", "study.created", "", "s1")),
            "entity_type"
        );
    }

    #[test]
    fn details_over_the_text_limit_are_refused() {
        let result = AuditEntry::new(
            TenantId::new("t1").unwrap(),
            "ann",
            "study.created",
            "study",
            "s1",
            json!("x".repeat(crate::MAX_TEXT_BYTES)),
            Utc.timestamp_opt(1_900_000_000, 0).unwrap(),
        );
        assert_eq!(refused_field(result), "details");
    }
}
