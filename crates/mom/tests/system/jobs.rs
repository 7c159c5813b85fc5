//! The life of a math job through api, db worker, math worker and math service.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn a_three_step_job_completes_with_exact_results() {
    let app = spawn_app().await;
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap();

    let response = app.post_job(token, &math_job()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let job: Value = response.json().await.unwrap();
    assert_eq!(job["type"], "math");
    assert_eq!(job["done"], false);
    assert_eq!(job["status"], "queued");
    assert_eq!(job["version"], 1);
    assert_eq!(job["stepsTotal"], 3);
    assert_eq!(job["owner"]["id"], login["id"]);
    assert_eq!(
        job["details"][0],
        json!({"method": "add", "numbers": "1,2,3"})
    );

    let done = app
        .wait_for_end(token, job["id"].as_i64().unwrap(), Duration::from_secs(20))
        .await;
    assert_eq!(done["status"], "done");
    assert_eq!(done["done"], true);
    assert_eq!(done["stepsDone"], 3);
    let results = step_results(&done);
    assert_eq!(results, vec![json!(6), json!(24), json!([[2, 3], [97]])]);
    assert!(
        done.get("owner").is_none(),
        "/job/my has no owner, as in the seed"
    );
    assert!(done["finishedAt"].is_string());
}

#[tokio::test]
async fn results_are_exact_and_correct_where_the_seed_was_not() {
    let app = spawn_app().await;
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap();
    let body = json!({"type": "math", "details": [
        {"method": "subtract", "numbers": "10,3"},
        {"method": "multiply", "numbers": "4294967296,4294967295"},
        {"method": "factors", "numbers": "561,18446744073709551557"},
        {"method": "divide", "numbers": "7,2"}
    ]});
    let job: Value = app.post_job(token, &body).await.json().await.unwrap();
    let done = app
        .wait_for_end(token, job["id"].as_i64().unwrap(), Duration::from_secs(20))
        .await;
    let results = step_results(&done);
    assert_eq!(
        results,
        vec![
            json!(7),
            json!("18446744069414584320"),
            json!([[3, 11, 17], ["18446744073709551557"]]),
            json!(3.5)
        ]
    );
}

#[tokio::test]
async fn integer_results_of_any_size_are_exact_and_lossless_for_javascript() {
    let app = spawn_app().await;
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap();
    let body = json!({"type": "math", "details": [
        {"method": "multiply", "numbers": "99999999999,99999999999"},
        {"method": "add", "numbers": "9007199254740990,1"},
        {"method": "add", "numbers": "9007199254740991,1"},
        {"method": "subtract", "numbers": "-9223372036854775808,18446744073709551615"},
        {"method": "divide", "numbers": "18446744073709551615,3"}
    ]});
    let response = app.post_job(token, &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let job: Value = response.json().await.unwrap();
    let done = app
        .wait_for_end(token, job["id"].as_i64().unwrap(), Duration::from_secs(20))
        .await;
    assert_eq!(done["status"], "done", "{done}");
    let results = step_results(&done);
    // Safe integers stay JSON numbers (the seed's shape); larger ones are decimal strings.
    assert_eq!(
        results,
        vec![
            json!("9999999999800000000001"),
            json!(9007199254740991u64),
            json!("9007199254740992"),
            json!("-27670116110564327423"),
            json!("6148914691236517205"),
        ]
    );
}

#[tokio::test]
async fn jobs_are_private_and_listed_newest_first() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    let bob = app.new_user().await;
    let (a, b) = (
        alice["accessToken"].as_str().unwrap(),
        bob["accessToken"].as_str().unwrap(),
    );
    let first: Value = app.post_job(a, &math_job()).await.json().await.unwrap();
    let second: Value = app.post_job(a, &math_job()).await.json().await.unwrap();
    let mine = app.get_my_jobs(a).await;
    assert_eq!(
        mine.iter().map(|j| j["id"].clone()).collect::<Vec<_>>(),
        vec![second["id"].clone(), first["id"].clone()]
    );
    assert!(
        app.get_my_jobs(b).await.is_empty(),
        "bob never sees alice's jobs"
    );
}

#[tokio::test]
async fn a_job_whose_math_service_is_unreachable_fails_with_a_reason_and_a_dead_letter() {
    // Port 1 on loopback refuses connections: the external service is down.
    let app = spawn_app_with(|config| {
        config.math_url = "http://127.0.0.1:1".into();
        config.math_attempts = 3;
    })
    .await;
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap();
    let job: Value = app.post_job(token, &math_job()).await.json().await.unwrap();
    let failed = app
        .wait_for_end(token, job["id"].as_i64().unwrap(), Duration::from_secs(20))
        .await;
    assert_eq!(failed["status"], "failed");
    let reason = failed["error"].as_str().unwrap();
    assert!(
        reason.contains("step 1 (add) failed after 3 attempts") && reason.contains("unreachable"),
        "{reason}"
    );

    // The step's dead letter is kept where admins find it, named by its job.
    let admin = app.new_admin().await;
    let admin = admin["accessToken"].as_str().unwrap();
    app.wait_for_dead_letters(admin, 1, Duration::from_secs(20))
        .await;
    let dead = app.get_dead_letters(admin, "").await;
    assert_eq!(dead[0]["jobId"], job["id"]);
    assert_eq!(dead[0]["queue"], app.config.topology().math.name);
}
