//! The worker's consumer health, reported to PostgreSQL every few seconds so the System page
//! shows every worker's consumers, not only those of the API's process.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::store::worker_health;

/// How often a worker reports; the API counts a report older than [`STALE_AFTER`] as gone.
pub const EVERY: Duration = Duration::from_secs(5);
pub const STALE_AFTER: Duration = Duration::from_secs(20);

/// Reports this process's consumers of `queue_prefix`'s queues at once, then every
/// [`EVERY`] until `shutdown`; then takes the report back.
pub async fn report(pool: PgPool, queue_prefix: String, shutdown: CancellationToken) {
    let process = process_name();
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let consumers: Vec<_> = mom_bus::health::process_consumers()
            .into_iter()
            .filter(|consumer| consumer.queue.starts_with(&queue_prefix))
            .collect();
        let consumers = serde_json::to_value(consumers).unwrap_or_default();
        if let Err(error) = worker_health::report(&pool, &process, &consumers).await {
            warn!(%error, "cannot report the worker's health; will try again");
        }
    }
    if let Err(error) = worker_health::forget(&pool, &process).await {
        warn!(%error, "cannot take back the worker's health report");
    }
}

/// `host:pid`, what an operator finds the process by.
fn process_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}
