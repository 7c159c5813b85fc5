//! The worker: consumes the `db.rpc` and `db` queues (the only writer of PostgreSQL) and the
//! `math` queue (steps that call the external math service), keeps their dead letters, and
//! relays the outbox.

mod cancels;
mod commit;
mod db;
pub mod health;
mod keeper;
mod math;
mod relay;
mod rpcs;

use std::time::Duration;

use mom_bus::Consumer;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::domain::dead_letter::Origin;
use crate::wiring::Backing;
pub use cancels::Cancels;

/// Dead letters stored at once per queue: they share the committer's transactions.
const KEEPER_CONCURRENCY: u16 = 32;
pub use commit::{Committer, JobWrite, WriteError, Written};
pub use db::DbHandler;
pub use keeper::Keeper;
pub use math::MathHandler;
pub use relay::Relay;

/// Every quarter of `idle_for` (at most every 30 s) until `shutdown`: fails the jobs that have
/// not moved for `idle_for`. Several workers may do it at once; the update is conditional.
async fn fail_stalled_jobs(committer: Committer, idle_for: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(
        (idle_for / 4).clamp(Duration::from_millis(100), Duration::from_secs(30)),
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(error) = committer
            .write(JobWrite::FailStalled { idle_for }, None)
            .await
        {
            warn!(%error, "cannot fail stalled jobs; will try again");
        }
    }
}

/// Runs both consumers and the outbox relay until `shutdown` is cancelled, then lets each
/// finish what it holds.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let Some(Backing {
        bus,
        pool,
        topology,
    }) = Backing::connect(&config, "worker", &shutdown).await?
    else {
        return Ok(());
    };

    // Bound before the math consumer starts, so no cancel falls between start-up and steps.
    let cancels = Cancels::new(config.job_stall_after());
    let signals = cancels::subscribe(&bus, &topology, &pool, &cancels).await;

    let relay = Relay::new(bus.clone(), pool.clone(), config.outbox_grace);
    let committer = Committer::start(pool.clone(), relay.clone(), topology.clone());
    let db = Consumer::new(
        &bus,
        topology.db.clone(),
        DbHandler::new(pool.clone(), committer.clone()),
    )
    .concurrency(config.db_concurrency);
    let rpcs = crate::interactive::run(rpcs::Rpcs::connect(
        config.clone(),
        relay.clone(),
        shutdown.clone(),
    ));
    let Some(rpcs) = rpcs.await? else {
        bus.close().await;
        return Ok(());
    };
    let math = Consumer::new(
        &bus,
        topology.math.clone(),
        MathHandler::new(
            &config,
            bus.clone(),
            topology.clone(),
            pool.clone(),
            cancels.clone(),
        )?,
    )
    .concurrency(config.math_concurrency);
    let keepers = [
        (&topology.rpc, Origin::Db),
        (&topology.db, Origin::Db),
        (&topology.math, Origin::Math),
    ]
    .map(|(queue, origin)| {
        Consumer::new(
            &bus,
            queue.dead_letters(),
            Keeper::new(&queue.name, origin, committer.clone()),
        )
        .concurrency(KEEPER_CONCURRENCY)
        .run(shutdown.clone())
    });
    info!(rpc = %topology.rpc.name, db = %topology.db.name, math = %topology.math.name, math_url = %config.math_url, "worker starting");
    tokio::join!(
        db.run(shutdown.clone()),
        crate::interactive::run(rpcs.run(shutdown.clone())),
        math.run(shutdown.clone()),
        futures_util::future::join_all(keepers),
        relay.run(shutdown.clone()),
        fail_stalled_jobs(committer, config.job_stall_after(), shutdown.clone()),
        cancels::listen(signals, cancels, pool.clone(), shutdown.clone()),
        health::report(pool.clone(), config.queue_prefix.clone(), shutdown.clone()),
    );
    bus.close().await;
    info!("worker stopped");
    Ok(())
}
