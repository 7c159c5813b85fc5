//! The `jobs` table. Every state change is a conditional update, so replaying a message
//! changes nothing the second time.

use chrono::{DateTime, Utc};
use mom_math::MathMethod;
use serde_json::Value;
use std::sync::LazyLock;

use sqlx::{FromRow, PgConnection, PgPool, Postgres, QueryBuilder, Transaction};

use super::outbox;
use crate::domain::{JobStatus, JobView, UserView};

#[derive(FromRow, Clone)]
struct JobRow {
    id: i32,
    owner_id: i32,
    #[sqlx(rename = "type")]
    kind: String,
    status: String,
    details: Value,
    steps_done: i32,
    steps_total: i32,
    error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    version: i32,
}

/// A job row with its owner id (and, from the writes below, the owner itself).
#[derive(Debug)]
pub struct Job {
    pub owner_id: i32,
    pub view: JobView,
}

/// A job row joined with its owner's columns, as every write below returns it: events carry
/// the owner, and reading it in the same statement saves a round trip per event.
#[derive(FromRow, Clone)]
struct JobWithOwnerRow {
    #[sqlx(flatten)]
    job: JobRow,
    owner_first_name: String,
    owner_last_name: String,
    owner_email: String,
    owner_created_at: DateTime<Utc>,
    owner_updated_at: DateTime<Utc>,
}

impl From<JobWithOwnerRow> for Job {
    fn from(row: JobWithOwnerRow) -> Self {
        let owner = UserView {
            id: row.job.owner_id,
            first_name: row.owner_first_name,
            last_name: row.owner_last_name,
            email: row.owner_email,
            created_at: row.owner_created_at,
            updated_at: row.owner_updated_at,
        };
        let mut job = Job::from(row.job);
        job.view.owner = Some(owner);
        job
    }
}

impl From<JobRow> for Job {
    fn from(row: JobRow) -> Self {
        let status = JobStatus::parse(&row.status).unwrap_or(JobStatus::Failed);
        Job {
            owner_id: row.owner_id,
            view: JobView {
                id: row.id,
                kind: row.kind,
                done: status == JobStatus::Done,
                status,
                // Rows written before results were lossless may hold integers past 2^53.
                details: mom_math::wire::lossless(row.details),
                steps_done: row.steps_done,
                steps_total: row.steps_total,
                error: row.error,
                created_at: row.created_at,
                updated_at: row.updated_at,
                finished_at: row.finished_at,
                version: row.version,
                owner: None,
                results: None,
            },
        }
    }
}

const COLUMNS: &str = "id, owner_id, type, status, details, steps_done, steps_total, error, \
                       created_at, updated_at, finished_at, version";

/// Filters the rows of a batch's `unnest(…)` by one of its int columns: true of every row (any
/// int4 lies in this range), but the planner, which has no statistics for it, estimates that
/// it keeps one row in 200, so a batch looks like a row or two. A prepared statement keeps the
/// plan of about its sixth run, maybe on a nearly empty table, where scanning `jobs` looks
/// cheaper than looking up ten jobs by index, and that scan would then grow with the table for
/// as long as the connection lives (this machine runs PostgreSQL with autovacuum off, so no
/// new statistics ever replace it). Looking each job up by index stays right at any size.
const FEW_ROWS: &str = "BETWEEN -2147483648 AND 2147483647";

/// `SELECT`s the rows of CTE `j` (the jobs columns and `extra`) with their owner, for
/// [`JobWithOwnerRow`].
fn with_owner(extra: &str) -> String {
    format!(
        "SELECT j.id, j.owner_id, j.type, j.status, j.details, j.steps_done, j.steps_total, \
         j.error, j.created_at, j.updated_at, j.finished_at, j.version, \
         u.first_name AS owner_first_name, u.last_name AS owner_last_name, \
         u.email AS owner_email, u.created_at AS owner_created_at, \
         u.updated_at AS owner_updated_at{extra} \
         FROM j JOIN users u ON u.id = j.owner_id"
    )
}

/// A job to insert.
pub struct NewJob<'a> {
    pub owner_id: i32,
    pub details: &'a Value,
    pub steps_total: i32,
    /// The request that creates it: a redelivered request finds the job it created.
    pub request_id: &'a str,
}

/// A step result to record.
#[derive(Clone, Copy)]
pub struct StepResult<'a> {
    pub job_id: i32,
    pub step: i32,
    pub result: &'a Value,
}

/// Inserts each job once per request id, in one statement. Returns, in the order of `jobs`,
/// each job with its owner and whether this call created it (a request id given twice gets
/// the same job, created once).
pub async fn insert_many(
    tx: &mut Transaction<'_, Postgres>,
    jobs: &[NewJob<'_>],
) -> sqlx::Result<Vec<(Job, bool)>> {
    let owners: Vec<i32> = jobs.iter().map(|j| j.owner_id).collect();
    let details: Vec<&Value> = jobs.iter().map(|j| j.details).collect();
    let totals: Vec<i32> = jobs.iter().map(|j| j.steps_total).collect();
    let requests: Vec<&str> = jobs.iter().map(|j| j.request_id).collect();
    // The outer SELECT sees the table as it was before the INSERT: its second half finds the
    // jobs that earlier requests created.
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        job: JobWithOwnerRow,
        request_id: String,
        created: bool,
    }
    let rows = sqlx::query_as::<_, Row>(&format!(
        "WITH input AS (
            SELECT * FROM unnest($1::int[], $2::jsonb[], $3::int[], $4::text[])
                AS i(owner_id, details, steps_total, request_id)
            WHERE i.owner_id {FEW_ROWS}
         ), inserted AS (
            INSERT INTO jobs (owner_id, type, details, steps_total, request_id)
            SELECT owner_id, 'math', details, steps_total, request_id FROM input
            ON CONFLICT (request_id) DO NOTHING
            RETURNING {COLUMNS}, request_id
         ), j AS (
            SELECT *, true AS created FROM inserted
            UNION ALL
            SELECT {COLUMNS}, request_id, false AS created FROM jobs
            WHERE request_id IN (SELECT request_id FROM input)
         )
         {}",
        with_owner(", j.request_id, j.created")
    ))
    .bind(&owners)
    .bind(&details)
    .bind(&totals)
    .bind(&requests)
    .fetch_all(&mut **tx)
    .await?;
    let by_request: std::collections::HashMap<String, (JobWithOwnerRow, bool)> = rows
        .into_iter()
        .map(|row| (row.request_id, (row.job, row.created)))
        .collect();
    let mut seen = std::collections::HashSet::new();
    jobs.iter()
        .map(|job| {
            let (row, created) = by_request
                .get(job.request_id)
                .cloned()
                .ok_or(sqlx::Error::RowNotFound)?;
            // Of several writes with one request id, only the first counts as creating it.
            let first = seen.insert(job.request_id);
            Ok((Job::from(row), created && first))
        })
        .collect()
}

/// Inserts one job once per request id. Returns the job and whether this call created it.
pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    owner_id: i32,
    details: &Value,
    steps_total: i32,
    request_id: &str,
) -> sqlx::Result<(Job, bool)> {
    let job = NewJob {
        owner_id,
        details,
        steps_total,
        request_id,
    };
    let mut inserted = insert_many(tx, &[job]).await?;
    inserted.pop().ok_or(sqlx::Error::RowNotFound)
}

/// Records each step result that is the next one its job expects and deletes the `published`
/// outbox rows, in one statement: on a connection outside a transaction it commits alone,
/// with no `BEGIN` and `COMMIT` round trips. Returns the jobs that changed, with their owners;
/// a result recorded already (a redelivery) or of a job that has ended changes nothing and is
/// left out.
pub async fn record_steps(
    conn: &mut PgConnection,
    steps: &[StepResult<'_>],
    published: &[i64],
) -> sqlx::Result<Vec<Job>> {
    // A data-modifying CTE runs whether or not the query reads it. "Not ended" is spelled
    // NOT IN so that no index serves it: the plan a prepared statement settles on otherwise
    // scans `jobs_status_id_idx` for every queued and running entry, dead ones included
    // (each step's update leaves one until vacuum), instead of looking each job up by id.
    static STATEMENT: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH published AS (
                {}
             ), input AS (
                SELECT * FROM unnest($1::int[], $2::int[], $3::jsonb[]) AS i(job_id, step, result)
                WHERE i.job_id {FEW_ROWS}
             ), j AS (
                UPDATE jobs SET
                    details = jsonb_set(jobs.details, ARRAY[input.step::text, 'result'], input.result),
                    steps_done = input.step + 1,
                    status = CASE WHEN input.step + 1 >= jobs.steps_total THEN 'done' ELSE 'running' END,
                    finished_at = CASE WHEN input.step + 1 >= jobs.steps_total THEN now() ELSE NULL END,
                    updated_at = now(),
                    version = jobs.version + 1
                FROM input
                WHERE jobs.id = input.job_id AND jobs.steps_done = input.step
                  AND jobs.status NOT IN ('done', 'failed', 'cancelled')
                RETURNING {COLUMNS}
             )
             {}",
            outbox::delete_by_ids(4),
            with_owner("")
        )
    });
    let ids: Vec<i32> = steps.iter().map(|s| s.job_id).collect();
    let numbers: Vec<i32> = steps.iter().map(|s| s.step).collect();
    let results: Vec<&Value> = steps.iter().map(|s| s.result).collect();
    let rows = sqlx::query_as::<_, JobWithOwnerRow>(&STATEMENT)
        .bind(&ids)
        .bind(&numbers)
        .bind(&results)
        .bind(published)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Of `steps`, the jobs whose latest recorded step is that one and that are still running or
/// done: the jobs a redelivered step result must move on again, since the delivery that
/// recorded it may have died before the next step and the event were confirmed.
pub async fn recorded_last(
    tx: &mut Transaction<'_, Postgres>,
    steps: &[(i32, i32)],
) -> sqlx::Result<Vec<Job>> {
    let ids: Vec<i32> = steps.iter().map(|(job_id, _)| *job_id).collect();
    let numbers: Vec<i32> = steps.iter().map(|(_, step)| *step).collect();
    let rows = sqlx::query_as::<_, JobWithOwnerRow>(&format!(
        "WITH input AS (
            SELECT * FROM unnest($1::int[], $2::int[]) AS i(job_id, step)
            WHERE i.job_id {FEW_ROWS}
         ), j AS (
            SELECT {COLUMNS} FROM jobs JOIN input ON jobs.id = input.job_id
            WHERE jobs.steps_done = input.step + 1 AND jobs.status IN ('running', 'done')
         )
         {}",
        with_owner("")
    ))
    .bind(&ids)
    .bind(&numbers)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Records the result of step `step` if it is the next one to record; `None` if it was
/// recorded already or the job has ended.
pub async fn record_step(
    conn: &mut PgConnection,
    job_id: i32,
    step: i32,
    result: &Value,
) -> sqlx::Result<Option<Job>> {
    let step = StepResult {
        job_id,
        step,
        result,
    };
    Ok(record_steps(conn, &[step], &[]).await?.pop())
}

/// Fails a job that has not ended yet; `None` if it had.
pub async fn fail(conn: &mut PgConnection, job_id: i32, reason: &str) -> sqlx::Result<Option<Job>> {
    let row = sqlx::query_as::<_, JobWithOwnerRow>(&format!(
        "WITH j AS (
            UPDATE jobs SET status = 'failed', error = $2, finished_at = now(), updated_at = now(),
                version = version + 1
            WHERE id = $1 AND status IN ('queued', 'running')
            RETURNING {COLUMNS}
         )
         {}",
        with_owner("")
    ))
    .bind(job_id)
    .bind(reason)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Into::into))
}

/// What [`cancel`] found.
#[derive(Debug)]
pub enum Cancel {
    /// Cancelled: `now` by this call, or earlier by the same request id (a retry).
    Cancelled {
        job: Job,
        now: bool,
    },
    /// The job had ended before (done, failed, or cancelled by another request).
    AlreadyEnded(Job),
    /// The request id cancelled another job.
    RequestIdTaken,
    NoSuchJob,
}

/// Cancels a job that has not ended yet, once per `request_id`. Steps recorded later change
/// nothing ([`record_steps`] and [`fail`] only touch jobs still going).
pub async fn cancel(
    tx: &mut Transaction<'_, Postgres>,
    job_id: i32,
    request_id: &str,
    reason: &str,
) -> sqlx::Result<Cancel> {
    let other: Option<i32> =
        sqlx::query_scalar("SELECT id FROM jobs WHERE cancel_request_id = $1 AND id <> $2")
            .bind(request_id)
            .bind(job_id)
            .fetch_optional(&mut **tx)
            .await?;
    if other.is_some() {
        return Ok(Cancel::RequestIdTaken);
    }
    let cancelled = sqlx::query_as::<_, JobWithOwnerRow>(&format!(
        "WITH j AS (
            UPDATE jobs SET status = 'cancelled', error = $3, finished_at = now(),
                updated_at = now(), version = version + 1, cancel_request_id = $2
            WHERE id = $1 AND status IN ('queued', 'running')
            RETURNING {COLUMNS}
         )
         {}",
        with_owner("")
    ))
    .bind(job_id)
    .bind(request_id)
    .bind(reason)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(row) = cancelled {
        return Ok(Cancel::Cancelled {
            job: row.into(),
            now: true,
        });
    }
    // Read after the UPDATE, so a racing cancel with the same request id that committed
    // meanwhile is seen as this request's own outcome.
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        job: JobWithOwnerRow,
        cancel_request_id: Option<String>,
    }
    let found = sqlx::query_as::<_, Row>(&format!(
        "WITH j AS (SELECT {COLUMNS}, cancel_request_id FROM jobs WHERE id = $1)
         {}",
        with_owner(", j.cancel_request_id")
    ))
    .bind(job_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match found {
        None => Cancel::NoSuchJob,
        Some(row) if row.cancel_request_id.as_deref() == Some(request_id) => Cancel::Cancelled {
            job: row.job.into(),
            now: false,
        },
        Some(row) => Cancel::AlreadyEnded(row.job.into()),
    })
}

/// Brings a failed job back to life for a replayed dead letter that moves step `step`: only
/// a job that failed exactly there (not one done, cancelled or past it), so a stale replay
/// never reopens a job nothing will move. The failure reason is cleared, the owner will be
/// sent the final event again, and the stalled-job sweep counts from now. `None` if it did
/// not apply.
pub async fn reopen(
    tx: &mut Transaction<'_, Postgres>,
    job_id: i32,
    step: i32,
) -> sqlx::Result<Option<Job>> {
    let row = sqlx::query_as::<_, JobWithOwnerRow>(&format!(
        "WITH j AS (
            UPDATE jobs SET status = CASE WHEN steps_done = 0 THEN 'queued' ELSE 'running' END,
                error = NULL, finished_at = NULL, notified = false, updated_at = now(),
                version = version + 1
            WHERE id = $1 AND status = 'failed' AND steps_done = $2
            RETURNING {COLUMNS}
         )
         {}",
        with_owner("")
    ))
    .bind(job_id)
    .bind(step)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(Into::into))
}

/// Which jobs to list: every filter is optional; pages go newest first, below `before`.
#[derive(Debug, Clone, Default)]
pub struct JobSearch {
    pub owner_id: Option<i32>,
    /// Lowercased, as stored.
    pub owner_email: Option<String>,
    pub status: Option<JobStatus>,
    pub method: Option<MathMethod>,
    pub created_from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub created_to: Option<DateTime<Utc>>,
    /// A substring of the failure reason, case-insensitive.
    pub error_contains: Option<String>,
    pub before: Option<i32>,
    pub limit: u32,
}

/// Up to `limit + 1` matching jobs, newest first: the extra row tells the caller a next page
/// exists without a count over the whole table.
pub async fn search(pool: &PgPool, filter: &JobSearch) -> sqlx::Result<Vec<Job>> {
    let mut query = QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM jobs WHERE true"));
    if let Some(owner_id) = filter.owner_id {
        query.push(" AND owner_id = ").push_bind(owner_id);
    }
    if let Some(email) = &filter.owner_email {
        query
            .push(" AND owner_id = (SELECT id FROM users WHERE email = ")
            .push_bind(email.clone())
            .push(")");
    }
    if let Some(status) = filter.status {
        query.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(method) = filter.method {
        query
            .push(" AND details @> jsonb_build_array(jsonb_build_object('method', ")
            .push_bind(method.as_str())
            .push("::text))");
    }
    if let Some(from) = filter.created_from {
        query.push(" AND created_at >= ").push_bind(from);
    }
    if let Some(to) = filter.created_to {
        query.push(" AND created_at < ").push_bind(to);
    }
    if let Some(needle) = &filter.error_contains {
        query
            .push(" AND error ILIKE ")
            .push_bind(format!("%{}%", escape_like(needle)));
    }
    if let Some(before) = filter.before {
        query.push(" AND id < ").push_bind(before);
    }
    query
        .push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(filter.limit) + 1);
    let rows: Vec<JobRow> = query.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// `%`, `_` and `\` match themselves inside an ILIKE pattern.
pub(crate) fn escape_like(raw: &str) -> String {
    let mut escaped = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Fails every job that has not moved for `idle_secs` (no step recorded, not ended), with
/// `reason`; returns them with their owners.
pub async fn fail_stalled(
    tx: &mut Transaction<'_, Postgres>,
    idle_secs: f64,
    reason: &str,
) -> sqlx::Result<Vec<Job>> {
    let rows = sqlx::query_as::<_, JobWithOwnerRow>(&format!(
        "WITH j AS (
            UPDATE jobs SET status = 'failed', error = $2, finished_at = now(), updated_at = now(),
                version = version + 1
            WHERE status IN ('queued', 'running')
              AND updated_at < now() - make_interval(secs => $1)
            RETURNING {COLUMNS}
         )
         {}",
        with_owner("")
    ))
    .bind(idle_secs)
    .bind(reason)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The status of a job, `None` if there is no such job.
pub async fn status(pool: &PgPool, job_id: i32) -> sqlx::Result<Option<JobStatus>> {
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1")
        .bind(job_id)
        .fetch_optional(pool)
        .await?;
    Ok(status.as_deref().and_then(JobStatus::parse))
}

/// Ids of the jobs cancelled within the last `secs` seconds, newest first, at most `limit`.
pub async fn recently_cancelled(pool: &PgPool, secs: f64, limit: i64) -> sqlx::Result<Vec<i32>> {
    sqlx::query_scalar(
        "SELECT id FROM jobs
         WHERE status = 'cancelled' AND finished_at > now() - make_interval(secs => $1)
         ORDER BY finished_at DESC LIMIT $2",
    )
    .bind(secs)
    .bind(limit)
    .fetch_all(pool)
    .await
}

pub async fn find(pool: &PgPool, job_id: i32) -> sqlx::Result<Option<Job>> {
    let row = sqlx::query_as::<_, JobRow>(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
        .bind(job_id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(Into::into))
}

/// Finished jobs whose final event the owner has not been sent yet, oldest first.
pub async fn unnotified(pool: &PgPool, owner_id: i32) -> sqlx::Result<Vec<JobView>> {
    let rows = sqlx::query_as::<_, JobRow>(&format!(
        "SELECT {COLUMNS} FROM jobs
         WHERE owner_id = $1 AND NOT notified AND status IN ('done', 'failed', 'cancelled')
         ORDER BY id LIMIT 100"
    ))
    .bind(owner_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|row| Job::from(row).view).collect())
}

/// `owner_id`'s finished jobs that are unnotified or ended within the last `window` (by the
/// database's clock), oldest first, at most 100: what a gateway node may have missed.
pub async fn ended_since(
    pool: &PgPool,
    owner_id: i32,
    window: std::time::Duration,
) -> sqlx::Result<Vec<JobView>> {
    let rows = sqlx::query_as::<_, JobRow>(&format!(
        "SELECT {COLUMNS} FROM jobs
         WHERE owner_id = $1 AND status IN ('done', 'failed', 'cancelled')
           AND (NOT notified OR finished_at >= now() - make_interval(secs => $2))
         ORDER BY id LIMIT 100"
    ))
    .bind(owner_id)
    .bind(window.as_secs_f64())
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|row| Job::from(row).view).collect())
}

pub async fn mark_notified(
    tx: &mut Transaction<'_, Postgres>,
    job_ids: &[i32],
) -> sqlx::Result<u64> {
    static STATEMENT: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE jobs SET notified = true FROM unnest($1::int[]) AS n(id)
             WHERE jobs.id = n.id AND n.id {FEW_ROWS} AND NOT jobs.notified"
        )
    });
    let done = sqlx::query(&STATEMENT)
        .bind(job_ids)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected())
}

/// The job as an event carries it: with its owner (as the write returned it), and with
/// `results` once done.
pub fn event_view(job: &Job) -> JobView {
    let mut view = job.view.clone();
    if view.status == JobStatus::Done {
        view.results = Some(view.step_results());
    }
    view
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(super::escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }
}
