//! Faults: no worker, no broker, a worker that died between commit and publish, a graceful
//! stop under load — in this process — and the fault suite: a burst of jobs from retrying
//! clients while a process of a real, multi-process system is killed or stopped, its broker
//! or database connections are closed, or its math service fails ([`processes`], fast), or
//! while a shared server is restarted ([`servers`], slow: `scripts/faults`).

mod burst;
mod cluster;
mod processes;
mod servers;

use std::time::{Duration, Instant};

use mom::api::{router, ApiState};
use mom::auth::Sessions;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::helpers::*;

/// Only the API runs: nobody consumes the db queue.
#[tokio::test]
async fn without_a_worker_writes_answer_504_in_bounded_time() {
    let mut config = test_config();
    config.rpc_timeout = Duration::from_millis(700);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    mom::app::migrate(&config).await.unwrap();
    tokio::spawn(mom::api::run(config.clone(), listener, shutdown.clone()));
    let client = reqwest::Client::new();
    let url = format!("http://{address}");
    for _ in 0..200 {
        if client.get(format!("{url}/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let started = Instant::now();
    let response = client
        .post(format!("{url}/register"))
        .json(&json!({"firstName": "A", "lastName": "B", "email": "a@x.io", "password": "pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["statusCode"], 504);
    assert!(
        body["message"].as_str().unwrap().contains("worker"),
        "{body}"
    );
    shutdown.cancel();
    mom_testkit::teardown(&config).await;
}

/// The API holds a bus that cannot reach any broker.
#[tokio::test]
async fn with_the_broker_down_writes_answer_503_in_bounded_time() {
    let config = test_config();
    let pool = mom::store::connect(&config.database_url, Duration::from_secs(10))
        .await
        .unwrap();
    mom::store::migrate(&pool).await.unwrap();
    let mut bus_config =
        mom_bus::BusConfig::new("amqp://guest:guest@127.0.0.1:1/%2f", "mom-test-down");
    bus_config.publish_timeout = Duration::from_millis(500);
    let sessions = Sessions::connect(
        &config.redis_url,
        &config.redis_prefix,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let bus = mom_bus::Bus::connect(bus_config);
    let state = ApiState::new(&config, bus, pool, sessions, config.topology()).unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await });

    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(format!("http://{address}/register"))
        .json(&json!({"firstName": "A", "lastName": "B", "email": "a@x.io", "password": "pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "Service Unavailable");
    let health = reqwest::get(format!("http://{address}/health"))
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    mom_testkit::teardown(&config).await;
}

/// A worker committed a job and its first task, then died before publishing: the outbox
/// sweep of the next worker publishes it and the job completes.
#[tokio::test]
async fn a_committed_but_unpublished_step_is_recovered_by_the_outbox_sweep() {
    let app = spawn_app().await;
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap();
    let owner = login["id"].as_i64().unwrap() as i32;
    let pool = app.pool().await;
    let topology = app.config.topology();

    // What the db worker writes in create_job's transaction, without the publish after it.
    let steps = vec![mom_math::MathStep::parse("add", "20,22").unwrap()];
    let mut tx = pool.begin().await.unwrap();
    let (job, created) =
        mom::store::jobs::insert(&mut tx, owner, &json!(steps), 1, "crashed-request")
            .await
            .unwrap();
    assert!(created);
    let task = mom::messages::MathTask {
        job_id: job.view.id,
        step: 0,
        operation: steps[0].clone(),
    };
    let message = mom::store::outbox::OutboxMessage {
        id: 0,
        exchange: String::new(),
        routing_key: topology.math.name.clone(),
        kind: "math.step".into(),
        message_id: mom::messages::MathTask::message_id(job.view.id, 0),
        traceparent: None,
        priority: 1,
        payload: json!(task),
    };
    mom::store::outbox::insert(&mut tx, &message).await.unwrap();
    tx.commit().await.unwrap();

    let done = app
        .wait_for_end(token, i64::from(job.view.id), Duration::from_secs(20))
        .await;
    assert_eq!(done["status"], "done");
    assert_eq!(done["details"][0]["result"], 42);
    // The job's final event is committed with it and published just after: wait for that.
    let mut left = -1i64;
    for _ in 0..100 {
        left = sqlx::query_scalar("SELECT count(*) FROM outbox")
            .fetch_one(&pool)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(left, 0, "the outbox is drained");
}

/// SIGTERM-style shutdown while steps are in flight, then a restart on the same database and
/// queues: every job that got 201 still ends done.
#[tokio::test]
async fn a_graceful_restart_mid_flight_loses_no_job() {
    let app = spawn_app_with(|config| config.math_max_delay = Duration::from_millis(400)).await;
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for _ in 0..6 {
        let job: Value = app
            .post_job(&token, &math_job())
            .await
            .json()
            .await
            .unwrap();
        ids.push(job["id"].as_i64().unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let config = app.stop().await;

    let app = spawn_app_from(config).await;
    for id in ids {
        let job = app.wait_for_end(&token, id, Duration::from_secs(30)).await;
        assert_eq!(job["status"], "done", "job {id}: {job}");
        assert_eq!(job["details"][2]["result"], json!([[2, 3], [97]]));
    }
}

/// A graceful stop while clients keep posting: every request the API took gets its answer
/// (the workers outlive it), and none of them is a 5xx; later requests find no listener.
#[tokio::test]
async fn a_graceful_stop_mid_burst_answers_no_5xx() {
    let app = spawn_app_with(|config| config.math_max_delay = Duration::from_millis(200)).await;
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap().to_owned();
    let created = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (url, token, created) = (app.url("/job"), token.clone(), created.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut statuses = Vec::new();
                for _ in 0..5000 {
                    match client
                        .post(&url)
                        .header("Authorization", &token)
                        .json(&math_job())
                        .send()
                        .await
                    {
                        Ok(response) => {
                            if response.status() == StatusCode::CREATED {
                                created.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            }
                            statuses.push(response.status());
                        }
                        // The listener is closed: the stop has begun.
                        Err(_) => break,
                    }
                }
                statuses
            })
        })
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while created.load(std::sync::atomic::Ordering::SeqCst) < 50 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs are not being created"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let config = app.stop().await;
    for client in clients {
        let statuses = client.await.unwrap();
        let failed: Vec<_> = statuses.iter().filter(|s| s.is_server_error()).collect();
        assert!(failed.is_empty(), "5xx during a graceful stop: {failed:?}");
        assert!(
            statuses.iter().all(|s| *s == StatusCode::CREATED),
            "{statuses:?}"
        );
    }
    mom_testkit::teardown(&config).await;
}
