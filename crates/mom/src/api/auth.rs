//! Registration and sessions: `/register`, `/login`, `/logout`, `/renew-token`, `/auth-test`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use mom_bus::Outgoing;
use serde_json::{json, Value};
use tracing::{instrument, warn};

use super::error::ApiError;
use super::extract::{idempotency_key, traceparent, AuthUser, ClientAddress, JsonBody};
use super::ApiState;
use crate::auth::password;
use crate::domain::{Credentials, KeyScope, LoginObject, NewUser, Role, UserView};
use crate::messages::{DbCommand, DbReply, SessionRevoked};
use crate::topology::{event, user_key};

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/register", post(register))
        .route("/login", post(login))
        .route("/logout", get(logout))
        .route("/renew-token", get(renew_token))
        .route("/auth-test", get(auth_test))
}

/// Creates a user through the db worker. Shared by `/register` and `POST /user`, which share
/// one key scope: a registration retried through either gets the same user.
pub async fn create_user(
    state: &ApiState,
    headers: &HeaderMap,
    address: ClientAddress,
    body: &Value,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let key = idempotency_key(headers)?;
    let new_user = NewUser::try_from(body).map_err(ApiError::Validation)?;
    // Before the hash, which is what the limit protects.
    state
        .attempts
        .count(new_user.email.as_str(), address.0)
        .await?;
    let password_hash = password::hash(&new_user.password).await?;
    let command = DbCommand::CreateUser {
        request_id: match &key {
            Some(key) => key.request_id(KeyScope::NewUsers),
            None => uuid::Uuid::new_v4().to_string(),
        },
        first_name: new_user.first_name.as_str().to_owned(),
        last_name: new_user.last_name.as_str().to_owned(),
        email: new_user.email.as_str().to_owned(),
        password_hash: password_hash.clone(),
    };
    match state
        .db_call(&command, traceparent(headers).as_deref())
        .await?
    {
        DbReply::User { user } => match key {
            Some(key) if !registered(state, &new_user, &password_hash, &user).await? => {
                Err(ApiError::KeyReused(key))
            }
            _ => Ok((StatusCode::CREATED, Json(user))),
        },
        DbReply::EmailTaken => Err(ApiError::Conflict("Email is already used.".into())),
        other => Err(ApiError::internal(anyhow::anyhow!(
            "unexpected reply to user.create: {other:?}"
        ))),
    }
}

/// Whether `user`, the row a keyed request got, is what `new_user` asked for. The password is
/// checked only for a replay: a row holding the hash this request sent was written by it.
async fn registered(
    state: &ApiState,
    new_user: &NewUser,
    sent_hash: &str,
    user: &UserView,
) -> Result<bool, ApiError> {
    if user.first_name != new_user.first_name.as_str()
        || user.last_name != new_user.last_name.as_str()
        || user.email != new_user.email.as_str()
    {
        return Ok(false);
    }
    let stored = crate::store::users::password_hash(&state.pool, user.id).await?;
    Ok(match stored {
        Some(stored) if stored == sent_hash => true,
        stored => password::verify(&new_user.password, stored).await?,
    })
}

#[instrument(skip_all)]
async fn register(
    State(state): State<ApiState>,
    headers: HeaderMap,
    address: ClientAddress,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    create_user(&state, &headers, address, &body).await
}

#[instrument(skip_all)]
async fn login(
    State(state): State<ApiState>,
    ClientAddress(address): ClientAddress,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<LoginObject>), ApiError> {
    let credentials = Credentials::try_from(&body).map_err(ApiError::Validation)?;
    state
        .attempts
        .count(credentials.email.as_str(), address)
        .await?;
    let found = crate::store::users::find_by_email(&state.pool, credentials.email.as_str()).await?;
    let hash = found.as_ref().map(|r| r.password_hash.clone());
    let verified = password::verify(&credentials.password, hash).await?;
    let record = found.filter(|_| verified).ok_or(ApiError::BadCredentials)?;
    let login = open_session(&state, record.user, record.role).await?;
    Ok((StatusCode::CREATED, Json(login)))
}

#[instrument(skip_all, fields(user_id = claims.id))]
async fn logout(
    State(state): State<ApiState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<Value>, ApiError> {
    let closed = state.sessions.close(&claims.sid).await?;
    revoke_on_sockets(&state, claims.id, &claims.sid).await;
    Ok(Json(json!({ "success": closed })))
}

/// How long sockets authenticated with a renewed token keep receiving without re-authenticating.
pub const RENEW_SOCKET_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

#[instrument(skip_all, fields(user_id = claims.id))]
async fn renew_token(
    State(state): State<ApiState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<LoginObject>, ApiError> {
    let user = crate::store::users::find(&state.pool, claims.id)
        .await?
        .unwrap_or_else(|| claims.user());
    let role = crate::store::users::role(&state.pool, claims.id)
        .await?
        .unwrap_or_default();
    let login = open_session(&state, user, role).await?;
    // The old token stops at once; its sockets get a grace to move to the new one, where
    // an immediate revocation would sign out a client that renews the seed's way.
    state
        .sessions
        .supersede(&claims.sid, claims.id, RENEW_SOCKET_GRACE)
        .await?;
    Ok(Json(login))
}

async fn auth_test(AuthUser(claims): AuthUser) -> Json<Value> {
    Json(json!(["Authorized user!", claims]))
}

/// A new session and its login object (`iat`/`exp` in milliseconds, as the seed answered).
async fn open_session(
    state: &ApiState,
    user: UserView,
    stored_role: Role,
) -> Result<LoginObject, ApiError> {
    let role = state.config.effective_role(stored_role, &user.email);
    let ttl = state.tokens.ttl;
    let sid = state.sessions.open(user.id, ttl).await?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let (access_token, _) = state.tokens.issue(&user, &sid, now_ms);
    Ok(LoginObject {
        user,
        iat: now_ms,
        exp: now_ms + ttl.as_millis() as i64,
        access_token,
        role,
    })
}

/// Tells the socket gateways a session is closed. The session store already refuses it, and
/// gateways re-check periodically, so a lost event only delays the socket side.
async fn revoke_on_sockets(state: &ApiState, user_id: i32, sid: &str) {
    let revoked = SessionRevoked {
        user_id,
        sid: sid.to_owned(),
    };
    let sent = match Outgoing::json(event::SESSION_REVOKED, &revoked) {
        Ok(message) => {
            state
                .bus
                .publish(&state.topology.events.name, &user_key(user_id), &message)
                .await
        }
        Err(e) => Err(e),
    };
    if let Err(error) = sent {
        warn!(%error, user_id, "cannot announce session revocation to sockets");
    }
}
