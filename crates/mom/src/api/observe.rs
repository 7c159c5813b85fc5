//! `GET /metrics` on the API port (the requests themselves are counted by
//! [`crate::meters::http::track`]).

use axum::routing::get;
use axum::Router;

use super::ApiState;

pub fn router() -> Router<ApiState> {
    Router::new().route("/metrics", get(crate::meters::text))
}
