//! `/admin/*`: the machinery, for admins only (every handler takes an [`AdminUser`]).

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use tracing::instrument;

use super::error::ApiError;
use super::extract::AdminUser;
use super::paging::{timestamp, Params};
use super::ApiState;
use crate::domain::{Email, JobView};
use crate::store::jobs::JobSearch;

pub fn router() -> Router<ApiState> {
    Router::new().route("/admin/jobs", get(jobs))
}

/// Longest failure-reason substring searched for; reasons are short sentences.
const MAX_ERROR_NEEDLE: usize = 200;

/// All jobs, newest first, filtered by `status`, `owner` (email), `method`, `createdFrom` /
/// `createdTo` (RFC 3339, `to` exclusive) and `error` (substring of the failure reason),
/// paged like `/job/my`. Each job carries its owner.
#[instrument(skip_all, fields(admin_id = admin.id))]
async fn jobs(
    State(state): State<ApiState>,
    AdminUser(admin): AdminUser,
    RawQuery(query): RawQuery,
) -> Result<(HeaderMap, Json<Vec<JobView>>), ApiError> {
    let mut params = Params::parse(
        query.as_deref(),
        &[
            "limit",
            "before",
            "status",
            "owner",
            "method",
            "createdFrom",
            "createdTo",
            "error",
        ],
    );
    let filter = JobSearch {
        owner_email: params.get("owner", |raw| {
            Email::parse(raw)
                .map(|e| e.as_str().to_owned())
                .map_err(|_| "owner must be an email address".to_owned())
        }),
        method: params.get("method", |raw| raw.parse().map_err(|e| format!("{e}"))),
        created_from: params.get("createdFrom", |raw| {
            timestamp(raw).map_err(|e| format!("createdFrom {e}"))
        }),
        created_to: params.get("createdTo", |raw| {
            timestamp(raw).map_err(|e| format!("createdTo {e}"))
        }),
        error_contains: params.get("error", |raw| {
            if raw.is_empty() || raw.chars().count() > MAX_ERROR_NEEDLE {
                Err(format!("error must be 1 to {MAX_ERROR_NEEDLE} characters"))
            } else {
                Ok(raw.to_owned())
            }
        }),
        ..params.page()
    };
    params.check()?;
    let found = crate::store::jobs::search(&state.pool, &filter).await?;
    let (link, jobs) = params.page_of("/admin/jobs", found, filter.limit);
    let owner_ids: Vec<i32> = jobs.iter().map(|job| job.owner_id).collect();
    let owners: HashMap<i32, _> = crate::store::users::find_many(&state.pool, &owner_ids)
        .await?
        .into_iter()
        .map(|user| (user.id, user))
        .collect();
    let views = jobs
        .into_iter()
        .map(|job| {
            let owner = owners.get(&job.owner_id).cloned();
            JobView { owner, ..job.view }
        })
        .collect();
    Ok((link, Json(views)))
}
