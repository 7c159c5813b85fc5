//! The math service over HTTP: through `oneshot` for the routes and error shapes, and once over a
//! real socket with a real delay.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::http::{header, Method, Request, StatusCode};
use mom_math::{call_counts, router, MathConfig, MAX_NUMBERS_LEN};
use serde_json::{json, Value};
use tower::ServiceExt;

/// A response's status, content type and body text.
struct Reply {
    status: StatusCode,
    content_type: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn request(method: Method, uri: &str) -> Reply {
    request_to(
        MathConfig {
            max_delay: Duration::ZERO,
            fail_percent: 0,
        },
        method,
        uri,
    )
    .await
}

async fn request_to(config: MathConfig, method: Method, uri: &str) -> Reply {
    let app = router(config);
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    Reply {
        status,
        content_type,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

async fn get(uri: &str) -> Reply {
    request(Method::GET, uri).await
}

async fn assert_ok(uri: &str, body: &str) {
    let reply = get(uri).await;
    assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.body);
    assert_eq!(reply.content_type, "application/json", "{uri}");
    assert_eq!(reply.body, body, "{uri}");
}

async fn assert_error(uri: &str, status: StatusCode, message: &str) {
    let reply = get(uri).await;
    assert_eq!(reply.status, status, "{uri}: {}", reply.body);
    assert_eq!(reply.content_type, "application/json", "{uri}");
    assert_eq!(
        reply.json(),
        json!({
            "statusCode": status.as_u16(),
            "error": status.canonical_reason().unwrap(),
            "message": message,
        }),
        "{uri}"
    );
}

#[tokio::test]
async fn results_are_the_bare_json_value() {
    assert_ok("/add/1,2,3", "6").await;
    assert_ok("/multiply/2,3,4", "24").await;
    assert_ok("/subtract/10,3", "7").await;
    assert_ok("/divide/8,2", "4").await;
    assert_ok("/divide/7,2", "3.5").await;
    assert_ok("/factors/12,97", "[[2,3],[97]]").await;
    assert_ok("/factors/561,1", "[[3,11,17],[]]").await;
    assert_ok("/add/9007199254740990,1", "9007199254740991").await;
}

#[tokio::test]
async fn integers_beyond_2_pow_53_are_exact_decimal_strings() {
    assert_ok("/add/9007199254740992,1", r#""9007199254740993""#).await;
    assert_ok(
        "/multiply/4294967296,4294967295",
        r#""18446744069414584320""#,
    )
    .await;
    assert_ok(
        "/multiply/99999999999,99999999999",
        r#""9999999999800000000001""#,
    )
    .await;
    assert_ok(
        "/subtract/-9223372036854775808,18446744073709551615",
        r#""-27670116110564327423""#,
    )
    .await;
    assert_ok("/divide/18446744073709551615,5", r#""3689348814741910323""#).await;
    assert_ok("/divide/18014398509481984,4", "4503599627370496").await;
    assert_ok(
        "/factors/18446744073709551557,4294967296",
        r#"[["18446744073709551557"],[2]]"#,
    )
    .await;
    assert_ok(
        "/factors/18446744073709551615",
        "[[3,5,17,257,641,65537,6700417]]",
    )
    .await;
}

#[tokio::test]
async fn percent_encoded_whitespace_is_allowed() {
    assert_ok("/add/%201%20,%092", "3").await;
}

#[tokio::test]
async fn bad_numbers_are_400_with_the_reason() {
    let bad = StatusCode::BAD_REQUEST;
    assert_error("/divide/1,0", bad, "division by zero").await;
    assert_error("/add/1,abc", bad, r#""abc" is not a number"#).await;
    assert_error("/add/NaN", bad, r#""NaN" is not a number"#).await;
    assert_error(
        "/add/1,,2",
        bad,
        "number 2 is empty; write numbers like 1,2,3",
    )
    .await;
    assert_error("/add", bad, "no numbers given").await;
    assert_error("/add/", bad, "no numbers given").await;
    assert_error(
        "/multiply/1e300,1e300",
        bad,
        "result is too large for a decimal (a 64-bit float)",
    )
    .await;
    assert_error(
        "/factors/12,0",
        bad,
        "cannot factor 0: zero has no prime factorization",
    )
    .await;
    assert_error(
        "/factors/12,-5",
        bad,
        "cannot factor -5: negative numbers have no prime factors",
    )
    .await;
    assert_error("/add/1%2F2", bad, r#""1/2" is not a number"#).await;
}

#[tokio::test]
async fn unknown_methods_and_routes_are_404() {
    let not_found = StatusCode::NOT_FOUND;
    assert_error(
        "/pow/2,3",
        not_found,
        r#"unknown method "pow"; expected one of add, subtract, multiply, divide, factors"#,
    )
    .await;
    // The method is judged first, whatever the numbers.
    assert_error(
        "/pow/abc",
        not_found,
        r#"unknown method "pow"; expected one of add, subtract, multiply, divide, factors"#,
    )
    .await;
    assert_error("/add/1/2", not_found, "Cannot GET /add/1/2").await;
    assert_error("/a/b/c/d", not_found, "Cannot GET /a/b/c/d").await;
}

#[tokio::test]
async fn other_http_methods_are_405() {
    let reply = request(Method::POST, "/add/1,2").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        reply.json(),
        json!({"statusCode": 405, "error": "Method Not Allowed", "message": "Cannot POST /add/1,2"})
    );
}

fn failing(fail_percent: u8) -> MathConfig {
    MathConfig {
        max_delay: Duration::ZERO,
        fail_percent,
    }
}

#[tokio::test]
async fn injected_failures_are_503_for_computable_calls_only() {
    let reply = request_to(failing(100), Method::GET, "/add/1,2").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.json()["statusCode"], 503);
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("MATH_FAIL_PERCENT"),
        "{}",
        reply.body
    );
    // Bad input is refused as always: the caller must not retry it.
    let reply = request_to(failing(100), Method::GET, "/divide/1,0").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn injected_failures_hit_about_the_given_share_of_calls() {
    let mut failed = 0;
    for _ in 0..400 {
        let reply = request_to(failing(30), Method::GET, "/multiply/6,7").await;
        match reply.status {
            StatusCode::SERVICE_UNAVAILABLE => failed += 1,
            StatusCode::OK => assert_eq!(reply.body, "42"),
            other => panic!("{other}: {}", reply.body),
        }
    }
    // 120 expected; the bounds are more than six standard deviations (9.2) away.
    assert!((60..=180).contains(&failed), "{failed} of 400 failed");
}

#[tokio::test]
async fn help_lists_routes_and_methods() {
    let reply = get("/").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.content_type.starts_with("text/plain"),
        "{}",
        reply.content_type
    );
    assert!(
        reply.body.contains("GET /{method}/{numbers}"),
        "{}",
        reply.body
    );
    for method in ["add", "subtract", "multiply", "divide", "factors"] {
        assert!(reply.body.contains(method), "{method} missing from help");
    }
}

#[tokio::test]
async fn hostile_paths_get_an_answer_not_a_panic() {
    let bad = StatusCode::BAD_REQUEST;
    assert_error(
        "/add/%FF%FE",
        bad,
        "the path is not valid percent-encoded UTF-8",
    )
    .await;
    assert_error("/%C0/1", bad, "the path is not valid percent-encoded UTF-8").await;

    let long = "1,".repeat(15_000);
    let reply = get(&format!("/add/{long}")).await;
    assert_eq!(reply.status, bad);
    assert_eq!(
        reply.json()["message"],
        format!("the numbers are too long: 30000 bytes, at most {MAX_NUMBERS_LEN} are allowed")
    );

    let reply = get(&format!("/{}/1", "x".repeat(10_000))).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.json()["message"].as_str().unwrap().len() < 200);

    for uri in [
        "/add/%00",
        "/factors/1e999",
        "/add/%E2%88%9E",
        "/divide/-0.0,-0.0",
    ] {
        let reply = get(uri).await;
        assert_eq!(reply.status, bad, "{uri}: {}", reply.body);
    }
}

/// One raw HTTP/1.1 request over a blocking socket (kept off the runtime's threads).
async fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_server_answers_after_a_bounded_random_delay() {
    let max_delay = Duration::from_millis(50);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router(MathConfig {
                max_delay,
                fail_percent: 0,
            }),
        )
        .await
        .unwrap();
    });

    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let started = Instant::now();
        let response = raw_get(addr, "/multiply/4294967296,4294967295").await;
        let took = started.elapsed();
        slowest = slowest.max(took);

        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        let (_, body) = response.split_once("\r\n\r\n").unwrap();
        assert_eq!(body, r#""18446744069414584320""#);
        // The delay is at most 50 ms; the rest is slack for a busy two-core machine.
        assert!(took < max_delay + Duration::from_secs(2), "{took:?}");
    }
    // Ten draws all under 5 ms of a uniform 0..=50 ms happen once in 10^10 runs.
    assert!(
        slowest >= Duration::from_millis(5),
        "no delay seen: {slowest:?}"
    );

    // Errors are answered at once, without the delay.
    let response = raw_get(addr, "/divide/1,0").await;
    assert!(
        response.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{response}"
    );
    assert!(response
        .ends_with(r#"{"statusCode":400,"error":"Bad Request","message":"division by zero"}"#));

    server.abort();
}

#[tokio::test]
async fn a_call_whose_client_goes_away_is_counted_abandoned_not_answered() {
    // A delay no test waits for: the call is still waiting when the client drops it.
    let app = router(MathConfig {
        max_delay: Duration::from_secs(365 * 24 * 3600),
        fail_percent: 0,
    });
    let before = call_counts();
    let request = Request::builder()
        .uri("/add/1,2")
        .body(Body::empty())
        .unwrap();
    let dropped = tokio::time::timeout(Duration::from_millis(50), app.oneshot(request)).await;
    assert!(dropped.is_err(), "the call answered within 50 ms");
    // Other tests of this binary count too: this one added at least its own abandoned call.
    assert!(call_counts().abandoned > before.abandoned);
    let answered = request_answered().await;
    assert!(answered.answered > before.answered);
}

/// A call answered at once; returns the counts after it.
async fn request_answered() -> mom_math::CallCounts {
    let reply = request(Method::GET, "/add/1,2").await;
    assert_eq!(reply.status, StatusCode::OK);
    call_counts()
}
