//! A whole mom system per test: its own database, queue prefix and Redis prefix, services on
//! free ports, and one helper per endpoint.

use std::time::Duration;

use mom::app::{Addresses, System};
use mom::config::Config;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

pub fn unique_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// Local defaults, isolated and fast: no math delay, quick retries.
pub fn test_config() -> Config {
    let id = unique_id();
    let mut config = Config::local();
    if let Ok(url) = std::env::var("AMQP_URL") {
        config.amqp_url = url;
    }
    config.database_url = format!("postgres://postgres@127.0.0.1:5432/mom_test_{id}");
    config.queue_prefix = format!("t.{id}.");
    config.redis_prefix = format!("t:{id}:");
    config.api_port = 0;
    config.socket_port = 0;
    config.math_port = 0;
    config.math_url = "http://127.0.0.1:0".into();
    config.panel_port = 0;
    config.math_max_delay = Duration::ZERO;
    config.math_retry_initial = Duration::from_millis(50);
    config.math_attempts = 3;
    config.outbox_grace = Duration::from_millis(300);
    config.socket_reverify = Duration::from_secs(1);
    config
}

pub struct TestApp {
    pub config: Config,
    pub addresses: Addresses,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The whole system as `mom up` runs it, after `customize` changed its configuration.
pub async fn spawn_app_with(customize: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = test_config();
    customize(&mut config);
    spawn_app_from(config).await
}

/// A system on exactly this configuration (e.g. a restart on the same database and queues).
pub async fn spawn_app_from(config: Config) -> TestApp {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn")
        .try_init();
    let system = System::bind(config).await.expect("ports bind");
    let addresses = system.addresses().unwrap();
    let config = system.config.clone();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(system.run(shutdown.clone()));
    let app = TestApp {
        config,
        addresses,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        shutdown,
        running: Some(running),
    };
    app.wait_until_healthy().await;
    app
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addresses.api)
    }

    async fn wait_until_healthy(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = self.client.get(self.url("/health")).send().await {
                if response.status() == StatusCode::OK {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the system did not become healthy"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        request.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        request.send().await.expect("request sent")
    }

    /// A POST with an `Idempotency-Key` header.
    pub async fn post_with_key(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
        key: &str,
    ) -> Response {
        let mut request = self
            .client
            .post(self.url(path))
            .json(body)
            .header("Idempotency-Key", key);
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        request.send().await.expect("request sent")
    }

    pub async fn post_register(&self, body: &Value) -> Response {
        self.post("/register", body, None).await
    }

    pub async fn post_login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/login",
            &json!({ "email": email, "password": password }),
            None,
        )
        .await
    }

    /// Registers and logs in a fresh user; returns the login object.
    pub async fn new_user(&self) -> Value {
        self.register_and_login(&format!("user-{}@example.com", unique_id()))
            .await
    }

    /// Registers a user with this email and logs them in; returns the login object.
    pub async fn register_and_login(&self, email: &str) -> Value {
        let registered = self
            .post_register(&json!({"firstName": "Ada", "lastName": "Lovelace", "email": email, "password": "s3cret-pw"}))
            .await;
        assert_eq!(
            registered.status(),
            StatusCode::CREATED,
            "{}",
            registered.text().await.unwrap()
        );
        let login = self.post_login(email, "s3cret-pw").await;
        assert_eq!(login.status(), StatusCode::CREATED);
        login.json().await.unwrap()
    }

    /// Registers and logs in a fresh user and makes them an admin; returns the login object.
    pub async fn new_admin(&self) -> Value {
        let login = self.new_user().await;
        let email = login["email"].as_str().expect("an email");
        mom::roles::set(&self.config, email, mom::domain::Role::Admin)
            .await
            .expect("admin granted");
        login
    }

    /// `GET /admin/dead-letters?query` as an admin; the first page.
    pub async fn get_dead_letters(&self, token: &str, query: &str) -> Vec<Value> {
        let response = self
            .get(&format!("/admin/dead-letters?{query}"), Some(token))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "GET /admin/dead-letters?{query}"
        );
        response.json().await.unwrap()
    }

    /// `GET /admin/dead-letters/counts` as an admin.
    pub async fn get_dead_letter_counts(&self, token: &str) -> Value {
        let response = self.get("/admin/dead-letters/counts", Some(token)).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Polls the counts until `total` dead letters are stored; panics after `timeout`.
    pub async fn wait_for_dead_letters(&self, token: &str, total: i64, timeout: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let counts = self.get_dead_letter_counts(token).await;
            if counts["total"] == total {
                return counts;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} dead letters stored after {timeout:?}, not {total}",
                counts["total"]
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn post_job(&self, token: &str, body: &Value) -> Response {
        self.post("/job", body, Some(token)).await
    }

    /// `POST /job/{id}/cancel`, with an `Idempotency-Key` when given. `id` is raw, so tests can
    /// send malformed ones.
    pub async fn post_cancel(&self, token: &str, id: &str, key: Option<&str>) -> Response {
        let mut request = self
            .client
            .post(self.url(&format!("/job/{id}/cancel")))
            .header("Authorization", token);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("request sent")
    }

    /// `GET /job/{id}`: the job as its owner (or an admin) reads it.
    pub async fn get_job(&self, token: &str, id: i64) -> Value {
        let response = self.get(&format!("/job/{id}"), Some(token)).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    pub async fn get_my_jobs(&self, token: &str) -> Vec<Value> {
        let response = self.get("/job/my", Some(token)).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Polls `/job/my` until job `id` has ended; panics after `timeout`.
    pub async fn wait_for_end(&self, token: &str, id: i64, timeout: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let jobs = self.get_my_jobs(token).await;
            if let Some(job) = jobs.into_iter().find(|j| j["id"] == id) {
                if ["done", "failed", "cancelled"].contains(&job["status"].as_str().unwrap_or("")) {
                    return job;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "job {id} still {} after {timeout:?}",
                    job["status"]
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        mom::store::connect(&self.config.database_url, Duration::from_secs(10))
            .await
            .unwrap()
    }

    /// Writes `count` finished one-step jobs for `owner_id` straight into the database, created
    /// `hours_ago` hours ago: for tests of reading and searching many jobs, not of running them.
    pub async fn insert_jobs(&self, owner_id: i64, count: i32, job: SeededJob<'_>) {
        let pool = self.pool().await;
        sqlx::query(
            "INSERT INTO jobs (owner_id, type, status, details, steps_total, steps_done, error,
                               request_id, notified, created_at, updated_at, finished_at)
             SELECT $1, 'math', $3, jsonb_build_array(jsonb_build_object('method', $4::text, 'numbers', '1,2')),
                    1, 1, $5, 'seeded-' || gen_random_uuid(), true,
                    now() - make_interval(hours => $6), now(), now()
             FROM generate_series(1, $2)",
        )
        .bind(owner_id as i32)
        .bind(count)
        .bind(job.status)
        .bind(job.method)
        .bind(job.error)
        .bind(job.hours_ago)
        .execute(&pool)
        .await
        .expect("jobs inserted");
        pool.close().await;
    }

    /// Follows `Link: <…>; rel="next"` from `path` to the last page; returns every job seen.
    pub async fn get_all_pages(&self, path: &str, token: &str) -> (Vec<Value>, usize) {
        let (mut jobs, mut pages, mut next) = (Vec::new(), 0, Some(path.to_owned()));
        while let Some(path) = next.take() {
            let response = self.get(&path, Some(token)).await;
            assert_eq!(response.status(), StatusCode::OK, "GET {path}");
            next = next_link(&response);
            let page: Vec<Value> = response.json().await.unwrap();
            assert!(
                pages == 0 || !page.is_empty(),
                "a Link never points at an empty page"
            );
            jobs.extend(page);
            pages += 1;
        }
        (jobs, pages)
    }

    /// Stops every service gracefully and waits for them; keeps the database for a restart.
    pub async fn stop(mut self) -> Config {
        self.shutdown.cancel();
        if let Some(running) = self.running.take() {
            let stopped = tokio::time::timeout(Duration::from_secs(30), running).await;
            assert!(stopped.is_ok(), "graceful shutdown took more than 30 s");
        }
        let mut config = self.config.clone();
        // The next system binds fresh ports and finds its own math service again.
        config.api_port = 0;
        config.socket_port = 0;
        config.math_port = 0;
        config.panel_port = 0;
        config.math_url = "http://127.0.0.1:0".into();
        self.config.database_url.clear();
        config
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        // Cleared by `stop` when the database is kept for a restart.
        if !self.config.database_url.is_empty() {
            mom_testkit::teardown_blocking(&self.config);
        }
    }
}

/// How [`TestApp::insert_jobs`] writes its jobs.
pub struct SeededJob<'a> {
    pub status: &'a str,
    pub method: &'a str,
    pub error: Option<&'a str>,
    pub hours_ago: i32,
}

impl Default for SeededJob<'_> {
    fn default() -> Self {
        Self {
            status: "done",
            method: "add",
            error: None,
            hours_ago: 0,
        }
    }
}

/// The target of a `Link: <…>; rel="next"` header, if there is one.
pub fn next_link(response: &Response) -> Option<String> {
    let link = response.headers().get("link")?.to_str().ok()?;
    let (target, rel) = link.split_once(';')?;
    assert_eq!(rel.trim(), "rel=\"next\"");
    Some(
        target
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_owned(),
    )
}

/// The properties a 400 names, in order.
pub async fn invalid_properties(response: Response) -> Vec<String> {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    body["message"]
        .as_array()
        .unwrap_or_else(|| panic!("field errors expected: {body}"))
        .iter()
        .map(|e| e["property"].as_str().unwrap().to_owned())
        .collect()
}

/// The payload of a JWT, decoded without checking it (tests look at the claims).
pub fn jwt_claims(token: &str) -> Value {
    mom::auth::token::unverified_claims(token).expect("a JWT")
}

/// `details[i].result` of a job, in order.
pub fn step_results(job: &Value) -> Vec<Value> {
    job["details"]
        .as_array()
        .expect("details is an array")
        .iter()
        .map(|d| d["result"].clone())
        .collect()
}

pub fn math_job() -> Value {
    json!({
        "type": "math",
        "details": [
            {"method": "add", "numbers": "1,2,3"},
            {"method": "multiply", "numbers": "2,3,4"},
            {"method": "factors", "numbers": "12,97"}
        ]
    })
}
