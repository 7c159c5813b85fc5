//! Registration, login and sessions, with the seed's statuses and bodies.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn register_answers_the_safe_user_and_refuses_a_taken_email() {
    let app = spawn_app().await;
    let body = json!({"firstName": "Ada", "lastName": "Lovelace", "email": "Ada@Example.com", "password": "pw", "admin": true});
    let response = app.post_register(&body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["firstName"], "Ada");
    assert!(user["id"].as_i64().unwrap() > 0);
    assert!(
        user.get("password").is_none() && user.get("admin").is_none(),
        "{user}"
    );
    assert!(user["createdAt"].as_str().unwrap().ends_with('Z'));

    let again = app.post_register(&json!({"firstName": "A", "lastName": "B", "email": "ADA@example.com", "password": "x"})).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(
        again.json::<Value>().await.unwrap(),
        json!({"statusCode": 409, "error": "Conflict", "message": "Email is already used."})
    );
}

#[tokio::test]
async fn register_names_every_invalid_field() {
    let app = spawn_app().await;
    let response = app
        .post_register(&json!({"firstName": "", "email": "not-an-email", "password": ""}))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["statusCode"], 400);
    assert_eq!(body["error"], "Bad Request");
    let properties: Vec<&str> = body["message"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["property"].as_str().unwrap())
        .collect();
    assert_eq!(properties, ["firstName", "lastName", "email", "password"]);
    assert_eq!(
        body["message"][2]["constraints"]["isEmail"],
        "email must be an email"
    );
    assert!(
        body["message"][1].get("value").is_none(),
        "missing values are absent"
    );
}

#[tokio::test]
async fn login_answers_the_login_object_with_millisecond_times() {
    let app = spawn_app().await;
    let login = app.new_user().await;
    for field in [
        "id",
        "firstName",
        "lastName",
        "email",
        "createdAt",
        "updatedAt",
        "iat",
        "exp",
        "accessToken",
    ] {
        assert!(login.get(field).is_some(), "missing {field} in {login}");
    }
    let (iat, exp) = (
        login["iat"].as_i64().unwrap(),
        login["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 360_000, "iat/exp in milliseconds, 360 s apart");
    assert!((iat - chrono::Utc::now().timestamp_millis()).abs() < 60_000);
    let claims = jwt_claims(login["accessToken"].as_str().unwrap());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        360,
        "claims in seconds"
    );
    assert_eq!(claims["id"], login["id"]);
    assert_eq!(claims["email"], login["email"]);
}

#[tokio::test]
async fn bad_credentials_get_a_bare_401() {
    let app = spawn_app().await;
    let login = app.new_user().await;
    let email = login["email"].as_str().unwrap();
    for (email, password) in [(email, "wrong"), ("nobody@example.com", "s3cret-pw")] {
        let response = app.post_login(email, password).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"statusCode": 401, "error": "Unauthorized"})
        );
    }
    let empty = app.post_login(email, "").await;
    assert_eq!(
        empty.status(),
        StatusCode::BAD_REQUEST,
        "an empty password is a 400, not the seed's 500"
    );
}

#[tokio::test]
async fn tokens_are_checked_like_the_seed_and_bearer_is_accepted() {
    let app = spawn_app().await;
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap();

    let raw = app.get("/auth-test", Some(token)).await;
    assert_eq!(raw.status(), StatusCode::OK);
    let body: Value = raw.json().await.unwrap();
    assert_eq!(body[0], "Authorized user!");
    assert_eq!(body[1]["id"], login["id"]);
    let bearer = app
        .get("/auth-test", Some(&format!("Bearer {token}")))
        .await;
    assert_eq!(bearer.status(), StatusCode::OK);

    let cases = [
        (
            None,
            json!({"name": "JsonWebTokenError", "message": "jwt must be provided"}),
        ),
        (
            Some("garbage"),
            json!({"name": "JsonWebTokenError", "message": "jwt malformed"}),
        ),
    ];
    for (header, message) in cases {
        let response = app.get("/auth-test", header).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"statusCode": 401, "error": "Unauthorized", "message": message})
        );
    }
    let tampered = format!("{}x", &token[..token.len() - 1]);
    let response = app.get("/auth-test", Some(&tampered)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn renew_supersedes_the_old_token_and_logout_revokes() {
    let app = spawn_app().await;
    let login = app.new_user().await;
    let old = login["accessToken"].as_str().unwrap().to_owned();

    let renewed = app.get("/renew-token", Some(&old)).await;
    assert_eq!(renewed.status(), StatusCode::OK);
    let renewed: Value = renewed.json().await.unwrap();
    let new = renewed["accessToken"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(
        renewed["exp"].as_i64().unwrap() - renewed["iat"].as_i64().unwrap(),
        360_000
    );

    let stale = app.get("/auth-test", Some(&old)).await;
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        stale.json::<Value>().await.unwrap()["message"],
        json!({"message": "Old Token"})
    );
    assert_eq!(
        app.get("/auth-test", Some(&new)).await.status(),
        StatusCode::OK
    );

    let logout = app.get("/logout", Some(&new)).await;
    assert_eq!(logout.status(), StatusCode::OK);
    assert_eq!(
        logout.json::<Value>().await.unwrap(),
        json!({"success": true})
    );
    assert_eq!(
        app.get("/auth-test", Some(&new)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/logout", Some(&new)).await.status(),
        StatusCode::UNAUTHORIZED,
        "a second logout is refused"
    );
}

#[tokio::test]
async fn sessions_are_independent_per_login() {
    let app = spawn_app().await;
    let first = app.new_user().await;
    let email = first["email"].as_str().unwrap();
    let second: Value = app
        .post_login(email, "s3cret-pw")
        .await
        .json()
        .await
        .unwrap();
    let (a, b) = (
        first["accessToken"].as_str().unwrap(),
        second["accessToken"].as_str().unwrap(),
    );
    assert_eq!(app.get("/logout", Some(a)).await.status(), StatusCode::OK);
    assert_eq!(
        app.get("/auth-test", Some(b)).await.status(),
        StatusCode::OK,
        "logging out one browser keeps the other"
    );
}

#[tokio::test]
async fn user_list_needs_a_token_and_never_shows_passwords() {
    let app = spawn_app().await;
    assert_eq!(
        app.get("/user", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let login = app.new_user().await;
    let created = app
        .post("/user", &json!({"firstName": "Bob", "lastName": "B", "email": "bob@example.com", "password": "pw"}), None)
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let users: Vec<Value> = app
        .get("/user", login["accessToken"].as_str())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(users.len(), 2);
    for user in &users {
        assert_eq!(user.as_object().unwrap().len(), 6, "{user}");
    }
}
