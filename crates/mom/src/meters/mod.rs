//! Prometheus metrics. One recorder per process, installed before any service starts; any
//! module records with the `metrics` macros (`metrics::counter!(name::X, "label" =>
//! value).increment(1)`) and `GET /metrics` renders everything the process holds: on the API
//! port, or on a service's own metrics port when it runs alone ([`serve`]).
//!
//! Labels stay bounded: routes are patterns, queues are the system's few, methods and
//! statuses are enums — never a job id, a user id or a reply-to name.
//!
//! - [`http`]: per-request metrics of the services that serve HTTP.
//! - [`queues`]: queue depths and consumer counts, sampled periodically, never per request.

pub mod http;
pub mod queues;

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Every metric name mom records, in one place (the README has the table with labels).
pub mod name {
    pub const HTTP_REQUESTS: &str = "mom_http_requests_total";
    pub const HTTP_DURATION: &str = "mom_http_request_duration_seconds";
    pub const RPC_DURATION: &str = "mom_rpc_duration_seconds";
    pub const SOCKET_CONNECTIONS: &str = "mom_socket_connections";
    /// Jobs that reached a final status, by `status`.
    pub const JOBS_FINISHED: &str = "mom_jobs_finished_total";
    /// Created → finished, by final `status`.
    pub const JOB_DURATION: &str = "mom_job_duration_seconds";
    /// One call of the math service by a step, by `method` and `outcome`.
    pub const STEP_DURATION: &str = "mom_math_step_duration_seconds";
    /// Outbox rows not yet published and deleted, counted by the relay's tick.
    pub const OUTBOX_BACKLOG: &str = "mom_outbox_backlog";
    pub const OUTBOX_OLDEST: &str = "mom_outbox_oldest_seconds";
    /// Ready messages and consumers of each queue (dead-letter queues included), sampled.
    pub const QUEUE_MESSAGES: &str = "mom_queue_messages";
    pub const QUEUE_CONSUMERS: &str = "mom_queue_consumers";
    /// Confirmed publishes of this process to each queue.
    pub const PUBLISHED: &str = "mom_bus_published_total";
    /// A job event's publish → its emit to a socket, by event `kind`.
    pub const EVENT_DELIVERY: &str = "mom_event_delivery_seconds";
}

/// Latency buckets in seconds, from a cache hit to the RPC timeout, a slow math call and a
/// job of several slow steps.
const LATENCY_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder (once; later calls return the same handle).
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            warn!("another metrics recorder is installed; GET /metrics will be empty");
        }
        handle
    })
}

/// Drains histogram samples between scrapes so memory stays bounded when nobody scrapes.
pub async fn upkeep(shutdown: CancellationToken) {
    let handle = install();
    let mut every = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = every.tick() => handle.run_upkeep(),
            _ = shutdown.cancelled() => return,
        }
    }
}

/// The bus consumers of this process, as their own counters say, then the text exposition.
pub fn render() -> String {
    record_bus_consumers();
    record_math_calls();
    for (queue, count) in mom_bus::health::process_published_all() {
        metrics::counter!(name::PUBLISHED, "queue" => queue).absolute(count);
    }
    install().render()
}

/// The math service's own counts, copied like the bus's (`mom up` serves it in-process).
fn record_math_calls() {
    let calls = mom_math::call_counts();
    metrics::counter!("mom_math_calls_total", "outcome" => "answered").absolute(calls.answered);
    metrics::counter!("mom_math_calls_total", "outcome" => "abandoned").absolute(calls.abandoned);
}

/// `GET /metrics` alone, for a service run on its own (`METRICS_PORT`), until `shutdown`.
pub async fn serve(listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    install();
    tokio::spawn(upkeep(shutdown.clone()));
    info!(address = %listener.local_addr()?, "metrics listening on /metrics");
    let app = axum::Router::new().route("/metrics", axum::routing::get(text));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}

/// Everything this process records, in the Prometheus text format.
pub async fn text() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        render(),
    )
}

/// Copies each consumer's counters (kept by `mom-bus` for health) into the registry at scrape
/// time, so the bus needs no knowledge of metrics.
fn record_bus_consumers() {
    for consumer in mom_bus::health::process_consumers() {
        let queue = consumer.queue;
        metrics::counter!("mom_bus_consumer_handled_total", "queue" => queue.clone())
            .absolute(consumer.handled);
        metrics::counter!("mom_bus_consumer_retried_total", "queue" => queue.clone())
            .absolute(consumer.retried);
        metrics::counter!("mom_bus_consumer_dead_lettered_total", "queue" => queue.clone())
            .absolute(consumer.dead_lettered);
        metrics::counter!("mom_bus_consumer_stall_recoveries_total", "queue" => queue.clone())
            .absolute(consumer.stall_recoveries);
        metrics::gauge!("mom_bus_consumer_in_flight", "queue" => queue.clone())
            .set(consumer.in_flight as f64);
        metrics::gauge!("mom_bus_consumer_attached", "queue" => queue).set(if consumer.attached {
            1.0
        } else {
            0.0
        });
    }
}
