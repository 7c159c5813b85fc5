//! The `users` table.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

use crate::domain::{Role, UserView};

#[derive(FromRow)]
struct UserRow {
    id: i32,
    first_name: String,
    last_name: String,
    email: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<UserRow> for UserView {
    fn from(row: UserRow) -> Self {
        UserView {
            id: row.id,
            first_name: row.first_name,
            last_name: row.last_name,
            email: row.email,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

const COLUMNS: &str = "id, first_name, last_name, email, created_at, updated_at";

/// A user to insert; the password is already hashed.
pub struct UserRecord<'a> {
    pub request_id: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum InsertUserError {
    #[error("email is already used")]
    EmailTaken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Inserts a user once per request id: a redelivered or retried request gets the row it created.
pub async fn insert(pool: &PgPool, user: &UserRecord<'_>) -> Result<UserView, InsertUserError> {
    let inserted = sqlx::query_as::<_, UserRow>(&format!(
        "INSERT INTO users (first_name, last_name, email, password_hash, request_id)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (request_id) DO NOTHING
         RETURNING {COLUMNS}"
    ))
    .bind(user.first_name)
    .bind(user.last_name)
    .bind(user.email)
    .bind(user.password_hash)
    .bind(user.request_id)
    .fetch_optional(pool)
    .await;
    let by_request_id = || async {
        sqlx::query_as::<_, UserRow>(&format!(
            "SELECT {COLUMNS} FROM users WHERE request_id = $1"
        ))
        .bind(user.request_id)
        .fetch_optional(pool)
        .await
    };
    match inserted {
        Ok(Some(row)) => Ok(row.into()),
        Ok(None) => by_request_id()
            .await?
            .map(Into::into)
            .ok_or(InsertUserError::Database(sqlx::Error::RowNotFound)),
        // Two requests with one request id racing: the loser may trip over the winner's email
        // before it sees the request id taken. Then the row is its own.
        Err(sqlx::Error::Database(e)) if e.constraint() == Some("users_email_key") => {
            match by_request_id().await? {
                Some(row) => Ok(row.into()),
                None => Err(InsertUserError::EmailTaken),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The stored password hash of user `id`.
pub async fn password_hash(pool: &PgPool, id: i32) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// What login needs to know about a user.
pub struct LoginRecord {
    pub user: UserView,
    pub password_hash: String,
    /// As stored; `ADMIN_EMAILS` may still raise it (see `Config::effective_role`).
    pub role: Role,
}

/// The user with this (lowercased) email, their password hash and stored role.
pub async fn find_by_email(pool: &PgPool, email: &str) -> sqlx::Result<Option<LoginRecord>> {
    #[derive(FromRow)]
    struct WithHash {
        #[sqlx(flatten)]
        user: UserRow,
        password_hash: String,
        role: String,
    }
    let row = sqlx::query_as::<_, WithHash>(&format!(
        "SELECT {COLUMNS}, password_hash, role FROM users WHERE email = $1"
    ))
    .bind(email)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| LoginRecord {
        user: r.user.into(),
        password_hash: r.password_hash,
        role: Role::from_column(&r.role),
    }))
}

/// The stored role of user `id`; `None` if there is no such user.
pub async fn role(pool: &PgPool, id: i32) -> sqlx::Result<Option<Role>> {
    let role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(role.as_deref().map(Role::from_column))
}

/// Sets the role of the user with this (lowercased) email; `false` if there is none.
/// An operator's command, not a service path: the db worker stays the writer of everything
/// a request can change.
pub async fn set_role(pool: &PgPool, email: &str, role: Role) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE users SET role = $2, updated_at = now(), version = version + 1 WHERE email = $1",
    )
    .bind(email)
    .bind(role.as_str())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn find(pool: &PgPool, id: i32) -> sqlx::Result<Option<UserView>> {
    let row = sqlx::query_as::<_, UserRow>(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(Into::into))
}

/// The users with these ids, in no particular order; unknown ids are skipped.
pub async fn find_many(pool: &PgPool, ids: &[i32]) -> sqlx::Result<Vec<UserView>> {
    let rows =
        sqlx::query_as::<_, UserRow>(&format!("SELECT {COLUMNS} FROM users WHERE id = ANY($1)"))
            .bind(ids)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub async fn list(pool: &PgPool) -> sqlx::Result<Vec<UserView>> {
    let rows = sqlx::query_as::<_, UserRow>(&format!("SELECT {COLUMNS} FROM users ORDER BY id"))
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}
