//! `/user`: list users (authenticated, unlike the seed) and create one.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};

use super::error::ApiError;
use super::extract::{AuthUser, ClientAddress, JsonBody};
use super::ApiState;
use crate::domain::UserView;

pub fn router() -> Router<ApiState> {
    Router::new().route("/user", get(list).post(create))
}

async fn list(
    State(state): State<ApiState>,
    _caller: AuthUser,
) -> Result<Json<Vec<UserView>>, ApiError> {
    Ok(Json(crate::store::users::list(&state.pool).await?))
}

async fn create(
    State(state): State<ApiState>,
    headers: HeaderMap,
    address: ClientAddress,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    super::auth::create_user(&state, &headers, address, &body).await
}
