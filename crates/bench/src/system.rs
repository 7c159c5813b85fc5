//! `mom-bench system`: the whole system in this process (`mom up` on free ports, a fresh
//! database and queue prefix) on a runtime of its own, and HTTP load from this process.
//!
//! Two modes:
//! - rates (the default, math delay 0): at each concurrency, `POST /job` throughput and
//!   latency, then the rate at which those jobs complete (created / time from the first POST
//!   to the last job done) and the CPU each part of the machine spent per finished job; then
//!   POST → `job:done` latency at 1 and 64 clients.
//! - burst (`--jobs N`): N jobs posted at once against a slow math service
//!   (`--math-delay-ms`), the time until every one is done, `POST /job` latency while the burst
//!   is in flight, peak memory and CPU per job. Progress goes to stderr.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use mom::app::System;
use mom::config::Config;
use mom_bus::Bus;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::cpu::{peak_rss_mib, CpuSample, MOM_THREADS};

#[derive(clap::Args, Debug)]
pub struct SystemArgs {
    /// Seconds each `POST /job` scenario runs.
    #[arg(long, default_value_t = 5)]
    pub duration: u64,
    /// Concurrencies of the `POST /job` scenarios.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub concurrency: Vec<usize>,
    /// Jobs measured end to end at each of 1 and 64 clients.
    #[arg(long, default_value_t = 200)]
    pub e2e_jobs: usize,
    /// Burst mode: post this many jobs at once and time until every one is done.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// The math service's maximum delay per call (uniform in 0..=max).
    #[arg(long, default_value_t = 0)]
    pub math_delay_ms: u64,
    /// Clients posting the burst.
    #[arg(long, default_value_t = 64)]
    pub burst_clients: usize,
    /// Worker threads of the system's runtime (the machine has 2 cores).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
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

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// A running system and a logged-in user to load it with.
struct Target {
    runtime: tokio::runtime::Runtime,
    config: Config,
    api: String,
    token: String,
    user_id: i64,
    client: reqwest::Client,
    pool: sqlx::PgPool,
    shutdown: CancellationToken,
    running: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Target {
    async fn start(args: &SystemArgs) -> anyhow::Result<Self> {
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
        config.math_max_delay = Duration::from_millis(args.math_delay_ms);
        // Many clients log in from one address at once: the bench measures the pipeline, not
        // the attempt limiter, so it turns it off (docs/benchmarks.md says so).
        config.attempt_limits = mom::auth::AttemptLimits {
            per_email: 0,
            per_address: 0,
        };
        // The system gets threads of its own, named, so its CPU time is told from the client's.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads.max(1))
            .thread_name(MOM_THREADS)
            .thread_keep_alive(Duration::from_secs(3600))
            .enable_all()
            .build()?;
        let system = runtime
            .spawn(System::bind(config))
            .await
            .context("system bind task")??;
        let config = system.config.clone();
        let api = format!("http://{}", system.addresses()?.api);
        let shutdown = CancellationToken::new();
        let running = runtime.spawn(system.run(shutdown.clone()));

        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
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
        Ok(Self {
            runtime,
            config,
            api,
            token,
            user_id,
            client,
            pool,
            shutdown,
            running,
        })
    }

    async fn post_job(&self) -> anyhow::Result<i64> {
        post_job(&self.client, &self.api, &self.token).await
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(60), self.running).await;
        mom_testkit::teardown(&self.config).await;
        self.runtime.shutdown_background();
    }
}

async fn post_job(client: &reqwest::Client, api: &str, token: &str) -> anyhow::Result<i64> {
    let response = client
        .post(format!("{api}/job"))
        .header("Authorization", token)
        .json(&job_body())
        .send()
        .await?;
    anyhow::ensure!(
        response.status().as_u16() == 201,
        "POST /job: {}",
        response.status()
    );
    let job: Value = response.json().await?;
    job["id"].as_i64().context("job without id")
}

pub async fn run(args: SystemArgs) -> anyhow::Result<()> {
    let target = Target::start(&args).await?;
    let rows = match args.jobs {
        Some(jobs) => vec![burst(&target, &args, jobs).await?],
        None => rates(&target, &args).await?,
    };
    if args.json {
        println!("{}", serde_json::to_string(&rows)?);
    } else {
        print_table(&rows);
    }
    target.stop().await;
    Ok(())
}

async fn rates(target: &Target, args: &SystemArgs) -> anyhow::Result<Vec<Value>> {
    let mut rows = Vec::new();
    for &concurrency in &args.concurrency {
        let commits = commits(&target.pool).await?;
        let cpu = CpuSample::now();
        let started = Instant::now();
        let posted = job_creation(target, concurrency, Duration::from_secs(args.duration)).await;
        let unfinished = wait_until_finished(&target.pool, Duration::from_secs(300)).await?;
        let elapsed = started.elapsed().as_secs_f64();
        let spent = CpuSample::now().since(&cpu);
        let created = posted.latencies.len() as u64;
        // PostgreSQL publishes a backend's counters within a second of its last transaction.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let commits = commits_since(&target.pool, commits).await?;
        rows.push(json!({
            "scenario": format!("post_job_c{concurrency}"),
            "per_s": created as f64 / posted.seconds,
            "p50_ms": percentile(&posted.latencies, 0.5),
            "p99_ms": percentile(&posted.latencies, 0.99),
            "errors": posted.errors,
        }));
        rows.push(json!({
            "scenario": format!("jobs_completed_c{concurrency}"),
            "per_s": created as f64 / elapsed,
            "errors": unfinished,
            "jobs": created,
            "commits_per_job": commits as f64 / created.max(1) as f64,
            "cpu_ms_per_job": spent.per(created),
        }));
    }
    for clients in [1, 64] {
        rows.push(end_to_end(target, clients, args.e2e_jobs).await?);
    }
    Ok(rows)
}

struct Posted {
    latencies: Vec<f64>,
    errors: u64,
    seconds: f64,
}

/// `concurrency` clients each creating jobs back to back for `duration`.
async fn job_creation(target: &Target, concurrency: usize, duration: Duration) -> Posted {
    let started = Instant::now();
    let deadline = started + duration;
    let tasks = posting_clients(target, concurrency, move || Instant::now() < deadline);
    let (latencies, errors) = gather(tasks).await.unwrap_or_default();
    Posted {
        latencies,
        errors,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Who is waiting for which job's `job:done`, and the ones that finished before anyone asked.
#[derive(Default)]
struct Finishes {
    waiting: HashMap<i64, oneshot::Sender<Instant>>,
    early: HashMap<i64, Instant>,
}

/// `clients` clients, each posting a job and waiting for its `job:done` event on the events
/// exchange (what the socket gateway consumes), `jobs` in all.
async fn end_to_end(target: &Target, clients: usize, jobs: usize) -> anyhow::Result<Value> {
    let bus = Bus::connect(target.config.bus_config("bench"));
    bus.wait_connected(Duration::from_secs(10)).await?;
    let mut subscription = bus.subscribe(&target.config.topology().events);
    subscription
        .bindings()
        .bind(&format!("user.{}", target.user_id))
        .await?;
    let finishes = Arc::new(Mutex::new(Finishes::default()));
    let listener = {
        let finishes = Arc::clone(&finishes);
        tokio::spawn(async move {
            while let Some(event) = subscription.recv().await {
                let at = Instant::now();
                if event.context.kind.as_deref() != Some("job:done") {
                    continue;
                }
                let Some(id) = event.json::<Value>().ok().and_then(|b| b["id"].as_i64()) else {
                    continue;
                };
                let mut finishes = finishes.lock().expect("finishes lock");
                match finishes.waiting.remove(&id) {
                    Some(waiter) => {
                        let _ = waiter.send(at);
                    }
                    None => {
                        finishes.early.insert(id, at);
                    }
                }
            }
        })
    };
    let left = Arc::new(AtomicUsize::new(jobs));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, api, token) = (
                target.client.clone(),
                target.api.clone(),
                target.token.clone(),
            );
            let (finishes, left) = (Arc::clone(&finishes), Arc::clone(&left));
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0u64);
                while left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let sent = Instant::now();
                    let Ok(id) = post_job(&client, &api, &token).await else {
                        errors += 1;
                        continue;
                    };
                    let done = {
                        let mut finishes = finishes.lock().expect("finishes lock");
                        match finishes.early.remove(&id) {
                            Some(at) => Ok(at),
                            None => {
                                let (tx, rx) = oneshot::channel();
                                finishes.waiting.insert(id, tx);
                                Err(rx)
                            }
                        }
                    };
                    let at = match done {
                        Ok(at) => Some(at),
                        Err(rx) => tokio::time::timeout(Duration::from_secs(30), rx)
                            .await
                            .ok()
                            .and_then(Result::ok),
                    };
                    match at {
                        Some(at) => latencies.push((at - sent).as_secs_f64() * 1000.0),
                        None => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let (latencies, errors) = gather(tasks).await?;
    let elapsed = started.elapsed().as_secs_f64();
    listener.abort();
    bus.close().await;
    Ok(json!({
        "scenario": format!("job_end_to_end_c{clients}"),
        "per_s": latencies.len() as f64 / elapsed,
        "p50_ms": percentile(&latencies, 0.5),
        "p99_ms": percentile(&latencies, 0.99),
        "errors": errors,
    }))
}

/// `jobs` jobs posted at once by `--burst-clients` clients; then, while they run, one client
/// posting back to back measures how an RPC fares next to the slow work.
async fn burst(target: &Target, args: &SystemArgs, jobs: usize) -> anyhow::Result<Value> {
    let cpu = CpuSample::now();
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let progress = CancellationToken::new();
    let reporter = tokio::spawn(report_progress(
        target.pool.clone(),
        Arc::clone(&next),
        jobs,
        started,
        progress.clone(),
    ));
    let tasks = {
        let next = Arc::clone(&next);
        posting_clients(target, args.burst_clients.max(1), move || {
            next.fetch_add(1, Ordering::Relaxed) < jobs
        })
    };
    let (burst_latencies, mut errors) = gather(tasks).await?;
    let posted_after = started.elapsed().as_secs_f64();

    // RPC next to the burst: sequential POSTs while its steps wait on the math service.
    let mut probe = Vec::new();
    let probe_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < probe_until {
        let sent = Instant::now();
        match target.post_job().await {
            Ok(_) => probe.push(sent.elapsed().as_secs_f64() * 1000.0),
            Err(_) => errors += 1,
        }
    }
    probe.sort_by(f64::total_cmp);

    let unfinished = wait_until_finished(&target.pool, Duration::from_secs(1800)).await?;
    let seconds = started.elapsed().as_secs_f64();
    progress.cancel();
    let _ = reporter.await;
    let spent = CpuSample::now().since(&cpu);
    let finished = (burst_latencies.len() + probe.len()) as u64;
    Ok(json!({
        "scenario": format!("burst_{jobs}_delay_{}ms", args.math_delay_ms),
        "per_s": finished as f64 / seconds,
        "all_done_s": seconds,
        "posted_s": posted_after,
        "p50_ms": percentile(&burst_latencies, 0.5),
        "p99_ms": percentile(&burst_latencies, 0.99),
        "probe_p50_ms": percentile(&probe, 0.5),
        "probe_p99_ms": percentile(&probe, 0.99),
        "errors": errors + unfinished as u64,
        "jobs": finished,
        "peak_rss_mib": peak_rss_mib(),
        "cpu_ms_per_job": spent.per(finished),
    }))
}

/// `clients` tasks posting jobs back to back while `more()` says so, each with the latencies
/// of its 201s and its count of failures.
fn posting_clients<F>(
    target: &Target,
    clients: usize,
    more: F,
) -> Vec<tokio::task::JoinHandle<(Vec<f64>, u64)>>
where
    F: Fn() -> bool + Clone + Send + 'static,
{
    (0..clients)
        .map(|_| {
            let (client, api, token, more) = (
                target.client.clone(),
                target.api.clone(),
                target.token.clone(),
                more.clone(),
            );
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0u64);
                while more() {
                    let sent = Instant::now();
                    match post_job(&client, &api, &token).await {
                        Ok(_) => latencies.push(sent.elapsed().as_secs_f64() * 1000.0),
                        Err(_) => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect()
}

/// The latencies (sorted) and error counts of client tasks, merged.
async fn gather(
    tasks: Vec<tokio::task::JoinHandle<(Vec<f64>, u64)>>,
) -> anyhow::Result<(Vec<f64>, u64)> {
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (l, e) = task.await?;
        latencies.extend(l);
        errors += e;
    }
    latencies.sort_by(f64::total_cmp);
    Ok((latencies, errors))
}

async fn report_progress(
    pool: sqlx::PgPool,
    posted: Arc<AtomicUsize>,
    jobs: usize,
    started: Instant,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let done: i64 =
            sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status IN ('done', 'failed')")
                .fetch_one(&pool)
                .await
                .unwrap_or(-1);
        eprintln!(
            "burst: {:>6.1} s  posted {}/{jobs}  finished {done}",
            started.elapsed().as_secs_f64(),
            posted.load(Ordering::Relaxed).min(jobs),
        );
    }
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

/// Transactions committed in the system's database so far (every connection, reads too).
async fn commits(pool: &sqlx::PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(pool)
    .await?)
}

/// Transactions committed since `before`, less the ones the benchmark's own polling made.
async fn commits_since(pool: &sqlx::PgPool, before: i64) -> anyhow::Result<i64> {
    let polls = POLLS.swap(0, Ordering::Relaxed) as i64;
    Ok(commits(pool).await? - before - polls - 1)
}

/// Queries the benchmark itself made of the system's database (each one a transaction).
static POLLS: AtomicUsize = AtomicUsize::new(0);

/// Waits until no job is queued or running (at most `limit`); returns how many still are.
async fn wait_until_finished(pool: &sqlx::PgPool, limit: Duration) -> anyhow::Result<i64> {
    let deadline = Instant::now() + limit;
    loop {
        POLLS.fetch_add(1, Ordering::Relaxed);
        let open: i64 =
            sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")
                .fetch_one(pool)
                .await?;
        if open == 0 || Instant::now() > deadline {
            return Ok(open);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn print_table(rows: &[Value]) {
    let num = |v: &Value, decimals: usize| {
        v.as_f64()
            .map_or("-".to_owned(), |v| format!("{v:.decimals$}"))
    };
    println!(
        "{:<26} {:>9} {:>9} {:>9} {:>7} {:>8}  cpu ms/job (mom client rabbitmq postgres redis = total)",
        "scenario", "per_s", "p50_ms", "p99_ms", "errors", "tx/job"
    );
    for row in rows {
        let cpu = &row["cpu_ms_per_job"];
        let cpu = if cpu.is_object() {
            format!(
                "{} {} {} {} {} = {}",
                num(&cpu["mom"], 2),
                num(&cpu["client"], 2),
                num(&cpu["rabbitmq"], 2),
                num(&cpu["postgres"], 2),
                num(&cpu["redis"], 2),
                num(&cpu["total"], 2)
            )
        } else {
            String::new()
        };
        println!(
            "{:<26} {:>9} {:>9} {:>9} {:>7} {:>8}  {cpu}",
            row["scenario"].as_str().unwrap_or(""),
            num(&row["per_s"], 1),
            num(&row["p50_ms"], 2),
            num(&row["p99_ms"], 2),
            row["errors"],
            num(&row["commits_per_job"], 2),
        );
        if row.get("all_done_s").is_some() {
            println!(
                "  all done after {} s (posted after {} s); POST /job next to the burst p50 {} ms, p99 {} ms; peak RSS {} MiB",
                num(&row["all_done_s"], 1),
                num(&row["posted_s"], 1),
                num(&row["probe_p50_ms"], 2),
                num(&row["probe_p99_ms"], 2),
                num(&row["peak_rss_mib"], 0),
            );
        }
    }
}
