//! The API's errors: each variant is an HTTP outcome with the seed's error body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tracing::error;

use crate::auth::TokenError;
use crate::domain::idempotency::HEADER as IDEMPOTENCY_KEY;
use crate::domain::{FieldErrors, IdempotencyKey, JobStatus};

/// Why a request with a token was refused.
#[derive(Debug)]
pub enum AuthFailure {
    Token(TokenError),
    /// The token verifies but its session was closed (logout, renew) or expired.
    OldToken,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request fields")]
    Validation(FieldErrors),
    #[error("{0}")]
    BadRequest(String),
    #[error("unauthorized")]
    Unauthorized(AuthFailure),
    /// Login with an unknown email or a wrong password (no detail, as in the seed).
    #[error("bad credentials")]
    BadCredentials,
    /// Authenticated, but this route is not for the caller's role.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    /// The `Idempotency-Key` names an earlier write with a different body.
    #[error("idempotency key reused with a different request")]
    KeyReused(IdempotencyKey),
    #[error("{0}")]
    NotFound(String),
    /// No job the caller may see has this id (or the id is malformed): one answer for all,
    /// so a user learns nothing about other users' jobs.
    #[error("job not found")]
    JobNotFound,
    /// The job has ended, so it cannot change any more.
    #[error("job {id} has already ended: it is {status}")]
    JobEnded { id: i32, status: JobStatus },
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("request body too large")]
    PayloadTooLarge,
    /// A dependency (broker, database, Redis) cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// Too much work of this kind at once; answered 503 with `Retry-After`.
    #[error("{0}")]
    Busy(String),
    /// Over a rate limit; answered 429 with `Retry-After`.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after: std::time::Duration,
    },
    /// A worker did not answer in time.
    #[error("{0}")]
    Timeout(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<crate::auth::AttemptError> for ApiError {
    fn from(error: crate::auth::AttemptError) -> Self {
        match error {
            crate::auth::AttemptError::Limited { retry_after, .. } => Self::TooManyRequests {
                message: error.to_string(),
                retry_after,
            },
            crate::auth::AttemptError::Redis(e) => e.into(),
        }
    }
}

impl From<crate::auth::password::HashError> for ApiError {
    fn from(error: crate::auth::password::HashError) -> Self {
        match error {
            crate::auth::password::HashError::Busy => Self::Busy(error.to_string()),
            crate::auth::password::HashError::Failed(e) => Self::Internal(e),
        }
    }
}

impl ApiError {
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                Self::Unavailable("the database is unavailable".into())
            }
            other => Self::Internal(other.into()),
        }
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(e: redis::RedisError) -> Self {
        error!(error = %e, "Redis error");
        Self::Unavailable("the session store is unavailable".into())
    }
}

fn body(status: StatusCode, message: Option<Value>) -> Response {
    (status, axum::Json(body_value(status, message))).into_response()
}

fn body_value(status: StatusCode, message: Option<Value>) -> Value {
    let mut body = json!({ "statusCode": status.as_u16() });
    if let Some(reason) = status
        .canonical_reason()
        .filter(|_| status != StatusCode::INTERNAL_SERVER_ERROR)
    {
        body["error"] = json!(reason);
    }
    if let Some(message) = message {
        body["message"] = message;
    }
    body
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Validation(errors) => body(StatusCode::BAD_REQUEST, Some(json!(errors.0))),
            Self::BadRequest(message) => body(StatusCode::BAD_REQUEST, Some(json!(message))),
            Self::Unauthorized(AuthFailure::OldToken) => body(
                StatusCode::UNAUTHORIZED,
                Some(json!({ "message": "Old Token" })),
            ),
            Self::Unauthorized(AuthFailure::Token(TokenError::Expired { expired_at })) => {
                let at = chrono::DateTime::from_timestamp(expired_at, 0)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
                body(
                    StatusCode::UNAUTHORIZED,
                    Some(
                        json!({ "name": "TokenExpiredError", "message": "jwt expired", "expiredAt": at }),
                    ),
                )
            }
            Self::Unauthorized(AuthFailure::Token(e)) => body(
                StatusCode::UNAUTHORIZED,
                Some(json!({ "name": "JsonWebTokenError", "message": e.to_string() })),
            ),
            Self::BadCredentials => body(StatusCode::UNAUTHORIZED, None),
            Self::Forbidden(message) => body(StatusCode::FORBIDDEN, Some(json!(message))),
            Self::Conflict(message) => body(StatusCode::CONFLICT, Some(json!(message))),
            Self::KeyReused(key) => {
                let mut errors = FieldErrors::default();
                errors.add(
                    IDEMPOTENCY_KEY,
                    Some(&json!(key.as_str())),
                    "isSameRequest",
                    format!(
                        "this {IDEMPOTENCY_KEY} was used for a different request; \
                         send a new key for a new request"
                    ),
                );
                body(StatusCode::UNPROCESSABLE_ENTITY, Some(json!(errors.0)))
            }
            Self::NotFound(message) => body(StatusCode::NOT_FOUND, Some(json!(message))),
            Self::JobNotFound => body(StatusCode::NOT_FOUND, Some(json!("job not found"))),
            Self::JobEnded { id, status } => {
                let message = format!("job {id} has already ended: it is {status}");
                let mut body = body_value(StatusCode::CONFLICT, Some(json!(message)));
                // The status as a field too, for clients that branch on it.
                body["status"] = json!(status.as_str());
                (StatusCode::CONFLICT, axum::Json(body)).into_response()
            }
            Self::MethodNotAllowed(message) => {
                body(StatusCode::METHOD_NOT_ALLOWED, Some(json!(message)))
            }
            Self::PayloadTooLarge => body(
                StatusCode::PAYLOAD_TOO_LARGE,
                Some(json!("request body is larger than the 64 KiB limit")),
            ),
            Self::Unavailable(message) => {
                body(StatusCode::SERVICE_UNAVAILABLE, Some(json!(message)))
            }
            Self::Busy(message) => {
                let mut response = body(StatusCode::SERVICE_UNAVAILABLE, Some(json!(message)));
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static("1"),
                );
                response
            }
            Self::TooManyRequests {
                message,
                retry_after,
            } => {
                let mut response = body(StatusCode::TOO_MANY_REQUESTS, Some(json!(message)));
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(retry_after.as_secs()),
                );
                response
            }
            Self::Timeout(message) => body(StatusCode::GATEWAY_TIMEOUT, Some(json!(message))),
            Self::Internal(error) => {
                error!(error = format!("{error:#}"), "internal error");
                body(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Some(json!("Internal server error")),
                )
            }
        }
    }
}
