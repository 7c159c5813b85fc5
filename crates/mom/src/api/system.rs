//! What happens under the water: `/system/queues` and `/system/history` for the panel's
//! System page, `/health`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::AdminUser;
use super::ApiState;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/system/queues", get(queues))
        .route("/system/history", get(history))
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
}

/// The API described as OpenAPI 3, kept next to the code in `docs/openapi.json`.
async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        include_str!("../../../../docs/openapi.json"),
    )
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct QueueRow {
    name: String,
    messages: u64,
    messages_ready: u64,
    messages_unacked: u64,
    consumers: u64,
    publish_rate: Option<f64>,
    deliver_rate: Option<f64>,
    dead_letters: u64,
}

/// The work queues of this system (admins only), and every worker's consumers as their bus
/// counts them (reported every 5 s to PostgreSQL). From the RabbitMQ management API when it answers (rates included), else from
/// the API's periodic sample (rates from this process's own publish and delivery counters).
/// A queue's dead letters are those the keeper stored plus those still waiting for it in
/// `<queue>.dead`.
async fn queues(State(state): State<ApiState>, _admin: AdminUser) -> Result<Json<Value>, ApiError> {
    // Every worker's consumers, as each last reported them (the API's own process may run
    // none: services can run apart).
    let consumers =
        crate::store::worker_health::fresh(&state.pool, crate::worker::health::STALE_AFTER)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "cannot read the workers' health");
                Vec::new()
            });
    // The queues are what an operator looks at when something is down, PostgreSQL included:
    // without it the page still answers, counting only the dead letters waiting in RabbitMQ.
    let kept = crate::store::dead_letters::counts(&state.pool)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot count the stored dead letters");
            Vec::new()
        });
    let kept = |name: &str| {
        kept.iter()
            .find(|(queue, _)| queue == name)
            .map_or(0, |(_, n)| *n as u64)
    };
    let with_kept = |mut rows: Vec<QueueRow>| {
        for row in &mut rows {
            row.dead_letters += kept(&row.name);
        }
        rows
    };
    if let Some(rows) = from_management(&state).await {
        return Ok(Json(
            json!({ "source": "management", "queues": with_kept(rows), "consumers": consumers }),
        ));
    }
    let sampled =
        state.queues.latest().await.map_err(|e| {
            ApiError::Unavailable(format!("the message broker is unavailable: {e}"))
        })?;
    let rows: Vec<QueueRow> = sampled
        .into_iter()
        .map(|(queue, rates)| QueueRow {
            name: queue.name,
            messages: queue.messages,
            messages_ready: queue.messages,
            messages_unacked: 0,
            consumers: queue.consumers,
            publish_rate: rates.map(|r| r.publish),
            deliver_rate: rates.map(|r| r.deliver),
            dead_letters: queue.dead_letters,
        })
        .collect();
    Ok(Json(
        json!({ "source": "counters", "queues": with_kept(rows), "consumers": consumers }),
    ))
}

/// Minutes in `/system/history`: the last hour.
const HISTORY_MINUTES: i32 = 60;

/// Per-minute job throughput and duration percentiles of the last hour (admins only), from
/// PostgreSQL, which every API node shares and which survives restarts.
async fn history(
    State(state): State<ApiState>,
    _admin: AdminUser,
) -> Result<Json<Value>, ApiError> {
    let minutes = crate::store::history::per_minute(&state.pool, HISTORY_MINUTES)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "minutes": minutes })))
}

async fn from_management(state: &ApiState) -> Option<Vec<QueueRow>> {
    let base = reqwest::Url::parse(&state.config.management_url).ok()?;
    let mut url = base.join("/api/queues/%2F").ok()?;
    let (user, password) = (
        base.username().to_owned(),
        base.password().map(str::to_owned),
    );
    url.set_username("").ok()?;
    url.set_password(None).ok()?;
    let listing: Vec<Value> = state
        .http
        .get(url)
        .basic_auth(user, password)
        .send()
        .await
        .ok()?
        .error_for_status()
        .ok()?
        .json()
        .await
        .ok()?;
    let find = |name: &str| listing.iter().find(|q| q["name"] == name);
    let count = |q: &Value, field: &str| q[field].as_u64().unwrap_or(0);
    let rate = |q: &Value, stat: &str| q["message_stats"][stat]["rate"].as_f64().or(Some(0.0));
    Some(
        state
            .topology
            .queues()
            .iter()
            .filter_map(|queue| {
                let q = find(&queue.name)?;
                Some(QueueRow {
                    name: queue.name.clone(),
                    messages: count(q, "messages"),
                    messages_ready: count(q, "messages_ready"),
                    messages_unacked: count(q, "messages_unacknowledged"),
                    consumers: count(q, "consumers"),
                    publish_rate: rate(q, "publish_details"),
                    deliver_rate: rate(q, "deliver_get_details"),
                    dead_letters: find(&queue.dead_letter_queue())
                        .map(|d| count(d, "messages"))
                        .unwrap_or(0),
                })
            })
            .collect(),
    )
}

/// 200 when the broker, PostgreSQL and Redis all answer, 503 otherwise; the body says which.
async fn health(State(state): State<ApiState>) -> (StatusCode, Json<Value>) {
    let bus = state.bus.health();
    let postgres = sqlx::query("SELECT 1").execute(&state.pool).await.is_ok();
    let redis = state.sessions.ping().await.is_ok();
    let healthy = bus.connected && postgres && redis;
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if healthy { "ok" } else { "degraded" },
            "rabbitmq": bus,
            "postgres": postgres,
            "redis": redis,
        })),
    )
}
