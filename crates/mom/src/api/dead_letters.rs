//! `/admin/dead-letters`: the messages mom's work queues gave up on, as the worker's keeper
//! stored them — listed newest first, counted per queue, replayed or discarded (admins only).
//! Replays and discards are writes, so they travel to the db worker like every other write.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tracing::instrument;

use super::error::ApiError;
use super::extract::{traceparent, AdminUser, JsonBody};
use super::paging::{self, Params};
use super::ApiState;
use crate::domain::dead_letter::{DeadLetterFilter, DeadLetterOutcome, Selection};
use crate::domain::FieldErrors;
use crate::messages::{DbCommand, DbReply};
use crate::store::dead_letters::{self, StoredDeadLetter};

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/admin/dead-letters", get(list))
        .route("/admin/dead-letters/counts", get(counts))
        .route("/admin/dead-letters/replay", post(replay))
        .route("/admin/dead-letters/discard", post(discard))
}

/// A page's default size; `limit` goes up to [`paging::MAX_LIMIT`].
const DEFAULT_LIMIT: u32 = 100;
/// Longest reason substring searched for.
const MAX_REASON_NEEDLE: usize = 200;
/// Most ids one replay or discard may name.
const MAX_IDS: usize = 1000;

/// How a filter's fields are read, the same from a query string and from a body.
struct FilterRules<'a> {
    state: &'a ApiState,
}

impl FilterRules<'_> {
    fn queue(&self, raw: &str) -> Result<String, String> {
        let names: Vec<&str> = self
            .state
            .topology
            .queues()
            .iter()
            .map(|q| q.name.as_str())
            .collect();
        names
            .iter()
            .find(|name| **name == raw)
            .map(|name| (*name).to_owned())
            .ok_or_else(|| format!("queue must be one of: {}", names.join(", ")))
    }

    fn job_id(raw: i64) -> Result<i32, String> {
        i32::try_from(raw)
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| "jobId must be a job id (a positive integer)".to_owned())
    }

    fn reason(raw: &str) -> Result<String, String> {
        if raw.is_empty() || raw.chars().count() > MAX_REASON_NEEDLE {
            Err(format!(
                "reason must be 1 to {MAX_REASON_NEEDLE} characters"
            ))
        } else {
            Ok(raw.to_owned())
        }
    }
}

/// Dead letters, newest first, filtered by `queue` (a work queue's name), `jobId` and
/// `reason` (case-insensitive substring), paged with `limit` and `before` (a dead letter id).
#[instrument(skip_all, fields(admin_id = admin.id))]
async fn list(
    State(state): State<ApiState>,
    AdminUser(admin): AdminUser,
    RawQuery(query): RawQuery,
) -> Result<(HeaderMap, Json<Vec<StoredDeadLetter>>), ApiError> {
    let mut params = Params::parse(
        query.as_deref(),
        &["limit", "before", "queue", "jobId", "reason"],
    );
    let rules = FilterRules { state: &state };
    let filter = DeadLetterFilter {
        queue: params.get("queue", |raw| rules.queue(raw)),
        job_id: params.get("jobId", |raw| {
            let id = raw
                .parse::<i64>()
                .map_err(|_| "jobId must be a job id (a positive integer)")?;
            FilterRules::job_id(id)
        }),
        reason: params.get("reason", FilterRules::reason),
    };
    let limit = params.get("limit", paging::limit).unwrap_or(DEFAULT_LIMIT);
    let before = params.get("before", |raw| {
        raw.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| "before must be a dead letter id (a positive integer)".to_owned())
    });
    params.check()?;
    let found = dead_letters::list(&state.pool, &filter, before, limit).await?;
    let (link, rows) = params.page_of_by("/admin/dead-letters", found, limit, |row| row.id);
    Ok((link, Json(rows)))
}

/// Dead letters per work queue (every queue listed, with 0 when it has none) and in all.
#[instrument(skip_all, fields(admin_id = admin.id))]
async fn counts(
    State(state): State<ApiState>,
    AdminUser(admin): AdminUser,
) -> Result<Json<Value>, ApiError> {
    let stored = dead_letters::counts(&state.pool).await?;
    let count_of = |name: &str| {
        stored
            .iter()
            .find(|(queue, _)| queue == name)
            .map_or(0, |(_, n)| *n)
    };
    let queues: Vec<Value> = state
        .topology
        .queues()
        .iter()
        .map(|q| json!({ "queue": q.name, "count": count_of(&q.name) }))
        .collect();
    let total: i64 = stored.iter().map(|(_, n)| n).sum();
    Ok(Json(json!({ "total": total, "queues": queues })))
}

/// `{"ids": [1, 2]}` or `{"filter": {"queue": …, "jobId": …, "reason": …}}` (`{}` matches all).
fn selection(state: &ApiState, body: &Value) -> Result<Selection, ApiError> {
    let mut errors = FieldErrors::default();
    let known = ["ids", "filter"];
    if let Some(fields) = body.as_object() {
        for name in fields.keys().filter(|n| !known.contains(&n.as_str())) {
            errors.add(name, None, "isKnown", "unknown field; known: ids, filter");
        }
    }
    let selection = match (body.get("ids"), body.get("filter")) {
        (Some(ids), None) => ids_of(ids, &mut errors).map(Selection::Ids),
        (None, Some(filter)) => filter_of(state, filter, &mut errors).map(Selection::Matching),
        (Some(_), Some(_)) => {
            errors.add("ids", None, "isExclusive", "give ids or filter, not both");
            None
        }
        (None, None) => {
            errors.add(
                "ids",
                None,
                "isDefined",
                "give ids (dead letter ids) or filter ({} for all)",
            );
            None
        }
    };
    match selection {
        Some(selection) if errors.is_empty() => Ok(selection),
        _ => Err(ApiError::Validation(errors)),
    }
}

fn ids_of(value: &Value, errors: &mut FieldErrors) -> Option<Vec<i64>> {
    let invalid = |errors: &mut FieldErrors| {
        errors.add(
            "ids",
            Some(value),
            "isIdList",
            format!("ids must be 1 to {MAX_IDS} dead letter ids (positive integers)"),
        );
        None
    };
    let Some(items) = value
        .as_array()
        .filter(|a| !a.is_empty() && a.len() <= MAX_IDS)
    else {
        return invalid(errors);
    };
    let ids: Option<Vec<i64>> = items
        .iter()
        .map(|item| item.as_i64().filter(|id| *id > 0))
        .collect();
    match ids {
        Some(mut ids) => {
            ids.sort_unstable();
            ids.dedup();
            Some(ids)
        }
        None => invalid(errors),
    }
}

fn filter_of(
    state: &ApiState,
    value: &Value,
    errors: &mut FieldErrors,
) -> Option<DeadLetterFilter> {
    let Some(fields) = value.as_object() else {
        errors.add(
            "filter",
            Some(value),
            "isObject",
            "filter must be an object",
        );
        return None;
    };
    let rules = FilterRules { state };
    let mut filter = DeadLetterFilter::default();
    for (name, field) in fields {
        let property = format!("filter.{name}");
        let read = match name.as_str() {
            "queue" => match field.as_str() {
                Some(raw) => rules.queue(raw).map(|q| filter.queue = Some(q)),
                None => Err("queue must be a string".to_owned()),
            },
            "jobId" => match field.as_i64() {
                Some(raw) => FilterRules::job_id(raw).map(|id| filter.job_id = Some(id)),
                None => Err("jobId must be a job id (a positive integer)".to_owned()),
            },
            "reason" => match field.as_str() {
                Some(raw) => FilterRules::reason(raw).map(|r| filter.reason = Some(r)),
                None => Err("reason must be a string".to_owned()),
            },
            _ => Err("unknown filter; known: queue, jobId, reason".to_owned()),
        };
        if let Err(message) = read {
            errors.add(&property, Some(field), "isValid", message);
        }
    }
    Some(filter)
}

/// Sends a replay or discard to the db worker; refusals become 404 or 409.
async fn act(
    state: &ApiState,
    command: DbCommand,
    headers: &HeaderMap,
) -> Result<(u64, u64), ApiError> {
    match state
        .db_call(&command, traceparent(headers).as_deref())
        .await?
    {
        DbReply::DeadLetters { result } => match result {
            DeadLetterOutcome::Affected {
                count,
                not_replayable,
            } => Ok((count, not_replayable)),
            DeadLetterOutcome::Unknown { ids } => Err(ApiError::NotFound(format!(
                "no dead letter has the id {}; nothing was changed",
                join(&ids)
            ))),
            DeadLetterOutcome::NotReplayable { refused } => {
                let reasons: Vec<String> = refused
                    .iter()
                    .map(|(id, why)| format!("dead letter {id} cannot be replayed: {why}"))
                    .collect();
                Err(ApiError::Conflict(format!(
                    "{}; nothing was replayed",
                    reasons.join("; ")
                )))
            }
        },
        other => Err(ApiError::internal(anyhow::anyhow!(
            "the db worker answered a dead-letter request with {other:?}"
        ))),
    }
}

fn join(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Puts the selected dead letters back on their queues with a fresh attempt count; answers
/// how many went and how many matched but cannot be replayed.
#[instrument(skip_all, fields(admin_id = admin.id))]
async fn replay(
    State(state): State<ApiState>,
    AdminUser(admin): AdminUser,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let selection = selection(&state, &body)?;
    let (replayed, not_replayable) =
        act(&state, DbCommand::ReplayDeadLetters { selection }, &headers).await?;
    Ok(Json(
        json!({ "replayed": replayed, "notReplayable": not_replayable }),
    ))
}

/// Deletes the selected dead letters; answers how many.
#[instrument(skip_all, fields(admin_id = admin.id))]
async fn discard(
    State(state): State<ApiState>,
    AdminUser(admin): AdminUser,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let selection = selection(&state, &body)?;
    let (discarded, _) = act(
        &state,
        DbCommand::DiscardDeadLetters { selection },
        &headers,
    )
    .await?;
    Ok(Json(json!({ "discarded": discarded })))
}
