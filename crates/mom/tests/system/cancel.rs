//! `POST /job/{id}/cancel`: who may cancel, what a finished job answers, retries with an
//! `Idempotency-Key`, and the cancel reaching the math call on the wire.

use std::time::Duration;

use mom::domain::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::gated_math::GatedMath;
use crate::helpers::*;
use crate::pipeline::{gated_app, order_math_job};

fn token(login: &Value) -> String {
    login["accessToken"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_cancel_aborts_the_math_call_in_flight_and_no_later_step_runs() {
    let math = GatedMath::start().await;
    let app = gated_app(&math, |_| {}).await;
    let (token, id) = order_math_job(&app).await;
    math.wait_holding(1).await;
    let before = app.get_job(&token, id).await;

    let response = app.post_cancel(&token, &id.to_string(), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cancelled: Value = response.json().await.unwrap();
    assert_eq!(cancelled["id"], id);
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["done"], false);
    assert_eq!(cancelled["error"], "cancelled by its owner");
    assert!(cancelled["finishedAt"].is_string(), "{cancelled}");
    assert!(cancelled["version"].as_i64() > before["version"].as_i64());

    // The worker dropped the call: the math service saw its client go away, not an answer.
    math.wait_aborted(1).await;
    assert_eq!(math.answered(), 0);
    assert_eq!(app.get_job(&token, id).await["status"], "cancelled");
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.lines().any(|line| line
            .strip_prefix("mom_math_steps_dropped_total{when=\"in_flight\"} ")
            .is_some_and(|n| n.parse::<f64>().unwrap() >= 1.0)),
        "the abort is counted"
    );

    // With the gate open, a later job goes all the way through; by then a step of the
    // cancelled job that was still coming would have called too.
    math.open.send(true).unwrap();
    let later = app
        .post_job(
            &token,
            &json!({"type": "math", "details": [{"method": "add", "numbers": "40,2"}]}),
        )
        .await;
    assert_eq!(later.status(), StatusCode::CREATED);
    let later_id = later.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let done = app
        .wait_for_end(&token, later_id, Duration::from_secs(30))
        .await;
    assert_eq!(done["status"], "done");
    assert_eq!(
        math.paths(),
        ["add/1,2,3", "add/40,2"],
        "the cancelled job's first step was called once, and no later step at all"
    );
    let after = app.get_job(&token, id).await;
    assert_eq!(after["status"], "cancelled");
    assert_eq!(after["stepsDone"], 0);
    assert_eq!(
        after["version"], cancelled["version"],
        "nothing changed it since"
    );

    // Cancelling again: it has ended, and the answer says how.
    let again = app.post_cancel(&token, &id.to_string(), None).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["statusCode"], 409);
    assert_eq!(body["status"], "cancelled");
    assert!(
        body["message"].as_str().unwrap().contains("cancelled"),
        "{body}"
    );

    let listed = app.get("/job/my?status=cancelled", Some(&token)).await;
    assert_eq!(listed.status(), StatusCode::OK);
    let listed: Vec<Value> = listed.json().await.unwrap();
    let ids: Vec<&Value> = listed.iter().map(|job| &job["id"]).collect();
    assert_eq!(ids, [&json!(id)]);
}

#[tokio::test]
async fn another_users_job_an_unknown_id_and_a_malformed_id_are_the_same_404() {
    let math = GatedMath::start().await;
    let app = gated_app(&math, |_| {}).await;
    let (alice, id) = order_math_job(&app).await;
    let bob = token(&app.new_user().await);

    let mut bodies = Vec::new();
    for raw in [
        id.to_string(),
        "999999".into(),
        "abc".into(),
        "0".into(),
        "-1".into(),
        "1.5".into(),
        "99999999999".into(),
        "%20".into(),
    ] {
        let cancel = app.post_cancel(&bob, &raw, None).await;
        assert_eq!(cancel.status(), StatusCode::NOT_FOUND, "cancel {raw}");
        bodies.push(cancel.json::<Value>().await.unwrap());
        let read = app.get(&format!("/job/{raw}"), Some(&bob)).await;
        assert_eq!(read.status(), StatusCode::NOT_FOUND, "read {raw}");
        bodies.push(read.json::<Value>().await.unwrap());
    }
    let expected = json!({"statusCode": 404, "error": "Not Found", "message": "job not found"});
    assert!(bodies.iter().all(|b| b == &expected), "{bodies:?}");

    let anonymous = app
        .client
        .post(app.url(&format!("/job/{id}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let job = app.get_job(&alice, id).await;
    assert_ne!(job["status"], "cancelled", "nobody but alice touched it");
}

#[tokio::test]
async fn an_admin_cancels_anyones_job_and_finds_it_by_status() {
    let math = GatedMath::start().await;
    let app = gated_app(&math, |_| {}).await;
    let (owner, id) = order_math_job(&app).await;
    let admin = app.new_user().await;
    mom::roles::set(&app.config, admin["email"].as_str().unwrap(), Role::Admin)
        .await
        .unwrap();
    let admin = token(&admin);

    assert_eq!(app.get_job(&admin, id).await["status"], "queued");
    let response = app.post_cancel(&admin, &id.to_string(), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cancelled: Value = response.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["error"], "cancelled by an admin");
    assert_eq!(app.get_job(&owner, id).await["status"], "cancelled");

    let found = app.get("/admin/jobs?status=cancelled", Some(&admin)).await;
    assert_eq!(found.status(), StatusCode::OK);
    let found: Vec<Value> = found.json().await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["id"], id);
    math.wait_aborted(1).await;
}

#[tokio::test]
async fn a_finished_job_is_a_409_naming_its_status() {
    let app = spawn_app().await;
    let login = app.new_user().await;
    let token = token(&login);
    let owner = login["id"].as_i64().unwrap();
    for status in ["done", "failed"] {
        let seeded = SeededJob {
            status,
            error: (status == "failed").then_some("step 1 (add) failed: no"),
            ..SeededJob::default()
        };
        app.insert_jobs(owner, 1, seeded).await;
        let id = app.get_my_jobs(&token).await[0]["id"].as_i64().unwrap();
        let response = app.post_cancel(&token, &id.to_string(), None).await;
        assert_eq!(response.status(), StatusCode::CONFLICT, "{status}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], status);
        assert_eq!(
            body["message"],
            format!("job {id} has already ended: it is {status}")
        );
        assert_eq!(app.get_job(&token, id).await["status"], status);
    }
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_gets_the_first_outcome() {
    let math = GatedMath::start().await;
    let app = gated_app(&math, |_| {}).await;
    let (token, first) = order_math_job(&app).await;
    let second = app.post_job(&token, &math_job()).await;
    let second = second.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();

    let key = format!("cancel-{}", unique_id());
    let once = app
        .post_cancel(&token, &first.to_string(), Some(&key))
        .await;
    assert_eq!(once.status(), StatusCode::OK);
    let once: Value = once.json().await.unwrap();
    let again = app
        .post_cancel(&token, &first.to_string(), Some(&key))
        .await;
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "a retry is answered as the first"
    );
    assert_eq!(again.json::<Value>().await.unwrap(), once);

    // The key names that cancel: using it for another job is refused, and changes nothing.
    let reused = app
        .post_cancel(&token, &second.to_string(), Some(&key))
        .await;
    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = reused.json().await.unwrap();
    assert_eq!(body["message"][0]["property"], "Idempotency-Key");
    assert_ne!(app.get_job(&token, second).await["status"], "cancelled");

    // Without a key, a second cancel is a new request and the job has ended.
    let unkeyed = app.post_cancel(&token, &first.to_string(), None).await;
    assert_eq!(unkeyed.status(), StatusCode::CONFLICT);
    let malformed = app
        .post_cancel(&token, &second.to_string(), Some(&"k".repeat(201)))
        .await;
    assert_eq!(
        invalid_properties(malformed).await,
        ["Idempotency-Key"],
        "a bad key is named before anything is written"
    );
    assert_ne!(app.get_job(&token, second).await["status"], "cancelled");
}
