//! Request extractors: a JSON body that always fails as JSON, and the authenticated user.

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde_json::Value;

use super::error::{ApiError, AuthFailure};
use super::ApiState;
use crate::auth::{Claims, TokenError};
use crate::domain::idempotency::HEADER as IDEMPOTENCY_KEY;
use crate::domain::Role;
use crate::domain::{FieldErrors, IdempotencyKey};

/// The peer's IP address, when the server was started with connect info (as `mom api` is;
/// a test router may not be).
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        Ok(Self(peer))
    }
}

/// A JSON object body. Missing content type is tolerated (old clients); anything that is not
/// a JSON object is a 400 naming the problem, an oversized body a 413.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadRequest(format!("cannot read request body: {rejection}"))
                }
            })?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::BadRequest(format!("request body is not valid JSON: {e}")))?;
        if !value.is_object() {
            return Err(ApiError::BadRequest(
                "request body must be a JSON object".into(),
            ));
        }
        Ok(Self(value))
    }
}

/// The caller, proven by a valid token of an open session. Accepts the seed's raw
/// `Authorization: <token>` and the standard `Bearer <token>`.
pub struct AuthUser(pub Claims);

impl<S> FromRequestParts<S> for AuthUser
where
    ApiState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = ApiState::from_ref(state);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .trim();
        let token = match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => header,
        };
        let claims = state
            .tokens
            .verify(token)
            .map_err(|e: TokenError| ApiError::Unauthorized(AuthFailure::Token(e)))?;
        if !state.sessions.is_open(&claims.sid, claims.id).await? {
            return Err(ApiError::Unauthorized(AuthFailure::OldToken));
        }
        Ok(Self(claims))
    }
}

/// An authenticated caller whose role is `admin` right now. The role is read from the
/// database on every request (one indexed lookup), so `mom admin revoke` takes effect at once.
pub struct AdminUser(pub Claims);

impl<S> FromRequestParts<S> for AdminUser
where
    ApiState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let AuthUser(claims) = AuthUser::from_request_parts(parts, state).await?;
        let state = ApiState::from_ref(state);
        if !is_admin(&state, &claims).await? {
            return Err(ApiError::Forbidden(
                "this route needs the admin role; ask an operator to run `mom admin grant <email>`"
                    .into(),
            ));
        }
        Ok(Self(claims))
    }
}

/// Whether the caller's role is `admin` right now (stored role or `ADMIN_EMAILS`).
pub async fn is_admin(state: &ApiState, claims: &Claims) -> Result<bool, ApiError> {
    let stored = crate::store::users::role(&state.pool, claims.id)
        .await?
        .unwrap_or_default();
    Ok(state.config.effective_role(stored, &claims.email) == Role::Admin)
}

/// The W3C `traceparent` of the request, if the client sent one.
pub fn traceparent(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The request's `Idempotency-Key`, if it sent one; a malformed key is a 400 naming the header.
pub fn idempotency_key(
    headers: &axum::http::HeaderMap,
) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(raw) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    // Values with bytes beyond ASCII fail `to_str`; a NUL gets them the same reason.
    let text = raw.to_str().ok();
    IdempotencyKey::parse(text.unwrap_or("\u{0}"))
        .map(Some)
        .map_err(|message| {
            let mut errors = FieldErrors::default();
            let echoed = text
                .filter(|t| t.len() <= IdempotencyKey::MAX_LEN)
                .map(Value::from);
            errors.add(
                IDEMPOTENCY_KEY,
                echoed.as_ref(),
                "isIdempotencyKey",
                message,
            );
            ApiError::Validation(errors)
        })
}
