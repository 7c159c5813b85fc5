//! The transactional outbox: messages committed with the state change that causes them.

use serde_json::Value;
use sqlx::{FromRow, PgPool, Postgres, Transaction};

/// A message waiting to be published. An empty `exchange` means "to the queue named by
/// `routing_key`".
#[derive(Debug, Clone, FromRow)]
pub struct OutboxMessage {
    #[sqlx(default)]
    pub id: i64,
    pub exchange: String,
    pub routing_key: String,
    pub kind: String,
    pub message_id: String,
    pub traceparent: Option<String>,
    pub priority: i16,
    pub payload: Value,
}

pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    message: &OutboxMessage,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO outbox (exchange, routing_key, kind, message_id, traceparent, priority, payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(&message.exchange)
    .bind(&message.routing_key)
    .bind(&message.kind)
    .bind(&message.message_id)
    .bind(&message.traceparent)
    .bind(message.priority)
    .bind(&message.payload)
    .fetch_one(&mut **tx)
    .await
}

pub async fn delete(pool: &PgPool, ids: &[i64]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM outbox WHERE id = ANY($1)")
        .bind(ids)
        .execute(pool)
        .await?;
    Ok(())
}

/// Rows older than `grace_ms`, locked for this transaction so two relays never take the same.
pub async fn claim_stale(
    tx: &mut Transaction<'_, Postgres>,
    grace_ms: i64,
    limit: i64,
) -> sqlx::Result<Vec<OutboxMessage>> {
    sqlx::query_as::<_, OutboxMessage>(
        "SELECT id, exchange, routing_key, kind, message_id, traceparent, priority, payload
         FROM outbox
         WHERE created_at < now() - make_interval(secs => $1::double precision / 1000)
         ORDER BY id LIMIT $2
         FOR UPDATE SKIP LOCKED",
    )
    .bind(grace_ms)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await
}

pub async fn delete_in(tx: &mut Transaction<'_, Postgres>, ids: &[i64]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM outbox WHERE id = ANY($1)")
        .bind(ids)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
