//! Prometheus metrics. One recorder per process, installed before any service starts; any
//! module records with the `metrics` macros (`metrics::counter!("mom_x_total", "label" =>
//! value).increment(1)`) and `GET /metrics` on the API renders everything the process holds.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// Latency buckets in seconds, from a cache hit to the RPC timeout and a slow math call.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
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
    install().render()
}

/// The math service's own counts, copied like the bus's (`mom up` serves it in-process).
fn record_math_calls() {
    let calls = mom_math::call_counts();
    metrics::counter!("mom_math_calls_total", "outcome" => "answered").absolute(calls.answered);
    metrics::counter!("mom_math_calls_total", "outcome" => "abandoned").absolute(calls.abandoned);
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
