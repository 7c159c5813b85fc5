//! The `dead_letters` table: written by the worker's dead-letter keeper and by replays and
//! discards (through the db worker's committer), read by the admin routes.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder, Transaction};

use crate::domain::dead_letter::{DeadLetter, DeadLetterFilter, Redacted, Selection};
use crate::domain::views::millis;

/// A stored dead letter, as the admin routes show it.
#[derive(Debug, Clone, FromRow, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredDeadLetter {
    pub id: i64,
    pub queue: String,
    pub kind: String,
    pub message_id: String,
    pub reason: String,
    pub attempts: i32,
    #[serde(with = "millis")]
    pub first_failed_at: DateTime<Utc>,
    #[serde(with = "millis")]
    pub last_failed_at: DateTime<Utc>,
    pub job_id: Option<i32>,
    /// Redacted when it was stored; `None` when the body was not JSON.
    pub payload: Option<Value>,
    /// Why it cannot be replayed, if it cannot.
    pub not_replayable: Option<String>,
    #[serde(skip)]
    pub priority: i16,
    #[serde(skip)]
    pub traceparent: Option<String>,
}

const COLUMNS: &str = "id, queue, kind, message_id, reason, attempts, first_failed_at, \
                       last_failed_at, job_id, payload, not_replayable, priority, traceparent";

/// Stores a dead letter. The same message dead-lettered again (a redelivery to the keeper, or
/// a duplicate that failed the same way) updates its row instead of adding one: the first
/// failure stays, the latest reason and attempt count win.
pub async fn keep(tx: &mut Transaction<'_, Postgres>, dead: &DeadLetter) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO dead_letters (queue, kind, message_id, reason, attempts, first_failed_at,
                                   last_failed_at, job_id, payload, not_replayable, priority,
                                   traceparent)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (queue, message_id) DO UPDATE SET
            first_failed_at = least(dead_letters.first_failed_at, excluded.first_failed_at),
            last_failed_at = greatest(dead_letters.last_failed_at, excluded.last_failed_at),
            reason = CASE WHEN excluded.last_failed_at >= dead_letters.last_failed_at
                          THEN excluded.reason ELSE dead_letters.reason END,
            attempts = greatest(dead_letters.attempts, excluded.attempts)
         RETURNING id",
    )
    .bind(&dead.queue)
    .bind(&dead.kind)
    .bind(&dead.message_id)
    .bind(&dead.reason)
    .bind(dead.attempts)
    .bind(dead.first_failed_at)
    .bind(dead.last_failed_at)
    .bind(dead.job_id)
    .bind(dead.payload.as_ref().map(Redacted::as_value))
    .bind(&dead.not_replayable)
    .bind(dead.priority)
    .bind(&dead.traceparent)
    .fetch_one(&mut **tx)
    .await
}

fn push_filter(query: &mut QueryBuilder<'_, Postgres>, filter: &DeadLetterFilter) {
    if let Some(queue) = &filter.queue {
        query.push(" AND queue = ").push_bind(queue.clone());
    }
    if let Some(job_id) = filter.job_id {
        query.push(" AND job_id = ").push_bind(job_id);
    }
    if let Some(needle) = &filter.reason {
        query
            .push(" AND reason ILIKE ")
            .push_bind(format!("%{}%", super::jobs::escape_like(needle)));
    }
}

/// Up to `limit + 1` matching dead letters below `before`, newest first (the extra one tells
/// the caller a next page exists).
pub async fn list(
    pool: &PgPool,
    filter: &DeadLetterFilter,
    before: Option<i64>,
    limit: u32,
) -> sqlx::Result<Vec<StoredDeadLetter>> {
    let mut query =
        QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM dead_letters WHERE true"));
    push_filter(&mut query, filter);
    if let Some(before) = before {
        query.push(" AND id < ").push_bind(before);
    }
    query
        .push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(limit) + 1);
    query.build_query_as().fetch_all(pool).await
}

/// How many dead letters each queue has (queues with none are left out).
pub async fn counts(pool: &PgPool) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as("SELECT queue, count(*) FROM dead_letters GROUP BY queue ORDER BY queue")
        .fetch_all(pool)
        .await
}

/// What a replay or discard found.
#[derive(Debug)]
pub enum Taken {
    /// The selected rows, deleted in this transaction; those that cannot be replayed are
    /// left in place and counted (when replaying).
    Rows {
        rows: Vec<StoredDeadLetter>,
        left: u64,
    },
    /// Some selected ids do not exist (any more); nothing was changed.
    Unknown(Vec<i64>),
    /// Some selected ids cannot be replayed; nothing was changed.
    NotReplayable(Vec<(i64, String)>),
}

/// Deletes the selected dead letters and returns them. With `replayable_only`, rows that
/// cannot be replayed are kept: a selection by ids naming one refuses the whole request, a
/// filter passes them over and counts them.
pub async fn take(
    tx: &mut Transaction<'_, Postgres>,
    selection: &Selection,
    replayable_only: bool,
) -> sqlx::Result<Taken> {
    let mut query =
        QueryBuilder::<Postgres>::new("SELECT id, not_replayable FROM dead_letters WHERE true");
    match selection {
        Selection::Ids(ids) => {
            query
                .push(" AND id = ANY(")
                .push_bind(ids.clone())
                .push(")");
        }
        Selection::Matching(filter) => push_filter(&mut query, filter),
    }
    // Locked, so a concurrent replay of the same rows waits and then finds them gone.
    query.push(" ORDER BY id FOR UPDATE");
    let found: Vec<(i64, Option<String>)> = query.build_query_as().fetch_all(&mut **tx).await?;
    if let Selection::Ids(ids) = selection {
        let unknown: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| !found.iter().any(|(f, _)| f == id))
            .collect();
        if !unknown.is_empty() {
            return Ok(Taken::Unknown(unknown));
        }
        let refused: Vec<(i64, String)> = found
            .iter()
            .filter_map(|(id, why)| Some((*id, why.clone()?)))
            .collect();
        if replayable_only && !refused.is_empty() {
            return Ok(Taken::NotReplayable(refused));
        }
    }
    let (ids, left): (Vec<i64>, u64) = if replayable_only {
        let ids = found
            .iter()
            .filter(|(_, why)| why.is_none())
            .map(|(id, _)| *id)
            .collect::<Vec<_>>();
        let left = (found.len() - ids.len()) as u64;
        (ids, left)
    } else {
        (found.iter().map(|(id, _)| *id).collect(), 0)
    };
    let rows = sqlx::query_as::<_, StoredDeadLetter>(&format!(
        "DELETE FROM dead_letters WHERE id = ANY($1) RETURNING {COLUMNS}"
    ))
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    Ok(Taken::Rows { rows, left })
}
