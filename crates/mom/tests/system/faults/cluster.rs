//! A mom system as processes of the real binary — `mom api`, `mom worker`, `mom socket` and
//! `mom math` each on its own, or one `mom up` — on ports of their own (23000–23999), with the
//! test's database, queue prefix and Redis prefix. Any process can be killed (SIGKILL) or
//! stopped (SIGTERM) and started again on the same ports, as a supervisor would.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use mom::config::Config;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::burst::create_until_acknowledged;
use crate::helpers::{test_config, unique_id};

/// The ports this suite's processes may use: below the kernel's ephemeral range (32768–60999
/// here), so no outgoing connection can take a port while its process restarts.
const PORTS: std::ops::Range<u16> = 23000..24000;

/// How long a process may take to start or to stop on a loaded two-core machine.
const PATIENCE: Duration = Duration::from_secs(90);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    Api,
    Worker,
    Socket,
    Math,
    /// Every service in one process.
    Up,
}

impl Service {
    fn subcommand(self) -> &'static str {
        match self {
            Service::Api => "api",
            Service::Worker => "worker",
            Service::Socket => "socket",
            Service::Math => "math",
            Service::Up => "up",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGKILL: the process dies on the spot.
    Kill,
    /// SIGTERM: the process stops gracefully and must exit 0.
    Term,
}

/// How the system is split into processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `mom math`, `mom worker`, `mom socket`, `mom api`.
    Split,
    /// One `mom up`.
    Up,
}

pub struct Cluster {
    /// What every process is started with (ports fixed, so a restart keeps them).
    pub config: Config,
    pub client: reqwest::Client,
    logs: PathBuf,
    running: HashMap<Service, Child>,
    started: usize,
}

/// A free port of [`PORTS`]; each test process walks the range from its own offset.
fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(u16::MAX);
    let span = PORTS.end - PORTS.start;
    let _ = NEXT.compare_exchange(
        u16::MAX,
        (std::process::id() % u32::from(span)) as u16,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..span {
        let port = PORTS.start + NEXT.fetch_add(1, Ordering::SeqCst) % span;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {PORTS:?}");
}

/// The environment `mom` reads its [`Config`] from (see `Config::from_env`).
fn environment(config: &Config) -> Vec<(&'static str, String)> {
    let ms = |d: Duration| d.as_millis().to_string();
    vec![
        ("HOST", config.host.to_string()),
        ("API_PORT", config.api_port.to_string()),
        ("SOCKET_PORT", config.socket_port.to_string()),
        ("MATH_PORT", config.math_port.to_string()),
        ("PANEL_PORT", config.panel_port.to_string()),
        ("AMQP_URL", config.amqp_url.clone()),
        ("DATABASE_URL", config.database_url.clone()),
        ("REDIS_URL", config.redis_url.clone()),
        ("QUEUE_PREFIX", config.queue_prefix.clone()),
        ("REDIS_PREFIX", config.redis_prefix.clone()),
        ("JWT_SECRET", config.jwt_secret.clone()),
        ("RPC_TIMEOUT_MS", ms(config.rpc_timeout)),
        ("MATH_URL", config.math_url.clone()),
        ("MATH_MAX_DELAY_MS", ms(config.math_max_delay)),
        ("MATH_FAIL_PERCENT", config.math_fail_percent.to_string()),
        ("MATH_TIMEOUT_MS", ms(config.math_timeout)),
        ("MATH_ATTEMPTS", config.math_attempts.to_string()),
        ("MATH_RETRY_INITIAL_MS", ms(config.math_retry_initial)),
        ("OUTBOX_GRACE_MS", ms(config.outbox_grace)),
        (
            "SOCKET_REVERIFY_SECONDS",
            config.socket_reverify.as_secs().to_string(),
        ),
        ("PANEL_DIR", config.panel_dir.display().to_string()),
        ("METRICS_PORT", config.metrics_port.to_string()),
        ("RUST_LOG", "info,sqlx=warn,lapin=warn".into()),
    ]
}

impl Cluster {
    /// Starts the system in `layout` on the test configuration after `customize`, and waits
    /// until every process is ready.
    pub async fn start(layout: Layout, customize: impl FnOnce(&mut Config)) -> Self {
        let mut config = test_config();
        // A restarted worker must be back before the API gives up on the requests waiting
        // for it: a graceful stop of one process is no reason for a 5xx. (The bound itself is
        // tested by `without_a_worker_writes_answer_504_in_bounded_time`.)
        config.rpc_timeout = Duration::from_secs(30);
        config.math_max_delay = Duration::from_millis(300);
        // Retries that outlast a restart of the math service.
        config.math_attempts = 6;
        config.math_retry_initial = Duration::from_millis(200);
        config.api_port = free_port();
        config.socket_port = free_port();
        config.math_port = free_port();
        config.panel_port = free_port();
        config.math_url = format!("http://127.0.0.1:{}", config.math_port);
        // A process run alone serves /metrics on a port of its own, 7071… by default: any free
        // one, so tests side by side never fight over it.
        config.metrics_port = mom::config::MetricsPort::Port(0);
        customize(&mut config);
        let logs = std::env::temp_dir().join(format!("mom-faults-{}", unique_id()));
        std::fs::create_dir_all(&logs).expect("a log directory");
        let mut cluster = Self {
            config,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
            logs,
            running: HashMap::new(),
            started: 0,
        };
        match layout {
            Layout::Up => cluster.spawn(Service::Up).await,
            Layout::Split => {
                mom::app::migrate(&cluster.config)
                    .await
                    .expect("migrations");
                for service in [
                    Service::Math,
                    Service::Worker,
                    Service::Socket,
                    Service::Api,
                ] {
                    cluster.spawn(service).await;
                }
            }
        }
        cluster
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.config.api_port)
    }

    /// Starts `service` and waits until it is ready.
    pub async fn spawn(&mut self, service: Service) {
        assert!(
            !self.running.contains_key(&service),
            "{service:?} runs already"
        );
        self.started += 1;
        let log = self
            .logs
            .join(format!("{:02}-{}.log", self.started, service.subcommand()));
        let output = File::create(&log).expect("a log file");
        let child = Command::new(env!("CARGO_BIN_EXE_mom"))
            .arg(service.subcommand())
            .env_clear()
            .envs(environment(&self.config))
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("a log file"))
            .stderr(output)
            // A failing test takes its processes with it.
            .kill_on_drop(true)
            .spawn()
            .expect("mom starts");
        self.running.insert(service, child);
        self.wait_ready(service, &log).await;
    }

    /// Ends `service` with `signal` and waits for it to exit; after SIGTERM it must exit 0.
    pub async fn stop(&mut self, service: Service, signal: Signal) {
        let mut child = self
            .running
            .remove(&service)
            .unwrap_or_else(|| panic!("{service:?} is not running"));
        match signal {
            Signal::Kill => child.kill().await.expect("SIGKILL delivered"),
            Signal::Term => {
                let pid = child.id().expect("a running process has a pid");
                let sent = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .expect("kill runs");
                assert!(sent.success(), "SIGTERM to {service:?} failed");
                let status = tokio::time::timeout(PATIENCE, child.wait())
                    .await
                    .unwrap_or_else(|_| {
                        panic!(
                            "{service:?} still running {PATIENCE:?} after SIGTERM; logs in {}",
                            self.logs.display()
                        )
                    })
                    .expect("wait for the process");
                assert!(
                    status.success(),
                    "{service:?} exited with {status} after SIGTERM; logs in {}",
                    self.logs.display()
                );
            }
        }
    }

    /// [`Self::stop`], then [`Self::spawn`] on the same ports and settings.
    pub async fn restart(&mut self, service: Service, signal: Signal) {
        self.stop(service, signal).await;
        self.spawn(service).await;
    }

    async fn wait_ready(&mut self, service: Service, log: &std::path::Path) {
        let deadline = Instant::now() + PATIENCE;
        let bus = (service == Service::Worker)
            .then(|| mom_bus::Bus::connect(self.config.bus_config("fault-test")));
        loop {
            if self.is_ready(service, bus.as_ref()).await {
                break;
            }
            let child = self.running.get_mut(&service).expect("started above");
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{service:?} exited with {status} while starting:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{service:?} not ready after {PATIENCE:?}; log in {}",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if let Some(bus) = bus {
            bus.close().await;
        }
    }

    async fn is_ready(&self, service: Service, bus: Option<&mom_bus::Bus>) -> bool {
        let answers = |port: u16, path: &'static str| {
            let request = self
                .client
                .get(format!("http://127.0.0.1:{port}{path}"))
                .timeout(Duration::from_secs(5))
                .send();
            async move { matches!(request.await, Ok(r) if r.status() == StatusCode::OK) }
        };
        match service {
            Service::Api | Service::Up => answers(self.config.api_port, "/health").await,
            Service::Socket => answers(self.config.socket_port, "/").await,
            Service::Math => answers(self.config.math_port, "/").await,
            // Attached to every work queue.
            Service::Worker => {
                let Some(bus) = bus else { return false };
                let topology = self.config.topology();
                let mut attached = true;
                for queue in topology.queues() {
                    attached &=
                        matches!(bus.queue_stats(&queue.name).await, Ok(s) if s.consumers > 0);
                }
                attached
            }
        }
    }

    /// Registers and logs in a fresh user through the API (retrying, as any client would while
    /// the system settles); returns the access token.
    pub async fn user(&self) -> String {
        let email = format!("fault-{}@example.com", unique_id());
        let body = json!({"firstName": "Ada", "lastName": "Lovelace", "email": email, "password": "s3cret-pw"});
        let registered = create_until_acknowledged(
            &self.client,
            &self.url("/register"),
            &body,
            None,
            &unique_id(),
        )
        .await;
        assert!(registered.created.is_some(), "registration: {registered:?}");
        let login = self
            .client
            .post(self.url("/login"))
            .json(&json!({"email": email, "password": "s3cret-pw"}))
            .send()
            .await
            .expect("login answered");
        assert_eq!(login.status(), StatusCode::CREATED);
        let login: Value = login.json().await.expect("a login object");
        login["accessToken"]
            .as_str()
            .expect("an access token")
            .to_owned()
    }

    /// Lines containing `needle` in the logs of every run of `service` so far.
    pub fn log_lines(&self, service: Service, needle: &str) -> usize {
        let suffix = format!("-{}.log", service.subcommand());
        std::fs::read_dir(&self.logs)
            .expect("the log directory")
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(&suffix))
            .map(|entry| {
                std::fs::read_to_string(entry.path())
                    .unwrap_or_default()
                    .lines()
                    .filter(|line| line.contains(needle))
                    .count()
            })
            .sum()
    }

    /// Terminates every PostgreSQL connection to this system's database (and only to it);
    /// returns how many.
    pub async fn terminate_database_connections(&self) -> usize {
        let pool = mom::store::connect(&self.config.database_url, PATIENCE)
            .await
            .expect("the test database");
        let terminated: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(&pool)
        .await
        .expect("backends terminated");
        pool.close().await;
        terminated.into_iter().filter(|t| *t).count()
    }

    /// The broker connections of this system's `services` (named `mom-<service> <prefix>`):
    /// waits until the management API lists one of each (its list lags a few seconds behind
    /// new connections). Connections of every other system on the broker are left alone.
    pub async fn broker_connections(&self, services: &[&str]) -> BrokerConnections {
        let management = reqwest::Url::parse(&self.config.management_url).expect("a URL");
        let credentials = (
            management.username().to_owned(),
            management.password().unwrap_or_default().to_owned(),
        );
        let base = format!(
            "{}://{}:{}/api/connections",
            management.scheme(),
            management.host_str().unwrap_or("127.0.0.1"),
            management.port_or_known_default().unwrap_or(15672)
        );
        let ours: Vec<String> = services
            .iter()
            .map(|service| format!("mom-{service} {}", self.config.queue_prefix))
            .collect();
        let deadline = Instant::now() + PATIENCE;
        let listed = loop {
            let listed: Vec<(String, String)> = self
                .client
                .get(&base)
                .basic_auth(&credentials.0, Some(&credentials.1))
                .send()
                .await
                .expect("the RabbitMQ management API answers (scripts/services enables it)")
                .json::<Vec<Value>>()
                .await
                .expect("a connection list")
                .iter()
                .filter_map(|c| {
                    let named = c["client_properties"]["connection_name"].as_str()?;
                    let name = c["name"].as_str()?;
                    ours.contains(&named.to_owned())
                        .then(|| (named.to_owned(), name.to_owned()))
                })
                .collect();
            if ours
                .iter()
                .all(|n| listed.iter().any(|(named, _)| named == n))
            {
                break listed;
            }
            assert!(
                Instant::now() < deadline,
                "the management API lists only {listed:?} of {ours:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        BrokerConnections {
            base,
            credentials,
            listed,
        }
    }

    /// Force-closes `connections` through the management API, as a network fault or an
    /// operator would; returns how many.
    pub async fn close_broker_connections(&self, connections: BrokerConnections) -> usize {
        let BrokerConnections {
            base,
            credentials,
            listed,
        } = connections;
        for (named, name) in &listed {
            let mut url = reqwest::Url::parse(&base).expect("a URL");
            url.path_segments_mut().expect("a base").push(name);
            let response = self
                .client
                .delete(url)
                .basic_auth(&credentials.0, Some(&credentials.1))
                .header("X-Reason", "fault test: connection closed")
                .send()
                .await
                .expect("the management API answers");
            // 404: it went away by itself in between.
            assert!(
                response.status().is_success() || response.status() == StatusCode::NOT_FOUND,
                "closing {named}: {}",
                response.status()
            );
        }
        listed.len()
    }
}

/// Connections found by [`Cluster::broker_connections`], for [`Cluster::close_broker_connections`].
pub struct BrokerConnections {
    base: String,
    credentials: (String, String),
    /// Client-provided name and the broker's name of each.
    listed: Vec<(String, String)>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.running.values_mut() {
            let _ = child.start_kill();
        }
        // Dead before their queues and database go, so nothing re-declares them.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        for child in self.running.values_mut() {
            while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        mom_testkit::teardown_blocking(&self.config);
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.logs);
        }
    }
}
