//! `mom-bench system`: the whole system in this process (`mom up` on free ports, a fresh
//! database and queue prefix, math delay 0), then HTTP load from this process:
//! `POST /job` throughput and latency at several concurrencies, and the end-to-end latency of a
//! 3-step job from the request to its `job:done` event on the bus.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use mom::app::System;
use mom::config::Config;
use mom_bus::{Bus, Exchange};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

#[derive(clap::Args, Debug)]
pub struct SystemArgs {
    /// Seconds each throughput scenario runs.
    #[arg(long, default_value_t = 5)]
    pub duration: u64,
    /// Concurrencies of the `POST /job` scenarios.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub concurrency: Vec<usize>,
    /// Jobs measured end to end (sequentially).
    #[arg(long, default_value_t = 100)]
    pub e2e_jobs: usize,
    /// Print one JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn job_body() -> Value {
    json!({"type": "math", "details": [
        {"method": "add", "numbers": "1,2,3"},
        {"method": "multiply", "numbers": "2,3,4"},
        {"method": "factors", "numbers": "12,97"}
    ]})
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub async fn run(args: SystemArgs) -> anyhow::Result<()> {
    let id = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let mut config = Config::from_env()?;
    config.database_url = format!("postgres://postgres@127.0.0.1:5432/mom_bench_{id}");
    config.queue_prefix = format!("bench.{id}.");
    config.redis_prefix = format!("bench:{id}:");
    config.api_port = 0;
    config.socket_port = 0;
    config.math_port = 0;
    config.panel_port = 0;
    config.math_url = "http://127.0.0.1:0".into();
    config.math_max_delay = Duration::ZERO;
    let system = System::bind(config).await?;
    let config = system.config.clone();
    let api = format!("http://{}", system.addresses()?.api);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(system.run(shutdown.clone()));

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    wait_healthy(&client, &api).await?;
    let email = format!("bench-{id}@example.com");
    let registered = client
        .post(format!("{api}/register"))
        .json(&json!({"firstName": "Bench", "lastName": "Mark", "email": email, "password": "bench-pw"}))
        .send()
        .await?;
    anyhow::ensure!(
        registered.status().is_success(),
        "register failed: {}",
        registered.status()
    );
    let login: Value = client
        .post(format!("{api}/login"))
        .json(&json!({"email": email, "password": "bench-pw"}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["accessToken"]
        .as_str()
        .context("no token")?
        .to_owned();
    let user_id = login["id"].as_i64().context("no id")?;

    let pool = mom::store::connect(&config.database_url, Duration::from_secs(10)).await?;
    let mut rows = Vec::new();
    for &concurrency in &args.concurrency {
        let scenario = Duration::from_secs(args.duration);
        let row = job_creation(&client, &api, &token, concurrency, scenario).await?;
        // Each scenario starts on an idle system: the workers first finish what the last one
        // queued. That drain is a figure too: jobs run to completion per second.
        let (created, seconds) = (
            row["created"].as_f64().unwrap_or(0.0),
            row["seconds"].as_f64().unwrap_or(1.0),
        );
        rows.push(row);
        let draining = Instant::now();
        let unfinished = wait_until_finished(&pool).await?;
        rows.push(json!({
            "scenario": format!("jobs_completed_c{concurrency}"),
            "per_s": created / (seconds + draining.elapsed().as_secs_f64()),
            "p50_ms": null,
            "p99_ms": null,
            "errors": unfinished,
        }));
    }
    let bus = Bus::connect(config.bus_config("bench"));
    bus.wait_connected(Duration::from_secs(10)).await?;
    rows.push(
        end_to_end(
            &client,
            &api,
            &token,
            &bus,
            &config.topology().events,
            user_id,
            args.e2e_jobs,
        )
        .await?,
    );

    if args.json {
        println!("{}", serde_json::to_string(&rows)?);
    } else {
        println!(
            "{:<24} {:>10} {:>10} {:>10} {:>8}",
            "scenario", "per_s", "p50_ms", "p99_ms", "errors"
        );
        for row in &rows {
            println!(
                "{:<24} {:>10.1} {:>10.2} {:>10.2} {:>8}",
                row["scenario"].as_str().unwrap_or(""),
                row["per_s"].as_f64().unwrap_or(f64::NAN),
                row["p50_ms"].as_f64().unwrap_or(f64::NAN),
                row["p99_ms"].as_f64().unwrap_or(f64::NAN),
                row["errors"]
            );
        }
    }
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), running).await;
    mom::app::teardown(&config).await;
    Ok(())
}

async fn wait_healthy(client: &reqwest::Client, api: &str) -> anyhow::Result<()> {
    for _ in 0..600 {
        if let Ok(r) = client.get(format!("{api}/health")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the system did not become healthy")
}

/// `concurrency` clients each creating jobs back to back for `duration`.
async fn job_creation(
    client: &reqwest::Client,
    api: &str,
    token: &str,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Value> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, token) = (client.clone(), format!("{api}/job"), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0u64);
            while Instant::now() < deadline {
                let sent = Instant::now();
                match client
                    .post(&url)
                    .header("Authorization", &token)
                    .json(&job_body())
                    .send()
                    .await
                {
                    Ok(r) if r.status().as_u16() == 201 => {
                        latencies.push(sent.elapsed().as_secs_f64() * 1000.0)
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (l, e) = task.await?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Ok(json!({
        "scenario": format!("post_job_c{concurrency}"),
        "per_s": latencies.len() as f64 / elapsed,
        "p50_ms": percentile(&latencies, 0.5),
        "p99_ms": percentile(&latencies, 0.99),
        "errors": errors,
        "created": latencies.len(),
        "seconds": elapsed,
    }))
}

/// One job at a time: from sending `POST /job` to receiving its `job:done` event.
async fn end_to_end(
    client: &reqwest::Client,
    api: &str,
    token: &str,
    bus: &Bus,
    events: &Exchange,
    user_id: i64,
    jobs: usize,
) -> anyhow::Result<Value> {
    let mut subscription = bus.subscribe(events);
    subscription
        .bindings()
        .bind(&format!("user.{user_id}"))
        .await?;
    let mut latencies = Vec::new();
    let mut errors = 0u64;
    let started = Instant::now();
    for _ in 0..jobs {
        let sent = Instant::now();
        let created: Value = client
            .post(format!("{api}/job"))
            .header("Authorization", token)
            .json(&job_body())
            .send()
            .await?
            .json()
            .await?;
        let id = created["id"].clone();
        let done = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(event) = subscription.recv().await {
                let body: Value = event.json().unwrap_or_default();
                if event.context.kind.as_deref() == Some("job:done") && body["id"] == id {
                    return true;
                }
            }
            false
        })
        .await;
        match done {
            Ok(true) => latencies.push(sent.elapsed().as_secs_f64() * 1000.0),
            _ => errors += 1,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Ok(json!({
        "scenario": "job_end_to_end_c1",
        "per_s": latencies.len() as f64 / elapsed,
        "p50_ms": percentile(&latencies, 0.5),
        "p99_ms": percentile(&latencies, 0.99),
        "errors": errors,
    }))
}

/// Waits until no job is queued or running (at most two minutes); returns how many still are.
async fn wait_until_finished(pool: &sqlx::PgPool) -> anyhow::Result<i64> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let open: i64 =
            sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")
                .fetch_one(pool)
                .await?;
        if open == 0 || Instant::now() > deadline {
            return Ok(open);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
