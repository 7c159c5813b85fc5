//! `/job`: order a math job, list my jobs (paged).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use tracing::instrument;

use super::error::ApiError;
use super::extract::{idempotency_key, traceparent, AuthUser, JsonBody};
use super::paging::Params;
use super::ApiState;
use crate::domain::{JobRequest, JobView, KeyScope};
use crate::messages::{DbCommand, DbReply};
use crate::store::jobs::JobSearch;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/job", post(create))
        .route("/job/my", get(mine))
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
