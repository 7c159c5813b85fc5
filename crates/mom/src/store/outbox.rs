//! The transactional outbox: messages committed with the state change that causes them.

use std::sync::LazyLock;

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

/// Inserts every message in one statement and sets each one's `id`.
pub async fn insert_many(
    tx: &mut Transaction<'_, Postgres>,
    messages: &mut [OutboxMessage],
) -> sqlx::Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&OutboxMessage) -> &str| messages.iter().map(f).collect::<Vec<_>>();
    let exchanges = column(|m| &m.exchange);
    let keys = column(|m| &m.routing_key);
    let kinds = column(|m| &m.kind);
    let message_ids = column(|m| &m.message_id);
    let parents: Vec<Option<&str>> = messages.iter().map(|m| m.traceparent.as_deref()).collect();
    let priorities: Vec<i16> = messages.iter().map(|m| m.priority).collect();
    let payloads: Vec<&Value> = messages.iter().map(|m| &m.payload).collect();
    let ids: Vec<(i64, String)> = sqlx::query_as(
        "INSERT INTO outbox (exchange, routing_key, kind, message_id, traceparent, priority, payload)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                              $6::int2[], $7::jsonb[])
         RETURNING id, message_id",
    )
    .bind(&exchanges)
    .bind(&keys)
    .bind(&kinds)
    .bind(&message_ids)
    .bind(&parents)
    .bind(&priorities)
    .bind(&payloads)
    .fetch_all(&mut **tx)
    .await?;
    // Matched by message id, not by position: RETURNING promises no order. Message ids are
    // unique within a batch; if one were not, a row left without its id here is published
    // again by the sweep, which at-least-once allows.
    let mut by_message: std::collections::HashMap<String, Vec<i64>> = Default::default();
    for (id, message_id) in ids {
        by_message.entry(message_id).or_default().push(id);
    }
    for message in messages.iter_mut() {
        if let Some(id) = by_message.get_mut(&message.message_id).and_then(Vec::pop) {
            message.id = id;
        }
    }
    Ok(())
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

/// Deletes the rows whose ids are in the `bigint[]` parameter `$param`, each looked up by key.
/// Spelled `id = ANY($param)`, the plan a prepared statement keeps is the one of its sixth run,
/// made on a nearly empty outbox, where a sequential scan is cheapest; the outbox is all dead
/// rows until a vacuum (this machine's PostgreSQL never runs one by itself), so that scan read
/// 376 buffers per step result after 12,000 jobs. The range filter works as `FEW_ROWS` does in
/// `jobs`: always true, but estimated to keep few rows, so the plan joins by index.
pub(super) fn delete_by_ids(param: u8) -> String {
    format!(
        "DELETE FROM outbox USING unnest(${param}::bigint[]) AS sent(id)
         WHERE outbox.id = sent.id
           AND sent.id BETWEEN -9223372036854775808 AND 9223372036854775807"
    )
}

static DELETE_BY_IDS: LazyLock<String> = LazyLock::new(|| delete_by_ids(1));

pub async fn delete(pool: &PgPool, ids: &[i64]) -> sqlx::Result<()> {
    sqlx::query(&DELETE_BY_IDS).bind(ids).execute(pool).await?;
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
    sqlx::query(&DELETE_BY_IDS)
        .bind(ids)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The outbox's size and the age of its oldest row (0 when empty).
#[derive(Debug, Clone, Copy, FromRow)]
pub struct Backlog {
    pub rows: i64,
    pub oldest_seconds: f64,
}

pub async fn backlog(pool: &PgPool) -> sqlx::Result<Backlog> {
    sqlx::query_as(
        "SELECT count(*) AS rows,
                coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_seconds
         FROM outbox",
    )
    .fetch_one(pool)
    .await
}
