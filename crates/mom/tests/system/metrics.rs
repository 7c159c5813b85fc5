//! `GET /metrics`: Prometheus text that moves when requests and jobs run. The recorder is one
//! per process and tests share it, so assertions compare before and after, or use labels
//! (queue names) that only this test's system has.

use std::time::Duration;

use reqwest::StatusCode;

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
    let created = [("route", "/job"), ("method", "POST"), ("status", "201")];
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
}

/// Scrapes until `done` holds for the text; panics after 10 s.
async fn scrape_until(app: &TestApp, done: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
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
