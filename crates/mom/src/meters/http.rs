//! Per-request HTTP metrics, for every service that serves HTTP of its own (the API, the math
//! service): counted and timed by service, method, route pattern and status.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::name;

/// Counts and times each request. `route` is the matched pattern (`/job/{id}`, never the raw
/// URI, so the number of series stays bounded); layer it with
/// `from_fn_with_state("api", track)`.
pub async fn track(State(service): State<&'static str>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [
        ("service", service.to_owned()),
        ("method", method),
        ("route", route),
        ("status", status),
    ];
    metrics::counter!(name::HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(name::HTTP_DURATION, &labels).record(started.elapsed().as_secs_f64());
    response
}
