//! The HTTP face of the math service: `GET /{method}/{numbers}` answered after a random delay, as
//! the seed's slow third-party service did, and `GET /` with help. Every error is a JSON body in
//! the seed's `{statusCode, error, message}` shape.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rand::Rng;
use serde::Serialize;
use serde_json::Value;

use crate::error::excerpt;
use crate::{evaluate, MathError, MathMethod, MathStep, MAX_NUMBERS, MAX_NUMBERS_LEN};

/// Settings of the HTTP service.
#[derive(Debug, Clone)]
pub struct MathConfig {
    /// Each answer waits a delay drawn uniformly from `0..=max_delay`; zero answers at once.
    pub max_delay: Duration,
    /// Fault injection, for tests of the callers: this percentage of computable calls (0 to
    /// 100, drawn at random per call) is answered 503 instead. 0, the default, never fails.
    pub fail_percent: u8,
}

impl Default for MathConfig {
    /// The seed's 10 seconds.
    fn default() -> Self {
        MathConfig {
            max_delay: Duration::from_secs(10),
            fail_percent: 0,
        }
    }
}

/// The whole service, ready for `axum::serve` or `oneshot` in tests.
pub fn router(config: MathConfig) -> Router {
    Router::new()
        .route("/", get(help))
        // A method with no numbers gets the same checks (and errors) as one with bad numbers.
        .route("/{method}", get(without_numbers))
        .route("/{method}/", get(without_numbers))
        .route("/{method}/{numbers}", get(answer))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(config)
}

async fn help() -> String {
    let mut text = String::from(
        "mom math service\n\n\
         GET /{method}/{numbers}  answers the result as JSON, after a random delay\n\
         GET /                    this help\n\nmethods:\n",
    );
    for method in MathMethod::ALL {
        text.push_str(&format!("  {:<9} {}\n", method.as_str(), method.summary()));
    }
    text.push_str(&format!(
        "\nnumbers: comma-separated, 1 to {MAX_NUMBERS} of them, at most {MAX_NUMBERS_LEN} bytes; \
         whole numbers are exact at any size (answered as a string of digits beyond \
         2^53-1, where JSON readers would round), decimals are 64-bit floats\n\
         examples: /add/1,2,3 -> 6   /divide/7,2 -> 3.5   /factors/12,97 -> [[2,3],[97]]\n"
    ));
    text
}

async fn without_numbers(
    State(config): State<MathConfig>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, HttpError> {
    let Path(method) = path.map_err(HttpError::from_path)?;
    respond(&config, &method, "").await
}

async fn answer(
    State(config): State<MathConfig>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, HttpError> {
    let Path((method, numbers)) = path.map_err(HttpError::from_path)?;
    respond(&config, &method, &numbers).await
}

static ANSWERED: AtomicU64 = AtomicU64::new(0);
static ABANDONED: AtomicU64 = AtomicU64::new(0);

/// Computable calls of this process since it started, by how they ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallCounts {
    pub answered: u64,
    /// The client went away before the answer (a worker aborting a cancelled job's step, or
    /// giving up at its timeout): the server dropped the call mid-wait.
    pub abandoned: u64,
}

pub fn call_counts() -> CallCounts {
    CallCounts {
        answered: ANSWERED.load(Ordering::Relaxed),
        abandoned: ABANDONED.load(Ordering::Relaxed),
    }
}

/// Counts a call as abandoned when its future is dropped before [`Call::answered`].
struct Call<'a> {
    method: &'a str,
    started: std::time::Instant,
    answered: bool,
}

impl Call<'_> {
    fn answered(mut self) {
        self.answered = true;
        ANSWERED.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        if !self.answered {
            ABANDONED.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                method = self.method,
                after_ms = self.started.elapsed().as_millis() as u64,
                "call abandoned: the client went away before the answer"
            );
        }
    }
}

/// Refuses bad input at once; only a computable step waits for the delay.
async fn respond(
    config: &MathConfig,
    method: &str,
    numbers: &str,
) -> Result<Json<Value>, HttpError> {
    let step = MathStep::parse(method, numbers)?;
    // Before the call is counted: a failure of our own making is neither answered nor abandoned.
    if injected_failure(config.fail_percent) {
        tracing::info!(method, "injected failure");
        return Err(HttpError::Unavailable(
            "injected failure (MATH_FAIL_PERCENT)".into(),
        ));
    }
    let call = Call {
        method,
        started: std::time::Instant::now(),
        answered: false,
    };
    let delay = random_delay(config.max_delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let result = match step.method {
        // Up to 100 u64 factorisations can take milliseconds: keep them off the async workers.
        MathMethod::Factors => tokio::task::spawn_blocking(move || evaluate(&step))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "factoring task failed");
                HttpError::Internal
            })??,
        _ => evaluate(&step)?,
    };
    tracing::debug!(method, ?delay, "answered");
    call.answered();
    Ok(Json(result))
}

fn injected_failure(percent: u8) -> bool {
    percent > 0 && rand::rng().random_range(0..100u8) < percent
}

fn random_delay(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    rand::rng().random_range(Duration::ZERO..=max)
}

async fn not_found(method: Method, uri: Uri) -> HttpError {
    HttpError::NotFound(format!("Cannot {method} {}", excerpt(uri.path())))
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let error = HttpError::MethodNotAllowed(format!("Cannot {method} {}", excerpt(uri.path())));
    ([(header::ALLOW, "GET,HEAD")], error).into_response()
}

/// Every way a request can fail, each an HTTP status.
#[derive(Debug)]
enum HttpError {
    BadRequest(String),
    NotFound(String),
    MethodNotAllowed(String),
    Unavailable(String),
    Internal,
}

impl HttpError {
    fn from_path(rejection: PathRejection) -> Self {
        // Path segments are percent-decoded; the only failure on these routes is invalid UTF-8.
        tracing::debug!(%rejection, "bad path");
        HttpError::BadRequest("the path is not valid percent-encoded UTF-8".into())
    }
}

impl From<MathError> for HttpError {
    fn from(e: MathError) -> Self {
        match e {
            MathError::UnknownMethod(_) => HttpError::NotFound(e.to_string()),
            _ => HttpError::BadRequest(e.to_string()),
        }
    }
}

/// The seed's error body (Nest's `HttpException` shape), fields in its order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody<'a> {
    status_code: u16,
    error: &'a str,
    message: &'a str,
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            HttpError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.as_str()),
            HttpError::NotFound(m) => (StatusCode::NOT_FOUND, m.as_str()),
            HttpError::MethodNotAllowed(m) => (StatusCode::METHOD_NOT_ALLOWED, m.as_str()),
            HttpError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m.as_str()),
            HttpError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal server error"),
        };
        let body = ErrorBody {
            status_code: status.as_u16(),
            error: status.canonical_reason().unwrap_or("Error"),
            message,
        };
        (status, Json(body)).into_response()
    }
}
