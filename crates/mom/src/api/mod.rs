//! The REST API (seed contract). Reads PostgreSQL directly; every write is an RPC to the db
//! worker over the bus.

mod admin;
mod auth;
mod dead_letters;
mod drain;
pub mod error;
mod extract;
mod jobs;
mod observe;
mod paging;
mod system;
mod users;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, Method, Uri};
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use mom_bus::{Bus, Outgoing, RpcError};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;
use tracing::info;

use crate::auth::{Attempts, Sessions, Tokens};
use crate::config::Config;
use crate::messages::{DbCommand, DbReply};
use crate::meters::queues::QueueSampler;
use crate::topology::Topology;
use crate::wiring::Backing;
use error::ApiError;

/// What every handler may use. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    pub config: Arc<Config>,
    pub bus: Bus,
    pub pool: PgPool,
    pub sessions: Sessions,
    /// Login and register attempts per e-mail and client address.
    pub attempts: Attempts,
    pub tokens: Tokens,
    pub topology: Topology,
    pub http: reqwest::Client,
    /// Queue depths for `/metrics` and the System page, sampled in the background.
    pub queues: QueueSampler,
}

impl ApiState {
    /// Connects to the broker, PostgreSQL and Redis, waiting for each to come up.
    /// `Ok(None)`: `shutdown` came first.
    pub async fn connect(
        config: &Config,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Option<Self>> {
        crate::auth::password::limit_concurrency(config.password_hash_concurrency);
        let Some(Backing {
            bus,
            pool,
            topology,
        }) = Backing::connect(config, "api", shutdown).await?
        else {
            return Ok(None);
        };
        let sessions = match crate::wiring::sessions(config, shutdown).await {
            Ok(Some(sessions)) => sessions,
            stopped_or_failed => {
                bus.close().await;
                return stopped_or_failed.map(|_| None);
            }
        };
        Ok(Some(Self::new(config, bus, pool, sessions, topology)?))
    }

    /// The state over connections already made (a test may hand in a bus to no broker).
    pub fn new(
        config: &Config,
        bus: Bus,
        pool: PgPool,
        sessions: Sessions,
        topology: Topology,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            config: Arc::new(config.clone()),
            queues: QueueSampler::new(bus.clone(), topology.clone()),
            bus,
            pool,
            attempts: Attempts::new(
                sessions.redis(),
                &config.redis_prefix,
                config.attempt_limits,
            ),
            sessions,
            tokens: Tokens::new(&config.jwt_secret, config.token_ttl),
            topology,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()?,
        })
    }

    /// Sends a write to the db worker and waits for its answer.
    pub async fn db_call(
        &self,
        command: &DbCommand,
        traceparent: Option<&str>,
    ) -> Result<DbReply, ApiError> {
        let kind = command.kind();
        let mut request = Outgoing::json(kind, command).map_err(ApiError::internal)?;
        if let Some(parent) = traceparent {
            request = request.traceparent(parent);
        }
        let timeout = self.config.rpc_timeout;
        let started = std::time::Instant::now();
        let reply = self
            .bus
            .call_json(&self.topology.rpc.name, request, timeout)
            .await;
        let outcome = match &reply {
            Ok(_) => "ok",
            Err(RpcError::Timeout(_)) => "timeout",
            Err(RpcError::Bus(_)) => "unavailable",
            Err(RpcError::Remote(_)) => "remote_error",
            Err(RpcError::Decode(_)) => "decode_error",
        };
        metrics::histogram!(crate::meters::name::RPC_DURATION, "kind" => kind, "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        reply.map_err(|e| match e {
            RpcError::Timeout(_) => ApiError::Timeout(format!(
                "no database worker answered within {} ms; try again later",
                timeout.as_millis()
            )),
            RpcError::Bus(e) => {
                ApiError::Unavailable(format!("the message broker is unavailable: {e}"))
            }
            RpcError::Remote(reason) => {
                ApiError::internal(anyhow::anyhow!("db worker failed: {reason}"))
            }
            RpcError::Decode(e) => ApiError::internal(e),
        })
    }
}

/// The API's routes; each resource file exports its own, this only merges them.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { Html("Welcome to API of MOM based architecture POC") }),
        )
        .merge(auth::router())
        .merge(users::router())
        .merge(jobs::router())
        .merge(system::router())
        .merge(admin::router())
        .merge(dead_letters::router())
        .merge(observe::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(axum::middleware::from_fn(close_after_refused_body))
        .layer(axum::middleware::from_fn_with_state(
            "api",
            crate::meters::http::track,
        ))
        .layer(state.config.cors_origins.api_layer(state.config.panel_port))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// An error answered to a request with a body may leave that body unread on the connection
/// (the 413 of the size limit, a 401 before the body is parsed): the next request on a kept-
/// alive connection would then fail (Node's agent sees EPIPE). `Connection: close` ends the
/// connection after the answer instead; the client simply opens a new one.
async fn close_after_refused_body(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let has_body = match request.headers().get(header::CONTENT_LENGTH) {
        Some(length) => length.as_bytes().trim_ascii() != b"0",
        None => request.headers().contains_key(header::TRANSFER_ENCODING),
    };
    let http1 = request.version() <= axum::http::Version::HTTP_11;
    let mut response = next.run(request).await;
    if has_body
        && http1
        && (response.status().is_client_error() || response.status().is_server_error())
    {
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
    }
    response
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("Cannot {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("Cannot {method} {}", uri.path()))
}

/// Serves the API on `listener` until `shutdown` is cancelled, then drains its connections
/// (see [`drain`]) and finishes the requests in flight. It runs on the interactive runtime
/// (see [`crate::interactive`]).
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listener = crate::interactive::adopt_listener(listener)?;
    crate::interactive::run(serve(config, listener, shutdown)).await
}

async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    crate::meters::install();
    tokio::spawn(crate::meters::upkeep(shutdown.clone()));
    let Some(state) = ApiState::connect(&config, &shutdown).await? else {
        return Ok(());
    };
    let bus = state.bus.clone();
    tokio::spawn(state.queues.clone().run(shutdown.clone()));
    info!(address = %listener.local_addr()?, "api listening");
    let listener = drain::Draining::new(listener, shutdown.clone())?;
    let closed = listener.closed();
    let app = router(state).layer(axum::middleware::from_fn(move |request, next| {
        drain::close_when_stopping(closed.clone(), request, next)
    }));
    // Peer addresses, for the per-address attempt limits.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    // Small answers leave at once, without Nagle's delay (`tap_io` also gives `ConnectInfo`
    // the peer address of a custom listener).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.cancelled().await;
            tokio::time::sleep(drain::DRAIN).await;
        })
        .await?;
    bus.close().await;
    Ok(())
}
