//! `mom admin grant|revoke EMAIL`: the operator's way to change a user's stored role.

use std::time::Duration;

use crate::config::Config;
use crate::domain::{Email, Role};

#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    #[error("{0:?} is not an email address")]
    InvalidEmail(String),
    #[error("no user has the email {0}; they must register first")]
    UnknownEmail(String),
    #[error("{0}'s stored role is now user, but ADMIN_EMAILS still makes them admin; remove them there too")]
    AdminByConfig(String),
    #[error(transparent)]
    Database(#[from] anyhow::Error),
}

/// Stores `role` for the user with this email. Applies pending migrations first, so it works
/// on a fresh deployment before any service has started.
pub async fn set(config: &Config, email: &str, role: Role) -> Result<(), RoleError> {
    let email = Email::parse(email).map_err(|_| RoleError::InvalidEmail(email.to_owned()))?;
    let pool = crate::store::connect(&config.database_url, Duration::from_secs(10)).await?;
    crate::store::migrate(&pool).await?;
    let found = crate::store::users::set_role(&pool, email.as_str(), role)
        .await
        .map_err(anyhow::Error::from)?;
    pool.close().await;
    if !found {
        return Err(RoleError::UnknownEmail(email.as_str().to_owned()));
    }
    if config.effective_role(role, email.as_str()) != role {
        return Err(RoleError::AdminByConfig(email.as_str().to_owned()));
    }
    Ok(())
}
