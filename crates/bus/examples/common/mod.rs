//! Setup shared by the examples: connecting, unique names, a bounded wait, and cleanup.
//!
//! Not an example itself (cargo only builds `examples/*.rs` as examples); each example pulls
//! it in with `mod common;` and keeps the pattern it shows in its own file.

#![allow(dead_code)] // each example uses only some of these

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use mom_bus::{Bus, BusConfig, Exchange, WorkQueue};

/// `AMQP_URL`, or RabbitMQ on localhost with the default guest account.
pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| BusConfig::DEFAULT_URI.to_owned())
}

/// A connected bus. Logs go to stderr at `warn` unless `RUST_LOG` says otherwise.
pub async fn connect(name: &str) -> anyhow::Result<Bus> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let bus = Bus::connect(BusConfig::new(amqp_url(), format!("example.{name}")));
    bus.wait_connected(Duration::from_secs(5))
        .await
        .context("Failed to reach RabbitMQ (is it running? set AMQP_URL to point elsewhere)")?;
    Ok(bus)
}

/// A name of our own for this run, so runs never see each other's messages.
pub fn unique(what: &str) -> String {
    format!(
        "example.{what}.{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Waits for `what`, but never forever: an example that is stuck says so and exits non-zero.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> anyhow::Result<T> {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .with_context(|| format!("Timed out waiting for {what}"))
}

/// Closes the bus and deletes what the example declared: the bus itself never deletes
/// anything, and durable queues with random names would otherwise pile up in the broker.
pub async fn clean_up(
    bus: Bus,
    queues: &[&WorkQueue],
    exchanges: &[&Exchange],
) -> anyhow::Result<()> {
    for queue in queues {
        bus.delete_queue(queue)
            .await
            .with_context(|| format!("Failed to delete queue {}", queue.name))?;
    }
    for exchange in exchanges {
        bus.delete_exchange(exchange)
            .await
            .with_context(|| format!("Failed to delete exchange {}", exchange.name))?;
    }
    bus.close().await;
    Ok(())
}
