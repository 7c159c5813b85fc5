//! `GET /metrics`: Prometheus text that moves when requests and jobs run. The recorder is one
//! per process and tests share it, so assertions compare before and after, or use labels
//! (queue names) that only this test's system has.

use std::time::Duration;

use mom::app::{Alone, Service};
use mom::config::MetricsPort;
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

use crate::helpers::*;

/// The sum of every sample of `name` whose labels include all of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
            let wanted = labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            (metric == name && wanted).then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    response.text().await.unwrap()
}

#[tokio::test]
async fn metrics_move_when_requests_and_a_job_run() {
    let app = spawn_app().await;
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap();
    let created = [
        ("service", "api"),
        ("route", "/job"),
        ("method", "POST"),
        ("status", "201"),
    ];
    let listed = [("route", "/job/my"), ("status", "200")];
    let before = scrape(&app).await;

    let job: serde_json::Value = app.post_job(token, &math_job()).await.json().await.unwrap();
    app.wait_for_end(token, job["id"].as_i64().unwrap(), Duration::from_secs(20))
        .await;
    assert_eq!(
        app.get("/nowhere/42", None).await.status(),
        StatusCode::NOT_FOUND
    );
    let after = scrape(&app).await;

    // Other tests share the registry, so counts grow by at least what this test did.
    let grew = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) >= sample(&before, name, labels) + 1.0
    };
    let seen = |name: &str, labels: &[(&str, &str)]| sample(&after, name, labels) >= 1.0;
    assert!(grew("mom_http_requests_total", &created));
    assert!(grew("mom_http_request_duration_seconds_count", &created));
    assert!(seen(
        "mom_http_request_duration_seconds_bucket",
        &[("route", "/job"), ("le", "+Inf")]
    ));
    assert!(grew(
        "mom_rpc_duration_seconds_count",
        &[("kind", "job.create"), ("outcome", "ok")]
    ));
    // Routes are patterns: the query string and unknown paths never become series of their own.
    assert!(seen("mom_http_requests_total", &listed));
    assert!(!after.contains("/nowhere/42"));
    assert!(seen(
        "mom_http_requests_total",
        &[("route", "unmatched"), ("status", "404")]
    ));

    // The worker's consumers, read from the bus's own counters at scrape time. A consumer
    // counts a message after acking it, which may come just after the job is seen done.
    let prefix = &app.config.queue_prefix;
    let math_queue = format!("{prefix}math");
    let db_queue = format!("{prefix}db");
    let handled = "mom_bus_consumer_handled_total";
    let text = scrape_until(&app, |text| {
        sample(text, handled, &[("queue", &math_queue)]) >= 3.0
            && sample(text, handled, &[("queue", &db_queue)]) >= 2.0
    })
    .await;
    assert_eq!(
        sample(
            &text,
            "mom_bus_consumer_attached",
            &[("queue", &math_queue)]
        ),
        1.0
    );
    let dead = format!("mom_bus_consumer_dead_lettered_total{{queue=\"{math_queue}\"}} 0");
    assert!(text.lines().any(|line| line == dead), "{dead} missing");

    // The job's outcome and its steps, each call of the math service timed by method.
    let finished = [("status", "done")];
    assert!(grew("mom_jobs_finished_total", &finished));
    assert!(grew("mom_job_duration_seconds_count", &finished));
    for method in ["add", "multiply", "factors"] {
        let step = [("method", method), ("outcome", "ok")];
        assert!(
            grew("mom_math_step_duration_seconds_count", &step),
            "{method}"
        );
    }
    // The math service counts its own requests, by route pattern: one per step.
    let math_calls = [
        ("service", "math"),
        ("route", "/{method}/{numbers}"),
        ("status", "200"),
    ];
    assert!(
        sample(&after, "mom_http_requests_total", &math_calls)
            >= sample(&before, "mom_http_requests_total", &math_calls) + 3.0
    );
    // The relay published the three math tasks, confirmed.
    assert!(sample(&text, "mom_bus_published_total", &[("queue", &math_queue)]) >= 3.0);

    // Gauges sampled periodically, never per request: the outbox backlog (one count per
    // tick of the relay) and the depth and consumers of each queue, dead letters included.
    let math_dead = format!("{math_queue}.dead");
    // The worker consumes the math queue (one broker consumer per channel), and its
    // dead-letter keeper the dead letters.
    let math_channels = f64::from(mom_bus::channels_for(app.config.math_concurrency));
    let text = scrape_until(&app, |text| {
        sample(text, "mom_queue_consumers", &[("queue", &math_queue)]) == math_channels
            && sample(text, "mom_queue_consumers", &[("queue", &math_dead)]) == 1.0
    })
    .await;
    assert!(has_series(&text, "mom_outbox_backlog"), "{text}");
    assert!(has_series(&text, "mom_outbox_oldest_seconds"), "{text}");
    for queue in [&math_queue, &db_queue, &math_dead] {
        let labels = format!("{{queue=\"{queue}\"}}");
        assert!(
            text.contains(&format!("mom_queue_messages{labels}")),
            "{queue} depth missing"
        );
    }
}

/// Whether the text has a sample of `name` (any labels).
fn has_series(text: &str, name: &str) -> bool {
    text.lines().any(|line| {
        line.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
    })
}

#[tokio::test]
async fn a_malformed_message_counts_as_a_dead_letter_of_its_queue() {
    let app = spawn_app().await;
    let math_queue = format!("{}math", app.config.queue_prefix);
    let bus = mom_bus::Bus::connect(app.config.bus_config("test"));
    bus.send(
        &math_queue,
        &mom_bus::Outgoing::raw("math.step", b"not a task".to_vec()),
    )
    .await
    .unwrap();

    let text = scrape_until(&app, |text| {
        sample(
            text,
            "mom_bus_consumer_dead_lettered_total",
            &[("queue", &math_queue)],
        ) == 1.0
    })
    .await;
    // The dead-letter keeper took it from `<queue>.dead` into PostgreSQL.
    let pool = app.pool().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters WHERE queue = $1")
            .bind(&math_queue)
            .fetch_one(&pool)
            .await
            .unwrap();
        if stored == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never stored: {stored}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    pool.close().await;
    assert_eq!(
        sample(
            &text,
            "mom_bus_consumer_retried_total",
            &[("queue", &math_queue)]
        ),
        0.0,
        "a malformed message is never retried"
    );
    bus.close().await;
}

/// A worker run on its own serves its figures on its metrics port.
#[tokio::test]
async fn a_worker_alone_serves_metrics_on_its_own_port() {
    let mut config = test_config();
    config.metrics_port = MetricsPort::Port(0);
    let _cleanup = Teardown(config.clone());
    mom::app::migrate(&config).await.unwrap();
    let worker = Alone::bind(config.clone(), Service::Worker).await.unwrap();
    assert_eq!(worker.address(), None, "a worker listens for nothing else");
    let address = worker.metrics_address().expect("a metrics port");
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(worker.run(shutdown.clone()));

    let attached = format!(
        "mom_bus_consumer_attached{{queue=\"{}math\"}} 1",
        config.queue_prefix
    );
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let text = loop {
        let answer = client.get(format!("http://{address}/metrics")).send().await;
        if let Ok(answer) = answer {
            assert_eq!(answer.status(), StatusCode::OK);
            let text = answer.text().await.unwrap();
            if text.lines().any(|line| line == attached) && has_series(&text, "mom_outbox_backlog")
            {
                break text;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker's metrics never showed its consumers"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(text.contains("# TYPE mom_bus_consumer_handled_total counter"));

    // It reports its consumers to PostgreSQL for the System page, whichever process serves it.
    let pool = mom::store::connect(&config.database_url, Duration::from_secs(10))
        .await
        .unwrap();
    let math_queue = format!("{}math", config.queue_prefix);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let reported = mom::store::worker_health::fresh(&pool, Duration::from_secs(20))
            .await
            .unwrap();
        if reported
            .iter()
            .any(|c| c["queue"] == math_queue.as_str() && c["attached"] == true)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker never reported its consumers: {reported:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(20), running).await;
    stopped.expect("the worker stops").unwrap().unwrap();
    let left = mom::store::worker_health::fresh(&pool, Duration::from_secs(20))
        .await
        .unwrap();
    assert!(
        left.is_empty(),
        "a stopped worker takes its report back: {left:?}"
    );
    pool.close().await;
    assert!(
        client
            .get(format!("http://{address}/metrics"))
            .send()
            .await
            .is_err(),
        "the metrics port closes with its service"
    );
}

#[tokio::test]
async fn metrics_ports_follow_the_setting() {
    let mut config = test_config();
    config.api_port = 0;
    config.math_port = 0;
    config.metrics_port = MetricsPort::Off;
    let math = Alone::bind(config.clone(), Service::Math).await.unwrap();
    assert!(math.address().is_some());
    assert_eq!(math.metrics_address(), None, "off is off");
    config.metrics_port = MetricsPort::Port(0);
    let api = Alone::bind(config, Service::Api).await.unwrap();
    assert_eq!(
        api.metrics_address(),
        None,
        "the API serves /metrics on its own port"
    );
    assert_eq!(Service::Worker.default_metrics_port(), Some(7071));
    assert_eq!(Service::Socket.default_metrics_port(), Some(7081));
    assert_eq!(Service::Math.default_metrics_port(), Some(7091));
}

/// Drops this configuration's database and queues at the end of a test.
struct Teardown(mom::config::Config);

impl Drop for Teardown {
    fn drop(&mut self) {
        mom_testkit::teardown_blocking(&self.0);
    }
}

/// Scrapes until `done` holds for the text; panics after 20 s (gauges are sampled every 5 s).
async fn scrape_until(app: &TestApp, done: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = scrape(app).await;
        if done(&text) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "metrics never got there:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// With no management API, the System page's rates come from mom's own counters: the API
/// samples its queues every 5 s, and the change of this process's publish and delivery
/// counts between two samples is the rate.
#[tokio::test]
async fn without_the_management_api_rates_come_from_our_own_counters() {
    let app = spawn_app_with(|config| config.management_url = "http://127.0.0.1:1".into()).await;
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap().to_owned();
    mom::roles::set(
        &app.config,
        login["email"].as_str().unwrap(),
        mom::domain::Role::Admin,
    )
    .await
    .unwrap();
    let math_queue = format!("{}math", app.config.queue_prefix);
    let job: serde_json::Value = app
        .post_job(&token, &math_job())
        .await
        .json()
        .await
        .unwrap();
    app.wait_for_end(&token, job["id"].as_i64().unwrap(), Duration::from_secs(20))
        .await;

    // The job ran after the first sample (taken before the API served), so some later window
    // between two samples holds its three math tasks.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let response = app.get("/system/queues", Some(&token)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["source"], "counters");
        let row = body["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["name"] == math_queue.as_str())
            .cloned()
            .unwrap();
        let (publish, deliver) = (row["publishRate"].as_f64(), row["deliverRate"].as_f64());
        if publish.is_some_and(|rate| rate > 0.0) && deliver.is_some_and(|rate| rate > 0.0) {
            // One broker consumer per channel of the worker's math consumer.
            let channels = mom_bus::channels_for(app.config.math_concurrency);
            assert_eq!(row["consumers"], u64::from(channels));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rates never showed the job: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
