//! `worker_health`: each worker process's consumer counters, as it last reported them.

use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;

/// Replaces `process`'s report with `consumers` (`mom_bus::ConsumerHealth`, as JSON).
pub async fn report(pool: &PgPool, process: &str, consumers: &Value) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO worker_health (process, consumers) VALUES ($1, $2)
         ON CONFLICT (process) DO UPDATE SET consumers = $2, reported_at = now()",
    )
    .bind(process)
    .bind(consumers)
    .execute(pool)
    .await?;
    Ok(())
}

/// A process that stops takes its row with it; one that dies leaves it to go stale.
pub async fn forget(pool: &PgPool, process: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM worker_health WHERE process = $1")
        .bind(process)
        .execute(pool)
        .await?;
    Ok(())
}

/// Every consumer of the processes that reported within `within`, each with its `process`,
/// and drops the rows older than an hour.
pub async fn fresh(pool: &PgPool, within: Duration) -> sqlx::Result<Vec<Value>> {
    sqlx::query("DELETE FROM worker_health WHERE reported_at < now() - interval '1 hour'")
        .execute(pool)
        .await?;
    let rows: Vec<(String, Value)> = sqlx::query_as(
        "SELECT process, consumers FROM worker_health
         WHERE reported_at >= now() - make_interval(secs => $1)
         ORDER BY process",
    )
    .bind(within.as_secs_f64())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .flat_map(|(process, consumers)| {
            let consumers = match consumers {
                Value::Array(consumers) => consumers,
                _ => Vec::new(),
            };
            consumers.into_iter().map(move |mut consumer| {
                consumer["process"] = Value::String(process.clone());
                consumer
            })
        })
        .collect())
}
