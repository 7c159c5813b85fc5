//! `/job`: order a math job, list my jobs (paged), read and cancel one job.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use tracing::instrument;

use super::error::ApiError;
use super::extract::{idempotency_key, is_admin, traceparent, AuthUser, JsonBody};
use super::paging::Params;
use super::ApiState;
use crate::auth::Claims;
use crate::domain::{JobId, JobRequest, JobView, KeyScope};
use crate::messages::{Canceller, DbCommand, DbReply};
use crate::store::jobs::{Job, JobSearch};

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/job", post(create))
        .route("/job/my", get(mine))
        .route("/job/{id}", get(one))
        .route("/job/{id}/cancel", post(cancel))
}

/// The job `raw` names if the caller may see it: its owner, or an admin. Anything else — a
/// malformed id, no such job, someone else's job — is the same 404.
async fn visible(state: &ApiState, claims: &Claims, raw: &str) -> Result<Job, ApiError> {
    let id = JobId::parse(raw).ok_or(ApiError::JobNotFound)?;
    let job = crate::store::jobs::find(&state.pool, id.get())
        .await?
        .ok_or(ApiError::JobNotFound)?;
    if job.owner_id != claims.id && !is_admin(state, claims).await? {
        return Err(ApiError::JobNotFound);
    }
    Ok(job)
}

/// One job, for its owner or an admin.
#[instrument(skip_all, fields(user_id = claims.id, job = %raw))]
async fn one(
    State(state): State<ApiState>,
    AuthUser(claims): AuthUser,
    Path(raw): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(visible(&state, &claims, &raw).await?.view))
}

/// Cancels a queued or running job through the db worker, which ends it `cancelled`, tells the
/// owner's sockets (`job:cancelled`) and every math worker (which aborts the step's call in
/// flight) in one transaction. 200 with the cancelled job; 409 naming the status if it had
/// ended (a second cancel included); with an `Idempotency-Key`, a retry answers the first 200.
#[instrument(skip_all, fields(user_id = claims.id, job = %raw))]
async fn cancel(
    State(state): State<ApiState>,
    AuthUser(claims): AuthUser,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let key = idempotency_key(&headers)?;
    let job = visible(&state, &claims, &raw).await?;
    let request_id = match &key {
        Some(key) => key.request_id(KeyScope::Cancels { user_id: claims.id }),
        None => uuid::Uuid::new_v4().to_string(),
    };
    let by = if job.owner_id == claims.id {
        Canceller::Owner
    } else {
        Canceller::Admin
    };
    let command = DbCommand::CancelJob {
        request_id,
        job_id: job.view.id,
        by,
    };
    match state
        .db_call(&command, traceparent(&headers).as_deref())
        .await?
    {
        DbReply::Cancelled { job } => Ok(Json(job)),
        DbReply::AlreadyEnded { job } => Err(ApiError::JobEnded {
            id: job.id,
            status: job.status,
        }),
        DbReply::RequestIdTaken => match key {
            Some(key) => Err(ApiError::KeyReused(key)),
            None => Err(ApiError::internal(anyhow::anyhow!(
                "a fresh request id was taken"
            ))),
        },
        DbReply::NoSuchJob => Err(ApiError::JobNotFound),
        other => Err(ApiError::internal(anyhow::anyhow!(
            "unexpected reply to job.cancel: {other:?}"
        ))),
    }
}

/// Stores the job through the db worker, which also hands its first step to the math queue;
/// 201 means the job will end `done` or `failed`. With an `Idempotency-Key`, every request with
/// that key answers the job the first one stored.
#[instrument(skip_all, fields(user_id = claims.id))]
async fn create(
    State(state): State<ApiState>,
    AuthUser(claims): AuthUser,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<JobView>), ApiError> {
    let key = idempotency_key(&headers)?;
    let request = JobRequest::try_from(&body).map_err(ApiError::Validation)?;
    let request_id = match &key {
        Some(key) => key.request_id(KeyScope::Jobs {
            owner_id: claims.id,
        }),
        None => uuid::Uuid::new_v4().to_string(),
    };
    let command = DbCommand::CreateJob {
        request_id,
        owner_id: claims.id,
        steps: request.steps.clone(),
    };
    match state
        .db_call(&command, traceparent(&headers).as_deref())
        .await?
    {
        // The stored steps are the first request's: a retry must have asked for the same.
        DbReply::Job { job } => match key {
            Some(key) if !request.ordered(&job.details) => Err(ApiError::KeyReused(key)),
            _ => Ok((StatusCode::CREATED, Json(job))),
        },
        other => Err(ApiError::internal(anyhow::anyhow!(
            "unexpected reply to job.create: {other:?}"
        ))),
    }
}

/// The caller's jobs, newest first: up to `limit` (default 500, as the seed answered) below
/// job `before`, optionally of one `status`; `Link: <…>; rel="next"` when there are more.
#[instrument(skip_all, fields(user_id = claims.id))]
async fn mine(
    State(state): State<ApiState>,
    AuthUser(claims): AuthUser,
    RawQuery(query): RawQuery,
) -> Result<(HeaderMap, Json<Vec<JobView>>), ApiError> {
    let mut params = Params::parse(query.as_deref(), &["limit", "before", "status"]);
    let filter = JobSearch {
        owner_id: Some(claims.id),
        ..params.page()
    };
    params.check()?;
    let found = crate::store::jobs::search(&state.pool, &filter).await?;
    let (link, jobs) = params.page_of("/job/my", found, filter.limit);
    Ok((link, Json(jobs.into_iter().map(|job| job.view).collect())))
}
