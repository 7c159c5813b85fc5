//! A burst of jobs ordered by clients that retry with an `Idempotency-Key` (as the panel
//! does), and the verdict on it after a fault: every job acknowledged once, ended with the
//! right results (computed here, independently of mom) or failed with a reason, nothing twice.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::cluster::Cluster;
use crate::helpers::unique_id;

/// How long one order may keep retrying, and how long the jobs may take to end, on a loaded
/// machine; a healthy run needs a fraction of it.
const PATIENCE: Duration = Duration::from_secs(180);

/// One job to order: its key, its body and the results it must end with.
#[derive(Clone, Debug)]
pub struct Order {
    pub key: String,
    pub body: Value,
    pub expected: Vec<Value>,
}

/// `count` three-step jobs, each with other numbers, so a result cannot land on the wrong job
/// unnoticed. Results beyond 2^53 are strings, as the README promises.
pub fn orders(count: usize) -> Vec<Order> {
    let tag = unique_id();
    (0..count as u64)
        .map(|i| {
            let (a, b, c) = (i + 1, 7 * i + 3, 1_000_000_007);
            let (x, y, z) = (i + 2, i + 3, 999_999_999_999u64);
            let f = 4 * i + 10;
            Order {
                key: format!("{tag}-{i}"),
                body: json!({"type": "math", "details": [
                    {"method": "add", "numbers": format!("{a},{b},{c}")},
                    {"method": "multiply", "numbers": format!("{x},{y},{z}")},
                    {"method": "factors", "numbers": format!("{f},97")},
                ]}),
                expected: vec![
                    json!(a + b + c),
                    exact(u128::from(x) * u128::from(y) * u128::from(z)),
                    json!([prime_factors(f), [97]]),
                ],
            }
        })
        .collect()
}

/// A JSON number while JavaScript reads it exactly, else its digits as a string.
fn exact(n: u128) -> Value {
    if n < (1 << 53) {
        json!(n as u64)
    } else {
        json!(n.to_string())
    }
}

/// Distinct prime factors by trial division: slow, obvious, and not mom's code.
fn prime_factors(mut n: u64) -> Vec<u64> {
    let mut factors = Vec::new();
    let mut d = 2;
    while d * d <= n {
        if n.is_multiple_of(d) {
            factors.push(d);
            while n.is_multiple_of(d) {
                n /= d;
            }
        }
        d += 1;
    }
    if n > 1 {
        factors.push(n);
    }
    factors
}

/// What one order's client saw, over all its attempts.
#[derive(Debug, Default, Clone)]
pub struct Attempts {
    /// Every id a 201 carried: exactly one if the key did its job.
    pub ids: BTreeSet<i64>,
    /// The first 201's body.
    pub created: Option<Value>,
    /// 5xx answers, each with when it came.
    pub server_errors: Vec<(StatusCode, Instant)>,
    /// Requests that found no listener (connection refused).
    pub refused_connections: usize,
    /// Requests whose connection broke before an answer came.
    pub cut: usize,
    /// An answer no retry can fix (a 4xx): the verdict fails on it.
    pub refused: Option<(StatusCode, String)>,
    /// When the 201 came.
    pub acknowledged_at: Option<Instant>,
}

/// POSTs `body` with `key` until a 201, retrying 502/503/504 and failed connections with
/// backoff; one more request after the 201 checks that the key answers the same job again.
pub async fn create_until_acknowledged(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    token: Option<&str>,
    key: &str,
) -> Attempts {
    let mut attempts = Attempts::default();
    let deadline = Instant::now() + PATIENCE;
    let mut backoff = Duration::from_millis(50);
    let mut confirmations = 0;
    while Instant::now() < deadline && confirmations < 2 {
        let mut request = client.post(url).json(body).header("Idempotency-Key", key);
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        match request.send().await {
            Ok(response) if response.status() == StatusCode::CREATED => {
                let created: Value = response.json().await.expect("a JSON body");
                attempts.ids.insert(created["id"].as_i64().expect("an id"));
                attempts.acknowledged_at.get_or_insert_with(Instant::now);
                attempts.created.get_or_insert(created);
                confirmations += 1;
                continue;
            }
            Ok(response)
                if matches!(
                    response.status(),
                    StatusCode::BAD_GATEWAY
                        | StatusCode::SERVICE_UNAVAILABLE
                        | StatusCode::GATEWAY_TIMEOUT
                ) =>
            {
                attempts
                    .server_errors
                    .push((response.status(), Instant::now()));
            }
            Ok(response) => {
                let status = response.status();
                if status.is_server_error() {
                    attempts.server_errors.push((status, Instant::now()));
                }
                attempts.refused = Some((status, response.text().await.unwrap_or_default()));
                return attempts;
            }
            Err(e) if e.is_connect() => attempts.refused_connections += 1,
            Err(_) => attempts.cut += 1,
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
    attempts
}

/// Orders in flight: `clients` tasks take the orders in turn, each retrying until its 201.
pub struct Burst {
    orders: Vec<Order>,
    acknowledged: Arc<AtomicUsize>,
    clients: Vec<tokio::task::JoinHandle<()>>,
    seen: Arc<Mutex<HashMap<String, Attempts>>>,
}

impl Burst {
    pub fn start(cluster: &Cluster, token: &str, orders: Vec<Order>, clients: usize) -> Self {
        let next = Arc::new(AtomicUsize::new(0));
        let acknowledged = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let shared = Arc::new(orders.clone());
        let clients = (0..clients)
            .map(|_| {
                let (client, url, token) = (
                    cluster.client.clone(),
                    cluster.url("/job"),
                    token.to_owned(),
                );
                let (next, acknowledged, seen, orders) = (
                    next.clone(),
                    acknowledged.clone(),
                    seen.clone(),
                    shared.clone(),
                );
                tokio::spawn(async move {
                    while let Some(order) = orders.get(next.fetch_add(1, Ordering::SeqCst)) {
                        let attempts = create_until_acknowledged(
                            &client,
                            &url,
                            &order.body,
                            Some(&token),
                            &order.key,
                        )
                        .await;
                        if attempts.created.is_some() {
                            acknowledged.fetch_add(1, Ordering::SeqCst);
                        }
                        seen.lock().unwrap().insert(order.key.clone(), attempts);
                    }
                })
            })
            .collect();
        Self {
            orders,
            acknowledged,
            clients,
            seen,
        }
    }

    /// Waits until `count` orders have their 201: the moment to strike, with the rest of the
    /// burst still to come and the first jobs' steps in flight.
    pub async fn wait_acknowledged(&self, count: usize) {
        let deadline = Instant::now() + PATIENCE;
        while self.acknowledged.load(Ordering::SeqCst) < count {
            assert!(
                Instant::now() < deadline,
                "only {} of {count} orders acknowledged",
                self.acknowledged.load(Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for every client to finish; returns each order with what its client saw.
    pub async fn finish(self) -> Vec<(Order, Attempts)> {
        for client in self.clients {
            client.await.expect("a client task");
        }
        let mut seen = std::mem::take(&mut *self.seen.lock().unwrap());
        self.orders
            .into_iter()
            .map(|order| {
                let attempts = seen.remove(&order.key).unwrap_or_default();
                (order, attempts)
            })
            .collect()
    }
}

/// Orders `size` jobs from `clients` clients; once a third of them is acknowledged, `fault`
/// strikes; then the verdict.
pub async fn burst_through(
    cluster: &mut Cluster,
    token: &str,
    (size, clients): (usize, usize),
    fault: impl AsyncFnOnce(&mut Cluster),
) -> Figures {
    let burst = Burst::start(cluster, token, orders(size), clients);
    burst.wait_acknowledged(size / 3).await;
    let struck = Strike::now(cluster).await;
    fault(cluster).await;
    verify(cluster, token, burst.finish().await, struck).await
}

/// The moment a fault struck, and how many jobs were stored but not ended then.
#[derive(Clone, Copy, Debug)]
pub struct Strike {
    pub at: Instant,
    pub jobs_in_flight: i64,
}

impl Strike {
    /// Counts the jobs in flight, then marks the moment: call it just before the fault.
    pub async fn now(cluster: &Cluster) -> Self {
        let pool = mom::store::connect(&cluster.config.database_url, PATIENCE)
            .await
            .expect("the test database");
        let jobs_in_flight =
            sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")
                .fetch_one(&pool)
                .await
                .expect("a count");
        pool.close().await;
        Self {
            at: Instant::now(),
            jobs_in_flight,
        }
    }
}

/// What a fault cost, for `docs/faults.md`.
#[derive(Debug)]
pub struct Figures {
    pub burst: usize,
    pub jobs_in_flight_at_fault: i64,
    pub done: usize,
    pub failed: usize,
    pub server_errors: usize,
    /// 5xx answered after the fault struck.
    pub server_errors_after_fault: usize,
    pub refused_connections: usize,
    pub cut: usize,
    /// From the fault to the first order acknowledged after it.
    pub first_ack_after_fault: Option<Duration>,
    /// From the fault until every job of the burst had ended.
    pub all_ended_after_fault: Duration,
}

impl Figures {
    /// One line the figures in `docs/faults.md` are read from (`--nocapture`).
    pub fn report(&self, fault: &str) {
        println!(
            "fault-figures | {fault} | burst {} ({} in flight at the fault) | lost 0 | duplicates 0 | done {} | failed {} | 5xx {} ({} after the fault) | connections refused {}, cut {} | first 201 after the fault {} | all ended {:.1} s after the fault",
            self.burst,
            self.jobs_in_flight_at_fault,
            self.done,
            self.failed,
            self.server_errors,
            self.server_errors_after_fault,
            self.refused_connections,
            self.cut,
            self.first_ack_after_fault
                .map(|d| format!("{:.1} s", d.as_secs_f64()))
                .unwrap_or_else(|| "-".into()),
            self.all_ended_after_fault.as_secs_f64()
        );
    }
}

/// The verdict on a burst a fault struck at `strike`: every order acknowledged with exactly one
/// job, every job ended — done with the expected results, or failed with a reason — each step
/// recorded once, no extra job stored, no message left in the queues or the outbox.
pub async fn verify(
    cluster: &Cluster,
    token: &str,
    outcome: Vec<(Order, Attempts)>,
    strike: Strike,
) -> Figures {
    let fault = strike.at;
    let burst = outcome.len();
    let mut ids = BTreeSet::new();
    let mut figures = Figures {
        burst,
        jobs_in_flight_at_fault: strike.jobs_in_flight,
        done: 0,
        failed: 0,
        server_errors: 0,
        server_errors_after_fault: 0,
        refused_connections: 0,
        cut: 0,
        first_ack_after_fault: None,
        all_ended_after_fault: Duration::ZERO,
    };
    for (order, attempts) in &outcome {
        assert!(
            attempts.refused.is_none(),
            "order {}: {attempts:?}",
            order.key
        );
        assert_eq!(
            attempts.ids.len(),
            1,
            "order {} must be acknowledged with exactly one job: {attempts:?}",
            order.key
        );
        ids.extend(attempts.ids.iter().copied());
        figures.server_errors += attempts.server_errors.len();
        figures.server_errors_after_fault += attempts
            .server_errors
            .iter()
            .filter(|(_, at)| *at >= fault)
            .count();
        figures.refused_connections += attempts.refused_connections;
        figures.cut += attempts.cut;
        if let Some(at) = attempts.acknowledged_at.filter(|at| *at >= fault) {
            let after = at - fault;
            figures.first_ack_after_fault = Some(
                figures
                    .first_ack_after_fault
                    .map_or(after, |d| d.min(after)),
            );
        }
    }
    assert_eq!(ids.len(), burst, "two orders were answered with one job");

    let ended = wait_until_ended(cluster, token, &ids).await;
    figures.all_ended_after_fault = fault.elapsed();
    for (order, attempts) in &outcome {
        let id = *attempts.ids.first().expect("checked above");
        let job = &ended[&id];
        let steps_done = job["stepsDone"].as_i64().expect("stepsDone");
        match job["status"].as_str() {
            Some("done") => {
                figures.done += 1;
                let results: Vec<Value> = job["details"]
                    .as_array()
                    .expect("details")
                    .iter()
                    .map(|d| d["result"].clone())
                    .collect();
                assert_eq!(results, order.expected, "job {id} ({})", order.key);
                // Created at version 1, one more per recorded step: a step recorded twice
                // would show here.
                assert_eq!(job["version"], json!(1 + steps_done), "job {id}: {job}");
                assert_eq!(steps_done, 3, "job {id}: {job}");
            }
            Some("failed") => {
                figures.failed += 1;
                let reason = job["error"].as_str().unwrap_or_default();
                assert!(
                    reason.starts_with("step ") && reason.contains("failed"),
                    "job {id} failed without a readable reason: {job}"
                );
                assert_eq!(job["version"], json!(2 + steps_done), "job {id}: {job}");
            }
            other => panic!("job {id} ended as {other:?}: {job}"),
        }
    }

    // Nothing stored twice: the database holds exactly one job per key of this burst.
    let pool = mom::store::connect(&cluster.config.database_url, Duration::from_secs(30))
        .await
        .expect("the test database");
    let tag = outcome[0]
        .0
        .key
        .rsplit_once('-')
        .expect("tag-i")
        .0
        .to_owned();
    let (stored, distinct): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT request_id) FROM jobs WHERE request_id LIKE '%:' || $1 || '-%'",
    )
    .bind(&tag)
    .fetch_one(&pool)
    .await
    .expect("a count");
    assert_eq!(
        (stored, distinct),
        (burst as i64, burst as i64),
        "jobs stored for {burst} keys"
    );
    wait_until_drained(cluster, &pool, figures.failed).await;
    pool.close().await;
    figures
}

/// Polls `/job/my` until every job in `ids` has ended; returns them by id.
async fn wait_until_ended(
    cluster: &Cluster,
    token: &str,
    ids: &BTreeSet<i64>,
) -> HashMap<i64, Value> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut ended = HashMap::new();
        let mut open = Vec::new();
        // Older jobs page by page: `before` the smallest id seen.
        let mut before: Option<i64> = None;
        loop {
            let path = match before {
                Some(id) => format!("/job/my?limit=500&before={id}"),
                None => "/job/my?limit=500".to_owned(),
            };
            let Ok(response) = cluster
                .client
                .get(cluster.url(&path))
                .header("Authorization", token)
                .send()
                .await
            else {
                break;
            };
            if response.status() != StatusCode::OK {
                break;
            }
            let page: Vec<Value> = response.json().await.expect("a job list");
            let Some(last) = page.last().and_then(|j| j["id"].as_i64()) else {
                break;
            };
            for job in page {
                let id = job["id"].as_i64().expect("an id");
                if !ids.contains(&id) {
                    continue;
                }
                if matches!(job["status"].as_str(), Some("done" | "failed")) {
                    ended.insert(id, job);
                } else {
                    open.push(id);
                }
            }
            if last <= *ids.first().expect("a burst") {
                break;
            }
            before = Some(last);
        }
        if ended.len() == ids.len() {
            return ended;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} jobs ended after {PATIENCE:?}; still open: {open:?}",
            ended.len(),
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the system's queues and outbox are empty; the db queue never dead-letters, the
/// math queue at most one task per failed job (its last attempt).
async fn wait_until_drained(cluster: &Cluster, pool: &sqlx::PgPool, failed: usize) {
    let bus = mom_bus::Bus::connect(cluster.config.bus_config("fault-test"));
    let topology = cluster.config.topology();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
            .fetch_one(pool)
            .await
            .expect("an outbox count");
        let mut waiting = Vec::new();
        for queue in topology.queues() {
            if let Ok(stats) = bus.queue_stats(&queue.name).await {
                waiting.push(stats.messages);
            }
        }
        if outbox == 0
            && waiting.iter().all(|n| *n == 0)
            && waiting.len() == topology.queues().len()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: {outbox} outbox rows, {waiting:?} messages in db.rpc, db and math"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for queue in [&topology.rpc, &topology.db] {
        let dead = bus
            .queue_stats(&queue.dead_letter_queue())
            .await
            .map_or(0, |s| s.messages);
        assert_eq!(dead, 0, "db commands dead-lettered from {}", queue.name);
    }
    let math_dead = bus
        .queue_stats(&topology.math.dead_letter_queue())
        .await
        .map_or(0, |s| s.messages);
    assert!(
        math_dead as usize <= failed,
        "{math_dead} math tasks dead-lettered for {failed} failed jobs"
    );
    bus.close().await;
}
