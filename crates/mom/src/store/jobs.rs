//! The `jobs` table. Every state change is a conditional update, so replaying a message
//! changes nothing the second time.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgPool, Postgres, Transaction};

use crate::domain::{JobStatus, JobView, UserView};

#[derive(FromRow)]
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

/// A job row with its owner id, before the owner is attached for events.
pub struct Job {
    pub owner_id: i32,
    pub view: JobView,
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

/// Inserts a job once per request id. Returns the job and whether this call created it.
pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    owner_id: i32,
    details: &Value,
    steps_total: i32,
    request_id: &str,
) -> sqlx::Result<(Job, bool)> {
    let inserted = sqlx::query_as::<_, JobRow>(&format!(
        "INSERT INTO jobs (owner_id, type, details, steps_total, request_id)
         VALUES ($1, 'math', $2, $3, $4)
         ON CONFLICT (request_id) DO NOTHING
         RETURNING {COLUMNS}"
    ))
    .bind(owner_id)
    .bind(details)
    .bind(steps_total)
    .bind(request_id)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(row) = inserted {
        return Ok((row.into(), true));
    }
    let row =
        sqlx::query_as::<_, JobRow>(&format!("SELECT {COLUMNS} FROM jobs WHERE request_id = $1"))
            .bind(request_id)
            .fetch_one(&mut **tx)
            .await?;
    Ok((row.into(), false))
}

/// Records the result of step `step` if it is the next one to record; `None` if it was
/// recorded already or the job has ended.
pub async fn record_step(
    tx: &mut Transaction<'_, Postgres>,
    job_id: i32,
    step: i32,
    result: &Value,
) -> sqlx::Result<Option<Job>> {
    let row = sqlx::query_as::<_, JobRow>(&format!(
        "UPDATE jobs SET
            details = jsonb_set(details, ARRAY[$2::text, 'result'], $3::jsonb),
            steps_done = $2 + 1,
            status = CASE WHEN $2 + 1 >= steps_total THEN 'done' ELSE 'running' END,
            finished_at = CASE WHEN $2 + 1 >= steps_total THEN now() ELSE NULL END,
            updated_at = now(),
            version = version + 1
         WHERE id = $1 AND steps_done = $2 AND status IN ('queued', 'running')
         RETURNING {COLUMNS}"
    ))
    .bind(job_id)
    .bind(step)
    .bind(result)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(Into::into))
}

/// Marks a running job as started (status `running`) if it is still queued.
pub async fn mark_running(pool: &PgPool, job_id: i32) -> sqlx::Result<Option<Job>> {
    let row = sqlx::query_as::<_, JobRow>(&format!(
        "UPDATE jobs SET status = 'running', updated_at = now(), version = version + 1
         WHERE id = $1 AND status = 'queued'
         RETURNING {COLUMNS}"
    ))
    .bind(job_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Into::into))
}

/// Fails a job that has not ended yet; `None` if it had.
pub async fn fail(
    tx: &mut Transaction<'_, Postgres>,
    job_id: i32,
    reason: &str,
) -> sqlx::Result<Option<Job>> {
    let row = sqlx::query_as::<_, JobRow>(&format!(
        "UPDATE jobs SET status = 'failed', error = $2, finished_at = now(), updated_at = now(),
            version = version + 1
         WHERE id = $1 AND status IN ('queued', 'running')
         RETURNING {COLUMNS}"
    ))
    .bind(job_id)
    .bind(reason)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(Into::into))
}

/// The owner's jobs, newest first.
pub async fn list_for_owner(pool: &PgPool, owner_id: i32) -> sqlx::Result<Vec<JobView>> {
    let rows = sqlx::query_as::<_, JobRow>(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE owner_id = $1 ORDER BY id DESC LIMIT 500"
    ))
    .bind(owner_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|row| Job::from(row).view).collect())
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
         WHERE owner_id = $1 AND NOT notified AND status IN ('done', 'failed')
         ORDER BY id LIMIT 100"
    ))
    .bind(owner_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|row| Job::from(row).view).collect())
}

pub async fn mark_notified(pool: &PgPool, job_ids: &[i32]) -> sqlx::Result<u64> {
    let done = sqlx::query("UPDATE jobs SET notified = true WHERE id = ANY($1) AND NOT notified")
        .bind(job_ids)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// The job as an event carries it: with its owner, and with `results` once done.
pub fn event_view(job: Job, owner: Option<UserView>) -> JobView {
    let mut view = job.view;
    if view.status == JobStatus::Done {
        view.results = Some(view.step_results());
    }
    view.owner = owner;
    view
}
