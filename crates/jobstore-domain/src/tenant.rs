//! Tenants: the owners of jobs, optionally linked to an OAuth identity.

use chrono::{DateTime, Utc};

use crate::{DomainError, TenantId, text};

/// A user or organisation whose jobs jobstore keeps apart from everyone else's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// The tenant's id.
    pub id: TenantId,
    /// A display name (at most 255 characters).
    pub name: String,
    /// The user's e-mail address from OAuth (at most 255 characters).
    pub user_email: Option<String>,
    /// The OAuth identity the tenant signs in with; unique across tenants.
    pub oauth: Option<OAuthIdentity>,
    /// When the tenant was created.
    pub created_at: DateTime<Utc>,
    /// When the tenant last changed.
    pub updated_at: DateTime<Utc>,
    /// When the tenant was soft-deleted; soft-deleted tenants are hidden from reads.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// An identity at an OAuth provider, such as `google` / `1234567890`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OAuthIdentity {
    /// The provider (at most 50 characters).
    pub provider: String,
    /// The user's id at the provider (at most 255 characters).
    pub user_id: String,
}

/// What it takes to create a tenant.
///
/// ```
/// use jobstore_domain::NewTenant;
///
/// let tenant = NewTenant::named("Acme Corp");
/// assert!(tenant.validate().is_ok());
/// assert!(NewTenant::named("").validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTenant {
    /// A caller-chosen id; `None` generates one.
    pub id: Option<TenantId>,
    /// The display name.
    pub name: String,
    /// The user's e-mail address.
    pub user_email: Option<String>,
    /// The OAuth identity.
    pub oauth: Option<OAuthIdentity>,
}

impl NewTenant {
    /// A tenant with a generated id and only a name.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            id: None,
            name: name.into(),
            user_email: None,
            oauth: None,
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), DomainError> {
        validate_fields(&self.name, self.user_email.as_deref(), self.oauth.as_ref())
    }

    /// The tenant this creates, at `now`.
    pub fn into_tenant(self, now: DateTime<Utc>) -> Result<Tenant, DomainError> {
        self.validate()?;
        Ok(Tenant {
            id: self.id.unwrap_or_else(TenantId::generate),
            name: self.name,
            user_email: self.user_email,
            oauth: self.oauth,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        })
    }
}

/// A change to a tenant: each `Some` field replaces the stored value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantUpdate {
    /// A new name.
    pub name: Option<String>,
    /// A new e-mail address, or `Some(None)` to clear it.
    pub user_email: Option<Option<String>>,
    /// A new OAuth identity, or `Some(None)` to unlink it.
    pub oauth: Option<Option<OAuthIdentity>>,
}

impl Tenant {
    /// The tenant after `update`, at `now`.
    pub fn updated(&self, update: TenantUpdate, now: DateTime<Utc>) -> Result<Tenant, DomainError> {
        let next = Tenant {
            name: update.name.unwrap_or_else(|| self.name.clone()),
            user_email: update.user_email.unwrap_or_else(|| self.user_email.clone()),
            oauth: update.oauth.unwrap_or_else(|| self.oauth.clone()),
            updated_at: now,
            ..self.clone()
        };
        validate_fields(&next.name, next.user_email.as_deref(), next.oauth.as_ref())?;
        Ok(next)
    }
}

impl Tenant {
    /// The tenant soft-deleted at `now`: hidden from reads until purged. Its jobs are hidden
    /// with it (see [`crate::Job::hide_with_tenant`]).
    pub fn soft_deleted(&self, now: DateTime<Utc>) -> Tenant {
        Tenant {
            deleted_at: Some(now),
            updated_at: now,
            ..self.clone()
        }
    }
}

fn validate_fields(
    name: &str,
    user_email: Option<&str>,
    oauth: Option<&OAuthIdentity>,
) -> Result<(), DomainError> {
    text::required("name", name, 255)?;
    text::optional("user_email", user_email, 255)?;
    if let Some(email) = user_email
        && !email.contains('@')
    {
        return Err(crate::error::invalid("user_email", "has no @"));
    }
    if let Some(identity) = oauth {
        text::key("oauth_provider", Some(&identity.provider), 50)?;
        text::key("oauth_user_id", Some(&identity.user_id), 255)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_replaces_only_given_fields() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let tenant = NewTenant {
            user_email: Some("a@example.com".into()),
            ..NewTenant::named("Acme")
        }
        .into_tenant(now)
        .unwrap();
        let renamed = tenant
            .updated(
                TenantUpdate {
                    name: Some("Acme Corp".into()),
                    ..TenantUpdate::default()
                },
                now,
            )
            .unwrap();
        assert_eq!(renamed.name, "Acme Corp");
        assert_eq!(renamed.user_email.as_deref(), Some("a@example.com"));
    }

    #[test]
    fn rejects_bad_fields() {
        assert!(NewTenant::named("x".repeat(256)).validate().is_err());
        let bad_email = NewTenant {
            user_email: Some("nobody".into()),
            ..NewTenant::named("Acme")
        };
        assert!(bad_email.validate().is_err());
        let bad_oauth = NewTenant {
            oauth: Some(OAuthIdentity {
                provider: "p".repeat(51),
                user_id: "1".into(),
            }),
            ..NewTenant::named("Acme")
        };
        assert!(bad_oauth.validate().is_err());
    }
}
