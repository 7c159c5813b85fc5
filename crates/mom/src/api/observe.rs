//! `GET /metrics` and the per-request HTTP metrics behind it.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::ApiState;
use crate::meters::name;

pub fn router() -> Router<ApiState> {
    Router::new().route("/metrics", get(crate::meters::text))
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
    metrics::counter!(name::HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(name::HTTP_DURATION, &labels).record(started.elapsed().as_secs_f64());
    response
}
