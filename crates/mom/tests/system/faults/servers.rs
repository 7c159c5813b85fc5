//! The slow faults: RabbitMQ, PostgreSQL and Redis restarted under a burst. They restart the
//! servers every other test on this machine uses, so they are `#[ignore]`d and run only by
//! `scripts/faults`, one at a time, when nobody else is testing. Figures: `docs/faults.md`.

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::time::Instant;

use super::burst::burst_through;
use super::cluster::{Cluster, Layout};

/// Jobs per burst, and clients ordering them at once.
const BURST: (usize, usize) = (100, 8);

/// Runs an operator's command; it must succeed.
fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} does not run: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `scripts/services`: starts whatever is down and waits until it listens.
fn start_services() {
    run(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/services"),
        &[],
    );
}

/// A burst on a split system; `restart` strikes once a third of it is acknowledged.
async fn burst_through_restart(
    name: &str,
    restart: impl FnOnce() + Send + 'static,
) -> (Cluster, String) {
    let mut cluster = Cluster::start(Layout::Split, |_| {}).await;
    let token = cluster.user().await;
    let figures = burst_through(&mut cluster, &token, BURST, async |_: &mut Cluster| {
        tokio::task::spawn_blocking(restart)
            .await
            .expect("the restart")
    })
    .await;
    figures.report(name);
    (cluster, token)
}

#[tokio::test]
#[ignore = "restarts the shared RabbitMQ: run with scripts/faults"]
async fn a_broker_restart_mid_burst_loses_nothing() {
    burst_through_restart("RabbitMQ restart", || {
        run("rabbitmqctl", &["stop_app"]);
        run("rabbitmqctl", &["start_app"]);
        run("rabbitmqctl", &["await_startup"]);
    })
    .await;
}

#[tokio::test]
#[ignore = "restarts the shared PostgreSQL: run with scripts/faults"]
async fn a_postgres_restart_mid_burst_loses_nothing() {
    burst_through_restart("PostgreSQL restart", || {
        let versions = std::fs::read_dir("/etc/postgresql").expect("a PostgreSQL install");
        let version = versions
            .filter_map(Result::ok)
            .map(|v| v.file_name().to_string_lossy().into_owned())
            .next()
            .expect("a PostgreSQL version");
        run(
            "pg_ctlcluster",
            &["--skip-systemctl-redirect", &version, "main", "restart"],
        );
    })
    .await;
}

#[tokio::test]
#[ignore = "restarts the shared Redis: run with scripts/faults"]
async fn a_redis_restart_mid_burst_loses_nothing_and_signs_nobody_out() {
    let (cluster, token) = burst_through_restart("Redis restart", || {
        // SHUTDOWN writes the append-only file out before it exits. Its exit code varies
        // between redis-cli versions (the server hangs up): Redis being gone is the check.
        let _ = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", "6379", "shutdown"])
            .status();
        // scripts/services starts only what does not listen: wait until Redis is gone.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", 6379)).is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "Redis still listening after SHUTDOWN"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        start_services();
    })
    .await;
    // The session outlived the restart (append-only persistence, scripts/services).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let response = cluster
            .client
            .get(cluster.url("/auth-test"))
            .header("Authorization", &token)
            .send()
            .await;
        match response {
            Ok(r) if r.status() == StatusCode::OK => break,
            Ok(r) => assert_ne!(r.status(), StatusCode::UNAUTHORIZED, "signed out"),
            Err(_) => {}
        }
        assert!(Instant::now() < deadline, "the API never authorized again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
