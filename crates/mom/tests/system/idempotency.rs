//! `Idempotency-Key` on writes: a retried request gets the first outcome, never a second row.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

async fn created(response: Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// A 422 whose field error names the header.
async fn assert_key_reused(response: Response) {
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["statusCode"], 422, "{body}");
    assert_eq!(body["message"][0]["property"], "Idempotency-Key", "{body}");
    assert!(
        body["message"][0]["constraints"]["isSameRequest"].is_string(),
        "{body}"
    );
}

/// Every response is a 201 with the same `id`; returns it.
async fn same_id(responses: Vec<Response>) -> Value {
    let mut ids = Vec::new();
    for response in responses {
        ids.push(created(response).await["id"].clone());
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    ids.swap_remove(0)
}

fn registration(email: &str, password: &str) -> Value {
    json!({"firstName": "Grace", "lastName": "Hopper", "email": email, "password": password})
}

#[tokio::test]
async fn the_same_key_and_body_answer_the_same_job_once() {
    let app = spawn_app().await;
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap();
    let key = unique_id();

    let first = created(
        app.post_with_key("/job", &math_job(), Some(token), &key)
            .await,
    )
    .await;
    // The same job in another spelling of the numbers is the same request.
    let mut respelled = math_job();
    respelled["details"][0]["numbers"] = json!(" 1, 2 ,3");
    let second = created(
        app.post_with_key("/job", &respelled, Some(token), &key)
            .await,
    )
    .await;
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["owner"]["id"], login["id"]);

    let id = first["id"].as_i64().unwrap();
    let done = app.wait_for_end(token, id, Duration::from_secs(20)).await;
    assert_eq!(done["status"], "done");
    // After the job ended, the key still answers it, now with its results.
    let third = created(
        app.post_with_key("/job", &math_job(), Some(token), &key)
            .await,
    )
    .await;
    assert_eq!(third["id"], first["id"]);
    assert_eq!(third["status"], "done");
    assert_eq!(app.get_my_jobs(token).await.len(), 1);
}

#[tokio::test]
async fn racing_requests_with_one_key_create_one_job() {
    let app = spawn_app().await;
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap();
    let key = unique_id();
    let body = math_job();

    let responses =
        join_all((0..8).map(|_| app.post_with_key("/job", &body, Some(token), &key))).await;
    let id = same_id(responses).await;
    let mine = app.get_my_jobs(token).await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    let done = app
        .wait_for_end(token, id.as_i64().unwrap(), Duration::from_secs(20))
        .await;
    assert_eq!(done["stepsDone"], 3, "each step recorded once: {done}");
}

#[tokio::test]
async fn a_key_reused_for_another_body_is_422_and_changes_nothing() {
    let app = spawn_app().await;
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap();
    let key = unique_id();
    created(
        app.post_with_key("/job", &math_job(), Some(token), &key)
            .await,
    )
    .await;

    let mut other = math_job();
    other["details"][0]["numbers"] = json!("1,2,4");
    assert_key_reused(app.post_with_key("/job", &other, Some(token), &key).await).await;
    let shorter = json!({"type": "math", "details": [{"method": "add", "numbers": "1,2,3"}]});
    assert_key_reused(app.post_with_key("/job", &shorter, Some(token), &key).await).await;
    assert_eq!(app.get_my_jobs(token).await.len(), 1);
}

#[tokio::test]
async fn keys_are_scoped_to_the_caller() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    let bob = app.new_user().await;
    let key = "the-same-key";
    let a = created(
        app.post_with_key("/job", &math_job(), alice["accessToken"].as_str(), key)
            .await,
    )
    .await;
    let b = created(
        app.post_with_key("/job", &math_job(), bob["accessToken"].as_str(), key)
            .await,
    )
    .await;
    assert_ne!(a["id"], b["id"]);
    assert_eq!(b["owner"]["id"], bob["id"]);
    // Unkeyed requests are separate jobs, as before.
    let token = alice["accessToken"].as_str().unwrap();
    created(app.post_job(token, &math_job()).await).await;
    created(app.post_job(token, &math_job()).await).await;
    assert_eq!(app.get_my_jobs(token).await.len(), 3);
}

#[tokio::test]
async fn a_key_outlives_a_restart_of_the_whole_system() {
    let app = spawn_app().await;
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap().to_owned();
    let key = unique_id();
    let first = created(
        app.post_with_key("/job", &math_job(), Some(&token), &key)
            .await,
    )
    .await;
    let config = app.stop().await;

    let app = spawn_app_from(config).await;
    let again = created(
        app.post_with_key("/job", &math_job(), Some(&token), &key)
            .await,
    )
    .await;
    assert_eq!(again["id"], first["id"]);
    assert_eq!(app.get_my_jobs(&token).await.len(), 1);
}

#[tokio::test]
async fn registering_twice_with_one_key_is_the_same_user_not_a_conflict() {
    let app = spawn_app().await;
    let email = format!("grace-{}@example.com", unique_id());
    let body = registration(&email, "cobol-1959");
    let key = unique_id();

    let first = created(app.post_with_key("/register", &body, None, &key).await).await;
    let second = created(app.post_with_key("/register", &body, None, &key).await).await;
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["email"], email);
    assert!(second.get("password").is_none());
    // POST /user shares the scope: the same registration, the same user.
    let third = created(app.post_with_key("/user", &body, None, &key).await).await;
    assert_eq!(third["id"], first["id"]);
    // Without the key it is a second registration of a taken email, as always.
    let conflict = app.post_register(&body).await;
    assert_eq!(conflict.status(), StatusCode::CONFLICT);

    // The same key with another password or another email is another request.
    let other_password = registration(&email, "fortran-1957");
    assert_key_reused(
        app.post_with_key("/register", &other_password, None, &key)
            .await,
    )
    .await;
    let other_email = registration(&format!("x-{email}"), "cobol-1959");
    assert_key_reused(
        app.post_with_key("/register", &other_email, None, &key)
            .await,
    )
    .await;
    let login = app.post_login(&email, "cobol-1959").await;
    assert_eq!(
        login.status(),
        StatusCode::CREATED,
        "the first password holds"
    );
}

#[tokio::test]
async fn racing_registrations_with_one_key_create_one_user() {
    let app = spawn_app().await;
    let email = format!("race-{}@example.com", unique_id());
    let body = registration(&email, "pw-race-1");
    let key = unique_id();
    let responses =
        join_all((0..8).map(|_| app.post_with_key("/register", &body, None, &key))).await;
    same_id(responses).await;
}

#[tokio::test]
async fn malformed_keys_are_400_naming_the_header() {
    let app = spawn_app().await;
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap();
    let too_long = "k".repeat(201);
    for key in ["", "   ", too_long.as_str(), "a\tb"] {
        for (path, body, token) in [
            ("/job", math_job(), Some(token)),
            ("/register", registration("k@example.com", "pw-key-1"), None),
        ] {
            let response = app.post_with_key(path, &body, token, key).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path} {key:?}");
            let error: Value = response.json().await.unwrap();
            assert_eq!(
                error["message"][0]["property"], "Idempotency-Key",
                "{error}"
            );
            assert!(error["message"][0]["constraints"]["isIdempotencyKey"].is_string());
        }
    }
    let non_ascii = app
        .client
        .post(app.url("/job"))
        .header("Authorization", token)
        .header(
            "Idempotency-Key",
            reqwest::header::HeaderValue::from_bytes(b"cl\xc3\xa9").unwrap(),
        )
        .json(&math_job())
        .send()
        .await
        .unwrap();
    assert_eq!(non_ascii.status(), StatusCode::BAD_REQUEST);
    assert!(
        app.get_my_jobs(token).await.is_empty(),
        "nothing was stored"
    );
}

#[tokio::test]
async fn browsers_on_another_origin_may_send_the_key() {
    let app = spawn_app().await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/job"))
        .header("Origin", "http://localhost:9090")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type,idempotency-key",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let allowed = preflight
        .headers()
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(allowed.contains("idempotency-key"), "{allowed}");
}
