//! How a service reaches what it runs on: the broker, PostgreSQL and Redis. Every service
//! connects the same way, waits the same bounded time (services may start before their
//! dependencies do), and gives up at once when asked to stop while still waiting.

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use mom_bus::Bus;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::auth::Sessions;
use crate::config::Config;
use crate::topology::Topology;

/// How long start-up waits for each of RabbitMQ, PostgreSQL and Redis.
pub const START_WAIT: Duration = Duration::from_secs(60);

/// The broker and PostgreSQL, reachable, with every queue and exchange of mom declared.
pub struct Backing {
    pub bus: Bus,
    pub pool: PgPool,
    pub topology: Topology,
}

impl Backing {
    /// Connects as `service` (the broker connection's name). `Ok(None)`: `shutdown` came
    /// first. Every service declares the whole topology, so nothing is ever published into
    /// a queue that does not exist yet, whichever service starts first.
    pub async fn connect(
        config: &Config,
        service: &str,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Option<Self>> {
        let bus = Bus::connect(config.bus_config(service));
        let topology = config.topology();
        let ready = async {
            let pool = crate::store::connect(&config.database_url, START_WAIT).await?;
            bus.wait_connected(START_WAIT)
                .await
                .context("Failed to connect to RabbitMQ")?;
            for queue in topology.queues() {
                bus.declare_queue(queue)
                    .await
                    .with_context(|| format!("Failed to declare the queue {}", queue.name))?;
            }
            bus.declare_exchange(&topology.events)
                .await
                .context("Failed to declare the events exchange")?;
            anyhow::Ok(pool)
        };
        match until_shutdown(ready, shutdown).await {
            Some(Ok(pool)) => Ok(Some(Self {
                bus,
                pool,
                topology,
            })),
            failed_or_stopped => {
                bus.close().await;
                failed_or_stopped.transpose().map(|_| None)
            }
        }
    }
}

/// Redis, for the services that check sessions. `Ok(None)`: `shutdown` came first.
pub async fn sessions(
    config: &Config,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<Sessions>> {
    let connect = Sessions::connect(&config.redis_url, &config.redis_prefix, START_WAIT);
    until_shutdown(connect, shutdown).await.transpose()
}

/// `work`'s output, or `None` when `shutdown` is cancelled first.
pub async fn until_shutdown<T>(
    work: impl Future<Output = T>,
    shutdown: &CancellationToken,
) -> Option<T> {
    tokio::select! {
        output = work => Some(output),
        _ = shutdown.cancelled() => None,
    }
}
