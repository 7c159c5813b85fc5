//! Hostile and malformed input: always a clear 4xx naming the problem, never a 5xx or a hang.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

async fn job_error(app: &TestApp, token: &str, body: Value) -> Value {
    let response = app.post_job(token, &body).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "for {body}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn bad_job_requests_are_400_naming_the_field() {
    let app = spawn_app().await;
    let login = app.new_user().await;
    let token = login["accessToken"].as_str().unwrap();
    let step = |method: &str, numbers: Value| json!({"type": "math", "details": [{"method": method, "numbers": numbers}]});
    let cases = [
        (json!({"details": []}), "type", "isDefined"),
        (
            json!({"type": "pdf", "details": [{"method": "add", "numbers": "1"}]}),
            "type",
            "isIn",
        ),
        (
            json!({"type": 5, "details": [{"method": "add", "numbers": "1"}]}),
            "type",
            "isString",
        ),
        (json!({"type": "math"}), "details", "isDefined"),
        (
            json!({"type": "math", "details": []}),
            "details",
            "arrayNotEmpty",
        ),
        (
            json!({"type": "math", "details": "add"}),
            "details",
            "isArray",
        ),
        (step("pow", json!("1,2")), "details.0.method", "isIn"),
        (
            step("divide", json!("1,0")),
            "details.0.numbers",
            "isValidNumbers",
        ),
        (
            step("add", json!("1,abc")),
            "details.0.numbers",
            "isValidNumbers",
        ),
        (
            step("add", json!("")),
            "details.0.numbers",
            "isValidNumbers",
        ),
        (
            step("add", json!("18446744073709551616")),
            "details.0.numbers",
            "isValidNumbers",
        ),
        (
            step("multiply", json!("1e300,1e300")),
            "details.0.numbers",
            "isValidNumbers",
        ),
        (
            step("factors", json!("12,0")),
            "details.0.numbers",
            "isValidNumbers",
        ),
        (
            step("factors", json!("-5")),
            "details.0.numbers",
            "isValidNumbers",
        ),
        (step("add", json!([1, 2])), "details.0.numbers", "isString"),
        (
            step("add", json!("1\u{0},2")),
            "details.0.numbers",
            "isValidNumbers",
        ),
    ];
    for (body, property, rule) in cases {
        let error = job_error(&app, token, body.clone()).await;
        let first = &error["message"][0];
        assert_eq!(first["property"], property, "for {body}: {error}");
        assert!(
            first["constraints"][rule].is_string(),
            "for {body}: {error}"
        );
    }
    let many: Vec<Value> = (0..101).map(|_| json!(1)).collect();
    let numbers = many
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let error = job_error(&app, token, step("add", json!(numbers))).await;
    assert!(error["message"][0]["constraints"]["isValidNumbers"]
        .as_str()
        .unwrap()
        .contains("too many numbers"));
    assert!(
        app.get_my_jobs(token).await.is_empty(),
        "nothing was stored"
    );
}

#[tokio::test]
async fn malformed_bodies_and_unknown_routes_get_json_errors() {
    let app = spawn_app().await;
    let raw = |body: &'static str| {
        app.client
            .post(app.url("/register"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for body in ["{not json", "[1,2]", "\"text\"", ""] {
        let response = raw(body).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "for {body:?}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["message"].as_str().unwrap().contains("JSON"),
            "{error}"
        );
    }
    let huge = "x".repeat(200 * 1024);
    let response = app.post_register(&json!({"firstName": huge})).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // The unread rest of the body must not poison the kept-alive connection.
    assert_eq!(response.headers()["connection"], "close");
    let response = app
        .post("/job", &json!({"details": huge}), Some("not-a-token"))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["connection"], "close");
    let ok = app.get("/", None).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.headers().get("connection").is_none_or(|v| v != "close"));

    let response = app.get("/no-such-route", None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"statusCode": 404, "error": "Not Found", "message": "Cannot GET /no-such-route"})
    );
    let response = app.client.delete(app.url("/job")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.json::<Value>().await.unwrap()["statusCode"], 405);
}

#[tokio::test]
async fn hostile_registrations_are_refused_cleanly() {
    let app = spawn_app().await;
    let cases = [
        json!({"firstName": "A\u{7}", "lastName": "B", "email": "a@x.io", "password": "pw"}),
        json!({"firstName": "A", "lastName": "B", "email": "a\n@x.io", "password": "pw"}),
        json!({"firstName": "A", "lastName": "B", "email": "a@x.io", "password": "p".repeat(300)}),
        json!({"firstName": ["A"], "lastName": {}, "email": 3, "password": null}),
        json!({"firstName": "A".repeat(101), "lastName": "B", "email": "a@x.io", "password": "pw"}),
    ];
    for body in cases {
        let response = app.post_register(&body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "for {body}");
    }
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let spec: Value = response.json().await.unwrap();
    for path in [
        "/register",
        "/login",
        "/logout",
        "/renew-token",
        "/auth-test",
        "/user",
        "/job",
        "/job/my",
        "/job/{id}",
        "/job/{id}/cancel",
        "/system/queues",
        "/system/history",
        "/admin/jobs",
        "/admin/dead-letters",
        "/admin/dead-letters/counts",
        "/admin/dead-letters/replay",
        "/admin/dead-letters/discard",
        "/metrics",
        "/health",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} is not documented");
    }
}
