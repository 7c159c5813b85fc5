//! Jobs per minute over a recent window, for the System page's charts: read from `jobs`, so
//! every API node answers the same and a restart loses nothing.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgPool};

/// One minute of the window.
#[derive(Debug, Serialize, FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Minute {
    /// The minute's start.
    pub minute: DateTime<Utc>,
    /// Jobs created in this minute.
    pub created: i64,
    /// Jobs that ended in this minute, by final status (`{"done": 3, "failed": 1}`); a status
    /// nobody reached is absent, so a new final status needs no change here.
    pub finished: Value,
    /// Created → finished of the jobs that ended in this minute, in seconds; `None` when none
    /// did.
    pub p50_seconds: Option<f64>,
    pub p95_seconds: Option<f64>,
    pub p99_seconds: Option<f64>,
}

/// The last `minutes` minutes, the current one included, oldest first; every minute is there,
/// empty ones with zeros. Two index range scans (`created_at`, `finished_at`): the window's
/// start is written out in each `WHERE`, not taken from a CTE, so the planner sees its value
/// and knows the range is small (from a CTE it guesses a third of the table and scans it all).
pub async fn per_minute(pool: &PgPool, minutes: i32) -> sqlx::Result<Vec<Minute>> {
    sqlx::query_as(
        "WITH minutes AS (
             SELECT generate_series(date_trunc('minute', now()) - make_interval(mins => $1 - 1),
                                    date_trunc('minute', now()), interval '1 minute') AS minute
         ),
         created AS (
             SELECT date_trunc('minute', created_at) AS minute, count(*) AS n
             FROM jobs
             WHERE created_at >= date_trunc('minute', now()) - make_interval(mins => $1 - 1)
             GROUP BY 1
         ),
         ended AS (
             SELECT date_trunc('minute', finished_at) AS minute, status,
                    extract(epoch FROM finished_at - created_at)::float8 AS seconds
             FROM jobs
             WHERE finished_at >= date_trunc('minute', now()) - make_interval(mins => $1 - 1)
         ),
         by_status AS (
             SELECT minute, jsonb_object_agg(status, n) AS finished
             FROM (SELECT minute, status, count(*) AS n FROM ended GROUP BY 1, 2) counted
             GROUP BY 1
         ),
         durations AS (
             SELECT minute,
                    percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY seconds) AS p
             FROM ended GROUP BY 1
         )
         SELECT m.minute,
                coalesce(created.n, 0) AS created,
                coalesce(by_status.finished, '{}'::jsonb) AS finished,
                durations.p[1] AS p50_seconds,
                durations.p[2] AS p95_seconds,
                durations.p[3] AS p99_seconds
         FROM minutes m
         LEFT JOIN created USING (minute)
         LEFT JOIN by_status USING (minute)
         LEFT JOIN durations USING (minute)
         ORDER BY m.minute",
    )
    .bind(minutes)
    .fetch_all(pool)
    .await
}
