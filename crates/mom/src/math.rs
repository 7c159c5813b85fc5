//! `mom math`: the stand-in for the slow external math service (see the `mom-math` crate).
//!
//! Served over HTTP/1.1 and HTTP/2 (prior knowledge) on one port. The workers use HTTP/2, so
//! thousands of calls waiting on the service's delay share one connection; the stream limit
//! is raised well past the workers' `MATH_CONCURRENCY` (hyper's default is 200).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use mom_math::MathConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::{Config, MathFault};

/// Calls one HTTP/2 connection may have in flight.
const MAX_STREAMS: u32 = 100_000;

pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    info!(
        address = %listener.local_addr()?,
        max_delay_ms = config.math_max_delay.as_millis() as u64,
        fail_percent = config.math_fail_percent,
        "math service listening"
    );
    if config.math_fail_percent > 0 {
        warn!(
            fail_percent = config.math_fail_percent,
            "fault injection is on: calls are answered 503 at random (MATH_FAIL_PERCENT)"
        );
    }
    let mut app = mom_math::router(MathConfig {
        max_delay: config.math_max_delay,
        fail_percent: config.math_fail_percent,
    });
    if let Some(fault) = config.math_fault {
        warn!(
            method = fault.method.as_str(),
            failures = fault.failures,
            "MATH_FAULT: the math service fails on purpose"
        );
        app = with_fault(app, fault);
    }
    // Outermost, so the calls a fault refuses are counted too.
    let app = app.layer(axum::middleware::from_fn_with_state(
        "math",
        crate::meters::http::track,
    ));
    serve(listener, app, shutdown).await
}

/// `app` answering 503 to the first `fault.failures` calls of each distinct input of
/// `fault.method` (`MATH_FAULT`, for tests of retries and dead letters).
fn with_fault(app: axum::Router, fault: MathFault) -> axum::Router {
    let calls: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let prefix = format!("/{}/", fault.method.as_str());
    app.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let path = request.uri().path().to_owned();
            let failing = path.starts_with(&prefix) && {
                let mut calls = calls.lock().expect("fault counter poisoned");
                let seen = calls.entry(path).or_insert(0);
                *seen += 1;
                *seen <= fault.failures
            };
            async move {
                if failing {
                    let body = serde_json::json!({
                        "statusCode": 503,
                        "error": "Service Unavailable",
                        "message": "MATH_FAULT: failing on purpose",
                    });
                    return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
                }
                next.run(request).await
            }
        },
    ))
}

/// Serves `app` over HTTP/1.1 and HTTP/2 until `shutdown`, then lets calls in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http2().max_concurrent_streams(MAX_STREAMS);
    let graceful = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, say: back off instead of spinning.
                    warn!(%error, "math service cannot accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let connection = builder
            .serve_connection_with_upgrades(
                TokioIo::new(stream),
                TowerToHyperService::new(app.clone()),
            )
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                debug!(%error, "math connection ended");
            }
        });
    }
    drop(listener);
    // Calls in flight get their answers; a client that never lets go does not hold us.
    if tokio::time::timeout(Duration::from_secs(15), graceful.shutdown())
        .await
        .is_err()
    {
        warn!("math calls still open at shutdown; closing them");
    }
    Ok(())
}
