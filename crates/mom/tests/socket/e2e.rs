//! The whole system end to end, as a browser uses it: REST through the API, jobs through the
//! workers and the math service, events through the gateway to real socket.io clients.

use std::time::Duration;

use mom::app::System;
use mom::config::Config;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::helpers::Client;

struct Running {
    api: String,
    socket: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
    config: Config,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
        mom_testkit::teardown_blocking(&self.config);
    }
}

async fn start() -> Running {
    start_with(|_| {}).await
}

/// [`start`] after `customize` changed the configuration.
async fn start_with(customize: impl FnOnce(&mut Config)) -> Running {
    crate::helpers::ensure_node_modules();
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let mut config = Config::local();
    config.database_url = format!("postgres://postgres@127.0.0.1:5432/mom_test_{id}");
    config.queue_prefix = format!("t.{id}.");
    config.redis_prefix = format!("t:{id}:");
    (
        config.api_port,
        config.socket_port,
        config.math_port,
        config.panel_port,
    ) = (0, 0, 0, 0);
    config.math_url = "http://127.0.0.1:0".into();
    config.math_max_delay = Duration::from_millis(30);
    customize(&mut config);
    let system = System::bind(config.clone()).await.unwrap();
    let addresses = system.addresses().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(system.run(shutdown.clone()));
    let running = Running {
        api: format!("http://{}", addresses.api),
        socket: format!("http://{}", addresses.socket),
        http: reqwest::Client::new(),
        shutdown,
        config,
    };
    for _ in 0..600 {
        if let Ok(r) = running
            .http
            .get(format!("{}/health", running.api))
            .send()
            .await
        {
            if r.status().is_success() {
                return running;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the system did not become healthy");
}

impl Running {
    async fn login(&self, name: &str) -> Value {
        let email = format!(
            "{name}-{}@example.com",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let body =
            json!({"firstName": name, "lastName": "E2E", "email": email, "password": "pw-e2e"});
        let registered = self
            .http
            .post(format!("{}/register", self.api))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), 201);
        let login = self
            .http
            .post(format!("{}/login", self.api))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 201);
        login.json().await.unwrap()
    }

    async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.api))
            .header("Authorization", token)
            .send()
            .await
            .unwrap()
    }

    async fn client(&self, version: &str, transport: &str, login: &Value) -> Client {
        let mut client = Client::spawn(json!({
            "url": self.socket, "version": version, "transport": transport,
            "auth": login, "events": 1000, "timeoutMs": 60_000,
        }))
        .await;
        client.expect("authenticated").await;
        client
    }
}

/// Collects a client's events up to and including the `job:done` of job `id`.
async fn until_done(client: &mut Client, id: &Value) -> (Vec<Value>, Value) {
    let mut progress = Vec::new();
    loop {
        let event = client.next_event().await;
        match event["event"].as_str() {
            Some("job:progress") if &event["data"]["id"] == id => {
                progress.push(event["data"].clone())
            }
            Some("job:done") if &event["data"]["id"] == id => {
                return (progress, event["data"].clone())
            }
            other => panic!("unexpected event {other:?}: {event}"),
        }
    }
}

#[tokio::test]
async fn v2_and_v4_clients_watch_a_job_finish_and_logout_stops_rest_and_socket() {
    let system = start().await;
    let alice = system.login("alice").await;
    let bob = system.login("bob").await;
    let token = alice["accessToken"].as_str().unwrap().to_owned();

    let mut seed_panel = system.client("v2", "polling", &alice).await;
    let mut browser = system.client("v4", "websocket", &alice).await;
    let bystander = system.client("v4", "websocket", &bob).await;

    let job = system
        .post_job(
            &token,
            &json!({"type": "math", "details": [
                {"method": "add", "numbers": "1,2,3"},
                {"method": "multiply", "numbers": "2,3,4"},
                {"method": "factors", "numbers": "12,97"}
            ]}),
        )
        .await;
    let id = job["id"].clone();

    for client in [&mut seed_panel, &mut browser] {
        let (progress, done) = until_done(client, &id).await;
        let steps: Vec<i64> = progress
            .iter()
            .map(|p| p["stepsDone"].as_i64().unwrap())
            .collect();
        assert!(
            steps.contains(&1) && steps.contains(&2),
            "progress after each step: {steps:?}"
        );
        assert!(
            steps.windows(2).all(|w| w[0] <= w[1]),
            "progress in order: {steps:?}"
        );
        assert_eq!(done["results"], json!([6, 24, [[2, 3], [97]]]));
        assert_eq!(done["done"], true);
        assert_eq!(done["owner"]["id"], alice["id"]);
    }
    let mine: Vec<Value> = system.get("/job/my", &token).await.json().await.unwrap();
    assert_eq!(mine[0]["details"][2]["result"], json!([[2, 3], [97]]));
    assert!(
        bystander.finish().await.is_empty(),
        "bob saw none of alice's events"
    );

    // Logout: the REST token stops at once, the sockets on that session hear "old-token".
    assert_eq!(system.get("/logout", &token).await.status(), 200);
    assert_eq!(system.get("/auth-test", &token).await.status(), 401);
    assert_eq!(browser.expect("auth-error").await, "old-token");
    assert_eq!(seed_panel.expect("auth-error").await, "old-token");

    // A new session's job reaches no socket of the closed session.
    let again = system.login_existing(&alice).await;
    let fresh = again["accessToken"].as_str().unwrap();
    let created = system
        .http
        .post(format!("{}/job", system.api))
        .header("Authorization", fresh)
        .json(&json!({"type": "math", "details": [{"method": "add", "numbers": "1"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        browser.finish().await.is_empty(),
        "a logged-out socket receives nothing"
    );
    assert!(
        seed_panel.finish().await.is_empty(),
        "a logged-out socket receives nothing"
    );
}

/// The seed's panel renews its token halfway through its life, then authenticates its socket
/// again with the new login object. The socket must hear `authenticated`, never `auth-error`
/// first; the old token stops on REST at once, and logout still stops the socket at once.
#[tokio::test]
async fn renewing_the_seed_way_keeps_the_socket_and_logout_still_stops_it() {
    let system = start().await;
    let alice = system.login("alice").await;
    let old_token = alice["accessToken"].as_str().unwrap().to_owned();
    let mut seed_panel = system.client("v2", "polling", &alice).await;

    let renewed: Value = {
        let response = system.get("/renew-token", &old_token).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    };
    let new_token = renewed["accessToken"].as_str().unwrap().to_owned();
    assert_ne!(new_token, old_token);
    assert_eq!(system.get("/auth-test", &old_token).await.status(), 401);
    assert_eq!(system.get("/auth-test", &new_token).await.status(), 200);

    seed_panel
        .emit("authenticate", Some(renewed.clone()), false)
        .await;
    let next = seed_panel.next_event().await;
    assert_eq!(
        next["event"], "authenticated",
        "the renewed socket heard {next}"
    );

    // A job ordered with the new token reaches the socket that moved to it.
    let created = system
        .post_job(
            &new_token,
            &json!({"type": "math", "details": [{"method": "add", "numbers": "2,3"}]}),
        )
        .await;
    let (_, done) = until_done(&mut seed_panel, &created["id"]).await;
    assert_eq!(done["results"], json!([5]));

    assert_eq!(system.get("/logout", &new_token).await.status(), 200);
    assert_eq!(seed_panel.expect("auth-error").await, "old-token");
}

/// The whole proof of a cancel: the job's step waits on a slow math call, the owner cancels,
/// the math service sees the call aborted, the owner's socket hears `job:cancelled` — live,
/// and on the next `authenticate` for a job cancelled while no socket was there.
#[tokio::test]
async fn a_cancel_mid_call_aborts_it_and_reaches_the_owners_socket_live_and_after_a_login() {
    let math = crate::gated_math::GatedMath::start().await;
    let system = start_with(|config| {
        config.math_url = math.url.clone();
        config.math_timeout = Duration::from_secs(120);
    })
    .await;
    let alice = system.login("alice").await;
    let token = alice["accessToken"].as_str().unwrap().to_owned();
    let mut browser = system.client("v4", "websocket", &alice).await;
    let two_steps = json!({"type": "math", "details": [
        {"method": "add", "numbers": "1,2"}, {"method": "multiply", "numbers": "3,4"}
    ]});

    let job = system.post_job(&token, &two_steps).await;
    math.wait_holding(1).await;
    let cancelled = system.cancel(&token, &job["id"]).await;
    assert_eq!(cancelled["status"], "cancelled");
    let heard = browser.expect("job:cancelled").await;
    assert_eq!(heard["id"], job["id"]);
    assert_eq!(heard["status"], "cancelled");
    assert_eq!(heard["owner"]["id"], alice["id"]);
    math.wait_aborted(1).await;
    assert_eq!(math.answered(), 0);
    assert!(
        browser.finish().await.is_empty(),
        "nothing after the cancel"
    );

    // Cancelled while alice has no socket: the next authenticate brings it.
    let missed = system.post_job(&token, &two_steps).await;
    math.wait_holding(2).await;
    system.cancel(&token, &missed["id"]).await;
    math.wait_aborted(2).await;
    let mut later = system.client("v4", "websocket", &alice).await;
    loop {
        // The first job may come again if its notified mark is still on its way.
        let event = later.expect("job:cancelled").await;
        if event["id"] == missed["id"] {
            assert_eq!(event["status"], "cancelled");
            break;
        }
        assert_eq!(event["id"], job["id"], "{event}");
    }
    assert_eq!(math.paths(), ["add/1,2", "add/1,2"], "no second step ran");
}

impl Running {
    /// Cancels a job; returns the cancelled job.
    async fn cancel(&self, token: &str, id: &Value) -> Value {
        let response = self
            .http
            .post(format!("{}/job/{id}/cancel", self.api))
            .header("Authorization", token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Orders a job; returns the stored job.
    async fn post_job(&self, token: &str, body: &Value) -> Value {
        let response = self
            .http
            .post(format!("{}/job", self.api))
            .header("Authorization", token)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    async fn login_existing(&self, user: &Value) -> Value {
        let body = json!({"email": user["email"], "password": "pw-e2e"});
        self.http
            .post(format!("{}/login", self.api))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}
