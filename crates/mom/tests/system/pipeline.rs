//! The job pipeline's guarantees under group commit and many slow steps in flight: duplicate
//! step results change nothing twice, one bad write in a batch fails alone, and slow steps
//! wait by the hundred without delaying job creation.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use mom::config::Config;
use mom::store::{jobs, users};
use mom::worker::{Committer, JobWrite, Relay, Written};
use mom_bus::Bus;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::gated_math::GatedMath;
use crate::helpers::{spawn_app_with, test_config};

/// A database, queues and a committer of their own, without the services around them.
struct Pipeline {
    config: Config,
    pool: sqlx::PgPool,
    bus: Bus,
    relay: Relay,
    committer: Committer,
}

impl Pipeline {
    async fn start() -> Self {
        let config = test_config();
        mom::app::migrate(&config).await.unwrap();
        let pool = mom::store::connect(&config.database_url, Duration::from_secs(10))
            .await
            .unwrap();
        let topology = config.topology();
        let bus = Bus::connect(config.bus_config("pipeline-test"));
        bus.wait_connected(Duration::from_secs(10)).await.unwrap();
        bus.declare_queue(&topology.math).await.unwrap();
        bus.declare_exchange(&topology.events).await.unwrap();
        let relay = Relay::new(bus.clone(), pool.clone(), config.outbox_grace);
        let committer = Committer::start(pool.clone(), relay.clone(), topology);
        Self {
            config,
            pool,
            bus,
            relay,
            committer,
        }
    }

    async fn user(&self) -> i32 {
        let record = users::UserRecord {
            request_id: "test-user",
            first_name: "Ada",
            last_name: "Lovelace",
            email: "ada@example.com",
            password_hash: "not-a-hash",
        };
        users::insert(&self.pool, &record).await.unwrap().id
    }

    async fn job(&self, id: i32) -> mom::domain::JobView {
        jobs::find(&self.pool, id)
            .await
            .unwrap()
            .expect("the job exists")
            .view
    }

    /// The events published to `owner`'s sockets from now on.
    async fn events_of(&self, owner: i32) -> mom_bus::Subscription {
        let events = self.bus.subscribe(&self.config.topology().events);
        events
            .bindings()
            .bind(&mom::topology::user_key(owner))
            .await
            .unwrap();
        events
    }

    async fn write(&self, write: JobWrite) -> Result<Written, mom::worker::WriteError> {
        self.committer.write(write, None).await
    }

    /// Waits until every outbox row has been published and deleted, then takes what reached
    /// the math queue: exactly the tasks the writes committed.
    async fn math_tasks(&self) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            self.relay.delete_published().await;
            let left: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
                .fetch_one(&self.pool)
                .await
                .unwrap();
            if left == 0 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{left} outbox rows never published"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let queue = &self.config.topology().math.name;
        let taken = self.bus.take(queue, 100).await.unwrap();
        taken
            .into_iter()
            .map(|m| json!({"id": m.context.message_id, "body": m.json::<Value>().unwrap()}))
            .collect()
    }

    async fn stop(self) {
        drop(self.committer);
        self.bus.close().await;
        mom_testkit::teardown(&self.config).await;
    }
}

fn record(job_id: i32, step: i32, result: i64) -> JobWrite {
    record_delivered(job_id, step, result, false)
}

/// A step result from a delivery that is `again` a redelivery or a retry, or not.
fn record_delivered(job_id: i32, step: i32, result: i64, again: bool) -> JobWrite {
    JobWrite::RecordStep {
        job_id,
        step,
        result: json!(result),
        again,
    }
}

fn task_ids(tasks: &[Value]) -> Vec<String> {
    tasks
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_owned))
        .collect()
}

async fn two_step_job(pipeline: &Pipeline, owner_id: i32, request_id: &str) -> i32 {
    let steps = vec![
        mom_math::MathStep::parse("add", "1,2").unwrap(),
        mom_math::MathStep::parse("multiply", "2,3").unwrap(),
    ];
    let write = JobWrite::Create {
        request_id: request_id.into(),
        owner_id,
        steps,
    };
    match pipeline.write(write).await.unwrap() {
        Written::Job(job) => job.id,
        other => panic!("create wrote {other:?}"),
    }
}

#[tokio::test]
async fn duplicate_step_results_are_recorded_once_within_a_batch_and_across_batches() {
    let pipeline = Pipeline::start().await;
    let owner = pipeline.user().await;
    let job_id = two_step_job(&pipeline, owner, "job-1").await;
    // A redelivered create finds the same job and enqueues nothing more.
    assert_eq!(two_step_job(&pipeline, owner, "job-1").await, job_id);

    // Two copies of step 0's result at once (one batch), then a late third copy.
    let (a, b) = tokio::join!(
        pipeline.write(record(job_id, 0, 3)),
        pipeline.write(record(job_id, 0, 4))
    );
    assert!(a.is_ok() && b.is_ok());
    pipeline.write(record(job_id, 0, 5)).await.unwrap();

    let job = pipeline.job(job_id).await;
    assert_eq!(job.steps_done, 1);
    assert_eq!(job.version, 2, "one change: step 0 recorded");
    let first = &job.details[0]["result"];
    assert!(first == &json!(3) || first == &json!(4), "{first}");

    let tasks = pipeline.math_tasks().await;
    let ids: Vec<&str> = tasks.iter().filter_map(|t| t["id"].as_str()).collect();
    let step0 = format!("job-{job_id}-step-0");
    let step1 = format!("job-{job_id}-step-1");
    assert_eq!(
        ids,
        [step0.as_str(), step1.as_str()],
        "each step enqueued once: {tasks:?}"
    );
    assert_eq!(tasks[1]["body"]["operation"]["method"], "multiply");
    pipeline.stop().await;
}

/// A step recorded by a delivery that died before the broker confirmed its messages (they have
/// no outbox row): the redelivered step result finds the step recorded and hands them off
/// again. A plain duplicate hands off nothing, nor does a redelivery once the job has moved on.
#[tokio::test]
async fn a_redelivered_step_result_hands_off_what_its_first_delivery_could_not() {
    let pipeline = Pipeline::start().await;
    let owner = pipeline.user().await;
    let mut events = pipeline.events_of(owner).await;
    let job_id = two_step_job(&pipeline, owner, "job-1").await;
    let (step0, step1) = (
        format!("job-{job_id}-step-0"),
        format!("job-{job_id}-step-1"),
    );
    assert_eq!(task_ids(&pipeline.math_tasks().await), [step0]);

    // What the first delivery of step 0's result committed before it died.
    let mut tx = pipeline.pool.begin().await.unwrap();
    jobs::record_step(&mut tx, job_id, 0, &json!(3))
        .await
        .unwrap()
        .expect("step 0 recorded");
    tx.commit().await.unwrap();

    pipeline
        .write(record_delivered(job_id, 0, 3, false))
        .await
        .unwrap();
    assert!(
        pipeline.math_tasks().await.is_empty(),
        "a plain duplicate hands off nothing"
    );
    pipeline
        .write(record_delivered(job_id, 0, 3, true))
        .await
        .unwrap();
    let tasks = pipeline.math_tasks().await;
    assert_eq!(task_ids(&tasks), [step1]);
    assert_eq!(tasks[0]["body"]["operation"]["method"], "multiply");
    let job = pipeline.job(job_id).await;
    assert_eq!(
        (job.steps_done, job.version),
        (1, 2),
        "nothing recorded twice"
    );

    // The last step recorded, then its result redelivered: the final event goes out again.
    pipeline.write(record(job_id, 1, 18)).await.unwrap();
    pipeline
        .write(record_delivered(job_id, 1, 18, true))
        .await
        .unwrap();
    let mut kinds = Vec::new();
    while kinds.iter().filter(|k| *k == "job:done").count() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("job:done twice within 10 s")
            .expect("the subscription is open");
        kinds.push(event.context.kind.clone().unwrap_or_default());
    }
    assert_eq!(kinds, ["job:progress", "job:done", "job:done"]);

    // Step 0 redelivered once the job has moved on: nothing.
    pipeline
        .write(record_delivered(job_id, 0, 3, true))
        .await
        .unwrap();
    assert!(pipeline.math_tasks().await.is_empty());
    let job = pipeline.job(job_id).await;
    assert_eq!((job.steps_done, job.version), (2, 3));
    pipeline.stop().await;
}

#[tokio::test]
async fn one_bad_write_in_a_batch_fails_alone() {
    let pipeline = Pipeline::start().await;
    let owner = pipeline.user().await;
    let job_id = two_step_job(&pipeline, owner, "job-1").await;
    let no_such_user = JobWrite::Create {
        request_id: "job-2".into(),
        owner_id: owner + 1000,
        steps: vec![mom_math::MathStep::parse("add", "1,2").unwrap()],
    };
    let good_create = JobWrite::Create {
        request_id: "job-3".into(),
        owner_id: owner,
        steps: vec![mom_math::MathStep::parse("add", "5,6").unwrap()],
    };
    // Handed over together, so they share a batch, which the bad one aborts.
    let (bad, good, step) = tokio::join!(
        pipeline.write(no_such_user),
        pipeline.write(good_create),
        pipeline.write(record(job_id, 0, 3)),
    );
    match bad {
        Err(mom::worker::WriteError::Database(sqlx::Error::Database(e))) => {
            assert!(e.is_foreign_key_violation(), "{e}")
        }
        other => panic!("the bad create gave {other:?}"),
    }
    assert!(matches!(good, Ok(Written::Job(_))), "{good:?}");
    assert!(step.is_ok(), "{step:?}");
    let job = pipeline.job(job_id).await;
    assert_eq!(job.steps_done, 1);
    pipeline.stop().await;
}

/// The whole system calling `math`, with a timeout no held call reaches.
pub async fn gated_app(
    math: &GatedMath,
    customize: impl FnOnce(&mut Config),
) -> crate::helpers::TestApp {
    spawn_app_with(|config| {
        config.math_url = math.url.clone();
        config.math_timeout = Duration::from_secs(120);
        customize(config);
    })
    .await
}

#[tokio::test]
async fn hundreds_of_slow_steps_wait_at_once_and_never_delay_job_creation() {
    let math = GatedMath::start().await;
    let app = gated_app(&math, |_| {}).await;
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap().to_owned();
    let one_step = json!({"type": "math", "details": [{"method": "add", "numbers": "1,2"}]});

    // Far more slow calls than a small fixed number of slots would hold.
    const SLOW: usize = 300;
    let mut ids = Vec::new();
    for _ in 0..SLOW {
        let response = app.post_job(&token, &one_step).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        ids.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_i64()
                .unwrap(),
        );
    }
    math.wait_holding(SLOW).await;

    // Every slow step is waiting on the math service; job creation still answers at once
    // (a request stuck behind them would end in a 504 after RPC_TIMEOUT_MS).
    for _ in 0..20 {
        let response = app.post_job(&token, &one_step).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        ids.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_i64()
                .unwrap(),
        );
    }
    math.wait_holding(SLOW + 20).await;

    math.open.send(true).unwrap();
    for id in ids {
        let job = app.wait_for_end(&token, id, Duration::from_secs(60)).await;
        assert_eq!(job["status"], "done", "{job}");
        assert_eq!(job["details"][0]["result"], 3);
    }
}

#[tokio::test]
async fn a_job_that_stops_moving_ends_failed_with_a_reason() {
    // The math service takes every call and never answers: nothing will move the job.
    let math = GatedMath::start().await;
    let app = gated_app(&math, |config| {
        config.job_stall = Some(Duration::from_secs(1))
    })
    .await;
    let (token, id) = order_math_job(&app).await;
    let token = token.as_str();
    math.wait_holding(1).await;

    let job = app.wait_for_end(token, id, Duration::from_secs(30)).await;
    assert_eq!(job["status"], "failed");
    let reason = job["error"].as_str().unwrap();
    assert!(reason.contains("stopped making progress"), "{reason}");

    assert_eq!(job["stepsDone"], 0);
}

/// A math service that answers 503 to the first `failures` calls of each step, then the
/// right result; it notes when each call came.
#[derive(Clone, Default)]
struct FlakyMath {
    calls: Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<tokio::time::Instant>>>>,
}

async fn flaky_answer(
    State((math, failures)): State<(FlakyMath, usize)>,
    Path((method, numbers)): Path<(String, String)>,
) -> Result<Json<Value>, StatusCode> {
    let key = format!("{method}/{numbers}");
    let calls = {
        let mut calls = math.calls.lock().unwrap();
        let seen = calls.entry(key).or_default();
        seen.push(tokio::time::Instant::now());
        seen.len()
    };
    if calls <= failures {
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    let step = mom_math::MathStep::parse(&method, &numbers).unwrap();
    Ok(Json(mom_math::evaluate(&step).unwrap()))
}

#[tokio::test]
async fn a_failing_math_call_is_retried_with_growing_backoff_until_it_succeeds() {
    let math = FlakyMath::default();
    let router = Router::new()
        .route("/{method}/{numbers}", get(flaky_answer))
        .with_state((math.clone(), 2));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(mom::math::serve(listener, router, stop.clone()));
    let app = spawn_app_with(|config| {
        config.math_url = url;
        config.math_attempts = 3;
        config.math_retry_initial = Duration::from_millis(200);
    })
    .await;
    let (token, id) = order_math_job(&app).await;
    let token = token.as_str();

    let job = app.wait_for_end(token, id, Duration::from_secs(60)).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["details"][0]["result"], 6);
    assert_eq!(job["details"][1]["result"], 24);
    assert_eq!(job["details"][2]["result"], json!([[2, 3], [97]]));
    let calls = math.calls.lock().unwrap().clone();
    for (step, at) in &calls {
        assert_eq!(at.len(), 3, "{step}: two failures, then the answer");
        // A retry waits in a delay queue at least its backoff: 200 ms, then 400 ms.
        assert!(
            at[1] - at[0] >= Duration::from_millis(200),
            "{step}: {:?}",
            at[1] - at[0]
        );
        assert!(
            at[2] - at[1] >= Duration::from_millis(400),
            "{step}: {:?}",
            at[2] - at[1]
        );
    }
    assert_eq!(calls.len(), 3, "one entry per step: {:?}", calls.keys());
    stop.cancel();
}

/// A new user orders the seed's 3-step job; returns their token and the job's id.
pub async fn order_math_job(app: &crate::helpers::TestApp) -> (String, i64) {
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap().to_owned();
    let response = app.post_job(&token, &crate::helpers::math_job()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    (token, id)
}

fn cancel(job_id: i32, request_id: &str) -> JobWrite {
    JobWrite::Cancel {
        job_id,
        request_id: request_id.into(),
        by: mom::messages::Canceller::Owner,
    }
}

#[tokio::test]
async fn a_cancelled_job_records_no_later_step_enqueues_nothing_and_is_never_stalled() {
    let pipeline = Pipeline::start().await;
    let owner = pipeline.user().await;
    let job_id = two_step_job(&pipeline, owner, "job-1").await;
    // The cancel and a step result for the same job in one batch: the cancel wins.
    let (cancelled, recorded) = tokio::join!(
        pipeline.write(cancel(job_id, "cancel-1")),
        pipeline.write(record(job_id, 0, 3))
    );
    assert!(recorded.is_ok(), "{recorded:?}");
    match cancelled.unwrap() {
        Written::Cancel(found) => assert!(
            matches!(*found, jobs::Cancel::Cancelled { now: true, .. }),
            "{found:?}"
        ),
        other => panic!("cancel wrote {other:?}"),
    }
    let job = pipeline.job(job_id).await;
    assert_eq!(job.status, mom::domain::JobStatus::Cancelled);
    assert_eq!((job.steps_done, job.version), (0, 2));

    // A late step result, a late failure and the stall sweep change nothing.
    pipeline.write(record(job_id, 0, 3)).await.unwrap();
    let fail = JobWrite::Fail {
        job_id,
        step: 0,
        reason: "late".into(),
    };
    pipeline.write(fail).await.unwrap();
    let sweep = JobWrite::FailStalled {
        idle_for: Duration::ZERO,
    };
    pipeline.write(sweep).await.unwrap();
    let job = pipeline.job(job_id).await;
    assert_eq!(job.status, mom::domain::JobStatus::Cancelled);
    assert_eq!(job.version, 2, "nothing after the cancel touched it");
    assert_eq!(job.error.as_deref(), Some("cancelled by its owner"));

    // A second cancel with the same request id is its own outcome again, a new one is not.
    match pipeline.write(cancel(job_id, "cancel-1")).await.unwrap() {
        Written::Cancel(found) => assert!(
            matches!(*found, jobs::Cancel::Cancelled { now: false, .. }),
            "{found:?}"
        ),
        other => panic!("cancel wrote {other:?}"),
    }
    match pipeline.write(cancel(job_id, "cancel-2")).await.unwrap() {
        Written::Cancel(found) => {
            assert!(matches!(*found, jobs::Cancel::AlreadyEnded(_)), "{found:?}")
        }
        other => panic!("cancel wrote {other:?}"),
    }

    let tasks = pipeline.math_tasks().await;
    let ids: Vec<&str> = tasks.iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(
        ids,
        [format!("job-{job_id}-step-0")],
        "no step after the cancel: {tasks:?}"
    );
    pipeline.stop().await;
}

/// The math handler on its own, against a gated math service.
fn math_handler(
    pipeline: &Pipeline,
    math: &GatedMath,
    cancels: &mom::worker::Cancels,
) -> mom::worker::MathHandler {
    let mut config = pipeline.config.clone();
    config.math_url = math.url.clone();
    mom::worker::MathHandler::new(
        &config,
        pipeline.bus.clone(),
        config.topology(),
        pipeline.pool.clone(),
        cancels.clone(),
    )
    .unwrap()
}

fn add_task(job_id: i32) -> mom::messages::MathTask {
    mom::messages::MathTask {
        job_id,
        step: 0,
        operation: mom_math::MathStep::parse("add", "1,2").unwrap(),
    }
}

fn attempt(attempt: u32) -> mom_bus::Context {
    mom_bus::Context {
        attempt,
        max_attempts: 3,
        ..Default::default()
    }
}

#[tokio::test]
async fn the_math_handler_aborts_a_cancelled_call_and_drops_late_steps_without_calling() {
    use mom_bus::Handler as _;
    let math = GatedMath::start().await;
    let pipeline = Pipeline::start().await;
    pipeline
        .bus
        .declare_queue(&pipeline.config.topology().db)
        .await
        .unwrap();
    let owner = pipeline.user().await;
    let cancels = mom::worker::Cancels::new(Duration::from_secs(60));
    let handler = Arc::new(math_handler(&pipeline, &math, &cancels));

    // In flight: the signal drops the call, and the handler acks (Ok) without an answer.
    let running = two_step_job(&pipeline, owner, "job-1").await;
    let call = tokio::spawn({
        let handler = Arc::clone(&handler);
        async move { handler.handle(add_task(running), attempt(1)).await }
    });
    math.wait_holding(1).await;
    cancels.cancel(running);
    call.await.unwrap().unwrap();
    math.wait_aborted(1).await;
    // Heard of: a first attempt of that job calls nothing.
    handler.handle(add_task(running), attempt(1)).await.unwrap();
    assert_eq!(math.held(), 1);

    // Back from a retry delay for a job cancelled while this process was not listening: the
    // database says so, and nothing is called.
    let unheard = two_step_job(&pipeline, owner, "job-2").await;
    pipeline.write(cancel(unheard, "cancel-2")).await.unwrap();
    handler.handle(add_task(unheard), attempt(2)).await.unwrap();
    assert_eq!(math.held(), 1);

    // A retried step of a live job does call.
    let live = two_step_job(&pipeline, owner, "job-3").await;
    math.open.send(true).unwrap();
    handler.handle(add_task(live), attempt(2)).await.unwrap();
    assert_eq!((math.held(), math.answered(), math.aborted()), (2, 1, 1));
    pipeline.stop().await;
}

#[tokio::test]
async fn a_write_whose_caller_stopped_waiting_is_not_applied() {
    let pipeline = Pipeline::start().await;
    let owner = pipeline.user().await;
    let create = |request_id: &str| JobWrite::Create {
        request_id: request_id.into(),
        owner_id: owner,
        steps: vec![mom_math::MathStep::parse("add", "1,2").unwrap()],
    };
    let past = std::time::SystemTime::now() - Duration::from_millis(1);
    let dropped = pipeline
        .committer
        .write_until(create("late"), None, Some(past))
        .await
        .unwrap();
    assert!(matches!(dropped, Written::Dropped), "{dropped:?}");
    let future = std::time::SystemTime::now() + Duration::from_secs(30);
    let stored = pipeline
        .committer
        .write_until(create("in-time"), None, Some(future))
        .await
        .unwrap();
    assert!(matches!(stored, Written::Job(_)), "{stored:?}");
    let requests: Vec<String> = sqlx::query_scalar("SELECT request_id FROM jobs")
        .fetch_all(&pipeline.pool)
        .await
        .unwrap();
    assert_eq!(
        requests,
        ["in-time"],
        "nothing written for the caller who left"
    );
    assert_eq!(pipeline.math_tasks().await.len(), 1);
    pipeline.stop().await;
}

/// A batch of step results alone is one statement outside a transaction: it also deletes the
/// outbox rows published since the last batch. A job whose next step cannot be read back has
/// its step recorded by that statement and the write answered with an error; the retry, a
/// repeat, fails the job in a transaction with its event.
#[tokio::test]
async fn a_job_whose_next_step_cannot_be_read_back_ends_failed_with_its_event() {
    let pipeline = Pipeline::start().await;
    let owner = pipeline.user().await;
    let mut events = pipeline.events_of(owner).await;
    let job_id = two_step_job(&pipeline, owner, "job-1").await;
    // The first step's task has an outbox row; wait until the relay has published it.
    let published = loop {
        let ids = pipeline.relay.take_deletable();
        if !ids.is_empty() {
            break ids;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    pipeline.relay.delete_later(published);
    sqlx::query("UPDATE jobs SET details = jsonb_set(details, '{1}', '\"garbage\"') WHERE id = $1")
        .bind(job_id)
        .execute(&pipeline.pool)
        .await
        .unwrap();

    let written = pipeline.write(record(job_id, 0, 3)).await;
    assert!(
        matches!(
            written,
            Err(mom::worker::WriteError::NextStepUnreadable { job_id: id, step: 0 }) if id == job_id
        ),
        "{written:?}"
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&pipeline.pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "the statement deleted the published row");
    let job = pipeline.job(job_id).await;
    assert_eq!(
        (job.steps_done, job.status),
        (1, mom::domain::JobStatus::Running)
    );

    pipeline
        .write(record_delivered(job_id, 0, 3, true))
        .await
        .unwrap();
    let job = pipeline.job(job_id).await;
    assert_eq!(job.status, mom::domain::JobStatus::Failed);
    assert_eq!(
        job.error.as_deref(),
        Some("stored job details are unreadable")
    );
    let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("the subscription is open");
    assert_eq!(event.context.kind.as_deref(), Some("job:failed"));
    let tasks = pipeline.math_tasks().await;
    assert_eq!(
        task_ids(&tasks),
        [format!("job-{job_id}-step-0")],
        "no task for the unreadable step"
    );
    pipeline.stop().await;
}

/// RPCs have a queue, a consumer, a broker connection and a committer of their own: with the
/// `db` consumer's every slot and every committer task of step results held by a step result
/// that cannot commit (its job's row is locked here), creating a job still answers 201. On a
/// queue shared with step results it would wait for a free slot, and with a committer shared
/// with them for a free task, and end in a 504 after `RPC_TIMEOUT_MS`.
#[tokio::test]
async fn job_creation_answers_while_every_db_slot_and_committer_is_held_by_stuck_step_results() {
    let math = GatedMath::start().await;
    let app = gated_app(&math, |config| config.db_concurrency = 2).await;
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap().to_owned();
    let one_step = json!({"type": "math", "details": [{"method": "add", "numbers": "1,2"}]});
    let mut stuck = Vec::new();
    for _ in 0..2 {
        let response = app.post_job(&token, &one_step).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        stuck.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_i64()
                .unwrap(),
        );
    }
    math.wait_holding(2).await;

    let pool = app.pool().await;
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM jobs WHERE id = ANY($1) FOR UPDATE")
        .bind(stuck.iter().map(|&id| id as i32).collect::<Vec<_>>())
        .execute(&mut *lock)
        .await
        .unwrap();
    let bus = Bus::connect(app.config.bus_config("isolation-test"));
    bus.wait_connected(Duration::from_secs(10)).await.unwrap();
    // One at a time, so each lands in a batch of its own and holds one committer task: the
    // second is sent once the first waits on its lock.
    for (held, &job_id) in stuck.iter().enumerate() {
        let record = json!({"action": "job.recordStep", "jobId": job_id, "step": 0, "result": 3});
        let message = mom_bus::Outgoing::json("job.recordStep", &record)
            .unwrap()
            .message_id(format!("record-{job_id}-0"));
        bus.send(&app.config.topology().db.name, &message)
            .await
            .unwrap();
        wait_for_lock_waiters(&pool, held as i64 + 1).await;
    }

    for _ in 0..3 {
        let response = app.post_job(&token, &one_step).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    lock.rollback().await.unwrap();
    math.open.send(true).unwrap();
    for job_id in stuck {
        let job = app
            .wait_for_end(&token, job_id, Duration::from_secs(60))
            .await;
        assert_eq!(job["status"], "done");
    }
    bus.close().await;
    app.stop().await;
}

/// Waits until `count` statements of this test's database wait on a lock.
async fn wait_for_lock_waiters(pool: &sqlx::PgPool, count: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if waiting >= count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {waiting} of {count} step results reached their statement"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
