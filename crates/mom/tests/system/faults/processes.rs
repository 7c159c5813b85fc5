//! The fast faults: they touch only the system under test, so they run with every other test
//! (`scripts/test`). Each process of a split system — and `mom up` — is killed (SIGKILL) and
//! then stopped (SIGTERM) mid-burst and started again; the system's broker connections are
//! closed, or its PostgreSQL connections terminated; the math service fails 30 % of its calls,
//! or all of them for 20 s. Figures: `docs/faults.md`.

use std::time::Duration;

use super::burst::{burst_through, orders, verify, Burst, Strike};
use super::cluster::{Cluster, Layout, Service, Signal};

/// Jobs per burst, and clients ordering them at once.
const BURST: (usize, usize) = (100, 8);

/// SIGKILL, then SIGTERM, of `service` mid-burst, each followed by a restart.
async fn kill_then_stop(layout: Layout, service: Service) {
    let mut cluster = Cluster::start(layout, |_| {}).await;
    let token = cluster.user().await;
    let name = format!("{service:?}").to_lowercase();

    let killed = burst_through(
        &mut cluster,
        &token,
        BURST,
        async |cluster: &mut Cluster| cluster.restart(service, Signal::Kill).await,
    )
    .await;
    killed.report(&format!("kill -9 mom {name}"));

    let stopped = burst_through(
        &mut cluster,
        &token,
        BURST,
        async |cluster: &mut Cluster| cluster.restart(service, Signal::Term).await,
    )
    .await;
    stopped.report(&format!("SIGTERM mom {name}"));
    assert_eq!(
        stopped.server_errors, 0,
        "a graceful stop of mom {name} answered 5xx"
    );
    assert_eq!(stopped.failed, 0, "a graceful stop failed jobs");
    // Refused connections are fine (nothing listens); a request cut unread is not.
    assert_eq!(stopped.cut, 0, "a graceful stop of mom {name} cut requests");
}

#[tokio::test]
async fn the_api_killed_or_stopped_mid_burst_loses_nothing() {
    kill_then_stop(Layout::Split, Service::Api).await;
}

#[tokio::test]
async fn the_worker_killed_or_stopped_mid_burst_loses_nothing() {
    kill_then_stop(Layout::Split, Service::Worker).await;
}

#[tokio::test]
async fn the_gateway_killed_or_stopped_mid_burst_loses_nothing() {
    kill_then_stop(Layout::Split, Service::Socket).await;
}

#[tokio::test]
async fn the_math_service_killed_or_stopped_mid_burst_loses_nothing() {
    kill_then_stop(Layout::Split, Service::Math).await;
}

#[tokio::test]
async fn mom_up_killed_or_stopped_mid_burst_loses_nothing() {
    kill_then_stop(Layout::Up, Service::Up).await;
}

#[tokio::test]
async fn closed_broker_connections_mid_burst_lose_nothing() {
    let mut cluster = Cluster::start(Layout::Split, |_| {}).await;
    let token = cluster.user().await;
    // Found before the burst: the management API lists new connections late. The math
    // service has none; the worker has one for its RPCs and one for everything else.
    let connections = cluster
        .broker_connections(&["api", "worker", "worker-rpc", "socket"])
        .await;
    let figures = burst_through(
        &mut cluster,
        &token,
        BURST,
        async |cluster: &mut Cluster| {
            let closed = cluster.close_broker_connections(connections).await;
            assert!(closed >= 4, "closed {closed} connections");
        },
    )
    .await;
    figures.report("broker connections closed");
}

#[tokio::test]
async fn terminated_database_connections_mid_burst_lose_nothing() {
    let mut cluster = Cluster::start(Layout::Split, |_| {}).await;
    let token = cluster.user().await;
    // As a database failover or an operator's pg_terminate_backend would; other databases
    // are left alone.
    let figures = burst_through(
        &mut cluster,
        &token,
        BURST,
        async |cluster: &mut Cluster| {
            let terminated = cluster.terminate_database_connections().await;
            // The API's, the worker's and the gateway's pools.
            assert!(terminated >= 3, "terminated {terminated} connections");
        },
    )
    .await;
    figures.report("PostgreSQL connections terminated");
}

#[tokio::test]
async fn a_math_service_failing_30_percent_of_calls_loses_nothing() {
    let cluster = Cluster::start(Layout::Split, |config| {
        config.math_fail_percent = 30;
        config.math_retry_initial = Duration::from_millis(50);
    })
    .await;
    let token = cluster.user().await;
    let started = Strike::now(&cluster).await;
    let burst = Burst::start(&cluster, &token, orders(BURST.0), BURST.1);
    let figures = verify(&cluster, &token, burst.finish().await, started).await;
    // About 30 % of some 400 calls; fewer than 10 would mean the fault never struck.
    let injected = cluster.log_lines(Service::Math, "injected failure");
    assert!(injected >= 10, "{injected} injected failures");
    figures.report(&format!(
        "math failing 30 % of calls ({injected} failed calls)"
    ));
}

#[tokio::test]
async fn a_math_outage_of_20_s_mid_burst_loses_nothing() {
    // Retries 1, 2, 4, 8 and 16 s apart: 31 s of them outlast the outage.
    let mut cluster = Cluster::start(Layout::Split, |config| {
        config.math_retry_initial = Duration::from_secs(1);
    })
    .await;
    let token = cluster.user().await;
    let burst = Burst::start(&cluster, &token, orders(BURST.0), BURST.1);
    burst.wait_acknowledged(BURST.0 / 3).await;
    let struck = Strike::now(&cluster).await;
    cluster.config.math_fail_percent = 100;
    cluster.restart(Service::Math, Signal::Term).await;
    // The fault is 20 s long by definition: this wait is its length, not a guess.
    tokio::time::sleep_until(struck.at + Duration::from_secs(20)).await;
    let injected = cluster.log_lines(Service::Math, "injected failure");
    cluster.config.math_fail_percent = 0;
    cluster.restart(Service::Math, Signal::Term).await;
    let figures = verify(&cluster, &token, burst.finish().await, struck).await;
    assert!(injected >= 20, "{injected} injected failures");
    assert_eq!(figures.failed, 0, "the retries outlast the outage");
    figures.report(&format!(
        "math failing every call for 20 s ({injected} failed calls)"
    ));
}
