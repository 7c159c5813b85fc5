//! Start-up: every service waits for the broker, PostgreSQL and Redis the same way, and a
//! stop asked for while it still waits ends it at once instead of after the whole wait.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::helpers::test_config;

/// Far below the start-up wait (60 s), far above any scheduling delay.
const PROMPT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_stop_while_waiting_for_the_broker_ends_every_service_promptly() {
    let reachable = test_config();
    let mut config = reachable.clone();
    config.amqp_url = "amqp://guest:guest@127.0.0.1:1/%2f".into();
    let shutdown = CancellationToken::new();
    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let socket_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = tokio::spawn(mom::api::run(
        config.clone(),
        api_listener,
        shutdown.clone(),
    ));
    let worker = tokio::spawn(mom::worker::run(config.clone(), shutdown.clone()));
    let socket = tokio::spawn(mom::socket::run(
        config.clone(),
        socket_listener,
        shutdown.clone(),
    ));
    shutdown.cancel();
    for (name, service) in [("api", api), ("worker", worker), ("socket", socket)] {
        let stopped = tokio::time::timeout(PROMPT, service)
            .await
            .unwrap_or_else(|_| panic!("{name} still waiting {PROMPT:?} after the stop"));
        stopped
            .unwrap()
            .unwrap_or_else(|e| panic!("{name} failed: {e:#}"));
    }
    mom_testkit::teardown(&reachable).await;
}
