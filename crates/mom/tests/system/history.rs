//! `GET /system/history`: jobs per minute over the last hour, from PostgreSQL.

use std::time::Duration;

use chrono::{DateTime, Utc};
use mom::domain::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

/// Writes a job created at `at` that ended `seconds` later with `status` (or is still running
/// when `status` is `running`).
async fn seed(pool: &sqlx::PgPool, owner_id: i32, at: DateTime<Utc>, seconds: f64, status: &str) {
    sqlx::query(
        "INSERT INTO jobs (owner_id, type, status, details, steps_total, steps_done,
                           request_id, notified, created_at, updated_at, finished_at)
         VALUES ($1, 'math', $2, '[{\"method\": \"add\", \"numbers\": \"1,2\"}]', 1, 1,
                 'seeded-' || gen_random_uuid(), true, $3, $3,
                 CASE WHEN $2 = 'running' THEN NULL
                      ELSE $3 + make_interval(secs => $4) END)",
    )
    .bind(owner_id)
    .bind(status)
    .bind(at)
    .bind(seconds)
    .execute(pool)
    .await
    .expect("job seeded");
}

#[tokio::test]
async fn history_buckets_seeded_jobs_per_minute_for_admins_only() {
    let app = spawn_app().await;
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap();
    let owner_id = login["id"].as_i64().unwrap() as i32;
    assert_eq!(
        app.get("/system/history", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/system/history", Some(token)).await.status(),
        StatusCode::FORBIDDEN
    );
    mom::roles::set(&app.config, login["email"].as_str().unwrap(), Role::Admin)
        .await
        .unwrap();

    // Ten minutes ago (well inside the hour however the clock turns during the test): three
    // jobs that took 1, 2 and 4 s, one of them failed, and one still running; and a job from
    // two hours ago, outside the window.
    let pool = app.pool().await;
    let (minute, at): (DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
        "SELECT date_trunc('minute', now()) - interval '10 minutes',
                date_trunc('minute', now()) - interval '10 minutes' + interval '5 seconds'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    for (seconds, status) in [
        (1.0, "done"),
        (2.0, "done"),
        (4.0, "failed"),
        (0.0, "running"),
    ] {
        seed(&pool, owner_id, at, seconds, status).await;
    }
    seed(
        &pool,
        owner_id,
        at - chrono::Duration::hours(2),
        1.0,
        "done",
    )
    .await;
    pool.close().await;

    let response = app.get("/system/history", Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let minutes = body["minutes"].as_array().expect("minutes");
    assert_eq!(
        minutes.len(),
        60,
        "every minute of the hour, empty ones too"
    );
    let starts: Vec<DateTime<Utc>> = minutes
        .iter()
        .map(|m| m["minute"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(starts
        .windows(2)
        .all(|w| w[1] - w[0] == chrono::Duration::minutes(1)));

    let bucket = minutes
        .iter()
        .zip(&starts)
        .find_map(|(m, start)| (*start == minute).then_some(m))
        .unwrap_or_else(|| panic!("no bucket for {minute}: {body}"));
    assert_eq!(bucket["created"], 4);
    assert_eq!(bucket["finished"], json!({"done": 2, "failed": 1}));
    assert_eq!(bucket["p50Seconds"], 2.0);
    let p95 = bucket["p95Seconds"].as_f64().unwrap();
    assert!(p95 > 3.0 && p95 <= 4.0, "{p95}");

    // Jobs of this test only, and none older than the hour: the other minutes are empty
    // (the user's registration created no job).
    let others: i64 = minutes
        .iter()
        .filter(|m| !std::ptr::eq(*m, bucket))
        .map(|m| m["created"].as_i64().unwrap())
        .sum();
    assert_eq!(others, 0);
    let empty = minutes.iter().find(|m| !std::ptr::eq(*m, bucket)).unwrap();
    assert_eq!(empty["finished"], json!({}));
    assert_eq!(empty["p50Seconds"], Value::Null);

    // The rest of the System page: queues, and every worker's consumers as its bus counts
    // them, reported to PostgreSQL every 5 s (the first report may predate the attachment).
    let math_queue = format!("{}math", app.config.queue_prefix);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (queues, consumer) = loop {
        let queues: Value = app
            .get("/system/queues", Some(token))
            .await
            .json()
            .await
            .unwrap();
        let attached = queues["consumers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["queue"] == math_queue.as_str() && c["attached"] == true)
            .cloned();
        if let Some(consumer) = attached {
            break (queues, consumer);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no attached consumer of {math_queue}: {queues}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let process = consumer["process"].as_str().unwrap();
    assert!(
        process.ends_with(&format!(":{}", std::process::id())),
        "{process}"
    );
    for counter in ["handled", "retried", "deadLettered", "stallRecoveries"] {
        assert!(consumer[counter].is_u64(), "{counter}: {consumer}");
    }
    // Only this system's queues: other tests' workers share this process.
    for consumer in queues["consumers"].as_array().unwrap() {
        let queue = consumer["queue"].as_str().unwrap();
        assert!(queue.starts_with(&app.config.queue_prefix), "{queue}");
    }
    // Depths from the management API or the API's own sample (whose rates need two samples).
    assert!(
        ["management", "counters"].contains(&queues["source"].as_str().unwrap()),
        "{queues}"
    );
    assert!(queues["queues"]
        .as_array()
        .unwrap()
        .iter()
        .any(|q| q["name"] == math_queue.as_str()));
}
