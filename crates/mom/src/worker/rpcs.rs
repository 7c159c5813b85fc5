//! The `db.rpc` consumer, on the interactive runtime (see [`crate::interactive`]) with a
//! broker connection, PostgreSQL connections and committer tasks of its own. Step traffic
//! puts the main connection under RabbitMQ's flow control, which held RPC replies for up to
//! 0.7 s next to a 10,000-job burst, and a create that shares a batch with hundreds of step
//! results waits for all of them.

use mom_bus::{Bus, Consumer};
use tokio_util::sync::CancellationToken;

use super::{Committer, DbHandler, Relay};
use crate::config::Config;
use crate::wiring::Backing;

pub(super) struct Rpcs {
    bus: Bus,
    consumer: Consumer<DbHandler>,
}

impl Rpcs {
    /// Runs on the interactive runtime, so that what it connects wakes that runtime.
    /// `Ok(None)`: `shutdown` came first.
    pub(super) async fn connect(
        config: Config,
        relay: Relay,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Option<Self>> {
        let Some(Backing {
            bus,
            pool,
            topology,
        }) = Backing::connect(&config, "worker-rpc", &shutdown).await?
        else {
            return Ok(None);
        };
        let committer = Committer::start(pool.clone(), relay, topology.clone());
        let consumer = Consumer::new(&bus, topology.rpc, DbHandler::new(pool, committer))
            .concurrency(config.rpc_concurrency);
        Ok(Some(Self { bus, consumer }))
    }

    pub(super) async fn run(self, shutdown: CancellationToken) {
        self.consumer.run(shutdown).await;
        self.bus.close().await;
    }
}
