//! For tests and benchmarks, which start systems on throwaway names: removing one again. No
//! service depends on this crate, so nothing here ships in `mom`.

use mom::config::Config;

/// Removes everything a system with this configuration created: its database, queues and
/// exchange. Best effort: what is already gone is fine.
pub async fn teardown(config: &Config) {
    let topology = config.topology();
    let bus = mom_bus::Bus::connect(config.bus_config("teardown"));
    for queue in topology.queues() {
        let _ = bus.delete_queue(queue).await;
    }
    let _ = bus.delete_exchange(&topology.events).await;
    bus.close().await;
    let _ = <sqlx::Postgres as sqlx::migrate::MigrateDatabase>::force_drop_database(
        &config.database_url,
    )
    .await;
}

/// [`teardown`] from synchronous code (a `Drop`), on a thread and runtime of its own.
pub fn teardown_blocking(config: &Config) {
    let config = config.clone();
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        runtime.block_on(teardown(&config));
        Some(())
    })
    .join();
}
