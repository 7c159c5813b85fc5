//! PostgreSQL: connection (creating the database on first use), migrations, and one module
//! per table. Only the worker writes; the API and the socket gateway read.

pub mod dead_letters;
pub mod history;
pub mod jobs;
pub mod outbox;
pub mod users;
pub mod worker_health;

use std::time::Duration;

use anyhow::Context as _;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Postgres;
use tracing::{info, warn};

use crate::config::redact_url;

/// Connects, creating the database if it does not exist, and retrying until `wait` has passed
/// so services can start before PostgreSQL does.
pub async fn connect(url: &str, wait: Duration) -> anyhow::Result<PgPool> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match try_connect(url).await {
            Ok(pool) => {
                info!(database = %redact_url(url), "connected to PostgreSQL");
                return Ok(pool);
            }
            Err(error) if tokio::time::Instant::now() < deadline => {
                if attempt == 1 || attempt.is_multiple_of(10) {
                    warn!(%error, database = %redact_url(url), "PostgreSQL not ready; retrying");
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => {
                return Err(error).with_context(|| {
                    format!("Failed to connect to PostgreSQL at {}", redact_url(url))
                })
            }
        }
    }
}

async fn try_connect(url: &str) -> anyhow::Result<PgPool> {
    if !Postgres::database_exists(url).await? {
        // Two services starting at once may race here; losing the race is fine.
        if let Err(error) = Postgres::create_database(url).await {
            if !Postgres::database_exists(url).await? {
                return Err(error.into());
            }
        }
    }
    Ok(PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await?)
}

/// Applies the migrations in `crates/mom/migrations` (idempotent, safe from several processes).
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::migrate!("./migrations")
        .run(pool)
        .await
        .context("Failed to run migrations")?;
    Ok(())
}
