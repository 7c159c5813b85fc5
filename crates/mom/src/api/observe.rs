//! `GET /metrics` and the per-request HTTP metrics behind it.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::ApiState;

pub fn router() -> Router<ApiState> {
    Router::new().route("/metrics", get(metrics_text))
}

/// Everything this process records, in the Prometheus text format.
async fn metrics_text() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::meters::render(),
    )
}

/// Counts and times each request by method, route pattern (`/job/{id}`, never the raw URI, so
/// the number of series stays bounded) and status.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("mom_http_requests_total", &labels).increment(1);
    metrics::histogram!("mom_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
