//! Dead letters admins can act on: every message a work queue gave up on is kept in
//! PostgreSQL with its reason, attempts, queue and job (secrets redacted), listed newest first
//! and paged, replayed back to its queue (moving its job on) or discarded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use mom_bus::{header, Bus, Outgoing};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::helpers::*;

const PATIENCE: Duration = Duration::from_secs(30);

/// A math service that answers 503 while `failing`, the right result after.
struct SwitchMath {
    url: String,
    failing: Arc<AtomicBool>,
    stop: CancellationToken,
}

impl SwitchMath {
    async fn start(failing: bool) -> Self {
        let failing = Arc::new(AtomicBool::new(failing));
        let router = Router::new()
            .route("/{method}/{numbers}", get(switch_answer))
            .with_state(Arc::clone(&failing));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        tokio::spawn(mom::math::serve(listener, router, stop.clone()));
        Self { url, failing, stop }
    }
}

impl Drop for SwitchMath {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn switch_answer(
    State(failing): State<Arc<AtomicBool>>,
    Path((method, numbers)): Path<(String, String)>,
) -> (StatusCode, Json<Value>) {
    if failing.load(Ordering::SeqCst) {
        let down = json!({"statusCode": 503, "message": "down for maintenance"});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(down));
    }
    let step = mom_math::MathStep::parse(&method, &numbers).unwrap();
    (StatusCode::OK, Json(mom_math::evaluate(&step).unwrap()))
}

fn token(login: &Value) -> &str {
    login["accessToken"].as_str().unwrap()
}

async fn order(app: &TestApp, token: &str, body: &Value) -> i64 {
    let response = app.post_job(token, body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn act(app: &TestApp, token: &str, action: &str, body: Value) -> reqwest::Response {
    app.post(&format!("/admin/dead-letters/{action}"), &body, Some(token))
        .await
}

/// A bus of the test's own, for publishing poison messages where the system will find them.
async fn bus(app: &TestApp) -> Bus {
    let bus = Bus::connect(app.config.bus_config("dead-letter-test"));
    bus.wait_connected(Duration::from_secs(10)).await.unwrap();
    bus
}

#[tokio::test]
async fn a_step_that_fails_every_attempt_is_kept_and_its_replay_finishes_the_job() {
    let math = SwitchMath::start(true).await;
    let app = spawn_app_with(|config| {
        config.math_url = math.url.clone();
        config.math_attempts = 3;
    })
    .await;
    let (user, admin) = (app.new_user().await, app.new_admin().await);
    let id = order(&app, token(&user), &math_job()).await;

    let failed = app.wait_for_end(token(&user), id, PATIENCE).await;
    assert_eq!(failed["status"], "failed");
    let reason = failed["error"].as_str().unwrap();
    assert!(
        reason.contains("step 1 (add) failed after 3 attempts"),
        "{reason}"
    );

    let counts = app.wait_for_dead_letters(token(&admin), 1, PATIENCE).await;
    let math_queue = app.config.topology().math.name;
    assert!(
        counts["queues"]
            .as_array()
            .unwrap()
            .contains(&json!({"queue": math_queue, "count": 1})),
        "{counts}"
    );
    let dead = app.get_dead_letters(token(&admin), "").await;
    let letter = &dead[0];
    assert_eq!(letter["queue"], math_queue);
    assert_eq!(letter["kind"], "math.step");
    assert_eq!(letter["jobId"], id);
    assert_eq!(letter["attempts"], 3);
    assert!(
        letter["reason"].as_str().unwrap().contains("503"),
        "{letter}"
    );
    assert_eq!(letter["payload"]["operation"]["method"], "add");
    assert!(letter["notReplayable"].is_null());
    let first = chrono::DateTime::parse_from_rfc3339(letter["firstFailedAt"].as_str().unwrap());
    let last = chrono::DateTime::parse_from_rfc3339(letter["lastFailedAt"].as_str().unwrap());
    assert!(
        first.unwrap() < last.unwrap(),
        "{letter}: three attempts take time"
    );

    // The service recovers; the replay takes the step back to the math queue, attempt 1.
    math.failing.store(false, Ordering::SeqCst);
    let replayed = act(
        &app,
        token(&admin),
        "replay",
        json!({"ids": [letter["id"]]}),
    )
    .await;
    assert_eq!(replayed.status(), StatusCode::OK);
    assert_eq!(
        replayed.json::<Value>().await.unwrap(),
        json!({"replayed": 1, "notReplayable": 0})
    );
    let done = app.wait_for_end(token(&user), id, PATIENCE).await;
    assert_eq!(done["status"], "done", "{done}");
    assert!(done["error"].is_null(), "{done}");
    assert_eq!(
        step_results(&done),
        [json!(6), json!(24), json!([[2, 3], [97]])]
    );
    assert!(app.get_dead_letters(token(&admin), "").await.is_empty());
    assert_eq!(app.get_dead_letter_counts(token(&admin)).await["total"], 0);

    // Gone means gone: a second replay of the same id is a clear 404.
    let again = act(
        &app,
        token(&admin),
        "replay",
        json!({"ids": [letter["id"]]}),
    )
    .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    let body: Value = again.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(&letter["id"].to_string()), "{message}");
}

#[tokio::test]
async fn a_dead_step_result_fails_its_job_at_once_and_its_replay_records_it() {
    // Step results never come from the math service here: it keeps failing, with attempts
    // enough to outlast the test, so the only thing that can move the job is the replay.
    let math = SwitchMath::start(true).await;
    let app = spawn_app_with(|config| {
        config.math_url = math.url.clone();
        config.math_attempts = 1000;
        config.math_retry_initial = Duration::from_secs(60);
    })
    .await;
    let (user, admin) = (app.new_user().await, app.new_admin().await);
    let one_step = json!({"type": "math", "details": [{"method": "add", "numbers": "1,5"}]});
    let id = order(&app, token(&user), &one_step).await;

    // What the bus writes when the db worker gives up on a step result after 8 attempts.
    let topology = app.config.topology();
    let bus = bus(&app).await;
    bus.declare_queue(&topology.db.dead_letters())
        .await
        .unwrap();
    let record = json!({"action": "job.recordStep", "jobId": id, "step": 0, "result": 6});
    let dead = Outgoing::json("job.recordStep", &record)
        .unwrap()
        .message_id(format!("record-{id}-0"))
        .header(
            header::ERROR,
            "gave up after 8 attempts: database error: connection reset",
        )
        .header(header::ATTEMPTS, "8")
        .header(header::ORIGINAL_QUEUE, topology.db.name.as_str());
    bus.send(&topology.db.dead_letter_queue(), &dead)
        .await
        .unwrap();

    let failed = app.wait_for_end(token(&user), id, PATIENCE).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        failed["error"],
        "step 1's result could not be saved after 8 attempts; an administrator can retry it"
    );
    let letters = app
        .get_dead_letters(token(&admin), &format!("jobId={id}"))
        .await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["queue"], topology.db.name);
    assert_eq!(letters[0]["attempts"], 8);

    let replayed = act(
        &app,
        token(&admin),
        "replay",
        json!({"filter": {"jobId": id}}),
    )
    .await;
    assert_eq!(
        replayed.json::<Value>().await.unwrap(),
        json!({"replayed": 1, "notReplayable": 0})
    );
    let done = app.wait_for_end(token(&user), id, PATIENCE).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(step_results(&done), [json!(6)]);

    // A stale copy dying late neither fails the finished job nor, replayed, reopens it: both
    // happen in the transactions that store and replay it, so their effects are visible here.
    bus.send(&topology.db.dead_letter_queue(), &dead)
        .await
        .unwrap();
    app.wait_for_dead_letters(token(&admin), 1, PATIENCE).await;
    let replayed = act(&app, token(&admin), "replay", json!({"filter": {}})).await;
    assert_eq!(replayed.json::<Value>().await.unwrap()["replayed"], 1);
    let still = app.get_my_jobs(token(&user)).await.remove(0);
    assert_eq!(
        (&still["status"], &still["version"]),
        (&done["status"], &done["version"])
    );
    bus.close().await;
}

/// Publishes `count` messages to `queue` that no handler can parse: each is dead-lettered at
/// once, without retries.
async fn poison(bus: &Bus, queue: &str, count: i64, body: impl Fn(i64) -> Value) {
    for i in 0..count {
        let message = Outgoing::json("poison", &body(i)).unwrap();
        bus.send(queue, &message).await.unwrap();
    }
}

#[tokio::test]
async fn dead_letters_page_newest_first_filter_count_and_go_by_filter() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let admin = token(&admin);
    let topology = app.config.topology();
    let bus = bus(&app).await;
    poison(
        &bus,
        &topology.db.name,
        7,
        |i| json!({"action": "job.nope", "jobId": 100 + i}),
    )
    .await;
    app.wait_for_dead_letters(admin, 7, PATIENCE).await;
    poison(
        &bus,
        &topology.math.name,
        3,
        |i| json!({"jobId": 200 + i, "step": "first"}),
    )
    .await;
    let counts = app.wait_for_dead_letters(admin, 10, PATIENCE).await;
    assert_eq!(
        counts["queues"],
        json!([
            {"queue": topology.rpc.name, "count": 0},
            {"queue": topology.db.name, "count": 7},
            {"queue": topology.math.name, "count": 3}
        ])
    );

    let (all, pages) = app
        .get_all_pages("/admin/dead-letters?limit=3", admin)
        .await;
    assert_eq!((all.len(), pages), (10, 4));
    let ids: Vec<i64> = all.iter().map(|d| d["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert!(
        all[..3].iter().all(|d| d["queue"] == topology.math.name),
        "the math letters came last, so they list first"
    );

    let math = app
        .get_dead_letters(admin, &format!("queue={}", topology.math.name))
        .await;
    assert_eq!(math.len(), 3);
    let one = app.get_dead_letters(admin, "jobId=103").await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["payload"]["action"], "job.nope");
    let unknown_variant = app
        .get_dead_letters(admin, "reason=UNKNOWN%20VARIANT")
        .await;
    assert_eq!(unknown_variant.len(), 7, "case-insensitive substring");
    assert!(unknown_variant
        .iter()
        .all(|d| d["reason"].as_str().unwrap().contains("malformed message")));

    let discarded = act(
        &app,
        admin,
        "discard",
        json!({"filter": {"queue": topology.db.name, "reason": "unknown variant"}}),
    )
    .await;
    assert_eq!(discarded.status(), StatusCode::OK);
    assert_eq!(
        discarded.json::<Value>().await.unwrap(),
        json!({"discarded": 7})
    );
    let ids: Vec<Value> = math[..2].iter().map(|d| d["id"].clone()).collect();
    let discarded = act(&app, admin, "discard", json!({"ids": ids})).await;
    assert_eq!(
        discarded.json::<Value>().await.unwrap(),
        json!({"discarded": 2})
    );
    let left = app.get_dead_letters(admin, "").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["id"], math[2]["id"]);

    // Replayed to the math queue it came from, where it fails again and comes back.
    let replayed = act(&app, admin, "replay", json!({"filter": {}})).await;
    assert_eq!(
        replayed.json::<Value>().await.unwrap(),
        json!({"replayed": 1, "notReplayable": 0})
    );
    app.wait_for_dead_letters(admin, 1, PATIENCE).await;
    let back = app.get_dead_letters(admin, "").await;
    assert!(back[0]["id"].as_i64() > left[0]["id"].as_i64(), "a new row");
    assert_eq!(back[0]["queue"], topology.math.name);
    assert_eq!(back[0]["payload"], left[0]["payload"]);
    bus.close().await;
}

#[tokio::test]
async fn a_dead_user_create_keeps_no_secret_and_refuses_its_replay() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let admin = token(&admin);
    let topology = app.config.topology();
    let bus = bus(&app).await;
    // A registration the db worker cannot read (no lastName): dead-lettered at once.
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$not-a-real-hash-but-a-secret";
    let create = json!({
        "action": "user.create", "requestId": "r-1", "firstName": "Ada",
        "email": "ada@example.com", "passwordHash": hash
    });
    let message = Outgoing::json("user.create", &create).unwrap();
    bus.send(&topology.db.name, &message).await.unwrap();
    app.wait_for_dead_letters(admin, 1, PATIENCE).await;

    let letter = app.get_dead_letters(admin, "").await.remove(0);
    assert_eq!(letter["kind"], "user.create");
    assert_eq!(letter["payload"]["passwordHash"], "[redacted]");
    assert_eq!(letter["payload"]["email"], "ada@example.com");
    let why = letter["notReplayable"].as_str().unwrap();
    assert!(why.contains("passwordHash"), "{why}");
    assert!(
        letter["reason"].as_str().unwrap().contains("lastName"),
        "{letter}"
    );
    let pool = app.pool().await;
    let holding: i64 =
        sqlx::query_scalar("SELECT count(*) FROM dead_letters WHERE payload::text LIKE '%argon2id%' OR traceparent LIKE '%argon2id%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(holding, 0, "the table never holds the hash");
    pool.close().await;

    let refused = act(&app, admin, "replay", json!({"ids": [letter["id"]]})).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("cannot be replayed"),
        "{body}"
    );
    // A filter passes it over and says so.
    let by_filter = act(&app, admin, "replay", json!({"filter": {}})).await;
    assert_eq!(
        by_filter.json::<Value>().await.unwrap(),
        json!({"replayed": 0, "notReplayable": 1})
    );
    let discarded = act(&app, admin, "discard", json!({"ids": [letter["id"]]})).await;
    assert_eq!(
        discarded.json::<Value>().await.unwrap(),
        json!({"discarded": 1})
    );
    assert_eq!(app.get_dead_letter_counts(admin).await["total"], 0);
    bus.close().await;
}

#[tokio::test]
async fn dead_letters_are_for_admins_and_bad_requests_are_named() {
    let app = spawn_app().await;
    let (user, admin) = (app.new_user().await, app.new_admin().await);
    for path in ["/admin/dead-letters", "/admin/dead-letters/counts"] {
        assert_eq!(app.get(path, None).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            app.get(path, Some(token(&user))).await.status(),
            StatusCode::FORBIDDEN
        );
    }
    for action in ["replay", "discard"] {
        let refused = act(&app, token(&user), action, json!({"filter": {}})).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let body: Value = refused.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains("admin role"));
    }

    let admin = token(&admin);
    for (query, expected) in [
        ("queue=nope", vec!["queue"]),
        ("jobId=x&before=-1", vec!["jobId", "before"]),
        ("limit=0&reason=", vec!["reason", "limit"]),
        ("sort=id", vec!["sort"]),
    ] {
        let response = app
            .get(&format!("/admin/dead-letters?{query}"), Some(admin))
            .await;
        assert_eq!(invalid_properties(response).await, expected, "for {query}");
    }
    for (body, expected) in [
        (json!({}), vec!["ids"]),
        (json!({"ids": []}), vec!["ids"]),
        (json!({"ids": [1, "2"]}), vec!["ids"]),
        (json!({"ids": [1], "filter": {}}), vec!["ids"]),
        (
            json!({"filter": {"queue": "nope", "jobId": 0, "colour": "red"}}),
            vec!["filter.colour", "filter.jobId", "filter.queue"],
        ),
        (json!({"filter": []}), vec!["filter"]),
        (json!({"id": 1}), vec!["id", "ids"]),
    ] {
        for action in ["replay", "discard"] {
            let response = act(&app, admin, action, body.clone()).await;
            assert_eq!(
                invalid_properties(response).await,
                expected,
                "{action} {body}"
            );
        }
    }
    let unknown = act(&app, admin, "discard", json!({"ids": [9999, 10000]})).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["statusCode"], 404);
    assert!(
        body["message"].as_str().unwrap().contains("9999, 10000"),
        "{body}"
    );
}

#[tokio::test]
async fn math_fault_fails_a_method_until_a_replay_outlasts_it() {
    // The setting the browser test uses: the built-in math service fails each divide input
    // twice, the workers try twice, so the step dies once and its replay succeeds.
    let app = spawn_app_with(|config| {
        config.math_fault = Some(mom::config::MathFault::parse("divide:2").unwrap());
        config.math_attempts = 2;
    })
    .await;
    let (user, admin) = (app.new_user().await, app.new_admin().await);
    let divide = json!({"type": "math", "details": [
        {"method": "add", "numbers": "40,2"},
        {"method": "divide", "numbers": "84,2"}
    ]});
    let id = order(&app, token(&user), &divide).await;
    let failed = app.wait_for_end(token(&user), id, PATIENCE).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["stepsDone"], 1, "add is not faulted");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("step 2 (divide) failed after 2 attempts"),
        "{failed}"
    );
    app.wait_for_dead_letters(token(&admin), 1, PATIENCE).await;
    let replayed = act(
        &app,
        token(&admin),
        "replay",
        json!({"filter": {"jobId": id}}),
    )
    .await;
    assert_eq!(replayed.status(), StatusCode::OK);
    let done = app.wait_for_end(token(&user), id, PATIENCE).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(step_results(&done), [json!(42), json!(42)]);
}
