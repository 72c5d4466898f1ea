//! A tenant's users (seed 004's `users`): who they are, their role, and the rules of their e-mail.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use email_address::{EmailAddress, Options};

use crate::{DomainError, TenantId, UserId, error::invalid, text};

/// The most characters an e-mail address or a user's name holds.
const MAX_CHARS: usize = 255;

/// What a user may do within their tenant. Stored as the lower-case text of [`Role::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Owns the tenant.
    Owner,
    /// Administers the tenant's users and studies.
    Admin,
    /// Runs studies.
    Member,
    /// Reads only.
    Viewer,
}

impl Role {
    /// Every role, from the most to the least allowed.
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Member, Role::Viewer];

    /// The canonical spelling, as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = DomainError;

    /// `owner`, `admin`, `member` or `viewer`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| invalid("role", format!("{s:?} is not a role")))
    }
}

/// A person who works within a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The user's id.
    pub id: UserId,
    /// The e-mail address as given (at most 255 characters); unique within the tenant when
    /// compared without case (see [`User::email_key`]).
    pub email: String,
    /// A display name (1 to 255 characters).
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// Moves on every write; updates are guarded by it.
    pub version: i64,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
    /// When the user last changed.
    pub updated_at: DateTime<Utc>,
    /// When the user was soft-deleted; soft-deleted users are hidden from reads.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl User {
    /// The e-mail address lower-cased: the form that is unique within a tenant, so that
    /// `Ann@Example.com` and `ann@example.com` are one user.
    ///
    /// ```
    /// use chrono::Utc;
    /// use jobstore_domain::{NewUser, Role, TenantId};
    ///
    /// let user = NewUser::new(TenantId::new("t1")?, "Ann@Example.COM", "Ann", Role::Member)
    ///     .into_user(Utc::now())?;
    /// assert_eq!(user.email, "Ann@Example.COM");
    /// assert_eq!(user.email_key(), "ann@example.com");
    /// # Ok::<(), jobstore_domain::DomainError>(())
    /// ```
    pub fn email_key(&self) -> String {
        email_key(&self.email)
    }

    /// The user after `update`, at `now`.
    pub fn updated(&self, update: UserUpdate, now: DateTime<Utc>) -> Result<User, DomainError> {
        let email = update.email.unwrap_or_else(|| self.email.clone());
        let name = update.name.unwrap_or_else(|| self.name.clone());
        check_email(&email)?;
        check_name(&name)?;
        Ok(self.changed(
            User {
                email,
                name,
                ..self.clone()
            },
            now,
        ))
    }

    /// The user with `role`, at `now`.
    pub fn with_role(&self, role: Role, now: DateTime<Utc>) -> User {
        self.changed(
            User {
                role,
                ..self.clone()
            },
            now,
        )
    }

    /// The user soft-deleted at `now`: hidden from reads until hard-deleted. A user already
    /// deleted is refused (field `deleted_at`), so the first deletion time is kept.
    pub fn soft_deleted(&self, now: DateTime<Utc>) -> Result<User, DomainError> {
        if self.deleted_at.is_some() {
            return Err(invalid("deleted_at", "the user is already deleted"));
        }
        Ok(self.changed(
            User {
                deleted_at: Some(now),
                ..self.clone()
            },
            now,
        ))
    }

    /// `next` one version on from `self`, updated at `now`.
    fn changed(&self, next: User, now: DateTime<Utc>) -> User {
        User {
            version: self.version.saturating_add(1),
            updated_at: now,
            ..next
        }
    }
}

/// What it takes to create a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// A caller-chosen id; `None` generates one.
    pub id: Option<UserId>,
    /// The e-mail address: a plain address (no display name), at most 255 characters, no
    /// surrounding whitespace.
    pub email: String,
    /// A display name, 1 to 255 characters.
    pub name: String,
    /// What the user may do.
    pub role: Role,
}

impl NewUser {
    /// A user of `tenant_id` with a generated id.
    pub fn new(
        tenant_id: TenantId,
        email: impl Into<String>,
        name: impl Into<String>,
        role: Role,
    ) -> Self {
        Self {
            tenant_id,
            id: None,
            email: email.into(),
            name: name.into(),
            role,
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), DomainError> {
        check_email(&self.email)?;
        check_name(&self.name)
    }

    /// The user this creates, at `now`, at version 1.
    pub fn into_user(self, now: DateTime<Utc>) -> Result<User, DomainError> {
        self.validate()?;
        Ok(User {
            tenant_id: self.tenant_id,
            id: self.id.unwrap_or_else(UserId::generate),
            email: self.email,
            name: self.name,
            role: self.role,
            version: 1,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        })
    }
}

/// A change to a user's details: each `Some` field replaces the stored value. The role changes
/// on its own, with [`User::with_role`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    /// A new e-mail address.
    pub email: Option<String>,
    /// A new name.
    pub name: Option<String>,
}

/// The form of an e-mail address that is unique within a tenant, and by which a user is found
/// (`find_user_by_email`): compared without case.
pub fn email_key(email: &str) -> String {
    email.to_lowercase()
}

fn check_email(email: &str) -> Result<(), DomainError> {
    text::key("email", Some(email), MAX_CHARS)?;
    EmailAddress::parse_with_options(email, Options::default().without_display_text())
        .map(|_| ())
        .map_err(|error| invalid("email", format!("is not an e-mail address: {error}")))
}

fn check_name(name: &str) -> Result<(), DomainError> {
    text::required("name", name, MAX_CHARS)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_900_000_000 + secs, 0).unwrap()
    }

    fn new_user(email: &str) -> NewUser {
        NewUser::new(TenantId::new("t1").unwrap(), email, "Ann", Role::Member)
    }

    fn user() -> User {
        new_user("ann@example.com").into_user(at(0)).unwrap()
    }

    fn field_of(result: Result<User, DomainError>) -> &'static str {
        match result {
            Err(DomainError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_new_user_starts_at_version_one_with_a_generated_id() {
        let user = user();
        assert_eq!(
            (user.version, user.created_at, user.updated_at),
            (1, at(0), at(0))
        );
        assert_eq!((user.role, user.deleted_at), (Role::Member, None));
        assert_eq!(user.id.as_str().len(), 36);
    }

    #[test]
    fn an_email_that_is_not_one_is_refused() {
        for email in [
            "",
            "nobody",
            "@example.com",
            "ann@",
            "ann example@example.com",
            "Ann <ann@example.com>",
            " ann@example.com",
            "ann@example.com ",
        ] {
            assert_eq!(
                field_of(new_user(email).into_user(at(0))),
                "email",
                "{email:?}"
            );
        }
    }

    #[test]
    fn an_email_longer_than_255_characters_is_refused() {
        let local = "a".repeat(64);
        let domain = format!("{}.com", vec!["b".repeat(60); 4].join("."));
        let email = format!("{local}@{domain}");
        assert!(email.chars().count() > 255);
        assert_eq!(field_of(new_user(&email).into_user(at(0))), "email");
    }

    #[test]
    fn names_are_one_to_255_characters() {
        let user = |name: &str| NewUser {
            name: name.into(),
            ..new_user("ann@example.com")
        };
        assert!(user(&"é".repeat(255)).into_user(at(0)).is_ok());
        assert_eq!(field_of(user(&"é".repeat(256)).into_user(at(0))), "name");
        assert_eq!(field_of(user(" ").into_user(at(0))), "name");
    }

    #[test]
    fn the_email_key_ignores_case() {
        let upper = new_user("Ann.Lee@Example.COM").into_user(at(0)).unwrap();
        let lower = new_user("ann.lee@example.com").into_user(at(0)).unwrap();
        assert_eq!(upper.email, "Ann.Lee@Example.COM");
        assert_eq!(upper.email_key(), lower.email_key());
        assert_eq!(upper.email_key(), "ann.lee@example.com");
    }

    #[test]
    fn roles_round_trip_and_unknown_roles_name_the_field() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(role.as_str().to_uppercase().parse::<Role>(), Ok(role));
        }
        assert!(matches!(
            "superuser".parse::<Role>(),
            Err(DomainError::Validation { field: "role", .. })
        ));
    }

    #[test]
    fn an_update_replaces_only_given_fields_and_moves_the_version() {
        let user = user();
        let renamed = user
            .updated(
                UserUpdate {
                    name: Some("Ann Lee".into()),
                    ..UserUpdate::default()
                },
                at(10),
            )
            .unwrap();
        assert_eq!(
            (renamed.name.as_str(), renamed.email.as_str()),
            ("Ann Lee", "ann@example.com")
        );
        assert_eq!(
            (renamed.version, renamed.updated_at, renamed.created_at),
            (2, at(10), at(0))
        );
        let bad = UserUpdate {
            email: Some("nobody".into()),
            ..UserUpdate::default()
        };
        assert_eq!(field_of(user.updated(bad, at(10))), "email");
    }

    #[test]
    fn a_role_change_moves_the_version() {
        let admin = user().with_role(Role::Admin, at(5));
        assert_eq!(
            (admin.role, admin.version, admin.updated_at),
            (Role::Admin, 2, at(5))
        );
    }

    #[test]
    fn a_user_is_soft_deleted_once() {
        let deleted = user().soft_deleted(at(7)).unwrap();
        assert_eq!(
            (deleted.deleted_at, deleted.version, deleted.updated_at),
            (Some(at(7)), 2, at(7))
        );
        assert_eq!(field_of(deleted.soft_deleted(at(8))), "deleted_at");
    }
}
