//! Login and register attempts are limited per e-mail and per client address (429 with
//! `Retry-After`), and browsers may call the API only from the configured origins.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, unique_id};

fn email() -> String {
    format!("user-{}@example.com", unique_id())
}

async fn assert_limited(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=60).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["statusCode"], 429);
    assert_eq!(body["error"], "Too Many Requests");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(what), "{message}");
}

#[tokio::test]
async fn logins_past_the_per_email_limit_are_429_for_that_email_only() {
    let app = spawn_app_with(|config| config.attempt_limits.per_email = 3).await;
    let ada = email();
    app.register_and_login(&ada).await; // 2 attempts for ada: register and login.
    assert_eq!(
        app.post_login(&ada, "wrong-pw").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The 4th attempt is refused before any password is checked, the right one too.
    assert_limited(app.post_login(&ada, "s3cret-pw").await, "e-mail").await;
    // Another e-mail from the same address is untouched.
    app.register_and_login(&email()).await;
    app.stop().await;
}

#[tokio::test]
async fn attempts_past_the_per_address_limit_are_429_whatever_the_email() {
    let app = spawn_app_with(|config| config.attempt_limits.per_address = 4).await;
    app.register_and_login(&email()).await;
    app.register_and_login(&email()).await;
    let fifth = app
        .post_register(
            &json!({"firstName": "A", "lastName": "B", "email": email(), "password": "s3cret-pw"}),
        )
        .await;
    assert_limited(fifth, "address").await;
    assert_limited(app.post_login(&email(), "s3cret-pw").await, "address").await;
    app.stop().await;
}

#[tokio::test]
async fn a_limit_of_zero_is_off() {
    let app = spawn_app_with(|config| {
        config.attempt_limits.per_email = 0;
        config.attempt_limits.per_address = 0;
    })
    .await;
    let ada = email();
    app.register_and_login(&ada).await;
    for _ in 0..12 {
        assert_eq!(
            app.post_login(&ada, "wrong-pw").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    app.stop().await;
}

/// Without `CORS_ORIGINS`, the panel's origin — any host on the panel's port — and no other.
#[tokio::test]
async fn by_default_only_the_panels_origin_may_call_from_a_browser() {
    let app = spawn_app_with(|_| {}).await;
    let panel = format!("http://localhost:{}", app.addresses.panel.port());
    for (origin, allowed) in [(panel.as_str(), true), ("https://evil.example", false)] {
        let response = app
            .client
            .request(reqwest::Method::OPTIONS, app.url("/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .unwrap();
        let echoed = response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            echoed.as_deref() == Some(origin),
            allowed,
            "{origin}: {echoed:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn configured_origins_replace_the_default() {
    let app = spawn_app_with(|config| {
        config.cors_origins = "https://ops.example".parse().unwrap();
    })
    .await;
    let asked = |origin: &'static str| {
        app.client
            .get(app.url("/health"))
            .header("origin", origin)
            .send()
    };
    let ops = asked("https://ops.example").await.unwrap();
    assert_eq!(
        ops.headers()["access-control-allow-origin"],
        "https://ops.example"
    );
    let panel = format!("http://localhost:{}", app.addresses.panel.port());
    let other = app
        .client
        .get(app.url("/health"))
        .header("origin", panel)
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    app.stop().await;
}
